/** NumPy .npy (format 1.0/2.0/3.0) reader and writer for the dtypes the bundle uses. */

export type NpyDtype = 'float32' | 'float64' | 'int64' | 'int32' | 'uint8';
export type NpyData = Float32Array | Float64Array | BigInt64Array | Int32Array | Uint8Array;

export interface NpyArray {
  dtype: NpyDtype;
  shape: number[];
  data: NpyData;
}

const DESCR: Record<string, NpyDtype> = {
  '<f4': 'float32',
  '<f8': 'float64',
  '<i8': 'int64',
  '<i4': 'int32',
  '|u1': 'uint8',
  '<u1': 'uint8',
};
const DESCR_OF: Record<NpyDtype, string> = {
  float32: '<f4',
  float64: '<f8',
  int64: '<i8',
  int32: '<i4',
  uint8: '|u1',
};
const BYTES: Record<NpyDtype, number> = { float32: 4, float64: 8, int64: 8, int32: 4, uint8: 1 };

export class NpyError extends Error {}

/** Parses .npy bytes; `source` names the file in every error message. */
export function parseNpy(bytes: Uint8Array, source = '<buffer>'): NpyArray {
  const { dtype, shape, dataOffset: dataStart, dataBytes: need } = parseNpyHeader(bytes, source);
  if (bytes.length - dataStart < need) {
    throw new NpyError(
      `${source}: truncated: shape [${shape.join(',')}] ${dtype} needs ${need} data bytes, file has ${bytes.length - dataStart}`,
    );
  }
  // copy into a fresh, aligned buffer (a Node Buffer's slice() is a view into a shared pool)
  const raw = new Uint8Array(need);
  raw.set(bytes.subarray(dataStart, dataStart + need));
  const buf = raw.buffer;
  const data: NpyData =
    dtype === 'float32'
      ? new Float32Array(buf)
      : dtype === 'float64'
        ? new Float64Array(buf)
        : dtype === 'int64'
          ? new BigInt64Array(buf)
          : dtype === 'int32'
            ? new Int32Array(buf)
            : new Uint8Array(buf);
  return { dtype, shape, data };
}

export function encodeNpy(arr: NpyArray): Uint8Array {
  const shapeText = arr.shape.length === 1 ? `(${arr.shape[0]},)` : `(${arr.shape.join(', ')})`;
  let header = `{'descr': '${DESCR_OF[arr.dtype]}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const body = new Uint8Array(arr.data.buffer, arr.data.byteOffset, arr.data.byteLength);
  const out = new Uint8Array(10 + header.length + body.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0], 0);
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  out.set(body, 10 + header.length);
  return out;
}

export interface NpyHeader {
  dtype: NpyDtype;
  shape: number[];
  /** Byte offset where the element data begins. */
  dataOffset: number;
  /** Bytes the elements need (count * item size). */
  dataBytes: number;
}

/**
 * Parses only the header of a .npy file from its first bytes (a few KiB suffice), so a loader can check
 * dtype, shape and file size (truncation) without reading the data. `source` names the file in errors.
 */
export function parseNpyHeader(head: Uint8Array, source = '<buffer>'): NpyHeader {
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];
  if (head.length < 10 || magic.some((m, i) => head[i] !== m)) {
    throw new NpyError(`${source}: not a .npy file (bad magic); regenerate it with numpy.save`);
  }
  const major = head[6]!;
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  if (major !== 1 && head.length < 12) throw new NpyError(`${source}: truncated .npy header`);
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const headerStart = major === 1 ? 10 : 12;
  const dataOffset = headerStart + headerLen;
  if (dataOffset > head.length) throw new NpyError(`${source}: truncated .npy header`);
  const header = new TextDecoder('latin1').decode(head.subarray(headerStart, dataOffset));
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw new NpyError(`${source}: unreadable .npy header ${JSON.stringify(header.trim())}`);
  }
  const dtype = DESCR[descr];
  if (!dtype) throw new NpyError(`${source}: unsupported dtype ${descr} (supported: ${Object.keys(DESCR).join(', ')})`);
  if (fortran === 'True') throw new NpyError(`${source}: Fortran-ordered arrays are not supported; save C-ordered`);
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map(Number);
  const count = shape.reduce((a, b) => a * b, 1);
  return { dtype, shape, dataOffset, dataBytes: count * BYTES[dtype] };
}
