/**
 * Cross-runtime agreement: the error between every pair of runtimes (PyTorch, Node, Chromium, Firefox, WebKit)
 * on the same seeds and breeds, to show which runtime is the odd one out.
 *
 * Row/column PyTorch: from the records. A judged record whose metrics hold the error of a runtime's FINAL
 * state x_N against the PyTorch golden trajectory's last state (`finalMaxAbs`: Node trajectory free runs;
 * `state.maxAbs`: browser generation), for variant=guided (or no variant) and mode free (or no mode), with
 * seed= and breed= in its id. Cell = the largest such error over the cases the runtime ran.
 *
 * Runtime pairs (Node vs Chromium, ...): only measured, never estimated. First from records: a record of
 * runtime A whose metrics hold `<B>.maxAbs` (max |x_N of A - x_N of B| on that case, e.g. the browser
 * generation records' `node.maxAbs`). Else from saved final states, a layout a suite may write (float32 .npy,
 * shape [1,C,H,W] or [C,H,W], the final state x_N of a guided 50-step run):
 *     <run>/states/<runtime>/seed<S>_breed<B>.npy        e.g. states/webkit/seed7_breed3.npy
 * (max |a - b| over the cases both runtimes saved). Without either the cell is 'n/a'.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseNpy } from '../core/npy.js';
import { idParams, num } from './records.js';
import type { VerdictCheck } from './types.js';
import { RUNTIME_LABEL, RUNTIME_NAMES } from '../runtimes/registry.js';

/** Rows and columns of the matrix: every runtime of the registry, in its order. */
export const AGREEMENT_RUNTIMES: readonly string[] = RUNTIME_NAMES;
export { RUNTIME_LABEL };

/** Metrics that hold a final-state error against the PyTorch golden, and the threshold key of its tolerance. */
const FINAL_STATE_METRICS: Array<{ metric: string; tolerance: string }> = [
  { metric: 'finalMaxAbs', tolerance: 'finalBand' },
  { metric: 'state.maxAbs', tolerance: 'state.atol' },
];

export interface AgreementCell {
  /** Largest error over the common cases, or null (n/a). */
  value: number | null;
  cases: number;
  /** Largest error / tolerance over the cases, when the records carry a tolerance. */
  ratio: number | null;
  /** Where the number came from (or why there is none). */
  basis: string;
  /** Case with the largest error. */
  worstCase?: string;
  /** The ratio is against the runtime's own tolerance profile (WebGPU), not the bundle's tolerance. */
  ownProfile?: boolean;
}

export interface AgreementMatrix {
  runtimes: string[];
  cells: Record<string, Record<string, AgreementCell>>;
  /** Runtime whose error against PyTorch stands out (largest, and failing or > 10x the others' median). */
  oddOneOut: string | null;
  cases: string[];
}

/** Largest / median ratio from which one runtime is called the odd one out. */
const ODD_FACTOR = 10;

export function caseKeyOf(id: string): string | null {
  const p = idParams(id);
  if (p.seed === undefined || p.breed === undefined) return null;
  return `seed=${p.seed},breed=${p.breed}`;
}

interface CaseError {
  value: number;
  ratio: number | null;
  /** The ratio is against the runtime's own profile (a relative-error limit), not the bundle's state tolerance. */
  own: boolean;
}

/**
 * A runtime with a tolerance profile of its own (WebGPU: harness/checks/webgpu.ts) records its final-state error
 * relative to the golden's norm (`state.relL2`, threshold `state.relL2`) instead of the bundle's `state.atol`: its
 * cell's ratio is then against that profile.
 */
function ownProfileRatio(c: VerdictCheck): number | null {
  const v = num(c.metrics['state.relL2']);
  const tol = num(c.threshold['state.relL2']);
  if (tol === null || tol <= 0) return null;
  return v === null ? Infinity : v / tol;
}

/** Per runtime: case -> final-state error against PyTorch. */
export function finalStateErrors(checks: VerdictCheck[]): Map<string, Map<string, CaseError>> {
  const out = new Map<string, Map<string, CaseError>>();
  for (const c of checks) {
    if (c.selfTest || c.source !== 'record') continue;
    const p = idParams(c.id);
    if (p.variant !== undefined && p.variant !== 'guided') continue;
    if (p.mode !== undefined && p.mode !== 'free') continue;
    const key = caseKeyOf(c.id);
    if (!key) continue;
    for (const f of FINAL_STATE_METRICS) {
      const v = num(c.metrics[f.metric]);
      if (v === null && c.metrics[f.metric] === undefined) continue;
      const tol = num(c.threshold[f.tolerance]);
      const value = v ?? Infinity; // NaN/Inf recorded as a string: the worst possible agreement
      const own = tol ? null : ownProfileRatio(c);
      const m = out.get(c.runtime) ?? new Map<string, CaseError>();
      const prev = m.get(key);
      if (!prev || value > prev.value) m.set(key, { value, ratio: tol ? value / tol : own, own: own !== null });
      out.set(c.runtime, m);
      break;
    }
  }
  return out;
}

/** Pair errors the suites measured themselves: 'a|b' (sorted) -> case -> max |x_a - x_b|. */
function recordedPairs(checks: VerdictCheck[]): Map<string, Map<string, number>> {
  const out = new Map<string, Map<string, number>>();
  for (const c of checks) {
    if (c.selfTest || c.source !== 'record') continue;
    const p = idParams(c.id);
    if (p.variant !== undefined && p.variant !== 'guided') continue;
    if (p.mode !== undefined && p.mode !== 'free') continue;
    const key = caseKeyOf(c.id);
    if (!key) continue;
    for (const other of AGREEMENT_RUNTIMES) {
      if (other === 'python' || other === c.runtime || c.metrics[`${other}.maxAbs`] === undefined) continue;
      const v = num(c.metrics[`${other}.maxAbs`]) ?? Infinity;
      const pair = [c.runtime, other].sort().join('|');
      const m = out.get(pair) ?? new Map<string, number>();
      m.set(key, Math.max(m.get(key) ?? 0, v));
      out.set(pair, m);
    }
  }
  return out;
}

/** Saved final states of a runtime: case key -> state. */
function savedStates(runDir: string, runtime: string, breeds: string[]): Map<string, Float32Array> {
  const dir = join(runDir, 'states', runtime);
  const out = new Map<string, Float32Array>();
  if (!existsSync(dir)) return out;
  for (const f of readdirSync(dir)) {
    const m = /^seed(\d+)_breed(\d+)\.npy$/.exec(f);
    if (!m) continue;
    try {
      const a = parseNpy(readFileSync(join(dir, f)), join(dir, f));
      if (a.dtype !== 'float32') continue;
      const name = breeds[Number(m[2])] ?? m[2]!;
      out.set(`seed=${m[1]},breed=${name}`, a.data as Float32Array);
    } catch {
      /* an unreadable state is left out; the cell then shows fewer cases */
    }
  }
  return out;
}

export function agreementMatrix(checks: VerdictCheck[], runDir: string, breeds: string[]): AgreementMatrix {
  const errors = finalStateErrors(checks);
  const seen = new Set([...errors.keys()]);
  const runtimes = [...AGREEMENT_RUNTIMES, ...[...seen].filter((r) => !AGREEMENT_RUNTIMES.includes(r)).sort()];
  const states = new Map(runtimes.filter((r) => r !== 'python').map((r) => [r, savedStates(runDir, r, breeds)]));
  const pairs = recordedPairs(checks);
  const cells: AgreementMatrix['cells'] = {};
  const allCases = new Set<string>();
  const set = (a: string, b: string, cell: AgreementCell): void => {
    (cells[a] ??= {})[b] = cell;
    (cells[b] ??= {})[a] = cell;
  };
  for (const r of runtimes) {
    if (r === 'python') continue;
    const e = errors.get(r);
    if (!e || e.size === 0) {
      set('python', r, {
        value: null,
        cases: 0,
        ratio: null,
        basis: `no record of ${RUNTIME_LABEL[r] ?? r}'s final state against the PyTorch golden in this run`,
      });
      continue;
    }
    let worst: [string, CaseError] | null = null;
    let ratio: number | null = null;
    let own = false;
    for (const [k, v] of e) {
      allCases.add(k);
      if (!worst || v.value > worst[1].value) worst = [k, v];
      if (v.ratio !== null) ratio = Math.max(ratio ?? 0, v.ratio);
      own ||= v.own;
    }
    set('python', r, {
      value: worst![1].value,
      cases: e.size,
      ratio,
      basis: own
        ? "records: final state x_N vs the PyTorch golden trajectory (ratio: relative L2 against the runtime's own profile)"
        : 'records: final state x_N vs the PyTorch golden trajectory',
      worstCase: worst![0],
      ...(own ? { ownProfile: true } : {}),
    });
  }
  for (let i = 0; i < runtimes.length; i++) {
    for (let j = i + 1; j < runtimes.length; j++) {
      const a = runtimes[i]!;
      const b = runtimes[j]!;
      if (a === 'python' || b === 'python') continue;
      const measured = pairs.get([a, b].sort().join('|'));
      if (measured?.size) {
        let worst: [string, number] | null = null;
        for (const [k, v] of measured) if (!worst || v > worst[1]) worst = [k, v];
        set(a, b, {
          value: worst![1],
          cases: measured.size,
          ratio: null,
          basis: `records: final states of ${a} and ${b} compared by the suite (<runtime>.maxAbs)`,
          worstCase: worst![0],
        });
        continue;
      }
      const sa = states.get(a)!;
      const sb = states.get(b)!;
      const common = [...sa.keys()].filter((k) => sb.has(k));
      if (common.length === 0) {
        set(a, b, {
          value: null,
          cases: 0,
          ratio: null,
          basis: `n/a: neither a record comparing them (<runtime>.maxAbs) nor final states saved by both (states/${a}/seed<S>_breed<B>.npy and states/${b}/...)`,
        });
        continue;
      }
      let worst: [string, number] | null = null;
      for (const k of common) {
        const x = sa.get(k)!;
        const y = sb.get(k)!;
        let m = x.length === y.length ? 0 : Infinity;
        for (let t = 0; t < x.length && m !== Infinity; t++) {
          const d = Math.abs(x[t]! - y[t]!);
          if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
        }
        if (!worst || m > worst[1]) worst = [k, m];
      }
      set(a, b, { value: worst![1], cases: common.length, ratio: null, basis: 'saved final states', worstCase: worst![0] });
    }
  }
  for (const r of runtimes) (cells[r] ??= {})[r] = { value: 0, cases: 0, ratio: null, basis: 'itself' };

  // the odd one out: the largest error against PyTorch, if it fails its tolerance or dwarfs the others. A runtime
  // judged by a profile of its own (WebGPU, about 100 times the CPU runtimes' error by design) stands out only by
  // failing that profile; it is left out of the comparison of the others.
  const all = runtimes
    .filter((r) => r !== 'python')
    .map((r) => ({ r, c: cells.python?.[r] }))
    .filter((x) => x.c && x.c.value !== null) as Array<{ r: string; c: AgreementCell }>;
  const vsTorch = all.filter((x) => !x.c.ownProfile);
  let oddOneOut: string | null = all.find((x) => x.c.ownProfile && x.c.ratio !== null && x.c.ratio > 1)?.r ?? null;
  if (!oddOneOut && vsTorch.length >= 2) {
    const sorted = [...vsTorch].sort((x, y) => y.c.value! - x.c.value!);
    const top = sorted[0]!;
    const rest = sorted
      .slice(1)
      .map((x) => x.c.value!)
      .sort((x, y) => x - y);
    const median = rest[Math.floor((rest.length - 1) / 2)]!;
    if ((top.c.ratio !== null && top.c.ratio > 1) || top.c.value! > ODD_FACTOR * Math.max(median, Number.MIN_VALUE)) oddOneOut = top.r;
  }
  return { runtimes, cells, oddOneOut, cases: [...allCases].sort() };
}
