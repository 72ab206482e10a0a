/**
 * The Euler sampler of TinyDiT's flow-matching ODE, one implementation for Node and browsers.
 * t runs from 0 (noise) to 1 (image): for i = 0..N-1, t = i/N, x += (1/N) v(x, t, breed).
 * Guidance is applied exactly once whatever the export: a baked graph is called once per step with the
 * breed; a raw graph is called with the conditional and the null branch in one batch and combined here.
 */
import { seededNoise } from './noise.js';

/** One model call on a batch: x [B,C,H,W], t [B], breed [B] -> velocity [B,C,H,W]. */
export type ModelCall = (x: Float32Array, t: Float32Array, breed: BigInt64Array, batch: number) => Promise<Float32Array>;

export type GuidanceMode = 'baked' | 'none';

export interface SamplerModel {
  call: ModelCall;
  /** 'baked': the graph returns guided velocity; 'none': raw velocity, guidance applied here. */
  guidance: GuidanceMode;
  /** For a baked graph: the scale inside it (from the manifest). */
  bakedScale?: number;
  nullIndex: number;
  channels: number;
  imageSize: number;
}

export interface StepEvent {
  /** 1-based step that has just completed. */
  step: number;
  totalSteps: number;
  /** The state after this step, [B,C,H,W] (a live view: copy it to keep it). */
  x: Float32Array;
  /** Milliseconds spent in model calls for this step. */
  modelMs: number;
}

export interface SampleRequest {
  breeds: number[];
  /** One noise seed per breed entry (same length as breeds). */
  seeds: number[];
  steps: number;
  cfgScale: number;
  /** Called after every step. */
  onStep?: (ev: StepEvent) => void | Promise<void>;
  /** Keep x_0..x_N: returns N+1 states per batch, each [B,C,H,W]. */
  keepTrajectory?: boolean;
  /** Teacher forcing: the state to feed at step i (x_i) instead of the sampler's own (per batch, [B,C,H,W]). */
  teacher?: (step: number) => Float32Array;
  /** Initial states instead of seeded noise. */
  initial?: Float32Array;
  /**
   * A velocity with NaN or Infinity: 'report' (default) lists the first such step of each batch element in
   * SampleResult.nonFinite and carries on; 'throw' stops with a SamplerError naming the step, t and breed.
   */
  onNonFinite?: 'report' | 'throw';
  /** Breed names for the 'throw' message (default: the index). */
  breedName?: (breed: number) => string;
}

/** The first step at which one batch element's velocity held a non-finite value. */
export interface NonFiniteVelocity {
  /** 1-based step (the call at t = (step - 1) / N). */
  step: number;
  totalSteps: number;
  t: number;
  /** Index in the batch and the breed index it was conditioned on. */
  batchIndex: number;
  breed: number;
  /** Non-finite values in that element's velocity at that step, and the first one (flat index within the image). */
  count: number;
  firstIndex: number;
  firstValue: 'NaN' | 'Infinity' | '-Infinity';
}

export interface SampleResult {
  x: Float32Array;
  trajectory: Float32Array[];
  /** With teacher forcing: the one-step prediction x_i + dt v(x_i) from each golden x_i (N entries). */
  oneStep: Float32Array[];
  modelMs: number;
  /** Batch elements whose velocity went non-finite, each at its first such step (empty when all stayed finite). */
  nonFinite: NonFiniteVelocity[];
}

export class SamplerError extends Error {}

/** 'velocity went non-finite at step 23 of 50 (t=0.44) for breed 3 (batch element 1): 3072 values, first NaN at index 0' */
export function describeNonFinite(n: NonFiniteVelocity, breedName: (breed: number) => string = String): string {
  return (
    `velocity went non-finite at step ${n.step} of ${n.totalSteps} (t=${n.t}) for breed ${breedName(n.breed)} ` +
    `(batch element ${n.batchIndex}): ${n.count} value(s), first ${n.firstValue} at flat index ${n.firstIndex}`
  );
}

/** Scans one step's velocity [B, perImage] and returns the batch elements holding non-finite values. */
function scanNonFinite(
  v: Float32Array,
  perImage: number,
  step: number,
  totalSteps: number,
  t: number,
  breeds: number[],
): NonFiniteVelocity[] {
  const out: NonFiniteVelocity[] = [];
  for (let b = 0; b < breeds.length; b++) {
    let count = 0;
    let firstIndex = -1;
    let first = 0;
    for (let k = b * perImage, end = (b + 1) * perImage; k < end; k++) {
      const x = v[k]!;
      if (x - x !== 0) {
        // NaN or +-Infinity, without a call per element
        if (count++ === 0) {
          firstIndex = k - b * perImage;
          first = x;
        }
      }
    }
    if (count > 0) {
      out.push({
        step,
        totalSteps,
        t,
        batchIndex: b,
        breed: breeds[b]!,
        count,
        firstIndex,
        firstValue: Number.isNaN(first) ? 'NaN' : first > 0 ? 'Infinity' : '-Infinity',
      });
    }
  }
  return out;
}

/** t_i = i/N computed in double, fed as float32 (as the web app's Float32Array does). */
export function timeGrid(steps: number): Float32Array {
  const t = new Float32Array(steps);
  for (let i = 0; i < steps; i++) t[i] = i / steps;
  return t;
}

export function initialNoise(seeds: number[], perImage: number): Float32Array {
  const x = new Float32Array(seeds.length * perImage);
  seeds.forEach((s, b) => x.set(seededNoise(s, perImage), b * perImage));
  return x;
}

/** v_u + s (v_c - v_u), computed in double and stored float32 like the web app. */
export function applyGuidance(vCond: Float32Array, vUncond: Float32Array, scale: number): Float32Array {
  const out = new Float32Array(vCond.length);
  for (let i = 0; i < out.length; i++) out[i] = vUncond[i]! + scale * (vCond[i]! - vUncond[i]!);
  return out;
}

/** One guided velocity evaluation for a batch, honouring the export's guidance mode. */
export async function guidedVelocity(
  model: SamplerModel,
  x: Float32Array,
  t: number,
  breeds: number[],
  cfgScale: number,
): Promise<Float32Array> {
  const b = breeds.length;
  if (model.guidance === 'baked') {
    if (model.bakedScale !== undefined && Math.abs(model.bakedScale - cfgScale) > 1e-6) {
      throw new SamplerError(
        `guidance ${cfgScale} asked of a graph with guidance ${model.bakedScale} baked in: ` +
          'a baked graph cannot change its scale, and applying guidance again on top would apply it twice; ' +
          'use the raw (--no-cfg) export for other scales',
      );
    }
    return model.call(x, new Float32Array(b).fill(t), BigInt64Array.from(breeds, BigInt), b);
  }
  if (cfgScale === 1.0) return model.call(x, new Float32Array(b).fill(t), BigInt64Array.from(breeds, BigInt), b);
  const x2 = new Float32Array(2 * x.length);
  x2.set(x, 0);
  x2.set(x, x.length);
  const br = new BigInt64Array(2 * b);
  breeds.forEach((v, i) => {
    br[i] = BigInt(v);
    br[b + i] = BigInt(model.nullIndex);
  });
  const v = await model.call(x2, new Float32Array(2 * b).fill(t), br, 2 * b);
  return applyGuidance(v.subarray(0, x.length), v.subarray(x.length), cfgScale);
}

export async function sample(model: SamplerModel, req: SampleRequest): Promise<SampleResult> {
  const { breeds, seeds, steps, cfgScale } = req;
  if (breeds.length !== seeds.length) throw new SamplerError(`breeds (${breeds.length}) and seeds (${seeds.length}) differ in length`);
  if (!Number.isInteger(steps) || steps < 1) throw new SamplerError(`steps must be a positive integer, got ${steps}`);
  const perImage = model.channels * model.imageSize * model.imageSize;
  const x = req.initial ? Float32Array.from(req.initial) : initialNoise(seeds, perImage);
  if (x.length !== breeds.length * perImage)
    throw new SamplerError(`initial state has ${x.length} values, expected ${breeds.length * perImage}`);
  const trajectory: Float32Array[] = req.keepTrajectory ? [Float32Array.from(x)] : [];
  const oneStep: Float32Array[] = [];
  const grid = timeGrid(steps);
  const dt = 1.0 / steps;
  let modelMs = 0;
  const nonFinite: NonFiniteVelocity[] = [];
  const seen = new Set<number>();
  for (let i = 0; i < steps; i++) {
    if (req.teacher) x.set(req.teacher(i));
    const t0 = performance.now();
    const v = await guidedVelocity(model, x, grid[i]!, breeds, cfgScale);
    const ms = performance.now() - t0;
    modelMs += ms;
    for (const n of scanNonFinite(v, perImage, i + 1, steps, i / steps, breeds)) {
      if (req.onNonFinite === 'throw') throw new SamplerError(describeNonFinite(n, req.breedName));
      if (!seen.has(n.batchIndex)) {
        seen.add(n.batchIndex);
        nonFinite.push(n);
      }
    }
    for (let k = 0; k < x.length; k++) x[k] = x[k]! + dt * v[k]!;
    if (req.teacher) oneStep.push(Float32Array.from(x));
    if (req.keepTrajectory) trajectory.push(Float32Array.from(x));
    if (req.onStep) await req.onStep({ step: i + 1, totalSteps: steps, x, modelMs: ms });
  }
  return { x, trajectory, oneStep, modelMs, nonFinite };
}
