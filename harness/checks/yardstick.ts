/**
 * The gate's own image-quality yardsticks (docs/yardstick.md). A yardstick belongs to a TRAINING DATASET, not to
 * a bundle: a judge (a small CNN breed classifier trained on that dataset's images, judge.onnx) and what it
 * measured on held-out training images: its accuracy per breed, reference features per breed, the split-half
 * null bands of KID, and validity statistics of the training images. reference/python/make_yardstick.py makes
 * one; the gate pins each by the sha256 of its yardstick.json (PINNED_YARDSTICKS, in code), and yardstick.json
 * pins every other file by sha256. A bundle names its training dataset in manifest.json `training.dataset`;
 * a bundle that names none, or one the gate has no yardstick for, cannot be accepted.
 *
 * The thresholds the judge family applies (suites/node/judge.test.ts), and the browser suite's judge check on the
 * images each engine generated (suites/browser/helpers.ts checkJudge), are derived here from the yardstick's
 * measurements by the rules below, each with its reason; the bundle under test supplies none of them.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { REPO_ROOT } from '../core/config.js';
import { parseNpy, type NpyArray } from '../core/npy.js';

export const YARDSTICK_FORMAT = 'tinydit-yardstick/1';
/** Where the committed yardsticks live: reference/yardsticks/<dataset-id>/. */
export const YARDSTICK_ROOT = resolve(REPO_ROOT, 'reference/yardsticks');

/**
 * The yardsticks the gate accepts: dataset id -> sha256 of its yardstick.json. Changing a yardstick (a retrained
 * judge, new bands) is a change of the gate, made here in code, never by a bundle.
 */
export const PINNED_YARDSTICKS: Readonly<Record<string, string>> = {
  'tinydit-procedural-32-v1': 'c16d8e61935bad42e7462b2dcf8029cb59f00e553c420274875c79cb1a2618eb',
  'tinydit-procedural-128-v1': '7c9eaa68a7bde2f51be0598c6d24ec29f966f3d43eda032f4af08b655fdbf7f2',
};

export type YardstickErrorCode = 'no-dataset' | 'unknown-dataset' | 'missing-file' | 'sha256-mismatch' | 'invalid';

export class YardstickError extends Error {
  constructor(
    readonly code: YardstickErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'YardstickError';
  }
}

// ---------------------------------------------------------------------------------------------------------
// yardstick.json

export interface KidBand {
  mean: number;
  std: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  draws: number;
  nearestOtherBreed: string;
  nearestOtherMedian: number;
  /** The lowest 1st percentile over the other breeds of KID(n training images of that breed, this breed's reference). */
  wrongBreedFloor: number;
  wrongBreedFloorBreed: string;
  crossDraws: number;
  otherBreeds: Record<string, { p01: number; p05: number; median: number }>;
}
export interface ValidityFeatureStats {
  q: number[];
  mean: number;
  std: number;
  setMedian995: Record<string, [number, number]>;
}
export interface BreedAccuracy {
  n: number;
  correct: number;
  accuracy: number;
  top2: number;
  mostConfusedWith: string;
}
export interface FileEntry {
  file: string;
  sha256: string;
  bytes: number;
}

export interface YardstickJson {
  format: string;
  id: string;
  breeds: string[];
  imageSize: number;
  source: Record<string, unknown>;
  judge: {
    file: string;
    input: { name: string; shape: (string | number)[]; dtype: string; pixels: string };
    outputs: Record<string, (string | number)[]>;
    parameters: number;
    featureDim: number;
    featureScale: number;
    architecture: string;
    onnxVsTorch: Record<string, number>;
  };
  splits: {
    seed: number;
    perBreed: Record<string, { train: number; ref: number; null: number }>;
    refFeaturesPerBreed: number;
    nullFeaturesPerBreed: number;
  };
  heldOutAccuracy: { overall: number; n: number; perBreed: Record<string, BreedAccuracy>; confusion: number[][] };
  kid: {
    kernel: string;
    estimator: string;
    bands: Record<string, Record<string, KidBand>>;
    probes: { breed: string; n: number; nullRows: number[]; kid: number }[];
  };
  validity: {
    features: string[];
    quantiles: number[];
    perBreed: Record<string, { n: number } & Record<string, ValidityFeatureStats>>;
    all: Record<string, number[]>;
  };
  files: Record<string, FileEntry>;
  /** make_yardstick's own verdict: a judge that recognises its held-out images and bands that separate a wrong breed from noise. */
  quality?: { usable: boolean; problems: string[]; rule: string };
  recipe: { command: string; seed: number; epochs: number; seconds: Record<string, number>; [k: string]: unknown };
}

export interface Yardstick {
  id: string;
  dir: string;
  /** sha256 of yardstick.json (equal to the pin). */
  sha256: string;
  json: YardstickJson;
  breeds: string[];
  imageSize: number;
  featureDim: number;
  judgeBytes: Uint8Array;
  /** float32 [breeds, R, F]: judge features of the reference split, per breed. */
  refFeatures: NpyArray;
  /** float32 [breeds, Q, F]: judge features of the null split (the bands' draws). */
  nullFeatures: NpyArray;
  /** uint8 [P, S, S, 3] probe images, their judge logits/features (onnxruntime-node at make time) and validity features. */
  probeImages: NpyArray;
  probeLogits: NpyArray;
  probeFeatures: NpyArray;
  probeValidity: NpyArray;
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** The dataset a manifest names (`training.dataset`), or a YardstickError('no-dataset'). */
export function trainingDatasetOf(manifest: { training?: { dataset?: unknown } }, source = 'manifest.json'): string {
  const d = manifest.training?.dataset;
  if (typeof d !== 'string' || d.length === 0) {
    throw new YardstickError(
      'no-dataset',
      `${source}: training.dataset is missing: the bundle does not say which training data its ` +
        `model was trained on, so the gate cannot measure its images against that data (known datasets: ${Object.keys(PINNED_YARDSTICKS).join(', ')}); ` +
        `add "training": {"dataset": "<id>"} (reference/python/tinydit/goldens.py write_bundle(training_dataset=...))`,
    );
  }
  return d;
}

export interface LoadYardstickOptions {
  /** Folder holding <id>/ (default YARDSTICK_ROOT). */
  root?: string;
  /** id -> sha256 of yardstick.json (default PINNED_YARDSTICKS). */
  pins?: Readonly<Record<string, string>>;
}

/**
 * Loads the yardstick of a dataset and verifies it: the id must be pinned, yardstick.json must have the pinned
 * sha256, and every file it lists must have its listed sha256. Any mismatch throws a YardstickError naming the
 * file, both hashes and the fix.
 */
export function loadYardstick(id: string, opts: LoadYardstickOptions = {}): Yardstick {
  const pins = opts.pins ?? PINNED_YARDSTICKS;
  const pin = pins[id];
  if (pin === undefined) {
    throw new YardstickError(
      'unknown-dataset',
      `training dataset '${id}' has no yardstick in this gate (pinned: ${Object.keys(pins).join(', ') || 'none'}): ` +
        'its images cannot be judged against their training data; make one with reference/python/make_yardstick.py and pin it in harness/checks/yardstick.ts PINNED_YARDSTICKS',
    );
  }
  const dir = resolve(opts.root ?? YARDSTICK_ROOT, id);
  const read = (rel: string): Uint8Array => {
    const p = join(dir, rel);
    if (!existsSync(p))
      throw new YardstickError('missing-file', `${p}: missing from yardstick '${id}'; restore it (git) or remake the yardstick`);
    return readFileSync(p);
  };
  const jsonBytes = read('yardstick.json');
  const got = sha256(jsonBytes);
  if (got !== pin) {
    throw new YardstickError(
      'sha256-mismatch',
      `${join(dir, 'yardstick.json')}: sha256 ${got} is not the one this gate pins for '${id}' (${pin}): ` +
        'the yardstick was changed; a new yardstick is a change of the gate (update PINNED_YARDSTICKS in harness/checks/yardstick.ts with its reason)',
    );
  }
  let json: YardstickJson;
  try {
    json = JSON.parse(new TextDecoder().decode(jsonBytes)) as YardstickJson;
  } catch (e) {
    throw new YardstickError('invalid', `${join(dir, 'yardstick.json')}: not valid JSON (${(e as Error).message})`);
  }
  if (json.format !== YARDSTICK_FORMAT || json.id !== id) {
    throw new YardstickError(
      'invalid',
      `${join(dir, 'yardstick.json')}: format '${json.format}' id '${json.id}', expected ${YARDSTICK_FORMAT} '${id}'`,
    );
  }
  const files: Record<string, Uint8Array> = {};
  for (const key of ['judge', 'refFeatures', 'nullFeatures', 'probeImages', 'probeLogits', 'probeFeatures', 'probeValidity']) {
    const entry = json.files?.[key];
    if (!entry) throw new YardstickError('invalid', `${join(dir, 'yardstick.json')}: files.${key} is missing`);
    const bytes = read(entry.file);
    const h = sha256(bytes);
    if (h !== entry.sha256) {
      throw new YardstickError(
        'sha256-mismatch',
        `${join(dir, entry.file)}: sha256 ${h} differs from ${entry.sha256} listed in yardstick.json files.${key}: ` +
          'the file was changed after the yardstick was made; restore it (git) or remake the yardstick',
      );
    }
    files[key] = bytes;
  }
  const npy = (key: string, dtype: string, shape: number[]): NpyArray => {
    const p = join(dir, json.files[key]!.file);
    const a = parseNpy(files[key]!, p);
    if (a.dtype !== dtype || a.shape.length !== shape.length || shape.some((d, i) => d >= 0 && a.shape[i] !== d)) {
      throw new YardstickError(
        'invalid',
        `${p}: ${a.dtype} [${a.shape.join(',')}], expected ${dtype} [${shape.map((d) => (d < 0 ? '*' : d)).join(',')}]`,
      );
    }
    return a;
  };
  const K = json.breeds.length;
  const Fd = json.judge.featureDim;
  const S = json.imageSize;
  const probeImages = npy('probeImages', 'uint8', [-1, S, S, 3]);
  const P = probeImages.shape[0]!;
  return {
    id,
    dir,
    sha256: got,
    json,
    breeds: json.breeds,
    imageSize: S,
    featureDim: Fd,
    judgeBytes: files['judge']!,
    refFeatures: npy('refFeatures', 'float32', [K, -1, Fd]),
    nullFeatures: npy('nullFeatures', 'float32', [K, -1, Fd]),
    probeImages,
    probeLogits: npy('probeLogits', 'float32', [P, K]),
    probeFeatures: npy('probeFeatures', 'float32', [P, Fd]),
    probeValidity: npy('probeValidity', 'float64', [P, json.validity.features.length]),
  };
}

/**
 * The yardstick of the dataset a bundle names (manifest training.dataset), checked to judge the bundle's breeds (same
 * order) at its image size. Throws a YardstickError naming the file and the fix.
 */
export function yardstickForBundle(
  manifest: { training?: { dataset?: unknown }; breeds: string[] },
  imageSize: number,
  source: string,
  opts: LoadYardstickOptions = {},
): Yardstick {
  const id = trainingDatasetOf(manifest, source);
  const y = loadYardstick(id, opts);
  if (y.breeds.join('\u0000') !== manifest.breeds.join('\u0000')) {
    throw new YardstickError(
      'invalid',
      `yardstick '${id}' judges the breeds [${y.breeds.join(', ')}], the bundle's manifest lists [${manifest.breeds.join(', ')}]: ` +
        'the bundle names a training dataset with another class list (or order)',
    );
  }
  if (y.imageSize !== imageSize) {
    throw new YardstickError(
      'invalid',
      `yardstick '${id}' judges ${y.imageSize} px images, the bundle's contract is ${imageSize} px: the bundle names the wrong training dataset`,
    );
  }
  return y;
}

/** Rows [k] of a float32 [K, R, F] feature array, as R vectors. */
export function featureRows(a: NpyArray, k: number): Float64Array[] {
  const [, R, Fd] = a.shape as [number, number, number];
  const d = a.data as Float32Array;
  return Array.from({ length: R }, (_, r) => Float64Array.from(d.subarray((k * R + r) * Fd, (k * R + r + 1) * Fd)));
}

// ---------------------------------------------------------------------------------------------------------
// The judge in onnxruntime-node

export interface JudgeOutput {
  logits: Float32Array;
  features: Float32Array;
  n: number;
  classes: number;
  featureDim: number;
}
export interface JudgeRunner {
  run(images: Float32Array, n: number): Promise<JudgeOutput>;
  release(): Promise<void>;
}

export async function openJudge(y: Yardstick, threads = 1): Promise<JudgeRunner> {
  const session = await ort.InferenceSession.create(y.judgeBytes, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
  });
  const input = y.json.judge.input.name;
  const S = y.imageSize;
  const K = y.breeds.length;
  return {
    async run(images, n) {
      if (images.length !== n * 3 * S * S)
        throw new YardstickError('invalid', `judge input: ${images.length} values for ${n} images of 3x${S}x${S}`);
      const out = await session.run({ [input]: new ort.Tensor('float32', images, [n, 3, S, S]) });
      const logits = out['logits']?.data as Float32Array | undefined;
      const features = out['features']?.data as Float32Array | undefined;
      if (!logits || !features)
        throw new YardstickError(
          'invalid',
          `${y.dir}/judge.onnx: outputs 'logits' and 'features' expected, got ${Object.keys(out).join(', ')}`,
        );
      return { logits, features, n, classes: K, featureDim: y.featureDim };
    },
    release: () => session.release(),
  };
}

/**
 * uint8 images [n, S, S, stride] (row-major; stride 3 for RGB, 4 for the RGBA a page shows, alpha ignored) -> the
 * judge's input [n,3,S,S]: u / 255 * 2 - 1 (stats.ts imageToTensor).
 */
export function judgeInputFromHWC(u8: Uint8Array | Uint8ClampedArray, n: number, size: number, stride = 3): Float32Array {
  const per = size * size;
  const out = new Float32Array(n * 3 * per);
  for (let k = 0; k < n; k++) {
    for (let i = 0; i < per; i++) for (let c = 0; c < 3; c++) out[(k * 3 + c) * per + i] = (u8[(k * per + i) * stride + c]! / 255) * 2 - 1;
  }
  return out;
}

/** What the judge says about one image: its first choice, the rank of the breed asked for, that breed's probability. */
export interface ImageScore {
  predicted: number;
  /** 1 when the asked breed is the judge's first choice, 2 when second, ... */
  rank: number;
  /** softmax probability of the asked breed. */
  probability: number;
  /** logit of the first choice minus that of the second. */
  margin: number;
}

/** Row i of `logits` ([n, classes]) scored for breed asked[i]. */
export function imageScores(logits: Float32Array, classes: number, asked: number[]): ImageScore[] {
  return asked.map((b, i) => {
    const l = logits.subarray(i * classes, (i + 1) * classes);
    let pred = 0;
    for (let c = 1; c < classes; c++) if (l[c]! > l[pred]!) pred = c;
    let rank = 1;
    let second = -Infinity;
    let sum = 0;
    for (let c = 0; c < classes; c++) {
      if (l[c]! > l[b]!) rank++;
      if (c !== pred && l[c]! > second) second = l[c]!;
      sum += Math.exp(l[c]! - l[pred]!);
    }
    return { predicted: pred, rank, probability: Math.exp(l[b]! - l[pred]!) / sum, margin: l[pred]! - second };
  });
}

/**
 * The 8 copies of a uint8 image (row-major, `stride` bytes per pixel) with every value of each channel moved by
 * +-levels, one copy per sign combination of the three channels, clamped to 0..255. The judge (convolutions, average
 * pooling, a global pool) answers most to smooth, image-wide changes: these are the largest differences a check that
 * allows every value `levels` off can let through (measured on the embedded goldens: 2-3x dense random +-1 dithers).
 */
export function channelShifts(u8: Uint8Array | Uint8ClampedArray, levels: number, stride = 3): Uint8ClampedArray[] {
  return Array.from({ length: 8 }, (_, m) => {
    const sign = [m & 1 ? 1 : -1, m & 2 ? 1 : -1, m & 4 ? 1 : -1];
    return Uint8ClampedArray.from(u8, (v, i) => (i % stride < 3 ? v + sign[i % stride]! * levels : v));
  });
}

export function argmaxRows(logits: Float32Array, classes: number): number[] {
  const n = logits.length / classes;
  return Array.from({ length: n }, (_, i) => {
    let best = 0;
    for (let c = 1; c < classes; c++) if (logits[i * classes + c]! > logits[i * classes + best]!) best = c;
    return best;
  });
}

// ---------------------------------------------------------------------------------------------------------
// KID: unbiased MMD^2 with the polynomial kernel (x.y / d + 1)^3 (as reference/python/tinydit/judge.py kid)

function kern(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return (s / a.length + 1) ** 3;
}

/** Mean of the kernel over distinct pairs of y (the reference term, computed once per breed). */
export function kidYY(y: Float64Array[]): number {
  let s = 0;
  for (let i = 0; i < y.length; i++) for (let j = 0; j < y.length; j++) if (i !== j) s += kern(y[i]!, y[j]!);
  return s / (y.length * (y.length - 1));
}

export function kid(x: Float64Array[], y: Float64Array[], yy = kidYY(y)): number {
  const m = x.length;
  let xx = 0;
  for (let i = 0; i < m; i++) for (let j = 0; j < m; j++) if (i !== j) xx += kern(x[i]!, x[j]!);
  let xy = 0;
  for (const a of x) for (const b of y) xy += kern(a, b);
  return xx / (m * (m - 1)) + yy - (2 * xy) / (m * y.length);
}

// ---------------------------------------------------------------------------------------------------------
// The judge family's rules. Every limit below is computed from the yardstick's measurements on TRAINING images
// (held-out accuracy, the KID bands, the validity quantiles) and, for validity, from pure seeded noise (the
// broken anchor); the constants only say where between those measurements a limit sits, each with its reason.
// Calibration against a population of good and broken models (values, thresholds and margins on each side):
// docs/calibration.md (scripts/calibrate.ts).

/** Seeds the gate samples per breed: seed = JUDGE_SEED_BASE + k, k < JUDGE_SEEDS_PER_BREED, the same for every breed. */
export const JUDGE_SEED_BASE = 2_000_000;
/**
 * N, images per breed (13 x 16 = 208 images: 98-126 ms per 50-step image in onnxruntime-node on one core in batches
 * of 13, 26 s measured in the suite; ~290 ms per image with the 2 cores shared by 12 runnable jobs). Chosen from the bands against the
 * cost. The split-half KID band (p99 over breeds) of the embedded yardstick is 0.09-0.32 at n = 8, 0.04-0.15 at 16,
 * 0.02-0.09 at 32, while the wrong-breed floor that limits KID stays at 5.8-7.6 / 6.2-8.1 / 6.5-8.3: KID separates
 * at any of these sizes, so N is set by the accuracy test, whose binomial margin 2 sqrt(p (1 - p) / N) at p = 0.5
 * is 0.35 at 8 (top-2 limit 0.15, chance is 2/13 = 0.15: no test), 0.25 at 16 (limit 0.25, 4 of 16 images) and
 * 0.18 at 32 (0.32) for twice the cost (~42 s), over the suite's budget with the proofs.
 */
export const JUDGE_SEEDS_PER_BREED = 16;

/** How the judge family samples and proves itself for a model of one image size (judgePlan). */
export interface JudgePlan {
  /** Images per breed of the good model's sample. */
  seedsPerBreed: number;
  /** Images per breed of each proof. */
  proofSeeds: number;
  /**
   * Proofs applied to the good model's images after the fact (no generation), instead of to a broken model built and
   * sampled: the same breakage as the image shows it (suites/node/judge.test.ts IMAGE_PROOFS).
   */
  imageProofs: readonly string[];
  /** Why this plan judges enough, for the report and the docs. */
  why: string;
}

/**
 * The judge's plan per image size. 32 px (the embedded model): every proof is a broken model sampled in full. 128 px
 * (production, 33M parameters): a 50-step image costs ~4.7 s in onnxruntime-node on one core (93 ms per guided
 * step), so the 32 px plan's 624 images would take ~49 min of one core. There the good sample keeps 8 images per
 * breed (104: KID still separates, wrong-breed floor 6.6-8.8 against split-half p99 0.08-0.26 at n = 8, and the pooled
 * top-1 over 104 images keeps its power; the per-breed top-2 test has none at 8, see JUDGE_SEEDS_PER_BREED), the
 * three proofs whose breakage is a property of the image (channels swapped, range halved, breeds rolled) transform
 * those images, and the one that needs the model (output weakened) is sampled at 4 seeds per breed (the KID bands
 * exist from n = 4). A size without an entry gets the 32 px plan, the strongest.
 */
export const JUDGE_PLANS: Readonly<Record<number, JudgePlan>> = {
  32: {
    seedsPerBreed: JUDGE_SEEDS_PER_BREED,
    proofSeeds: 8,
    imageProofs: [],
    why: '32 px: 16 images per breed; every proof a broken model sampled at 8 images per breed',
  },
  128: {
    seedsPerBreed: 8,
    proofSeeds: 4,
    imageProofs: ['pixel-range-halved', 'channels-swapped', 'breeds-rolled'],
    why:
      '128 px: 8 images per breed (per-breed top-2 has no power at 8; pooled top-1, KID and validity do); proofs by ' +
      'image for channels, range and breeds, output-weakened sampled at 4 per breed',
  },
};

export function judgePlan(imageSize: number): JudgePlan {
  return JUDGE_PLANS[imageSize] ?? JUDGE_PLANS[32]!;
}
/** Per breed: generated top-2 accuracy must reach this fraction of the judge's held-out top-2 accuracy ... */
export const TOP2_FRACTION = 0.5;
/** ... less this many binomial standard errors at N (a breed whose true rate is exactly that fraction fails ~2.3 % of runs). */
export const ACCURACY_SIGMAS = 2;
/** All breeds pooled: generated top-1 accuracy must reach this fraction of the held-out top-1 accuracy, less ACCURACY_SIGMAS at 13 N. */
export const POOLED_FRACTION = 0.5;
/** Validity limits sit this far from the training extreme (0) toward the broken anchor (1): halfway, as in harness/checks/stats.ts. */
export const VALIDITY_POSITION = 0.5;
/** The training extreme of a feature: its 0.1 % / 99.9 % quantile over every training image of the breed. */
export const VALIDITY_QUANTILE_LOW = 0.001;
export const VALIDITY_QUANTILE_HIGH = 0.999;
/** A breed fails validity when more than this fraction of its images break a validity limit (one in eight). */
export const VALIDITY_MAX_BAD_FRACTION = 0.125;

export type ValidityFeature = 'highFrequency' | 'saturation' | 'contrast' | 'clippedFraction';
export const VALIDITY_FEATURES: ValidityFeature[] = ['highFrequency', 'saturation', 'contrast', 'clippedFraction'];

export interface ValidityAnchor {
  highFrequency: number;
  saturation: number;
  contrast: number;
  clippedFraction: number;
}

export interface ValidityLimit {
  feature: ValidityFeature;
  kind: 'max' | 'min';
  limit: number;
  trainingExtreme: number;
  anchor: number;
  reason: string;
}

export interface BreedLimits {
  breed: number;
  name: string;
  n: number;
  heldOutTop1: number;
  heldOutTop2: number;
  top2Min: number;
  top2Reason: string;
  kidMax: number;
  kidBandP99: number;
  kidBandMean: number;
  kidReason: string;
  validity: ValidityLimit[];
}

export interface JudgeLimits {
  n: number;
  perBreed: BreedLimits[];
  pooledMin: number;
  pooledHeldOut: number;
  pooledReason: string;
}

const sigma = (p: number, n: number): number => Math.sqrt(Math.max(0, p * (1 - p)) / Math.max(1, n));

/** The accuracy n images must reach: `fraction` x the judge's held-out rate, less ACCURACY_SIGMAS binomial sigmas at n. */
export function accuracyLimit(heldOut: number, fraction: number, n: number): number {
  const p = fraction * heldOut;
  return p - ACCURACY_SIGMAS * sigma(p, n);
}

export interface PooledLimit {
  min: number;
  heldOut: number;
  n: number;
  reason: string;
}

/**
 * Top-2 accuracy pooled over a set of images (asked[i]: the breed image i was generated for): the per-breed top-2 rule
 * (TOP2_FRACTION, ACCURACY_SIGMAS) at the set's n, its held-out rate the mean held-out top-2 of the breeds asked for.
 */
export function pooledTop2Limit(y: Yardstick, asked: number[]): PooledLimit {
  const rates = asked.map((b) => y.json.heldOutAccuracy.perBreed[y.breeds[b]!]?.top2);
  if (rates.some((r) => typeof r !== 'number'))
    throw new YardstickError(
      'invalid',
      `${y.dir}/yardstick.json: heldOutAccuracy.perBreed lacks top-2 for a breed asked for; remake the yardstick with make_yardstick.py`,
    );
  const n = asked.length;
  const heldOut = (rates as number[]).reduce((s, r) => s + r, 0) / Math.max(1, n);
  const min = accuracyLimit(heldOut, TOP2_FRACTION, n);
  return {
    min,
    heldOut,
    n,
    reason:
      `top-2 accuracy over ${n} image(s) >= ${TOP2_FRACTION} x held-out top-2 ${heldOut.toFixed(4)} - ${ACCURACY_SIGMAS} binomial sigmas at n = ${n} (= ${min.toFixed(3)}` +
      `${min <= 0 ? ': at this n the rule cannot fail' : ''}), the judge family's per-breed rule applied to the pooled set`,
  };
}

function quantileOf(stats: ValidityFeatureStats, quantiles: number[], q: number, source: string): number {
  const i = quantiles.findIndex((v) => Math.abs(v - q) < 1e-12);
  if (i < 0 || stats.q[i] === undefined)
    throw new YardstickError('invalid', `${source}: no ${q} quantile in yardstick.json validity.quantiles`);
  return stats.q[i]!;
}

/**
 * The limits for n images per breed. `noise` are the validity features of pure seeded noise images (what a
 * zero-velocity model returns): the broken anchor of the upper limits; a constant image (contrast 0) anchors the
 * contrast limit.
 */
export function deriveJudgeLimits(y: Yardstick, n: number, noise: ValidityAnchor[]): JudgeLimits {
  const bands = y.json.kid.bands[String(n)];
  if (!bands)
    throw new YardstickError(
      'invalid',
      `${y.dir}/yardstick.json: no KID bands at n = ${n} (has ${Object.keys(y.json.kid.bands).join(', ')}); sample a size the yardstick measured`,
    );
  const acc = y.json.heldOutAccuracy;
  const minOf = (k: ValidityFeature): number => Math.min(...noise.map((f) => f[k]));
  const perBreed = y.breeds.map((name, b): BreedLimits => {
    const a = acc.perBreed[name];
    const band = bands[name];
    const vs = y.json.validity.perBreed[name];
    if (
      !a ||
      !band ||
      !vs ||
      typeof a.top2 !== 'number' ||
      typeof band.wrongBreedFloor !== 'number' ||
      !(band.wrongBreedFloor > band.p99)
    ) {
      throw new YardstickError(
        'invalid',
        `${y.dir}/yardstick.json: breed '${name}' lacks held-out top-2 accuracy, a KID band at n = ${n} whose ` +
          'wrong-breed floor lies above its split-half p99, or validity statistics: remake the yardstick with make_yardstick.py',
      );
    }
    const top2 = a.top2;
    const top2Min = accuracyLimit(top2, TOP2_FRACTION, n);
    const floor = band.wrongBreedFloor;
    const floorBreed = band.wrongBreedFloorBreed;
    const src = `${y.dir}/yardstick.json validity.perBreed.${name}`;
    const qs = y.json.validity.quantiles;
    const upper = (feature: ValidityFeature, anchor: number, anchorName: string): ValidityLimit => {
      const ext = quantileOf(vs[feature]!, qs, VALIDITY_QUANTILE_HIGH, src);
      return {
        feature,
        kind: 'max',
        trainingExtreme: ext,
        anchor,
        limit: ext + VALIDITY_POSITION * (anchor - ext),
        reason: `halfway between the ${VALIDITY_QUANTILE_HIGH * 100} % quantile of ${name} training images (${ext.toFixed(4)}) and ${anchorName} (${anchor.toFixed(4)})`,
      };
    };
    // contrast: the flattest training images of ANY breed (a breed's own contrast is its appearance, e.g. Siamese
    // points on cream, which accuracy and KID judge; validity asks only whether the image is an image at all)
    const allContrast = y.json.validity.all['contrast'];
    const qi = qs.findIndex((v) => Math.abs(v - VALIDITY_QUANTILE_LOW) < 1e-12);
    const cLow = allContrast?.[qi];
    if (cLow === undefined)
      throw new YardstickError('invalid', `${y.dir}/yardstick.json: validity.all.contrast has no ${VALIDITY_QUANTILE_LOW} quantile`);
    return {
      breed: b,
      name,
      n,
      heldOutTop1: a.accuracy,
      heldOutTop2: top2,
      top2Min,
      top2Reason:
        `top-2 accuracy >= ${TOP2_FRACTION} x held-out top-2 ${top2.toFixed(4)} - ${ACCURACY_SIGMAS} binomial sigmas at n = ${n} ` +
        `(= ${top2Min.toFixed(3)}): the breed asked for must be the judge's first or second choice in at least half as many images as for its training images`,
      kidMax: floor,
      kidBandP99: band.p99,
      kidBandMean: band.mean,
      kidReason:
        `KID <= the wrong-breed floor ${floor.toFixed(3)} at n = ${n} (the 1st percentile of KID(n training images of ${floorBreed}, ${name} reference), ` +
        `the closest any other breed's real images come in 99 % of draws); the split-half band of ${name} itself is p99 ${band.p99.toFixed(4)}`,
      validity: [
        upper('highFrequency', minOf('highFrequency'), `the smoothest of ${noise.length} pure seeded noise images`),
        upper('saturation', minOf('saturation'), `the least saturated of ${noise.length} pure seeded noise images`),
        upper('clippedFraction', minOf('clippedFraction'), `the least clipped of ${noise.length} pure seeded noise images`),
        {
          feature: 'contrast',
          kind: 'min',
          trainingExtreme: cLow,
          anchor: 0,
          limit: cLow * (1 - VALIDITY_POSITION),
          reason: `halfway between the ${VALIDITY_QUANTILE_LOW * 100} % quantile of all training images (${cLow.toFixed(2)} levels of luma p98 - p2) and a constant image (0)`,
        },
      ],
    };
  });
  const pooledHeldOut = acc.overall;
  const total = n * y.breeds.length;
  const pooledMin = accuracyLimit(pooledHeldOut, POOLED_FRACTION, total);
  return {
    n,
    perBreed,
    pooledMin,
    pooledHeldOut,
    pooledReason: `top-1 accuracy over all ${total} images >= ${POOLED_FRACTION} x held-out accuracy ${pooledHeldOut.toFixed(4)} - ${ACCURACY_SIGMAS} binomial sigmas (= ${pooledMin.toFixed(3)})`,
  };
}

export interface ImageVerdict {
  breed: number;
  predicted: number;
  rank: number;
  features: ValidityAnchor;
  validityFailures: string[];
}

export interface BreedResult {
  breed: number;
  name: string;
  n: number;
  top1: number;
  top2: number;
  meanProbability: number;
  kid: number;
  /** KID of the generated set against every breed's reference; nearest: the breed it is closest to. */
  nearestBreed: string;
  nearestKid: number;
  predictedAs: Record<string, number>;
  validityBad: number;
  validityMedians: ValidityAnchor;
  validityWorst: string[];
  accuracyPass: boolean;
  kidPass: boolean;
  validityPass: boolean;
}

export interface JudgeEvaluation {
  perBreed: BreedResult[];
  pooledTop1: number;
  pooledPass: boolean;
  confusion: number[][];
  images: ImageVerdict[];
}

const median = (v: number[]): number => {
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/**
 * Judges generated images: `asked[i]` the breed image i was generated for, `out` the judge's outputs on them,
 * `features[i]` their validity features. Per breed: top-1/top-2 accuracy, KID against its training reference,
 * validity against the limits; pooled top-1 accuracy.
 */
export function evaluateJudge(
  y: Yardstick,
  limits: JudgeLimits,
  out: JudgeOutput,
  asked: number[],
  features: ValidityAnchor[],
  refRows?: Float64Array[][],
  refYY?: number[],
): JudgeEvaluation {
  const K = y.breeds.length;
  const Fd = y.featureDim;
  const rows = refRows ?? Array.from({ length: K }, (_, b) => featureRows(y.refFeatures, b));
  const yy = refYY ?? rows.map((r) => kidYY(r));
  const confusion = Array.from({ length: K }, () => new Array<number>(K).fill(0));
  const scores = imageScores(out.logits, K, asked);
  const images: ImageVerdict[] = asked.map((b, i) => {
    const { predicted: pred, rank } = scores[i]!;
    confusion[b]![pred]!++;
    const lim = limits.perBreed[b]!;
    const f = features[i]!;
    const fails = lim.validity
      .filter((v) => (v.kind === 'max' ? !(f[v.feature] <= v.limit) : !(f[v.feature] >= v.limit)))
      .map((v) => `${v.feature} ${f[v.feature].toFixed(3)} ${v.kind === 'max' ? '>' : '<'} ${v.limit.toFixed(3)}`);
    return { breed: b, predicted: pred, rank, features: f, validityFailures: fails };
  });
  const perBreed: BreedResult[] = [];
  for (let b = 0; b < K; b++) {
    const idx = asked.map((a, i) => (a === b ? i : -1)).filter((i) => i >= 0);
    if (idx.length === 0) continue;
    const lim = limits.perBreed[b]!;
    const mine = idx.map((i) => images[i]!);
    const top1 = mine.filter((v) => v.rank === 1).length / idx.length;
    const top2 = mine.filter((v) => v.rank <= 2).length / idx.length;
    const prob = idx.reduce((s, i) => s + scores[i]!.probability, 0);
    const feats = idx.map((i) => Float64Array.from(out.features.subarray(i * Fd, (i + 1) * Fd)));
    const kids = rows.map((r, o) => kid(feats, r, yy[o]));
    let nearest = 0;
    kids.forEach((v, o) => {
      if (v < kids[nearest]!) nearest = o;
    });
    const predictedAs: Record<string, number> = {};
    for (const v of mine) predictedAs[y.breeds[v.predicted]!] = (predictedAs[y.breeds[v.predicted]!] ?? 0) + 1;
    const bad = mine.filter((v) => v.validityFailures.length > 0);
    const med = (k: ValidityFeature): number => median(mine.map((v) => v.features[k]));
    perBreed.push({
      breed: b,
      name: y.breeds[b]!,
      n: idx.length,
      top1,
      top2,
      meanProbability: prob / idx.length,
      kid: kids[b]!,
      nearestBreed: y.breeds[nearest]!,
      nearestKid: kids[nearest]!,
      predictedAs,
      validityBad: bad.length,
      validityMedians: {
        highFrequency: med('highFrequency'),
        saturation: med('saturation'),
        contrast: med('contrast'),
        clippedFraction: med('clippedFraction'),
      },
      validityWorst: bad.slice(0, 3).map((v) => v.validityFailures.join('; ')),
      accuracyPass: top2 >= lim.top2Min,
      kidPass: kids[b]! <= lim.kidMax,
      validityPass: bad.length <= VALIDITY_MAX_BAD_FRACTION * idx.length,
    });
  }
  const pooledTop1 = images.filter((v) => v.rank === 1).length / Math.max(1, images.length);
  return { perBreed, pooledTop1, pooledPass: pooledTop1 >= limits.pooledMin, confusion, images };
}
