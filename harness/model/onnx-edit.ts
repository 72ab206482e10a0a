/**
 * Broken models made from a good ONNX, for tests that prove each check fails on the fault it targets and
 * for the mutant catalogue. Weight edits rewrite tensor payloads in place on a copy (same length); edits
 * that change lengths (renamed inputs, dtypes, fixed dims) re-encode only the messages on the path to the
 * change and splice every other byte range through unchanged.
 */
import {
  DTYPE_CODE,
  fields,
  findInitializer,
  inspectOnnx,
  OnnxError,
  OUTPUT_LAYER_BIAS,
  OUTPUT_LAYER_WEIGHT,
  type Field,
  type InitializerInfo,
  type OnnxInfo,
} from './onnx.js';
import { seededNoise } from '../core/noise.js';

export class MutateError extends Error {}

// ---------------------------------------------------------------------------------------------------------
// Finding the tensors a mutation targets (by the PyTorch parameter each holds, see onnx.ts roleOf)

function rolesList(info: OnnxInfo): string {
  return info.initializers
    .map((i) => i.role)
    .filter((r): r is string => r !== null)
    .slice(0, 40)
    .join(', ');
}

/** The initializer holding a parameter (`final_layer.linear.weight`) or with that exact name. */
export function requireTensor(info: OnnxInfo, nameOrRole: string): InitializerInfo {
  const init = findInitializer(info, nameOrRole);
  if (!init) {
    throw new MutateError(`${info.source}: no initializer named or holding '${nameOrRole}' (parameters found: ${rolesList(info)}, ...)`);
  }
  return init;
}

/** The final projection to patch pixels: weight (MatMul/Gemm initializer) and bias (null when there is none). */
export function outputLayerTensors(info: OnnxInfo): { weight: InitializerInfo; bias: InitializerInfo | null } {
  return { weight: requireTensor(info, OUTPUT_LAYER_WEIGHT), bias: findInitializer(info, OUTPUT_LAYER_BIAS) ?? null };
}

/** breed_embedder.embedding.weight: [num_classes + 1, D], the last row is the null token. */
export function breedEmbeddingTensor(info: OnnxInfo): InitializerInfo {
  return requireTensor(info, 'breed_embedder.embedding.weight');
}

export function posEmbedTensor(info: OnnxInfo): InitializerInfo {
  return requireTensor(info, 'pos_embed');
}

/** The weights of the timestep MLP (t_embedder.mlp.0 and .2), in layer order. */
export function timestepMlpTensors(info: OnnxInfo): InitializerInfo[] {
  const found = info.initializers
    .filter((i) => i.role !== null && /^t_embedder\.mlp\.\d+\.weight$/.test(i.role))
    .sort((a, b) => a.role!.localeCompare(b.role!));
  if (found.length === 0)
    throw new MutateError(`${info.source}: no t_embedder.mlp.N.weight initializer (parameters found: ${rolesList(info)})`);
  return found;
}

// ---------------------------------------------------------------------------------------------------------
// Weight edits (same length, on a copy)

export type Float32Edit = (data: Float32Array, dims: number[]) => void;
export type RawEdit = (data: Uint8Array, init: InitializerInfo) => void;

/**
 * Returns a copy of `bytes` where each named float32 initializer (by name or parameter role) was edited in
 * place by its function. Unknown names and non-float32 tensors are errors.
 */
export function withInitializers(bytes: Uint8Array, edits: Record<string, Float32Edit>, source = '<onnx bytes>'): Uint8Array {
  const info = inspectOnnx(bytes, source);
  const out = new Uint8Array(bytes); // a copy on a fresh, 0-offset buffer
  for (const [name, edit] of Object.entries(edits)) {
    const init = requireTensor(info, name);
    if (init.dtype !== 'float32' || (init.storage !== 'raw_data' && init.storage !== 'float_data')) {
      throw new MutateError(
        `${source}: initializer '${init.name}' is ${init.dtype} stored as ${init.storage}; withInitializers edits float32 data (use withRawInitializers)`,
      );
    }
    if (init.offset % 4 === 0) {
      edit(new Float32Array(out.buffer, init.offset, init.count), [...init.dims]);
    } else {
      const tmp = new Float32Array(out.slice(init.offset, init.offset + init.byteLength).buffer);
      edit(tmp, [...init.dims]);
      out.set(new Uint8Array(tmp.buffer), init.offset);
    }
  }
  return out;
}

/** Like withInitializers for any dtype: each edit gets the payload bytes (a view into the copy). */
export function withRawInitializers(bytes: Uint8Array, edits: Record<string, RawEdit>, source = '<onnx bytes>'): Uint8Array {
  const info = inspectOnnx(bytes, source);
  const out = new Uint8Array(bytes);
  for (const [name, edit] of Object.entries(edits)) {
    const init = requireTensor(info, name);
    if (init.storage !== 'raw_data')
      throw new MutateError(`${source}: initializer '${init.name}' is stored as ${init.storage}, not raw_data`);
    edit(out.subarray(init.offset, init.offset + init.byteLength), init);
  }
  return out;
}

/** ORIGIN failure 2: a zero-initialised final layer (float or uint8-quantized): the model returns velocity 0. */
export function zeroOutputLayer(bytes: Uint8Array, source = '<onnx bytes>'): Uint8Array {
  const info = inspectOnnx(bytes, source);
  const { weight, bias } = outputLayerTensors(info);
  const edits: Record<string, RawEdit> = {};
  for (const t of [weight, bias]) {
    if (!t) continue;
    if (t.dtype === 'float32') edits[t.name] = (d) => d.fill(0);
    else if (t.dtype === 'uint8' || t.dtype === 'int8') {
      // a quantized weight is zero when every element equals the zero point
      const zp = findInitializer(info, `${t.role!}_zero_point`);
      const zpValue = zp && zp.storage === 'raw_data' ? bytes[zp.offset]! : 0;
      edits[t.name] = (d) => d.fill(zpValue);
    } else throw new MutateError(`${source}: cannot zero output-layer tensor '${t.name}' of dtype ${t.dtype}`);
  }
  return withRawInitializers(bytes, edits, source);
}

/**
 * Breed embedding rows re-drawn as at initialisation (normal, std 0.02, as reference/python/tinydit/model.py; seeded
 * per row): the shipped model whose labels beyond 0 and 1 never reached training, so those breeds are drawn alike.
 */
export function breedRowsUntrained(bytes: Uint8Array, rows: number[], seed: number, source = '<onnx bytes>'): Uint8Array {
  const t = breedEmbeddingTensor(inspectOnnx(bytes, source));
  return withInitializers(
    bytes,
    {
      [t.name]: (d, dims) => {
        const w = dims[1]!;
        for (const r of rows) {
          if (r < 0 || r >= dims[0]!) throw new MutateError(`${source}: breed row ${r} outside the ${dims[0]}-row embedding`);
          const z = seededNoise(seed + r, w);
          for (let e = 0; e < w; e++) d[r * w + e] = 0.02 * z[e]!;
        }
      },
    },
    source,
  );
}

/** Breed embedding row `to` made a copy of row `from`: the two breeds are drawn alike. */
export function breedRowCopied(bytes: Uint8Array, from: number, to: number, source = '<onnx bytes>'): Uint8Array {
  const t = breedEmbeddingTensor(inspectOnnx(bytes, source));
  return withInitializers(
    bytes,
    {
      [t.name]: (d, dims) => {
        const w = dims[1]!;
        if (Math.max(from, to) >= dims[0]!)
          throw new MutateError(`${source}: breed rows ${from}, ${to} outside the ${dims[0]}-row embedding`);
        d.copyWithin(to * w, from * w, (from + 1) * w);
      },
    },
    source,
  );
}

/** One non-finite value (NaN by default) at a flat index of a float32 initializer. */
export function injectNonFinite(bytes: Uint8Array, nameOrRole: string, index = 0, value = Number.NaN, source = '<onnx bytes>'): Uint8Array {
  return withInitializers(
    bytes,
    {
      [nameOrRole]: (d) => {
        if (index < 0 || index >= d.length)
          throw new MutateError(`${source}: index ${index} outside '${nameOrRole}' (${d.length} elements)`);
        d[index] = value;
      },
    },
    source,
  );
}

// ---------------------------------------------------------------------------------------------------------
// A minimal protobuf writer: re-encode the messages on a path, splice everything else through unchanged

export function encodeVarint(value: number): Uint8Array {
  if (!Number.isInteger(value)) throw new MutateError(`varint must be an integer, got ${value}`);
  let big = BigInt.asUintN(64, BigInt(value));
  const out: number[] = [];
  do {
    let b = Number(big & 0x7fn);
    big >>= 7n;
    if (big > 0n) b |= 0x80;
    out.push(b);
  } while (big > 0n);
  return Uint8Array.from(out);
}

type Chunks = Uint8Array[];
const enc = new TextEncoder();

function chunksLength(chunks: Chunks): number {
  return chunks.reduce((n, c) => n + c.length, 0);
}

function concat(chunks: Chunks): Uint8Array {
  const out = new Uint8Array(chunksLength(chunks));
  let p = 0;
  for (const c of chunks) {
    out.set(c, p);
    p += c.length;
  }
  return out;
}

function lenField(field: number, body: Chunks): Chunks {
  return [encodeVarint(field * 8 + 2), encodeVarint(chunksLength(body)), ...body];
}

function stringField(field: number, value: string): Chunks {
  return lenField(field, [enc.encode(value)]);
}

function varintField(field: number, value: number): Chunks {
  return [encodeVarint(field * 8), encodeVarint(value)];
}

/**
 * Re-emits the fields of message bytes[start, end): `edit` returns the replacement encoding of a field
 * (tag included), [] to drop it, or undefined to keep its original bytes (spliced, not copied).
 */
function rewrite(
  bytes: Uint8Array,
  start: number,
  end: number,
  source: string,
  what: string,
  edit: (f: Field) => Chunks | undefined,
): Chunks {
  const out: Chunks = [];
  let keepFrom = -1;
  let keepTo = -1;
  for (const f of fields(bytes, start, end, source, what)) {
    const r = edit(f);
    if (r === undefined) {
      if (keepFrom < 0) keepFrom = f.tagStart;
      keepTo = f.end;
      continue;
    }
    if (keepFrom >= 0) out.push(bytes.subarray(keepFrom, keepTo));
    keepFrom = -1;
    out.push(...r);
  }
  if (keepFrom >= 0) out.push(bytes.subarray(keepFrom, keepTo));
  return out;
}

const dec = new TextDecoder();
function fieldString(bytes: Uint8Array, f: Field): string {
  return dec.decode(bytes.subarray(f.start, f.end));
}

/** Rewrites ModelProto.graph (field 7) with `graphEdit`, everything else unchanged. */
function rewriteModelGraph(bytes: Uint8Array, source: string, graphEdit: (f: Field) => Chunks | undefined): Uint8Array {
  return concat(
    rewrite(bytes, 0, bytes.length, source, 'ModelProto', (f) =>
      f.field === 7 ? lenField(7, rewrite(bytes, f.start, f.end, source, 'GraphProto', graphEdit)) : undefined,
    ),
  );
}

function valueInfoName(bytes: Uint8Array, f: Field, source: string): string {
  for (const vf of fields(bytes, f.start, f.end, source, 'ValueInfoProto')) if (vf.field === 1) return fieldString(bytes, vf);
  return '';
}

// ---------------------------------------------------------------------------------------------------------
// Length-changing mutations

/**
 * Renames graph inputs/outputs (`{noise: 'x'}`) everywhere they are referenced: graph input/output and
 * value_info entries, node inputs and outputs (subgraphs of If/Loop included), and a same-named initializer.
 * Models an app or export that uses other IO names (ORIGIN failure 7).
 */
export function renameIO(bytes: Uint8Array, mapping: Record<string, string>, source = '<onnx bytes>'): Uint8Array {
  const info = inspectOnnx(bytes, source);
  const io = new Set([...info.inputs, ...info.outputs].map((v) => v.name));
  const used = new Set<string>([...info.initializers.map((i) => i.name), ...info.nodes.flatMap((n) => [...n.inputs, ...n.outputs]), ...io]);
  for (const [from, to] of Object.entries(mapping)) {
    if (!io.has(from)) {
      throw new MutateError(
        `${source}: '${from}' is not a graph input or output (inputs: ${info.inputs.map((v) => v.name).join(', ')}; outputs: ${info.outputs.map((v) => v.name).join(', ')})`,
      );
    }
    if (to.length === 0 || (used.has(to) && mapping[to] === undefined)) {
      throw new MutateError(
        `${source}: cannot rename '${from}' to '${to}': ${to.length === 0 ? 'empty name' : 'the name is already used in the graph'}`,
      );
    }
  }
  const renamed = (s: string): string | undefined => (Object.hasOwn(mapping, s) ? mapping[s] : undefined);

  const valueInfo = (field: number, f: Field): Chunks | undefined => {
    const to = renamed(valueInfoName(bytes, f, source));
    if (to === undefined) return undefined;
    return lenField(
      field,
      rewrite(bytes, f.start, f.end, source, 'ValueInfoProto', (vf) => (vf.field === 1 ? stringField(1, to) : undefined)),
    );
  };
  const node = (f: Field): Chunks =>
    lenField(
      1,
      rewrite(bytes, f.start, f.end, source, 'NodeProto', (nf) => {
        if (nf.field === 1 || nf.field === 2) {
          const to = renamed(fieldString(bytes, nf));
          return to === undefined ? undefined : stringField(nf.field, to);
        }
        if (nf.field === 5) {
          return lenField(
            5,
            rewrite(bytes, nf.start, nf.end, source, 'AttributeProto', (af) =>
              af.field === 6 || af.field === 11
                ? lenField(af.field, rewrite(bytes, af.start, af.end, source, 'GraphProto', graph))
                : undefined,
            ),
          );
        }
        return undefined;
      }),
    );
  const graph = (g: Field): Chunks | undefined => {
    if (g.field === 1) return node(g);
    if (g.field === 11 || g.field === 12 || g.field === 13) return valueInfo(g.field, g);
    if (g.field === 5) {
      return lenField(
        5,
        rewrite(bytes, g.start, g.end, source, 'TensorProto', (tf) => {
          if (tf.field !== 8) return undefined;
          const to = renamed(fieldString(bytes, tf));
          return to === undefined ? undefined : stringField(8, to);
        }),
      );
    }
    return undefined;
  };
  return rewriteModelGraph(bytes, source, graph);
}

/** Rewrites TypeProto.tensor_type of the named graph inputs/outputs/value_info entries. */
function rewriteTensorType(
  bytes: Uint8Array,
  source: string,
  match: (name: string, field: number) => boolean,
  tensorEdit: (tt: Field) => Chunks | undefined,
): Uint8Array {
  return rewriteModelGraph(bytes, source, (g) => {
    if (g.field !== 11 && g.field !== 12 && g.field !== 13) return undefined;
    if (!match(valueInfoName(bytes, g, source), g.field)) return undefined;
    return lenField(
      g.field,
      rewrite(bytes, g.start, g.end, source, 'ValueInfoProto', (vf) =>
        vf.field !== 2
          ? undefined
          : lenField(
              2,
              rewrite(bytes, vf.start, vf.end, source, 'TypeProto', (tf) =>
                tf.field !== 1 ? undefined : lenField(1, rewrite(bytes, tf.start, tf.end, source, 'TypeProto.Tensor', tensorEdit)),
              ),
            ),
      ),
    );
  });
}

/**
 * Declares a graph input (or output) with another element type, e.g. breed as int32. The graph's nodes are
 * unchanged, so onnxruntime usually refuses to load the result: it is a mutant for static contract checks.
 */
export function setInputDtype(bytes: Uint8Array, name: string, dtype: string, source = '<onnx bytes>'): Uint8Array {
  const info = inspectOnnx(bytes, source);
  if (![...info.inputs, ...info.outputs].some((v) => v.name === name)) {
    throw new MutateError(`${source}: no graph input or output named '${name}'`);
  }
  const code = DTYPE_CODE[dtype];
  if (code === undefined) throw new MutateError(`unknown ONNX dtype '${dtype}' (known: ${Object.keys(DTYPE_CODE).join(', ')})`);
  return rewriteTensorType(
    bytes,
    source,
    (n, field) => n === name && field !== 13,
    (tt) => (tt.field === 1 ? varintField(1, code) : undefined),
  );
}

/**
 * Replaces the symbolic dimension `symbol` (default 'batch') by a fixed size in every graph input, output
 * and value_info: an export without dynamic axes. onnxruntime loads it; it then accepts only that batch.
 */
export function fixBatchDim(bytes: Uint8Array, size: number, symbol = 'batch', source = '<onnx bytes>'): Uint8Array {
  if (!Number.isInteger(size) || size < 1) throw new MutateError(`fixBatchDim: size must be a positive integer, got ${size}`);
  const info = inspectOnnx(bytes, source);
  if (![...info.inputs, ...info.outputs].some((v) => v.shape?.includes(symbol))) {
    throw new MutateError(`${source}: no graph input or output has a '${symbol}' dimension`);
  }
  return rewriteTensorType(
    bytes,
    source,
    () => true,
    (tt) => {
      if (tt.field !== 2) return undefined;
      return lenField(
        2,
        rewrite(bytes, tt.start, tt.end, source, 'TensorShapeProto', (d) => {
          if (d.field !== 1) return undefined;
          let param: string | null = null;
          for (const df of fields(bytes, d.start, d.end, source, 'Dimension')) if (df.field === 2) param = fieldString(bytes, df);
          return param === symbol ? lenField(1, varintField(1, size)) : undefined;
        }),
      );
    },
  );
}

/** Sets (or replaces) the default-domain opset version: an export made with another opset_version. */
export function setOpset(bytes: Uint8Array, version: number, source = '<onnx bytes>'): Uint8Array {
  inspectOnnx(bytes, source);
  return concat(
    rewrite(bytes, 0, bytes.length, source, 'ModelProto', (f) => {
      if (f.field !== 8) return undefined;
      let domain = '';
      for (const of of fields(bytes, f.start, f.end, source, 'OperatorSetIdProto')) if (of.field === 1) domain = fieldString(bytes, of);
      if (domain !== '' && domain !== 'ai.onnx') return undefined;
      return lenField(
        8,
        rewrite(bytes, f.start, f.end, source, 'OperatorSetIdProto', (of) => (of.field === 2 ? varintField(2, version) : undefined)),
      );
    }),
  );
}

/** Sets (value) or removes (null) one metadata_props entry: a model whose metadata contradicts its manifest. */
export function setMetadata(bytes: Uint8Array, key: string, value: string | null, source = '<onnx bytes>'): Uint8Array {
  inspectOnnx(bytes, source);
  const chunks = rewrite(bytes, 0, bytes.length, source, 'ModelProto', (f) => {
    if (f.field !== 14) return undefined;
    for (const mf of fields(bytes, f.start, f.end, source, 'StringStringEntryProto')) {
      if (mf.field === 1 && fieldString(bytes, mf) === key) return [];
    }
    return undefined;
  });
  if (value !== null) chunks.push(...lenField(14, [...stringField(1, key), ...stringField(2, value)]));
  return concat(chunks);
}

export { OnnxError };

/**
 * Keeps the first `rows` rows of a float32 initializer stored as raw_data (its first dimension cut, its payload
 * shortened): e.g. a breed embedding of 13 rows, the older export layout without a null row. Length-changing:
 * only the initializer's TensorProto is re-encoded. A value_info or graph input declaring the tensor's shape
 * would contradict it, and is refused.
 */
export function withInitializerRows(bytes: Uint8Array, nameOrRole: string, rows: number, source = '<onnx bytes>'): Uint8Array {
  const info = inspectOnnx(bytes, source);
  const init = requireTensor(info, nameOrRole);
  const dims = [...init.dims];
  if (init.dtype !== 'float32' || init.storage !== 'raw_data' || dims.length < 1) {
    throw new MutateError(
      `${source}: '${init.name}' is ${init.dtype} stored as ${init.storage} with dims [${dims}]; withInitializerRows cuts float32 raw_data tensors`,
    );
  }
  if (!Number.isInteger(rows) || rows < 1 || rows > dims[0]!)
    throw new MutateError(`${source}: cannot keep ${rows} of the ${dims[0]} rows of '${init.name}'`);
  const rowBytes = init.byteLength / dims[0]!;
  dims[0] = rows;
  let dimIndex = 0;
  let found = false;
  const out = rewriteModelGraph(bytes, source, (g) => {
    if ((g.field === 11 || g.field === 13) && valueInfoName(bytes, g, source) === init.name) {
      throw new MutateError(
        `${source}: '${init.name}' is also declared as a graph input or value_info; withInitializerRows does not rewrite those`,
      );
    }
    if (g.field !== 5) return undefined;
    let name = '';
    for (const tf of fields(bytes, g.start, g.end, source, 'TensorProto')) if (tf.field === 8) name = fieldString(bytes, tf);
    if (name !== init.name) return undefined;
    found = true;
    return lenField(
      5,
      rewrite(bytes, g.start, g.end, source, 'TensorProto', (tf) => {
        if (tf.field === 1 && tf.wire === 0) return varintField(1, dims[dimIndex++]!);
        if (tf.field === 1)
          return lenField(
            1,
            dims.map((d) => encodeVarint(d)),
          );
        if (tf.field === 9) return lenField(9, [bytes.subarray(tf.start, tf.start + rows * rowBytes)]);
        return undefined;
      }),
    );
  });
  if (!found) throw new MutateError(`${source}: initializer '${init.name}' not found in the graph's initializer list`);
  const check = requireTensor(inspectOnnx(out, source), init.name);
  if (check.dims[0] !== rows || check.byteLength !== rows * rowBytes)
    throw new MutateError(`${source}: cutting '${init.name}' to ${rows} rows failed (now [${check.dims}])`);
  return out;
}

/**
 * ORIGIN 1 at the graph level, output = input: an Identity node from the first graph input (the noise) to the graph
 * output, placed first; the node that produced the output now writes to `<output>__unused` (left dangling,
 * onnxruntime prunes it). For models whose weights cannot carry the echo (harness/mutants/edits.ts echoInput).
 */
export function outputFromInput(bytes: Uint8Array, source = '<onnx bytes>'): Uint8Array {
  const info = inspectOnnx(bytes, source);
  const input = info.inputs[0]?.name;
  const output = info.outputs[0]?.name;
  if (!input || !output) throw new MutateError(`${source}: needs a graph input and output to wire together`);
  const unused = `${output}__unused`;
  const identity = lenField(1, [
    ...stringField(1, input),
    ...stringField(2, output),
    ...stringField(3, 'echo_input_to_output'),
    ...stringField(4, 'Identity'),
  ]);
  let placed = false;
  let renamed = 0;
  const out = rewriteModelGraph(bytes, source, (f) => {
    if (f.field !== 1) return undefined; // GraphProto.node
    const node = rewrite(bytes, f.start, f.end, source, 'NodeProto', (nf) => {
      if (nf.field === 2 && fieldString(bytes, nf) === output) {
        renamed++;
        return stringField(2, unused);
      }
      return undefined;
    });
    const first = placed ? [] : identity;
    placed = true;
    return [...first, ...lenField(1, node)];
  });
  if (!placed || renamed !== 1)
    throw new MutateError(`${source}: expected one node writing '${output}', found ${renamed} (of ${info.nodes.length} nodes)`);
  return out;
}
