/**
 * Reading checks.jsonl (harness/core/record-check.ts writes it, one record per case) for the gate. Unreadable lines are
 * not dropped silently: they come back as problems the verdict turns into a reason. Case ids are query-like
 * (`family:key=value,key=value`); idParams() reads them.
 */
import { existsSync, readFileSync } from 'node:fs';
import { parseCaseId, SELF_TEST_KEYS } from '../core/case-id.js';
import type { CheckStatus, Metric, RecordOrigin } from '../core/record-check.js';
import type { GateRecord } from './types.js';

export const CHECKS_FILE = 'checks.jsonl';

/**
 * Keys of a case id that mark a self-test: a check run on a model or page broken on purpose, whose 'pass'
 * means the break was caught (mutant= in the Node suites, proof= in images/browser suites, fault= in the
 * bundle and ONNX-reader suites). Families whose name ends in '-mutant' are self-tests too. The list is the
 * case-id grammar's (harness/core/case-id.json).
 */
export { SELF_TEST_KEYS };

const SELF_TEST_RE = new RegExp(`(^|[:,])(${SELF_TEST_KEYS.join('|')})=`);

export function isSelfTest(r: { id: string; check: string }): boolean {
  return SELF_TEST_RE.test(r.id) || r.check.endsWith('-mutant');
}

/** `velocity:variant=guided,breed=Bombay,t=0.5` -> { variant: 'guided', breed: 'Bombay', t: '0.5' } (bare words are keys with ''). */
export function idParams(id: string): Record<string, string> {
  return parseCaseId(id).params;
}

export function idFamily(id: string): string {
  return parseCaseId(id).family;
}

const STATUSES: readonly CheckStatus[] = ['pass', 'fail', 'error'];

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function metricMap(v: unknown): Record<string, Metric> {
  if (!isObj(v)) return {};
  const out: Record<string, Metric> = {};
  for (const [k, x] of Object.entries(v)) {
    out[k] = typeof x === 'number' || typeof x === 'string' || typeof x === 'boolean' || x === null ? x : JSON.stringify(x);
  }
  return out;
}

/** Parses one JSON line into a record, or returns why it is not one. */
export function parseRecord(line: string): GateRecord | string {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch (e) {
    return `not JSON (${(e as Error).message})`;
  }
  if (!isObj(v)) return 'not a JSON object';
  const { id, check, runtime, status } = v;
  if (typeof id !== 'string' || !id) return 'no id';
  if (typeof check !== 'string' || !check) return `${id}: no check family`;
  if (typeof runtime !== 'string' || !runtime) return `${id}: no runtime`;
  if (typeof status !== 'string' || !STATUSES.includes(status as CheckStatus))
    return `${id}: status ${JSON.stringify(status)} is not pass|fail|error`;
  const test = originOf(v.test);
  return {
    id,
    check,
    runtime,
    status: status as CheckStatus,
    metrics: metricMap(v.metrics),
    threshold: metricMap(v.threshold),
    message: typeof v.message === 'string' ? v.message : '',
    artifacts: Array.isArray(v.artifacts) ? v.artifacts.filter((a): a is string => typeof a === 'string') : [],
    ...(typeof v.time === 'string' ? { time: v.time } : {}),
    ...(test ? { test } : {}),
  };
}

/** A record's `test` field, when it is well formed (an older record has none; a malformed one is ignored). */
function originOf(v: unknown): RecordOrigin | null {
  if (!isObj(v)) return null;
  const { runner, file, title, path, project } = v;
  if ((runner !== 'vitest' && runner !== 'playwright') || typeof file !== 'string' || typeof title !== 'string') return null;
  return {
    runner,
    file,
    title,
    path: Array.isArray(path) ? path.filter((x): x is string => typeof x === 'string') : [],
    ...(typeof project === 'string' ? { project } : {}),
  };
}

export interface ReadRecords {
  records: GateRecord[];
  /** `checks.jsonl line N: why` for every line that is not a record. */
  problems: string[];
}

/** Reads every record of a checks.jsonl; a missing file is no records (the verdict then finds families missing). */
export function readRecords(path: string): ReadRecords {
  if (!existsSync(path)) return { records: [], problems: [] };
  const text = readFileSync(path, 'utf8');
  const lines = text.split('\n');
  const records: GateRecord[] = [];
  const problems: string[] = [];
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    const r = parseRecord(line);
    // A last line cut off by a kill is a partial write, still reported: the case it held is lost.
    if (typeof r === 'string')
      problems.push(`${path} line ${i + 1}: ${r}${i === lines.length - 1 ? ' (cut off: the run was killed while writing)' : ''}`);
    else records.push(r);
  });
  return { records, problems };
}

/**
 * The same case recorded twice (a retried test, a rerun appended to the same folder): the worst status wins,
 * so a failure is never hidden by a later pass; the records are kept in first-seen order.
 */
export function dedupeRecords(records: GateRecord[]): GateRecord[] {
  const rank: Record<CheckStatus, number> = { pass: 0, fail: 1, error: 2 };
  const byKey = new Map<string, GateRecord>();
  for (const r of records) {
    const key = `${r.runtime}\u0000${r.id}`;
    const prev = byKey.get(key);
    if (!prev || rank[r.status] > rank[prev.status]) byKey.set(key, prev ? { ...r } : r);
  }
  const order: string[] = [];
  const seen = new Set<string>();
  for (const r of records) {
    const key = `${r.runtime}\u0000${r.id}`;
    if (!seen.has(key)) {
      seen.add(key);
      order.push(key);
    }
  }
  return order.map((k) => byKey.get(k)!);
}

/** A metric as a finite number, or null (non-finite values arrive as strings 'NaN', 'Infinity'). */
export function num(m: Metric | undefined): number | null {
  return typeof m === 'number' && Number.isFinite(m) ? m : null;
}
