/**
 * The verdict: one yes or no, with every reason. A pure function of what the run left behind (check records,
 * the runners' own reports, how the child processes ended), so it is computed the same way from one run or
 * from merged shards, and unit-tested on synthetic inputs (suites/harness/gate.test.ts).
 *
 * Fail closed: accepted only when the run is complete, the scope is the full gate (nothing narrowed it: no option,
 * no environment variable), the bundle has goldens and their provenance was verified (or trusted by the recorded
 * --trust-goldens flag), every judged check passed, every self-test caught its broken model, every test the runners ran
 * passed, no test was skipped, every suite process ended normally, every selected engine ran tests, and every
 * expected check family recorded at least one case. Anything else is a named reason.
 */
import { dedupeRecords, idParams, isSelfTest, num } from './records.js';
import { matchTest, replayCommand, replayTest, isBrowserRuntime, type TestMatch } from './replay.js';
import { keyMetrics } from './metrics.js';
import { NOT_RUN, PASSED } from './runners.js';
import {
  VERDICT_FORMAT,
  type Counts,
  type EngineVersion,
  type GateMode,
  type GateRecord,
  type GoldensTrust,
  type Outcome,
  type ProcessOutcome,
  type Reason,
  type RunnerResults,
  type RunnerTest,
  type Scope,
  type Verdict,
  type VerdictCheck,
} from './types.js';

// the check families and their expectations are defined once, in families.ts
import { CONTRACT_ONLY_SUITES, EXPECTED_FAMILIES, type FamilyExpectation, type Level } from './families.js';
import { engineRuns, isEngine } from '../runtimes/registry.js';
export { CONTRACT_ONLY_SUITES, EXPECTED_FAMILIES, type FamilyExpectation, type Level } from './families.js';

/** Reason codes that are notes: shown with the verdict, never a cause of refusal. */
export const NOTE_CODES = new Set(['engine-init-retried', 'goldens-trusted-unverified', 'allow-narrow-ignored']);

/**
 * Reason codes that say what the run was, not that something failed: they keep a run from being an acceptance,
 * and leave 'screened' or 'passed-narrowed' possible when everything the run did judge passed.
 */
export const SCOPE_CODES = new Set(['narrowed-scope', 'screening', 'goldens-unverified']);

/**
 * Reason codes that say the MODEL (or the bundle it ships in) is at fault: the outcome is then 'rejected'. Every
 * other blocking reason says the harness or the environment could not judge (a crash, a timeout, a missing
 * report or family, a check that errored): the outcome is then 'inconclusive', never a rejection of the model.
 * A model fault wins over a harness fault in the same run: a check that ran and failed is a judgement.
 */
export const MODEL_CODES = new Set(['checks-failed', 'self-test-failed', 'bundle-refused', 'goldens-missing', 'drift']);

/** What to rerun after an inconclusive run: the run itself, and the tests the harness could not finish. */
function rerunAdvice(input: VerdictInput, faults: Reason[], tests: RunnerTest[]): Verdict['rerun'] {
  const broken = tests.filter((t) => !PASSED.has(t.status));
  const engines = [...new Set(broken.filter((t) => t.runner === 'playwright').map((t) => t.project))];
  const causes = [...new Set(faults.map((f) => f.code))];
  return {
    command: input.runCommand,
    why:
      `the harness or the environment could not reach a verdict (${causes.join(', ') || 'incomplete'}); nothing here says the model is at fault. ` +
      `Rerun the gate${engines.length ? ` (the engines that broke: ${engines.join(', ')})` : ''}; if it repeats, the causes above name what to fix on the machine`,
    tests: broken.slice(0, 20).map((t) => replayTest(t, { bundle: input.bundleArg }).command),
  };
}

/** The runtimes of a manifest budget (docs/performance.md) that a run of this scope judges; none in a shard. */
export function budgetRuntimesInScope(
  budget: { fullGenerationMs?: Record<string, number> } | undefined | null,
  node: boolean,
  browsers: string[],
  shard?: string,
): string[] {
  if (!budget?.fullGenerationMs || shard) return [];
  return Object.keys(budget.fullGenerationMs).filter((rt) => (rt === 'node' ? node : browsers.includes(rt)));
}

export interface VerdictInput {
  runId: string;
  startedAt: string;
  finishedAt: string | null;
  /** The run ended before everything finished (signal, kill): never accepted. */
  interrupted: boolean;
  /** Set when the bundle was refused before anything ran. */
  refused?: string;
  level: Level | 'refused' | 'unknown';
  scope: Scope;
  bundle: Verdict['bundle'];
  /** The bundle as the user named it (for replay commands). */
  bundleArg: string;
  records: GateRecord[];
  recordProblems: string[];
  vitest: RunnerResults | null;
  playwright: RunnerResults | null;
  processes: ProcessOutcome[];
  machine: Record<string, unknown>;
  /** Package versions (onnxruntime-node, onnxruntime-web, Playwright, vitest) and PyTorch from the manifest. */
  packages: EngineVersion[];
  env: Record<string, string>;
  files: Record<string, string | null>;
  runCommand: string;
  expectations?: FamilyExpectation[];
  /** Kept for old callers: a bundle without goldens is never accepted, with or without it. */
  requireFull?: boolean;
  /** 'screen': the contract-level screening (default 'gate': the release decision). */
  mode?: GateMode;
  /** --trust-goldens was given: goldens of a bundle without a checkpoint may be accepted unverified (recorded). */
  trustGoldens?: boolean;
}

function reason(code: string, message: string): Reason {
  return { code, message };
}

function list<T>(xs: T[], fmt: (x: T) => string, max = 8): string {
  const shown = xs.slice(0, max).map(fmt).join('; ');
  return xs.length > max ? `${shown}; ... and ${xs.length - max} more` : shown;
}

const FAILED_TEST = new Set(['failed', 'timedOut', 'flaky', 'unknown']);

/** How Playwright reports a browser that went away under a test (crashed, killed, disconnected), across engines. */
export const BROWSER_GONE =
  /Target page, context or browser has been closed|Target crashed|Page crashed|browser has disconnected|Browser closed|Browser has been closed|Connection closed/i;

/** The engines and versions a run used: records' engine metrics, Playwright's engine annotations, packages. */
export function collectEngines(records: GateRecord[], tests: RunnerTest[], packages: EngineVersion[]): EngineVersion[] {
  const out = new Map<string, EngineVersion>();
  const add = (e: EngineVersion): void => {
    const key = `${e.runtime}|${e.name}|${e.version}`;
    if (!out.has(key)) out.set(key, e);
  };
  for (const r of records) {
    const name = r.metrics.engine;
    const version = r.metrics.engineVersion;
    if (typeof name === 'string' && (typeof version === 'string' || typeof version === 'number')) {
      add({ runtime: r.runtime, name, version: String(version), source: 'checks.jsonl' });
    }
    // the WebGPU adapter a runtime ran on (its loading record): vendor and architecture, device and description when given
    const vendor = r.metrics['adapter.vendor'];
    if (typeof vendor === 'string' && r.check === 'loading') {
      const parts = [vendor, r.metrics['adapter.architecture'], r.metrics['adapter.device'], r.metrics['adapter.description']];
      const adapter = parts.filter((x): x is string => typeof x === 'string' && x !== '').join(' / ');
      add({ runtime: r.runtime, name: 'WebGPU adapter', version: adapter || 'unknown', source: 'checks.jsonl' });
    }
  }
  for (const t of tests) {
    if (t.runner !== 'playwright' || !t.engine) continue;
    const m = /^(.*), version (.*)$/.exec(t.engine);
    add({ runtime: t.project, name: m ? m[1]! : t.engine, version: m ? m[2]! : 'unknown', source: 'playwright annotation' });
  }
  for (const p of packages) add(p);
  return [...out.values()];
}

/** Seeds (from ids and metrics) and thread counts (metrics threads / numThreads) per runtime. */
export function collectDeterminism(records: GateRecord[]): { seeds: number[]; threads: Record<string, number[]> } {
  const seeds = new Set<number>();
  const threads: Record<string, Set<number>> = {};
  for (const r of records) {
    const p = idParams(r.id);
    for (const k of ['seed', 'seeds']) {
      for (const s of (p[k] ?? '').split(/[|+]/)) if (/^\d+$/.test(s)) seeds.add(Number(s));
    }
    const seedMetric = num(r.metrics.seed) ?? num(r.metrics.noiseSeed);
    if (seedMetric !== null) seeds.add(seedMetric);
    for (const k of ['threads', 'numThreads']) {
      const t = num(r.metrics[k]) ?? (/^\d+$/.test(p[k] ?? '') ? Number(p[k]) : null);
      if (t !== null) (threads[r.runtime] ??= new Set()).add(t);
    }
  }
  return {
    seeds: [...seeds].sort((a, b) => a - b),
    threads: Object.fromEntries(Object.entries(threads).map(([k, v]) => [k, [...v].sort((a, b) => a - b)])),
  };
}

function countsOf(checks: VerdictCheck[], tests: RunnerTest[]): Counts {
  const byRuntime: Counts['byRuntime'] = {};
  const byCheck: Counts['byCheck'] = {};
  let passed = 0,
    failed = 0,
    errors = 0,
    selfTests = 0,
    selfTestsFailed = 0;
  for (const c of checks) {
    const ok = c.status === 'pass';
    if (ok) passed++;
    else if (c.status === 'error') errors++;
    else failed++;
    if (c.selfTest) {
      selfTests++;
      if (!ok) selfTestsFailed++;
    }
    const rt = (byRuntime[c.runtime] ??= { total: 0, passed: 0, failed: 0 });
    const ck = (byCheck[c.check] ??= { total: 0, passed: 0, failed: 0 });
    for (const g of [rt, ck]) {
      g.total++;
      if (ok) g.passed++;
      else g.failed++;
    }
  }
  return {
    total: checks.length,
    passed,
    failed,
    errors,
    selfTests,
    selfTestsFailed,
    byRuntime,
    byCheck,
    tests: {
      vitest: tests.filter((t) => t.runner === 'vitest').length,
      playwright: tests.filter((t) => t.runner === 'playwright').length,
      failed: tests.filter((t) => FAILED_TEST.has(t.status)).length,
      notRun: tests.filter((t) => NOT_RUN.has(t.status)).length,
    },
  };
}

function testId(t: RunnerTest): string {
  return `test:runner=${t.runner},project=${t.project},file=${t.file},title=${[...t.path, t.title].join(' > ')}`;
}

export function computeVerdict(input: VerdictInput): Verdict {
  const reasons: Reason[] = [];
  const expectations = input.expectations ?? EXPECTED_FAMILIES;
  const records = dedupeRecords(input.records);
  const tests = [...(input.vitest?.tests ?? []), ...(input.playwright?.tests ?? [])];
  const ctx = { bundle: input.bundleArg, ...(input.scope.app ? { app: input.scope.app } : {}) };

  const mode: GateMode = input.mode ?? 'gate';
  if (input.refused !== undefined) reasons.push(reason('bundle-refused', input.refused));
  if (mode === 'gate' && input.level === 'contract-only') {
    reasons.push(
      reason(
        'goldens-missing',
        'the bundle has no goldens/: acceptance needs the numeric checks against goldens, and they could not run. ' +
          'Build the goldens with reference/python/make_bundle.py; to screen a model that has none yet, run `npm run gate -- --screen --bundle <dir>` (a screening, never an acceptance)',
      ),
    );
  }
  if (mode === 'screen') {
    reasons.push(
      reason(
        'screening',
        "a --screen run: contract, weights and behaviour only (no goldens, no browsers' per-breed generation): a screening of the model, not a release decision; run the gate without --screen on a bundle with goldens for an acceptance",
      ),
    );
  }
  if (input.interrupted) reasons.push(reason('interrupted', 'the run was interrupted before it finished: the results below are partial'));
  if (!input.scope.full) {
    reasons.push(
      reason(
        'narrowed-scope',
        `not the full gate: ${input.scope.narrowed.join('; ')}; a narrowed run is never an acceptance ` +
          '(everything in its scope passing is reported as passed-narrowed, exit 4); run without narrowing options and with those variables unset for an acceptance',
      ),
    );
  }
  if (input.scope.allowNarrow) {
    reasons.push(
      reason(
        'allow-narrow-ignored',
        '--allow-narrow no longer lets a narrowed run be accepted: a narrowed run whose checks all pass is reported as passed-narrowed (exit 4)',
      ),
    );
  }
  for (const p of input.recordProblems) reasons.push(reason('checks-unreadable', p));
  const pageFaults = input.env.TINYDIT_PAGE_FAULTS?.trim();
  if (pageFaults && input.scope.browsers.length) {
    reasons.push(
      reason(
        'page-faults-injected',
        `the browser suites ran with page faults injected (env TINYDIT_PAGE_FAULTS=${pageFaults}): a run that tests the gate, never an acceptance; unset TINYDIT_PAGE_FAULTS`,
      ),
    );
  }

  // ---- child processes ----
  for (const p of input.processes) {
    if (p.spawnError) reasons.push(reason('suite-not-started', `${p.name} could not be started (${p.spawnError}): ${p.command}`));
    else if (p.timedOut)
      reasons.push(
        reason(
          'suite-timeout',
          `${p.name} ran past its time limit and was killed after ${(p.durationMs / 1000).toFixed(0)} s; see ${p.log}`,
        ),
      );
    else if (p.interrupted) {
      /* covered by 'interrupted' */
    } else if (p.signal) reasons.push(reason('suite-crashed', `${p.name} was killed by ${p.signal}; see ${p.log}`));
    if (p.logError)
      reasons.push(
        reason('report-unwritable', `${p.name}: its log ${p.log} could not be written (${p.logError}): free space in the report folder`),
      );
  }

  // ---- runner reports ----
  const runnerOf: Array<[RunnerResults | null, boolean, string]> = [
    [input.vitest, input.scope.node && input.refused === undefined, 'vitest'],
    [input.playwright, input.scope.browsers.length > 0 && input.refused === undefined, 'playwright'],
  ];
  for (const [rr, expected, name] of runnerOf) {
    if (!expected) continue;
    const proc = input.processes.find((p) => p.name === name);
    if (!rr || rr.problem) {
      if (!input.interrupted) reasons.push(reason('no-report', rr?.problem ?? `${name}: no report was read`));
      continue;
    }
    for (const f of rr.fileErrors)
      reasons.push(
        reason('file-failed-to-load', `${f.runner}: ${f.file} failed to load or run: ${f.message.split('\n').slice(0, 3).join(' ')}`),
      );
    for (const g of rr.globalErrors) reasons.push(reason('global-error', `${name}: ${g.split('\n').slice(0, 3).join(' ')}`));
    const failedTests = rr.tests.filter((t) => !PASSED.has(t.status));
    if (
      proc &&
      proc.exitCode !== null &&
      proc.exitCode !== 0 &&
      !proc.timedOut &&
      !proc.interrupted &&
      failedTests.length === 0 &&
      rr.fileErrors.length === 0 &&
      rr.globalErrors.length === 0
    ) {
      reasons.push(
        reason(
          'suite-crashed',
          `${name} exited with code ${proc.exitCode} but its report shows no failure (crash, unhandled error or config problem); see ${proc.log}`,
        ),
      );
    }
    if (rr.runner === 'vitest' && rr.tests.length === 0 && rr.fileErrors.length === 0) {
      reasons.push(reason('project-empty', 'vitest ran 0 tests: no Node suite ran'));
    }
  }
  if (input.playwright && !input.playwright.problem && input.refused === undefined) {
    // the spec files this run gave Playwright, when it named some: an engine that runs none of them has no tests to run
    const suitesRun = input.scope.suites?.browser?.length
      ? input.scope.suites.browser
      : input.level === 'contract-only' || mode === 'screen'
        ? CONTRACT_ONLY_SUITES.browser
        : null;
    for (const project of input.scope.browsers) {
      const pt = input.playwright.tests.filter((t) => t.project === project);
      if (pt.length === 0 && suitesRun && isEngine(project) && !suitesRun.some((s) => engineRuns(project, s))) continue;
      if (pt.length === 0) {
        if (!input.interrupted)
          reasons.push(
            reason(
              'project-empty',
              `Playwright project ${project} ran 0 tests (engine missing from the config, or everything filtered out)`,
            ),
          );
        continue;
      }
      if (!pt.some((t) => t.engine) && !records.some((r) => r.runtime === project)) {
        const why = pt.flatMap((t) => t.errors).find((e) => e) ?? 'no test of it reached the browser';
        // the cause and the line after it (the fixtures' message says how to install the engine there)
        reasons.push(
          reason(
            'engine-not-started',
            `${project}: the engine did not start: ${why
              .split('\n')
              .filter((l) => l.trim())
              .slice(0, 2)
              .join(' ')}`,
          ),
        );
      }
    }
  }

  // ---- records and tests, cross-checked ----
  const matches = new Map<GateRecord, TestMatch | null>();
  for (const r of records) matches.set(r, matchTest(r, tests));
  const checks: VerdictCheck[] = records.map((r) => {
    const m = matches.get(r) ?? null;
    const selfTest = isSelfTest(r);
    return {
      id: r.id,
      check: r.check,
      runtime: r.runtime,
      status: r.status,
      metrics: r.metrics,
      threshold: r.threshold,
      message: r.message,
      artifacts: r.artifacts,
      selfTest,
      source: 'record' as const,
      ...(m ? { test: { runner: m.test.runner, file: m.test.file, title: m.test.title, project: m.test.project } } : {}),
      ...(r.status !== 'pass' ? { replay: replayCommand(r, m, ctx) } : {}),
    };
  });
  // a failed (or unrun) test must be explained by a failing record of its own; otherwise it is a check of its own
  const failingRecordTests = new Set<RunnerTest>();
  for (const [r, m] of matches) if (m && r.status !== 'pass') failingRecordTests.add(m.test);
  const unrecorded: RunnerTest[] = [];
  const notRun: RunnerTest[] = [];
  for (const t of tests) {
    if (PASSED.has(t.status)) continue;
    if (NOT_RUN.has(t.status)) {
      notRun.push(t);
      continue;
    }
    if (failingRecordTests.has(t)) continue;
    unrecorded.push(t);
  }
  for (const rr of [input.vitest, input.playwright]) {
    for (const f of rr?.fileErrors ?? []) {
      checks.push({
        id: `file:runner=${f.runner},file=${f.file}`,
        check: 'test',
        runtime: f.runner === 'vitest' ? 'node' : 'browser',
        status: 'error',
        metrics: {},
        threshold: {},
        artifacts: [],
        selfTest: false,
        source: 'runner',
        message: `the suite file failed to load or run, so none of its checks ran: ${f.message.split('\n').slice(0, 6).join('\n')}`,
        replay: replayTest(
          {
            runner: f.runner,
            file: f.file,
            title: '',
            path: [],
            project: f.runner === 'vitest' ? 'node' : '',
            status: 'failed',
            steps: [],
            errors: [],
            durationMs: 0,
          },
          ctx,
        ),
      });
    }
  }
  for (const t of [...unrecorded, ...notRun]) {
    const ran = !NOT_RUN.has(t.status);
    checks.push({
      id: testId(t),
      check: 'test',
      runtime: t.project,
      status: ran ? 'fail' : 'error',
      metrics: { status: t.status, durationMs: t.durationMs },
      threshold: {},
      artifacts: [],
      selfTest: false,
      source: 'runner',
      message: ran
        ? `the test ${t.status} without a failing check record: ${(t.errors[0] ?? 'no error message').split('\n').slice(0, 6).join('\n')}`
        : `the test did not run (${t.status}): a check that did not run is not a pass`,
      test: { runner: t.runner, file: t.file, title: t.title, project: t.project },
      replay: replayTest(t, ctx),
    });
  }
  // hung tests and lost browsers, named as such (the runner stopped them and went on with the next test)
  const timedOut = tests.filter((t) => t.status === 'timedOut');
  if (timedOut.length) {
    reasons.push(
      reason(
        'test-timeout',
        `${timedOut.length} test(s) hung past their time limit and were stopped: ` +
          list(timedOut, (t) => `${t.project} ${t.file} "${t.title}" (stopped after ${(t.durationMs / 1000).toFixed(0)} s)`) +
          ' (the limits that wait on the model come from its speed measured at the start of the run, speed-profile.json: docs/time-bounds.md)',
      ),
    );
  }
  const crashed = tests.filter(
    (t) => t.runner === 'playwright' && t.status !== 'timedOut' && FAILED_TEST.has(t.status) && t.errors.some((e) => BROWSER_GONE.test(e)),
  );
  if (crashed.length) {
    reasons.push(
      reason(
        'engine-crashed',
        `${crashed.length} test(s) lost their browser mid-test (it crashed or was killed; the following tests got a new one): ` +
          list(crashed, (t) => `${t.project} ${t.file} "${t.title}": ${(t.errors.find((e) => BROWSER_GONE.test(e)) ?? '').split('\n')[0]}`),
      ),
    );
  }
  if (unrecorded.length)
    reasons.push(
      reason(
        'test-failed-unrecorded',
        `${unrecorded.length} test(s) failed with no failing check record: ${list(unrecorded, (t) => `${t.project} ${t.file} "${t.title}"`)}`,
      ),
    );
  if (notRun.length)
    reasons.push(
      reason(
        'test-not-run',
        `${notRun.length} test(s) did not run: ${list(notRun, (t) => `${t.project} ${t.file} "${t.title}" (${t.status})`)}`,
      ),
    );

  // ---- expected families (a screening expects the contract-level families, whatever the bundle holds) ----
  const level = input.level;
  if ((level === 'full' || level === 'contract-only') && !input.scope.grep && input.refused === undefined && !input.interrupted) {
    const judgedAt: Level = mode === 'screen' ? 'contract-only' : level;
    for (const e of expectations) {
      if (!e.levels.includes(judgedAt)) continue;
      // a run limited to some suite files cannot be expected to cover the others' families
      const limited = e.where === 'node' ? input.scope.suites?.node : input.scope.suites?.browser;
      if (limited?.length) continue;
      // the gate's plan for the image size runs some browser specs: the families they hold are expected in its engines
      const planned = e.where === 'node' ? undefined : input.scope.plan?.browserSuites;
      if (planned && !(e.suites ?? []).some((s) => planned.includes(s))) continue;
      const runtimes =
        e.where === 'node'
          ? input.scope.node
            ? ['node']
            : []
          : input.scope.shard
            ? []
            : input.scope.browsers.filter((b) => !isEngine(b) || !e.suites || e.suites.some((s) => engineRuns(b, s)));
      for (const rt of runtimes) {
        const has = records.some(
          (r) => !isSelfTest(r) && r.check === e.family && (e.where === 'node' ? !isBrowserRuntime(r.runtime) : r.runtime === rt),
        );
        if (!has)
          reasons.push(
            reason(
              'family-missing',
              `no ${e.family} check ran on ${rt}: its suite did not run or recorded nothing (expected at level ${judgedAt})`,
            ),
          );
      }
    }
  }

  // ---- the speed budget: a manifest that states one is judged on every runtime of it in scope ----
  const budget = (input.bundle.manifest as { budget?: { fullGenerationMs?: Record<string, number> } } | null)?.budget;
  if (
    budget?.fullGenerationMs &&
    (level === 'full' || level === 'contract-only') &&
    !input.scope.grep &&
    input.refused === undefined &&
    !input.interrupted
  ) {
    const fix = `run \`npm run bench -- --budget-only --bundle ${ctx.bundle} --report-dir <this run folder>\` then \`npm run gate -- render <this run folder>\`, or the gate without --shard`;
    if (input.scope.shard || input.scope.mergedFrom) {
      if (!records.some((r) => r.check === 'speed' && !isSelfTest(r))) {
        reasons.push(
          reason(
            'speed-not-judged',
            `the manifest states a speed budget (budget.fullGenerationMs: ${Object.keys(budget.fullGenerationMs).join(', ')}) and a sharded run does not measure it: ${fix}`,
          ),
        );
      }
    } else {
      for (const rt of budgetRuntimesInScope(budget, input.scope.node, input.scope.browsers)) {
        if (!records.some((r) => r.check === 'speed' && r.runtime === rt && !isSelfTest(r))) {
          reasons.push(
            reason(
              'family-missing',
              `no speed check ran on ${rt}: the manifest states budget.fullGenerationMs.${rt} = ${budget.fullGenerationMs[rt]} ms and the benchmark recorded nothing for it (see logs/bench.log); ${fix}`,
            ),
          );
        }
      }
    }
    const bench = input.processes.find((p) => p.name === 'bench');
    if (
      bench &&
      bench.exitCode !== null &&
      bench.exitCode !== 0 &&
      !bench.timedOut &&
      !bench.interrupted &&
      !records.some((r) => r.check === 'speed' && !isSelfTest(r) && r.status !== 'pass')
    ) {
      reasons.push(
        reason(
          'suite-crashed',
          `the speed benchmark exited with code ${bench.exitCode} without a failing speed record (a configuration it could not measure, or a crash); see ${bench.log}`,
        ),
      );
    }
  }

  // ---- notes (never blocking): a browser load that needed a second worker because onnxruntime-web's backend
  //      initialization hung (harness/runtimes/web/main.ts); the model was judged in the second one, the retry is shown ----
  const retried = records.filter((r) => !isSelfTest(r) && typeof r.metrics.initAttempts === 'number' && r.metrics.initAttempts > 1);
  if (retried.length) {
    reasons.push(
      reason(
        'engine-init-retried',
        `${retried.length} browser load(s) abandoned a worker whose onnxruntime-web initialization hung (before parsing the model) and loaded in a new one: ` +
          list(retried, (r) => `${r.id} (${String(r.metrics.initFailures ?? '').split(';')[0]})`, 4),
      ),
    );
  }

  // ---- the goldens' own provenance: the bundle's yardsticks are not taken on faith ----
  const goldens = goldensTrust(records, input.level, input.trustGoldens === true);
  if (mode === 'gate' && input.level === 'full') {
    if (goldens.state === 'unverified') {
      reasons.push(
        reason(
          'goldens-unverified',
          'no provenance record says the goldens follow from the checkpoint (suites/node/provenance.test.ts did not run in this scope): ' +
            'numeric agreement with goldens nobody re-derived proves nothing about the model; run the full gate',
        ),
      );
    } else if (goldens.state === 'trusted-by-flag') {
      reasons.push(
        reason(
          'goldens-trusted-unverified',
          'the bundle ships no checkpoint, so its goldens could not be re-derived: they were TRUSTED, not verified, because --trust-goldens was given (recorded here)',
        ),
      );
    }
  }

  // ---- failures ----
  // 'fail': the check ran and the model failed it; 'error': the check could not reach a judgement (harness or environment)
  const judgedFailed = checks.filter((c) => c.status === 'fail' && !c.selfTest && c.source === 'record');
  const judgedErrored = checks.filter((c) => c.status === 'error' && !c.selfTest && c.source === 'record');
  const selfFailed = checks.filter((c) => c.status === 'fail' && c.selfTest);
  const selfErrored = checks.filter((c) => c.status === 'error' && c.selfTest);
  if (judgedErrored.length)
    reasons.unshift(
      reason(
        'checks-errored',
        `${judgedErrored.length} check(s) could not run to a judgement (status error: the harness or the environment, not the model): ${list(judgedErrored, (c) => c.id, 5)}`,
      ),
    );
  if (judgedFailed.length)
    reasons.unshift(reason('checks-failed', `${judgedFailed.length} check(s) failed: ${list(judgedFailed, (c) => c.id, 5)}`));
  if (selfFailed.length)
    reasons.push(
      reason(
        'self-test-failed',
        `${selfFailed.length} proof(s) failed: a check passed this model broken on purpose, so it cannot vouch for this model: ${list(selfFailed, (c) => c.id, 5)}`,
      ),
    );
  if (selfErrored.length)
    reasons.push(
      reason('self-test-errored', `${selfErrored.length} proof(s) could not run (status error): ${list(selfErrored, (c) => c.id, 5)}`),
    );

  const rank = (c: VerdictCheck): number => (c.status === 'pass' ? 3 : c.source === 'runner' ? 2 : c.selfTest ? 1 : 0);
  const ordered = checks
    .map((c, i) => ({ c, i }))
    .sort((a, b) => rank(a.c) - rank(b.c) || a.i - b.i)
    .map((x) => x.c);
  const failed = ordered.filter((c) => c.status !== 'pass').map((c) => c.id);

  const blocking = reasons.filter((r) => !NOTE_CODES.has(r.code) && !SCOPE_CODES.has(r.code));
  const scopeNotes = reasons.filter((r) => SCOPE_CODES.has(r.code));
  const complete = !input.interrupted && input.finishedAt !== null;
  const modelFaults = blocking.filter((r) => MODEL_CODES.has(r.code));
  const harnessFaults = blocking.filter((r) => !MODEL_CODES.has(r.code));
  let outcome: Outcome;
  if (modelFaults.length > 0) outcome = 'rejected';
  else if (!complete || harnessFaults.length > 0 || failed.length > 0 || !(level === 'full' || level === 'contract-only'))
    outcome = 'inconclusive';
  else if (!input.scope.full) outcome = 'passed-narrowed';
  else if (mode === 'screen') outcome = 'screened';
  else if (scopeNotes.length > 0 || level !== 'full') outcome = 'inconclusive';
  else outcome = 'accepted';
  const accepted = outcome === 'accepted';
  const det = collectDeterminism(records);
  const why =
    (outcome === 'rejected' ? modelFaults[0]?.message : harnessFaults[0]?.message) ??
    (failed.length ? `${failed.length} check(s) failed` : (scopeNotes[0]?.message ?? 'not complete'));
  const rerun = outcome === 'inconclusive' ? rerunAdvice(input, harnessFaults, tests) : undefined;

  return {
    format: VERDICT_FORMAT,
    runId: input.runId,
    complete,
    outcome,
    mode,
    accepted,
    ...(rerun ? { rerun } : {}),
    reason: accepted ? '' : why,
    reasons,
    level: input.level,
    scope: input.scope,
    startedAt: input.startedAt,
    finishedAt: input.finishedAt,
    bundle: input.bundle,
    goldens,
    machine: input.machine,
    engines: collectEngines(records, tests, input.packages),
    determinism: { ...det, env: input.env },
    counts: countsOf(ordered, tests),
    failed,
    checks: ordered,
    processes: input.processes,
    keyMetrics: keyMetrics(ordered),
    drift: [],
    driftReport: null,
    files: input.files,
    replay: {
      run: input.runCommand,
      failed: Object.fromEntries(ordered.filter((c) => c.replay).map((c) => [c.id, c.replay!.command])),
    },
  };
}

/**
 * The goldens' trust state from the run's provenance records (family 'provenance', self-tests left out):
 * every record passed and none says it was trusted by flag: verified; a record with metrics.trustedByFlag: the
 * bundle ships no checkpoint and --trust-goldens was given; any failure: failed; none: unverified.
 */
export function goldensTrust(records: GateRecord[], level: string, flag: boolean): GoldensTrust {
  const prov = records.filter((r) => r.check === 'provenance' && !isSelfTest(r));
  const passed = prov.filter((r) => r.status === 'pass').length;
  const counts = { passed, total: prov.length };
  if (level === 'contract-only') return { state: 'absent', flag, provenance: counts };
  if (prov.length === 0) return { state: 'unverified', flag, provenance: counts };
  if (passed < prov.length) return { state: 'failed', flag, provenance: counts };
  if (prov.some((r) => r.metrics.trustedByFlag === true))
    return { state: flag ? 'trusted-by-flag' : 'unverified', flag, provenance: counts };
  return { state: 'verified', flag, provenance: counts };
}
