/**
 * Machine-readable check results. Every check (Node or browser) appends one JSON line per case to
 * <reportDir>/checks.jsonl; the gate verdict aggregates them. A record never says "pass" for a case that
 * did not run: such a case is 'error' with the reason.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { nonCanonical, parseCaseId } from './case-id.js';
import { reportDir } from './config.js';

export type CheckStatus = 'pass' | 'fail' | 'error';
export type Metric = number | string | boolean | null;

export interface CheckRecord {
  /** Stable, query-like id a person can paste to rerun: e.g. `velocity:variant=guided,breed=Bombay,t=0.5,batch=1`. */
  id: string;
  /** The check family: contract, weights, noise, velocity, trajectory, behaviour, image, stats, fidelity, ... */
  check: string;
  /** Where it ran: node, chromium, firefox, webkit, python. */
  runtime: string;
  status: CheckStatus;
  metrics: Record<string, Metric>;
  /** The thresholds it was judged by, with their names. */
  threshold?: Record<string, Metric>;
  message?: string;
  /** Files (relative to the report folder) that show the evidence: images, diffs, curves. */
  artifacts?: string[];
  time?: string;
  /** The case id's parameters (written by recordCheck from the id). */
  params?: Record<string, string>;
  /** The test that wrote the record (written by recordCheck when a runner has said which test is running). */
  test?: RecordOrigin;
}

/** Which test wrote a record: the runner's own names for it, so the gate finds the test without guessing. */
export interface RecordOrigin {
  runner: 'vitest' | 'playwright';
  /** Relative to the repository root. */
  file: string;
  /** The test's own title. */
  title: string;
  /** describe blocks, outermost first. */
  path: string[];
  /** The Playwright project (engine). */
  project?: string;
}

let currentOrigin: (() => RecordOrigin | null) | null = null;

/**
 * Tells recordCheck which test is running (suites/node/setup.ts for vitest, the browser fixtures for Playwright);
 * null forgets it. Every record written afterwards names that test.
 */
export function setRecordOrigin(origin: (() => RecordOrigin | null) | null): void {
  currentOrigin = origin;
}

/** The test running now, as recordCheck would name it (null outside a test): handed to checkers in other processes. */
export function currentRecordOrigin(): RecordOrigin | null {
  return currentOrigin?.() ?? null;
}

export function recordCheck(rec: CheckRecord, dir = reportDir()): void {
  // one name per case (harness/core/case-id.ts): a record whose id is not what caseId() builds is a harness bug
  const wrong = nonCanonical(rec.id);
  if (wrong) throw new Error(`recordCheck: case id ${rec.id}: ${wrong}`);
  mkdirSync(dir, { recursive: true });
  const origin = rec.test ?? currentOrigin?.() ?? null;
  const full: CheckRecord = {
    ...rec,
    time: rec.time ?? new Date().toISOString(),
    params: parseCaseId(rec.id).params,
    ...(origin ? { test: origin } : {}),
  };
  const line = JSON.stringify(full, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v));
  appendFileSync(join(dir, 'checks.jsonl'), line + '\n');
}
