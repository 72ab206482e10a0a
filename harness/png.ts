/**
 * PNG in and out (pngjs, Node only), pixel comparison of a generated image with its golden PNG (pixelmatch),
 * the evidence files a report shows (generated, golden, diff), and an image-grid composer for reports.
 * Everything that touches the file system lives here; harness/stats.ts and harness/fidelity.ts stay pure.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import pixelmatch from 'pixelmatch';
import { PNG } from 'pngjs';
import { reportDir } from './config.js';

export interface RgbaImage {
  width: number;
  height: number;
  /** Row-major RGBA bytes. */
  data: Uint8ClampedArray;
}

export class PngError extends Error {}

export function encodePNG(img: RgbaImage): Uint8Array {
  if (img.data.length !== img.width * img.height * 4) {
    throw new PngError(`RGBA image ${img.width}x${img.height} needs ${img.width * img.height * 4} bytes, got ${img.data.length}`);
  }
  const png = new PNG({ width: img.width, height: img.height });
  png.data = Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength);
  return new Uint8Array(PNG.sync.write(png, { colorType: 6 }));
}

/** Decodes PNG bytes to RGBA (any PNG colour type; pngjs expands to RGBA). `source` names the file in errors. */
export function decodePNG(bytes: Uint8Array, source = '<buffer>'): RgbaImage {
  try {
    const png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    return { width: png.width, height: png.height, data: new Uint8ClampedArray(png.data.buffer, png.data.byteOffset, png.data.byteLength).slice() };
  } catch (e) {
    throw new PngError(`${source}: not a readable PNG (${(e as Error).message}); regenerate it with the bundle producer`);
  }
}

/** Reads a PNG file; a missing or unreadable file fails with the path and the fix. */
export function readPNG(path: string): RgbaImage {
  if (!existsSync(path)) throw new PngError(`${path}: missing; the bundle is incomplete — rebuild it with reference/python/make_bundle.py`);
  return decodePNG(readFileSync(path), path);
}

export function writePNG(path: string, img: RgbaImage): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, encodePNG(img));
}

// ---------------------------------------------------------------------------------------------------------
// Comparison

/**
 * pixelmatch's per-pixel colour threshold for a golden comparison: 0 counts every pixel whose colour differs
 * at all (the generated state and the golden come from the same float32 trajectory and the same rounding).
 */
export const GOLDEN_PIXEL_THRESHOLD = 0;

export interface ImageComparison {
  width: number;
  height: number;
  /** Pixels pixelmatch counts as different (anti-aliasing detection off). */
  diffPixels: number;
  diffFraction: number;
  /** Exact byte comparison over RGB: pixels whose RGB bytes differ at all, and the largest channel difference. */
  exactDiffPixels: number;
  maxChannelDiff: number;
  meanAbsDiff: number;
  /** Where the largest channel difference sits (-1 when identical). */
  worst: { x: number; y: number; channel: number; generated: number; golden: number } | null;
  /** The pixelmatch diff image (RGBA). */
  diff: RgbaImage;
  /** True when both counts are 0: pixel-identical. */
  identical: boolean;
}

export function compareImages(generated: RgbaImage, golden: RgbaImage, threshold = GOLDEN_PIXEL_THRESHOLD): ImageComparison {
  if (generated.width !== golden.width || generated.height !== golden.height) {
    throw new PngError(`image sizes differ: generated ${generated.width}x${generated.height}, golden ${golden.width}x${golden.height}`);
  }
  const { width, height } = golden;
  const diff = new Uint8ClampedArray(width * height * 4);
  const diffPixels = pixelmatch(generated.data, golden.data, diff, width, height, { threshold, includeAA: true });
  let exactDiffPixels = 0;
  let maxChannelDiff = 0;
  let sum = 0;
  let worst: ImageComparison['worst'] = null;
  for (let i = 0; i < width * height; i++) {
    let differs = false;
    for (let c = 0; c < 3; c++) {
      const g = generated.data[i * 4 + c]!;
      const r = golden.data[i * 4 + c]!;
      const d = Math.abs(g - r);
      sum += d;
      if (d > 0) differs = true;
      if (d > maxChannelDiff) {
        maxChannelDiff = d;
        worst = { x: i % width, y: Math.floor(i / width), channel: c, generated: g, golden: r };
      }
    }
    if (differs) exactDiffPixels++;
  }
  return {
    width, height, diffPixels, diffFraction: diffPixels / (width * height), exactDiffPixels, maxChannelDiff,
    meanAbsDiff: sum / (3 * width * height), worst, diff: { width, height, data: diff }, identical: diffPixels === 0 && exactDiffPixels === 0,
  };
}

/** Upscale factor of the evidence PNGs: 32 px images are unreadable at 1x in a report. */
export const EVIDENCE_SCALE = 8;

/**
 * Writes generated, golden and diff PNGs (upscaled) to <reportDir>/images/<caseName>/ and returns their paths
 * relative to the report folder, for recordCheck's artifacts. The case name is made file-system safe.
 */
export function saveComparison(caseName: string, generated: RgbaImage, golden: RgbaImage, diff: RgbaImage, dir = reportDir()): string[] {
  const folder = join(dir, 'images', safeName(caseName));
  const out: string[] = [];
  for (const [name, img] of [['generated', generated], ['golden', golden], ['diff', diff]] as const) {
    const p = join(folder, `${name}.png`);
    writePNG(p, upscale(img, EVIDENCE_SCALE));
    out.push(relative(dir, p));
  }
  return out;
}

/** Writes one image (upscaled) under <reportDir>/images/<caseName>/<name>.png; returns the relative path. */
export function saveEvidence(caseName: string, name: string, img: RgbaImage, scale = EVIDENCE_SCALE, dir = reportDir()): string {
  const p = join(dir, 'images', safeName(caseName), `${safeName(name)}.png`);
  writePNG(p, upscale(img, scale));
  return relative(dir, p);
}

/** `image:breed=Bombay,seed=7` -> `image_breed-Bombay_seed-7` (letters, digits, - _ . only). */
export function safeName(name: string): string {
  return name.replace(/[:,]/g, '_').replace(/=/g, '-').replace(/[^A-Za-z0-9._-]+/g, '-').slice(0, 150);
}

// ---------------------------------------------------------------------------------------------------------
// Grids

export function upscale(img: RgbaImage, scale: number): RgbaImage {
  if (!Number.isInteger(scale) || scale < 1) throw new PngError(`scale must be a positive integer, got ${scale}`);
  if (scale === 1) return img;
  const w = img.width * scale;
  const h = img.height * scale;
  const data = new Uint8ClampedArray(w * h * 4);
  for (let y = 0; y < h; y++) {
    const sy = Math.floor(y / scale);
    for (let x = 0; x < w; x++) {
      const s = (sy * img.width + Math.floor(x / scale)) * 4;
      data.set(img.data.subarray(s, s + 4), (y * w + x) * 4);
    }
  }
  return { width: w, height: h, data };
}

export interface GridOptions {
  /** Integer upscale of each tile. */
  scale?: number;
  /** Pixels between tiles (after scaling). */
  gap?: number;
  /** RGBA of the gaps and of missing tiles. */
  background?: [number, number, number, number];
}

/** rows x cols grid of equally sized RGBA tiles (row-major; null or missing tiles stay background). */
export function composeGrid(tiles: Array<RgbaImage | null | undefined>, rows: number, cols: number, opts: GridOptions = {}): RgbaImage {
  const scale = opts.scale ?? 1;
  const gap = opts.gap ?? 0;
  const bg = opts.background ?? [255, 255, 255, 255];
  const first = tiles.find((t): t is RgbaImage => !!t);
  if (!first) throw new PngError('composeGrid: no tiles');
  const tw = first.width * scale;
  const th = first.height * scale;
  const width = cols * tw + (cols - 1) * gap;
  const height = rows * th + (rows - 1) * gap;
  const data = new Uint8ClampedArray(width * height * 4);
  for (let i = 0; i < width * height; i++) data.set(bg, i * 4);
  tiles.slice(0, rows * cols).forEach((tile, k) => {
    if (!tile) return;
    if (tile.width !== first.width || tile.height !== first.height) {
      throw new PngError(`composeGrid: tile ${k} is ${tile.width}x${tile.height}, the first is ${first.width}x${first.height}`);
    }
    const t = upscale(tile, scale);
    const ox = (k % cols) * (tw + gap);
    const oy = Math.floor(k / cols) * (th + gap);
    for (let y = 0; y < th; y++) data.set(t.data.subarray(y * tw * 4, (y + 1) * tw * 4), ((oy + y) * width + ox) * 4);
  });
  return { width, height, data };
}
