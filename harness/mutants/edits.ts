/**
 * Weight edits that break a good TinyDiT export the way the real project broke (README, "What the gate checks"), built on
 * harness/model/onnx-edit.ts (same-length initializer edits on a copy). Each works on the float variants and, where
 * the fault can be expressed on uint8 weights (per-tensor scale and zero point), on the quantized one, so a
 * mutant bundle can be broken in every variant as a broken checkpoint would be.
 */
import { mulberry32, seededNoise } from '../core/noise.js';
import {
  breedEmbeddingTensor,
  outputFromInput,
  outputLayerTensors,
  posEmbedTensor,
  requireTensor,
  timestepMlpTensors,
  withInitializers,
  withRawInitializers,
  type Float32Edit,
  type RawEdit,
} from '../model/onnx-edit.js';
import { parseNpyHeader } from '../core/npy.js';
import { findInitializer, inspectOnnx, type InitializerInfo, type OnnxInfo } from '../model/onnx.js';

export class EditError extends Error {}

/** Geometry of the export the edits need (from manifest identity.config). */
export interface ModelGeometry {
  patchSize: number;
  channels: number;
  embedDim: number;
  depth: number;
  /** manifest identity.config.prediction: what the network predicts (absent: velocity). */
  prediction?: 'velocity' | 'x';
}

function zeroPointOf(bytes: Uint8Array, info: OnnxInfo, t: InitializerInfo): number {
  const zp = findInitializer(info, `${t.role ?? t.name}_zero_point`);
  return zp && zp.storage === 'raw_data' ? bytes[zp.offset]! : 0;
}

/** Sets a weight (float32, or uint8 through its zero point) to zero. */
export function zeroWeight(bytes: Uint8Array, nameOrRole: string, source: string): Uint8Array {
  const info = inspectOnnx(bytes, source);
  const t = requireTensor(info, nameOrRole);
  if (t.dtype === 'float32')
    return withInitializers(
      bytes,
      {
        [t.name]: (d) => {
          d.fill(0);
        },
      },
      source,
    );
  if (t.dtype === 'uint8') {
    const zp = zeroPointOf(bytes, info, t);
    return withRawInitializers(
      bytes,
      {
        [t.name]: (d) => {
          d.fill(zp);
        },
      },
      source,
    );
  }
  throw new EditError(`${source}: cannot zero '${t.name}' of dtype ${t.dtype}`);
}

/** ORIGIN 3: every breed embedding row (null included) equal to row 0: the model cannot tell breeds apart. */
export function breedRowsEqual(bytes: Uint8Array, source: string): Uint8Array {
  const t = breedEmbeddingTensor(inspectOnnx(bytes, source));
  return withInitializers(
    bytes,
    {
      [t.name]: (d, dims) => {
        for (let r = 1; r < dims[0]!; r++) d.copyWithin(r * dims[1]!, 0, dims[1]!);
      },
    },
    source,
  );
}

/** Two breed embedding rows exchanged: asking for breed a draws breed b and the other way round. */
export function swapBreedRows(bytes: Uint8Array, a: number, b: number, source: string): Uint8Array {
  const t = breedEmbeddingTensor(inspectOnnx(bytes, source));
  return withInitializers(
    bytes,
    {
      [t.name]: (d, dims) => {
        const w = dims[1]!;
        if (Math.max(a, b) >= dims[0]!) throw new EditError(`${source}: breed rows ${a}, ${b} outside the ${dims[0]}-row embedding`);
        const row = d.slice(a * w, (a + 1) * w);
        d.copyWithin(a * w, b * w, (b + 1) * w);
        d.set(row, b * w);
      },
    },
    source,
  );
}

/** ORIGIN 4: no position embedding: the transformer is exactly patch-permutation-equivariant. */
export function posEmbedZeroed(bytes: Uint8Array, source: string): Uint8Array {
  return withInitializers(
    bytes,
    {
      [posEmbedTensor(inspectOnnx(bytes, source)).name]: (d) => {
        d.fill(0);
      },
    },
    source,
  );
}

/** ORIGIN 5 (extreme form): the timestep MLP's input weights zeroed: the time embedding is a constant. */
export function timestepInputZeroed(bytes: Uint8Array, source: string): Uint8Array {
  const first = timestepMlpTensors(inspectOnnx(bytes, source))[0]!;
  return zeroWeight(bytes, first.name, source);
}

/**
 * ORIGIN 1, output = input: every block made the identity (adaLN gates 0), patch embedding and LayerNorm made
 * linear (activations 1e-6, far below the LayerNorm eps), and the output layer routing each patch pixel back to
 * its place, so v = x exactly, whatever t and breed. Float variants only (the gain does not survive uint8).
 * Where the weights cannot carry it, the graph's output is wired to its noise input instead (outputFromInput: the
 * same v = x): a width below twice the patch values (the production model: 384 < 2 x 768), or an x-prediction head,
 * whose graph would turn an echoed x_hat = x_t into v = 0.
 */
export function echoInput(bytes: Uint8Array, g: ModelGeometry, source: string): Uint8Array {
  const info = inspectOnnx(bytes, source);
  const p = g.patchSize,
    C = g.channels,
    D = g.embedDim,
    P = p * p * C;
  if (2 * P > D || g.prediction === 'x') return outputFromInput(bytes, source);
  const tiny = 1e-6;
  const gain = Math.sqrt(1e-5) / tiny; // LayerNorm divides by sqrt(var + 1e-5) ~ sqrt(1e-5) for such tiny activations
  const zero: Float32Edit = (d) => {
    d.fill(0);
  };
  const edits: Record<string, Float32Edit> = {
    pos_embed: zero,
    'patch_embed.proj.bias': zero,
    // conv weight [D, C, p, p]: channel j < P copies input pixel j, channel P + j its negative (mean 0 over D)
    'patch_embed.proj.weight': (d) => {
      d.fill(0);
      for (let q = 0; q < P; q++) {
        d[q * P + q] = tiny;
        d[(P + q) * P + q] = -tiny;
      }
    },
    'final_layer.adaLN_modulation.1.weight': zero,
    'final_layer.adaLN_modulation.1.bias': zero,
    'final_layer.norm_final.weight': (d) => {
      d.fill(1);
    },
    'final_layer.norm_final.bias': zero,
  };
  for (let k = 0; k < g.depth; k++) {
    edits[`blocks.${k}.adaLN_modulation.1.weight`] = zero;
    edits[`blocks.${k}.adaLN_modulation.1.bias`] = zero;
  }
  const { weight, bias } = outputLayerTensors(info);
  edits[weight.name] = (d, dims) => {
    d.fill(0);
    const inputMajor = dims[0] === D && dims[1] === P; // MatMul [D, P]; a Gemm with transB holds [P, D]
    for (let q = 0; q < P; q++) {
      const c = Math.floor(q / (p * p)),
        py = Math.floor((q % (p * p)) / p),
        px = q % p;
      const o = (py * p + px) * C + c; // unpatchify order (p, p, C) within a token
      if (inputMajor) d[q * P + o] = gain;
      else d[o * D + q] = gain;
    }
  };
  if (bias) edits[bias.name] = zero;
  return withInitializers(bytes, edits, source);
}

/** Column (output unit) permutation of the output layer: unit o of the new layer is unit perm[o] of the old one. */
function permuteOutputUnits(bytes: Uint8Array, perm: (o: number) => number, g: ModelGeometry, source: string): Uint8Array {
  const info = inspectOnnx(bytes, source);
  const { weight, bias } = outputLayerTensors(info);
  const P = g.patchSize * g.patchSize * g.channels;
  const D = g.embedDim;
  const permute = <T extends Float32Array | Uint8Array>(d: T, dims: number[]): void => {
    const copy = d.slice();
    const inputMajor = dims[0] === D && dims[1] === P;
    if (!inputMajor && !(dims[0] === P && dims[1] === D))
      throw new EditError(`${source}: output layer '${weight.name}' has dims [${dims}], expected [${D},${P}] or [${P},${D}]`);
    for (let o = 0; o < P; o++) {
      const from = perm(o);
      for (let k = 0; k < D; k++) {
        if (inputMajor) d[k * P + o] = copy[k * P + from]!;
        else d[o * D + k] = copy[from * D + k]!;
      }
    }
  };
  const raw: Record<string, RawEdit> = {};
  if (weight.dtype === 'float32') {
    bytes = withInitializers(bytes, { [weight.name]: (d, dims) => permute(d, dims) }, source);
  } else if (weight.dtype === 'uint8') {
    raw[weight.name] = (d, init) => permute(d, [...init.dims]);
    bytes = withRawInitializers(bytes, raw, source);
  } else throw new EditError(`${source}: output layer '${weight.name}' is ${weight.dtype}`);
  if (bias)
    bytes = withInitializers(
      bytes,
      {
        [bias.name]: (d) => {
          const c = d.slice();
          for (let o = 0; o < P; o++) d[o] = c[perm(o)]!;
        },
      },
      source,
    );
  return bytes;
}

/**
 * RGB/BGR: the model works in BGR (patch embedding input channels and output layer channels swapped), so every
 * image it makes is the BGR version of a sample. Output unit o = (py * p + px) * C + c (unpatchify order).
 */
export function channelsSwapped(bytes: Uint8Array, g: ModelGeometry, source: string): Uint8Array {
  const C = g.channels;
  if (C !== 3) throw new EditError(`${source}: channel swap needs 3 channels, the config has ${C}`);
  const swap = (c: number): number => (c === 0 ? 2 : c === 2 ? 0 : c);
  const p = g.patchSize;
  bytes = withInitializers(
    bytes,
    {
      'patch_embed.proj.weight': (d, dims) => {
        const [D, Cin, kh, kw] = dims as [number, number, number, number];
        const copy = d.slice();
        for (let o = 0; o < D; o++)
          for (let c = 0; c < Cin; c++) {
            d.set(copy.subarray((o * Cin + swap(c)) * kh * kw, (o * Cin + swap(c) + 1) * kh * kw), (o * Cin + c) * kh * kw);
          }
      },
    },
    source,
  );
  return permuteOutputUnits(bytes, (o) => Math.floor(o / C) * C + swap(o % C), { ...g, patchSize: p }, source);
}

/** The output layer's map v -> a v + b (weight and bias scaled by a, bias shifted by b); uint8 weights via their scale. */
export function outputAffine(bytes: Uint8Array, a: number, b: number, source: string): Uint8Array {
  const info = inspectOnnx(bytes, source);
  const { weight, bias } = outputLayerTensors(info);
  if (!bias) throw new EditError(`${source}: the output layer has no bias to shift`);
  const edits: Record<string, Float32Edit> = {
    [bias.name]: (d) => {
      for (let i = 0; i < d.length; i++) d[i] = a * d[i]! + b;
    },
  };
  if (weight.dtype === 'float32')
    edits[weight.name] = (d) => {
      for (let i = 0; i < d.length; i++) d[i]! *= a;
    };
  else if (weight.dtype === 'uint8') {
    const scale = requireTensor(info, `${weight.role ?? weight.name}_scale`);
    edits[scale.name] = (d) => {
      d[0]! *= a;
    };
  } else throw new EditError(`${source}: output layer '${weight.name}' is ${weight.dtype}`);
  return withInitializers(bytes, edits, source);
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
/** Rounds a float32 to the nearest float16 (round half to even, overflow to Inf, subnormals kept) and back. */
export function roundToHalf(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  f32[0] = x;
  const bits = u32[0]!;
  const sign = bits >>> 31 ? -1 : 1;
  const a = Math.abs(x);
  if (a >= 65520) return sign * Infinity;
  const e = Math.max(Math.floor(Math.log2(a)), -14);
  const ulp = 2 ** (e - 10);
  const q = a / ulp;
  let r = Math.round(q);
  if (Math.abs(q - Math.trunc(q) - 0.5) < 1e-12 && r % 2 === 1) r -= 1; // ties to even
  return sign * r * ulp;
}

/** Every float32 initializer rounded to float16 and back: an export through fp16 (or a half-precision checkpoint). */
export function halfRoundTrip(bytes: Uint8Array, source: string): Uint8Array {
  const info = inspectOnnx(bytes, source);
  const edits: Record<string, Float32Edit> = {};
  for (const i of info.initializers) {
    if (i.dtype !== 'float32' || i.storage !== 'raw_data' || i.count < 2) continue; // scalars (quant scales) kept
    edits[i.name] = (d) => {
      for (let k = 0; k < d.length; k++) d[k] = roundToHalf(d[k]!);
    };
  }
  return withInitializers(bytes, edits, source);
}

/**
 * Every float weight tensor (more than one element) multiplied by (1 + rel * n), n a seeded standard normal per
 * element (harness/core/noise.ts): the drift of a different export, a different checkpoint or raw vs EMA weights.
 * The same seed on two variants gives the same perturbation of the same parameter (by role).
 */
export function relativeNoise(bytes: Uint8Array, rel: number, seed: number, source: string): Uint8Array {
  const info = inspectOnnx(bytes, source);
  const edits: Record<string, Float32Edit> = {};
  for (const i of info.initializers) {
    if (i.dtype !== 'float32' || i.storage !== 'raw_data' || i.count < 2) continue;
    const key = i.role ?? i.name;
    let h = seed >>> 0;
    for (let k = 0; k < key.length; k++) h = Math.imul(h ^ key.charCodeAt(k), 0x9e3779b1) >>> 0;
    edits[i.name] = (d) => {
      const n = seededNoise(h, d.length);
      for (let k = 0; k < d.length; k++) d[k]! *= 1 + rel * n[k]!;
    };
  }
  return withInitializers(bytes, edits, source);
}

/**
 * A float .npy (float32 or float64, little-endian) with every element multiplied by `factor`: a copy whose header
 * is kept byte for byte and whose data part is rewritten (float32 results rounded to float32). For golden files:
 * inflated noise floors, a perturbed expected output.
 */
export function scaleNpy(
  bytes: Uint8Array,
  factor: number,
  source: string,
  dtypes: readonly ('float32' | 'float64')[] = ['float32', 'float64'],
): Uint8Array {
  const h = parseNpyHeader(bytes, source);
  if (h.dtype !== 'float32' && h.dtype !== 'float64') throw new EditError(`${source}: ${h.dtype}, a float array was expected`);
  if (!dtypes.includes(h.dtype)) throw new EditError(`${source}: ${h.dtype}, expected ${dtypes.join(' or ')}`);
  if (bytes.length - h.dataOffset < h.dataBytes)
    throw new EditError(`${source}: truncated (${bytes.length - h.dataOffset} of ${h.dataBytes} data bytes)`);
  const out = new Uint8Array(bytes); // a copy
  const view = new DataView(out.buffer, out.byteOffset + h.dataOffset, h.dataBytes);
  if (h.dtype === 'float64') {
    for (let i = 0; i < h.dataBytes; i += 8) view.setFloat64(i, view.getFloat64(i, true) * factor, true);
  } else {
    for (let i = 0; i < h.dataBytes; i += 4) view.setFloat32(i, view.getFloat32(i, true) * factor, true);
  }
  return out;
}

export { mulberry32 };
