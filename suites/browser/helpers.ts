/**
 * Browser-suite glue: the checks the browser specs apply to what the reference page produced, each a pure
 * function returning a Verdict (pass, a message naming the case and the cause, metrics, thresholds). The
 * normal specs expect them to pass; faults.spec.ts runs the very same functions on a page broken on purpose
 * (?fault=...) or a broken model URL and expects them to fail with the right message.
 *
 * Everything a check is judged by comes from the bundle under test (bundleDir(): env TINYDIT_BUNDLE, else
 * fixtures/default): golden trajectories and images, the tolerance policy, the reference images behind the
 * statistics limits and the breed classifier; except the judge check (checkJudge), whose yardstick is the gate's own,
 * trained on the training data and pinned by sha256 (harness/checks/yardstick.ts). The statistics, fidelity, judge, image and
 * tensor comparisons are the harness's own (harness/checks/stats.ts, fidelity.ts, yardstick.ts, png.ts, compare.ts); nothing
 * here re-implements them.
 *
 * Env: TINYDIT_CASE: a regular expression; only cases whose id matches it run (to rerun one case by its id).
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { TestInfo } from '@playwright/test';
import { loadBundle, type Bundle, type TrajectoryCase } from '../../harness/model/bundle.js';
import { compareTensors, comparisonMetrics, formatComparison, type ComparisonStats, toleranceBand } from '../../harness/core/compare.js';
import { bundleDir } from '../../harness/core/config.js';
import { openVariant, samplerModel } from '../../harness/runtimes/node.js';
import { sample } from '../../harness/core/sampler.js';
import {
  deriveFidelityLimits,
  evaluateFidelity,
  fitBreedClassifier,
  leaveOneOut,
  MIN_REFERENCE_ACCURACY,
  referenceFeatures,
  type BreedClassifier,
  type FidelityEvaluation,
  type FidelityLimits,
  type LabelledImage,
} from '../../harness/checks/fidelity.js';
import {
  captionedRows,
  compareImages,
  decodePNG,
  encodePNG,
  FRAME,
  framed,
  readPNG,
  saveComparison,
  saveEvidence,
  upscale,
  EVIDENCE_SCALE,
  type ImageComparison,
  type RgbaImage,
} from '../../harness/core/png.js';
import { recordCheck, type CheckStatus, type Metric } from '../../harness/core/record-check.js';
import {
  deriveDistributionLimits,
  deriveValidityLimits,
  distributionCheck,
  imageFeatures,
  referenceSetFromNpy,
  referenceStatistics,
  rgbaImage,
  validityGates,
  type DistributionLimits,
  type ReferenceStatistics,
  type ValidityLimits,
} from '../../harness/checks/stats.js';
import { DOWNLOAD_NAME_RE, downloadFileName, progressSchedule } from '../../harness/runtimes/web/protocol.js';
import {
  channelShifts,
  imageScores,
  judgeInputFromHWC,
  openJudge,
  pooledTop2Limit,
  yardstickForBundle,
  YardstickError,
  type ImageScore,
  type JudgeRunner,
  type Yardstick,
} from '../../harness/checks/yardstick.js';
import type { Fault, LoadOptions } from '../../harness/runtimes/web/protocol.js';
import type { EngineInfo, GenerationRun, LoadedInfo, ProgressRecord, TinyditApp } from './fixtures.js';

// ---------------------------------------------------------------------------------------------------------
// Named constants (everything else comes from the bundle)

/** The golden trajectories' seed the browser suites generate at (goldens exist for seeds 7 and 42). */
export const GOLDEN_SEED = 7;

/**
 * Threads of the bulk generation runs: on the 2-core CI box one wasm thread was the fastest per step for the
 * 32x32 model (thread hand-off costs more than it saves); threads.spec.ts checks several threads separately.
 */
export const BULK_THREADS = 1;

/** Pixel levels per unit of state: the contract's conversion round((x + 1) / 2 * 255). */
const LEVELS_PER_UNIT = 255 / 2;

// ---------------------------------------------------------------------------------------------------------
// Verdicts

export interface Verdict {
  /** The check family, as in checks.jsonl: generation, progress, download, threads, determinism, loading. */
  check: string;
  pass: boolean;
  /** Why it failed (names the case and the likely cause), or what passed. */
  message: string;
  metrics: Record<string, Metric>;
  threshold: Record<string, Metric>;
}

export function verdict(
  check: string,
  failures: string[],
  okMessage: string,
  metrics: Record<string, Metric>,
  threshold: Record<string, Metric> = {},
): Verdict {
  return { check, pass: failures.length === 0, message: failures.length ? failures.join('; ') : okMessage, metrics, threshold };
}

/** Several verdicts of one case as one: fails when any fails, metrics prefixed by check family. */
export function combine(check: string, parts: Array<[string, Verdict]>): Verdict {
  const metrics: Record<string, Metric> = {};
  const threshold: Record<string, Metric> = {};
  for (const [name, v] of parts) {
    for (const [k, m] of Object.entries(v.metrics)) metrics[`${name}.${k}`] = m;
    for (const [k, m] of Object.entries(v.threshold)) threshold[`${name}.${k}`] = m;
  }
  const bad = parts.filter(([, v]) => !v.pass);
  return {
    check,
    pass: bad.length === 0,
    message: bad.length ? bad.map(([n, v]) => `${n}: ${v.message}`).join(' | ') : parts.map(([n]) => n).join(', ') + ': pass',
    metrics,
    threshold,
  };
}

/** Appends the case to <reportDir>/checks.jsonl with runtime = the engine, and the engine's version. */
export function record(
  id: string,
  v: Verdict,
  engine: EngineInfo,
  extra: { artifacts?: string[]; metrics?: Record<string, Metric>; status?: CheckStatus } = {},
): void {
  recordCheck({
    id,
    check: v.check,
    runtime: engine.project,
    status: extra.status ?? (v.pass ? 'pass' : 'fail'),
    metrics: { ...v.metrics, ...extra.metrics, engine: engine.label, engineVersion: engine.version },
    threshold: v.threshold,
    message: v.message,
    ...(extra.artifacts ? { artifacts: extra.artifacts } : {}),
  });
}

/** Records cases that could not run (bundle, page or model failed) as 'error', never as passed; returns the error. */
export function recordErrors(ids: string[], check: string, engine: EngineInfo, err: unknown, stage: string): Error {
  const e = err instanceof Error ? err : new Error(String(err));
  for (const id of ids) {
    recordCheck({
      id,
      check,
      runtime: engine.project,
      status: 'error',
      metrics: { engine: engine.label, engineVersion: engine.version, stage },
      message: `did not run: ${stage} failed: ${e.message.split('\n').slice(0, 6).join(' ')}`,
    });
  }
  return e;
}

/** For Playwright's expect: `expect(v.pass, v.message).toBe(true)` prints the case and the cause. */
export function explain(id: string, v: Verdict): string {
  return `${id}: ${v.check} ${v.pass ? 'passed' : 'FAILED'}: ${v.message}`;
}

/** Cases whose id matches env TINYDIT_CASE (all when unset). */
export function selectCases<T extends { id: string }>(cases: T[]): T[] {
  const pattern = process.env.TINYDIT_CASE;
  if (!pattern) return cases;
  const re = new RegExp(pattern);
  return cases.filter((c) => re.test(c.id));
}

// ---------------------------------------------------------------------------------------------------------
// The judge: the bundle's goldens, tolerance policy and reference statistics (loaded once per worker)

export interface Judge {
  bundle: Bundle;
  breeds: string[];
  size: number;
  channels: number;
  steps: number;
  cfgScale: number;
  validity: ValidityLimits;
  refStats: ReferenceStatistics;
  distribution: DistributionLimits;
  classifier: BreedClassifier;
  referenceLoo: FidelityEvaluation & { ranks: number[] };
  fidelity: FidelityLimits;
  /** The golden trajectory case of a breed at a seed (throws naming the file when the bundle has none). */
  trajectoryCase(breed: number, seed: number): TrajectoryCase;
  /** Its final state x_N, [C,H,W]. */
  goldenFinal(c: TrajectoryCase): Float32Array;
  /** Its golden PNG. */
  goldenImage(c: TrajectoryCase): RgbaImage;
  /** The allowed |x - golden| at the last step: max(floorMultiple * floor, absMin) with the case's own floor. */
  finalBand(c: TrajectoryCase): { atol: number; floor: number; rule: string };
}

let judgeOnce: Promise<Judge> | null = null;

/** Loads (once per worker) and validates the bundle; a missing or broken file fails with its name and the fix. */
export function judge(): Promise<Judge> {
  judgeOnce ??= buildJudge();
  return judgeOnce;
}

async function buildJudge(): Promise<Judge> {
  const bundle = await loadBundle(bundleDir(), { require: 'full', verifyHashes: true });
  const index = bundle.requireFull('the browser generation checks');
  const m = bundle.manifest;
  const size = bundle.imageSize;
  const channels = bundle.channels;
  const steps = index.trajectories.steps;
  const statsPath = bundle.goldenPath(index.stats.images);
  const ref = referenceSetFromNpy(bundle.readGolden(index.stats.images), m.breeds, index.stats.seeds, statsPath);
  const refStats = referenceStatistics(ref);
  const feats = referenceFeatures(ref);
  const referenceLoo = leaveOneOut(feats, m.breeds, ref.seeds);
  const floor = bundle.readGolden(index.trajectories.floor).data as Float64Array;
  const finals = new Map<string, Float32Array>();
  const per = channels * size * size;
  const policy = bundle.tolerance.trajectory;
  return {
    bundle,
    breeds: m.breeds,
    size,
    channels,
    steps,
    cfgScale: index.trajectories.cfgScale,
    validity: deriveValidityLimits(ref),
    refStats,
    distribution: deriveDistributionLimits(refStats, ref),
    classifier: fitBreedClassifier(feats, m.breeds),
    referenceLoo,
    fidelity: deriveFidelityLimits(referenceLoo),
    trajectoryCase(breed, seed) {
      const c = bundle.trajectoryCases.find((t) => t.breed === breed && t.seed === seed);
      if (!c) {
        throw new Error(
          `${bundle.dir}/goldens/index.json has no trajectory for breed ${breed} (${bundle.breedName(breed)}) at seed ${seed}; ` +
            `the browser suites generate at the golden seeds (${[...new Set(bundle.trajectoryCases.map((t) => t.seed))].join(', ')}); rebuild the bundle`,
        );
      }
      return c;
    },
    goldenFinal(c) {
      let x = finals.get(c.file);
      if (!x) {
        const arr = bundle.readGolden(c.file);
        if (arr.dtype !== 'float32' || arr.shape.join(',') !== [steps + 1, channels, size, size].join(',')) {
          throw new Error(
            `${bundle.goldenPath(c.file)}: expected float32 [${steps + 1},${channels},${size},${size}], got ${arr.dtype} [${arr.shape.join(',')}]; rebuild the bundle`,
          );
        }
        x = (arr.data as Float32Array).slice(steps * per, (steps + 1) * per);
        finals.set(c.file, x);
      }
      return x;
    },
    goldenImage(c) {
      return readPNG(bundle.goldenPath(c.image));
    },
    finalBand(c) {
      const f = floor[c.floorRow * (steps + 1) + steps];
      if (f === undefined || !Number.isFinite(f))
        throw new Error(
          `${bundle.goldenPath(index.trajectories.floor)}: no finite floor for row ${c.floorRow}, step ${steps}; rebuild the bundle`,
        );
      return {
        atol: toleranceBand(policy, f),
        floor: f,
        rule: `manifest tolerance.trajectory at step ${steps}: max(${policy.floorMultiple} x floor ${f.toExponential(3)}, ${policy.absMin})`,
      };
    },
  };
}

const nodeRuns = new Map<string, Promise<Float32Array>>();

/**
 * The same case sampled by onnxruntime-node (batch 1, one thread, the shared sampler): the browser's agreement
 * with Node is reported next to the golden verdict (informational; both are judged against the golden).
 */
export function nodeFinalState(j: Judge, variant: string, breed: number, seed: number): Promise<Float32Array> {
  const key = `${variant}:${breed}:${seed}`;
  let p = nodeRuns.get(key);
  if (!p) {
    p = (async () => {
      const cached = nodeStateFile(j, variant, breed, seed);
      if (cached && existsSync(cached)) {
        const b = readFileSync(cached);
        if (b.byteLength === j.channels * j.size * j.size * 4)
          return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
      }
      const runner = await openVariant(j.bundle, variant, { threads: 1 });
      let x: Float32Array;
      try {
        x = (await sample(samplerModel(runner), { breeds: [breed], seeds: [seed], steps: j.steps, cfgScale: j.cfgScale })).x;
      } finally {
        await runner.release();
      }
      if (cached) {
        mkdirSync(dirname(cached), { recursive: true });
        const tmp = `${cached}.${process.pid}.tmp`;
        writeFileSync(tmp, new Uint8Array(x.buffer, x.byteOffset, x.byteLength));
        renameSync(tmp, cached);
      }
      return x;
    })();
    nodeRuns.set(key, p);
  }
  return p;
}

/**
 * Where a gate run keeps a Node final state, so that the three engines' workers sample each case in Node once per run
 * (the run folder holds one bundle; the file names the variant's sha256, steps, scale, breed and seed). Null outside
 * a gate run (TINYDIT_REPORT_DIR unset): each worker then samples its own.
 */
function nodeStateFile(j: Judge, variant: string, breed: number, seed: number): string | null {
  const dir = process.env.TINYDIT_REPORT_DIR;
  if (!dir) return null;
  const sha = j.bundle.variant(variant).sha256.slice(0, 16);
  return join(dir, 'node-final-states', `${variant}-${sha}-steps${j.steps}-cfg${j.cfgScale}-b${breed}-s${seed}.f32`);
}

/** max |a - b| and bit-identity of two states (metrics only). */
export function agreement(a: Float32Array, b: Float32Array): { maxAbs: number; bitIdentical: boolean } {
  let maxAbs = a.length === b.length ? 0 : Infinity;
  let bitIdentical = a.length === b.length;
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (!(d <= maxAbs)) maxAbs = Number.isNaN(d) ? Infinity : d;
    if (!Object.is(a[i], b[i])) bitIdentical = false;
  }
  return { maxAbs, bitIdentical };
}

export function rgbaOf(run: { rgba: Uint8Array; width: number; height: number }): RgbaImage {
  return { width: run.width, height: run.height, data: new Uint8ClampedArray(run.rgba.buffer, run.rgba.byteOffset, run.rgba.byteLength) };
}

// ---------------------------------------------------------------------------------------------------------
// Generation checks

/** The final state against the golden trajectory's last state, under the bundle's trajectory tolerance. */
export function checkFinalState(j: Judge, c: TrajectoryCase, x: Float32Array, label: string): Verdict & { stats: ComparisonStats } {
  const band = j.finalBand(c);
  const golden = j.goldenFinal(c);
  if (x.length !== golden.length) {
    const v = verdict('generation', [`${label}: the final state has ${x.length} values, the golden ${golden.length} (${c.file})`], '', {
      values: x.length,
    });
    return { ...v, stats: undefined as unknown as ComparisonStats };
  }
  const stats = compareTensors(x, golden, {
    shape: [1, j.channels, j.size, j.size],
    axes: ['image', 'channel', 'y', 'x'],
    labels: [label],
    atol: band.atol,
    floor: band.floor,
  });
  const failures = stats.pass
    ? []
    : [
        `the final state leaves the golden trajectory ${c.id} (goldens/${c.file}, step ${j.steps}): max|x - golden| ${stats.abs.max.toExponential(3)} > ${band.atol.toExponential(3)} ` +
          `(${band.rule}); ${stats.failing} of ${stats.count} values outside; worst at ${Object.entries(stats.worst.named)
            .map(([k, v]) => `${k}=${v}`)
            .join(' ')}. ` +
          'The page samples differently from PyTorch: guidance applied twice or not at all, the wrong breed, a wrong time grid or noise.\n' +
          formatComparison(stats, label),
      ];
  return {
    ...verdict(
      'generation',
      failures,
      `within ${band.atol.toExponential(3)} of ${c.id} (max ${stats.abs.max.toExponential(3)})`,
      comparisonMetrics(stats),
      { atol: band.atol, floor: band.floor },
    ),
    stats,
  };
}

/**
 * Largest pixel difference a state within `atol` of the golden can show: round() of two values at most
 * atol apart differs by at most ceil(atol * 255 / 2) levels (1 for any atol below 1/127.5).
 */
export function pixelLevelsFor(atol: number): number {
  return Math.max(1, Math.ceil(atol * LEVELS_PER_UNIT));
}

/** The shown image against the golden PNG (pixelmatch + exact bytes), allowed the rounding of the state tolerance. */
export function checkGoldenImage(
  j: Judge,
  c: TrajectoryCase,
  image: RgbaImage,
  label: string,
): Verdict & { cmp: ImageComparison; golden: RgbaImage } {
  const golden = j.goldenImage(c);
  const cmp = compareImages(image, golden);
  const allowed = pixelLevelsFor(j.finalBand(c).atol);
  const failures =
    cmp.maxChannelDiff <= allowed
      ? []
      : [
          `${label}: the image differs from goldens/${c.image} by up to ${cmp.maxChannelDiff} levels (allowed ${allowed}: the rounding of the trajectory tolerance) ` +
            `in ${cmp.exactDiffPixels} pixels (pixelmatch ${cmp.diffPixels}), worst at (${cmp.worst?.x},${cmp.worst?.y}) channel ${cmp.worst?.channel}: ` +
            `${cmp.worst?.generated} vs golden ${cmp.worst?.golden}`,
        ];
  return {
    ...verdict(
      'generation',
      failures,
      `${cmp.exactDiffPixels} pixels differ, at most ${cmp.maxChannelDiff} level(s)`,
      {
        diffPixels: cmp.diffPixels,
        exactDiffPixels: cmp.exactDiffPixels,
        maxChannelDiff: cmp.maxChannelDiff,
        meanAbsDiff: cmp.meanAbsDiff,
      },
      { maxChannelDiff: allowed },
    ),
    cmp,
    golden,
  };
}

/** The quantized variant's own profile: mean |image - float golden| in levels <= tolerance.quantized.imageMeanAbsMax. */
export function checkQuantizedImage(
  j: Judge,
  c: TrajectoryCase,
  image: RgbaImage,
  label: string,
): Verdict & { cmp: ImageComparison; golden: RgbaImage } {
  const q = j.bundle.tolerance.quantized;
  const golden = j.goldenImage(c);
  const cmp = compareImages(image, golden);
  const failures: string[] = [];
  if (!q)
    failures.push(`${j.bundle.dir}/manifest.json has no tolerance.quantized: the quantized variant cannot be judged; rebuild the bundle`);
  else if (!(cmp.meanAbsDiff <= q.imageMeanAbsMax)) {
    failures.push(
      `${label}: mean |image - goldens/${c.image}| ${cmp.meanAbsDiff.toFixed(3)} levels > ${q.imageMeanAbsMax.toFixed(3)} ` +
        `(tolerance.quantized.imageMeanAbsMax, ${q.margin}x the ${q.measured?.imageMeanAbsMax?.toFixed(3) ?? '?'} measured in Node when the bundle was made)`,
    );
  }
  return {
    ...verdict(
      'generation',
      failures,
      `mean |diff| ${cmp.meanAbsDiff.toFixed(3)} levels`,
      { meanAbsDiff: cmp.meanAbsDiff, maxChannelDiff: cmp.maxChannelDiff, exactDiffPixels: cmp.exactDiffPixels },
      { imageMeanAbsMax: q?.imageMeanAbsMax ?? null },
    ),
    cmp,
    golden,
  };
}

/** Hard validity gates (harness/checks/stats.ts) on one image and its float state. */
export function checkValidity(j: Judge, image: RgbaImage, x: Float32Array | undefined, label: string): Verdict {
  const r = validityGates(rgbaImage(image.data, image.width, image.height), j.validity, x);
  const metrics: Record<string, Metric> = {};
  const threshold: Record<string, Metric> = {};
  for (const g of r.gates) {
    metrics[g.gate] = g.value;
    threshold[`${g.gate}.${g.kind}`] = g.limit;
  }
  return verdict(
    'stats',
    r.failures.map((f) => `${label}: ${f}`),
    'all validity gates pass',
    metrics,
    threshold,
  );
}

/** A generated image with its breed and noise seed (images of one seed are correlated: shared background). */
export interface GeneratedImage {
  breed: number;
  seed: number;
  label: string;
  image: RgbaImage;
}

/** Per-breed reference distribution (z-scores per image and set-wide shifts) of a set of generated images. */
export function checkDistribution(
  j: Judge,
  items: GeneratedImage[],
): Verdict & { perImage: Map<string, { worstFeature: string; worstZ: number; pass: boolean }> } {
  const r = distributionCheck(
    items.map((it) => ({
      breed: it.breed,
      seed: it.seed,
      label: it.label,
      features: imageFeatures(rgbaImage(it.image.data, it.image.width, it.image.height)),
    })),
    j.refStats,
    j.distribution,
  );
  const worst = r.shifts.reduce((a, s) => (Math.abs(s.meanZ) / s.limit > Math.abs(a.meanZ) / a.limit ? s : a));
  return {
    ...verdict(
      'stats',
      r.failures,
      j.distribution.derivation,
      {
        images: items.length,
        seedGroups: r.seedGroups,
        worstShiftFeature: worst.feature,
        worstShiftMeanZ: worst.meanZ,
        failingImages: r.images.filter((i) => !i.pass).length,
      },
      { [`shift.${worst.feature}`]: worst.limit },
    ),
    perImage: new Map(r.images.map((i) => [i.label, { worstFeature: i.worstFeature, worstZ: i.worstZ, pass: i.pass }])),
  };
}

/**
 * Breed fidelity of a set (harness/checks/fidelity.ts nearest-centroid classifier fitted on the reference images):
 * accuracy >= the reference leave-one-out accuracy minus ACCURACY_SIGMAS binomial sigmas at the set size.
 * Void (fails) when the reference set itself does not separate breeds (an undertrained bundle).
 */
export function checkFidelity(j: Judge, items: GeneratedImage[]): Verdict & { evaluation: FidelityEvaluation } {
  const labelled: LabelledImage[] = items.map((it) => ({
    image: rgbaImage(it.image.data, it.image.width, it.image.height),
    breed: it.breed,
    label: it.label,
  }));
  const e = evaluateFidelity(j.classifier, labelled, j.fidelity.rankLimit);
  const minAcc = j.fidelity.minAccuracy(e.n);
  const failures: string[] = [];
  if (!(j.referenceLoo.accuracy >= MIN_REFERENCE_ACCURACY)) {
    failures.push(
      `no valid classifier: the reference set's leave-one-out accuracy ${j.referenceLoo.accuracy.toFixed(3)} < ${MIN_REFERENCE_ACCURACY.toFixed(3)} ` +
        "(the bundle's own samples are breed-blind: undertrained or broken reference model)",
    );
  }
  if (!(e.accuracy >= minAcc)) {
    const wrong = e.predictions.filter((p) => !p.correct).map((p) => `${p.label} looks like ${j.breeds[p.predicted] ?? p.predicted}`);
    failures.push(
      `breed accuracy ${e.accuracy.toFixed(3)} (${e.predictions.filter((p) => p.correct).length} of ${e.n}) < ${minAcc.toFixed(3)} ` +
        `(${j.fidelity.derivation}); ${wrong.slice(0, 6).join(', ')}${wrong.length > 6 ? ', ...' : ''}: the page conditions on the wrong breed?`,
    );
  }
  return {
    ...verdict(
      'fidelity',
      failures,
      `accuracy ${e.accuracy.toFixed(3)} of ${e.n} (reference ${j.referenceLoo.accuracy.toFixed(3)})`,
      {
        accuracy: e.accuracy,
        n: e.n,
        referenceAccuracy: j.referenceLoo.accuracy,
        ...Object.fromEntries(e.predictions.map((p) => [`rank.${p.label}`, p.rank])),
      },
      { minAccuracy: minAcc, minReferenceAccuracy: MIN_REFERENCE_ACCURACY, rankLimit: j.fidelity.rankLimit },
    ),
    evaluation: e,
  };
}

// ---------------------------------------------------------------------------------------------------------
// The yardstick judge on the browsers' images (harness/checks/yardstick.ts, docs/yardstick.md#the-browsers-images): the
// gate's breed classifier, trained on the model's TRAINING DATA and pinned by sha256, run in onnxruntime-node in this
// (the test runner's) process on the very images each engine generated

export interface YardstickJudge {
  y: Yardstick;
  runner: JudgeRunner;
  file: string;
}

let yardstickOnce: Promise<YardstickJudge> | null = null;

/** The pinned yardstick of the bundle's training dataset and its judge (once per worker); throws naming the file and the fix. */
export function yardstickJudge(j: Judge): Promise<YardstickJudge> {
  yardstickOnce ??= (async () => {
    const y = yardstickForBundle(j.bundle.manifest, j.size, join(j.bundle.dir, 'manifest.json'));
    const file = join(y.dir, y.json.files['judge']!.file);
    try {
      return { y, runner: await openJudge(y), file };
    } catch (e) {
      throw new YardstickError(
        'invalid',
        `${file}: onnxruntime-node could not open the judge (${(e as Error).message.split('\n')[0]}); ` +
          'restore the yardstick from git or remake it with reference/python/make_yardstick.py',
      );
    }
  })();
  return yardstickOnce;
}

/** One image a browser generated, for the judge, with the same case's reference image. */
export interface JudgeCase {
  breed: number;
  label: string;
  /** What the page showed (RGBA). */
  image: RgbaImage;
  /** Every value of the final state was finite (a non-finite state never counts as an image of the breed). */
  finite: boolean;
  reference: RgbaImage;
  /** Where the reference comes from, for messages (goldens/images/...). */
  referenceName: string;
  /**
   * Levels every value of `image` may be off `reference` (the golden-image check's allowance) when the reference is the
   * same image; null when it is not (a quantized variant beside the float golden): agreement is then reported, not judged.
   */
  allowedLevels: number | null;
}

export interface JudgedImage extends ImageScore {
  breed: number;
  label: string;
  finite: boolean;
  /** The judge on the reference image. */
  reference: ImageScore;
  /** max over breeds |logit(image) - logit(reference)|. */
  logitDiff: number;
  /** The judge's largest answer to the allowance on the reference (null: not the same image). */
  tolerance: number | null;
  /** null: not judged (not the same image). */
  agrees: boolean | null;
}

const maxAbsDiff = (a: Float32Array, b: Float32Array): number => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

/**
 * The judge on a variant's browser images: (a) each agrees with the judge's verdict on the same case's reference image
 * (same first choice, unless the reference's first two are within twice the tolerance, and every logit within the
 * tolerance: the judge's largest answer to the 8 per-channel +-allowedLevels shifts of the reference, harness/checks/yardstick.ts
 * channelShifts); (b) the set's pooled top-2 accuracy reaches the judge family's top-2 rule at its n (pooledTop2Limit).
 * A non-finite state fails both.
 */
export async function checkJudge(yj: YardstickJudge, cases: JudgeCase[]): Promise<Verdict & { images: JudgedImage[] }> {
  const { y, runner } = yj;
  const K = y.breeds.length;
  const S = y.imageSize;
  const per = S * S * 4;
  const n = cases.length;
  for (const c of cases) {
    for (const img of [c.image, c.reference]) {
      if (img.width !== S || img.height !== S)
        throw new Error(`${c.label}: a ${img.width}x${img.height} image, the judge of '${y.id}' takes ${S}x${S}`);
    }
  }
  const shifts = cases.map((c) => (c.allowedLevels === null ? [] : channelShifts(c.reference.data, c.allowedLevels, 4)));
  const all = [...cases.map((c) => c.image.data), ...cases.map((c) => c.reference.data), ...shifts.flat()];
  const u8 = new Uint8ClampedArray(all.length * per);
  all.forEach((d, i) => u8.set(d, i * per));
  const out = await runner.run(judgeInputFromHWC(u8, all.length, S, 4), all.length);
  const row = (i: number): Float32Array => out.logits.subarray(i * K, (i + 1) * K);
  const asked = cases.map((c) => c.breed);
  const scores = imageScores(out.logits.subarray(0, n * K), K, asked);
  const refScores = imageScores(out.logits.subarray(n * K, 2 * n * K), K, asked);
  let next = 2 * n;
  const images: JudgedImage[] = cases.map((c, i) => {
    const tolerance = shifts[i]!.length ? Math.max(...shifts[i]!.map(() => maxAbsDiff(row(next++), row(n + i)))) : null;
    const logitDiff = maxAbsDiff(row(i), row(n + i));
    const s = scores[i]!;
    const r = refScores[i]!;
    const agrees =
      tolerance === null ? null : c.finite && logitDiff <= tolerance && (s.predicted === r.predicted || r.margin <= 2 * tolerance);
    return { ...s, breed: c.breed, label: c.label, finite: c.finite, reference: r, logitDiff, tolerance, agrees };
  });
  const name = (b: number): string => y.breeds[b] ?? String(b);
  const failures: string[] = [];
  const limit = pooledTop2Limit(y, asked);
  const hits = images.filter((im) => im.finite && im.rank <= 2).length;
  const top2 = hits / Math.max(1, n);
  const missed = images
    .filter((im) => !(im.finite && im.rank <= 2))
    .map((im) => `${name(im.breed)} judged ${name(im.predicted)} (rank ${im.rank}${im.finite ? '' : ', non-finite state'})`);
  if (!(top2 >= limit.min)) {
    failures.push(
      `pooled top-2 ${top2.toFixed(3)} (${hits} of ${n}) < ${limit.min.toFixed(3)} (${limit.reason}); missed: ${missed.join(', ')}: the images are not of the breeds asked for`,
    );
  }
  for (const [i, im] of images.entries()) {
    if (im.agrees !== false) continue;
    const c = cases[i]!;
    const why = [
      ...(im.finite ? [] : ['the final state is not finite']),
      ...(im.predicted !== im.reference.predicted
        ? [`first choice ${name(im.predicted)}, on the reference ${name(im.reference.predicted)} (by ${im.reference.margin.toFixed(3)})`]
        : []),
      ...(im.logitDiff > im.tolerance!
        ? [
            `max |logit - reference| ${im.logitDiff.toFixed(4)} > ${im.tolerance!.toFixed(4)}, the judge's largest answer to the reference ` +
              `shifted by +-${c.allowedLevels} level(s) per channel (the golden-image check's allowance)`,
          ]
        : []),
    ];
    failures.push(
      `${im.label}: the judge disagrees with its verdict on the reference ${c.referenceName}: ${why.join('; ')}: the engine changed what the image shows`,
    );
  }
  const judged = images.filter((im) => im.tolerance !== null);
  const worst = judged.reduce<JudgedImage | null>(
    (w, im) => (!w || im.logitDiff / im.tolerance! > w.logitDiff / w.tolerance! ? im : w),
    null,
  );
  const sameTop1 = images.filter((im) => im.predicted === im.reference.predicted).length;
  const agreement = judged.length
    ? `agrees with its verdict on the references in ${judged.filter((im) => im.agrees).length} of ${judged.length} (worst ${worst!.label}: max |logit diff| ${worst!.logitDiff.toExponential(2)}, tolerance ${worst!.tolerance!.toFixed(4)})`
    : `the references (${cases[0]?.referenceName ?? 'none'}, ...) are not the same images: agreement reported, not judged (same first choice in ${sameTop1} of ${n}, max |logit diff| ${Math.max(0, ...images.map((im) => im.logitDiff)).toFixed(4)})`;
  const metrics: Record<string, Metric> = {
    n,
    top1: images.filter((im) => im.finite && im.rank === 1).length / Math.max(1, n),
    top2,
    hits,
    nonFinite: images.filter((im) => !im.finite).length,
    agreementJudged: judged.length,
    agreeing: judged.filter((im) => im.agrees).length,
    sameTop1AsReference: sameTop1,
    maxLogitDiff: Math.max(0, ...images.map((im) => im.logitDiff)),
    maxLogitDiffOverTolerance: worst ? worst.logitDiff / worst.tolerance! : null,
    heldOutTop2: limit.heldOut,
    dataset: y.id,
  };
  for (const im of images) {
    const k = name(im.breed);
    Object.assign(metrics, {
      [`${k}.top1`]: name(im.predicted),
      [`${k}.rank`]: im.rank,
      [`${k}.p`]: im.probability,
      [`${k}.referenceTop1`]: name(im.reference.predicted),
      [`${k}.logitDiff`]: im.logitDiff,
      [`${k}.tolerance`]: im.tolerance,
    });
  }
  const tols = judged.map((im) => im.tolerance!);
  return {
    ...verdict(
      'judge',
      failures,
      `pooled top-2 ${top2.toFixed(3)} (${hits} of ${n}) >= ${limit.min.toFixed(3)}` +
        `${limit.min <= 0 ? ` (at n = ${n} the top-2 rule cannot fail: agreement carries the check)` : ''}${missed.length ? ` (missed: ${missed.join(', ')})` : ''}; ${agreement}`,
      metrics,
      { top2Min: limit.min, ...(tols.length ? { toleranceMin: Math.min(...tols), toleranceMax: Math.max(...tols) } : {}) },
    ),
    images,
  };
}

/** Evidence tiles are the 32 px images at 3x, so 13 of them with captions stay one readable row. */
const JUDGE_TILE_SCALE = 3;

/**
 * The judge's view of a variant: the browser images (first row) and their references (second), each framed by the
 * judge's verdict (green: the breed asked for is its first choice, amber: second, red: later or a non-finite state,
 * magenta: the browser image disagrees with the judge's verdict on its reference) and captioned with the breed asked
 * for, the judge's first choice, the asked breed's rank and probability.
 */
export function judgeSheet(y: Yardstick, cases: JudgeCase[], images: JudgedImage[], rows: [string, string]): RgbaImage {
  const short = (b: number): string =>
    (y.breeds[b] ?? '?').replace('British Shorthair', 'British SH').replace('Egyptian Mau', 'Egypt. Mau');
  const colour = (s: ImageScore, finite: boolean): readonly [number, number, number] =>
    !finite || s.rank > 2 ? FRAME.red : s.rank === 2 ? FRAME.amber : FRAME.green;
  const tile = (img: RgbaImage, c: readonly [number, number, number]): RgbaImage => framed(upscale(img, JUDGE_TILE_SCALE), c);
  const caption = (s: ImageScore, b: number): string[] => [
    `${short(b)}`,
    `> ${short(s.predicted)}`,
    `r${s.rank} p${s.probability.toFixed(2)}`,
  ];
  return captionedRows([
    {
      label: rows[0],
      tiles: images.map((im, i) => ({
        image: tile(cases[i]!.image, im.agrees === false ? FRAME.magenta : colour(im, im.finite)),
        caption: caption(im, im.breed),
      })),
    },
    {
      label: rows[1],
      tiles: images.map((im, i) => ({
        image: tile(cases[i]!.reference, colour(im.reference, true)),
        caption: [
          ...caption(im.reference, im.breed),
          `d ${im.logitDiff === 0 ? '0' : im.logitDiff >= 0.01 ? im.logitDiff.toFixed(3) : im.logitDiff.toExponential(1)}`,
        ],
      })),
    },
  ]);
}

// ---------------------------------------------------------------------------------------------------------
// Progress, download, threads, determinism, loading

/**
 * The progress callback of one run: 1-based, strictly increasing steps, exactly the web app's schedule
 * (after 0-based step i when i % 5 === 0 or i === steps - 1), totalSteps right, times non-negative and
 * non-decreasing in total, image size right, and the last progress image equal to the result.
 */
export function checkProgress(
  run: Pick<GenerationRun, 'progress' | 'width' | 'height' | 'rgba' | 'totalTime'>,
  steps: number,
  label: string,
): Verdict {
  const got = run.progress.map((p) => p.step);
  const want = progressSchedule(steps);
  const failures: string[] = [];
  const missing = want.filter((s) => !got.includes(s));
  const extra = got.filter((s) => !want.includes(s));
  if (missing.length || extra.length || got.length !== want.length) {
    failures.push(
      `${label}: progress steps [${got.join(',')}] are not the app's schedule [${want.join(',')}]` +
        `${missing.length ? `; missing step(s) ${missing.join(',')} (a progress event was skipped)` : ''}${extra.length ? `; unexpected step(s) ${extra.join(',')}` : ''}`,
    );
  }
  for (let i = 1; i < got.length; i++) {
    if (!(got[i]! > got[i - 1]!)) {
      failures.push(`${label}: steps not strictly increasing at event ${i}: ${got[i - 1]} then ${got[i]}`);
      break;
    }
  }
  if (got.some((s) => !Number.isInteger(s) || s < 1 || s > steps))
    failures.push(`${label}: steps outside 1..${steps}: [${got.join(',')}] (0-based steps reported?)`);
  const badTotal = run.progress.filter((p) => p.totalSteps !== steps);
  if (badTotal.length) failures.push(`${label}: totalSteps ${badTotal.map((p) => p.totalSteps).join(',')} != ${steps}`);
  const badTime = run.progress.filter((p) => !(p.stepTime >= 0) || !(p.totalTime >= 0));
  if (badTime.length)
    failures.push(
      `${label}: negative or non-finite times at step(s) ${badTime.map((p) => `${p.step} (stepTime ${p.stepTime}, totalTime ${p.totalTime})`).join(', ')}`,
    );
  for (let i = 1; i < run.progress.length; i++) {
    if (run.progress[i]!.totalTime < run.progress[i - 1]!.totalTime) {
      failures.push(`${label}: totalTime decreases at step ${run.progress[i]!.step}`);
      break;
    }
  }
  const badSize = run.progress.filter((p) => p.width !== run.width || p.height !== run.height);
  if (badSize.length)
    failures.push(
      `${label}: progress images of size ${badSize.map((p) => `${p.width}x${p.height}`).join(',')} != ${run.width}x${run.height}`,
    );
  const last: ProgressRecord | undefined = run.progress[run.progress.length - 1];
  let lastDiff: number | null = null;
  if (!last) failures.push(`${label}: no progress event at all`);
  else if (last.step === steps) {
    if (!last.rgba) failures.push(`${label}: the last progress event carries no image (run with keepProgressImages)`);
    else {
      lastDiff = 0;
      for (let i = 0; i < last.rgba.length; i++) if (last.rgba[i] !== run.rgba[i]) lastDiff++;
      if (last.rgba.length !== run.rgba.length || lastDiff > 0) {
        failures.push(
          `${label}: the last progress image (step ${last.step}) differs from the result in ${lastDiff} bytes (length ${last.rgba.length} vs ${run.rgba.length})`,
        );
      }
    }
  }
  return verdict(
    'progress',
    failures,
    `steps [${got.join(',')}]`,
    { events: got.length, expectedEvents: want.length, steps: got.join(','), lastImageDiffBytes: lastDiff, totalTime: run.totalTime },
    { schedule: want.join(',') },
  );
}

/** A downloaded file: its name follows cat_<breed>_<timestamp>.png and its PNG pixels equal the shown image. */
export function checkDownload(
  name: string,
  bytes: Uint8Array,
  shown: RgbaImage,
  breedIndex: number,
  window: { from: number; to: number },
  label: string,
): Verdict & { decoded?: RgbaImage } {
  const failures: string[] = [];
  const m = DOWNLOAD_NAME_RE.exec(name);
  const ts = m ? Number(m[2]) : NaN;
  const want = downloadFileName(breedIndex, Number.isFinite(ts) ? ts : 0);
  if (!m) failures.push(`${label}: file name "${name}" does not match ${DOWNLOAD_NAME_RE}`);
  else if (name !== want) failures.push(`${label}: file name "${name}" should be "${want}" (breed lower-case, spaces as _)`);
  if (m && !(ts >= window.from && ts <= window.to))
    failures.push(`${label}: timestamp ${ts} in "${name}" is not Date.now() at download (${window.from}..${window.to})`);
  let decoded: RgbaImage | undefined;
  let diffBytes: number | null = null;
  try {
    decoded = decodePNG(bytes, name);
  } catch (e) {
    failures.push(`${label}: ${(e as Error).message}`);
  }
  const sig = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (!sig.every((b, i) => bytes[i] === b)) failures.push(`${label}: "${name}" does not start with the PNG signature`);
  if (decoded) {
    if (decoded.width !== shown.width || decoded.height !== shown.height) {
      failures.push(`${label}: the PNG is ${decoded.width}x${decoded.height}, the shown image ${shown.width}x${shown.height}`);
    } else {
      diffBytes = 0;
      for (let i = 0; i < decoded.data.length; i++) if (decoded.data[i] !== shown.data[i]) diffBytes++;
      if (diffBytes > 0)
        failures.push(
          `${label}: the PNG's pixels differ from the shown image in ${diffBytes} bytes (colour management or premultiplied alpha?)`,
        );
    }
  }
  return {
    ...verdict(
      'download',
      failures,
      `${name}: ${bytes.length} bytes, pixels equal the shown image`,
      { fileName: name, bytes: bytes.length, diffBytes, width: decoded?.width ?? null, height: decoded?.height ?? null },
      { diffBytes: 0 },
    ),
    ...(decoded ? { decoded } : {}),
  };
}

/** Two runs of one case in one engine must be bit-identical (same seed, same threads); an app shows no state x: pixels only. */
export function checkDeterminism(
  a: Pick<GenerationRun, 'rgba'> & { x?: Float32Array },
  b: Pick<GenerationRun, 'rgba'> & { x?: Float32Array },
  label: string,
): Verdict {
  let xDiff = 0;
  const ax = a.x ?? new Float32Array(0);
  const bx = b.x ?? new Float32Array(0);
  for (let i = 0; i < Math.max(ax.length, bx.length); i++) if (!Object.is(ax[i], bx[i])) xDiff++;
  let pxDiff = 0;
  for (let i = 0; i < Math.max(a.rgba.length, b.rgba.length); i++) if (a.rgba[i] !== b.rgba[i]) pxDiff++;
  const failures =
    xDiff || pxDiff
      ? [
          `${label}: the same seed twice gave different results: ${xDiff} state values and ${pxDiff} image bytes differ (nondeterministic kernels or unseeded noise?)`,
        ]
      : [];
  return verdict(
    'determinism',
    failures,
    'bit-identical state and image',
    { stateValuesDiffering: xDiff, imageBytesDiffering: pxDiff },
    { stateValuesDiffering: 0, imageBytesDiffering: 0 },
  );
}

/** 1 thread vs several: final states within the trajectory tolerance at the last step; reports bit-identity. */
export function checkThreadAgreement(
  one: GenerationRun,
  many: GenerationRun,
  atol: number,
  rule: string,
  label: string,
): Verdict & { bitIdentical: boolean } {
  const stats = compareTensors(many.x, one.x, { shape: [1, one.x.length], axes: ['image', 'value'], labels: [label], atol });
  let bitIdentical = one.x.length === many.x.length;
  for (let i = 0; bitIdentical && i < one.x.length; i++) if (!Object.is(one.x[i], many.x[i])) bitIdentical = false;
  const failures = stats.pass
    ? []
    : [
        `${label}: several threads move the final state by ${stats.abs.max.toExponential(3)} > ${atol.toExponential(3)} (${rule}) from one thread\n${formatComparison(stats, label)}`,
      ];
  return {
    ...verdict(
      'threads',
      failures,
      `${bitIdentical ? 'bit-identical' : `max |diff| ${stats.abs.max.toExponential(3)}`} (allowed ${atol.toExponential(3)})`,
      { ...comparisonMetrics(stats), bitIdentical },
      { atol },
    ),
    bitIdentical,
  };
}

export interface LoadAttempt {
  /** The load() rejection message, or null when it loaded. */
  error: string | null;
  /** The page's visible #error text, or null when hidden. */
  visibleError: string | null;
  /** body[data-state] after the attempt. */
  state: string;
  /** What load() reported, when it loaded. */
  info?: LoadedInfo;
  /** The page's status line (shows backend and threads). */
  statusText?: string;
}

/** load() on the page, capturing what a user sees: the rejection, the visible error, the state and the status line. */
export async function attemptLoad(app: TinyditApp, opts: LoadOptions): Promise<LoadAttempt> {
  const r = await app.page.evaluate(
    (o) =>
      window.tinydit.load(o).then(
        (info) => ({
          info: {
            backend: info.backend as string,
            numThreads: info.numThreads,
            requestedThreads: info.requestedThreads,
            initAttempts: info.initAttempts,
            initFailures: info.initFailures,
            workerReused: info.workerReused === true,
          },
          error: null as string | null,
        }),
        (e: unknown) => ({ info: null, error: e instanceof Error ? e.message : String(e) }),
      ),
    opts,
  );
  app.noteLoad(opts, r.error === null ? r.info : null);
  return { error: r.error, ...(await liveLoadState(app)), ...(r.info ? { info: r.info } : {}) };
}

/** What the page shows now: the visible error, body[data-state] and the status line. */
async function liveLoadState(app: TinyditApp): Promise<Pick<LoadAttempt, 'visibleError' | 'state' | 'statusText'>> {
  return {
    visibleError: await app.visibleError(),
    state: (await app.page.locator('body').getAttribute('data-state')) ?? '',
    statusText: (await app.page.locator('#status').textContent()) ?? '',
  };
}

/**
 * The page open with `faults` and the model of `opts` loaded, ready to generate: the worker's page as it is when an
 * earlier test left it exactly so (same URL, same load options, state ready, no error); else the model loaded on the
 * page when it is at that URL and ready (the page keeps its worker for the same thread count); else the page opened
 * and the model loaded anew (attemptLoad). Faults are switched on the loaded page (window.tinydit.setFaults) rather
 * than by opening another URL, so a fault proof reuses the good page's model and worker. A reused load is judged on what the page shows now (state, visible error, status line) and on what
 * its load reported; `reused` says which it was. Tests about loading itself call open() and attemptLoad().
 */
export async function warmLoad(app: TinyditApp, opts: LoadOptions, faults: Fault[] = []): Promise<LoadAttempt & { reused: boolean }> {
  const url = app.pageUrl();
  let attempt: LoadAttempt & { reused: boolean };
  const page = await app.offers(url, opts);
  if (page.warm) attempt = { error: null, ...(await liveLoadState(app)), info: page.warm, reused: true };
  // the right page, another model: load on it (the page keeps its worker when the thread count is the same)
  else if (page.usable) attempt = { ...(await attemptLoad(app, opts)), reused: false };
  else {
    await app.open();
    attempt = { ...(await attemptLoad(app, opts)), reused: false };
  }
  // exactly these faults from now on (none left over from an earlier test), whether the page was reused or not
  if (attempt.error === null) await app.setFaults(faults);
  return attempt;
}

/** A model loads: no error, state ready, backend wasm, the requested threads in use and shown to the user. */
export function checkModelLoad(a: LoadAttempt, modelUrl: string, requestedThreads: number | undefined, label: string): Verdict {
  const failures: string[] = [];
  if (a.error !== null) {
    failures.push(
      `${label}: the model ${modelUrl} did not load: ${a.error}` +
        (a.visibleError === null
          ? ' — and the page shows NO visible error (a user would see nothing)'
          : ` (shown to the user: "${a.visibleError.trim()}")`),
    );
  } else {
    if (a.state !== 'ready') failures.push(`${label}: page state is ${a.state} after load, expected ready`);
    if (a.visibleError !== null) failures.push(`${label}: a visible error remains after a good load: ${a.visibleError}`);
    if (a.info?.backend !== 'wasm') failures.push(`${label}: backend ${a.info?.backend} reported, expected wasm`);
    if (requestedThreads !== undefined && a.info?.numThreads !== requestedThreads) {
      failures.push(
        `${label}: ${a.info?.numThreads} thread(s) in use, ${requestedThreads} requested (SharedArrayBuffer missing: page not cross-origin isolated?)`,
      );
    }
    if (a.info && !(a.statusText ?? '').includes(`${a.info.numThreads} thread`))
      failures.push(`${label}: the status line "${a.statusText}" does not show the thread count ${a.info.numThreads}`);
    if (a.info && !(a.statusText ?? '').includes('wasm'))
      failures.push(`${label}: the status line "${a.statusText}" does not show the backend`);
  }
  const retried =
    a.info && a.info.initAttempts > 1
      ? ` after ${a.info.initAttempts - 1} abandoned onnxruntime-web initialization(s): ${a.info.initFailures.join('; ')}`
      : '';
  return verdict(
    'loading',
    failures,
    `loaded: ${a.info?.backend}, ${a.info?.numThreads} thread(s)${retried}`,
    {
      loaded: a.error === null,
      state: a.state,
      backend: a.info?.backend ?? null,
      numThreads: a.info?.numThreads ?? null,
      error: a.error,
      visibleError: a.visibleError,
      initAttempts: a.info?.initAttempts ?? null,
      workerReused: a.info?.workerReused ?? null,
      initFailures: a.info?.initFailures.join('; ') || null,
    },
    { requestedThreads: requestedThreads ?? null },
  );
}

/** A load that must fail (missing model) fails visibly: rejected, error shown on the page, naming the cause. */
export function checkLoadFailsVisibly(a: LoadAttempt, modelUrl: string, cause: RegExp, label: string): Verdict {
  const failures: string[] = [];
  if (a.error === null) failures.push(`${label}: loading ${modelUrl} succeeded, but it should have failed`);
  else {
    if (!cause.test(a.error)) failures.push(`${label}: the error "${a.error}" does not name the cause ${cause}`);
    if (a.visibleError === null) failures.push(`${label}: the page shows no visible error`);
    else if (!cause.test(a.visibleError)) failures.push(`${label}: the visible error "${a.visibleError}" does not name the cause ${cause}`);
    if (a.state !== 'error') failures.push(`${label}: page state ${a.state}, expected error`);
  }
  return verdict(
    'loading',
    failures,
    `fails visibly: "${a.visibleError?.trim()}"`,
    { error: a.error, visibleError: a.visibleError, state: a.state },
    { cause: String(cause) },
  );
}

// ---------------------------------------------------------------------------------------------------------
// Evidence

/** Attaches generated, golden and diff (upscaled PNGs) to the Playwright report and writes them under the report folder. */
export async function attachComparison(
  testInfo: TestInfo,
  id: string,
  generated: RgbaImage,
  golden: RgbaImage,
  diff: RgbaImage,
): Promise<string[]> {
  const artifacts = saveComparison(id, generated, golden, diff);
  const short = id.replace(/^[a-z]+:/, '');
  for (const [name, img] of [
    ['generated', generated],
    ['golden', golden],
    ['diff', diff],
  ] as const) {
    await testInfo.attach(`${short} ${name}.png`, { body: Buffer.from(encodePNG(upscale(img, EVIDENCE_SCALE))), contentType: 'image/png' });
  }
  return artifacts;
}

export async function attachImage(testInfo: TestInfo, id: string, name: string, img: RgbaImage, scale = EVIDENCE_SCALE): Promise<string> {
  const path = saveEvidence(id, name, img, scale);
  await testInfo.attach(`${id.replace(/^[a-z]+:/, '')} ${name}.png`, {
    body: Buffer.from(encodePNG(upscale(img, scale))),
    contentType: 'image/png',
  });
  return path;
}

export async function attachJson(testInfo: TestInfo, name: string, value: unknown): Promise<void> {
  await testInfo.attach(name, {
    body: JSON.stringify(value, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v), 2),
    contentType: 'application/json',
  });
}

// ---------------------------------------------------------------------------------------------------------
// Proofs: a check must pass on the good input and fail, for the targeted cause, on the broken one

/**
 * The verdict of a proof: holds when the check accepted the good page/model (baseline) and rejected the
 * broken one with a message naming the cause. A failing baseline voids the proof (rejecting everything
 * proves nothing).
 */
export function proof(check: string, cause: string, baseline: Verdict, broken: Verdict, names: RegExp): Verdict {
  const failures: string[] = [];
  if (!baseline.pass)
    failures.push(
      `void: the ${baseline.check} check already fails on the good input (${baseline.message.slice(0, 400)}), so rejecting ${cause} proves nothing`,
    );
  if (broken.pass) failures.push(`NOT rejected: the ${broken.check} check accepted ${cause}: ${broken.message.slice(0, 400)}`);
  else if (!names.test(broken.message))
    failures.push(`rejected, but the message does not name the cause (${names}): ${broken.message.slice(0, 400)}`);
  return {
    check,
    pass: failures.length === 0,
    message: failures.length ? failures.join('; ') : `rejected as expected (${cause}): ${broken.message.split('\n')[0]!.slice(0, 400)}`,
    metrics: {
      cause,
      baselinePass: baseline.pass,
      rejected: !broken.pass,
      ...Object.fromEntries(Object.entries(broken.metrics).map(([k, v]) => [`broken.${k}`, v])),
    },
    threshold: broken.threshold,
  };
}
