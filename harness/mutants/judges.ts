/**
 * The aimed Node checks, called directly (no vitest run, no gate) on a model held in memory: what
 * suites/node/mutants.test.ts uses to show on every CI run that each cheap mutant is caught by the check aimed
 * at it, and that the good model passes the same calls. Each judge wraps the harness function the Node suite
 * of that family is built on (contractDiff/weightSanity, harness/checks/behaviour.ts, compareTensors under the
 * mutant's tolerance policy, the shared sampler, harness/model/trust.ts's tolerance ceilings and noise-floor ceiling
 * as loadBundle applies them), on a reduced set of cases so the whole catalogue runs in
 * well under a minute; the gate (scripts/gate-power.ts) runs the full suites on the same mutants.
 */
import {
  checkDependsOnBreed,
  checkDependsOnPosition,
  checkDependsOnPositionFlat,
  checkDependsOnTime,
  checkGuidanceOnce,
  checkLocality,
  checkNotInputProportional,
  checkNullTokenDistinct,
  checkVelocityNonZero,
  type BehaviourResult,
} from '../checks/behaviour.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { contractDiff, originContract, type Bundle, type GoldenIndex, type Manifest, type TolerancePolicy } from '../model/bundle.js';
import { compareTensors, toleranceBand } from '../core/compare.js';
import { parseNpy, type NpyArray } from '../core/npy.js';
import { breedEmbeddingRows, inspectOnnx, weightSanity } from '../model/onnx.js';
import { openModelBytes, samplerModel, type VelocityRunner } from '../runtimes/node.js';
import { sample } from '../core/sampler.js';
import { checkNoiseFloors, checkToleranceCeilings } from '../model/trust.js';
import { linkTree, writeFresh } from './materialise.js';
import type { CheckKey } from './types.js';

/** One aimed check's outcome on one model. */
export interface JudgeOutcome {
  key: CheckKey;
  pass: boolean;
  /** What was compared, with numbers (names the variant and the cause on failure). */
  message: string;
}

/** A bundle whose models (and manifest) may differ from the files on disk: a mutant held in memory. */
export interface ModelUnderTest {
  bundle: Bundle;
  manifest: Manifest;
  /** ONNX bytes per variant. */
  models: Record<string, Uint8Array>;
  /** Golden files that differ from the bundle's, by path relative to goldens/ (the others are read from the bundle). */
  goldens?: Record<string, Uint8Array>;
}

/** A golden .npy of the model under test: its replacement where it has one, else the bundle's file. */
function golden(m: ModelUnderTest, rel: string): NpyArray {
  const r = m.goldens?.[rel];
  return r ? parseNpy(r, `goldens/${rel} (replaced)`) : m.bundle.readGolden(rel);
}

/** goldens/index.json of the model under test (its replacement where it has one). */
function goldenIndex(m: ModelUnderTest, what: string): GoldenIndex {
  const r = m.goldens?.['index.json'];
  return r ? (JSON.parse(new TextDecoder().decode(r)) as GoldenIndex) : m.bundle.requireFull(what);
}

/** The tolerance policy the model under test is judged with: its manifest's (a mutant may have edited it). */
function policy(m: ModelUnderTest): TolerancePolicy {
  return m.manifest.tolerance ?? m.bundle.tolerance;
}

type Judge = (m: ModelUnderTest, runners: RunnerCache) => Promise<JudgeOutcome[]>;

/** Opens each variant once per model under test; a model onnxruntime refuses is an outcome, not a crash. */
export class RunnerCache {
  private readonly open = new Map<string, Promise<VelocityRunner>>();
  constructor(
    private readonly m: ModelUnderTest,
    private readonly label: string,
  ) {}
  runner(variant: string): Promise<VelocityRunner> {
    let r = this.open.get(variant);
    if (!r) {
      const spec = this.m.manifest.variants[variant];
      const bytes = this.m.models[variant];
      if (!spec || !bytes) throw new Error(`${this.label}: no variant '${variant}'`);
      r = openModelBytes(
        bytes,
        this.m.manifest,
        { label: variant, source: `${this.label}:${spec.file}`, guidance: spec.guidance },
        { threads: 1 },
      );
      this.open.set(variant, r);
    }
    return r;
  }
  async release(): Promise<void> {
    for (const r of this.open.values())
      await r.then(
        (x) => x.release(),
        () => undefined,
      );
    this.open.clear();
  }
}

const floatVariants = (m: ModelUnderTest): string[] => Object.keys(m.manifest.variants).filter((v) => !m.manifest.variants[v]!.quantized);
const bakedFloat = (m: ModelUnderTest): string[] => floatVariants(m).filter((v) => m.manifest.variants[v]!.guidance === 'baked');
const rawFloat = (m: ModelUnderTest): string | undefined => floatVariants(m).find((v) => m.manifest.variants[v]!.guidance === 'none');

/** Runs `fn` per variant; a model that cannot be opened or run fails the check with the reason. */
async function perVariant(
  key: CheckKey,
  variants: string[],
  fn: (v: string) => Promise<{ pass: boolean; message: string }>,
): Promise<JudgeOutcome[]> {
  const out: JudgeOutcome[] = [];
  for (const v of variants) {
    try {
      const r = await fn(v);
      out.push({ key, pass: r.pass, message: `variant=${v}: ${r.message}` });
    } catch (e) {
      out.push({ key, pass: false, message: `variant=${v}: could not be judged: ${(e as Error).message.split('\n')[0]}` });
    }
  }
  return out;
}

function contractJudge(key: CheckKey, field: (f: string) => boolean): Judge {
  return async (m) =>
    perVariant(key, Object.keys(m.manifest.variants), async (v) => {
      const info = inspectOnnx(m.models[v]!, v);
      const batch = m.manifest.contract.dynamicAxes[0] ?? 'batch';
      const diffs = contractDiff(originContract(m.bundle.imageSize, m.bundle.channels, batch), info, {
        anySymbol: true,
        symbolicForStatic: true,
      }).filter((d) => field(d.field));
      return { pass: diffs.length === 0, message: diffs.length ? diffs.map((d) => d.message).join('; ') : 'matches the ORIGIN contract' };
    });
}

function behaviourJudge(
  key: CheckKey,
  run: (r: VelocityRunner, m: ModelUnderTest, variant: string) => Promise<BehaviourResult>,
  variants: (m: ModelUnderTest) => string[] = (m) => Object.keys(m.manifest.variants),
): Judge {
  return async (m, runners) =>
    perVariant(key, variants(m), async (v) => {
      const r = await run(await runners.runner(v), m, v);
      return { pass: r.pass, message: r.message };
    });
}

/** The golden velocity batch groups (one call per t, all breeds incl. null) under the bundle's policy. */
const velocityJudge: Judge = async (m, runners) => {
  const b = m.bundle;
  const idx = goldenIndex(m, 'the velocity judge').velocity;
  const tol = policy(m);
  const x = golden(m, idx.inputs.noise).data as Float32Array;
  const t = golden(m, idx.inputs.timestep).data as Float32Array;
  const br = golden(m, idx.inputs.breed).data as BigInt64Array;
  const per = b.channels * b.imageSize * b.imageSize;
  return perVariant('velocity', Object.keys(m.manifest.variants), async (v) => {
    const g = b.velocityGoldens(v);
    const expected = golden(m, g.expected).data as Float32Array;
    const floor = golden(m, g.noiseFloor).data as Float64Array;
    const r = await runners.runner(v);
    const failing: string[] = [];
    for (const batch of b.velocityBatches) {
      const rows = batch.rows;
      const xs = new Float32Array(rows.length * per);
      rows.forEach((row, i) => xs.set(x.subarray(row * per, (row + 1) * per), i * per));
      const out = await r.run(
        xs,
        Float32Array.from(rows, (row) => t[row]!),
        BigInt64Array.from(rows, (row) => br[row]!),
        rows.length,
      );
      const exp = new Float32Array(rows.length * per);
      rows.forEach((row, i) => exp.set(expected.subarray(row * per, (row + 1) * per), i * per));
      const shape = [rows.length, b.channels, b.imageSize, b.imageSize];
      const q = tol.quantized;
      const s = m.manifest.variants[v]!.quantized
        ? compareTensors(out, exp, { shape, relL2Max: q?.velocityRelL2Max ?? 0 })
        : compareTensors(out, exp, {
            shape,
            atol: rows.map((row) => toleranceBand(tol.velocity, floor[row]!)),
          });
      if (!s.pass)
        failing.push(
          `${batch.id}: ${s.failing} values outside, max|err| ${s.abs.max.toExponential(2)}, worst ratio ${s.worstRatio.toExponential(2)}`,
        );
    }
    return {
      pass: failing.length === 0,
      message: failing.length ? failing.join('; ') : `${b.velocityBatches.length} batch groups within the tolerance policy`,
    };
  });
};

/** The first golden trajectory case, sampled with the guided variant (guidance mode from the manifest), final state vs golden. */
const trajectoryJudge: Judge = async (m, runners) => {
  const b = m.bundle;
  const idx = goldenIndex(m, 'the trajectory judge').trajectories;
  const tol = policy(m);
  const c = idx.cases[0];
  if (!c) throw new Error(`${b.dir}: no golden trajectory case`);
  const variant = idx.variant;
  return perVariant('trajectory', [variant], async () => {
    const r = await runners.runner(variant);
    const { x } = await sample(samplerModel(r), { breeds: [c.breed], seeds: [c.seed], steps: idx.steps, cfgScale: idx.cfgScale });
    const states = golden(m, c.file).data as Float32Array;
    const per = b.channels * b.imageSize * b.imageSize;
    const final = states.subarray(idx.steps * per, (idx.steps + 1) * per);
    const floor = (golden(m, idx.floor).data as Float64Array)[c.floorRow * (idx.steps + 1) + idx.steps]!;
    const atol = toleranceBand(tol.trajectory, floor);
    const s = compareTensors(x, final, { shape: [1, b.channels, b.imageSize, b.imageSize], atol });
    return { pass: s.pass, message: `${c.id} final state: max|x - golden| ${s.abs.max.toExponential(3)} vs ${atol.toExponential(3)}` };
  });
};

/** The gate-owned tolerance ceilings (harness/model/trust.ts) on the manifest's tolerance policy, as loadBundle applies them. */
const toleranceCeilingJudge: Judge = async (m) => {
  const key = 'trust/tolerance-ceiling';
  const t = m.manifest.tolerance;
  if (!t) return [{ key, pass: false, message: 'manifest.json has no tolerance policy to bound' }];
  const issues = checkToleranceCeilings(t);
  return issues.length
    ? issues.map((i) => ({ key, pass: false, message: i.message }))
    : [{ key, pass: true, message: "every tolerance field within the gate's ceilings (harness/model/trust.ts TOLERANCE_BOUNDS)" }];
};

/**
 * The analytic noise-floor ceiling (harness/model/trust.ts checkNoiseFloors) on the goldens of the model under test:
 * a temporary goldens folder that hard-links the bundle's files and holds the replaced ones as fresh files
 * (never written through a link), judged as loadBundle judges a bundle's goldens, then removed.
 */
const noiseFloorJudge: Judge = async (m) => {
  const key = 'trust/noise-floor';
  const replaced = Object.entries(m.goldens ?? {});
  const dir = mkdtempSync(join(tmpdir(), 'tinydit-floors-'));
  try {
    linkTree(join(m.bundle.dir, 'goldens'), dir, new Set(replaced.map(([rel]) => rel)));
    for (const [rel, bytes] of replaced) writeFresh(join(dir, rel), bytes);
    const issues = checkNoiseFloors(dir, goldenIndex(m, 'the noise-floor judge'), () => true);
    return issues.length
      ? issues.map((i) => ({ key, pass: false, message: i.message }))
      : [{ key, pass: true, message: 'every velocity and trajectory noise floor within the analytic ceiling (harness/model/trust.ts)' }];
  } catch (e) {
    return [{ key, pass: false, message: `the noise floors could not be judged: ${(e as Error).message.split('\n')[0]}` }];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
};

/** Direct judges by check key. Keys without one here (metadata, browser checks) are judged only by the gate. */
export const DIRECT_JUDGES: Record<CheckKey, Judge> = {
  'contract/io-names': contractJudge('contract/io-names', (f) => /^(inputs|outputs)\.[^.]+$/.test(f)),
  'contract/dtypes': contractJudge('contract/dtypes', (f) => f.endsWith('.dtype')),
  'contract/shapes': contractJudge('contract/shapes', (f) => f.includes('.shape')),
  'contract/parameters': async (m) =>
    perVariant('contract/parameters', floatVariants(m), async (v) => {
      const have = inspectOnnx(m.models[v]!, v).parameterCount;
      const want = m.manifest.identity.parameters;
      return { pass: have === want, message: `${have} float parameters, manifest identity.parameters ${want}` };
    }),
  'weights/finite': async (m) =>
    perVariant('weights/finite', Object.keys(m.manifest.variants), async (v) => {
      const s = weightSanity(inspectOnnx(m.models[v]!, v), m.models[v]!);
      return {
        pass: s.nonFinite.length === 0 && s.unchecked.length === 0,
        message: s.nonFinite.length ? `non-finite in ${s.nonFinite.map((n) => n.name).join(', ')}` : 'all finite',
      };
    }),
  'weights/output-layer': async (m) =>
    perVariant('weights/output-layer', Object.keys(m.manifest.variants), async (v) => {
      const s = weightSanity(inspectOnnx(m.models[v]!, v), m.models[v]!);
      return {
        pass: s.outputLayer.weight !== null && !s.outputWeightZero,
        message: s.outputWeightZero ? 'output layer weight all zero' : 'output layer not all zero',
      };
    }),
  'behaviour/nonzero': behaviourJudge('behaviour/nonzero', (r, m) =>
    checkVelocityNonZero(r, m.manifest.breeds.length, m.manifest.identity.config.prediction),
  ),
  'behaviour/not-input': behaviourJudge('behaviour/not-input', (r, m) => checkNotInputProportional(r, m.manifest.breeds.length)),
  'behaviour/depends-on-t': behaviourJudge('behaviour/depends-on-t', (r, m) =>
    checkDependsOnTime(r, m.manifest.breeds.length, 0.1, 0.9, m.manifest.identity.config.prediction),
  ),
  'behaviour/depends-on-breed': behaviourJudge('behaviour/depends-on-breed', (r, m, v) =>
    checkDependsOnBreed(r, m.manifest.breeds.length, 0.5, undefined, {
      breedNames: m.manifest.breeds,
      quantized: m.manifest.variants[v]?.quantized === true,
      prediction: m.manifest.identity.config.prediction,
    }),
  ),
  'behaviour/depends-on-position-flat': behaviourJudge('behaviour/depends-on-position-flat', (r, m) =>
    checkDependsOnPositionFlat(r, m.manifest.breeds.length, m.manifest.identity.config.patch_size),
  ),
  'behaviour/locality': behaviourJudge('behaviour/locality', (r, m) =>
    checkLocality(r, m.manifest.breeds.length, m.manifest.identity.config.patch_size, {
      prediction: m.manifest.identity.config.prediction,
    }),
  ),
  'behaviour/depends-on-position': behaviourJudge('behaviour/depends-on-position', (r, m) =>
    checkDependsOnPosition(r, m.manifest.breeds.length, m.manifest.identity.config.patch_size),
  ),
  'behaviour/guidance-once': async (m, runners) => {
    const raw = rawFloat(m);
    if (!raw) return [{ key: 'behaviour/guidance-once', pass: false, message: 'no raw float variant to compare the baked graphs with' }];
    return perVariant('behaviour/guidance-once', bakedFloat(m), async (v) => {
      const r = await checkGuidanceOnce(
        await runners.runner(v),
        await runners.runner(raw),
        m.manifest.guidance.scale,
        m.manifest.guidance.nullIndex,
        m.manifest.breeds.length,
        breedEmbeddingRows(inspectOnnx(m.models[raw]!, raw)),
      );
      return { pass: r.pass, message: r.message };
    });
  },
  'behaviour/null-token': async (m, runners) => {
    const raw = rawFloat(m);
    if (!raw) return [{ key: 'behaviour/null-token', pass: false, message: 'no raw float variant' }];
    return perVariant('behaviour/null-token', [raw], async (v) => {
      const r = await checkNullTokenDistinct(
        await runners.runner(v),
        m.manifest.guidance.nullIndex,
        m.manifest.breeds.length - 1,
        breedEmbeddingRows(inspectOnnx(m.models[v]!, v)),
      );
      return { pass: r.pass, message: r.message };
    });
  },
  velocity: velocityJudge,
  trajectory: trajectoryJudge,
  'trust/tolerance-ceiling': toleranceCeilingJudge,
  'trust/noise-floor': noiseFloorJudge,
};

/** Runs the direct judge of each key (those that have one) on a model under test. */
export async function judge(m: ModelUnderTest, keys: CheckKey[], label: string): Promise<JudgeOutcome[]> {
  const runners = new RunnerCache(m, label);
  try {
    const out: JudgeOutcome[] = [];
    for (const k of keys) {
      const j = DIRECT_JUDGES[k];
      if (j) out.push(...(await j(m, runners)));
    }
    return out;
  } finally {
    await runners.release();
  }
}
