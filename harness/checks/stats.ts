/**
 * Image statistics and validity gates for generated images. Pure (no Node imports): Node suites and the
 * browser page bundle the same code. Images are 8-bit RGB or RGBA, row-major (H, W, C).
 *
 * Every limit is derived from data at run time: from the bundle's reference images (goldens/stats/images.npy,
 * the PyTorch model's own samples at seeds 1000..) and from pure seeded noise mapped through the pixel
 * conversion (what the x0 = x1 bug returns), by one rule: a limit sits halfway between the most extreme
 * reference image and the broken anchor (noise, a constant image, a full frame line). A reference set that
 * is itself on the wrong side of an anchor (an undertrained, noise-like model) makes the derivation fail.
 */
import { seededNoise } from '../core/noise.js';
import type { NpyArray } from '../core/npy.js';

export interface PixelImage {
  /** Row-major pixels, `channels` bytes per pixel (alpha, when present, is ignored). */
  data: Uint8Array | Uint8ClampedArray;
  width: number;
  height: number;
  channels: 3 | 4;
}

export class StatsError extends Error {}

export function rgbaImage(data: Uint8Array | Uint8ClampedArray, width: number, height: number): PixelImage {
  if (data.length !== width * height * 4)
    throw new StatsError(`RGBA image ${width}x${height} needs ${width * height * 4} bytes, got ${data.length}`);
  return { data, width, height, channels: 4 };
}

export function rgbImage(data: Uint8Array | Uint8ClampedArray, width: number, height: number): PixelImage {
  if (data.length !== width * height * 3)
    throw new StatsError(`RGB image ${width}x${height} needs ${width * height * 3} bytes, got ${data.length}`);
  return { data, width, height, channels: 3 };
}

/** Copy of an image as RGBA (alpha 255). */
export function toRGBA(img: PixelImage): Uint8ClampedArray {
  const n = img.width * img.height;
  const out = new Uint8ClampedArray(n * 4);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 3; c++) out[i * 4 + c] = img.data[i * img.channels + c]!;
    out[i * 4 + 3] = 255;
  }
  return out;
}

/** Applies f to every RGB pixel (r, g, b) -> [r', g', b'] (clamped), returning a new RGBA image. Used to build broken inputs. */
export function mapPixels(img: PixelImage, f: (r: number, g: number, b: number) => [number, number, number]): PixelImage {
  const n = img.width * img.height;
  const out = new Uint8ClampedArray(n * 4);
  for (let i = 0; i < n; i++) {
    const p = i * img.channels;
    const [r, g, b] = f(img.data[p]!, img.data[p + 1]!, img.data[p + 2]!);
    out[i * 4] = Math.round(r);
    out[i * 4 + 1] = Math.round(g);
    out[i * 4 + 2] = Math.round(b);
    out[i * 4 + 3] = 255;
  }
  return rgbaImage(out, img.width, img.height);
}

// ---------------------------------------------------------------------------------------------------------
// Tensors

export interface TensorValidity {
  count: number;
  nonFinite: number;
  /** First non-finite index, -1 when all finite. */
  firstNonFinite: number;
  min: number;
  max: number;
  mean: number;
  std: number;
}

/** Finite-ness and range of a float state (e.g. the sampler's final x), before any pixel conversion hides a NaN. */
export function tensorValidity(x: Float32Array | Float64Array): TensorValidity {
  let nonFinite = 0;
  let first = -1;
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  let sum2 = 0;
  let n = 0;
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    if (!Number.isFinite(v)) {
      nonFinite++;
      if (first < 0) first = i;
      continue;
    }
    n++;
    sum += v;
    sum2 += v * v;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const mean = n > 0 ? sum / n : NaN;
  return {
    count: x.length,
    nonFinite,
    firstNonFinite: first,
    min,
    max,
    mean,
    std: n > 0 ? Math.sqrt(Math.max(0, sum2 / n - mean * mean)) : NaN,
  };
}

/** RGB(A) bytes -> [3,H,W] float in [-1,1] (u / 255 * 2 - 1), the inverse of the pixel conversion up to rounding. */
export function imageToTensor(img: PixelImage): Float32Array {
  const n = img.width * img.height;
  const out = new Float32Array(3 * n);
  for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) out[c * n + i] = (img.data[i * img.channels + c]! / 255) * 2 - 1;
  return out;
}

/** [C,H,W] float in [-1,1] -> RGB bytes with the contract's conversion clamp(round((x+1)/2*255), 0, 255). */
export function tensorToImage(x: Float32Array, size: number, index = 0): PixelImage {
  const n = size * size;
  const base = index * 3 * n;
  const out = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 3; c++) {
      const v = Math.round(((x[base + c * n + i]! + 1) / 2) * 255);
      out[i * 3 + c] = Number.isFinite(v) ? Math.max(0, Math.min(255, v)) : 0;
    }
  }
  return rgbImage(out, size, size);
}

// ---------------------------------------------------------------------------------------------------------
// Features

/** Near-black / near-white tolerance of the frame test, in 8-bit levels: 8 of 255 (3 %) is "~0" or "~255". */
export const FRAME_LEVEL_TOLERANCE = 8;
/** Luma below this is "dark", above 255 - this is "bright" (one fifth of the range at each end). */
export const DARK_LUMA = 51;
/** Percentile of the range features: 2 % of a 32x32 image is 20 pixels, enough to ignore a few outliers. */
export const LUMA_PERCENTILE = 2;

export const FEATURE_NAMES = [
  'meanR',
  'meanG',
  'meanB',
  'stdR',
  'stdG',
  'stdB',
  'meanLuma',
  'saturation',
  'clippedFraction',
  'highFrequency',
  'laplacian',
  'darkFraction',
  'brightFraction',
  'centreLuma',
  'borderLuma',
  'lumaLow',
  'lumaHigh',
  'frameScore',
] as const;
export type FeatureName = (typeof FEATURE_NAMES)[number];
export type ImageFeatures = Record<FeatureName, number>;

function luma(r: number, g: number, b: number): number {
  return 0.299 * r + 0.587 * g + 0.114 * b;
}

/** True when a pixel at (x, y) lies in the central half of the image (the region the animal mostly fills). */
function inCentre(x: number, y: number, w: number, h: number): boolean {
  return x >= w / 4 && x < (3 * w) / 4 && y >= h / 4 && y < (3 * h) / 4;
}

/**
 * Scalar statistics of one image:
 * - meanR/G/B, stdR/G/B: per-channel mean and standard deviation in 8-bit levels;
 * - saturation: mean HSV saturation (max - min) / max; clippedFraction: pixels with any channel at 0 or 255;
 * - highFrequency: neighbour-difference energy over twice the variance, pooled over channels
 *   (E[(x_i - x_j)^2] / (2 Var x)): 1 for independent noise, near 0 for smooth images;
 * - laplacian: mean |4-neighbour Laplacian| of luma (interior pixels);
 * - darkFraction / brightFraction: luma below DARK_LUMA / above 255 - DARK_LUMA;
 * - centreLuma / borderLuma: mean luma of the central half and of the outer ring;
 * - lumaLow / lumaHigh: the LUMA_PERCENTILE-th and (100 - LUMA_PERCENTILE)-th percentile of luma (the range used);
 * - frameScore: the largest fraction of one border row or column that is near-black or near-white.
 */
export function imageFeatures(img: PixelImage): ImageFeatures {
  const { width: w, height: h, channels: ch, data } = img;
  const n = w * h;
  const sum = [0, 0, 0];
  const sum2 = [0, 0, 0];
  let sat = 0;
  let clipped = 0;
  let dark = 0;
  let bright = 0;
  let lumaSum = 0;
  let centreSum = 0;
  let centreN = 0;
  let borderSum = 0;
  let borderN = 0;
  const L = new Float64Array(n);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      const p = i * ch;
      const r = data[p]!;
      const g = data[p + 1]!;
      const b = data[p + 2]!;
      sum[0]! += r;
      sum[1]! += g;
      sum[2]! += b;
      sum2[0]! += r * r;
      sum2[1]! += g * g;
      sum2[2]! += b * b;
      const mx = Math.max(r, g, b);
      const mn = Math.min(r, g, b);
      sat += mx === 0 ? 0 : (mx - mn) / mx;
      if (mn === 0 || mx === 255) clipped++;
      const l = luma(r, g, b);
      L[i] = l;
      lumaSum += l;
      if (l < DARK_LUMA) dark++;
      if (l > 255 - DARK_LUMA) bright++;
      if (inCentre(x, y, w, h)) {
        centreSum += l;
        centreN++;
      } else {
        borderSum += l;
        borderN++;
      }
    }
  }
  const mean = sum.map((s) => s / n);
  const variance = sum2.map((s, c) => Math.max(0, s / n - mean[c]! * mean[c]!));
  // neighbour-difference energy, horizontal and vertical pairs, all channels pooled
  let diffEnergy = 0;
  let pairs = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const p = (y * w + x) * ch;
      for (const [dx, dy] of [
        [1, 0],
        [0, 1],
      ] as const) {
        if (x + dx >= w || y + dy >= h) continue;
        const q = ((y + dy) * w + x + dx) * ch;
        for (let c = 0; c < 3; c++) {
          const d = data[p + c]! - data[q + c]!;
          diffEnergy += d * d;
        }
        pairs++;
      }
    }
  }
  const totalVar = variance[0]! + variance[1]! + variance[2]!;
  const highFrequency = totalVar > 0 ? diffEnergy / pairs / (2 * totalVar) : 0;
  let lap = 0;
  let lapN = 0;
  for (let y = 1; y < h - 1; y++) {
    for (let x = 1; x < w - 1; x++) {
      const i = y * w + x;
      lap += Math.abs(4 * L[i]! - L[i - 1]! - L[i + 1]! - L[i - w]! - L[i + w]!);
      lapN++;
    }
  }
  return {
    meanR: mean[0]!,
    meanG: mean[1]!,
    meanB: mean[2]!,
    stdR: Math.sqrt(variance[0]!),
    stdG: Math.sqrt(variance[1]!),
    stdB: Math.sqrt(variance[2]!),
    meanLuma: lumaSum / n,
    saturation: sat / n,
    clippedFraction: clipped / n,
    highFrequency,
    laplacian: lapN > 0 ? lap / lapN : 0,
    darkFraction: dark / n,
    brightFraction: bright / n,
    centreLuma: centreN > 0 ? centreSum / centreN : NaN,
    borderLuma: borderN > 0 ? borderSum / borderN : NaN,
    lumaLow: percentile(L, LUMA_PERCENTILE),
    lumaHigh: percentile(L, 100 - LUMA_PERCENTILE),
    frameScore: frameScore(img),
  };
}

function percentile(values: Float64Array, p: number): number {
  const sorted = Float64Array.from(values).sort();
  const pos = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(sorted.length - 1, lo + 1);
  return sorted[lo]! + (pos - lo) * (sorted[hi]! - sorted[lo]!);
}

/** Largest fraction of one border line (top/bottom row, left/right column) that is near-black or near-white. */
export function frameScore(img: PixelImage): number {
  const { width: w, height: h, channels: ch, data } = img;
  const extreme = (x: number, y: number): boolean => {
    const p = (y * w + x) * ch;
    let lo = true;
    let hi = true;
    for (let c = 0; c < 3; c++) {
      const v = data[p + c]!;
      if (v > FRAME_LEVEL_TOLERANCE) lo = false;
      if (v < 255 - FRAME_LEVEL_TOLERANCE) hi = false;
    }
    return lo || hi;
  };
  // a line counts when it is uniformly extreme: all ~0, or all ~255, not a mix
  const lineScore = (pts: Array<[number, number]>): number => {
    let lo = 0;
    let hi = 0;
    for (const [x, y] of pts) {
      if (!extreme(x, y)) continue;
      const p = (y * w + x) * ch;
      if (data[p]! <= FRAME_LEVEL_TOLERANCE) lo++;
      else hi++;
    }
    return Math.max(lo, hi) / pts.length;
  };
  const row = (y: number): Array<[number, number]> => Array.from({ length: w }, (_, x) => [x, y] as [number, number]);
  const col = (x: number): Array<[number, number]> => Array.from({ length: h }, (_, y) => [x, y] as [number, number]);
  return Math.max(lineScore(row(0)), lineScore(row(h - 1)), lineScore(col(0)), lineScore(col(w - 1)));
}

/** Joint RGB histogram with `bins` levels per channel (bins^3 entries, sums to 1); `weight(x, y)` weights pixels. */
export function colourHistogram(img: PixelImage, bins = 4, weight?: (x: number, y: number) => number): Float64Array {
  const { width: w, height: h, channels: ch, data } = img;
  const hist = new Float64Array(bins * bins * bins);
  let total = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const p = (y * w + x) * ch;
      const q = (v: number): number => Math.min(bins - 1, Math.floor((v * bins) / 256));
      const k = (q(data[p]!) * bins + q(data[p + 1]!)) * bins + q(data[p + 2]!);
      const wt = weight ? weight(x, y) : 1;
      hist[k]! += wt;
      total += wt;
    }
  }
  if (total > 0) for (let k = 0; k < hist.length; k++) hist[k]! /= total;
  return hist;
}

// ---------------------------------------------------------------------------------------------------------
// Reference set

export interface ReferenceSet {
  /** Breed names, index = breed. */
  breeds: string[];
  /** images[breed][k]: the reference images of each breed (k over seeds). */
  images: PixelImage[][];
  seeds: number[];
  source: string;
}

/** Reference seeds per breed the statistics need: one left out, a standard deviation of the rest (the bundle loader refuses fewer). */
export const MIN_STATS_SEEDS = 3;

/** goldens/stats/images.npy ([breeds, seeds, H, W, 3] uint8) -> a reference set. */
export function referenceSetFromNpy(arr: NpyArray, breeds: string[], seeds: number[], source: string): ReferenceSet {
  if (arr.dtype !== 'uint8' || arr.shape.length !== 5 || arr.shape[4] !== 3) {
    throw new StatsError(
      `${source}: expected uint8 [breeds, seeds, H, W, 3], got ${arr.dtype} [${arr.shape.join(',')}]; regenerate the bundle's goldens`,
    );
  }
  const [nb, ns, h, w] = arr.shape as [number, number, number, number];
  if (nb !== breeds.length) throw new StatsError(`${source}: ${nb} breeds in the array, ${breeds.length} in the manifest`);
  if (ns !== seeds.length)
    throw new StatsError(`${source}: ${ns} seeds in the array, ${seeds.length} listed in goldens/index.json stats.seeds`);
  if (ns < MIN_STATS_SEEDS)
    throw new StatsError(
      `${source}: ${ns} reference seeds per breed; at least ${MIN_STATS_SEEDS} are needed for a standard deviation with one left out`,
    );
  const per = h * w * 3;
  const data = arr.data as Uint8Array;
  const images: PixelImage[][] = [];
  for (let b = 0; b < nb; b++) {
    const row: PixelImage[] = [];
    for (let k = 0; k < ns; k++) {
      const off = (b * ns + k) * per;
      row.push(rgbImage(data.subarray(off, off + per), w, h));
    }
    images.push(row);
  }
  return { breeds, images, seeds, source };
}

export interface FeatureSummary {
  mean: number;
  std: number;
  min: number;
  max: number;
  n: number;
}

export function summarise(values: number[]): FeatureSummary {
  const n = values.length;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const variance = n > 1 ? values.reduce((a, b) => a + (b - mean) * (b - mean), 0) / (n - 1) : 0;
  return { mean, std: Math.sqrt(variance), min: Math.min(...values), max: Math.max(...values), n };
}

// ---------------------------------------------------------------------------------------------------------
// Validity gates

/** Seeds of the pure-noise anchor: the x0 = x1 bug returns its seeded input noise unchanged. */
export const NOISE_ANCHOR_SEEDS = Array.from({ length: 16 }, (_, i) => 1000 + i);
/** Where between the reference extreme (0) and the broken anchor (1) each limit sits: halfway. */
export const LIMIT_POSITION = 0.5;

/** Features of pure seeded noise images (seededNoise -> pixel conversion), the anchor of the noise gates. */
export function noiseAnchorFeatures(size: number, seeds: number[] = NOISE_ANCHOR_SEEDS): ImageFeatures[] {
  return seeds.map((s) => imageFeatures(tensorToImage(seededNoise(s, 3 * size * size), size)));
}

export type GateName = 'finite' | 'notConstant' | 'noFrame' | 'saturation' | 'clipping' | 'highFrequency';

export interface GateLimit {
  gate: GateName;
  feature: FeatureName | 'overallStd' | 'nonFinite';
  /** 'max': value must be < limit; 'min': value must be > limit. */
  kind: 'max' | 'min';
  limit: number;
  /** The reference extreme, the anchor and how the limit came from them. */
  referenceExtreme: number;
  anchor: number;
  derivation: string;
  /** False when the reference set is not on the good side of the anchor: the limit is NaN and every image fails. */
  derived: boolean;
}

export interface ValidityLimits {
  limits: GateLimit[];
  referenceCount: number;
  noiseCount: number;
}

/** Overall standard deviation of all RGB values (0 for a constant image). */
export function overallStd(img: PixelImage): number {
  const n = img.width * img.height;
  let s = 0;
  let s2 = 0;
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 3; c++) {
      const v = img.data[i * img.channels + c]!;
      s += v;
      s2 += v * v;
    }
  }
  const m = s / (3 * n);
  return Math.sqrt(Math.max(0, s2 / (3 * n) - m * m));
}

function limitBetween(
  gate: GateName,
  feature: GateLimit['feature'],
  kind: 'max' | 'min',
  refValues: number[],
  anchor: number,
  anchorName: string,
): GateLimit {
  const refExtreme = kind === 'max' ? Math.max(...refValues) : Math.min(...refValues);
  const derived = kind === 'max' ? refExtreme < anchor : refExtreme > anchor;
  const limit = derived ? refExtreme + LIMIT_POSITION * (anchor - refExtreme) : NaN;
  const derivation = derived
    ? `halfway between the reference ${kind === 'max' ? 'maximum' : 'minimum'} ${refExtreme.toFixed(4)} over ${refValues.length} reference images and ${anchorName} ${anchor.toFixed(4)}`
    : `cannot derive: the reference ${kind === 'max' ? 'maximum' : 'minimum'} ${refExtreme.toFixed(4)} is already at or beyond ${anchorName} ${anchor.toFixed(4)}; the reference model's own samples look broken (undertrained or noise-like) — retrain or re-export the bundle`;
  return { gate, feature, kind, limit, referenceExtreme: refExtreme, anchor, derivation, derived };
}

/** Derives the gate limits from the reference set and the pure-noise anchor. */
export function deriveValidityLimits(ref: ReferenceSet, noise?: ImageFeatures[]): ValidityLimits {
  const all = ref.images.flat();
  const size = all[0]?.width ?? 0;
  if (all.length === 0) throw new StatsError(`${ref.source}: the reference set is empty`);
  const feats = all.map(imageFeatures);
  const nf = noise ?? noiseAnchorFeatures(size);
  const col = (fs: ImageFeatures[], k: FeatureName): number[] => fs.map((f) => f[k]);
  const limits: GateLimit[] = [
    {
      gate: 'finite',
      feature: 'nonFinite',
      kind: 'max',
      limit: 1,
      referenceExtreme: 0,
      anchor: 1,
      derived: true,
      derivation: 'no non-finite value is allowed in the state tensor (checked before pixel conversion)',
    },
    limitBetween('notConstant', 'overallStd', 'min', all.map(overallStd), 0, 'a constant image (std 0)'),
    limitBetween('noFrame', 'frameScore', 'max', col(feats, 'frameScore'), 1, 'a full near-black/white border line (1)'),
    limitBetween(
      'saturation',
      'saturation',
      'max',
      col(feats, 'saturation'),
      Math.min(...col(nf, 'saturation')),
      `the least saturated of ${nf.length} pure seeded noise images`,
    ),
    limitBetween(
      'clipping',
      'clippedFraction',
      'max',
      col(feats, 'clippedFraction'),
      Math.min(...col(nf, 'clippedFraction')),
      `the least clipped of ${nf.length} pure seeded noise images`,
    ),
    limitBetween(
      'highFrequency',
      'highFrequency',
      'max',
      col(feats, 'highFrequency'),
      Math.min(...col(nf, 'highFrequency')),
      `the smoothest of ${nf.length} pure seeded noise images`,
    ),
  ];
  return { limits, referenceCount: all.length, noiseCount: nf.length };
}

export interface GateResult {
  gate: GateName;
  value: number;
  limit: number;
  kind: 'max' | 'min';
  pass: boolean;
  message: string;
}

export interface ValidityResult {
  pass: boolean;
  gates: GateResult[];
  /** One line per failed gate, naming the cause. */
  failures: string[];
  features: ImageFeatures;
}

const GATE_CAUSE: Record<GateName, string> = {
  finite: 'the state holds NaN/Inf (an exploding or uninitialised model)',
  notConstant: 'the image is (nearly) constant (a zero or saturated output)',
  noFrame: 'a border row/column is uniformly black or white (a padding, crop or unpatchify bug)',
  saturation: 'over-saturated colours (noisy, unconverged samples)',
  clipping: 'too many clipped pixels (values far outside [-1, 1]: wrong scale or unconverged samples)',
  highFrequency: 'pixel-level noise (the sampler returned its input noise: a zero-velocity model, e.g. the x0 = x1 training bug)',
};

/** Runs the hard validity gates on one image (and, when given, its float state tensor). */
export function validityGates(img: PixelImage, limits: ValidityLimits, tensor?: Float32Array): ValidityResult {
  const features = imageFeatures(img);
  const gates: GateResult[] = [];
  for (const l of limits.limits) {
    let value: number;
    if (l.gate === 'finite') {
      if (!tensor) continue;
      value = tensorValidity(tensor).nonFinite;
    } else if (l.feature === 'overallStd') {
      value = overallStd(img);
    } else {
      value = features[l.feature as FeatureName];
    }
    const pass = Number.isFinite(value) && Number.isFinite(l.limit) && (l.kind === 'max' ? value < l.limit : value > l.limit);
    const message = pass
      ? ''
      : !Number.isFinite(l.limit)
        ? `${l.gate}: no limit (${l.derivation})`
        : `${l.gate}: ${l.feature} = ${value.toFixed(4)} ${l.kind === 'max' ? '>=' : '<='} limit ${l.limit.toFixed(4)} — ${GATE_CAUSE[l.gate]}`;
    gates.push({ gate: l.gate, value, limit: l.limit, kind: l.kind, pass, message });
  }
  const failures = gates.filter((g) => !g.pass).map((g) => g.message);
  return { pass: failures.length === 0, gates, failures, features };
}

// ---------------------------------------------------------------------------------------------------------
// Distribution: per-breed reference statistics and z-scores

/** The features the distribution check compares (frameScore is a gate, not a distribution feature). */
export const DISTRIBUTION_FEATURES: FeatureName[] = [
  'meanR',
  'meanG',
  'meanB',
  'stdR',
  'stdG',
  'stdB',
  'meanLuma',
  'saturation',
  'clippedFraction',
  'highFrequency',
  'laplacian',
  'darkFraction',
  'brightFraction',
  'centreLuma',
  'borderLuma',
  'lumaLow',
  'lumaHigh',
];

/**
 * Features judged per image (each |z| within its own limit). The pixel fractions (clipped, dark, bright) are
 * left to the set check: for most breeds they are 0 on nearly every reference seed, so one image's z on them
 * is heavy-tailed (a single Bombay reference with 25 % bright pixels scored z 27 against its fold).
 */
export const IMAGE_Z_FEATURES: FeatureName[] = DISTRIBUTION_FEATURES.filter(
  (k) => k !== 'clippedFraction' && k !== 'darkFraction' && k !== 'brightFraction',
);

/**
 * A breed's spread on a feature is floored at this fraction of the pooled (all-breed) within-breed spread,
 * so a feature that happens to be constant over a breed's few reference seeds (e.g. clippedFraction 0 for
 * every dark cat) cannot turn a tiny difference into a huge z: a quarter keeps breeds' own spreads, which
 * differ by up to ~4x between breeds in the reference sets measured.
 */
export const STD_FLOOR_FRACTION = 0.25;

export interface BreedStatistics {
  breed: number;
  name: string;
  n: number;
  features: Record<FeatureName, FeatureSummary>;
  /** The spread used for z-scores: max(breed std, STD_FLOOR_FRACTION * pooled std, the feature's resolution). */
  scale: Record<FeatureName, number>;
}

export interface ReferenceStatistics {
  breeds: BreedStatistics[];
  pooledStd: Record<FeatureName, number>;
  /** Reference features, [breed][k]. */
  features: ImageFeatures[][];
  /** Pixels per image (sets the features' resolution floor). */
  pixels: number;
}

function pooledWithinStd(groups: ImageFeatures[][], k: FeatureName): number {
  let ss = 0;
  let dof = 0;
  for (const g of groups) {
    if (g.length < 2) continue;
    const m = g.reduce((a, f) => a + f[k], 0) / g.length;
    ss += g.reduce((a, f) => a + (f[k] - m) * (f[k] - m), 0);
    dof += g.length - 1;
  }
  return dof > 0 ? Math.sqrt(ss / dof) : 0;
}

/** Features measured in 8-bit levels; the others are fractions or ratios of pixels. */
const LEVEL_FEATURES: FeatureName[] = [
  'meanR',
  'meanG',
  'meanB',
  'stdR',
  'stdG',
  'stdB',
  'meanLuma',
  'laplacian',
  'centreLuma',
  'borderLuma',
  'lumaLow',
  'lumaHigh',
];

/**
 * The smallest meaningful difference of a feature, the last floor of its z-score scale (so a feature constant
 * over every reference image, e.g. clippedFraction 0 everywhere, gives finite z): one 8-bit level for level
 * features, one pixel (1 / pixels) for fractions.
 */
export function featureResolution(k: FeatureName, pixels: number): number {
  return LEVEL_FEATURES.includes(k) ? 1 : 1 / Math.max(1, pixels);
}

function breedStatistics(
  breed: number,
  name: string,
  feats: ImageFeatures[],
  pooledStd: Record<FeatureName, number>,
  pixels: number,
): BreedStatistics {
  const features = {} as Record<FeatureName, FeatureSummary>;
  const scale = {} as Record<FeatureName, number>;
  for (const k of FEATURE_NAMES) {
    features[k] = summarise(feats.map((f) => f[k]));
    scale[k] = Math.max(features[k].std, STD_FLOOR_FRACTION * pooledStd[k], featureResolution(k, pixels));
  }
  return { breed, name, n: feats.length, features, scale };
}

export function referenceStatistics(ref: ReferenceSet, features?: ImageFeatures[][]): ReferenceStatistics {
  const feats = features ?? ref.images.map((row) => row.map(imageFeatures));
  const pooledStd = {} as Record<FeatureName, number>;
  for (const k of FEATURE_NAMES) pooledStd[k] = pooledWithinStd(feats, k);
  const pixels = (ref.images[0]?.[0]?.width ?? 0) * (ref.images[0]?.[0]?.height ?? 0);
  return {
    breeds: feats.map((f, b) => breedStatistics(b, ref.breeds[b] ?? String(b), f, pooledStd, pixels)),
    pooledStd,
    features: feats,
    pixels,
  };
}

export type ZScores = Record<FeatureName, number>;

/** z-scores of an image's features against one breed's reference statistics (DISTRIBUTION_FEATURES only; others 0). */
export function zScores(f: ImageFeatures, b: BreedStatistics): ZScores {
  const z = {} as ZScores;
  for (const k of FEATURE_NAMES) {
    const s = b.scale[k];
    z[k] = DISTRIBUTION_FEATURES.includes(k) ? (f[k] - b.features[k].mean) / s : 0;
  }
  return z;
}

/**
 * Leave-one-out z-scores of every reference image against its breed's other reference images: what a
 * fresh, held-out sample of the same model scores. Result [breed][k].
 */
export function leaveOneOutZ(stats: ReferenceStatistics, ref: ReferenceSet): ZScores[][] {
  return stats.features.map((feats, b) =>
    feats.map((f, k) => {
      const rest = feats.filter((_, j) => j !== k);
      return zScores(f, breedStatistics(b, ref.breeds[b] ?? String(b), rest, stats.pooledStd, stats.pixels));
    }),
  );
}

/**
 * Margin on the per-image distribution limits: a held-out image's |z| on a feature may exceed the largest
 * leave-one-out |z| of the reference set on that feature by half again (8..32 seeds per breed do not show the
 * full tail).
 */
export const Z_LIMIT_MARGIN = 1.5;
/** Sigmas allowed for a set's mean z of one feature (a systematic shift), in units of its standard error. */
export const SET_SHIFT_SIGMAS = 4;

/**
 * Variance components of leave-one-out z on one feature. Images of one seed share their initial noise and so
 * their background across breeds: z-scores of one seed are correlated. `between` is the variance shared by a
 * seed's images, `within` the rest; a set mean over seed groups g (with n_g breeds each) then has variance
 * sum_g (between + within / n_g) / m^2 for m groups.
 */
export interface ZVariance {
  between: number;
  within: number;
}

export interface DistributionLimits {
  /** Per image and feature (IMAGE_Z_FEATURES): |z| must be <= this (Z_LIMIT_MARGIN x the feature's largest leave-one-out |z|). */
  imageZLimit: Record<FeatureName, number>;
  /** Per feature: the largest leave-one-out |z| in the reference set. */
  referenceMaxLooZ: Record<FeatureName, number>;
  /** Per feature: variance components of leave-one-out z over the reference set (the null of a set's mean z). */
  zVariance: Record<FeatureName, ZVariance>;
  references: number;
  derivation: string;
}

function variance(v: number[]): number {
  const m = v.reduce((a, b) => a + b, 0) / v.length;
  return v.reduce((a, b) => a + (b - m) * (b - m), 0) / Math.max(1, v.length - 1);
}

export function deriveDistributionLimits(stats: ReferenceStatistics, ref: ReferenceSet): DistributionLimits {
  const looBySeed = leaveOneOutZ(stats, ref); // [breed][k]
  const loo = looBySeed.flat();
  const nb = looBySeed.length;
  const ns = looBySeed[0]?.length ?? 0;
  const zVariance = {} as Record<FeatureName, ZVariance>;
  const referenceMaxLooZ = {} as Record<FeatureName, number>;
  const imageZLimit = {} as Record<FeatureName, number>;
  for (const k of FEATURE_NAMES) {
    const total = variance(loo.map((z) => z[k]));
    // per seed: the mean over breeds; its variance is between + within / nb
    const seedMeans = Array.from({ length: ns }, (_, j) => looBySeed.reduce((a, row) => a + row[j]![k], 0) / nb);
    const between = Math.min(total, Math.max(0, (variance(seedMeans) * nb - total) / (nb - 1)));
    zVariance[k] = { between, within: Math.max(0, total - between) };
    referenceMaxLooZ[k] = Math.max(...loo.map((z) => Math.abs(z[k])));
    imageZLimit[k] = Z_LIMIT_MARGIN * referenceMaxLooZ[k];
  }
  return {
    imageZLimit,
    referenceMaxLooZ,
    zVariance,
    references: loo.length,
    derivation:
      `per image and feature (${IMAGE_Z_FEATURES.length} continuous features): |z| <= ${Z_LIMIT_MARGIN} x the feature's largest leave-one-out |z| over ${loo.length} reference images; ` +
      `per set: |mean z| of a feature <= ${SET_SHIFT_SIGMAS} standard errors, from the leave-one-out z variance split into a part shared by a seed's images and the rest`,
  };
}

export interface DistributionImage {
  breed: number;
  features: ImageFeatures;
  /** The statistics to judge it by (default: its breed's in the full reference set), e.g. for a held-out reference fold. */
  reference?: BreedStatistics;
  /** The noise seed: images of one seed are correlated (shared background); without it each image is its own group. */
  seed?: number;
  label?: string;
}

export interface DistributionResult {
  pass: boolean;
  /** Per image: z-scores, the feature nearest its limit (|z| / limit) and whether all are within. */
  images: Array<{ label: string; breed: number; z: ZScores; worstFeature: FeatureName; worstZ: number; worstLimit: number; pass: boolean }>;
  /** Per feature: mean z over the set, its limit and whether within. */
  shifts: Array<{ feature: FeatureName; meanZ: number; limit: number; pass: boolean }>;
  /** Distinct seed groups in the set (the effective number of independent draws for a shift). */
  seedGroups: number;
  failures: string[];
}

/** Standard error of a set's mean z on a feature, for seed groups of the given sizes (images per seed). */
export function setMeanZStdError(v: ZVariance, groupSizes: number[]): number {
  const m = groupSizes.length;
  const n = groupSizes.reduce((a, b) => a + b, 0);
  // mean over all n images = sum_g n_g * (group mean) / n; a group mean has variance between + within / n_g
  const varSum = groupSizes.reduce((a, ng) => a + ng * ng * (v.between + v.within / ng), 0);
  return m > 0 ? Math.sqrt(varSum) / n : NaN;
}

/** z-scores of generated images against their breeds' references: per-image outliers and set-wide shifts. */
export function distributionCheck(images: DistributionImage[], stats: ReferenceStatistics, limits: DistributionLimits): DistributionResult {
  const failures: string[] = [];
  const rows = images.map((im, i) => {
    const bs = im.reference ?? stats.breeds[im.breed];
    if (!bs) throw new StatsError(`distribution: breed ${im.breed} has no reference statistics (${stats.breeds.length} breeds)`);
    const z = zScores(im.features, bs);
    const label = im.label ?? `image ${i}`;
    let worst: FeatureName = IMAGE_Z_FEATURES[0]!;
    let worstRatio = -1;
    let pass = true;
    for (const k of IMAGE_Z_FEATURES) {
      const lim = limits.imageZLimit[k];
      const ratio = Math.abs(z[k]) / lim;
      if (!(Math.abs(z[k]) <= lim)) {
        pass = false;
        failures.push(
          `${label} (${bs.name}): ${k} = ${im.features[k].toFixed(3)}, z ${z[k].toFixed(2)} beyond ±${lim.toFixed(2)} (breed mean ${bs.features[k].mean.toFixed(3)})`,
        );
      }
      if (!(ratio <= worstRatio)) {
        worstRatio = ratio;
        worst = k;
      }
    }
    return { label, breed: im.breed, z, worstFeature: worst, worstZ: z[worst], worstLimit: limits.imageZLimit[worst], pass };
  });
  const groups = new Map<string, number>();
  images.forEach((im, i) => {
    const key = im.seed === undefined ? `image${i}` : `seed${im.seed}`;
    groups.set(key, (groups.get(key) ?? 0) + 1);
  });
  const sizes = [...groups.values()];
  const shifts = DISTRIBUTION_FEATURES.map((k) => {
    const meanZ = rows.reduce((a, r) => a + r.z[k], 0) / Math.max(1, rows.length);
    const limit = SET_SHIFT_SIGMAS * setMeanZStdError(limits.zVariance[k], sizes);
    const pass = Number.isFinite(meanZ) && Math.abs(meanZ) <= limit;
    if (!pass)
      failures.push(
        `set shift in ${k}: mean z ${meanZ.toFixed(2)} over ${rows.length} images (${sizes.length} seeds), limit ±${limit.toFixed(2)}`,
      );
    return { feature: k, meanZ, limit, pass };
  });
  // set shifts first: they name a systematic cause; single outliers follow
  failures.sort((a, b) => Number(!a.startsWith('set shift')) - Number(!b.startsWith('set shift')));
  return { pass: failures.length === 0, images: rows, shifts, seedGroups: sizes.length, failures };
}

/** The reference set restricted to the seeds (by index k) that `keep` accepts. */
export function subsetBySeeds(ref: ReferenceSet, keep: (k: number) => boolean): ReferenceSet {
  const idx = ref.seeds.map((_, k) => k).filter(keep);
  return {
    ...ref,
    seeds: idx.map((k) => ref.seeds[k]!),
    images: ref.images.map((row) => idx.map((k) => row[k]!)),
    source: `${ref.source} (seeds ${idx.length}/${ref.seeds.length})`,
  };
}

/** Reference seeds are held out in this many folds (by seed index modulo), each judged by statistics of the rest. */
export const HELD_OUT_FOLDS = 4;

/**
 * The reference images as held-out samples of their generator: fold f (seed index k % folds == f) is judged by
 * the statistics of the other folds. `edit` transforms each image first (to build broken inputs); the result
 * feeds distributionCheck, giving a set of many seeds where the goldens alone have two.
 */
export function heldOutReferenceImages(
  ref: ReferenceSet,
  edit?: (img: PixelImage) => PixelImage,
  folds = HELD_OUT_FOLDS,
): DistributionImage[] {
  if (ref.seeds.length < 2 * folds)
    throw new StatsError(`${ref.source}: ${ref.seeds.length} seeds cannot make ${folds} folds of at least 2`);
  const out: DistributionImage[] = [];
  for (let f = 0; f < folds; f++) {
    const rest = referenceStatistics(subsetBySeeds(ref, (k) => k % folds !== f));
    ref.images.forEach((row, b) =>
      row.forEach((img, k) => {
        if (k % folds !== f) return;
        out.push({
          breed: b,
          seed: ref.seeds[k],
          reference: rest.breeds[b],
          label: `breed=${ref.breeds[b]},seed=${ref.seeds[k]},fold=${f}`,
          features: imageFeatures(edit ? edit(img) : img),
        });
      }),
    );
  }
  return out;
}
