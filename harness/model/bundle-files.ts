/** File checks of a bundle: sha256 (streamed, cached per file version), .npy headers and sizes, PNG headers. */
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, existsSync, fstatSync, openSync, readFileSync, readSync, realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseNpyHeader } from '../core/npy.js';

/**
 * A bundle's manifest.json read without validation, for the callers that must go on when it is broken (time limits,
 * the judge's plan, the verdict's model identity): the parsed object, or null and why. loadBundle validates it and
 * names what is wrong; these readers only need a field or two and fall back when it is missing.
 */
export function readManifestLenient(dir: string): { manifest: Record<string, unknown> | null; why?: string } {
  const file = join(dir, 'manifest.json');
  try {
    const m: unknown = JSON.parse(readFileSync(file, 'utf8'));
    if (m && typeof m === 'object' && !Array.isArray(m)) return { manifest: m as Record<string, unknown> };
    return { manifest: null, why: `${file} is not a JSON object` };
  } catch (e) {
    return { manifest: null, why: `${file} unreadable (${(e as Error).message})` };
  }
}

// ---------------------------------------------------------------------------------------------------------
// File checks: sha256 (streamed, cached per file version), .npy headers and sizes, PNG headers

export const hashCache = new Map<string, string>();

export async function sha256File(path: string): Promise<string> {
  const st = statSync(path);
  const key = `${realpathSync(path)}:${st.size}:${st.mtimeMs}`;
  const cached = hashCache.get(key);
  if (cached) return cached;
  const hash = createHash('sha256');
  await new Promise<void>((res, rej) => {
    createReadStream(path, { highWaterMark: 1 << 20 })
      .on('data', (c) => hash.update(c))
      .on('error', rej)
      .on('end', () => res());
  });
  const hex = hash.digest('hex');
  hashCache.set(key, hex);
  return hex;
}

export function readHead(path: string, max: number): { head: Uint8Array; size: number } {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const head = new Uint8Array(Math.min(size, max));
    let n = 0;
    while (n < head.length) {
      const r = readSync(fd, head, n, head.length - n, n);
      if (r === 0) break;
      n += r;
    }
    return { head: head.subarray(0, n), size };
  } finally {
    closeSync(fd);
  }
}

export function readTail(path: string, size: number, n: number): Uint8Array {
  const fd = openSync(path, 'r');
  try {
    const buf = new Uint8Array(Math.min(n, size));
    readSync(fd, buf, 0, buf.length, size - buf.length);
    return buf;
  } finally {
    closeSync(fd);
  }
}

export function fmtShape(s: readonly number[]): string {
  return `[${s.join(',')}]`;
}

/** Checks a golden .npy: present, complete, and of the dtype and shape the bundle implies. */
export function checkNpyFile(
  dir: string,
  rel: string,
  namedBy: string,
  dtype: string,
  shape: number[] | null,
  issues: string[],
): number[] | null {
  const path = join(dir, rel);
  const label = `goldens/${rel} (named by goldens/index.json ${namedBy})`;
  if (!existsSync(path)) {
    issues.push(`${label}: missing; regenerate the goldens with reference/python/make_bundle.py`);
    return null;
  }
  const { head, size } = readHead(path, 65536 + 12);
  let h: ReturnType<typeof parseNpyHeader>;
  try {
    h = parseNpyHeader(head, `goldens/${rel}`);
  } catch (e) {
    issues.push(`${(e as Error).message} (named by goldens/index.json ${namedBy})`);
    return null;
  }
  const have = size - h.dataOffset;
  if (have < h.dataBytes) {
    issues.push(`goldens/${rel}: truncated: ${h.dtype} ${fmtShape(h.shape)} needs ${h.dataBytes} data bytes, the file has ${have}`);
    return null;
  }
  if (have > h.dataBytes)
    issues.push(`goldens/${rel}: ${have - h.dataBytes} unexpected bytes after the ${h.dtype} ${fmtShape(h.shape)} data`);
  const shapeOk = shape === null || (shape.length === h.shape.length && shape.every((d, i) => d < 0 || d === h.shape[i]));
  if (h.dtype !== dtype || !shapeOk) {
    const want = shape === null ? '' : ` ${fmtShape(shape.map((d) => (d < 0 ? NaN : d))).replace(/NaN/g, '*')}`;
    issues.push(`${label}: expected ${dtype}${want}, got ${h.dtype} ${fmtShape(h.shape)}`);
    return null;
  }
  return h.shape;
}

export const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
export const PNG_IEND = [0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82];

export function checkPng(dir: string, rel: string, namedBy: string, size: number, issues: string[]): void {
  const path = join(dir, rel);
  const label = `goldens/${rel} (named by goldens/index.json ${namedBy})`;
  if (!existsSync(path)) return void issues.push(`${label}: missing; regenerate the goldens with reference/python/make_bundle.py`);
  const { head, size: bytes } = readHead(path, 24);
  if (head.length < 24 || PNG_SIGNATURE.some((b, i) => head[i] !== b)) return void issues.push(`${label}: not a PNG file`);
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const w = view.getUint32(16);
  const h = view.getUint32(20);
  if (w !== size || h !== size) issues.push(`${label}: image is ${w}x${h}, the bundle's image size is ${size}x${size}`);
  const tail = readTail(path, bytes, 8);
  if (PNG_IEND.some((b, i) => tail[i] !== b)) issues.push(`goldens/${rel}: truncated PNG (no IEND chunk at the end)`);
}
