/**
 * What the gate trusts and what it verifies: the gate-owned tolerance policy.
 *
 * A bundle carries its own tolerance policy (manifest.json `tolerance`) and its own per-case noise floors
 * (goldens/velocity/<variant>_floor.npy, goldens/trajectories/floor.npy). Every float check passes when
 * max|onnx - torch_f32| <= max(floorMultiple * floor, absMin), so a bundle that could set floorMultiple to
 * 1e6, or ship floors multiplied by 1e4, would turn the velocity and trajectory checks into no-ops. This
 * module holds the bounds the gate imposes on both, whatever the bundle says:
 *
 * 1. TOLERANCE_BOUNDS: for every tolerance field a ceiling (and, where a smaller value would be a broken
 *    policy rather than a stricter one, a minimum), each with the data it was derived from. A bundle may
 *    always tighten. The quantized limits must also follow from the bundle's own measured error and margin
 *    (limit <= margin x measured), so a small margin cannot hide a large limit.
 * 2. The analytic noise-floor ceiling: a float32-vs-float64 floor of a case is float32 rounding of that
 *    case's computation, so it cannot exceed NOISE_FLOOR_ULPS units in the last place of float32 at the
 *    case's own output magnitude: floor_k <= K * 2^-23 * max|expected_k|.
 *
 * Together they bound every float tolerance the gate can apply to
 * max(20 x 100 x 2^-23 x |out|, absMin ceiling) = max(2.4e-4 x |out|, 1e-4) for velocity (trajectory absMin
 * ceiling 2.5e-4), against 1e-5 to 4.7e-5 in the embedded bundle.
 *
 * loadBundle (harness/model/bundle.ts) runs these checks and refuses a bundle that breaks one, with a BundleError
 * whose `trust` entries the gate turns into check records (trustRecordId).
 */
import { caseId } from '../core/case-id.js';
import { realpathSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { GoldenIndex, TolerancePolicy } from './bundle.js';
import { parseNpy, parseNpyHeader } from '../core/npy.js';

// ---------------------------------------------------------------------------------------------------------
// Trust issues and their check-record ids

export type TrustCheck = 'tolerance-ceiling' | 'noise-floor';

export interface TrustIssue {
  check: TrustCheck;
  /** The manifest field (`tolerance.velocity.floorMultiple`) or the golden file (`goldens/velocity/guided_floor.npy`). */
  subject: string;
  /** The full refusal, naming the field or file, the value, the bound and its reason. */
  message: string;
}

/** The check-record id of a trust issue: `trust:check=tolerance-ceiling,field=<field>` or `trust:check=noise-floor,file=<file>`. */
export function trustRecordId(issue: Pick<TrustIssue, 'check' | 'subject'>): string {
  return caseId('trust', { check: issue.check, [issue.check === 'noise-floor' ? 'file' : 'field']: issue.subject });
}

// ---------------------------------------------------------------------------------------------------------
// 1. Tolerance ceilings

/** One tolerance field's bounds. `value` of the embedded bundle (fixtures/default) is given for reference. */
export interface ToleranceBound {
  /** Path in manifest.json: `tolerance.velocity.floorMultiple`. */
  field: string;
  /** The value fixtures/default/manifest.json carries. */
  defaultValue: number;
  /** The largest value the gate accepts (inclusive). */
  ceiling: number;
  /** Why the ceiling is where it is (the data it came from). */
  reason: string;
  /** The smallest value the gate accepts (inclusive), where a smaller one is a broken policy rather than a stricter one. */
  minimum?: number;
  minimumReason?: string;
  /** Unit of the value, for the docs table. */
  unit?: string;
}

/** Relative slack for "limit <= margin x measured": the producer's own float64 product, written as JSON. */
export const CONSISTENCY_RTOL = 1e-6;

const FLOOR_MULTIPLE_MINIMUM_REASON =
  "below 1 the band is tighter than the reference's own float32-vs-float64 rounding, which a correct export on " +
  'another kernel set cannot meet: a broken policy, not a stricter one';
const MARGIN_MINIMUM_REASON =
  "below 1 the limit is under the error the bundle's own quantized variant was measured at when the bundle was " +
  'made: the bundle would reject itself';

/**
 * The gate-owned tolerance policy. Every ceiling leaves headroom over the embedded bundle (defaultValue) and
 * its reason says how much, and what the value would mean at the ceiling.
 */
export const TOLERANCE_BOUNDS: readonly ToleranceBound[] = [
  {
    // the embedded bundle uses 10 (reference/python/tinydit/tolerance.py); browsers measured at 0.022 of the
    // resulting tolerance (README, Engines), so 10 already has ~45x slack for the engines we run
    field: 'tolerance.velocity.floorMultiple',
    defaultValue: 10,
    ceiling: 20,
    minimum: 1,
    reason:
      'the embedded bundle uses 10, and the three browser engines measured at 0.022 of that tolerance; ' +
      '20 (2x) still bounds a case, with the analytic floor ceiling, to 20 x 100 float32 ulps of its output ' +
      'magnitude (2.4e-4 relative)',
    minimumReason: FLOOR_MULTIPLE_MINIMUM_REASON,
  },
  {
    // the default floors reach 4.74e-6, so the floor term reaches 4.7e-5; absMin only covers near-zero floors
    field: 'tolerance.velocity.absMin',
    defaultValue: 1e-5,
    ceiling: 1e-4,
    reason:
      'the embedded bundle uses 1e-5 for cases whose floor is near 0; its largest floor-derived tolerance ' +
      'is 10 x 4.7e-6 = 4.7e-5; 1e-4 (10x the default, 2x that largest tolerance) is 1/78 of one uint8 level',
  },
  {
    field: 'tolerance.trajectory.floorMultiple',
    defaultValue: 10,
    ceiling: 20,
    minimum: 1,
    reason: 'the embedded bundle uses 10 per state; 20 (2x) still bounds a state to 20 x 100 ulps of its own ' + 'magnitude',
    minimumReason: FLOOR_MULTIPLE_MINIMUM_REASON,
  },
  {
    // the default trajectory floors reach only 8.8e-7, so absMin 5e-5 is the band of nearly every state
    field: 'tolerance.trajectory.absMin',
    defaultValue: 5e-5,
    ceiling: 2.5e-4,
    reason:
      'the embedded bundle uses 5e-5, which is the band of nearly every state (its floors reach 8.8e-7); ' +
      '2.5e-4 (5x) is 1/31 of one uint8 level (2/255 in [-1,1] units), so the band stays far below a visible change',
  },
  {
    field: 'tolerance.quantized.margin',
    defaultValue: 2,
    ceiling: 3,
    minimum: 1,
    reason:
      'the embedded bundle gates its quantized variant at 2x the error measured when the bundle was made ' +
      '(the spread a re-quantisation of the same weights stays within); 3x is the most the gate allows',
    minimumReason: MARGIN_MINIMUM_REASON,
  },
  {
    // measured on fixtures/default: 0.0893 worst case, 0.024 median (make_bundle.py step 6)
    field: 'tolerance.quantized.measured.velocityRelL2Max',
    defaultValue: 0.08927066624164581,
    ceiling: 0.25,
    reason:
      'uint8 dynamic quantization of the embedded model measured 0.089 worst-case relative L2 (0.024 median); ' +
      "at 0.25 a quarter of the velocity's norm is error and the quantized graph is no longer the same model",
  },
  {
    field: 'tolerance.quantized.velocityRelL2Max',
    defaultValue: 0.17854133248329163,
    ceiling: 0.5,
    reason:
      "the embedded bundle's limit is 2 x 0.089 = 0.179; 0.5 (2.8x) is the largest relative L2 error the " +
      'gate accepts for any quantized case, whatever the margin and the measurement',
  },
  {
    // measured on fixtures/default: 0.573 levels worst image, 0.336 median, 26 images
    field: 'tolerance.quantized.measured.imageMeanAbsMax',
    defaultValue: 0.5732421875,
    ceiling: 3,
    unit: 'uint8 levels',
    reason:
      "the embedded quantized variant's final images measured 0.573 uint8 levels mean |diff| worst-case " +
      '(0.336 median, 26 images); 3 levels (5.2x) on average over every pixel is a visibly different image',
  },
  {
    field: 'tolerance.quantized.imageMeanAbsMax',
    defaultValue: 1.146484375,
    ceiling: 6,
    unit: 'uint8 levels',
    reason:
      "the embedded bundle's limit is 2 x 0.573 = 1.15 levels; 6 levels (5.2x) is the largest mean " +
      'absolute pixel difference the gate accepts, whatever the margin and the measurement',
  },
];

/** The quantized limits that must follow from margin x the measured error (a bundle may set them lower). */
export const QUANTIZED_DERIVED: readonly { limit: 'velocityRelL2Max' | 'imageMeanAbsMax'; measured: string }[] = [
  { limit: 'velocityRelL2Max', measured: 'velocityRelL2Max' },
  { limit: 'imageMeanAbsMax', measured: 'imageMeanAbsMax' },
];
export const QUANTIZED_CONSISTENCY_REASON =
  'the limit must follow from the error measured when the bundle was made and the margin, so a bundle cannot ' +
  'state a small margin and a large limit';

function valueAt(tolerance: TolerancePolicy, field: string): unknown {
  let o: unknown = tolerance;
  for (const k of field.replace(/^tolerance\./, '').split('.')) {
    if (typeof o !== 'object' || o === null) return undefined;
    o = (o as Record<string, unknown>)[k];
  }
  return o;
}

const M = 'manifest.json';

/**
 * Checks a (schema-valid) tolerance policy against TOLERANCE_BOUNDS and the quantized consistency rule.
 * Fields that are absent are not judged here (the schema and crossCheckManifest require what is needed),
 * except the two measured errors a quantized policy's limits are derived from.
 */
export function checkToleranceCeilings(tolerance: TolerancePolicy): TrustIssue[] {
  const out: TrustIssue[] = [];
  // one issue per field (one check record per field): a second problem of the same field joins the first
  const add = (subject: string, message: string): void => {
    const prior = out.find((t) => t.subject === subject);
    if (prior) prior.message += `; it also ${message.replace(/^manifest\.json: \S+ = \S+ /, '')}`;
    else out.push({ check: 'tolerance-ceiling', subject, message });
  };
  for (const b of TOLERANCE_BOUNDS) {
    const v = valueAt(tolerance, b.field);
    if (typeof v !== 'number') continue;
    if (!Number.isFinite(v) || v > b.ceiling) {
      add(
        b.field,
        `${M}: ${b.field} = ${v} exceeds the gate's ceiling ${b.ceiling}${b.unit ? ` ${b.unit}` : ''} (${b.reason}); a bundle may only tighten`,
      );
    } else if (b.minimum !== undefined && v < b.minimum) {
      add(b.field, `${M}: ${b.field} = ${v} is below the gate's minimum ${b.minimum} (${b.minimumReason ?? b.reason})`);
    }
  }
  const q = tolerance.quantized;
  if (q) {
    for (const d of QUANTIZED_DERIVED) {
      const measuredField = `tolerance.quantized.measured.${d.measured}`;
      const limitField = `tolerance.quantized.${d.limit}`;
      const measured = q.measured?.[d.measured];
      const limit = q[d.limit];
      if (typeof measured !== 'number') {
        add(
          measuredField,
          `${M}: ${measuredField} is missing: tolerance.quantized.${d.limit} must be at most margin x this measured error ` +
            `(${QUANTIZED_CONSISTENCY_REASON}); reference/python/make_bundle.py writes it`,
        );
        continue;
      }
      const derived = q.margin * measured;
      if (typeof limit === 'number' && limit > derived * (1 + CONSISTENCY_RTOL)) {
        add(
          limitField,
          `${M}: ${limitField} = ${limit} exceeds margin x measured = ${q.margin} x ${measured} = ${derived} ` +
            `(tolerance.quantized.margin x ${measuredField}; ${QUANTIZED_CONSISTENCY_REASON}); a bundle may only tighten`,
        );
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// 2. The analytic noise-floor ceiling

/** One unit in the last place of float32 at magnitude 1 (2^-23; at magnitude m an ulp is at most m x 2^-23). */
export const FLOAT32_ULP = 2 ** -23;

/**
 * K: a float32-vs-float64 noise floor may be at most this many float32 ulps of its case's output magnitude.
 * Measured on fixtures/default (scripts/measure-floors.ts), the ratio floor / (2^-23 x max|out|) is at most
 * 15.5 for velocity (guided; case velocity:breed=Egyptian Mau,t=1,batch=1; median 6.0), 14.4 for velocity
 * (raw; median 3.9) and 7.4 for the trajectory states (trajectory:breed=Maine Coon,seed=42,steps=50 step 50;
 * median 2.0). K = 100 is 6.4x the worst velocity ratio and 13.6x the worst trajectory ratio: room for a
 * deeper model's longer reductions, while a floor inflated 10x or more above this model's is refused.
 */
export const NOISE_FLOOR_ULPS = 100;

/** The ratios measured on fixtures/default when NOISE_FLOOR_ULPS was chosen (worst case per file). */
export const MEASURED_FLOOR_ULPS = {
  'goldens/velocity/guided_floor.npy': { worst: 15.52, median: 6.05, worstCase: 'velocity:breed=Egyptian Mau,t=1,batch=1' },
  'goldens/velocity/raw_floor.npy': { worst: 14.43, median: 3.93, worstCase: 'velocity:breed=Egyptian Mau,t=1,batch=1' },
  'goldens/trajectories/floor.npy': { worst: 7.37, median: 2.01, worstCase: 'trajectory:breed=Maine Coon,seed=42,steps=50 step 50' },
} as const;

/** The largest noise floor the gate accepts for a case whose output (or state) magnitude max|x| is `magnitude`. */
export function noiseFloorCeiling(magnitude: number): number {
  return NOISE_FLOOR_ULPS * FLOAT32_ULP * magnitude;
}

/** max|x| of each of `rows` equal consecutive slices of `data` (NaN elements are skipped). */
export function maxAbsPerRow(data: Float32Array | Float64Array, rows: number): Float64Array {
  const out = new Float64Array(rows);
  const per = rows > 0 ? Math.floor(data.length / rows) : 0;
  for (let r = 0; r < rows; r++) {
    let m = 0;
    for (let j = r * per, end = j + per; j < end; j++) {
      const a = Math.abs(data[j]!);
      if (a > m) m = a;
    }
    out[r] = m;
  }
  return out;
}

/** One entry of a floor file to judge: its index in the file, the case (and step) it belongs to, its magnitude. */
export interface FloorCase {
  index: number;
  caseId: string;
  step?: number;
  magnitude: number;
  /** Where the magnitude comes from, for the message: `goldens/velocity/guided.npy`. */
  magnitudeFrom: string;
}

const fmt = (x: number): string =>
  !Number.isFinite(x) || x === 0 ? String(x) : Math.abs(x) < 1e-3 || Math.abs(x) >= 1e4 ? x.toExponential(2) : x.toPrecision(3);

const REGENERATE = 'regenerate the goldens with reference/python/make_bundle.py';

/**
 * Judges one floor file: every value finite and non-negative, the file as long as expected, and every judged
 * entry within noiseFloorCeiling of its case's magnitude. One issue per file (the worst entry, and how many
 * others fail), or null.
 */
export function checkFloorFile(
  file: string,
  floors: Float64Array,
  expectedLength: number,
  cases: readonly FloorCase[],
  kind: 'output' | 'state',
): TrustIssue | null {
  const problems: string[] = [];
  if (floors.length !== expectedLength) problems.push(`has ${floors.length} floors, the goldens need ${expectedLength}`);
  let bad = 0;
  let firstBad = -1;
  for (let i = 0; i < floors.length; i++) {
    const f = floors[i]!;
    if (!Number.isFinite(f) || f < 0) {
      if (firstBad < 0) firstBad = i;
      bad++;
    }
  }
  if (bad > 0) {
    const c = cases.find((k) => k.index === firstBad);
    problems.push(
      `${bad} floor${bad === 1 ? ' is' : 's are'} NaN, infinite or negative (first at index ${firstBad}` +
        `${c ? `, case ${c.caseId}${c.step !== undefined ? ` step ${c.step}` : ''}` : ''}: ${floors[firstBad]}); a noise floor is a max|f32 - f64|, finite and >= 0`,
    );
  }
  let worst: { c: FloorCase; floor: number; ceiling: number; ratio: number } | null = null;
  let over = 0;
  for (const c of cases) {
    if (c.index >= floors.length) continue;
    const f = floors[c.index]!;
    if (!Number.isFinite(f) || f < 0) continue;
    const ceiling = noiseFloorCeiling(c.magnitude);
    if (f > ceiling) {
      over++;
      const ratio = ceiling > 0 ? f / ceiling : Infinity;
      if (!worst || ratio > worst.ratio) worst = { c, floor: f, ceiling, ratio };
    }
  }
  if (worst) {
    const { c, floor, ceiling } = worst;
    const mag =
      kind === 'output'
        ? `its output magnitude max|out| ${fmt(c.magnitude)} in ${c.magnitudeFrom}`
        : `its state magnitude max|x_${c.step}| ${fmt(c.magnitude)} in ${c.magnitudeFrom}`;
    problems.push(
      `case ${c.caseId}${c.step !== undefined ? ` step ${c.step}` : ''} floor ${fmt(floor)} exceeds the gate's analytic ceiling ${fmt(ceiling)} ` +
        `(${NOISE_FLOOR_ULPS} float32 ulps, ${NOISE_FLOOR_ULPS} x 2^-23, of ${mag})` +
        `${over > 1 ? `, and ${over - 1} more ${kind === 'output' ? 'case' : 'state'}${over - 1 === 1 ? '' : 's'} of this file exceed theirs` : ''}` +
        ': noise floors are float32-vs-float64 rounding, never larger',
    );
  }
  if (problems.length === 0) return null;
  return { check: 'noise-floor', subject: file, message: `${file}: ${problems.join('; ')}; ${REGENERATE}` };
}

// Per-row magnitudes of the golden files, cached per file version (a process loads the same bundle often).
const magnitudeCache = new Map<string, Float64Array>();

function rowMagnitudes(path: string, rows: number): Float64Array {
  const st = statSync(path);
  const key = `${realpathSync(path)}:${st.size}:${st.mtimeMs}:${rows}`;
  const hit = magnitudeCache.get(key);
  if (hit) return hit;
  const m = maxAbsPerRow(readFloats(path), rows);
  magnitudeCache.set(key, m);
  return m;
}

/** A float .npy's elements, as a view on the file's bytes where they are aligned (no copy), else parsed. */
function readFloats(path: string): Float32Array | Float64Array {
  const bytes = readFileSync(path);
  const h = parseNpyHeader(bytes, path);
  if (h.dtype !== 'float32' && h.dtype !== 'float64') throw new Error(`${path}: ${h.dtype}, expected a float array`);
  const size = h.dtype === 'float32' ? 4 : 8;
  const at = bytes.byteOffset + h.dataOffset;
  if (at % size === 0 && bytes.length - h.dataOffset >= h.dataBytes) {
    return h.dtype === 'float32'
      ? new Float32Array(bytes.buffer, at, h.dataBytes / 4)
      : new Float64Array(bytes.buffer, at, h.dataBytes / 8);
  }
  return parseNpy(bytes, path).data as Float32Array | Float64Array;
}

function readFloor(path: string): Float64Array {
  const a = readFloats(path);
  if (!(a instanceof Float64Array)) throw new Error(`${path}: float32, expected float64`);
  return a;
}

/**
 * Checks every noise floor a full bundle's goldens/index.json names against the analytic ceiling: velocity
 * floors (velocity.noiseFloor.<k>, one per case row) against max|velocity.expected.<k>| of that row, the
 * trajectory floor (trajectories.floor, [cases, steps+1]) against max|x_s| of that trajectory's golden states.
 * `usable(rel)` says whether a golden file passed loadBundle's structural checks (dtype, shape, complete);
 * floors or magnitudes that did not are not judged here (their structural problem is already reported).
 */
export function checkNoiseFloors(goldensDir: string, index: GoldenIndex, usable: (rel: string) => boolean): TrustIssue[] {
  const out: TrustIssue[] = [];
  const v = index.velocity;
  const N = v.cases.length;
  for (const [k, rel] of Object.entries(v.noiseFloor)) {
    const file = `goldens/${rel}`;
    const expectedRel = v.expected[k];
    if (expectedRel === undefined) {
      out.push({
        check: 'noise-floor',
        subject: file,
        message: `${file}: goldens/index.json velocity.noiseFloor.${k} has no velocity.expected.${k}, so the gate cannot bound its floors by the output magnitude; ${REGENERATE}`,
      });
      continue;
    }
    if (!usable(rel) || !usable(expectedRel)) continue;
    const floors = readFloor(join(goldensDir, rel));
    const mags = rowMagnitudes(join(goldensDir, expectedRel), N);
    const cases: FloorCase[] = v.cases.map((c) => ({
      index: c.row,
      caseId: c.id,
      magnitude: mags[c.row] ?? 0,
      magnitudeFrom: `goldens/${expectedRel}`,
    }));
    const issue = checkFloorFile(file, floors, N, cases, 'output');
    if (issue) out.push(issue);
  }

  const t = index.trajectories;
  const S = t.steps + 1;
  if (usable(t.floor)) {
    const file = `goldens/${t.floor}`;
    const floors = readFloor(join(goldensDir, t.floor));
    const cases: FloorCase[] = [];
    for (const c of t.cases) {
      if (!usable(c.file)) continue;
      const mags = rowMagnitudes(join(goldensDir, c.file), S);
      for (let s = 0; s < S; s++)
        cases.push({ index: c.floorRow * S + s, caseId: c.id, step: s, magnitude: mags[s]!, magnitudeFrom: `goldens/${c.file}` });
    }
    const issue = checkFloorFile(file, floors, t.cases.length * S, cases, 'state');
    if (issue) out.push(issue);
  }
  return out;
}
