/**
 * Summaries of repeated timings: median and spread (interquartile range and median absolute deviation), the
 * figures the benchmark reports and compares. Quartiles by linear interpolation between order statistics
 * (numpy's default), so a handful of repeats gives stable numbers.
 */

export interface Summary {
  n: number;
  median: number;
  q1: number;
  q3: number;
  /** q3 - q1 */
  iqr: number;
  /** median |x - median| */
  mad: number;
  min: number;
  max: number;
  mean: number;
}

export class SummaryError extends Error {}

/** The p-quantile (0..1) of sorted values, linear interpolation. */
export function quantileSorted(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) throw new SummaryError('quantile of no values');
  const pos = (sorted.length - 1) * p;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  const a = sorted[lo]!;
  const b = sorted[hi]!;
  return a + (b - a) * (pos - lo);
}

/** Summary of samples; throws (naming `what`) on no samples or a non-finite one: a timing is never guessed. */
export function summarize(samples: readonly number[], what = 'samples'): Summary {
  if (samples.length === 0) throw new SummaryError(`${what}: no samples to summarise`);
  const bad = samples.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0) throw new SummaryError(`${what}: sample ${bad} is ${samples[bad]}, not a finite number`);
  const s = [...samples].sort((a, b) => a - b);
  const median = quantileSorted(s, 0.5);
  const q1 = quantileSorted(s, 0.25);
  const q3 = quantileSorted(s, 0.75);
  const dev = s.map((v) => Math.abs(v - median)).sort((a, b) => a - b);
  return {
    n: s.length,
    median,
    q1,
    q3,
    iqr: q3 - q1,
    mad: quantileSorted(dev, 0.5),
    min: s[0]!,
    max: s[s.length - 1]!,
    mean: s.reduce((a, b) => a + b, 0) / s.length,
  };
}

/** "12.3 ms ±0.4" style: median and IQR with a precision that suits the size. */
export function fmtMs(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (v >= 10_000) return `${(v / 1000).toFixed(1)} s`;
  if (v >= 100) return `${v.toFixed(0)} ms`;
  if (v >= 10) return `${v.toFixed(1)} ms`;
  return `${v.toFixed(2)} ms`;
}
