/**
 * Same-length edits of graph constants and node attributes (what harness/model/onnx-edit.ts does for initializers):
 * a Constant's value (the t * 1000 of the timestep embedding, the baked guidance scale), a ConstantOfShape's
 * fill value (the null breed of the baked graph) and a Transpose's perm (the unpatchify). Each edit keeps every
 * byte length, so the file stays a valid ONNX; each finder asserts the value it expects, so a graph exported
 * differently fails with a message naming what it looked for instead of silently editing something else.
 */
import { fields, inspectOnnx, readVarint, type Field, type OnnxInfo } from '../model/onnx.js';

export class GraphEditError extends Error {}

const dec = new TextDecoder();
const text = (b: Uint8Array, f: Field): string => dec.decode(b.subarray(f.start, f.end));

/** A node of the top-level graph with the byte ranges of its attributes. */
export interface NodeBytes {
  name: string;
  opType: string;
  inputs: string[];
  outputs: string[];
  attributes: AttributeBytes[];
}

export interface AttributeBytes {
  name: string;
  /** AttributeProto.t (field 5): the tensor's raw_data range, when stored so. */
  tensor?: { dtype: number; dims: number[]; rawStart: number; rawEnd: number };
  /** AttributeProto.ints (field 8): each element's varint range. */
  ints?: { value: number; start: number; end: number }[];
}

function tensorBytes(bytes: Uint8Array, f: Field, source: string): AttributeBytes['tensor'] | undefined {
  let dtype = 0;
  const dims: number[] = [];
  let raw: Field | null = null;
  for (const tf of fields(bytes, f.start, f.end, source, 'TensorProto')) {
    if (tf.field === 2) dtype = tf.varint;
    else if (tf.field === 1 && tf.wire === 0) dims.push(tf.varint);
    else if (tf.field === 1 && tf.wire === 2) {
      for (let p = tf.start; p < tf.end; ) {
        const [v, n] = readVarint(bytes, p, tf.end, source);
        dims.push(v);
        p = n;
      }
    } else if (tf.field === 9) raw = tf;
  }
  return raw ? { dtype, dims, rawStart: raw.start, rawEnd: raw.end } : undefined;
}

function attributeBytes(bytes: Uint8Array, f: Field, source: string): AttributeBytes {
  const a: AttributeBytes = { name: '' };
  for (const af of fields(bytes, f.start, f.end, source, 'AttributeProto')) {
    if (af.field === 1) a.name = text(bytes, af);
    else if (af.field === 5) {
      const t = tensorBytes(bytes, af, source);
      if (t) a.tensor = t;
    } else if (af.field === 8) {
      a.ints ??= [];
      if (af.wire === 0) a.ints.push({ value: af.varint, start: af.start, end: af.end });
      else {
        for (let p = af.start; p < af.end; ) {
          const [v, n] = readVarint(bytes, p, af.end, source);
          a.ints.push({ value: v, start: p, end: n });
          p = n;
        }
      }
    }
  }
  return a;
}

/** The nodes of the top-level graph, in order, with where their attributes sit in the file. */
export function graphNodes(bytes: Uint8Array, source = '<onnx bytes>'): NodeBytes[] {
  const out: NodeBytes[] = [];
  for (const mf of fields(bytes, 0, bytes.length, source, 'ModelProto')) {
    if (mf.field !== 7) continue;
    for (const gf of fields(bytes, mf.start, mf.end, source, 'GraphProto')) {
      if (gf.field !== 1) continue;
      const n: NodeBytes = { name: '', opType: '', inputs: [], outputs: [], attributes: [] };
      for (const nf of fields(bytes, gf.start, gf.end, source, 'NodeProto')) {
        if (nf.field === 1) n.inputs.push(text(bytes, nf));
        else if (nf.field === 2) n.outputs.push(text(bytes, nf));
        else if (nf.field === 3) n.name = text(bytes, nf);
        else if (nf.field === 4) n.opType = text(bytes, nf);
        else if (nf.field === 5) n.attributes.push(attributeBytes(bytes, nf, source));
      }
      out.push(n);
    }
  }
  return out;
}

const FLOAT = 1;
const INT64 = 7;

/** A scalar-like constant (one element) produced by a Constant or ConstantOfShape node. */
export interface ScalarConstant {
  node: NodeBytes;
  dtype: 'float32' | 'int64';
  value: number;
  rawStart: number;
}

function scalarOf(bytes: Uint8Array, node: NodeBytes): ScalarConstant | null {
  if (node.opType !== 'Constant' && node.opType !== 'ConstantOfShape') return null;
  const t = node.attributes.find((a) => a.name === 'value')?.tensor;
  if (t?.dims.reduce((a, b) => a * b, 1) !== 1) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset + t.rawStart, t.rawEnd - t.rawStart);
  if (t.dtype === FLOAT && t.rawEnd - t.rawStart === 4)
    return { node, dtype: 'float32', value: view.getFloat32(0, true), rawStart: t.rawStart };
  if (t.dtype === INT64 && t.rawEnd - t.rawStart === 8)
    return { node, dtype: 'int64', value: Number(view.getBigInt64(0, true)), rawStart: t.rawStart };
  return null;
}

/** Every one-element float32/int64 constant of the graph. */
export function scalarConstants(bytes: Uint8Array, source = '<onnx bytes>'): ScalarConstant[] {
  return graphNodes(bytes, source)
    .map((n) => scalarOf(bytes, n))
    .filter((c): c is ScalarConstant => c !== null);
}

/** A copy of `bytes` with the constant's value replaced (same dtype, same length). */
export function withScalarConstant(bytes: Uint8Array, c: ScalarConstant, value: number): Uint8Array {
  const out = new Uint8Array(bytes);
  const view = new DataView(out.buffer, out.byteOffset + c.rawStart, c.dtype === 'float32' ? 4 : 8);
  if (c.dtype === 'float32') view.setFloat32(0, value, true);
  else view.setBigInt64(0, BigInt(value), true);
  return out;
}

function consumers(nodes: NodeBytes[], output: string): NodeBytes[] {
  return nodes.filter((n) => n.inputs.includes(output));
}

function only<T>(found: T[], what: string, source: string, seen: string): T {
  if (found.length !== 1)
    throw new GraphEditError(`${source}: expected exactly one ${what}, found ${found.length}${seen ? ` (${seen})` : ''}`);
  return found[0]!;
}

/** The factor of `t * 1000` in the timestep embedding: a float Constant feeding a Mul in the t_embedder scope. */
export function timestepScaleConstant(bytes: Uint8Array, source = '<onnx bytes>'): ScalarConstant {
  const nodes = graphNodes(bytes, source);
  const found = scalarConstants(bytes, source).filter(
    (c) =>
      c.dtype === 'float32' &&
      consumers(nodes, c.node.outputs[0]!).some((m) => m.opType === 'Mul' && /t_embedder\/Mul(_\d+)?$/.test(m.name)),
  );
  return only(
    found,
    'float constant multiplying the timestep in the t_embedder (t * 1000)',
    source,
    found.map((c) => `${c.node.name}=${c.value}`).join(', '),
  );
}

/** The baked guidance scale: the one float Constant of value `scale` that feeds a Mul (v_u + s (v_c - v_u)). */
export function guidanceScaleConstant(bytes: Uint8Array, scale: number, source = '<onnx bytes>'): ScalarConstant {
  const nodes = graphNodes(bytes, source);
  const found = scalarConstants(bytes, source).filter(
    (c) =>
      c.dtype === 'float32' &&
      Math.abs(c.value - scale) < 1e-6 &&
      consumers(nodes, c.node.outputs[0]!).some((m) => m.opType === 'Mul' && m.inputs.some((i) => /Sub/.test(i))),
  );
  return only(
    found,
    `float constant ${scale} multiplying (v_c - v_u) (the baked guidance scale)`,
    source,
    found.map((c) => c.node.name).join(', '),
  );
}

/** The null breed of the baked graph: the int64 ConstantOfShape/Constant of value `nullIndex` concatenated with `breed`. */
export function nullIndexConstant(bytes: Uint8Array, nullIndex: number, source = '<onnx bytes>'): ScalarConstant {
  const nodes = graphNodes(bytes, source);
  const found = scalarConstants(bytes, source).filter(
    (c) =>
      c.dtype === 'int64' &&
      c.value === nullIndex &&
      consumers(nodes, c.node.outputs[0]!).some((m) => m.opType === 'Concat' && m.inputs.includes('breed')),
  );
  return only(
    found,
    `int64 constant ${nullIndex} concatenated with the breed input (the unconditional breed of the baked graph)`,
    source,
    found.map((c) => c.node.name).join(', '),
  );
}

/** The unpatchify Transpose: the last Transpose with a 6-axis perm. */
export function unpatchifyTranspose(
  bytes: Uint8Array,
  source = '<onnx bytes>',
): { node: NodeBytes; perm: { value: number; start: number; end: number }[] } {
  const found = graphNodes(bytes, source).filter(
    (n) => n.opType === 'Transpose' && n.attributes.find((a) => a.name === 'perm')?.ints?.length === 6,
  );
  const node = found[found.length - 1];
  if (!node) throw new GraphEditError(`${source}: no Transpose with a 6-axis perm (the unpatchify (B,n,n,p,p,C) -> (B,C,n,p,n,p))`);
  return { node, perm: node.attributes.find((a) => a.name === 'perm')!.ints! };
}

/** A copy with the unpatchify perm replaced; every new value must encode in the same number of bytes. */
export function withUnpatchifyPerm(bytes: Uint8Array, perm: number[], source = '<onnx bytes>'): Uint8Array {
  const { node, perm: old } = unpatchifyTranspose(bytes, source);
  if (perm.length !== old.length)
    throw new GraphEditError(`${source}: ${node.name} has a ${old.length}-axis perm, got ${perm.length} values`);
  const out = new Uint8Array(bytes);
  perm.forEach((v, i) => {
    const slot = old[i]!;
    if (slot.end - slot.start !== 1 || v < 0 || v > 127)
      throw new GraphEditError(`${source}: perm value ${v} does not fit the 1-byte slot of ${node.name}`);
    out[slot.start] = v;
  });
  inspectOnnx(out, source); // still a readable model
  return out;
}

export type { OnnxInfo };
