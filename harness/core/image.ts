/** Tensor <-> image conversions, as the web app does them. */

/** One image [3,H,W] in [-1,1] (offset `index` in a batch) -> RGBA bytes: round((x+1)/2*255) clamped, alpha 255. */
export function tensorToRGBA(x: Float32Array, size: number, index = 0): Uint8ClampedArray {
  const n = size * size;
  const base = index * 3 * n;
  const out = new Uint8ClampedArray(n * 4);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 3; c++) {
      const v = Math.round(((x[base + c * n + i]! + 1) / 2) * 255);
      out[i * 4 + c] = Math.max(0, Math.min(255, v));
    }
    out[i * 4 + 3] = 255;
  }
  return out;
}
