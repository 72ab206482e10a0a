/**
 * onnxruntime-node adapter: opens a bundle variant (or mutated model bytes) as a velocity function with
 * the input/output names of the manifest's contract, and exposes it to the shared sampler
 * (harness/core/sampler.ts) as a SamplerModel. Every error names the model file and the fix.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import type { GuidanceMode, SamplerModel } from '../core/sampler.js';

/** The part of a bundle manifest this adapter reads (structurally compatible with harness/model/bundle.ts). */
export interface RuntimeManifest {
  variants: Record<string, { file: string; guidance: string; quantized?: boolean }>;
  contract: {
    inputs: { name: string }[];
    outputs: { name: string }[];
    imageSize: number;
    channels: number;
  };
  guidance: { scale: number; nullIndex: number };
}

export interface RuntimeBundle {
  dir: string;
  manifest: RuntimeManifest;
}

export interface RuntimeOptions {
  /** intra-op threads of the session (default: defaultThreads()). */
  threads?: number;
}

/** TINYDIT_ORT_THREADS, else 1 (the Node suites run two workers on two cores, one thread each). */
export function defaultThreads(): number {
  const env = process.env['TINYDIT_ORT_THREADS'];
  const n = env === undefined ? 1 : Number(env);
  if (!Number.isInteger(n) || n < 1) throw new RuntimeError(`TINYDIT_ORT_THREADS must be a positive integer, got '${env}'`);
  return n;
}

export class RuntimeError extends Error {}

/** A model opened in onnxruntime-node: one call = one velocity evaluation on a batch. */
export interface VelocityRunner {
  /** What was opened: the variant name or a description of mutated bytes. */
  label: string;
  /** The model file (or the source of mutated bytes), named in every error. */
  source: string;
  guidance: GuidanceMode;
  /** For a baked graph, the scale inside it per the manifest. */
  bakedScale?: number;
  nullIndex: number;
  channels: number;
  imageSize: number;
  /** x [B,C,H,W], t [B], breed [B] -> velocity [B,C,H,W]. */
  run(x: Float32Array, t: Float32Array, breed: BigInt64Array, batch: number): Promise<Float32Array>;
  release(): Promise<void>;
}

function asGuidance(g: string, source: string): GuidanceMode {
  if (g === 'baked' || g === 'none') return g;
  throw new RuntimeError(`${source}: manifest guidance '${g}' is neither 'baked' nor 'none'; fix the manifest's variants entry`);
}

/** Opens ONNX bytes with the manifest's contract and guidance mode. */
export async function openModelBytes(
  bytes: Uint8Array,
  manifest: RuntimeManifest,
  spec: {
    label: string;
    source: string;
    guidance: string;
  },
  opts: RuntimeOptions = {},
): Promise<VelocityRunner> {
  const { contract } = manifest;
  const [inX, inT, inB] = contract.inputs.map((i) => i.name);
  const outV = contract.outputs[0]?.name;
  if (!inX || !inT || !inB || !outV) {
    throw new RuntimeError(`${spec.source}: the manifest contract must name 3 inputs (noise, timestep, breed) and 1 output (velocity)`);
  }
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(bytes, {
      intraOpNumThreads: opts.threads ?? defaultThreads(),
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
    });
  } catch (e) {
    throw new RuntimeError(`${spec.source}: onnxruntime-node cannot load the model: ${(e as Error).message}`);
  }
  const missing = [inX, inT, inB].filter((n) => !session.inputNames.includes(n));
  if (missing.length > 0 || !session.outputNames.includes(outV)) {
    throw new RuntimeError(
      `${spec.source}: graph inputs [${session.inputNames.join(', ')}] / outputs [${session.outputNames.join(', ')}] ` +
        `do not match the contract inputs [${inX}, ${inT}, ${inB}] / output [${outV}]; re-export with the contract's input_names/output_names`,
    );
  }
  const { channels, imageSize } = contract;
  const perImage = channels * imageSize * imageSize;
  const guidance = asGuidance(spec.guidance, spec.source);
  return {
    label: spec.label,
    source: spec.source,
    guidance,
    ...(guidance === 'baked' ? { bakedScale: manifest.guidance.scale } : {}),
    nullIndex: manifest.guidance.nullIndex,
    channels,
    imageSize,
    async run(x, t, breed, batch) {
      if (x.length !== batch * perImage || t.length !== batch || breed.length !== batch) {
        throw new RuntimeError(
          `${spec.source}: batch ${batch} needs x ${batch * perImage}, t ${batch}, breed ${batch} values; ` +
            `got ${x.length}, ${t.length}, ${breed.length}`,
        );
      }
      const out = await session.run({
        [inX]: new ort.Tensor('float32', x, [batch, channels, imageSize, imageSize]),
        [inT]: new ort.Tensor('float32', t, [batch]),
        [inB]: new ort.Tensor('int64', breed, [batch]),
      });
      const v = out[outV];
      if (!v) throw new RuntimeError(`${spec.source}: no output '${outV}' returned`);
      const want = [batch, channels, imageSize, imageSize];
      if (v.type !== 'float32' || v.dims.length !== 4 || v.dims.some((d, i) => d !== want[i])) {
        throw new RuntimeError(
          `${spec.source}: output '${outV}' is ${v.type} [${v.dims.join(',')}], the contract says float32 [${want.join(',')}]`,
        );
      }
      return v.data as Float32Array;
    },
    release: () => session.release(),
  };
}

/** Opens a bundle variant ('guided', 'raw', 'quantized') from its file in the bundle directory. */
export async function openVariant(bundle: RuntimeBundle, variant: string, opts: RuntimeOptions = {}): Promise<VelocityRunner> {
  const v = bundle.manifest.variants[variant];
  if (!v) {
    throw new RuntimeError(
      `bundle ${bundle.dir}: no variant '${variant}' in manifest.json (has: ${Object.keys(bundle.manifest.variants).join(', ')})`,
    );
  }
  const path = join(bundle.dir, v.file);
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new RuntimeError(`${path}: cannot read variant '${variant}' (${(e as Error).message}); rebuild the bundle with make_bundle.py`);
  }
  return openModelBytes(bytes, bundle.manifest, { label: variant, source: path, guidance: v.guidance }, opts);
}

/** The shared sampler's view of a runner (guidance mode, baked scale and null index from the manifest). */
export function samplerModel(runner: VelocityRunner): SamplerModel {
  return {
    call: (x, t, breed, batch) => runner.run(x, t, breed, batch),
    guidance: runner.guidance,
    ...(runner.bakedScale !== undefined ? { bakedScale: runner.bakedScale } : {}),
    nullIndex: runner.nullIndex,
    channels: runner.channels,
    imageSize: runner.imageSize,
  };
}

/** One model call: x [B,C,H,W], t [B], breed [B] -> velocity [B,C,H,W]. */
export function runVelocity(
  runner: VelocityRunner,
  x: Float32Array,
  t: Float32Array,
  breed: BigInt64Array,
  batch: number,
): Promise<Float32Array> {
  return runner.run(x, t, breed, batch);
}
