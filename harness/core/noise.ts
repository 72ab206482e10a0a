/**
 * Seeded Gaussian noise, identical to the TinyDiT web app's generator: mulberry32 uniform draws turned
 * into normals by Box-Muller in pairs (u, v, each redrawn while 0), filled in NCHW order, stored float32.
 * The reference producer (reference/python/tinydit/noise.py) implements the same arithmetic.
 */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function seededNoise(seed: number, size: number): Float32Array {
  const out = new Float32Array(size);
  const random = mulberry32(seed);
  for (let i = 0; i < size; i += 2) {
    let u = 0;
    let v = 0;
    while (u === 0) u = random();
    while (v === 0) v = random();
    const mag = Math.sqrt(-2.0 * Math.log(u));
    out[i] = mag * Math.cos(2.0 * Math.PI * v);
    if (i + 1 < size) out[i + 1] = mag * Math.sin(2.0 * Math.PI * v);
  }
  return out;
}
