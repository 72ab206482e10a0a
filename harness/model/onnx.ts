/**
 * ONNX inspection without dependencies: a small reader of the protobuf wire format that walks ModelProto,
 * GraphProto, NodeProto, TensorProto and ValueInfoProto (field numbers from onnx/onnx.proto). Weights are
 * never decoded while parsing: each initializer records where its data lies in the file, so a 132 MB model
 * is scanned in place and tensors are read through views only when a check asks for them.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

export class OnnxError extends Error {}

/** Element types by TensorProto.DataType number. */
const DTYPES: Record<number, OnnxDtype> = {
  1: 'float32',
  2: 'uint8',
  3: 'int8',
  4: 'uint16',
  5: 'int16',
  6: 'int32',
  7: 'int64',
  8: 'string',
  9: 'bool',
  10: 'float16',
  11: 'float64',
  12: 'uint32',
  13: 'uint64',
  14: 'complex64',
  15: 'complex128',
  16: 'bfloat16',
};
export type OnnxDtype =
  | 'float32'
  | 'uint8'
  | 'int8'
  | 'uint16'
  | 'int16'
  | 'int32'
  | 'int64'
  | 'string'
  | 'bool'
  | 'float16'
  | 'float64'
  | 'uint32'
  | 'uint64'
  | 'complex64'
  | 'complex128'
  | 'bfloat16'
  | `onnx-type-${number}`;

export const DTYPE_CODE: Record<string, number> = Object.fromEntries(Object.entries(DTYPES).map(([k, v]) => [v, Number(k)]));
const ELEMENT_BYTES: Partial<Record<OnnxDtype, number>> = {
  float32: 4,
  uint8: 1,
  int8: 1,
  uint16: 2,
  int16: 2,
  int32: 4,
  int64: 8,
  bool: 1,
  float16: 2,
  float64: 8,
  uint32: 4,
  uint64: 8,
  complex64: 8,
  complex128: 16,
  bfloat16: 2,
};
const FLOAT_DTYPES: ReadonlySet<OnnxDtype> = new Set<OnnxDtype>(['float32', 'float16', 'float64', 'bfloat16']);
const QUANTIZED_DTYPES: ReadonlySet<OnnxDtype> = new Set<OnnxDtype>(['uint8', 'int8']);

export function dtypeName(code: number): OnnxDtype {
  return DTYPES[code] ?? `onnx-type-${code}`;
}

/** A dimension: a number (dim_value), a string (dim_param, symbolic), or '?' when neither is set. */
export type Dim = number | string;

export interface ValueInfo {
  name: string;
  /** null when the value has no tensor type (sequence, map, ...). */
  dtype: OnnxDtype | null;
  /** null when the type carries no shape at all. */
  shape: Dim[] | null;
}

export interface NodeInfo {
  opType: string;
  name: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  attributes: string[];
  /** Integer attributes (AttributeProto.i), by name: e.g. Gemm's transB. */
  intAttributes: Record<string, number>;
}

/** Where a tensor's elements are stored inside the ONNX file. */
export type TensorStorage = 'raw_data' | 'float_data' | 'double_data' | 'int32_data' | 'int64_data' | 'uint64_data' | 'external' | 'empty';

export interface InitializerInfo {
  name: string;
  dtype: OnnxDtype;
  dims: number[];
  /** Number of elements (product of dims). */
  count: number;
  /** Byte offset of the element payload within the file (raw_data, or a packed float/double field). */
  offset: number;
  /** Byte length of that payload. */
  byteLength: number;
  storage: TensorStorage;
  /** The model part it belongs to: `blocks.N`, `t_embedder`, `breed_embedder`, `final_layer`, `patch_embed`, `pos_embed`, or `other`. */
  group: string;
  /** The PyTorch parameter it holds when that can be told (e.g. `blocks.0.attn.qkv.weight`), else null. */
  role: string | null;
  /** Names of the nodes that read it. */
  consumers: string[];
}

export interface OnnxInfo {
  source: string;
  fileBytes: number;
  irVersion: number;
  /** Version of the default ('' / 'ai.onnx') operator set; null when the model imports none. */
  opset: number | null;
  opsets: { domain: string; version: number }[];
  producer: { name: string; version: string };
  /** Graph inputs that are not initializers (what a caller feeds). */
  inputs: ValueInfo[];
  outputs: ValueInfo[];
  valueInfoCount: number;
  metadata: Record<string, string>;
  opHistogram: Record<string, number>;
  nodes: NodeInfo[];
  initializers: InitializerInfo[];
  /** Elements of all floating-point initializers (float32/16/64, bfloat16). */
  parameterCount: number;
  /** Elements of int8/uint8 initializers of rank >= 1 (quantized weights; scalars are zero points). */
  quantizedWeightCount: number;
  /** Elements of weight tensors of rank >= 1, float or int8/uint8: the parameter count whether or not weights were quantized. */
  weightElements: number;
  /** weightElements grouped by model part (see InitializerInfo.group). */
  parametersPerBlock: Record<string, number>;
  /** True when the graph carries integer-quantized weights or quantization operators. */
  quantized: boolean;
}

// ---------------------------------------------------------------------------------------------------------
// Wire format reader

const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

export interface Field {
  field: number;
  wire: number;
  /** Offset of the tag (start of the whole field). */
  tagStart: number;
  /** Value: for LEN fields the payload range; for scalars the value's bytes. */
  start: number;
  end: number;
  /** Decoded value for varint fields (exact below 2^53; negative int64 decoded as negative). */
  varint: number;
}

/** Reads a varint at `pos`; returns [value, next position]. */
export function readVarint(bytes: Uint8Array, pos: number, limit: number, source: string): [number, number] {
  let value = 0;
  let mul = 1;
  const start = pos;
  for (let i = 0; i < 10; i++) {
    if (pos >= limit)
      throw new OnnxError(`${source}: truncated ONNX: a varint at byte ${start} runs past the end of its message (byte ${limit})`);
    const b = bytes[pos++]!;
    value += (b & 0x7f) * mul;
    if ((b & 0x80) === 0) {
      if (i === 9 || value >= 2 ** 63) {
        // a negative int64 (two's complement over 10 bytes): decode exactly through BigInt
        let big = 0n;
        for (let j = pos - 1; j >= start; j--) big = (big << 7n) | BigInt(bytes[j]! & 0x7f);
        return [Number(BigInt.asIntN(64, big)), pos];
      }
      return [value, pos];
    }
    mul *= 128;
  }
  throw new OnnxError(`${source}: corrupt ONNX: varint at byte ${start} is longer than 10 bytes`);
}

/** Iterates over the fields of a message occupying bytes[start, end). */
export function* fields(bytes: Uint8Array, start: number, end: number, source: string, what: string): Generator<Field> {
  let pos = start;
  while (pos < end) {
    const tagStart = pos;
    const [tag, p1] = readVarint(bytes, pos, end, source);
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (field === 0) throw new OnnxError(`${source}: corrupt ONNX: field number 0 at byte ${tagStart} in ${what}`);
    pos = p1;
    if (wire === WIRE_VARINT) {
      const [v, p2] = readVarint(bytes, pos, end, source);
      yield { field, wire, tagStart, start: pos, end: p2, varint: v };
      pos = p2;
    } else if (wire === WIRE_LEN) {
      const [len, p2] = readVarint(bytes, pos, end, source);
      if (p2 + len > end) {
        throw new OnnxError(
          `${source}: truncated ONNX: field ${field} of ${what} at byte ${tagStart} declares ${len} bytes ` +
            `but only ${end - p2} remain${end === bytes.length ? ' in the file' : ' in its message'}`,
        );
      }
      yield { field, wire, tagStart, start: p2, end: p2 + len, varint: len };
      pos = p2 + len;
    } else if (wire === WIRE_I64 || wire === WIRE_I32) {
      const n = wire === WIRE_I64 ? 8 : 4;
      if (pos + n > end)
        throw new OnnxError(`${source}: truncated ONNX: fixed-width field ${field} of ${what} at byte ${tagStart} runs past the end`);
      yield { field, wire, tagStart, start: pos, end: pos + n, varint: 0 };
      pos += n;
    } else {
      throw new OnnxError(`${source}: corrupt ONNX: unsupported wire type ${wire} for field ${field} of ${what} at byte ${tagStart}`);
    }
  }
}

const utf8 = new TextDecoder('utf-8');
function str(bytes: Uint8Array, f: Field): string {
  return utf8.decode(bytes.subarray(f.start, f.end));
}

/** Repeated integer field, packed (LEN) or not (VARINT). */
function pushInts(bytes: Uint8Array, f: Field, out: number[], source: string): void {
  if (f.wire === WIRE_VARINT) out.push(f.varint);
  else if (f.wire === WIRE_LEN) {
    let p = f.start;
    while (p < f.end) {
      const [v, next] = readVarint(bytes, p, f.end, source);
      out.push(v);
      p = next;
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Message parsers (ModelProto = 1 ir_version, 2 producer_name, 3 producer_version, 7 graph, 8 opset_import,
// 14 metadata_props; GraphProto = 1 node, 5 initializer, 11 input, 12 output, 13 value_info; ...)

interface RawTensor {
  name: string;
  dtype: OnnxDtype;
  dims: number[];
  offset: number;
  byteLength: number;
  storage: TensorStorage;
}

function parseTensor(bytes: Uint8Array, start: number, end: number, source: string): RawTensor {
  const t: RawTensor = { name: '', dtype: dtypeName(0), dims: [], offset: start, byteLength: 0, storage: 'empty' };
  let external = false;
  for (const f of fields(bytes, start, end, source, 'TensorProto')) {
    switch (f.field) {
      case 1:
        pushInts(bytes, f, t.dims, source);
        break;
      case 2:
        t.dtype = dtypeName(f.varint);
        break;
      case 8:
        t.name = str(bytes, f);
        break;
      case 9:
        t.storage = 'raw_data';
        t.offset = f.start;
        t.byteLength = f.end - f.start;
        break;
      case 4:
        if (f.wire === WIRE_LEN) {
          t.storage = 'float_data';
          t.offset = f.start;
          t.byteLength = f.end - f.start;
        }
        break;
      case 10:
        if (f.wire === WIRE_LEN) {
          t.storage = 'double_data';
          t.offset = f.start;
          t.byteLength = f.end - f.start;
        }
        break;
      case 5:
        t.storage = 'int32_data';
        t.offset = f.start;
        t.byteLength = f.end - f.start;
        break;
      case 7:
        t.storage = 'int64_data';
        t.offset = f.start;
        t.byteLength = f.end - f.start;
        break;
      case 11:
        t.storage = 'uint64_data';
        t.offset = f.start;
        t.byteLength = f.end - f.start;
        break;
      case 14:
        external = f.varint === 1;
        break;
      default:
        break;
    }
  }
  if (external) t.storage = 'external';
  return t;
}

function parseValueInfo(bytes: Uint8Array, start: number, end: number, source: string): ValueInfo {
  const v: ValueInfo = { name: '', dtype: null, shape: null };
  for (const f of fields(bytes, start, end, source, 'ValueInfoProto')) {
    if (f.field === 1) v.name = str(bytes, f);
    else if (f.field === 2) {
      for (const tf of fields(bytes, f.start, f.end, source, 'TypeProto')) {
        if (tf.field !== 1) continue; // 1 = tensor_type
        for (const tt of fields(bytes, tf.start, tf.end, source, 'TypeProto.Tensor')) {
          if (tt.field === 1) v.dtype = dtypeName(tt.varint);
          else if (tt.field === 2) {
            v.shape = [];
            for (const d of fields(bytes, tt.start, tt.end, source, 'TensorShapeProto')) {
              if (d.field !== 1) continue;
              let dim: Dim = '?';
              for (const df of fields(bytes, d.start, d.end, source, 'Dimension')) {
                if (df.field === 1) dim = df.varint;
                else if (df.field === 2) dim = str(bytes, df);
              }
              v.shape.push(dim);
            }
          }
        }
      }
    }
  }
  return v;
}

function parseNode(bytes: Uint8Array, start: number, end: number, source: string): NodeInfo {
  const n: NodeInfo = { opType: '', name: '', domain: '', inputs: [], outputs: [], attributes: [], intAttributes: {} };
  for (const f of fields(bytes, start, end, source, 'NodeProto')) {
    switch (f.field) {
      case 1:
        n.inputs.push(str(bytes, f));
        break;
      case 2:
        n.outputs.push(str(bytes, f));
        break;
      case 3:
        n.name = str(bytes, f);
        break;
      case 4:
        n.opType = str(bytes, f);
        break;
      case 7:
        n.domain = str(bytes, f);
        break;
      case 5:
        {
          let name: string | null = null;
          let int: number | null = null;
          for (const af of fields(bytes, f.start, f.end, source, 'AttributeProto')) {
            if (af.field === 1) name = str(bytes, af);
            else if (af.field === 3 && af.wire === WIRE_VARINT) int = af.varint;
          }
          if (name !== null) {
            n.attributes.push(name);
            if (int !== null) n.intAttributes[name] = int;
          }
        }
        break;
      default:
        break;
    }
  }
  return n;
}

/** Top-level fields of a ModelProto, checked for the ones every ONNX model has. */
function modelFields(bytes: Uint8Array, source: string): Field[] {
  if (bytes.length === 0) throw new OnnxError(`${source}: not an ONNX file: the file is empty`);
  let top: Field[];
  try {
    top = [...fields(bytes, 0, bytes.length, source, 'ModelProto')];
  } catch (e) {
    if (e instanceof OnnxError && looksLikeModelStart(bytes)) throw e;
    throw new OnnxError(
      `${source}: not an ONNX file: its bytes do not parse as a protobuf ModelProto ` +
        `(first bytes ${hexHead(bytes)}; ${(e as Error).message.replace(`${source}: `, '')})`,
    );
  }
  requireModelFields(
    top.map((f) => f.field),
    source,
    bytes.length,
  );
  return top;
}

/** ModelProto written by onnx/PyTorch begins with ir_version (field 1, varint): tag byte 0x08. */
function looksLikeModelStart(bytes: Uint8Array): boolean {
  return bytes[0] === 0x08;
}

function hexHead(bytes: Uint8Array): string {
  return [...bytes.subarray(0, 8)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
}

function requireModelFields(present: number[], source: string, size: number): void {
  const has = new Set(present);
  const missing = [
    [1, 'ir_version'],
    [7, 'graph'],
    [8, 'opset_import'],
  ]
    .filter(([n]) => !has.has(n as number))
    .map(([, w]) => w);
  if (missing.length > 0) {
    const partly = has.has(1) || has.has(7);
    throw new OnnxError(
      `${source}: ${partly ? 'incomplete or truncated ONNX' : 'not an ONNX file'}: ` +
        `no ${missing.join(', ')} in its ModelProto (${size} bytes)`,
    );
  }
}

// ---------------------------------------------------------------------------------------------------------
// Grouping initializers into model parts and naming the parameter each one holds

const GROUP_RE = /(?:^|[./])(blocks\.\d+|t_embedder|breed_embedder|final_layer|patch_embed|pos_embed)(?=[./_]|$)/;

function groupOf(text: string): string | null {
  return GROUP_RE.exec(text)?.[1] ?? null;
}

/** `/model/t_embedder/mlp/mlp.0/Gemm` -> `t_embedder.mlp.0` (the module that node belongs to). */
export function modulePathOfNode(nodeName: string): string | null {
  const parts = nodeName.split('/').filter((s) => s.length > 0);
  parts.pop(); // the op itself (MatMul, Gemm_3, ...)
  if (parts[0] === 'model') parts.shift();
  const kept: string[] = [];
  for (let i = 0; i < parts.length; i++) {
    const next = parts[i + 1];
    // torch scopes repeat a Sequential's name: mlp/mlp.0 stands for mlp.0
    if (next?.startsWith(parts[i]! + '.')) continue;
    kept.push(parts[i]!);
  }
  return kept.length > 0 ? kept.join('.') : null;
}

function roleOf(name: string, consumers: { node: NodeInfo; index: number }[]): string | null {
  // quantizer naming: <node name>_q<k>_W / _Ws / _Wzp
  const q = /^(.*)_q\d+_(W|Ws|Wzp)$/.exec(name);
  if (q) {
    const mod = modulePathOfNode(q[1]!);
    const suffix = q[2] === 'W' ? 'weight' : q[2] === 'Ws' ? 'weight_scale' : 'weight_zero_point';
    return mod ? `${mod}.${suffix}` : null;
  }
  if (!name.includes('::') && /^[A-Za-z_][\w.]*\.[\w.]+$/.test(name)) return name.replace(/^model\./, '');
  for (const { node, index } of consumers) {
    if (!['MatMul', 'Gemm', 'Conv'].includes(node.opType) || index === 0) continue;
    const mod = modulePathOfNode(node.name);
    if (mod) return `${mod}.${index === 1 ? 'weight' : 'bias'}`;
  }
  return null;
}

// ---------------------------------------------------------------------------------------------------------

/** Parses an ONNX file's structure. `source` names the file in every error. Weights are not copied. */
export function inspectOnnx(bytes: Uint8Array, source = '<onnx bytes>'): OnnxInfo {
  const top = modelFields(bytes, source);
  const info: OnnxInfo = {
    source,
    fileBytes: bytes.length,
    irVersion: 0,
    opset: null,
    opsets: [],
    producer: { name: '', version: '' },
    inputs: [],
    outputs: [],
    valueInfoCount: 0,
    metadata: {},
    opHistogram: {},
    nodes: [],
    initializers: [],
    parameterCount: 0,
    quantizedWeightCount: 0,
    weightElements: 0,
    parametersPerBlock: {},
    quantized: false,
  };
  const rawInputs: ValueInfo[] = [];
  const tensors: RawTensor[] = [];
  for (const f of top) {
    switch (f.field) {
      case 1:
        info.irVersion = f.varint;
        break;
      case 2:
        info.producer.name = str(bytes, f);
        break;
      case 3:
        info.producer.version = str(bytes, f);
        break;
      case 8: {
        let domain = '';
        let version = 0;
        for (const of of fields(bytes, f.start, f.end, source, 'OperatorSetIdProto')) {
          if (of.field === 1) domain = str(bytes, of);
          else if (of.field === 2) version = of.varint;
        }
        info.opsets.push({ domain, version });
        if (domain === '' || domain === 'ai.onnx') info.opset = version;
        break;
      }
      case 14: {
        let key = '';
        let value = '';
        for (const mf of fields(bytes, f.start, f.end, source, 'StringStringEntryProto')) {
          if (mf.field === 1) key = str(bytes, mf);
          else if (mf.field === 2) value = str(bytes, mf);
        }
        info.metadata[key] = value;
        break;
      }
      case 7:
        for (const g of fields(bytes, f.start, f.end, source, 'GraphProto')) {
          if (g.field === 1) info.nodes.push(parseNode(bytes, g.start, g.end, source));
          else if (g.field === 5) tensors.push(parseTensor(bytes, g.start, g.end, source));
          else if (g.field === 11) rawInputs.push(parseValueInfo(bytes, g.start, g.end, source));
          else if (g.field === 12) info.outputs.push(parseValueInfo(bytes, g.start, g.end, source));
          else if (g.field === 13) info.valueInfoCount++;
        }
        break;
      default:
        break;
    }
  }
  const initNames = new Set(tensors.map((t) => t.name));
  info.inputs = rawInputs.filter((v) => !initNames.has(v.name));

  const consumers = new Map<string, { node: NodeInfo; index: number }[]>();
  for (const node of info.nodes) {
    const key = node.domain && node.domain !== 'ai.onnx' ? `${node.domain}::${node.opType}` : node.opType;
    info.opHistogram[key] = (info.opHistogram[key] ?? 0) + 1;
    node.inputs.forEach((inp, index) => {
      if (!initNames.has(inp)) return;
      const list = consumers.get(inp) ?? [];
      list.push({ node, index });
      consumers.set(inp, list);
    });
    if (['MatMulInteger', 'DynamicQuantizeLinear', 'QLinearMatMul', 'DequantizeLinear'].includes(node.opType)) info.quantized = true;
  }

  for (const t of tensors) {
    const count = t.dims.reduce((a, b) => a * b, 1);
    const cons = consumers.get(t.name) ?? [];
    const role = roleOf(t.name, cons);
    const group =
      groupOf(t.name) ?? (role ? groupOf(role) : null) ?? cons.map((c) => groupOf(c.node.name)).find((g) => g !== null) ?? 'other';
    const elementBytes = ELEMENT_BYTES[t.dtype];
    if (t.storage === 'raw_data' && elementBytes !== undefined && t.byteLength !== count * elementBytes) {
      throw new OnnxError(
        `${source}: corrupt ONNX: initializer '${t.name}' has dims [${t.dims.join(',')}] ${t.dtype} ` +
          `(${count * elementBytes} bytes) but its raw_data holds ${t.byteLength} bytes`,
      );
    }
    info.initializers.push({ ...t, count, group, role, consumers: cons.map((c) => c.node.name) });
    const isFloat = FLOAT_DTYPES.has(t.dtype);
    const isQuant = QUANTIZED_DTYPES.has(t.dtype) && t.dims.length > 0;
    if (isFloat) info.parameterCount += count;
    if (isQuant) info.quantizedWeightCount += count;
    if ((isFloat || isQuant) && t.dims.length > 0) {
      info.weightElements += count;
      info.parametersPerBlock[group] = (info.parametersPerBlock[group] ?? 0) + count;
    }
  }
  if (info.quantizedWeightCount > 0) info.quantized = true;
  return info;
}

/**
 * Checks a file is a complete ONNX model without reading it whole: walks the top-level ModelProto fields
 * with positioned reads (the graph field, nearly the whole file, is skipped by its declared length).
 * Throws OnnxError naming the file when it is not ONNX or is truncated.
 */
export function probeOnnxFile(path: string): void {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    if (size === 0) throw new OnnxError(`${path}: not an ONNX file: the file is empty`);
    const buf = new Uint8Array(20);
    const first = new Uint8Array(8);
    readSync(fd, first, 0, first.length, 0);
    const present: number[] = [];
    let pos = 0;
    while (pos < size) {
      const n = readSync(fd, buf, 0, buf.length, pos);
      const head = buf.subarray(0, n);
      let tag: number, p1: number;
      try {
        [tag, p1] = readVarint(head, 0, head.length, path);
        const field = Math.floor(tag / 8);
        const wire = tag & 7;
        if (field === 0 || ![WIRE_VARINT, WIRE_I64, WIRE_LEN, WIRE_I32].includes(wire)) throw new OnnxError('bad tag');
        let next: number;
        if (wire === WIRE_VARINT) next = pos + readVarint(head, p1, head.length, path)[1];
        else if (wire === WIRE_LEN) {
          const [len, p2] = readVarint(head, p1, head.length, path);
          next = pos + p2 + len;
        } else next = pos + p1 + (wire === WIRE_I64 ? 8 : 4);
        if (next > size) {
          throw new OnnxError(
            `${path}: truncated ONNX: ModelProto field ${field} at byte ${pos} needs ${next - pos} bytes but the file ends at byte ${size}`,
          );
        }
        present.push(field);
        pos = next;
      } catch (e) {
        if (e instanceof OnnxError && e.message.includes('truncated ONNX: ModelProto')) throw e;
        if (present.length > 0 && present.includes(1)) {
          throw new OnnxError(`${path}: truncated or corrupt ONNX: unreadable ModelProto field at byte ${pos} of ${size}`);
        }
        throw new OnnxError(
          `${path}: not an ONNX file: its bytes do not parse as a protobuf ModelProto (bad field at byte ${pos}; the file begins ${hexHead(first)})`,
        );
      }
    }
    requireModelFields(present, path, size);
  } finally {
    closeSync(fd);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Reading tensors

export function findInitializer(info: OnnxInfo, nameOrRole: string): InitializerInfo | undefined {
  return info.initializers.find((i) => i.name === nameOrRole) ?? info.initializers.find((i) => i.role === nameOrRole);
}

/**
 * A float32 initializer's values: a view into `bytes` when the payload is 4-byte aligned, else a copy
 * (writes to a copy do not reach the file bytes; mutate.ts handles that).
 */
export function float32Values(bytes: Uint8Array, init: InitializerInfo, source = '<onnx bytes>'): Float32Array {
  if (init.dtype !== 'float32' || (init.storage !== 'raw_data' && init.storage !== 'float_data')) {
    throw new OnnxError(`${source}: initializer '${init.name}' is ${init.dtype} stored as ${init.storage}, not float32 data in the file`);
  }
  const abs = bytes.byteOffset + init.offset;
  if (abs % 4 === 0) return new Float32Array(bytes.buffer, abs, init.count);
  // a fresh copy: Buffer.slice (a Node Buffer is a Uint8Array) returns a view on the shared pool, not a copy
  const copy = new Uint8Array(init.byteLength);
  copy.set(bytes.subarray(init.offset, init.offset + init.byteLength));
  return new Float32Array(copy.buffer, 0, init.count);
}

export function uint8Values(bytes: Uint8Array, init: InitializerInfo): Uint8Array {
  return bytes.subarray(init.offset, init.offset + init.byteLength);
}

// ---------------------------------------------------------------------------------------------------------
// Weight sanity

export interface WeightSanity {
  /** Initializers holding NaN or +-Inf, with how many and the first flat index. */
  nonFinite: { name: string; role: string | null; count: number; firstIndex: number }[];
  /** Floating-point (or quantized: every element at its zero point) initializers whose elements are all zero. */
  allZero: string[];
  /** The final projection to patch pixels: its weight and bias (when found) are all zero: velocity is constant. */
  outputLayerZero: boolean;
  /** The output layer's weight alone is all zero: velocity no longer depends on the input (it equals the bias). */
  outputWeightZero: boolean;
  /** The tensors judged as the output layer (null when not found: the caller must fail closed). */
  outputLayer: { weight: string | null; bias: string | null };
  /** Tensors whose values were not examined (external data, unsupported dtypes). */
  unchecked: string[];
  checkedTensors: number;
  checkedElements: number;
}

/** Scans little-endian float32 bytes in place (no alignment needed): non-finite count, first index, all zero. */
function scanFloat32(bytes: Uint8Array, offset: number, count: number): { nonFinite: number; first: number; allZero: boolean } {
  let nonFinite = 0;
  let first = -1;
  let nonZero = 0;
  for (let i = 0, p = offset; i < count; i++, p += 4) {
    const b2 = bytes[p + 2]!;
    const b3 = bytes[p + 3]!;
    if ((b3 & 0x7f) === 0x7f && (b2 & 0x80) !== 0) {
      if (nonFinite === 0) first = i;
      nonFinite++;
    }
    nonZero |= bytes[p]! | bytes[p + 1]! | b2 | (b3 & 0x7f);
  }
  return { nonFinite, first, allZero: nonZero === 0 };
}

function scanHalf(bytes: Uint8Array, offset: number, count: number, bf16: boolean): { nonFinite: number; first: number; allZero: boolean } {
  let nonFinite = 0;
  let first = -1;
  let nonZero = 0;
  for (let i = 0, p = offset; i < count; i++, p += 2) {
    const h = bytes[p]! | (bytes[p + 1]! << 8);
    const exp = bf16 ? (h >> 7) & 0xff : (h >> 10) & 0x1f;
    if (exp === (bf16 ? 0xff : 0x1f)) {
      if (nonFinite === 0) first = i;
      nonFinite++;
    }
    nonZero |= h & 0x7fff;
  }
  return { nonFinite, first, allZero: nonZero === 0 };
}

function scanFloat64(bytes: Uint8Array, offset: number, count: number): { nonFinite: number; first: number; allZero: boolean } {
  const view = new DataView(bytes.buffer, bytes.byteOffset + offset, count * 8);
  let nonFinite = 0;
  let first = -1;
  let allZero = true;
  for (let i = 0; i < count; i++) {
    const v = view.getFloat64(i * 8, true);
    if (!Number.isFinite(v)) {
      if (nonFinite === 0) first = i;
      nonFinite++;
    }
    if (v !== 0) allZero = false;
  }
  return { nonFinite, first, allZero };
}

export const OUTPUT_LAYER_WEIGHT = 'final_layer.linear.weight';
export const OUTPUT_LAYER_BIAS = 'final_layer.linear.bias';

/** Checks every initializer's values: NaN/Inf, all-zero tensors, and a zeroed output layer. */
export function weightSanity(info: OnnxInfo, bytes: Uint8Array): WeightSanity {
  if (bytes.length !== info.fileBytes) {
    throw new OnnxError(`${info.source}: weightSanity was given ${bytes.length} bytes but the model was inspected from ${info.fileBytes}`);
  }
  const out: WeightSanity = {
    nonFinite: [],
    allZero: [],
    outputLayerZero: false,
    outputWeightZero: false,
    outputLayer: { weight: null, bias: null },
    unchecked: [],
    checkedTensors: 0,
    checkedElements: 0,
  };
  const zero = new Set<string>();
  for (const init of info.initializers) {
    const inFile = init.storage === 'raw_data' || init.storage === 'float_data' || init.storage === 'double_data';
    let scan: { nonFinite: number; first: number; allZero: boolean } | null = null;
    if (inFile && init.dtype === 'float32') scan = scanFloat32(bytes, init.offset, init.count);
    else if (inFile && init.dtype === 'float64') scan = scanFloat64(bytes, init.offset, init.count);
    else if (inFile && (init.dtype === 'float16' || init.dtype === 'bfloat16'))
      scan = scanHalf(bytes, init.offset, init.count, init.dtype === 'bfloat16');
    else if (init.storage === 'raw_data' && QUANTIZED_DTYPES.has(init.dtype)) {
      // a quantized weight is zero when every element equals its zero point
      const zpInit = init.role?.endsWith('.weight') ? findInitializer(info, init.role.replace(/weight$/, 'weight_zero_point')) : undefined;
      const zp = zpInit && zpInit.storage === 'raw_data' && zpInit.count === 1 ? bytes[zpInit.offset]! : 0;
      const data = uint8Values(bytes, init);
      let allZero = data.length > 0;
      for (let i = 0; i < data.length && allZero; i++) if (data[i] !== zp) allZero = false;
      scan = { nonFinite: 0, first: -1, allZero: allZero && init.dims.length > 0 };
    } else if (FLOAT_DTYPES.has(init.dtype)) {
      out.unchecked.push(init.name);
      continue;
    } else continue; // integer tensors (shapes, axes, indices) are not weights
    out.checkedTensors++;
    out.checkedElements += init.count;
    if (scan.nonFinite > 0) out.nonFinite.push({ name: init.name, role: init.role, count: scan.nonFinite, firstIndex: scan.first });
    if (scan.allZero && init.count > 0) {
      out.allZero.push(init.name);
      zero.add(init.name);
    }
  }
  const weight = info.initializers.find((i) => i.role === OUTPUT_LAYER_WEIGHT);
  const bias = info.initializers.find((i) => i.role === OUTPUT_LAYER_BIAS);
  out.outputLayer = { weight: weight?.name ?? null, bias: bias?.name ?? null };
  out.outputWeightZero = weight !== undefined && zero.has(weight.name);
  out.outputLayerZero = out.outputWeightZero && (bias === undefined || zero.has(bias.name));
  return out;
}

/** A short label for a tensor in messages: `onnx::MatMul_670 (final_layer.linear.weight)`. */
export function describeInitializer(info: OnnxInfo, name: string): string {
  const init = info.initializers.find((i) => i.name === name);
  return init?.role && init.role !== name.replace(/^model\./, '') ? `${name} (${init.role})` : name;
}

/** The role of the breed embedding table: [rows, D], one row per breed index the graph can look up. */
export const BREED_EMBEDDING = 'breed_embedder.embedding.weight';

/**
 * How many breed indices the graph can look up: the first dimension of its breed embedding table (null when the
 * graph has no initializer holding `breed_embedder.embedding.weight`). Read before running, so that a breed or
 * null index beyond it is a named failure instead of onnxruntime's Gather error.
 */
export function breedEmbeddingRows(info: OnnxInfo): number | null {
  const t = findInitializer(info, BREED_EMBEDDING);
  return t && t.dims.length === 2 ? t.dims[0]! : null;
}
