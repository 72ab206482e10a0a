/**
 * PNG in and out (pngjs, Node only), pixel comparison of a generated image with its golden PNG (pixelmatch),
 * the evidence files a report shows (generated, golden, diff), an image-grid composer for reports, and captions
 * (a 3x5 pixel font) for evidence sheets that must say what each tile is.
 * Everything that touches the file system lives here; harness/checks/stats.ts and harness/checks/fidelity.ts stay pure.
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
    return {
      width: png.width,
      height: png.height,
      data: new Uint8ClampedArray(png.data.buffer, png.data.byteOffset, png.data.byteLength).slice(),
    };
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
    width,
    height,
    diffPixels,
    diffFraction: diffPixels / (width * height),
    exactDiffPixels,
    maxChannelDiff,
    meanAbsDiff: sum / (3 * width * height),
    worst,
    diff: { width, height, data: diff },
    identical: diffPixels === 0 && exactDiffPixels === 0,
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
  for (const [name, img] of [
    ['generated', generated],
    ['golden', golden],
    ['diff', diff],
  ] as const) {
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
  return name
    .replace(/[:,]/g, '_')
    .replace(/=/g, '-')
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .slice(0, 150);
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

/** Frame colours of evidence tiles (a verdict on the image, e.g. the judge's: docs/yardstick.md). */
export const FRAME = {
  green: [0, 160, 0],
  amber: [230, 150, 0],
  red: [255, 0, 0],
  magenta: [255, 0, 255],
} as const satisfies Record<string, readonly [number, number, number]>;

/** A copy of `img` with a frame `width` pixels wide in `rgb` around its edge. */
export function framed(img: RgbaImage, rgb: readonly [number, number, number], width = 2): RgbaImage {
  const out: RgbaImage = { width: img.width, height: img.height, data: Uint8ClampedArray.from(img.data) };
  for (let y = 0; y < img.height; y++) {
    for (let x = 0; x < img.width; x++) {
      if (x < width || y < width || x >= img.width - width || y >= img.height - width) out.data.set([...rgb, 255], (y * img.width + x) * 4);
    }
  }
  return out;
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

// ---------------------------------------------------------------------------------------------------------
// Captions: a 3x5 pixel font, so evidence PNGs can say what they show without a font library

/** Rows of 3 bits per glyph (top to bottom); lower case is drawn as upper case, anything else as '?'. */
const GLYPHS: Record<string, string> = {
  A: '010101111101101',
  B: '110101110101110',
  C: '011100100100011',
  D: '110101101101110',
  E: '111100110100111',
  F: '111100110100100',
  G: '011100101101011',
  H: '101101111101101',
  I: '111010010010111',
  J: '001001001101010',
  K: '101101110101101',
  L: '100100100100111',
  M: '101111111101101',
  N: '110101101101101',
  O: '010101101101010',
  P: '110101110100100',
  Q: '010101101110011',
  R: '110101110101101',
  S: '011100010001110',
  T: '111010010010010',
  U: '101101101101111',
  V: '101101101101010',
  W: '101101111111101',
  X: '101101010101101',
  Y: '101101010010010',
  Z: '111001010100111',
  '0': '111101101101111',
  '1': '010110010010111',
  '2': '111001111100111',
  '3': '111001111001111',
  '4': '101101111001001',
  '5': '111100111001111',
  '6': '111100111101111',
  '7': '111001001001001',
  '8': '111101111101111',
  '9': '111101111001111',
  ' ': '000000000000000',
  '>': '100010001010100',
  '-': '000000111000000',
  '.': '000000000000010',
  '/': '001001010100100',
  '?': '111001010000010',
};

/** Pixels a line of text takes at `scale` (3 wide + 1 space per character). */
export function textWidth(text: string, scale: number): number {
  return Math.max(0, text.length * 4 * scale - scale);
}

/** Height of one caption line at `scale` (5 high + 1 space). */
export const lineHeight = (scale: number): number => 6 * scale;

/** Draws `text` into `img` with its top-left corner at (x, y); pixels outside the image are dropped. */
export function drawText(img: RgbaImage, text: string, x: number, y: number, rgba: [number, number, number, number], scale = 2): void {
  [...text.toUpperCase()].forEach((ch, k) => {
    const g = GLYPHS[ch] ?? GLYPHS['?']!;
    for (let bit = 0; bit < 15; bit++) {
      if (g[bit] !== '1') continue;
      for (let dy = 0; dy < scale; dy++)
        for (let dx = 0; dx < scale; dx++) {
          const px = x + (k * 4 + (bit % 3)) * scale + dx;
          const py = y + Math.floor(bit / 3) * scale + dy;
          if (px >= 0 && py >= 0 && px < img.width && py < img.height) img.data.set(rgba, (py * img.width + px) * 4);
        }
    }
  });
}

/** Splits text into lines of at most `maxChars` at spaces (a longer word is cut). */
export function wrapText(text: string, maxChars: number): string[] {
  const lines: string[] = [];
  for (const word of text
    .split(/\s+/)
    .filter(Boolean)
    .map((w) => w.slice(0, maxChars))) {
    const last = lines[lines.length - 1];
    if (last !== undefined && last.length + 1 + word.length <= maxChars) lines[lines.length - 1] = `${last} ${word}`;
    else lines.push(word);
  }
  return lines;
}

export interface CaptionedRow {
  /** Written in the first cell of the row (wrapped to the cell's width). */
  label: string;
  /** Each tile with its caption lines below it (each wrapped to the tile's width). */
  tiles: Array<{ image: RgbaImage; caption: string[] }>;
}

/**
 * A sheet of labelled rows: the first cell of each row holds its label, the row's tiles follow with their captions
 * underneath (every tile of the same size; rows of different lengths leave the rest background).
 */
export function captionedRows(rows: CaptionedRow[], opts: { gap?: number; textScale?: number } = {}): RgbaImage {
  const first = rows.flatMap((r) => r.tiles)[0]?.image;
  if (!first) throw new PngError('captionedRows: no tiles');
  const scale = opts.textScale ?? 2;
  const ink: [number, number, number, number] = [17, 24, 39, 255];
  const maxChars = Math.max(1, Math.floor((first.width + scale) / (4 * scale)));
  const wrapped = (caption: string[]): string[] => caption.flatMap((l) => wrapText(l, maxChars));
  const lines = Math.max(1, ...rows.flatMap((r) => r.tiles.map((t) => wrapped(t.caption).length)));
  const cellH = first.height + scale + lines * lineHeight(scale);
  const blank = (): RgbaImage => ({ width: first.width, height: cellH, data: new Uint8ClampedArray(first.width * cellH * 4).fill(255) });
  const cells: Array<RgbaImage | null> = [];
  const cols = 1 + Math.max(...rows.map((r) => r.tiles.length));
  for (const r of rows) {
    const label = blank();
    wrapText(r.label, maxChars)
      .slice(0, Math.floor(cellH / lineHeight(scale)))
      .forEach((l, k) => drawText(label, l, 0, k * lineHeight(scale), ink, scale));
    cells.push(label);
    for (const t of r.tiles) {
      if (t.image.width !== first.width || t.image.height !== first.height) {
        throw new PngError(`captionedRows: a tile is ${t.image.width}x${t.image.height}, the first is ${first.width}x${first.height}`);
      }
      const cell = blank();
      for (let y = 0; y < first.height; y++)
        cell.data.set(t.image.data.subarray(y * first.width * 4, (y + 1) * first.width * 4), y * first.width * 4);
      wrapped(t.caption).forEach((l, k) => drawText(cell, l, 0, first.height + scale + k * lineHeight(scale), ink, scale));
      cells.push(cell);
    }
    for (let k = r.tiles.length; k < cols - 1; k++) cells.push(null);
  }
  return composeGrid(cells, rows.length, cols, { gap: opts.gap ?? 3 * scale });
}
