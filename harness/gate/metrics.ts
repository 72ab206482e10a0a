/**
 * Nightly regression: the key metrics of a run, the history file they are appended to, and drift against a
 * baseline run.
 *
 * Key metrics are derived from the records, never from a fixed list of checks: every judged (non-self-test)
 * record whose metrics include one of KEY_METRIC_RULES' names contributes to the key
 * `<check>@<runtime>[variant=..,mode=..]:<metric>:<max|min>` (the aggregate over the cases of that group), so a
 * new suite's metrics join the history as soon as it records them.
 *
 * Drift: a key metric moved further from the baseline than its run-to-run spread. The spread is measured in
 * the history (max - min over earlier runs of the baseline's model); with fewer than MIN_HISTORY_POINTS such
 * runs, DEFAULT_REL_BAND of the baseline value is used instead. A drift is reported with both numbers whether or
 * not the fixed thresholds still pass: it is the early warning those thresholds cannot give.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { idParams, num } from './records.js';
import type { Drift, DriftReport, VerdictCheck } from './types.js';

export interface KeyMetricRule {
  /** Metric name (the last dotted part: `maxAbs` matches `state.maxAbs`). */
  name: string;
  /** How the cases of a group combine: the worst case. */
  agg: 'max' | 'min';
  /** Shown in the trend chart of the page. */
  main?: boolean;
}

export const KEY_METRIC_RULES: KeyMetricRule[] = [
  { name: 'worstRatio', agg: 'max', main: true }, // largest error / tolerance of the group (velocity, trajectory, browser state)
  { name: 'maxAbs', agg: 'max' },
  { name: 'finalMaxAbs', agg: 'max' },
  { name: 'maxAbsOverSteps', agg: 'max' },
  { name: 'relL2', agg: 'max' },
  { name: 'meanAbsDiff', agg: 'max' },
  { name: 'maxChannelDiff', agg: 'max' },
  { name: 'worstZ', agg: 'max' },
  { name: 'maxAbsZ', agg: 'max' },
  { name: 'accuracy', agg: 'min', main: true },
];

/** Id keys that split a family into separately tracked groups (the same metric means different things per variant or mode). */
export const GROUP_KEYS = ['variant', 'mode'] as const;

/** A metric key needs this many earlier runs of the same model before its own spread is trusted. */
export const MIN_HISTORY_POINTS = 3;

/**
 * Band used with fewer than MIN_HISTORY_POINTS runs: 5% of the baseline value. Single-threaded onnxruntime
 * (node and wasm) repeats bit-exactly, so the same model twice moves nothing; 5% leaves room for the kernels
 * that do not (multi-threaded reductions change float32 rounding, a few ulps on errors of ~1e-6), while a
 * weight perturbation of 1e-4 relative moves the error metrics by several times (suites/harness/gate.test.ts).
 */
export const DEFAULT_REL_BAND = 0.05;

/** Absolute floor of every band: far below a float32 ulp at the metrics' scale, so only a real change counts. */
export const BAND_ABS_FLOOR = 1e-12;

function ruleFor(metric: string): KeyMetricRule | undefined {
  const last = metric.slice(metric.lastIndexOf('.') + 1);
  return KEY_METRIC_RULES.find((r) => r.name === last);
}

export function groupOf(c: Pick<VerdictCheck, 'id' | 'check' | 'runtime'>): string {
  const p = idParams(c.id);
  const q = GROUP_KEYS.filter((k) => p[k] !== undefined).map((k) => `${k}=${p[k]}`);
  return `${c.check}@${c.runtime}${q.length ? `[${q.join(',')}]` : ''}`;
}

export interface KeyMetricGroup {
  value: number;
  /** Records behind it, and whether all of them pass. */
  cases: number;
  allPass: boolean;
  main: boolean;
}

/** Key metrics of judged records (self-tests and runner-only entries excluded; error records carry no numbers). */
export function keyMetricGroups(checks: VerdictCheck[]): Map<string, KeyMetricGroup> {
  const out = new Map<string, KeyMetricGroup>();
  for (const c of checks) {
    if (c.selfTest || c.source !== 'record' || c.status === 'error') continue;
    for (const [name, m] of Object.entries(c.metrics)) {
      const rule = ruleFor(name);
      const v = num(m);
      if (!rule || v === null) continue;
      const key = `${groupOf(c)}:${name}:${rule.agg}`;
      const g = out.get(key);
      if (!g) out.set(key, { value: v, cases: 1, allPass: c.status === 'pass', main: !!rule.main });
      else {
        g.value = rule.agg === 'max' ? Math.max(g.value, v) : Math.min(g.value, v);
        g.cases++;
        g.allPass &&= c.status === 'pass';
      }
    }
  }
  return out;
}

export function keyMetrics(checks: VerdictCheck[]): Record<string, number> {
  return Object.fromEntries([...keyMetricGroups(checks)].sort(([a], [b]) => a.localeCompare(b)).map(([k, g]) => [k, g.value]));
}

export function isMainMetric(key: string): boolean {
  const parts = key.split(':');
  const metric = parts[parts.length - 2] ?? '';
  return !!ruleFor(metric)?.main;
}

// ---------------------------------------------------------------------------------------------------------
// History

export const HISTORY_FORMAT = 'tinydit-history/1';

export interface HistoryEntry {
  format: typeof HISTORY_FORMAT;
  runId: string;
  time: string;
  modelSha256: string | null;
  /** sha256 over every file of the bundle (harness/gate/digest.ts); absent in entries of older gates. */
  bundleDigest?: string | null;
  /** The run's outcome (accepted, not-accepted, screened, passed-narrowed); absent in entries of older gates. */
  outcome?: string;
  mode?: string;
  /** The goldens' trust state (verified, trusted-by-flag, ...). */
  goldens?: string | null;
  modelName: string | null;
  bundle: string;
  machine: { hostname: string; platform: string; cpus: number };
  scope: { full: boolean; node: boolean; browsers: string[]; shard?: string };
  level: string;
  accepted: boolean;
  complete: boolean;
  metrics: Record<string, number>;
}

export function readHistory(path: string): { entries: HistoryEntry[]; problems: string[] } {
  if (!existsSync(path)) return { entries: [], problems: [] };
  // a device or folder given as the history (e.g. /dev/full, /dev/zero) has no lines to read, and may never end
  if (!statSync(path).isFile()) return { entries: [], problems: [`${path}: not a regular file, no history read from it`] };
  const entries: HistoryEntry[] = [];
  const problems: string[] = [];
  readFileSync(path, 'utf8')
    .split('\n')
    .forEach((line, i) => {
      if (!line.trim()) return;
      try {
        const e = JSON.parse(line) as HistoryEntry;
        if (typeof e.runId !== 'string' || typeof e.metrics !== 'object' || e.metrics === null) throw new Error('no runId or metrics');
        entries.push(e);
      } catch (err) {
        problems.push(`${path} line ${i + 1}: ${(err as Error).message}`);
      }
    });
  return { entries, problems };
}

export function appendHistory(path: string, e: HistoryEntry): void {
  mkdirSync(dirname(path), { recursive: true });
  appendFileSync(path, JSON.stringify(e) + '\n');
}

// ---------------------------------------------------------------------------------------------------------
// Baseline and drift

export interface Baseline {
  source: string;
  runId: string | null;
  modelSha256: string | null;
  /** The baseline run's bundle digest, when its gate recorded one. */
  bundleDigest?: string | null;
  time: string | null;
  metrics: Record<string, number>;
}

/**
 * A baseline from a run folder (its verdict.json), a verdict.json, or a history file (its last entry other
 * than `excludeRunId`; `history.jsonl#<runId>` picks one). Throws with the path and what was expected.
 */
export function loadBaseline(arg: string, excludeRunId?: string): Baseline {
  const [pathPart, pick] = arg.includes('#') ? [arg.slice(0, arg.indexOf('#')), arg.slice(arg.indexOf('#') + 1)] : [arg, undefined];
  let path = pathPart!;
  if (!existsSync(path))
    throw new Error(
      `--baseline ${arg}: no such file or folder; give a run folder (reports/<run>), its verdict.json or reports/history.jsonl`,
    );
  if (statSync(path).isDirectory()) {
    path = join(path, 'verdict.json');
    if (!existsSync(path)) throw new Error(`--baseline ${arg}: the folder has no verdict.json (not a gate run folder)`);
  }
  if (path.endsWith('.jsonl')) {
    const { entries } = readHistory(path);
    const candidates = entries.filter((e) => (pick ? e.runId === pick : e.runId !== excludeRunId));
    const e = candidates[candidates.length - 1];
    if (!e) throw new Error(`--baseline ${arg}: ${pick ? `no run ${pick} in the history` : 'the history has no earlier run'}`);
    return {
      source: `${path}#${e.runId}`,
      runId: e.runId,
      modelSha256: e.modelSha256,
      bundleDigest: e.bundleDigest ?? null,
      time: e.time,
      metrics: e.metrics,
    };
  }
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`--baseline ${arg}: ${path} is not readable JSON (${(e as Error).message})`);
  }
  const metrics = (v.keyMetrics ?? v.metrics) as Record<string, number> | undefined;
  if (!metrics || typeof metrics !== 'object')
    throw new Error(`--baseline ${arg}: ${path} has no keyMetrics (not a verdict.json of this gate)`);
  const bundle = v.bundle as { modelSha256?: string; digest?: string | null } | undefined;
  return {
    source: path,
    runId: typeof v.runId === 'string' ? v.runId : null,
    modelSha256: bundle?.modelSha256 ?? (typeof v.modelSha256 === 'string' ? v.modelSha256 : null),
    bundleDigest: typeof bundle?.digest === 'string' ? bundle.digest : null,
    time: typeof v.finishedAt === 'string' ? v.finishedAt : typeof v.time === 'string' ? v.time : null,
    metrics,
  };
}

export interface DriftOptions {
  /** The run being judged (excluded from the spread). */
  currentRunId?: string;
  /** Whether the checks behind each current key still pass. */
  passing?: Map<string, boolean>;
}

/** Every key metric that moved beyond its band, with both numbers. */
export function computeDrift(
  current: Record<string, number>,
  baseline: Baseline,
  history: HistoryEntry[],
  opts: DriftOptions = {},
): DriftReport {
  const drift: Drift[] = [];
  // the spread of the baseline's own bundle: the same digest (every file) when both carry one, else the same model
  const samePeer = (h: HistoryEntry): boolean =>
    baseline.bundleDigest && h.bundleDigest
      ? h.bundleDigest === baseline.bundleDigest
      : baseline.modelSha256 !== null && h.modelSha256 === baseline.modelSha256;
  const peers = history.filter((h) => h.runId !== opts.currentRunId && samePeer(h));
  let compared = 0;
  for (const [key, b] of Object.entries(baseline.metrics)) {
    const c = current[key];
    if (typeof c !== 'number' || typeof b !== 'number') continue;
    compared++;
    const points = peers.map((h) => h.metrics[key]).filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
    let band: number;
    let basis: Drift['basis'];
    if (points.length >= MIN_HISTORY_POINTS) {
      band = Math.max(Math.max(...points) - Math.min(...points), BAND_ABS_FLOOR);
      basis = 'history-spread';
    } else {
      band = DEFAULT_REL_BAND * Math.abs(b) + BAND_ABS_FLOOR;
      basis = 'default-band';
    }
    const change = Math.abs(c - b);
    if (change > band) {
      drift.push({
        key,
        baseline: b,
        current: c,
        change,
        band,
        basis,
        points: basis === 'history-spread' ? points.length : 0,
        direction: c > b ? 'up' : 'down',
        stillPassing: opts.passing?.get(key) ?? null,
      });
    }
  }
  return {
    baseline: {
      source: baseline.source,
      runId: baseline.runId,
      modelSha256: baseline.modelSha256,
      bundleDigest: baseline.bundleDigest ?? null,
      time: baseline.time,
    },
    compared,
    drift: drift.sort((a, b) => b.change / (b.band || 1) - a.change / (a.band || 1)),
    missing: Object.keys(baseline.metrics)
      .filter((k) => !(k in current))
      .sort(),
    added: Object.keys(current)
      .filter((k) => !(k in baseline.metrics))
      .sort(),
  };
}
