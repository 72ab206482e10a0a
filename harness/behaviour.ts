/**
 * Behavioural checks that need no goldens: they hold for any ONNX export with the TinyDiT contract and
 * catch the ways the real project shipped broken generators (README, "What the gate checks"): a zero velocity, a model
 * whose output is its input, a t-blind, breed-blind (or with two breeds drawn alike) or position-blind model (also with a transposed unpatchify
 * at the same time, as it shipped: depends-on-position-flat and locality assume no pixel layout), guidance
 * applied twice or at a scale the manifest does not state, and a null token that is just another breed (or a
 * null index the graph's breed table does not have: a named failure before any model call).
 *
 * Every check returns its metric, its threshold and a message naming the likely cause; each threshold is a
 * named constant below with the numbers it was set from (good model vs the mutant built by harness/mutate.ts).
 */
import { mulberry32, seededNoise } from './noise.js';
import { applyGuidance } from './sampler.js';
import type { VelocityRunner } from './runtime-node.js';

// ---------------------------------------------------------------------------------------------------------
// Thresholds (each: the good model's measurement, the mutant's, and where the line sits between them)

// Measured on the step-500 fixture bundle (the weakest good model we have; step 1000 in brackets: every
// metric grows with training), guided / raw / quantized variants, against the mutants in behaviour.test.ts.
/** rms(v)/rms(x): good 1.10 [1.16] on every variant vs 0 with a zeroed output layer; 1/20 of the good. */
export const MIN_VELOCITY_RMS_RATIO = 0.055;
/** ||v - c x||/||v||, one c over all probes: good 0.287 [0.271] vs 4.6e-8 when v = x (echo mutant); 1/10 of the good. */
export const MIN_INPUT_RESIDUAL = 0.029;
/** ||v(t=0.9) - v(t=0.1)|| / mean ||v||: good 0.326 [0.319] vs 0 with the timestep MLP input zeroed; 1/20 of the good. */
export const MIN_TIME_CHANGE = 0.016;
/**
 * depends-on-breed, every pair of the 13 breeds (replaces MIN_BREED_SPREAD = 4.4e-4, an average over the breeds): the
 * closest pair's rms(v_i - v_j) / rms(v) at t = 0.5, one seeded probe. Measured 2026-11-30, guided / raw / quantized:
 * - good, the embedded model (step 5000): 3.46e-2 / 2.32e-2 / 3.68e-2, Birman / Siamese every time (median pair
 *   9.8e-2 / 6.6e-2 / 9.9e-2); its non-EMA weights (the goldens-from-other-weights bundle) 3.69e-2 / 2.48e-2 / 3.99e-2;
 * - breed rows 2..12 re-drawn as at init (normal, std 0.02: the shipped model trained on labels 0 and 1 only;
 *   harness/mutate.ts breedRowsUntrained, seeds 4242 + 1000k, k = 0..11): 1.97e-3..3.13e-3 / 1.32e-3..2.09e-3 /
 *   9.4e-3..1.08e-2 (the old aggregate passed it: 2.8e-2 / 1.9e-2 / 3.0e-2 against its 4.4e-4);
 * - every row = row 0: 0; Bombay = Siamese (rows 3 and 10): 0, on every variant;
 * - Bombay and Siamese exchanged: 3.46e-2 / 2.32e-2 / 3.68e-2, the good values: a pass by design, the breeds are
 *   still distinct, only misnamed (the judge family's fault to find; velocity and trajectory reject it).
 * Float variants: the geometric mean of the highest float mutant (3.13e-3, guided) and the lowest float good (2.32e-2,
 * raw), 2.7x from each. Not passed any more: a weak model (train.py --steps 800 --seed 1 --per-class 300) whose breed
 * rows had barely left their init (row rms 0.02-0.04; 0.07-0.19 at step 5000): closest pair British Shorthair / Sphynx
 * 8.5e-4 / 5.7e-4 / 8.4e-3, barely above its own untrained-rows mutant (7.0e-4 / 4.6e-4 / 8.0e-3 at most, 1.04x to
 * 1.23x): too close for any line to separate; that model does not yet tell those two breeds apart.
 */
export const MIN_BREED_PAIR_DISTANCE = 8.5e-3;
/**
 * The same for a quantized variant: its dynamic uint8 activation rounding adds ~1.2e-2 between ANY two different
 * conditionings (good 3.68e-2 ~ sqrt(3.46e-2^2 + 1.25e-2^2) over the guided graph it was made from), so rows at their
 * init read 9.4e-3..1.08e-2 there, not 2e-3 (the noise raises near distances, it does not lower them); equal rows
 * still read 0 (the same inputs in one call round the same). The geometric mean of the highest quantized mutant
 * (1.08e-2) and the quantized good (3.68e-2), 1.84x from each; the float line (8.5e-3) would pass that mutant.
 */
export const MIN_BREED_PAIR_DISTANCE_QUANTIZED = 2.0e-2;
/** ||v(πx) - π v(x)|| / ||v(x)||: good 2.04e-2 [3.33e-2] vs 2.2e-7 with pos_embed zeroed; 1/10 of the good. */
export const MIN_EQUIVARIANCE_RESIDUAL = 2.0e-3;
/** ||baked - (raw + guidance in TS)|| / ||guided||: good 2e-11 [1.4e-10] vs 4.1e-3 [9.8e-3] with the scale applied twice; 400x below that mutant. */
export const MAX_GUIDANCE_MISMATCH = 1e-5;
/** ||v(null) - v(Other)|| / ||v(Other)|| on the raw graph: good 1.89e-3 [5.8e-3] vs 0 with row 13 = row 12; 1/10 of the good. */
export const MIN_NULL_DISTINCT = 1.9e-4;

// The two ORIGIN 4 checks below, measured 2026-11-30 on the embedded model (step 5000) and on a second, weaker good
// model (reference/python/train.py --steps 800 --seed 1 --per-class 300, exported with export_dit_onnx.py: guided,
// raw and quantized), guided / raw / quantized, against in-memory mutants of each variant: pos_embed zeroed, the
// unpatchify perm 0,5,3,1,4,2 (the shipped transposition), both at once, a patch transposed inside itself
// (0,5,1,4,2,3), the patch grid transposed (0,5,2,3,1,4), pos_embed zeroed with a transposed patch.
// (depends-on-position passes the shipped combination: 1.41 on every variant of both models, against its 2e-3.)
/**
 * Spread of v on constant inputs left within its sorted groups of (size/p)^2 values / total spread: good 2.80e-2 /
 * 2.61e-2 / 2.94e-2 (step 5000), 1.43e-2 / 1.43e-2 / 1.60e-2 (step 800) vs exactly 0 on every variant of both models
 * for every mutant with pos_embed zeroed, whatever the unpatchify (the tokens are bitwise identical); 1/10 of the lowest good.
 */
export const MIN_FLAT_INPUT_SPREAD = 1.4e-3;
/**
 * Worst patch position's alignment -<dv, dx>/(||dv|| ||dx||) at t = 0: good 0.971 / 0.986 / 0.964 (step 5000; mean
 * over patches 0.997 / 0.997 / 0.988), 0.734 / 0.733 / 0.723 (step 800; mean 0.969 / 0.969 / 0.960) vs the shipped
 * transposed unpatchify -0.040 / -0.040 / -0.035 [-0.034 / -0.034 / -0.035], with pos_embed zeroed too -0.038 /
 * -0.038 / -0.043 [-0.035 / -0.035 / -0.036], patch transposed -0.300 / -0.298 / -0.287 [-0.283 / -0.283 / -0.281],
 * grid transposed -0.006 / -0.006 / -0.008 [-0.010 / -0.010 / -0.011] (pos_embed zeroed alone passes: 0.98 / 0.99 /
 * 0.97, its check is depends-on-position-flat). Between them, a little over half the weakest good: a permutation
 * that keeps less than ~40% of one patch's values in place fails. At t = 0.1 the good worst was already 0.92 / 0.61
 * (step 5000 / 800), at 0.5 0.84 (step 5000): t = 0 is where the property holds exactly.
 */
export const MIN_LOCALITY_ALIGNMENT = 0.4;

// ---------------------------------------------------------------------------------------------------------
// Probes: deterministic inputs built from the shared seeded noise (no goldens)

/** Seed base of the behaviour probes (any fixed value; recorded so a failure can be reproduced). */
export const PROBE_SEED = 9001;
/** Probe breeds: Abyssinian, Bombay, Persian (kept below the manifest's breed count). */
const PROBE_BREEDS = [0, 3, 7];
/** Probe times: the start, the middle and near the end of the trajectory. */
const PROBE_TIMES = [0.0, 0.5, 0.9];
/** Times of the constant-input probes (depends-on-position-flat). */
const FLAT_TIMES = [0.0, 0.5];
/** The locality check's time: t = 0, where the exact velocity E[x1] - x has dv/dx = -I (see checkLocality). */
export const LOCALITY_T = 0;
/** Size of the locality check's patch changes, relative to the unit-variance noise they are added to. */
export const LOCALITY_AMPLITUDE = 1;
/** Probe images (one per probe breed) of the locality check; each costs 1 + tokens model evaluations. */
const LOCALITY_PROBES = 2;

export interface BehaviourResult {
  /** Check name: nonzero, not-input, depends-on-t, depends-on-breed, depends-on-position, depends-on-position-flat, locality, guidance-once, null-token. */
  check: string;
  metric: number;
  /** Name of the threshold constant and its value. */
  thresholdName: string;
  threshold: number;
  /** 'min': pass when metric >= threshold; 'max': pass when metric <= threshold. */
  direction: 'min' | 'max';
  pass: boolean;
  message: string;
  /** Extra numbers for the record (per-probe values, implied guidance scale, ...). */
  detail: Record<string, number | string>;
}

function perImage(r: VelocityRunner): number {
  return r.channels * r.imageSize * r.imageSize;
}

function probeNoise(r: VelocityRunner, count: number, seedOffset = 0): Float32Array {
  const n = perImage(r);
  const x = new Float32Array(count * n);
  for (let k = 0; k < count; k++) x.set(seededNoise(PROBE_SEED + seedOffset + k, n), k * n);
  return x;
}

function norm(a: ArrayLike<number>, start = 0, end = a.length): number {
  let s = 0;
  for (let i = start; i < end; i++) s += a[i]! * a[i]!;
  return Math.sqrt(s);
}

function diffNorm(a: ArrayLike<number>, b: ArrayLike<number>, start = 0, end = a.length): number {
  let s = 0;
  for (let i = start; i < end; i++) { const d = a[i]! - b[i]!; s += d * d; }
  return Math.sqrt(s);
}

function allFinite(a: ArrayLike<number>): boolean {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i]!)) return false;
  return true;
}

function call(r: VelocityRunner, x: Float32Array, t: number[], breeds: number[]): Promise<Float32Array> {
  return r.run(x, Float32Array.from(t), BigInt64Array.from(breeds, BigInt), breeds.length);
}

function verdict(check: string, metric: number, thresholdName: string, threshold: number, direction: 'min' | 'max',
  cause: string, describe: string, detail: Record<string, number | string> = {}): BehaviourResult {
  const pass = Number.isFinite(metric) && (direction === 'min' ? metric >= threshold : metric <= threshold);
  const cmp = direction === 'min' ? '>=' : '<=';
  const m = Number.isFinite(metric) ? metric.toExponential(3) : String(metric);
  const message = pass
    ? `${describe} = ${m} (${cmp} ${thresholdName} ${threshold})`
    : `${describe} = ${m}, needs ${cmp} ${thresholdName} ${threshold}: ${Number.isFinite(metric) ? cause : 'the model returned NaN/Inf: check the exported weights for non-finite values'}`;
  return { check, metric, thresholdName, threshold, direction, pass, message, detail };
}

/** The probe grid: every probe time x every probe breed, one noise image per row. */
function probeGrid(r: VelocityRunner, breedCount: number): { x: Float32Array; t: number[]; b: number[] } {
  const breeds = PROBE_BREEDS.filter((b) => b < breedCount);
  const t: number[] = [];
  const b: number[] = [];
  for (const tv of PROBE_TIMES) for (const bv of breeds) { t.push(tv); b.push(bv); }
  return { x: probeNoise(r, t.length), t, b };
}

/**
 * A breed index the check would feed that the graph cannot look up, as a named failure before any model call
 * (onnxruntime would stop with a raw Gather error). `rows`: the graph's breed embedding rows, read from its ONNX
 * (harness/onnx.ts breedEmbeddingRows); unknown (undefined/null) lets the check run as before. The metric is the
 * largest index fed, the threshold rows - 1.
 */
export function breedIndexOutOfRange(check: string, rows: number | null | undefined, nullIndex: number | null, breeds: number[]): BehaviourResult | null {
  if (rows === undefined || rows === null) return null;
  const beyond = breeds.filter((bv) => bv >= rows);
  if ((nullIndex === null || nullIndex < rows) && beyond.length === 0) return null;
  let message: string;
  if (nullIndex !== null && nullIndex >= rows) {
    message = `the graph has ${rows} breed rows; the manifest's null index ${nullIndex} is out of range: ` +
      (nullIndex === rows
        ? `an export of the older layout (null = Other = ${rows - 1}, no null row; re-export with the null row)`
        : `the export and the manifest disagree about the breed table (re-export, or fix the manifest's guidance.nullIndex)`);
  } else {
    message = `the graph has ${rows} breed rows; breed index ${beyond.join(', ')} of the manifest is out of range: ` +
      'the export and the manifest disagree about the breeds (re-export with every breed and the null row, or fix the manifest)';
  }
  const metric = Math.max(nullIndex ?? -1, ...breeds);
  return { check, metric, thresholdName: 'breed embedding rows - 1', threshold: rows - 1, direction: 'max', pass: false, message,
    detail: { breedRows: rows, ...(nullIndex !== null ? { nullIndex } : {}), largestIndexFed: metric } };
}

// ---------------------------------------------------------------------------------------------------------
// The checks

/** ORIGIN 2: a step-0 checkpoint with a zero-initialised final layer returns velocity 0 everywhere. */
export async function checkVelocityNonZero(r: VelocityRunner, breedCount: number): Promise<BehaviourResult> {
  const { x, t, b } = probeGrid(r, breedCount);
  const v = await call(r, x, t, b);
  const ratio = allFinite(v) ? norm(v) / norm(x) : NaN;
  return verdict('nonzero', ratio, 'MIN_VELOCITY_RMS_RATIO', MIN_VELOCITY_RMS_RATIO, 'min',
    'the velocity is (near) zero: a step-0 or zero-initialised final layer, or a model trained on a zero target (x0 = x1); sampling would return the input noise',
    'rms(velocity)/rms(input)', { probes: t.length });
}

/**
 * ORIGIN 1: output = input (or any c * input): the model ignores everything but x. One scalar c is fitted
 * over every probe (all times and breeds) and the part of v it leaves unexplained must be large.
 */
export async function checkNotInputProportional(r: VelocityRunner, breedCount: number): Promise<BehaviourResult> {
  const { x, t, b } = probeGrid(r, breedCount);
  const v = await call(r, x, t, b);
  let vx = 0, xx = 0;
  for (let i = 0; i < x.length; i++) { vx += v[i]! * x[i]!; xx += x[i]! * x[i]!; }
  const c = vx / xx;
  let res = 0;
  for (let i = 0; i < x.length; i++) { const d = v[i]! - c * x[i]!; res += d * d; }
  const vn = norm(v);
  const metric = allFinite(v) ? (vn === 0 ? 0 : Math.sqrt(res) / vn) : NaN;
  return verdict('not-input', metric, 'MIN_INPUT_RESIDUAL', MIN_INPUT_RESIDUAL, 'min',
    `the velocity is c * input (c = ${c.toFixed(4)}) on every probe: the model returns its input scaled and learned nothing of ` +
    'images, breeds or time (ORIGIN 1: a zero training target, x0 = x1, makes sampling return the input noise)',
    '||v - c x|| / ||v|| with one c fitted over all probes', { c, probes: t.length });
}

/** ORIGIN 5: the timestep barely reaches the model (fed unscaled to the sinusoid, or an MLP that drops it). */
export async function checkDependsOnTime(r: VelocityRunner, breedCount: number, tA = 0.1, tB = 0.9): Promise<BehaviourResult> {
  const breeds = PROBE_BREEDS.filter((bv) => bv < breedCount);
  const x = probeNoise(r, breeds.length, 100);
  const x2 = new Float32Array(2 * x.length);
  x2.set(x, 0);
  x2.set(x, x.length);
  const v = await call(r, x2, [...breeds.map(() => tA), ...breeds.map(() => tB)], [...breeds, ...breeds]);
  const va = v.subarray(0, x.length);
  const vb = v.subarray(x.length);
  const change = allFinite(v) ? diffNorm(va, vb) / ((norm(va) + norm(vb)) / 2 || 1) : NaN;
  return verdict('depends-on-t', change, 'MIN_TIME_CHANGE', MIN_TIME_CHANGE, 'min',
    `the velocity hardly changes between t=${tA} and t=${tB}: a t-blind model (timestep not scaled by 1000 before the sinusoid, or the timestep MLP ignores its input)`,
    `||v(t=${tB}) - v(t=${tA})|| / mean ||v||`, { tA, tB });
}

/** The distance of two breeds' velocities on the same probe: rms(v_i - v_j) over the rms of every breed's velocity. */
export interface BreedPair { i: number; j: number; d: number }

export interface BreedPairDistances {
  /** Every pair i < j, in the order (0,1), (0,2), ..., (1,2), ...: 0 when the two breeds are drawn alike. */
  pairs: BreedPair[];
  /** The pair closest together (the first of equals). */
  min: BreedPair;
  median: number;
  /** The check's metric before it judged pairs: rms spread across the breeds / ||mean v||, an average that passes a model
   * whose trained breeds differ a lot while the others are drawn alike. Reported for comparison. */
  aggregate: number;
}

/** Pair distances of `breedCount` velocities of `n` values each (breed k at k * n), scale-free. Needs two breeds. */
export function breedPairDistances(v: ArrayLike<number>, breedCount: number, n: number): BreedPairDistances {
  if (breedCount < 2) throw new RangeError(`breedPairDistances needs at least 2 breeds, got ${breedCount}`);
  const mean = new Float64Array(n);
  for (let k = 0; k < breedCount; k++) for (let i = 0; i < n; i++) mean[i]! += v[k * n + i]! / breedCount;
  let spread = 0;
  for (let k = 0; k < breedCount; k++) for (let i = 0; i < n; i++) { const e = v[k * n + i]! - mean[i]!; spread += e * e / breedCount; }
  const rms = norm(v, 0, breedCount * n) / Math.sqrt(breedCount * n) || 1;
  const pairs: BreedPair[] = [];
  for (let i = 0; i < breedCount; i++) {
    for (let j = i + 1; j < breedCount; j++) {
      let s = 0;
      for (let e = 0; e < n; e++) { const d = v[i * n + e]! - v[j * n + e]!; s += d * d; }
      pairs.push({ i, j, d: Math.sqrt(s / n) / rms });
    }
  }
  const sorted = pairs.map((p) => p.d).sort((a, b) => a - b);
  const half = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[half]! : (sorted[half - 1]! + sorted[half]!) / 2;
  const min = pairs.reduce((a, b) => (b.d < a.d ? b : a));
  return { pairs, min, median, aggregate: Math.sqrt(spread) / (norm(mean) || 1) };
}

/** Groups of breeds joined by pairs closer than `threshold` (each group of two or more, smallest index first). */
function breedsDrawnAlike(pairs: BreedPair[], breedCount: number, threshold: number): number[][] {
  const root = Array.from({ length: breedCount }, (_, k) => k);
  const find = (k: number): number => (root[k] === k ? k : (root[k] = find(root[k]!)));
  for (const p of pairs) if (p.d < threshold) root[find(p.j)] = find(p.i);
  const groups = new Map<number, number[]>();
  for (let k = 0; k < breedCount; k++) groups.set(find(k), [...(groups.get(find(k)) ?? []), k]);
  return [...groups.values()].filter((g) => g.length > 1);
}

export interface DependsOnBreedOptions {
  /** The manifest's breed names, to name the closest pair (indices otherwise). */
  breedNames?: readonly string[];
  /** A quantized variant: judged against MIN_BREED_PAIR_DISTANCE_QUANTIZED (its rounding noise; the float line otherwise). */
  quantized?: boolean;
}

/**
 * ORIGIN 3: breed labels never reached training, or only some did. Every breed's velocity on the same probe
 * (seeded noise, t); every pair of breeds must differ: the metric is the smallest pair distance (BreedPairDistances).
 * The real project shipped a model trained on labels 0 and 1 only: rows 2.. at their init drew those breeds alike,
 * which an average over the breeds does not see.
 */
export async function checkDependsOnBreed(r: VelocityRunner, breedCount: number, t = 0.5, breedRows?: number | null,
  opts: DependsOnBreedOptions = {}): Promise<BehaviourResult> {
  const { breedNames, quantized = false } = opts;
  const [thresholdName, threshold] = quantized
    ? ['MIN_BREED_PAIR_DISTANCE_QUANTIZED', MIN_BREED_PAIR_DISTANCE_QUANTIZED] as const
    : ['MIN_BREED_PAIR_DISTANCE', MIN_BREED_PAIR_DISTANCE] as const;
  const outOfRange = breedIndexOutOfRange('depends-on-breed', breedRows, null, Array.from({ length: breedCount }, (_, i) => i));
  if (outOfRange) return outOfRange;
  const n = perImage(r);
  const one = probeNoise(r, 1, 200);
  const x = new Float32Array(breedCount * n);
  for (let k = 0; k < breedCount; k++) x.set(one, k * n);
  const breeds = Array.from({ length: breedCount }, (_, i) => i);
  const v = await call(r, x, breeds.map(() => t), breeds);
  const name = (k: number): string => breedNames?.[k] ?? `breed ${k}`;
  const p = breedPairDistances(v, breedCount, n);
  const metric = allFinite(v) ? p.min.d : NaN;
  const alike = breedsDrawnAlike(p.pairs, breedCount, threshold);
  const below = p.pairs.filter((q) => q.d < threshold).length;
  const cause = alike.length === 1 && alike[0]!.length === breedCount
    ? 'every breed gets (nearly) the same velocity: a breed-blind generator (labels did not reach training, or the breed embedding rows are all equal)'
    : `${below} of ${p.pairs.length} breed pairs get (nearly) the same velocity; drawn alike: ${alike.map((g) => g.map(name).join(' ~ ')).join('; ')}: ` +
      'breeds the generator cannot tell apart (their labels never reached training, so their embedding rows are still at their random init, ' +
      'or the rows are equal in the export)';
  return verdict('depends-on-breed', metric, thresholdName, threshold, 'min', cause,
    `closest breed pair (${name(p.min.i)} / ${name(p.min.j)}) of ${breedCount}: rms(v_i - v_j) / rms(v) at t=${t}`,
    { t, closestPair: `${name(p.min.i)} / ${name(p.min.j)}`, closestPairIndices: `${p.min.i},${p.min.j}`, medianPairDistance: p.median,
      pairsBelow: below, pairs: p.pairs.length, aggregateSpread: p.aggregate });
}

/** A seeded permutation of the patch grid (Fisher-Yates driven by the shared mulberry32 generator). */
export function patchPermutation(tokens: number, seed = PROBE_SEED): number[] {
  const perm = Array.from({ length: tokens }, (_, i) => i);
  const random = mulberry32(seed);
  for (let i = tokens - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [perm[i], perm[j]] = [perm[j]!, perm[i]!];
  }
  return perm;
}

/** Moves patch p of every image to position perm[p] (patches of size patch x patch, all channels). */
export function permutePatches(x: Float32Array, batch: number, channels: number, size: number, patch: number, perm: number[]): Float32Array {
  const g = size / patch;
  const out = new Float32Array(x.length);
  const n = channels * size * size;
  for (let b = 0; b < batch; b++) {
    for (let p = 0; p < g * g; p++) {
      const q = perm[p]!;
      const [py, px] = [Math.floor(p / g), p % g];
      const [qy, qx] = [Math.floor(q / g), q % g];
      for (let c = 0; c < channels; c++) {
        for (let dy = 0; dy < patch; dy++) {
          const src = b * n + c * size * size + (py * patch + dy) * size + px * patch;
          const dst = b * n + c * size * size + (qy * patch + dy) * size + qx * patch;
          out.set(x.subarray(src, src + patch), dst);
        }
      }
    }
  }
  return out;
}

/**
 * ORIGIN 4: no position embedding (and a wrong unpatchify): the model is exactly equivariant to permuting
 * patches, v(πx) = π v(x), so it cannot place anything. The residual of that identity must be large.
 */
export async function checkDependsOnPosition(r: VelocityRunner, breedCount: number, patch: number, t = 0.5): Promise<BehaviourResult> {
  if (r.imageSize % patch !== 0) throw new Error(`patch ${patch} does not divide image size ${r.imageSize}`);
  const breeds = PROBE_BREEDS.filter((bv) => bv < breedCount);
  const x = probeNoise(r, breeds.length, 300);
  const g = r.imageSize / patch;
  const perm = patchPermutation(g * g);
  const xp = permutePatches(x, breeds.length, r.channels, r.imageSize, patch, perm);
  const both = new Float32Array(2 * x.length);
  both.set(x, 0);
  both.set(xp, x.length);
  const v = await call(r, both, [...breeds, ...breeds].map(() => t), [...breeds, ...breeds]);
  const vPermuted = permutePatches(v.subarray(0, x.length), breeds.length, r.channels, r.imageSize, patch, perm);
  const vOfPermuted = v.subarray(x.length);
  const metric = allFinite(v) ? diffNorm(vOfPermuted, vPermuted) / (norm(v, 0, x.length) || 1) : NaN;
  return verdict('depends-on-position', metric, 'MIN_EQUIVARIANCE_RESIDUAL', MIN_EQUIVARIANCE_RESIDUAL, 'min',
    'the model is patch-permutation-equivariant, v(πx) = π v(x): it has no working position embedding (zero or missing pos_embed, or an unpatchify that scrambles patches)',
    '||v(πx) - π v(x)|| / ||v(x)||', { patch, tokens: g * g, t });
}

/**
 * ORIGIN 6: guidance applied twice, or baked at another scale than the manifest says. The baked graph must
 * equal the raw graph plus guidance applied once in TypeScript at the manifest's scale. Also reports the
 * scale the baked graph behaves as (least squares fit of v_baked = v_u + s (v_c - v_u)).
 */
export async function checkGuidanceOnce(baked: VelocityRunner, raw: VelocityRunner, scale: number, nullIndex: number,
  breedCount: number, rawBreedRows?: number | null): Promise<BehaviourResult> {
  const outOfRange = breedIndexOutOfRange('guidance-once', rawBreedRows, nullIndex, PROBE_BREEDS.filter((bv) => bv < breedCount));
  if (outOfRange) return outOfRange;
  const { x, t, b } = probeGrid(baked, breedCount);
  const vb = await call(baked, x, t, b);
  const x2 = new Float32Array(2 * x.length);
  x2.set(x, 0);
  x2.set(x, x.length);
  const vr = await call(raw, x2, [...t, ...t], [...b, ...b.map(() => nullIndex)]);
  const vc = vr.subarray(0, x.length);
  const vu = vr.subarray(x.length);
  const vg = applyGuidance(vc, vu, scale);
  let num = 0, den = 0;
  for (let i = 0; i < x.length; i++) { const d = vc[i]! - vu[i]!; num += (vb[i]! - vu[i]!) * d; den += d * d; }
  const implied = den > 0 ? num / den : NaN;
  const metric = allFinite(vb) && allFinite(vr) ? diffNorm(vb, vg) / (norm(vg) || 1) : NaN;
  return verdict('guidance-once', metric, 'MAX_GUIDANCE_MISMATCH', MAX_GUIDANCE_MISMATCH, 'max',
    `the baked graph behaves as guidance scale ${implied.toFixed(4)}, the manifest says ${scale}: guidance applied twice ` +
      '(a graph baked at s and guided again acts as s^2), baked at another scale than the manifest states, or the variants come from different weights',
    `||baked - (raw + guidance ${scale} in TS)|| / ||guided||`, { impliedScale: implied, manifestScale: scale });
}

/**
 * The null (unconditional) token must be its own embedding row: if v(null) = v(Other) the export uses an old
 * layout (null = 12 with 13 rows) or the manifest's nullIndex is wrong, and guidance pushes away from 'Other'.
 */
export async function checkNullTokenDistinct(raw: VelocityRunner, nullIndex: number, otherIndex: number,
  breedRows?: number | null): Promise<BehaviourResult> {
  const outOfRange = breedIndexOutOfRange('null-token', breedRows, nullIndex, [otherIndex]);
  if (outOfRange) return outOfRange;
  const n = perImage(raw);
  const one = probeNoise(raw, 1, 400);
  const times = [0.0, 0.5];
  const x = new Float32Array(2 * times.length * n);
  for (let k = 0; k < 2 * times.length; k++) x.set(one, k * n);
  const v = await call(raw, x, [...times, ...times], [...times.map(() => nullIndex), ...times.map(() => otherIndex)]);
  const half = times.length * n;
  const metric = allFinite(v) ? diffNorm(v.subarray(0, half), v.subarray(half)) / (norm(v, half, 2 * half) || 1) : NaN;
  return verdict('null-token', metric, 'MIN_NULL_DISTINCT', MIN_NULL_DISTINCT, 'min',
    `breed ${nullIndex} (the manifest's null token) gives the same velocity as breed ${otherIndex} ('Other'): the null row is not a separate ` +
      'embedding (an old export with null = 12) or the manifest names the wrong nullIndex',
    `||v(null=${nullIndex}) - v(${otherIndex})|| / ||v(${otherIndex})||`, { nullIndex, otherIndex });
}

// ---------------------------------------------------------------------------------------------------------
// ORIGIN 4 as it shipped: no position embedding AND a wrong unpatchify, judged without assuming the layout

function sortedGroupSpread(v: ArrayLike<number>, start: number, end: number, group: number): { within: number; total: number } {
  const s = Float64Array.from({ length: end - start }, (_, i) => v[start + i]!).sort();
  let mean = 0;
  for (const x of s) mean += x / s.length;
  let within = 0, total = 0;
  for (let g0 = 0; g0 < s.length; g0 += group) {
    const g1 = Math.min(s.length, g0 + group);
    let gm = 0;
    for (let i = g0; i < g1; i++) gm += s[i]! / (g1 - g0);
    for (let i = g0; i < g1; i++) { within += (s[i]! - gm) ** 2; total += (s[i]! - mean) ** 2; }
  }
  return { within, total };
}

/**
 * ORIGIN 4, whatever the unpatchify does: on a spatially constant input every patch is the same token, so a model
 * with no working position embedding gives every token the same output, and the image it returns holds only
 * p*p*C distinct values, each (size/p)^2 times, wherever an unpatchify (correct, transposed, any permutation of
 * pixels) puts them. Sorting the output's values and cutting them into groups of (size/p)^2 finds those groups
 * without knowing the layout: the metric is the spread left inside the groups over the total spread (pooled over
 * the probes). 0 for a position-blind model; a model that places things by position spreads its output.
 */
export async function checkDependsOnPositionFlat(r: VelocityRunner, breedCount: number, patch: number): Promise<BehaviourResult> {
  if (r.imageSize % patch !== 0) throw new Error(`patch ${patch} does not divide image size ${r.imageSize}`);
  const n = perImage(r);
  const plane = r.imageSize * r.imageSize;
  const tokens = (r.imageSize / patch) ** 2;
  const breeds = PROBE_BREEDS.filter((bv) => bv < breedCount);
  const t: number[] = [];
  const b: number[] = [];
  for (const tv of FLAT_TIMES) for (const bv of breeds) { t.push(tv); b.push(bv); }
  const x = new Float32Array(t.length * n);
  for (let k = 0; k < t.length; k++) {
    const level = seededNoise(PROBE_SEED + 500 + k, r.channels);
    for (let c = 0; c < r.channels; c++) x.fill(k === 0 ? 0 : level[c]!, k * n + c * plane, k * n + (c + 1) * plane);
  }
  const v = await call(r, x, t, b);
  let within = 0, total = 0, worst = Infinity, worstK = -1;
  for (let k = 0; k < t.length; k++) {
    const s = sortedGroupSpread(v, k * n, (k + 1) * n, tokens);
    within += s.within;
    total += s.total;
    const one = s.total > 0 ? Math.sqrt(s.within / s.total) : 0;
    if (one < worst) { worst = one; worstK = k; }
  }
  const metric = allFinite(v) ? (total > 0 ? Math.sqrt(within / total) : 0) : NaN;
  return verdict('depends-on-position-flat', metric, 'MIN_FLAT_INPUT_SPREAD', MIN_FLAT_INPUT_SPREAD, 'min',
    `on a spatially constant input every patch gets the same output (the image holds ${tokens} copies of one patch's values, in whatever ` +
      'layout): the model has no working position embedding (zero or missing pos_embed), whatever its unpatchify does',
    `spread of v on constant inputs left within its sorted groups of ${tokens} values / total spread`,
    { patch, tokens, probes: t.length, worstProbe: worstK, worstProbeT: t[worstK] ?? NaN, worstProbeBreed: b[worstK] ?? NaN, worstProbeSpread: worst });
}

/**
 * ORIGIN 4's other half, the unpatchify: at t = 0 the input is the noise x0 itself and the exact velocity is
 * E[x1] - x0, so dv/dx = -I: a change confined to one input patch must come back, negated, at the same pixels of
 * the output. For every patch position a seeded change is made there alone and the response compared with it: the
 * metric is the worst patch's alignment -<dv, dx> / (||dv|| ||dx||) over the whole image (1 when the response is
 * exactly -dx there). A transposed or permuted unpatchify moves the response to other patches (share in its own
 * patch ~0), a patch layout that differs between patch embedding and unpatchify moves it inside the patch (own
 * share high, pixel alignment ~1/p): both fail. Reported: the worst patch position, the share of the response's
 * energy inside that patch and in the best other patch, and the pixel alignment inside the own patch.
 */
export async function checkLocality(r: VelocityRunner, breedCount: number, patch: number, t = LOCALITY_T): Promise<BehaviourResult> {
  if (r.imageSize % patch !== 0) throw new Error(`patch ${patch} does not divide image size ${r.imageSize}`);
  const size = r.imageSize, C = r.channels, g = size / patch, tokens = g * g, n = perImage(r);
  const breeds = PROBE_BREEDS.filter((bv) => bv < breedCount).slice(0, LOCALITY_PROBES);
  const per = tokens + 1;
  const x = new Float32Array(breeds.length * per * n);
  const deltas: Float32Array[] = [];
  for (let i = 0; i < breeds.length; i++) {
    const base = seededNoise(PROBE_SEED + 600 + i, n);
    for (let k = 0; k <= tokens; k++) x.set(base, (i * per + k) * n);
    for (let k = 0; k < tokens; k++) {
      const d = seededNoise(PROBE_SEED + 700 + i * tokens + k, patch * patch * C);
      for (let q = 0; q < d.length; q++) d[q]! *= LOCALITY_AMPLITUDE;
      deltas.push(d);
      const [gy, gx] = [Math.floor(k / g), k % g];
      const off = (i * per + k + 1) * n;
      for (let c = 0; c < C; c++) for (let dy = 0; dy < patch; dy++) for (let dx = 0; dx < patch; dx++) {
        x[off + c * size * size + (gy * patch + dy) * size + gx * patch + dx]! += d[(c * patch + dy) * patch + dx]!;
      }
    }
  }
  const v = await call(r, x, Array.from({ length: breeds.length * per }, () => t), breeds.flatMap((bv) => Array.from({ length: per }, () => bv)));
  const finite = allFinite(v);
  let worst = Infinity;
  let w = { breed: -1, patch: -1, ownShare: NaN, otherShare: NaN, otherPatch: -1, inPatch: NaN };
  let minOwnOverOther = Infinity, sumAlign = 0;
  const energy = new Float64Array(tokens);
  for (let i = 0; i < breeds.length; i++) {
    const vb = (i * per) * n;
    for (let k = 0; k < tokens; k++) {
      const vk = (i * per + k + 1) * n;
      const d = deltas[i * tokens + k]!;
      const [gy, gx] = [Math.floor(k / g), k % g];
      energy.fill(0);
      let dd = 0, inDot = 0; // dx is zero outside patch k: <dv, dx> is the sum inside it
      for (let c = 0; c < C; c++) for (let y = 0; y < size; y++) for (let xx = 0; xx < size; xx++) {
        const idx = c * size * size + y * size + xx;
        const dv = v[vk + idx]! - v[vb + idx]!;
        energy[Math.floor(y / patch) * g + Math.floor(xx / patch)]! += dv * dv;
        if (Math.floor(y / patch) === gy && Math.floor(xx / patch) === gx) {
          const di = d[(c * patch + (y - gy * patch)) * patch + (xx - gx * patch)]!;
          inDot += dv * di;
          dd += di * di;
        }
      }
      let all = 0, other = 0, otherK = -1;
      for (let j = 0; j < tokens; j++) { all += energy[j]!; if (j !== k && energy[j]! > other) { other = energy[j]!; otherK = j; } }
      const own = energy[k]!;
      const align = all > 0 && dd > 0 ? -inDot / Math.sqrt(all * dd) : 0;
      const inPatch = own > 0 && dd > 0 ? -inDot / Math.sqrt(own * dd) : 0;
      sumAlign += align;
      minOwnOverOther = Math.min(minOwnOverOther, other > 0 ? own / other : Infinity);
      if (align < worst) {
        worst = align;
        w = { breed: breeds[i]!, patch: k, ownShare: all > 0 ? own / all : 0, otherShare: all > 0 ? other / all : 0, otherPatch: otherK, inPatch };
      }
    }
  }
  const metric = finite ? worst : NaN;
  const at = (k: number): string => `(${Math.floor(k / g)},${k % g})`;
  const where = !(w.ownShare > 0) && !(w.otherShare > 0)
    ? `the output does not respond to a change in patch ${at(w.patch)} at all (a zero or input-independent velocity)`
    : w.ownShare >= w.otherShare
    ? `the response to a change in patch ${at(w.patch)} stays in that patch (${(100 * w.ownShare).toFixed(1)}% of its energy) but at other pixels ` +
      `(alignment inside the patch ${w.inPatch.toFixed(3)}): the unpatchify orders the pixels of a patch differently from the patch embedding (a transposed or permuted patch)`
    : `the response to a change in patch ${at(w.patch)} lands mostly in patch ${at(w.otherPatch)} (${(100 * w.otherShare).toFixed(1)}% of its energy, ` +
      `${(100 * w.ownShare).toFixed(1)}% in its own patch): the unpatchify puts pixels in other places than the patch embedding read them from (a transposed or permuted unpatchify)`;
  return verdict('locality', metric, 'MIN_LOCALITY_ALIGNMENT', MIN_LOCALITY_ALIGNMENT, 'min',
    `${where}; at t=${t} the velocity is E[x1] - x, so a change in one patch must come back, negated, at the same pixels`,
    `worst alignment -<dv, dx>/(||dv|| ||dx||) over ${tokens} patch positions x ${breeds.length} probes at t=${t}`,
    {
      patch, tokens, t, probes: breeds.length, worstBreed: w.breed, worstPatch: at(w.patch), worstOwnShare: w.ownShare,
      worstBestOtherShare: w.otherShare, worstBestOtherPatch: at(w.otherPatch), worstInPatchAlignment: w.inPatch,
      meanAlignment: sumAlign / (breeds.length * tokens), minOwnOverBestOther: Number.isFinite(minOwnOverOther) ? minOwnOverOther : String(minOwnOverOther),
    });
}
