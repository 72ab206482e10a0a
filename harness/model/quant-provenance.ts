/**
 * Provenance of a quantized variant: was it made from the weights of the variant the manifest names in
 * `quantizedFrom`? The reference quantizer (reference/python/tinydit/quantize.py) replaces each large MatMul or
 * Gemm weight W by uint8 q with one scale s and zero point z per tensor, q = clip(round(W / s) + z, 0, 255),
 * where [lo, hi] = [min(W, 0), max(W, 0)], s = (hi - lo) / 255. So every dequantized weight (q - z) * s lies
 * within s / 2 of the float weight it came from (rounding; clipping never bites, lo and hi are W's own range),
 * and every initializer it left alone (biases, embeddings, norms) is bit-identical to the float one.
 * Weights of another checkpoint (raw instead of EMA, another export) break that bound on most elements, at
 * no cost in a forward pass: a Node-level check that needs no browser and no golden.
 *
 * The quantized node of float node N is named `${N}_q<k>_mmi` (MatMulInteger) and reads `${N}_q<k>_W`
 * (uint8), `${N}_q<k>_Ws` (float32 scale) and `${N}_q<k>_Wzp` (uint8 zero point); a Gemm with transB = 1
 * was transposed before quantization.
 */
import { float32Values, uint8Values, type InitializerInfo, type NodeInfo, type OnnxInfo } from './onnx.js';

/**
 * The largest |dequantized - float| allowed, in units of s / 2: 1 plus room for the float32 rounding of the
 * scale (the quantizer computes in float64 and stores s as float32: at most 255 * s * 2^-24 more) and of the
 * dequantization itself. Anything beyond is a weight that was not quantized from this float weight.
 */
export const QUANT_HALF_STEP_SLACK = 1 + 1e-4;

export interface QuantTensorProvenance {
  /** The float graph's node and weight the quantized tensor stands for. */
  node: string;
  weight: string;
  elements: number;
  scale: number;
  zeroPoint: number;
  /** max |(q - z) * s - W| / (s / 2) over the tensor. */
  worstHalfSteps: number;
  /** Elements beyond QUANT_HALF_STEP_SLACK half steps. */
  beyond: number;
}

export interface QuantProvenance {
  quantizedTensors: QuantTensorProvenance[];
  /** Quantized nodes whose float node or weight could not be found (named). */
  unmatched: string[];
  /** Float initializers compared byte for byte with the quantized graph's same-named ones. */
  sharedCompared: number;
  /** Those that differ (named). */
  sharedDiffering: string[];
  worstHalfSteps: number;
  worstTensor: string | null;
  elementsBeyond: number;
  elementsChecked: number;
}

const Q_SUFFIX = /^(.*)_q(\d+)_mmi$/;

function init(info: OnnxInfo, name: string): InitializerInfo | undefined {
  return info.initializers.find((i) => i.name === name);
}

function scalarFloat(bytes: Uint8Array, i: InitializerInfo, source: string): number {
  return float32Values(bytes, i, source)[0]!;
}

/** Compares a quantized graph with the float graph it should have been quantized from. */
export function quantProvenance(q: { info: OnnxInfo; bytes: Uint8Array }, f: { info: OnnxInfo; bytes: Uint8Array }): QuantProvenance {
  const fNodes = new Map<string, NodeInfo>(f.info.nodes.map((n) => [n.name, n]));
  const out: QuantProvenance = {
    quantizedTensors: [],
    unmatched: [],
    sharedCompared: 0,
    sharedDiffering: [],
    worstHalfSteps: 0,
    worstTensor: null,
    elementsBeyond: 0,
    elementsChecked: 0,
  };
  for (const node of q.info.nodes) {
    if (node.opType !== 'MatMulInteger') continue;
    const m = Q_SUFFIX.exec(node.name);
    const base = m ? `${m[1]}_q${m[2]}` : null;
    const fNode = m ? fNodes.get(m[1]!) : undefined;
    const qW = base ? init(q.info, `${base}_W`) : undefined;
    const qS = base ? init(q.info, `${base}_Ws`) : undefined;
    const qZ = base ? init(q.info, `${base}_Wzp`) : undefined;
    const fW = fNode ? init(f.info, fNode.inputs[1] ?? '') : undefined;
    if (
      !m ||
      !fNode ||
      !qW ||
      !qS ||
      !qZ ||
      !fW ||
      qW.dtype !== 'uint8' ||
      fW.dtype !== 'float32' ||
      qW.count !== fW.count ||
      qW.dims.length !== 2
    ) {
      out.unmatched.push(
        `${node.name} (${
          !m
            ? 'not named <float node>_q<k>_mmi'
            : !fNode
              ? `no float node ${m[1]}`
              : !qW || !qS || !qZ
                ? `missing ${base}_W/_Ws/_Wzp`
                : !fW
                  ? `float node ${fNode.name} has no weight initializer`
                  : `shapes or dtypes differ: ${qW.dtype}[${qW.dims.join(',')}] vs ${fW.dtype}[${fW.dims.join(',')}]`
        })`,
      );
      continue;
    }
    const transposed = fNode.opType === 'Gemm' && fNode.intAttributes.transB === 1;
    const [rows, cols] = qW.dims as [number, number];
    const w = float32Values(f.bytes, fW, f.info.source);
    const qv = uint8Values(q.bytes, qW);
    const s = scalarFloat(q.bytes, qS, q.info.source);
    const z = uint8Values(q.bytes, qZ)[0]!;
    const half = s / 2;
    let worst = 0;
    let beyond = 0;
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const deq = (qv[r * cols + c]! - z) * s;
        // quantized layout [in, out]; a transB Gemm keeps the float weight as [out, in]
        const fv = transposed ? w[c * rows + r]! : w[r * cols + c]!;
        const e = Math.abs(deq - fv) / half;
        if (!(e <= QUANT_HALF_STEP_SLACK)) beyond++;
        if (!(e <= worst)) worst = Number.isNaN(e) ? Infinity : e;
      }
    }
    out.quantizedTensors.push({
      node: fNode.name,
      weight: fW.role ?? fW.name,
      elements: qW.count,
      scale: s,
      zeroPoint: z,
      worstHalfSteps: worst,
      beyond,
    });
    out.elementsBeyond += beyond;
    out.elementsChecked += qW.count;
    if (out.worstTensor === null || worst > out.worstHalfSteps) {
      out.worstHalfSteps = worst;
      out.worstTensor = fW.role ?? fW.name;
    }
  }
  // the initializers the quantizer left alone must be the float graph's own, bit for bit
  for (const qi of q.info.initializers) {
    if (qi.dtype !== 'float32' || qi.count < 2) continue;
    const fi = init(f.info, qi.name);
    if (!fi) continue;
    out.sharedCompared++;
    const a = q.bytes.subarray(qi.offset, qi.offset + qi.byteLength);
    const b = f.bytes.subarray(fi.offset, fi.offset + fi.byteLength);
    if (a.length !== b.length || !a.every((x, k) => x === b[k])) out.sharedDiffering.push(qi.role ?? qi.name);
  }
  return out;
}
