/**
 * The bundle the gate judges: manifest.json (validated against the schema below, written in the schema language of
 * schema.ts), the ONNX variants it pins by size and sha256, and goldens/index.json with the .npy/.png files it names
 * (checked by bundle-files.ts). A bundle with no goldens/ folder is 'contract-only': the checks that need no goldens
 * (contract, weights) can still judge its ONNX. Every problem is reported with the file and the JSON field path,
 * all problems at once. The ONNX contract comparison is contract.ts (re-exported here).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseNpy, type NpyArray } from '../core/npy.js';
import { OnnxError, probeOnnxFile, type Dim } from './onnx.js';
import { checkNoiseFloors, checkToleranceCeilings, type TrustIssue } from './trust.js';
import { BENCH_RUNTIMES } from '../runtimes/registry.js';
import { num, str, bool, oneOf, optional, nullable, anyOf, arr, tuple, obj, record, isInside, relFileChecked, readJson } from './schema.js';
import { MIN_STATS_SEEDS } from '../checks/stats.js';
import { sha256File, fmtShape, checkNpyFile, checkPng } from './bundle-files.js';
export { sha256File } from './bundle-files.js';
export {
  ORIGIN_OPSET,
  ORIGIN_INPUT_NAMES,
  ORIGIN_OUTPUT_NAMES,
  originContract,
  contractDiff,
  type ContractDifference,
  type ContractDiffOptions,
} from './contract.js';

export const BUNDLE_FORMAT = 'tinydit-bundle/1';

export class BundleError extends Error {
  /**
   * @param issues every problem, each naming its file and field (the trust problems among them)
   * @param trust the problems found by the gate-owned tolerance policy (harness/model/trust.ts): a tolerance above
   *   its ceiling, a noise floor above its analytic ceiling. trustRecordId(t) gives each its check-record id.
   */
  constructor(
    readonly dir: string,
    readonly issues: string[],
    readonly trust: TrustIssue[] = [],
  ) {
    super(`bundle ${dir} is not usable (${issues.length} problem${issues.length === 1 ? '' : 's'}):\n  ${issues.join('\n  ')}`);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Types

export interface TensorSpec {
  name: string;
  dtype: string;
  shape: Dim[];
}
export interface Contract {
  opset: number;
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  imageSize: number;
  channels: number;
  dynamicAxes: string[];
}
export interface ModelConfig {
  name: string;
  image_size: number;
  patch_size: number;
  embed_dim: number;
  depth: number;
  num_heads: number;
  mlp_ratio: number;
  num_classes: number;
  in_channels: number;
  /**
   * What the network's last layer predicts before the graph turns it into the contract's velocity: 'velocity'
   * (absent: the real project's TinyDiT) or 'x', the clean image, v = (x_hat - x_t) / max(1 - t, 0.05)
   * (docs/bundle-format.md). The contract's inputs and output are the same either way.
   */
  prediction?: 'velocity' | 'x';
}
/** The x-prediction head's floor on 1 - t (reference/python/tinydit/model.py PREDICTION_T_EPS; suites/harness/judge-plan.test.ts ties the two). */
export const X_PREDICTION_T_EPS = 0.05;

/**
 * How much an offset of the network's output grows on the way to the velocity at time t: 1 for a velocity head,
 * 1 / max(1 - t, X_PREDICTION_T_EPS) for an x-prediction head (v = (x_hat - x_t) / max(1 - t, eps)).
 */
export function outputGain(config: ModelConfig, t: number): number {
  return config.prediction === 'x' ? 1 / Math.max(1 - t, X_PREDICTION_T_EPS) : 1;
}

export interface Identity {
  checkpoint: { file: string | null; sha256: string | null; step: number | null; weights: string };
  config: ModelConfig;
  parameters: number;
}
export type GuidanceKind = 'baked' | 'none';
export interface VariantSpec {
  file: string;
  sha256: string;
  bytes: number;
  guidance: GuidanceKind;
  quantized: boolean;
  quantizedFrom?: string;
}
export interface ToleranceRule {
  floorMultiple: number;
  absMin: number;
  reason: string;
}
export interface QuantizedTolerance {
  measured?: Record<string, number>;
  margin: number;
  velocityRelL2Max: number;
  imageMeanAbsMax: number;
  reason: string;
}
export interface TolerancePolicy {
  velocity: ToleranceRule;
  trajectory: ToleranceRule;
  quantized?: QuantizedTolerance;
}
/**
 * Optional latency budget (docs/performance.md): the median wall time of one full generation at `steps`
 * (default sampler.defaultSteps) of `variant` (default: 'quantized' when the bundle has it, the variant the web
 * app ships, else 'guided'), per runtime (node, chromium, firefox, webkit), with `threads` (default: the web
 * app's choice in browsers, 1 in Node). Checked by `npm run bench` (harness/bench/budget.ts).
 */
export interface SpeedBudget {
  fullGenerationMs: Record<string, number>;
  steps?: number;
  variant?: string;
  threads?: number;
  reason?: string;
}
/** Keys of budget.fullGenerationMs: onnxruntime-node and every engine (harness/runtimes/registry.ts). */
export const BUDGET_RUNTIMES = BENCH_RUNTIMES;
export interface Manifest {
  format: typeof BUNDLE_FORMAT;
  name: string;
  trained: boolean;
  identity: Identity;
  variants: Record<string, VariantSpec>;
  contract: Contract;
  guidance: { scale: number; nullIndex: number; formula?: string };
  breeds: string[];
  sampler?: {
    method: string;
    defaultSteps: number;
    stepsRange?: [number, number, number];
    cfgRange?: [number, number];
    [k: string]: unknown;
  };
  pixels?: { range: [number, number]; toUint8: string; channels: string; layout: string; alpha?: number };
  tolerance?: TolerancePolicy;
  provenance?: Record<string, unknown>;
  budget?: SpeedBudget;
  /**
   * What the model was trained on: `dataset` is the id of the gate's yardstick for that training data
   * (reference/yardsticks/<id>/, pinned in harness/checks/yardstick.ts; docs/yardstick.md). Optional in the schema, but
   * a bundle that names no dataset, or one the gate has no yardstick for, fails judge:check=yardstick.
   */
  training?: { dataset: string };
}

export interface NoiseCase {
  seed: number;
  shape: number[];
  file: string;
}
export interface VelocityCase {
  id: string;
  row: number;
  breed: number;
  t: number;
}
export interface VelocityBatch {
  id: string;
  rows: number[];
}
export interface TrajectoryCase {
  id: string;
  seed: number;
  breed: number;
  file: string;
  image: string;
  floorRow: number;
}
export interface GoldenIndex {
  format?: string;
  noise: NoiseCase[];
  velocity: {
    inputs: { noise: string; timestep: string; breed: string };
    cases: VelocityCase[];
    batches: VelocityBatch[];
    expected: Record<string, string>;
    noiseFloor: Record<string, string>;
    expectedFor: Record<string, string>;
  };
  trajectories: { steps: number; cfgScale: number; variant: string; floor: string; cases: TrajectoryCase[] };
  stats: { images: string; seeds: number[]; steps: number; cfgScale: number; layout?: string };
}

export type BundleLevel = 'full' | 'contract-only';

const nonEmpty = str({ nonEmpty: true });
const sha256Hex = str({ pattern: /^[0-9a-f]{64}$/, desc: 'a sha256 as 64 lowercase hex digits' });
const dim = anyOf([num('nonnegint'), nonEmpty], 'a dimension (a non-negative integer, or a symbolic name)');
const DTYPE_NAMES = ['float32', 'float16', 'float64', 'int64', 'int32', 'int8', 'uint8', 'bool', 'bfloat16'] as const;
const tensorSpec = obj({ name: nonEmpty, dtype: oneOf(DTYPE_NAMES), shape: arr(dim) });
const toleranceRule = obj({ floorMultiple: num('positive'), absMin: num('positive'), reason: nonEmpty });

const MANIFEST_SCHEMA = obj({
  format: oneOf([BUNDLE_FORMAT]),
  name: nonEmpty,
  trained: bool,
  identity: obj({
    checkpoint: obj({
      file: nullable(str()),
      sha256: nullable(sha256Hex),
      step: nullable(num('nonnegint')),
      weights: oneOf(['ema', 'raw', 'unknown']),
    }),
    config: obj({
      name: nonEmpty,
      image_size: num('posint'),
      patch_size: num('posint'),
      embed_dim: num('posint'),
      depth: num('posint'),
      num_heads: num('posint'),
      mlp_ratio: num('positive'),
      num_classes: num('posint'),
      in_channels: num('posint'),
      prediction: optional(oneOf(['velocity', 'x'])),
    }),
    parameters: num('posint'),
  }),
  variants: record(
    obj({
      file: relFileChecked,
      sha256: sha256Hex,
      bytes: num('posint'),
      guidance: oneOf(['baked', 'none']),
      quantized: bool,
      quantizedFrom: optional(nonEmpty),
    }),
    { minKeys: 1 },
  ),
  contract: obj({
    opset: num('posint'),
    inputs: arr(tensorSpec, { minLength: 1 }),
    outputs: arr(tensorSpec, { minLength: 1 }),
    imageSize: num('posint'),
    channels: num('posint'),
    dynamicAxes: arr(nonEmpty),
  }),
  guidance: obj({ scale: num('positive'), nullIndex: num('nonnegint'), formula: optional(str()) }),
  breeds: arr(nonEmpty, { minLength: 1 }),
  sampler: optional(
    obj({
      method: oneOf(['euler']),
      defaultSteps: num('posint'),
      stepsRange: optional(tuple([num('posint'), num('posint'), num('posint')])),
      cfgRange: optional(tuple([num('positive'), num('positive')])),
    }),
  ),
  pixels: optional(
    obj({
      range: tuple([num('finite'), num('finite')]),
      toUint8: nonEmpty,
      channels: oneOf(['RGB']),
      layout: oneOf(['NCHW']),
      alpha: optional(num('nonnegint', 255)),
    }),
  ),
  tolerance: optional(
    obj({
      velocity: toleranceRule,
      trajectory: toleranceRule,
      quantized: optional(
        obj({
          measured: optional(record(num('nonneg'))),
          margin: num('positive'),
          velocityRelL2Max: num('positive'),
          imageMeanAbsMax: num('positive'),
          reason: nonEmpty,
        }),
      ),
    }),
  ),
  provenance: optional(record({ check: () => undefined })),
  training: optional(obj({ dataset: nonEmpty })),
  budget: optional(
    obj({
      fullGenerationMs: record(num('positive'), { minKeys: 1 }),
      steps: optional(num('posint')),
      variant: optional(nonEmpty),
      threads: optional(num('posint')),
      reason: optional(str()),
    }),
  ),
});

const INDEX_SCHEMA = obj({
  format: optional(oneOf([BUNDLE_FORMAT])),
  noise: arr(obj({ seed: num('nonnegint', 4294967295), shape: arr(num('posint'), { length: 4 }), file: relFileChecked })),
  velocity: obj({
    inputs: obj({ noise: relFileChecked, timestep: relFileChecked, breed: relFileChecked }),
    cases: arr(obj({ id: nonEmpty, row: num('nonnegint'), breed: num('nonnegint'), t: num('unit') }), { minLength: 1 }),
    batches: arr(obj({ id: nonEmpty, rows: arr(num('nonnegint'), { minLength: 1 }) })),
    expected: record(relFileChecked, { minKeys: 1 }),
    noiseFloor: record(relFileChecked, { minKeys: 1 }),
    expectedFor: record(nonEmpty, { minKeys: 1 }),
  }),
  trajectories: obj({
    steps: num('posint'),
    cfgScale: num('positive'),
    variant: nonEmpty,
    floor: relFileChecked,
    cases: arr(
      obj({
        id: nonEmpty,
        seed: num('nonnegint', 4294967295),
        breed: num('nonnegint'),
        file: relFileChecked,
        image: relFileChecked,
        floorRow: num('nonnegint'),
      }),
      { minLength: 1 },
    ),
  }),
  stats: obj({
    images: relFileChecked,
    seeds: arr(num('nonnegint', 4294967295), { minLength: 1 }),
    steps: num('posint'),
    cfgScale: num('positive'),
  }),
});

// ---------------------------------------------------------------------------------------------------------
// The bundle

export interface LoadOptions {
  /** Check each ONNX file's sha256 against the manifest (default true; hashes are cached per file version). */
  verifyHashes?: boolean;
  /** 'full' refuses a bundle without goldens; 'any' (default) accepts a contract-only bundle. */
  require?: 'full' | 'any';
}

export interface Bundle {
  dir: string;
  level: BundleLevel;
  manifest: Manifest;
  /** goldens/index.json; null for a contract-only bundle. */
  index: GoldenIndex | null;
  variantNames: string[];
  variant(name: string): VariantSpec;
  /** Absolute path of a variant's ONNX file. */
  variantPath(name: string): string;
  /** Absolute path of a file named in goldens/index.json (paths there are relative to goldens/). */
  goldenPath(rel: string): string;
  /** Reads a golden .npy; errors name the file. */
  readGolden(rel: string): NpyArray;
  /** 'Bombay' for 3, 'null' for the null token. */
  breedName(index: number): string;
  nullIndex: number;
  imageSize: number;
  channels: number;
  /** The tolerance policy (throws for a contract-only bundle whose manifest has none). */
  readonly tolerance: TolerancePolicy;
  /** Goldens accessors: each throws a BundleError naming the bundle when it is contract-only. */
  readonly noiseCases: NoiseCase[];
  readonly velocityCases: VelocityCase[];
  readonly velocityBatches: VelocityBatch[];
  readonly trajectoryCases: TrajectoryCase[];
  /** The expected-output and noise-floor files (relative to goldens/) a variant is judged against. */
  velocityGoldens(variant: string): { expected: string; noiseFloor: string; reference: string };
  /** Throws a BundleError saying `what` needs goldens when the bundle is contract-only. */
  requireFull(what: string): GoldenIndex;
}

class LoadedBundle implements Bundle {
  readonly variantNames: string[];
  constructor(
    readonly dir: string,
    readonly level: BundleLevel,
    readonly manifest: Manifest,
    readonly index: GoldenIndex | null,
  ) {
    this.variantNames = Object.keys(manifest.variants);
  }
  get nullIndex(): number {
    return this.manifest.guidance.nullIndex;
  }
  get imageSize(): number {
    return this.manifest.identity.config.image_size;
  }
  get channels(): number {
    return this.manifest.identity.config.in_channels;
  }
  variant(name: string): VariantSpec {
    const v = this.manifest.variants[name];
    if (!v) throw new BundleError(this.dir, [`manifest.json: no variant '${name}' in variants (has: ${this.variantNames.join(', ')})`]);
    return v;
  }
  variantPath(name: string): string {
    return join(this.dir, this.variant(name).file);
  }
  goldenPath(rel: string): string {
    if (!isInside(rel)) throw new BundleError(this.dir, [`goldens/${rel}: not a path inside the bundle's goldens/`]);
    return join(this.dir, 'goldens', rel);
  }
  readGolden(rel: string): NpyArray {
    const path = this.goldenPath(rel);
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(path);
    } catch (e) {
      throw new BundleError(this.dir, [
        `goldens/${rel}: cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); regenerate the goldens with reference/python/make_bundle.py`,
      ]);
    }
    return parseNpy(bytes, path);
  }
  breedName(index: number): string {
    if (index === this.nullIndex && index >= this.manifest.breeds.length) return 'null';
    return this.manifest.breeds[index] ?? `breed${index}`;
  }
  get tolerance(): TolerancePolicy {
    const t = this.manifest.tolerance;
    if (!t)
      throw new BundleError(this.dir, ['manifest.json: tolerance is missing; a comparison against goldens needs the tolerance policy']);
    return t;
  }
  requireFull(what: string): GoldenIndex {
    if (this.index) return this.index;
    throw new BundleError(this.dir, [
      `goldens/index.json: missing: this is a contract-only bundle, and ${what} needs goldens; build them with reference/python/make_bundle.py`,
    ]);
  }
  get noiseCases(): NoiseCase[] {
    return this.requireFull('the noise check').noise;
  }
  get velocityCases(): VelocityCase[] {
    return this.requireFull('the velocity check').velocity.cases;
  }
  get velocityBatches(): VelocityBatch[] {
    return this.requireFull('the velocity check').velocity.batches;
  }
  get trajectoryCases(): TrajectoryCase[] {
    return this.requireFull('the trajectory check').trajectories.cases;
  }
  velocityGoldens(variant: string): { expected: string; noiseFloor: string; reference: string } {
    const v = this.requireFull(`the velocity check of '${variant}'`).velocity;
    const reference = v.expectedFor[variant];
    const expected = reference !== undefined ? v.expected[reference] : undefined;
    const noiseFloor = reference !== undefined ? v.noiseFloor[reference] : undefined;
    if (reference === undefined || expected === undefined || noiseFloor === undefined) {
      throw new BundleError(this.dir, [
        `goldens/index.json: velocity.expectedFor.${variant} does not lead to an expected output and noise floor`,
      ]);
    }
    return { expected, noiseFloor, reference };
  }
}

function crossCheckManifest(m: Manifest, level: BundleLevel, issues: string[]): void {
  const cfg = m.identity.config;
  const F = 'manifest.json';
  if (m.breeds.length !== cfg.num_classes) {
    issues.push(`${F}: breeds lists ${m.breeds.length} names but identity.config.num_classes is ${cfg.num_classes}`);
  }
  if (m.guidance.nullIndex > cfg.num_classes) {
    issues.push(
      `${F}: guidance.nullIndex ${m.guidance.nullIndex} is beyond the breed embedding (num_classes ${cfg.num_classes} + 1 null row)`,
    );
  }
  if (m.contract.imageSize !== cfg.image_size)
    issues.push(`${F}: contract.imageSize ${m.contract.imageSize} differs from identity.config.image_size ${cfg.image_size}`);
  if (m.contract.channels !== cfg.in_channels)
    issues.push(`${F}: contract.channels ${m.contract.channels} differs from identity.config.in_channels ${cfg.in_channels}`);
  for (const [k, v] of Object.entries(m.variants)) {
    if (v.quantizedFrom !== undefined && !(v.quantizedFrom in m.variants)) {
      issues.push(
        `${F}: variants.${k}.quantizedFrom names '${v.quantizedFrom}', which is not a variant (has: ${Object.keys(m.variants).join(', ')})`,
      );
    }
  }
  if (m.budget) {
    for (const k of Object.keys(m.budget.fullGenerationMs)) {
      if (!(BUDGET_RUNTIMES as readonly string[]).includes(k))
        issues.push(`${F}: budget.fullGenerationMs.${k} is not a runtime (one of ${BUDGET_RUNTIMES.join(', ')})`);
    }
    if (m.budget.variant !== undefined && !(m.budget.variant in m.variants)) {
      issues.push(`${F}: budget.variant names '${m.budget.variant}', which is not a variant (has: ${Object.keys(m.variants).join(', ')})`);
    }
  }
  if (level === 'full') {
    for (const key of ['tolerance', 'sampler', 'pixels'] as const) {
      if (m[key] === undefined)
        issues.push(`${F}: ${key} must be an object, got nothing (the field is missing; a bundle with goldens needs it)`);
    }
    if (m.tolerance && !m.tolerance.quantized && Object.values(m.variants).some((v) => v.quantized)) {
      issues.push(`${F}: tolerance.quantized must be an object, got nothing (the field is missing; the bundle has a quantized variant)`);
    }
  }
}

async function checkVariants(dir: string, m: Manifest, verifyHashes: boolean, issues: string[]): Promise<void> {
  for (const [k, v] of Object.entries(m.variants)) {
    const path = join(dir, v.file);
    if (!existsSync(path)) {
      issues.push(`${v.file} (manifest.json variants.${k}.file): missing; put the ONNX file there or fix the manifest`);
      continue;
    }
    const size = statSync(path).size;
    if (size !== v.bytes) {
      issues.push(
        `${v.file}: ${size} bytes but manifest.json variants.${k}.bytes is ${v.bytes}${size < v.bytes ? ' (truncated?)' : ''}; re-copy the file or rebuild the bundle`,
      );
    } else if (verifyHashes) {
      const hex = await sha256File(path);
      if (hex !== v.sha256) {
        issues.push(
          `${v.file}: sha256 ${hex} does not match manifest.json variants.${k}.sha256 ${v.sha256}; the file is not the one the manifest pins`,
        );
      }
    }
    try {
      probeOnnxFile(path);
    } catch (e) {
      if (!(e instanceof OnnxError)) throw e;
      issues.push(e.message.replace(path, v.file));
    }
  }
}

/** Checks the golden files named by goldens/index.json; returns the files that passed (dtype, shape, complete). */
function checkGoldens(dir: string, m: Manifest, index: GoldenIndex, issues: string[]): Set<string> {
  const g = join(dir, 'goldens');
  const usable = new Set<string>();
  const checkNpy = (gdir: string, rel: string, namedBy: string, dtype: string, shape: number[] | null, out: string[]): number[] | null => {
    const before = out.length;
    const r = checkNpyFile(gdir, rel, namedBy, dtype, shape, out);
    if (r !== null && out.length === before) usable.add(rel);
    return r;
  };
  const C = m.identity.config.in_channels;
  const S = m.identity.config.image_size;
  const K = m.identity.config.num_classes;
  const I = 'goldens/index.json';

  index.noise.forEach((n, i) => {
    if (n.shape[0] !== 1 || n.shape[1] !== C || n.shape[2] !== n.shape[3]) {
      issues.push(`${I}: noise[${i}].shape must be [1,${C},s,s], got ${fmtShape(n.shape)}`);
    }
    checkNpy(g, n.file, `noise[${i}].file`, 'float32', n.shape, issues);
  });

  const v = index.velocity;
  const N = v.cases.length;
  checkNpy(g, v.inputs.noise, 'velocity.inputs.noise', 'float32', [N, C, S, S], issues);
  checkNpy(g, v.inputs.timestep, 'velocity.inputs.timestep', 'float32', [N], issues);
  checkNpy(g, v.inputs.breed, 'velocity.inputs.breed', 'int64', [N], issues);
  const rows = new Set<number>();
  v.cases.forEach((c, i) => {
    if (c.row >= N) issues.push(`${I}: velocity.cases[${i}].row ${c.row} is outside the ${N} input rows`);
    if (rows.has(c.row)) issues.push(`${I}: velocity.cases[${i}].row ${c.row} is used by two cases`);
    rows.add(c.row);
    if (c.breed > Math.max(K, m.guidance.nullIndex))
      issues.push(
        `${I}: velocity.cases[${i}].breed ${c.breed} is neither a breed (0..${K - 1}) nor the null index ${m.guidance.nullIndex}`,
      );
  });
  v.batches.forEach((b, i) =>
    b.rows.forEach((r, j) => {
      if (r >= N) issues.push(`${I}: velocity.batches[${i}].rows[${j}] ${r} is outside the ${N} input rows`);
    }),
  );
  for (const [k, rel] of Object.entries(v.expected)) {
    checkNpy(g, rel, `velocity.expected.${k}`, 'float32', [N, C, S, S], issues);
    if (v.noiseFloor[k] === undefined)
      issues.push(`${I}: velocity.noiseFloor has no entry for '${k}' (velocity.expected.${k} needs its noise floor)`);
  }
  for (const [k, rel] of Object.entries(v.noiseFloor)) checkNpy(g, rel, `velocity.noiseFloor.${k}`, 'float64', [N], issues);
  for (const [variant, ref] of Object.entries(v.expectedFor)) {
    if (!(variant in m.variants))
      issues.push(
        `${I}: velocity.expectedFor.${variant} names a variant that manifest.json does not have (has: ${Object.keys(m.variants).join(', ')})`,
      );
    if (v.expected[ref] === undefined)
      issues.push(`${I}: velocity.expectedFor.${variant} is '${ref}', which is not a key of velocity.expected`);
  }
  for (const variant of Object.keys(m.variants)) {
    if (v.expectedFor[variant] === undefined)
      issues.push(`${I}: velocity.expectedFor has no entry for variant '${variant}' of manifest.json; its velocity cannot be judged`);
  }

  const t = index.trajectories;
  const T = t.cases.length;
  if (!(t.variant in m.variants)) issues.push(`${I}: trajectories.variant '${t.variant}' is not a variant of manifest.json`);
  checkNpy(g, t.floor, 'trajectories.floor', 'float64', [T, t.steps + 1], issues);
  t.cases.forEach((c, i) => {
    if (c.breed >= K) issues.push(`${I}: trajectories.cases[${i}].breed ${c.breed} is not a breed (0..${K - 1})`);
    if (c.floorRow >= T) issues.push(`${I}: trajectories.cases[${i}].floorRow ${c.floorRow} is outside trajectories.floor's ${T} rows`);
    checkNpy(g, c.file, `trajectories.cases[${i}].file`, 'float32', [t.steps + 1, C, S, S], issues);
    checkPng(g, c.image, `trajectories.cases[${i}].image`, S, issues);
  });

  checkNpy(g, index.stats.images, 'stats.images', 'uint8', [K, index.stats.seeds.length, S, S, 3], issues);
  // the statistics checks leave one seed out and need a spread of the rest: fewer is a bundle that cannot be judged
  if (index.stats.seeds.length < MIN_STATS_SEEDS)
    issues.push(
      `${I}: stats.seeds lists ${index.stats.seeds.length} seed(s) per breed; the statistics checks need at least ${MIN_STATS_SEEDS} ` +
        '(one left out, a standard deviation of the rest): regenerate with make_bundle.py --stats-seeds 3 or more',
    );
  return usable;
}

/**
 * Loads and validates a bundle (default: bundleDir()'s answer is passed by callers). Throws a BundleError
 * listing every problem, each naming its file and field.
 */
export async function loadBundle(dir: string, opts: LoadOptions = {}): Promise<Bundle> {
  const root = resolve(dir);
  const issues: string[] = [];
  if (!existsSync(root) || !statSync(root).isDirectory()) {
    throw new BundleError(root, [`${root}: not a directory; point TINYDIT_BUNDLE at a bundle folder holding manifest.json`]);
  }
  const raw = readJson(
    join(root, 'manifest.json'),
    'manifest.json',
    issues,
    'a bundle needs manifest.json (reference/python/make_bundle.py writes one)',
  );
  if (raw === undefined) throw new BundleError(root, issues);
  const schemaIssues: string[] = [];
  MANIFEST_SCHEMA.check(raw, '', schemaIssues);
  if (schemaIssues.length > 0)
    throw new BundleError(
      root,
      schemaIssues.map((s) => `manifest.json: ${s}`),
    );
  const manifest = raw as Manifest;

  const goldensDir = join(root, 'goldens');
  const hasGoldens = existsSync(goldensDir);
  const level: BundleLevel = hasGoldens ? 'full' : 'contract-only';
  if (!hasGoldens && opts.require === 'full') {
    issues.push(
      'goldens/: missing: this run needs a full bundle (goldens/index.json and the files it names); build it with reference/python/make_bundle.py',
    );
  }
  crossCheckManifest(manifest, level, issues);
  // the gate-owned tolerance policy (harness/model/trust.ts): the bundle may tighten its tolerances, never loosen them
  const trust: TrustIssue[] = manifest.tolerance ? checkToleranceCeilings(manifest.tolerance) : [];
  await checkVariants(root, manifest, opts.verifyHashes ?? true, issues);

  let index: GoldenIndex | null = null;
  if (hasGoldens) {
    const rawIndex = readJson(
      join(goldensDir, 'index.json'),
      'goldens/index.json',
      issues,
      'goldens/ exists, so the bundle must have goldens/index.json (remove goldens/ for a contract-only bundle)',
    );
    if (rawIndex !== undefined) {
      const idxIssues: string[] = [];
      INDEX_SCHEMA.check(rawIndex, '', idxIssues);
      if (idxIssues.length > 0) issues.push(...idxIssues.map((s) => `goldens/index.json: ${s}`));
      else {
        index = rawIndex as GoldenIndex;
        const usable = checkGoldens(root, manifest, index, issues);
        // noise floors bounded by the analytic ceiling (files that failed the structural checks are skipped)
        trust.push(...checkNoiseFloors(goldensDir, index, (rel) => usable.has(rel)));
      }
    }
  }
  issues.push(...trust.map((t) => t.message));
  if (issues.length > 0) throw new BundleError(root, issues, trust);
  return new LoadedBundle(root, level, manifest, index);
}
