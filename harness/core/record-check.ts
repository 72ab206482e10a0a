/**
 * Machine-readable check results. Every check (Node or browser) appends one JSON line per case to
 * <reportDir>/checks.jsonl; the gate verdict aggregates them. A record never says "pass" for a case that
 * did not run: such a case is 'error' with the reason.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { nonCanonical } from './case-id.js';
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
}

export function recordCheck(rec: CheckRecord, dir = reportDir()): void {
  // one name per case (harness/core/case-id.ts): a record whose id is not what caseId() builds is a harness bug
  const wrong = nonCanonical(rec.id);
  if (wrong) throw new Error(`recordCheck: case id ${rec.id}: ${wrong}`);
  mkdirSync(dir, { recursive: true });
  const line = JSON.stringify({ ...rec, time: rec.time ?? new Date().toISOString() }, (_k, v) =>
    typeof v === 'number' && !Number.isFinite(v) ? String(v) : v,
  );
  appendFileSync(join(dir, 'checks.jsonl'), line + '\n');
}
