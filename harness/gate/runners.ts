/**
 * The test runners' own view of a run, read from their JSON reports: vitest's json reporter and Playwright's
 * json reporter (also what `playwright merge-reports --reporter=json` writes from shard blobs). The verdict
 * cross-checks these against checks.jsonl: a failed test without a failing record is still a failure, a file
 * that failed to load and a project with no tests are reasons, never passes.
 */
import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, join, relative } from 'node:path';
import type { RunnerFileError, RunnerResults, RunnerTest } from './types.js';

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown, d = ''): string => (typeof v === 'string' ? v : d);
const numOr = (v: unknown, d = 0): number => (typeof v === 'number' && Number.isFinite(v) ? v : d);

function readJsonReport(path: string, runner: 'vitest' | 'playwright'): { json: Record<string, unknown> } | RunnerResults {
  const empty: RunnerResults = { runner, report: null, tests: [], fileErrors: [], globalErrors: [], projects: [], success: null };
  if (!existsSync(path))
    return { ...empty, problem: `${path}: missing: ${runner} did not write its JSON report (crashed, killed, or never started)` };
  try {
    const json = JSON.parse(readFileSync(path, 'utf8')) as unknown;
    if (!isObj(json)) return { ...empty, report: path, problem: `${path}: not a ${runner} JSON report (not an object)` };
    return { json };
  } catch (e) {
    return {
      ...empty,
      report: path,
      problem: `${path}: unreadable ${runner} JSON report (${(e as Error).message}); the run was probably cut off`,
    };
  }
}

const rel = (root: string, p: string): string => (isAbsolute(p) ? relative(root, p) : p).split('\\').join('/');

/** Strips ANSI colour codes runners put in error messages. */
export function stripAnsi(s: string): string {
  return s.replace(/\u001b\[[0-9;]*m/g, '');
}

/** vitest's json reporter output (reporters: ['json']). */
export function readVitestReport(path: string, root: string): RunnerResults {
  const r = readJsonReport(path, 'vitest');
  if (!('json' in r)) return r;
  const j = r.json;
  const tests: RunnerTest[] = [];
  const fileErrors: RunnerFileError[] = [];
  for (const f of arr(j.testResults)) {
    if (!isObj(f)) continue;
    const file = rel(root, str(f.name));
    const assertions = arr(f.assertionResults).filter(isObj);
    // A file that could not be imported (or threw at top level) has status failed, a message and no tests.
    if (str(f.status) === 'failed' && (assertions.length === 0 || str(f.message))) {
      if (assertions.length === 0 || !assertions.some((a) => str(a.status) === 'failed')) {
        fileErrors.push({
          runner: 'vitest',
          file,
          message: stripAnsi(str(f.message, 'failed without a test result (load or hook error)')),
        });
      }
    }
    for (const a of assertions) {
      tests.push({
        runner: 'vitest',
        file,
        title: str(a.title),
        path: arr(a.ancestorTitles).map((x) => str(x)),
        project: 'node',
        status: str(a.status, 'unknown'),
        steps: [],
        errors: arr(a.failureMessages).map((m) => stripAnsi(str(m))),
        durationMs: numOr(a.duration),
      });
    }
  }
  return {
    runner: 'vitest',
    report: path,
    tests,
    fileErrors,
    globalErrors: [],
    projects: ['node'],
    success: typeof j.success === 'boolean' ? j.success : null,
  };
}

interface PwSuite {
  title?: unknown;
  file?: unknown;
  suites?: unknown;
  specs?: unknown;
}

/** Playwright's json reporter output (single run or merge-reports). */
export function readPlaywrightReport(path: string, root: string): RunnerResults {
  const r = readJsonReport(path, 'playwright');
  if (!('json' in r)) return r;
  const j = r.json;
  const config = isObj(j.config) ? j.config : {};
  const rootDir = str(config.rootDir, root);
  const projects = arr(config.projects)
    .filter(isObj)
    .map((p) => str(p.name))
    .filter(Boolean);
  const tests: RunnerTest[] = [];
  const fileErrors: RunnerFileError[] = [];
  const globalErrors: string[] = [];

  const walk = (s: PwSuite, path: string[], file: string): void => {
    for (const spec of arr(s.specs)) {
      if (!isObj(spec)) continue;
      const specFile = rel(root, join(rootDir, str(spec.file, file)));
      for (const t of arr(spec.tests)) {
        if (!isObj(t)) continue;
        const results = arr(t.results).filter(isObj);
        const last = results[results.length - 1];
        const outcome = str(t.status); // expected | unexpected | flaky | skipped
        let status = last ? str(last.status, 'unknown') : 'skipped';
        if (outcome === 'flaky') status = 'flaky';
        else if (outcome === 'skipped') status = 'skipped';
        else if (outcome === 'unexpected' && status === 'passed') status = 'failed'; // expected to fail, passed
        const annotations = arr(t.annotations).filter(isObj);
        const engine = annotations.find((a) => str(a.type) === 'engine');
        const steps = results.flatMap((res) =>
          arr(res.steps)
            .filter(isObj)
            .map((st) => str(st.title)),
        );
        tests.push({
          runner: 'playwright',
          file: specFile,
          title: str(spec.title),
          path,
          project: str(t.projectName, str(t.projectId)),
          status,
          steps,
          errors: results.flatMap((res) =>
            arr(res.errors)
              .filter(isObj)
              .map((e) => stripAnsi(str(e.message, str(e.value)))),
          ),
          durationMs: results.reduce((a, res) => a + numOr(res.duration), 0),
          ...(engine ? { engine: str(engine.description) } : {}),
        });
      }
    }
    for (const child of arr(s.suites)) if (isObj(child)) walk(child as PwSuite, [...path, str((child as PwSuite).title)], file);
  };
  for (const fileSuite of arr(j.suites)) {
    if (!isObj(fileSuite)) continue;
    const fs = fileSuite as PwSuite;
    walk(fs, [], str(fs.file, str(fs.title)));
  }
  for (const e of arr(j.errors)) {
    if (!isObj(e)) continue;
    const message = stripAnsi(str(e.message, str(e.value, JSON.stringify(e))));
    const loc = isObj(e.location) ? str(e.location.file) : '';
    // An error located in a spec file outside any test: the file failed to load.
    if (loc && /\.(spec|test)\.[cm]?[jt]sx?$/.test(loc)) fileErrors.push({ runner: 'playwright', file: rel(root, loc), message });
    else globalErrors.push(message);
  }
  const stats = isObj(j.stats) ? j.stats : {};
  return {
    runner: 'playwright',
    report: path,
    tests,
    fileErrors,
    globalErrors,
    projects,
    success: globalErrors.length === 0 && fileErrors.length === 0 && numOr(stats.unexpected) === 0,
  };
}

/** Test statuses that mean the test ran and passed. */
export const PASSED = new Set(['passed']);
/** Test statuses that mean the test did not run: never a pass. */
export const NOT_RUN = new Set(['skipped', 'pending', 'todo', 'interrupted']);
