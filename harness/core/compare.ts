/**
 * Tensor comparison in the manner of NVIDIA Polygraphy: a pure function configured by tolerances that
 * returns statistics (how far off, where, by how much to move the tolerance), never a bare boolean.
 * One implementation for every suite (velocity, trajectory, behaviour) and for the browser page.
 */

/** Numeric data a comparison accepts. */
export type Numeric = ArrayLike<number>;

export interface CompareOptions {
  /** Shape of both tensors, e.g. [70, 3, 32, 32]; its product must equal the length of both arrays. */
  shape: number[];
  /** A name per axis, e.g. ['case', 'channel', 'y', 'x'] (defaults to axis0, axis1, ...). */
  axes?: string[];
  /** A label per index of the first axis (breed names, case ids) used in locations and per-case rows. */
  labels?: string[];
  /**
   * Absolute tolerance: one number, or one per index of the first axis (each case judged by its own
   * floor, as the bundle's tolerance policy asks).
   */
  atol?: number | Numeric;
  /**
   * Largest relative L2 error ||a - e|| / ||e|| allowed per index of the first axis (per case), e.g. the
   * quantized variant's profile. At least one of atol and relL2Max must be given.
   */
  relL2Max?: number;
  /** Relative tolerance (numpy.allclose rule: |a - e| <= atol + rtol * |e|); default 0. */
  rtol?: number;
  /** The noise floor behind atol (one or per first-axis index), reported only. */
  floor?: number | Numeric;
  /** Value range of the data, for PSNR; default [-1, 1] (the pixel and state range). */
  range?: [number, number];
  /** Relative error divides by max(|expected|, relDenominatorMin); only guards exact zeros. */
  relDenominatorMin?: number;
}

/** Where one element sits: flat index, index per axis and, for the first axis, its label. */
export interface ElementLocation {
  flat: number;
  index: number[];
  /** Axis name -> index (first axis: its label when labels were given). */
  named: Record<string, number | string>;
  actual: number;
  expected: number;
  absError: number;
  /** The tolerance that applied to this element (atol + rtol |e|). */
  allowed: number;
}

/** Statistics of one index along the first axis (one case of a batch). */
export interface CaseStats {
  index: number;
  label: string;
  maxAbs: number;
  meanAbs: number;
  relL2: number;
  atol: number;
  floor: number | null;
  nonFinite: number;
  pass: boolean;
}

export interface ComparisonStats {
  count: number;
  shape: number[];
  axes: string[];
  abs: { max: number; mean: number; median: number; p99: number };
  rel: { max: number; mean: number; median: number; p99: number };
  /** ||a - e||_2 / ||e||_2 over all elements. */
  relL2: number;
  cosine: number;
  /** 10 log10(peak^2 / MSE), peak = the range width; Infinity when identical. */
  psnr: number;
  /** NaN and +-Inf values in the actual tensor (each one fails the comparison). */
  nanCount: number;
  infCount: number;
  /** NaN/Inf in the expected tensor: a broken golden, also a failure. */
  expectedNonFinite: number;
  /** The element that decides the verdict: largest error relative to its tolerance (first non-finite wins). */
  worst: ElementLocation;
  /**
   * How far the deciding statistic sits from its bound (1.0 = exactly on it): the largest
   * (|a - e| - rtol |e|) / atol over elements, or with no atol the largest per-case rel L2 / relL2Max.
   */
  worstRatio: number;
  /** Smallest uniform atol (same rtol) that would have passed; Infinity when any value is non-finite. */
  minPassingAtol: number;
  /** Elements beyond their tolerance. */
  failing: number;
  /** Per index of the first axis. */
  perCase: CaseStats[];
  atol: number | number[] | null;
  rtol: number;
  relL2Max: number | null;
  pass: boolean;
}

export class CompareError extends Error {}

/** Default relative-error guard: far below float32 resolution of unit-scale values, it only avoids 0/0. */
export const REL_DENOMINATOR_MIN = 1e-12;

function perFirstAxis(v: number | Numeric | undefined, n: number, what: string): number[] | null {
  if (v === undefined) return null;
  if (typeof v === 'number') return new Array<number>(n).fill(v);
  if (v.length !== n) throw new CompareError(`${what} has ${v.length} entries, the first axis has ${n}`);
  return Array.from(v);
}

function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

/** Index per axis of a flat (C-order) index. */
/**
 * The tolerance rule, written once: the allowed |actual - golden| of an element is floorMultiple times its
 * reference noise floor (how much two correct runs differ there), but never below absMin (docs/bundle-format.md).
 */
export function toleranceBand(rule: { floorMultiple: number; absMin: number }, floor: number): number {
  return Math.max(rule.floorMultiple * floor, rule.absMin);
}

export function unravelIndex(flat: number, shape: number[]): number[] {
  const idx = new Array<number>(shape.length).fill(0);
  let rest = flat;
  for (let a = shape.length - 1; a >= 0; a--) {
    const d = shape[a]!;
    idx[a] = rest % d;
    rest = Math.floor(rest / d);
  }
  return idx;
}

export function compareTensors(actual: Numeric, expected: Numeric, opts: CompareOptions): ComparisonStats {
  const shape = opts.shape;
  const count = shape.reduce((a, b) => a * b, 1);
  if (actual.length !== count || expected.length !== count) {
    throw new CompareError(
      `shape [${shape.join(',')}] holds ${count} values; actual has ${actual.length}, expected has ${expected.length}`,
    );
  }
  if (count === 0) throw new CompareError('nothing to compare: empty tensors');
  const axes = opts.axes ?? shape.map((_, i) => `axis${i}`);
  if (axes.length !== shape.length) throw new CompareError(`${axes.length} axis names for a ${shape.length}-d shape`);
  const n0 = shape[0]!;
  const per = count / n0;
  if (opts.atol === undefined && opts.relL2Max === undefined)
    throw new CompareError('give atol, relL2Max or both: a comparison needs a criterion');
  const atols = perFirstAxis(opts.atol ?? Infinity, n0, 'atol')!;
  const relL2Max = opts.relL2Max ?? Infinity;
  const floors = perFirstAxis(opts.floor, n0, 'floor');
  if (opts.labels && opts.labels.length !== n0) throw new CompareError(`${opts.labels.length} labels, the first axis has ${n0}`);
  const rtol = opts.rtol ?? 0;
  const [lo, hi] = opts.range ?? [-1, 1];
  const peak = hi - lo;
  const relMin = opts.relDenominatorMin ?? REL_DENOMINATOR_MIN;

  const absErr = new Float64Array(count);
  const relErr = new Float64Array(count);
  let nan = 0,
    inf = 0,
    expBad = 0,
    failing = 0;
  let sumAbs = 0,
    sumRel = 0,
    sumSq = 0,
    dot = 0,
    na = 0,
    ne = 0;
  let worstFlat = -1,
    worstScore = -Infinity,
    minAtol = 0,
    relL2Failing = 0;
  const perCase: CaseStats[] = [];
  for (let c = 0; c < n0; c++) {
    const atol = atols[c]!;
    let cMax = 0,
      cSum = 0,
      cSq = 0,
      cNe = 0,
      cBad = 0,
      cFail = 0;
    for (let k = c * per; k < (c + 1) * per; k++) {
      const a = actual[k]!;
      const e = expected[k]!;
      if (!Number.isFinite(e)) expBad++;
      if (Number.isNaN(a)) nan++;
      else if (!Number.isFinite(a)) inf++;
      const finite = Number.isFinite(a) && Number.isFinite(e);
      const d = finite ? Math.abs(a - e) : Infinity;
      const allowed = atol + rtol * Math.abs(e);
      absErr[k] = d;
      relErr[k] = d / Math.max(Math.abs(e), relMin);
      const excess = d - rtol * Math.abs(e);
      if (excess > minAtol) minAtol = excess;
      const score = finite ? (atol === Infinity ? excess : atol > 0 ? excess / atol : excess > 0 ? Infinity : 0) : Infinity;
      if (score > worstScore || worstFlat < 0) {
        worstScore = score;
        worstFlat = k;
      }
      if (!(d <= allowed)) {
        failing++;
        cFail++;
      }
      if (!finite) {
        cBad++;
        continue;
      }
      sumAbs += d;
      sumRel += relErr[k]!;
      sumSq += d * d;
      dot += a * e;
      na += a * a;
      ne += e * e;
      if (d > cMax) cMax = d;
      cSum += d;
      cSq += d * d;
      cNe += e * e;
    }
    const cRelL2 = cBad > 0 ? Infinity : Math.sqrt(cSq) / Math.max(Math.sqrt(cNe), relMin);
    const relL2Ok = cRelL2 <= relL2Max;
    if (!relL2Ok) relL2Failing++;
    perCase.push({
      index: c,
      label: opts.labels?.[c] ?? String(c),
      maxAbs: cBad > 0 ? Infinity : cMax,
      meanAbs: cSum / per,
      relL2: cRelL2,
      atol,
      floor: floors ? floors[c]! : null,
      nonFinite: cBad,
      pass: cFail === 0 && relL2Ok && cBad === 0,
    });
  }
  const anyBad = nan + inf + expBad > 0;
  // With only a per-case rel L2 bound, the ratio that decides is the worst case's rel L2 over the bound.
  if (opts.atol === undefined) worstScore = Math.max(...perCase.map((c) => c.relL2)) / relL2Max;
  const sortedAbs = Float64Array.from(absErr).sort();
  const sortedRel = Float64Array.from(relErr).sort();
  const wIndex = unravelIndex(worstFlat, shape);
  const named: Record<string, number | string> = {};
  axes.forEach((name, i) => {
    named[name] = i === 0 && opts.labels ? opts.labels[wIndex[0]!]! : wIndex[i]!;
  });
  const wa = actual[worstFlat]!;
  const we = expected[worstFlat]!;
  const finiteCount = count - perCase.reduce((s, c) => s + c.nonFinite, 0);
  return {
    count,
    shape: [...shape],
    axes,
    abs: {
      max: sortedAbs[count - 1]!,
      mean: anyBad ? Infinity : sumAbs / count,
      median: quantile(sortedAbs, 0.5),
      p99: quantile(sortedAbs, 0.99),
    },
    rel: {
      max: sortedRel[count - 1]!,
      mean: anyBad ? Infinity : sumRel / count,
      median: quantile(sortedRel, 0.5),
      p99: quantile(sortedRel, 0.99),
    },
    relL2: anyBad ? Infinity : Math.sqrt(sumSq) / Math.max(Math.sqrt(ne), relMin),
    cosine: anyBad ? NaN : na === 0 || ne === 0 ? (na === ne ? 1 : 0) : dot / Math.sqrt(na * ne),
    psnr: anyBad || finiteCount === 0 ? -Infinity : sumSq === 0 ? Infinity : 10 * Math.log10((peak * peak) / (sumSq / count)),
    nanCount: nan,
    infCount: inf,
    expectedNonFinite: expBad,
    worst: {
      flat: worstFlat,
      index: wIndex,
      named,
      actual: wa,
      expected: we,
      absError: absErr[worstFlat]!,
      allowed: atols[wIndex[0]!]! + rtol * Math.abs(we),
    },
    worstRatio: worstScore,
    minPassingAtol: anyBad ? Infinity : minAtol,
    failing,
    perCase,
    atol: opts.atol === undefined ? null : typeof opts.atol === 'number' ? opts.atol : Array.from(opts.atol),
    rtol,
    relL2Max: opts.relL2Max ?? null,
    pass: failing === 0 && relL2Failing === 0 && !anyBad,
  };
}

const g = (v: number): string =>
  Number.isFinite(v) ? (v === 0 ? '0' : Math.abs(v) >= 1e-3 && Math.abs(v) < 1e4 ? v.toPrecision(4) : v.toExponential(3)) : String(v);

/** Where the worst element sits, in one line: `case=Bombay channel=1 y=7 x=30 (flat 4321)`. */
export function formatLocation(loc: ElementLocation): string {
  return `${Object.entries(loc.named)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ')} (flat ${loc.flat})`;
}

/** A readable block of the statistics, for failure messages and logs. */
export function formatComparison(s: ComparisonStats, title = 'comparison'): string {
  const atolText =
    s.atol === null ? 'none' : typeof s.atol === 'number' ? g(s.atol) : `per case ${g(Math.min(...s.atol))}..${g(Math.max(...s.atol))}`;
  const criteria = `atol ${atolText}, rtol ${g(s.rtol)}${s.relL2Max !== null ? `, per-case rel L2 <= ${g(s.relL2Max)}` : ''}`;
  const relBad = s.relL2Max !== null ? s.perCase.filter((c) => !(c.relL2 <= s.relL2Max!)).length : 0;
  const lines = [
    `${title}: ${s.pass ? 'PASS' : 'FAIL'} (${s.atol === null ? 'no elementwise bound' : `${s.failing} of ${s.count} elements beyond tolerance`}` +
      `${s.relL2Max !== null ? `; ${relBad} of ${s.perCase.length} cases above rel L2 bound` : ''}; ${criteria})`,
    `  abs error   max ${g(s.abs.max)}  mean ${g(s.abs.mean)}  median ${g(s.abs.median)}  p99 ${g(s.abs.p99)}`,
    `  rel error   max ${g(s.rel.max)}  mean ${g(s.rel.mean)}  median ${g(s.rel.median)}  p99 ${g(s.rel.p99)}`,
    `  rel L2 ${g(s.relL2)}  cosine ${s.cosine.toFixed(8)}  PSNR ${g(s.psnr)} dB  NaN ${s.nanCount}  Inf ${s.infCount}` +
      (s.expectedNonFinite ? `  NON-FINITE EXPECTED ${s.expectedNonFinite}` : ''),
    `  worst at ${formatLocation(s.worst)}: actual ${g(s.worst.actual)} expected ${g(s.worst.expected)} ` +
      `|diff| ${g(s.worst.absError)}` +
      (s.atol === null
        ? ` (worst case rel L2 at ${g(s.worstRatio)}x its bound)`
        : ` allowed ${g(s.worst.allowed)} (${g(s.worstRatio)}x tolerance)`),
    `  min passing atol ${g(s.minPassingAtol)}`,
  ];
  const bad = s.perCase.filter((c) => !c.pass);
  if (s.perCase.length > 1 && bad.length > 0) {
    lines.push(`  failing cases (${bad.length} of ${s.perCase.length}):`);
    for (const c of bad.slice(0, 8)) {
      lines.push(
        `    ${c.label}: max|diff| ${g(c.maxAbs)} atol ${g(c.atol)}${c.floor !== null ? ` floor ${g(c.floor)}` : ''} relL2 ${g(c.relL2)}`,
      );
    }
    if (bad.length > 8) lines.push(`    ... and ${bad.length - 8} more`);
  }
  return lines.join('\n');
}

/** Metrics of a comparison for a check record (flat, JSON-friendly). */
export function comparisonMetrics(s: ComparisonStats): Record<string, number | string> {
  return {
    maxAbs: s.abs.max,
    meanAbs: s.abs.mean,
    medianAbs: s.abs.median,
    p99Abs: s.abs.p99,
    maxRel: s.rel.max,
    medianRel: s.rel.median,
    relL2: s.relL2,
    cosine: s.cosine,
    psnr: s.psnr,
    nan: s.nanCount,
    inf: s.infCount,
    failing: s.failing,
    worstRatio: s.worstRatio,
    minPassingAtol: s.minPassingAtol,
    worstAt: formatLocation(s.worst),
  };
}

// ---------------------------------------------------------------- float32 ulp comparison

const f32 = new Float32Array(1);
const i32 = new Int32Array(f32.buffer);

/** float32 bits mapped to a monotonic integer line (so ulp distance is a difference). */
function orderedBits(x: number): number {
  f32[0] = x;
  const b = i32[0]!;
  return b < 0 ? -2147483648 - b : b;
}

/** Distance in float32 units in the last place; Infinity when either is NaN. */
export function ulpDistance(a: number, b: number): number {
  if (Number.isNaN(a) || Number.isNaN(b)) return Infinity;
  return Math.abs(orderedBits(a) - orderedBits(b));
}

export interface UlpStats {
  count: number;
  /** Elements not bit-identical. */
  differing: number;
  /** Elements more than maxUlp apart (each one a failure). */
  beyond: number;
  maxUlp: number;
  /** First element beyond maxUlp (flat index), or -1. */
  firstBeyond: number;
  allowedUlp: number;
  pass: boolean;
}

export function compareUlp(actual: Numeric, expected: Numeric, allowedUlp: number): UlpStats {
  if (actual.length !== expected.length) throw new CompareError(`length ${actual.length} vs expected ${expected.length}`);
  let differing = 0,
    beyond = 0,
    maxUlp = 0,
    firstBeyond = -1;
  for (let i = 0; i < actual.length; i++) {
    const d = ulpDistance(actual[i]!, expected[i]!);
    if (d > 0) differing++;
    if (d > maxUlp) maxUlp = d;
    if (d > allowedUlp) {
      beyond++;
      if (firstBeyond < 0) firstBeyond = i;
    }
  }
  return { count: actual.length, differing, beyond, maxUlp, firstBeyond, allowedUlp, pass: beyond === 0 && actual.length > 0 };
}
