/**
 * Behavioural checks that need no goldens: they hold for any ONNX export with the TinyDiT contract and
 * catch the ways the real project shipped broken generators (shared/ORIGIN.md): a zero velocity, a model
 * whose output is its input, a t-blind, breed-blind or position-blind model, guidance applied twice or at
 * a scale the manifest does not state, and a null token that is just another breed.
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
/** rms spread of v over the 13 breeds / ||mean||: good 4.4e-3 raw, 6.6e-3 guided [8.1e-3, 1.2e-2] vs 2e-16 with equal embedding rows; 1/10 of the lowest good. */
export const MIN_BREED_SPREAD = 4.4e-4;
/** ||v(πx) - π v(x)|| / ||v(x)||: good 2.04e-2 [3.33e-2] vs 2.2e-7 with pos_embed zeroed; 1/10 of the good. */
export const MIN_EQUIVARIANCE_RESIDUAL = 2.0e-3;
/** ||baked - (raw + guidance in TS)|| / ||guided||: good 2e-11 [1.4e-10] vs 4.1e-3 [9.8e-3] with the scale applied twice; 400x below that mutant. */
export const MAX_GUIDANCE_MISMATCH = 1e-5;
/** ||v(null) - v(Other)|| / ||v(Other)|| on the raw graph: good 1.89e-3 [5.8e-3] vs 0 with row 13 = row 12; 1/10 of the good. */
export const MIN_NULL_DISTINCT = 1.9e-4;

// ---------------------------------------------------------------------------------------------------------
// Probes: deterministic inputs built from the shared seeded noise (no goldens)

/** Seed base of the behaviour probes (any fixed value; recorded so a failure can be reproduced). */
export const PROBE_SEED = 9001;
/** Probe breeds: Abyssinian, Bombay, Persian (kept below the manifest's breed count). */
const PROBE_BREEDS = [0, 3, 7];
/** Probe times: the start, the middle and near the end of the trajectory. */
const PROBE_TIMES = [0.0, 0.5, 0.9];

export interface BehaviourResult {
  /** Check name: nonzero, not-input, depends-on-t, depends-on-breed, depends-on-position, guidance-once, null-token. */
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

/** ORIGIN 3: breed labels never reached training: the same velocity whatever the breed. */
export async function checkDependsOnBreed(r: VelocityRunner, breedCount: number, t = 0.5): Promise<BehaviourResult> {
  const n = perImage(r);
  const one = probeNoise(r, 1, 200);
  const x = new Float32Array(breedCount * n);
  for (let k = 0; k < breedCount; k++) x.set(one, k * n);
  const breeds = Array.from({ length: breedCount }, (_, i) => i);
  const v = await call(r, x, breeds.map(() => t), breeds);
  const mean = new Float64Array(n);
  for (let k = 0; k < breedCount; k++) for (let i = 0; i < n; i++) mean[i]! += v[k * n + i]! / breedCount;
  let spread = 0;
  let mostK = -1, mostD = -1;
  for (let k = 0; k < breedCount; k++) {
    let d = 0;
    for (let i = 0; i < n; i++) { const e = v[k * n + i]! - mean[i]!; d += e * e; }
    spread += d / breedCount;
    if (d > mostD) { mostD = d; mostK = k; }
  }
  const metric = allFinite(v) ? Math.sqrt(spread) / (norm(mean) || 1) : NaN;
  return verdict('depends-on-breed', metric, 'MIN_BREED_SPREAD', MIN_BREED_SPREAD, 'min',
    'every breed gets (nearly) the same velocity: a breed-blind generator (labels did not reach training, or the breed embedding rows are all equal)',
    `rms spread across ${breedCount} breeds / ||mean v|| at t=${t}`, { t, mostDistinctBreed: mostK });
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
  breedCount: number): Promise<BehaviourResult> {
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
export async function checkNullTokenDistinct(raw: VelocityRunner, nullIndex: number, otherIndex: number): Promise<BehaviourResult> {
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
