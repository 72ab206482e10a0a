/**
 * From a check record to the test that produced it, and the one command that reruns it.
 *
 * A record written by a suite names its test (`test`: runner, file, describe blocks, title, project; harness/core/record-check.ts),
 * and the gate takes that test. Records without it (older runs, the Python provenance checker's) are matched by
 * the case id (`family:key=value,...`, the same text in the record and in the title of the test or step that
 * writes it): a test or test.step titled with the id, else a title that contains it, else the test of
 * a failed test whose error message names the id, else the test of
 * the same family whose key=value pairs are all in the id (`generation:variant=guided,seed=7 (13 breeds)`
 * covers `generation:engine=chromium,variant=guided,breed=Bombay,seed=7`). Node records (runtime node or
 * python) belong to vitest; a browser runtime's records to that Playwright project.
 */
import { idFamily, idParams } from './records.js';
import type { GateRecord, ReplayCommand, RunnerTest } from './types.js';
import { isEngine } from '../runtimes/registry.js';

export function isBrowserRuntime(runtime: string): boolean {
  return isEngine(runtime);
}

export function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** POSIX shell single-quoting. */
export function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

export interface TestMatch {
  test: RunnerTest;
  /** How it matched: the test's title, one of its steps, its error message, or a title's parameters (a group of cases). */
  via: 'origin' | 'title' | 'step' | 'error' | 'contains' | 'params';
}

/**
 * `generation:variant=guided,seed=7 (13 breeds)` -> family generation and its key=value pairs (a trailing note
 * dropped); `aspect=output-layer` -> no family, one pair. Anything else (prose) -> null.
 */
function titleParams(title: string): { family: string | null; params: Record<string, string> } | null {
  const m = /^(?:([\w+.-]+):)?([\w.-]+=[^,\s]+(?:,[\w.-]+=[^,\s]+)*)(?:\s|$)/.exec(title.trim());
  if (!m) return null;
  return { family: m[1] ?? null, params: idParams(`x:${m[2]}`) };
}

/** The test a record came from, or null when none can be told apart. */
export function matchTest(r: Pick<GateRecord, 'id' | 'runtime' | 'test'>, tests: RunnerTest[]): TestMatch | null {
  const o = r.test;
  if (o) {
    const same = (t: RunnerTest): boolean =>
      t.runner === o.runner &&
      t.file === o.file &&
      t.title === o.title &&
      t.path.join('\u0000') === o.path.join('\u0000') &&
      (o.project === undefined || t.project === o.project);
    const named = tests.find(same);
    if (named) return { test: named, via: 'origin' };
  }
  const browser = isBrowserRuntime(r.runtime);
  const pool = tests.filter((t) => (browser ? t.runner === 'playwright' && t.project === r.runtime : t.runner === 'vitest'));
  const exact = pool.find((t) => t.title === r.id);
  if (exact) return { test: exact, via: 'title' };
  const step = pool.find((t) => t.steps.includes(r.id));
  if (step) return { test: step, via: 'step' };
  // a failed test whose error names the case (suites put the case id in their assertion messages)
  const mention = new RegExp(`(^|[^\\w,=+.:-])${escapeRegex(r.id)}($|[^\\w,=+.-])`);
  const named = pool.find((t) => t.errors.some((e) => mention.test(e)));
  if (named) return { test: named, via: 'error' };
  const contains = pool.find((t) => t.title.includes(r.id) || [...t.path, t.title].join(' ').includes(r.id));
  if (contains) return { test: contains, via: 'contains' };
  const family = idFamily(r.id);
  const params = idParams(r.id);
  // the key=value pairs of the test's title and describe blocks together must all be in the id
  let best: { t: RunnerTest; score: number } | null = null;
  for (const t of pool) {
    const parts = [...t.path, t.title].map(titleParams);
    if (!parts[parts.length - 1]) continue; // the test's own title must be a case pattern, not prose
    const families = parts.map((p) => p?.family).filter((f): f is string => !!f);
    if (families.some((f) => f !== family && !f.split('+').includes(family))) continue;
    const entries = parts.flatMap((p) => (p ? Object.entries(p.params) : []));
    if (!entries.length || !entries.every(([k, v]) => params[k] === v)) continue;
    const score = entries.length + (families.length ? 0.5 : 0);
    if (!best || score > best.score) best = { t, score };
  }
  return best ? { test: best.t, via: 'params' } : null;
}

export interface ReplayContext {
  /** The bundle dir as the user gave it (kept relative when it was). */
  bundle: string;
  /** The app under test of the run (verdict scope.app): a browser replay drives the same app. */
  app?: { name: string; url?: string };
}

/** The environment a replay needs: the bundle, a report folder of its own, and for a browser test the app under test. */
function replayEnv(ctx: ReplayContext, browser: boolean): string[] {
  const env = [`TINYDIT_BUNDLE=${shellQuote(ctx.bundle)}`, 'TINYDIT_REPORT_DIR=reports/replay'];
  if (browser && ctx.app) {
    env.push(`TINYDIT_APP=${shellQuote(ctx.app.name)}`);
    if (ctx.app.url) env.push(`TINYDIT_APP_URL=${shellQuote(ctx.app.url)}`);
  }
  return env;
}

/** The command that reruns one case; `exact` when it selects that case alone. */
export function replayCommand(r: Pick<GateRecord, 'id' | 'runtime'>, match: TestMatch | null, ctx: ReplayContext): ReplayCommand {
  const env = replayEnv(ctx, isBrowserRuntime(r.runtime));
  if (isBrowserRuntime(r.runtime)) {
    if (!match) {
      return {
        command: [...env, `TINYDIT_CASE=${shellQuote(escapeRegex(r.id))}`, 'npx playwright test', `--project=${r.runtime}`].join(' '),
        exact: false,
      };
    }
    const t = match.test;
    const caseEnv =
      match.via === 'title' || match.via === 'error' || (match.via === 'origin' && t.title === r.id)
        ? []
        : [`TINYDIT_CASE=${shellQuote(escapeRegex(r.id))}`];
    return {
      command: [
        ...env,
        ...caseEnv,
        'npx playwright test',
        shellQuote(t.file),
        `--project=${t.project}`,
        '-g',
        shellQuote(escapeRegex(t.title)),
      ].join(' '),
      exact: match.via !== 'params',
    };
  }
  if (!match) return { command: [...env, 'npx vitest run', '-t', shellQuote(escapeRegex(r.id))].join(' '), exact: false };
  const t = match.test;
  return {
    command: [...env, 'npx vitest run', shellQuote(t.file), '-t', shellQuote(escapeRegex(t.title))].join(' '),
    exact: match.via !== 'params',
  };
}

/** Rerun command of a failed test that has no record behind it. */
export function replayTest(t: RunnerTest, ctx: ReplayContext): ReplayCommand {
  const env = replayEnv(ctx, t.runner === 'playwright');
  if (t.runner === 'playwright') {
    return {
      command: [
        ...env,
        'npx playwright test',
        shellQuote(t.file),
        ...(t.project ? [`--project=${t.project}`] : []),
        ...(t.title ? ['-g', shellQuote(escapeRegex(t.title))] : []),
      ].join(' '),
      exact: true,
    };
  }
  return {
    command: [...env, 'npx vitest run', shellQuote(t.file), ...(t.title ? ['-t', shellQuote(escapeRegex(t.title))] : [])].join(' '),
    exact: true,
  };
}
