/**
 * The gate judges the gate: the verdict logic on synthetic records and runner results (every way a run can
 * fail to be a pass: a failed check, a failed self-test, a failed test without a record, a skipped test, a
 * file that did not load, an engine that ran nothing, a crashed or timed-out suite, a missing family, an
 * interrupted run, a narrowed scope, a refused bundle), the runners' report readers, record-to-test matching
 * and replay commands, key metrics and drift (synthetic, and on the real model with slightly perturbed
 * weights), the agreement matrix, the summary page, the judge's view (verdict.judge from the judge family's evidence,
 * 'missing' without it, its section of the page), and the CLI end to end on a refused bundle, a suite file
 * that fails to load, and an interrupted run.
 * Each case is recorded as gate:selftest=<what> (a self-test of the harness, not a judgement of the model).
 */
import { caseId, caseIdWith } from '../../harness/core/case-id.js';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadBundle } from '../../harness/model/bundle.js';
import { compareTensors, comparisonMetrics, toleranceBand } from '../../harness/core/compare.js';
import { bundleDir, REPO_ROOT } from '../../harness/core/config.js';
import { linkTree, writeFresh } from '../../harness/mutants/materialise.js';
import { agreementMatrix } from '../../harness/gate/agreement.js';
import {
  BAND_ABS_FLOOR,
  DEFAULT_REL_BAND,
  MIN_HISTORY_POINTS,
  computeDrift,
  keyMetricGroups,
  keyMetrics,
  loadBaseline,
  type HistoryEntry,
} from '../../harness/gate/metrics.js';
import { dedupeRecords, idParams, isSelfTest, parseRecord, readRecords } from '../../harness/gate/records.js';
import { escapeRegex, matchTest, replayCommand } from '../../harness/gate/replay.js';
import { renderJUnitVerdict } from '../../harness/gate/junit.js';
import { ProgressLine } from '../../harness/gate/progress.js';
import { JUDGE_EVIDENCE, judgeSection, type JudgeScope } from '../../harness/gate/judge.js';
import { gatePlan, rejudge } from '../../harness/gate/gate.js';
import { JUDGE_EXPLAINED, renderReport } from '../../harness/gate/report.js';
import { SAMPLE_BREEDS, writeSampleJudge, writeSampleRun } from '../../harness/gate/sample-report.js';
import { readPlaywrightReport, readVitestReport } from '../../harness/gate/runners.js';
import {
  OUTCOME_EXIT,
  type GateRecord,
  type JudgeSection,
  type Outcome,
  type ProcessOutcome,
  type RunnerResults,
  type RunnerTest,
  type Scope,
  type Verdict,
  type VerdictCheck,
} from '../../harness/gate/types.js';
import { EXPECTED_FAMILIES, computeVerdict, type VerdictInput } from '../../harness/gate/verdict.js';
import { withInitializers } from '../../harness/model/onnx-edit.js';
import { encodeNpy, parseNpy } from '../../harness/core/npy.js';
import { encodePNG } from '../../harness/core/png.js';
import { recordCheck } from '../../harness/core/record-check.js';
import { openModelBytes } from '../../harness/runtimes/node.js';
import { ENGINES } from '../../harness/runtimes/registry.js';

// ---------------------------------------------------------------------------------------------------------
// Synthetic run material

function rec(id: string, over: Partial<GateRecord> = {}): GateRecord {
  const family = id.slice(0, id.indexOf(':'));
  return { id, check: family, runtime: 'node', status: 'pass', metrics: {}, threshold: {}, message: '', artifacts: [], ...over };
}

function vtest(title: string, status = 'passed', file = 'suites/node/x.test.ts'): RunnerTest {
  return {
    runner: 'vitest',
    file,
    title,
    path: [],
    project: 'node',
    status,
    steps: [],
    errors: status === 'passed' ? [] : ['AssertionError: boom'],
    durationMs: 1,
  };
}

function ptest(title: string, project: string, status = 'passed', steps: string[] = []): RunnerTest {
  return {
    runner: 'playwright',
    file: 'suites/browser/generation.spec.ts',
    title,
    path: [],
    project,
    status,
    steps,
    errors: status === 'passed' ? [] : ['Error: expect failed'],
    durationMs: 1,
    engine: `${project} engine, version 1.0`,
  };
}

function runnerOf(runner: 'vitest' | 'playwright', tests: RunnerTest[], extra: Partial<RunnerResults> = {}): RunnerResults {
  return {
    runner,
    report: `${runner}.json`,
    tests,
    fileErrors: [],
    globalErrors: [],
    projects: runner === 'vitest' ? ['node'] : [...ENGINES],
    success: true,
    ...extra,
  };
}

function proc(name: string, over: Partial<ProcessOutcome> = {}): ProcessOutcome {
  return {
    name,
    command: name,
    exitCode: 0,
    signal: null,
    timedOut: false,
    interrupted: false,
    durationMs: 1000,
    log: `logs/${name}.log`,
    ...over,
  };
}

const FULL_SCOPE: Scope = { full: true, node: true, browsers: [...ENGINES], narrowed: [], allowNarrow: false };

/** A complete, passing run: every expected family on every runtime, each record matched to a passing test. */
function passingRun(): { records: GateRecord[]; vitest: RunnerTest[]; playwright: RunnerTest[] } {
  const records: GateRecord[] = [];
  const vitest: RunnerTest[] = [];
  const playwright: RunnerTest[] = [];
  for (const f of EXPECTED_FAMILIES.filter((e) => e.where === 'node')) {
    const id = `${f.family}:variant=guided,case=1`;
    records.push(rec(id, { metrics: { maxAbs: 1e-6, worstRatio: 0.1 } }));
    vitest.push(vtest(id, 'passed', `suites/node/${f.family}.test.ts`));
  }
  records.push(rec('velocity:variant=guided,mutant=zeroed', { check: 'velocity-mutant', message: 'rejected as expected' }));
  vitest.push(vtest('velocity:variant=guided,mutant=zeroed', 'passed', 'suites/node/velocity.test.ts'));
  for (const e of ENGINES) {
    const steps: string[] = [];
    for (const b of ['Abyssinian', 'Bombay']) {
      const id = caseId('generation', { engine: e, variant: 'guided', breed: b, seed: 7 });
      records.push(
        rec(id, {
          runtime: e,
          metrics: { 'state.maxAbs': 3e-7, 'state.worstRatio': 0.01, engine: `${e} engine`, engineVersion: '1.0', threads: 1 },
        }),
      );
      steps.push(id);
    }
    records.push(rec(caseId('loading', { engine: e, variant: 'guided', threads: 1 }), { runtime: e }));
    playwright.push(ptest('generation:variant=guided,seed=7 (2 breeds)', e, 'passed', steps));
    const appId = caseId('app', { engine: e, app: 'reference', check: 'defaults', variant: 'guided', breed: 'Bombay', seed: 7 });
    records.push(rec(appId, { runtime: e }));
    playwright.push(ptest('app:check=defaults', e, 'passed', [appId]));
  }
  return { records, vitest, playwright };
}

function input(over: Partial<VerdictInput> = {}, run = passingRun()): VerdictInput {
  return {
    runId: 'test-run',
    startedAt: '2026-01-01T00:00:00Z',
    finishedAt: '2026-01-01T00:10:00Z',
    interrupted: false,
    level: 'full',
    scope: FULL_SCOPE,
    bundle: {
      dir: '/b',
      modelFile: 'model.onnx',
      modelSha256: 'a'.repeat(64),
      manifestSha256: 'a'.repeat(64),
      manifest: { name: 'm', breeds: ['Abyssinian', 'Bombay'] },
    },
    bundleArg: 'fixtures/default',
    records: run.records,
    recordProblems: [],
    vitest: runnerOf('vitest', run.vitest),
    playwright: runnerOf('playwright', run.playwright),
    processes: [proc('vitest'), proc('playwright')],
    machine: { hostname: 'h', platform: 'linux', cpus: 2 },
    packages: [],
    env: {},
    files: {},
    runCommand: 'npm run gate',
    ...over,
  };
}

const codes = (v: Verdict): string[] => v.reasons.map((r) => r.code);

/** Records the self-test and asserts it (the assertion's message names the case). */
function selftest(what: string, ok: boolean, message: string, metrics: Record<string, number | string | boolean | null> = {}): void {
  recordCheck({
    id: caseIdWith(`gate:selftest=${what}`, {}),
    check: 'gate',
    runtime: 'node',
    status: ok ? 'pass' : 'fail',
    metrics,
    message,
  });
  expect(ok, `gate:selftest=${what}: ${message}`).toBe(true);
}

// ---------------------------------------------------------------------------------------------------------

describe('verdict: accepted only when everything ran and passed', () => {
  it('gate:selftest=accepts-a-complete-passing-run', () => {
    const v = computeVerdict(input());
    selftest(
      'accepts-a-complete-passing-run',
      v.accepted && v.complete && v.failed.length === 0 && v.reasons.length === 0,
      `accepted=${v.accepted}, reasons: ${v.reasons.map((r) => r.message).join(' | ')}`,
    );
    expect(v.counts.selfTests).toBe(1);
    expect(v.engines.some((e) => e.runtime === 'webkit' && e.version === '1.0')).toBe(true);
    expect(v.determinism.seeds).toEqual([7]);
    expect(v.determinism.threads.chromium).toEqual([1]);
  });

  // Each case: one thing broken in an otherwise passing run -> not accepted, with this reason code, and the outcome
  // says whose fault it is: 'rejected' (the model) or 'inconclusive' (the harness or the environment).
  const broken: Array<{ what: string; code: string; outcome: Outcome; make: () => VerdictInput; failedId?: RegExp }> = [
    {
      what: 'failed-check',
      outcome: 'rejected',
      code: 'checks-failed',
      failedId: /^velocity:variant=guided,case=1$/,
      make: () => {
        const r = passingRun();
        r.records.find((x) => x.check === 'velocity')!.status = 'fail';
        r.vitest.find((t) => t.title.startsWith('velocity:'))!.status = 'failed';
        return input({}, r);
      },
    },
    {
      what: 'error-record',
      outcome: 'inconclusive',
      code: 'checks-errored',
      failedId: /^trajectory:/,
      make: () => {
        const r = passingRun();
        r.records.find((x) => x.check === 'trajectory')!.status = 'error';
        return input({}, r);
      },
    },
    {
      what: 'self-test-not-caught',
      outcome: 'rejected',
      code: 'self-test-failed',
      failedId: /mutant=zeroed/,
      make: () => {
        const r = passingRun();
        r.records.find((x) => x.check === 'velocity-mutant')!.status = 'fail';
        return input({}, r);
      },
    },
    {
      what: 'failed-test-without-record',
      outcome: 'inconclusive',
      code: 'test-failed-unrecorded',
      failedId: /^test:runner=vitest/,
      make: () => {
        const r = passingRun();
        r.vitest.push(vtest('an assertion outside any record', 'failed'));
        return input({}, r);
      },
    },
    {
      what: 'browser-test-failed-without-record',
      outcome: 'inconclusive',
      code: 'test-failed-unrecorded',
      failedId: /^test:runner=playwright,project=firefox/,
      make: () => {
        const r = passingRun();
        r.playwright.push(ptest('progress:steps=10', 'firefox', 'timedOut'));
        return input({}, r);
      },
    },
    {
      what: 'skipped-test',
      outcome: 'inconclusive',
      code: 'test-not-run',
      failedId: /^test:runner=vitest/,
      make: () => {
        const r = passingRun();
        r.vitest.push(vtest('skipped case', 'skipped'));
        return input({}, r);
      },
    },
    {
      what: 'file-failed-to-load',
      outcome: 'inconclusive',
      code: 'file-failed-to-load',
      failedId: /^file:runner=vitest,file=suites\/node\/images\.test\.ts$/,
      make: () => {
        const r = passingRun();
        return input(
          {
            vitest: runnerOf('vitest', r.vitest, {
              fileErrors: [{ runner: 'vitest', file: 'suites/node/images.test.ts', message: 'SyntaxError' }],
            }),
          },
          r,
        );
      },
    },
    {
      what: 'project-ran-nothing',
      outcome: 'inconclusive',
      code: 'project-empty',
      make: () => {
        const r = passingRun();
        r.playwright = r.playwright.filter((t) => t.project !== 'webkit');
        r.records = r.records.filter((x) => x.runtime !== 'webkit');
        return input({}, r);
      },
    },
    {
      what: 'engine-did-not-start',
      outcome: 'inconclusive',
      code: 'engine-not-started',
      make: () => {
        const r = passingRun();
        r.records = r.records.filter((x) => x.runtime !== 'firefox');
        r.playwright = r.playwright.map((t) =>
          t.project === 'firefox'
            ? { ...t, status: 'failed', engine: undefined as unknown as string, errors: ['firefox could not be launched: install it'] }
            : t,
        );
        return input({}, r);
      },
    },
    {
      what: 'suite-crashed',
      outcome: 'inconclusive',
      code: 'suite-crashed',
      make: () => input({ processes: [proc('vitest', { exitCode: null, signal: 'SIGSEGV' }), proc('playwright')] }),
    },
    {
      what: 'suite-timed-out',
      outcome: 'inconclusive',
      code: 'suite-timeout',
      make: () => input({ processes: [proc('vitest'), proc('playwright', { exitCode: null, signal: 'SIGTERM', timedOut: true })] }),
    },
    {
      what: 'exit-code-without-failure',
      outcome: 'inconclusive',
      code: 'suite-crashed',
      make: () => input({ processes: [proc('vitest', { exitCode: 1 }), proc('playwright')] }),
    },
    {
      what: 'report-missing',
      outcome: 'inconclusive',
      code: 'no-report',
      make: () => input({ playwright: { ...runnerOf('playwright', []), report: null, problem: 'playwright.json: missing' } }),
    },
    {
      what: 'family-missing',
      outcome: 'inconclusive',
      code: 'family-missing',
      make: () => {
        const r = passingRun();
        r.records = r.records.filter((x) => x.check !== 'stats');
        return input({}, r);
      },
    },
    {
      what: 'browser-family-missing',
      outcome: 'inconclusive',
      code: 'family-missing',
      make: () => {
        const r = passingRun();
        r.records = r.records.filter((x) => !(x.runtime === 'chromium' && x.check === 'generation'));
        return input({}, r);
      },
    },
    {
      what: 'global-error',
      outcome: 'inconclusive',
      code: 'global-error',
      make: () => {
        const r = passingRun();
        return input({ playwright: runnerOf('playwright', r.playwright, { globalErrors: ['Error: webServer exited early'] }) }, r);
      },
    },
    {
      what: 'unreadable-record-line',
      outcome: 'inconclusive',
      code: 'checks-unreadable',
      make: () => input({ recordProblems: ['checks.jsonl line 7: not JSON'] }),
    },
    {
      what: 'narrowed-scope',
      outcome: 'passed-narrowed',
      code: 'narrowed-scope',
      make: () => input({ scope: { ...FULL_SCOPE, full: false, browsers: ['chromium'], narrowed: ['engines firefox, webkit not run'] } }),
    },
    {
      what: 'bundle-refused',
      outcome: 'rejected',
      code: 'bundle-refused',
      make: () =>
        input({ refused: 'manifest.json: missing', level: 'refused', records: [], vitest: null, playwright: null, processes: [] }),
    },
  ];
  for (const b of broken) {
    it(caseId('gate', { selftest: 'rejects', cause: b.what }), () => {
      const v = computeVerdict(b.make());
      const named = codes(v).includes(b.code);
      const listed = b.failedId ? v.failed.some((id) => b.failedId!.test(id)) : true;
      selftest(
        `rejects,cause=${b.what}`,
        !v.accepted && named && listed && v.outcome === b.outcome,
        `accepted=${v.accepted}; outcome ${v.outcome} (want ${b.outcome}); reasons [${codes(v).join(', ')}] ${named ? 'name' : 'do NOT name'} ${b.code}; failed [${v.failed.slice(0, 4).join(', ')}]`,
      );
      expect(v.reason.length).toBeGreaterThan(0);
    });
  }

  it('gate:selftest=interrupted-is-incomplete', () => {
    const r = passingRun();
    const v = computeVerdict(
      input(
        {
          interrupted: true,
          finishedAt: null,
          processes: [proc('vitest'), proc('playwright', { exitCode: null, signal: 'SIGTERM', interrupted: true })],
        },
        r,
      ),
    );
    selftest(
      'interrupted-is-incomplete',
      !v.complete && !v.accepted && codes(v).includes('interrupted') && v.checks.length === r.records.length,
      `complete=${v.complete} accepted=${v.accepted} reasons=${codes(v).join(',')}; ${v.checks.length} partial checks kept`,
    );
  });

  it('gate:selftest=a-narrowed-run-is-never-accepted', () => {
    const r = passingRun();
    r.records = r.records.filter((x) => x.runtime === 'node');
    const nodeOnly = computeVerdict(
      input(
        {
          scope: { ...FULL_SCOPE, full: false, node: true, browsers: [], narrowed: ['browser suites not run'], allowNarrow: true },
          playwright: null,
          processes: [proc('vitest')],
        },
        r,
      ),
    );
    // TINYDIT_CASE left exported: every engine ran, with one breed; the scope records it and the run is narrowed
    const caseEnv = computeVerdict(
      input({
        scope: {
          ...FULL_SCOPE,
          full: false,
          env: { TINYDIT_CASE: 'Bombay' },
          narrowed: ['env TINYDIT_CASE=Bombay: only cases whose id matches'],
        },
      }),
    );
    const failing = passingRun();
    failing.records.find((x) => x.check === 'velocity')!.status = 'fail';
    const narrowedFail = computeVerdict(
      input({ scope: { ...FULL_SCOPE, full: false, narrowed: ['tests filtered by --grep x'], grep: 'x' } }, failing),
    );
    selftest(
      'a-narrowed-run-is-never-accepted',
      !nodeOnly.accepted &&
        nodeOnly.outcome === 'passed-narrowed' &&
        codes(nodeOnly).includes('narrowed-scope') &&
        codes(nodeOnly).includes('allow-narrow-ignored') &&
        !caseEnv.accepted &&
        caseEnv.outcome === 'passed-narrowed' &&
        caseEnv.scope.env?.TINYDIT_CASE === 'Bombay' &&
        narrowedFail.outcome === 'rejected' &&
        OUTCOME_EXIT['passed-narrowed'] === 4 &&
        OUTCOME_EXIT.accepted === 0,
      `node-only with --allow-narrow: ${nodeOnly.outcome} (${codes(nodeOnly).join(',')}); TINYDIT_CASE=Bombay: ${caseEnv.outcome}; narrowed with a failed check: ${narrowedFail.outcome}`,
    );
  });

  it('gate:selftest=page-faults-are-never-an-acceptance', () => {
    const v = computeVerdict(input({ env: { TINYDIT_PAGE_FAULTS: 'double-guidance' } }));
    const vNodeOnly = computeVerdict(
      input(
        {
          env: { TINYDIT_PAGE_FAULTS: 'double-guidance' },
          scope: { ...FULL_SCOPE, full: false, browsers: [], narrowed: ['browser suites not run'], allowNarrow: true },
          playwright: null,
          processes: [proc('vitest')],
        },
        { ...passingRun(), records: passingRun().records.filter((x) => x.runtime === 'node') },
      ),
    );
    const clean = computeVerdict(input());
    selftest(
      'page-faults-are-never-an-acceptance',
      !v.accepted && codes(v).includes('page-faults-injected') && clean.accepted && !codes(vNodeOnly).includes('page-faults-injected'),
      `all checks passing with TINYDIT_PAGE_FAULTS=double-guidance: accepted=${v.accepted} (${codes(v).join(',')}); without: accepted=${clean.accepted}; Node-only run: reasons=${codes(vNodeOnly).join(',')}`,
    );
  });

  it('gate:selftest=a-stated-budget-without-speed-records-is-not-accepted', () => {
    const withBudget = {
      ...input().bundle,
      manifest: { name: 'm', breeds: ['Abyssinian', 'Bombay'], budget: { fullGenerationMs: { chromium: 2000, node: 500 } } },
    };
    const missing = computeVerdict(input({ bundle: withBudget }));
    const speed = (rt: string): GateRecord =>
      rec(caseId('speed', { runtime: rt, variant: 'quantized', steps: 50, threads: 1 }), { runtime: rt });
    const r = passingRun();
    const judged = computeVerdict(input({ bundle: withBudget }, { ...r, records: [...r.records, speed('node'), speed('chromium')] }));
    const sharded = computeVerdict(input({ bundle: withBudget, scope: { ...FULL_SCOPE, shard: '1/2' } }));
    const missingMsgs = missing.reasons.filter((x) => x.code === 'family-missing').map((x) => x.message);
    selftest(
      'a-stated-budget-without-speed-records-is-not-accepted',
      !missing.accepted &&
        missingMsgs.some((m) => m.includes('no speed check ran on chromium')) &&
        missingMsgs.some((m) => m.includes('no speed check ran on node')) &&
        judged.accepted &&
        !sharded.accepted &&
        codes(sharded).includes('speed-not-judged'),
      `no speed records: accepted=${missing.accepted} (${missingMsgs.join(' | ')}); with them: accepted=${judged.accepted}; sharded: ${codes(sharded).join(',')}`,
    );
  });

  it('gate:selftest=an-engine-init-retry-is-a-note-not-a-refusal', () => {
    const r = passingRun();
    const i = r.records.findIndex((x) => x.check === 'loading');
    const withRetry = r.records.map((x, k) =>
      k === i ? { ...x, metrics: { ...x.metrics, initAttempts: 2, initFailures: 'onnxruntime-web initialization timed out: ...' } } : x,
    );
    const v = computeVerdict(input({}, { ...r, records: withRetry }));
    const note = v.reasons.find((x) => x.code === 'engine-init-retried');
    selftest(
      'an-engine-init-retry-is-a-note-not-a-refusal',
      i >= 0 && v.accepted && !!note && note.message.includes(r.records[i]!.id),
      `a passing run with one retried browser load: accepted=${v.accepted}, note=${note?.message ?? 'none'}`,
    );
  });

  it('gate:selftest=acceptance-needs-goldens-and-screening-is-not-acceptance', () => {
    const r = passingRun();
    r.records = r.records.filter((x) => ['contract', 'weights', 'behaviour', 'velocity-mutant'].includes(x.check));
    r.vitest = r.vitest.filter((t) => /contract|weights|behaviour|mutant/.test(t.title));
    const scope: Scope = { ...FULL_SCOPE, browsers: [] };
    const noGoldens = computeVerdict(input({ level: 'contract-only', scope, playwright: null, processes: [proc('vitest')] }, r));
    const screened = computeVerdict(
      input({ level: 'contract-only', scope, playwright: null, processes: [proc('vitest')], mode: 'screen' }, r),
    );
    const screenMissing = computeVerdict(
      input(
        { level: 'contract-only', scope, playwright: null, processes: [proc('vitest')], mode: 'screen' },
        { ...r, records: r.records.filter((x) => x.check !== 'weights') },
      ),
    );
    // a bundle with goldens, screened: still only a screening
    const fullScreened = computeVerdict(input({ level: 'full', scope, playwright: null, processes: [proc('vitest')], mode: 'screen' }, r));
    selftest(
      'acceptance-needs-goldens-and-screening-is-not-acceptance',
      !noGoldens.accepted &&
        noGoldens.outcome === 'rejected' &&
        codes(noGoldens).includes('goldens-missing') &&
        !screened.accepted &&
        screened.outcome === 'screened' &&
        screened.mode === 'screen' &&
        codes(screened).includes('screening') &&
        screenMissing.outcome === 'inconclusive' &&
        codes(screenMissing).includes('family-missing') &&
        fullScreened.outcome === 'screened' &&
        !fullScreened.accepted &&
        OUTCOME_EXIT.screened === 3,
      `no goldens: ${noGoldens.outcome} (${codes(noGoldens).join(',')}); --screen: ${screened.outcome}; --screen without weights: ${screenMissing.outcome} (${codes(screenMissing).join(',')}); ` +
        `--screen on a full bundle: ${fullScreened.outcome}`,
    );
  });

  it('gate:selftest=goldens-must-be-verified-or-trusted-by-flag', () => {
    const withProv = (status: 'pass' | 'fail', metrics: Record<string, number | boolean> = {}): ReturnType<typeof passingRun> => {
      const r = passingRun();
      const p = r.records.find((x) => x.check === 'provenance')!;
      p.status = status;
      p.metrics = { ...p.metrics, ...metrics };
      if (status !== 'pass') r.vitest.find((t) => t.title === p.id)!.status = 'failed';
      return r;
    };
    const noProv = passingRun();
    noProv.records = noProv.records.filter((x) => x.check !== 'provenance');
    const verified = computeVerdict(input());
    const missing = computeVerdict(input({}, noProv));
    const disagree = computeVerdict(input({}, withProv('fail')));
    const trusted = computeVerdict(input({ trustGoldens: true }, withProv('pass', { trustedByFlag: true, verified: false })));
    const trustedNoFlag = computeVerdict(input({}, withProv('pass', { trustedByFlag: true, verified: false })));
    selftest(
      'goldens-must-be-verified-or-trusted-by-flag',
      verified.accepted &&
        verified.goldens?.state === 'verified' &&
        !missing.accepted &&
        missing.outcome === 'inconclusive' &&
        codes(missing).includes('goldens-unverified') &&
        codes(missing).includes('family-missing') &&
        !disagree.accepted &&
        disagree.outcome === 'rejected' &&
        disagree.goldens?.state === 'failed' &&
        trusted.accepted &&
        trusted.goldens?.state === 'trusted-by-flag' &&
        codes(trusted).includes('goldens-trusted-unverified') &&
        !trustedNoFlag.accepted &&
        trustedNoFlag.goldens?.state === 'unverified',
      `verified: ${verified.outcome}; no provenance records: ${missing.outcome} (${codes(missing).join(',')}); provenance failed: ${disagree.outcome} (${disagree.goldens?.state}); ` +
        `trusted by flag: ${trusted.outcome} (${trusted.goldens?.state}); trustedByFlag record without the flag: ${trustedNoFlag.outcome}`,
    );
  });

  it('gate:selftest=worst-duplicate-wins', () => {
    const d = dedupeRecords([rec('velocity:a=1'), rec('velocity:a=1', { status: 'fail' }), rec('velocity:a=1')]);
    selftest('worst-duplicate-wins', d.length === 1 && d[0]!.status === 'fail', `deduped to ${d.length} record(s), status ${d[0]?.status}`);
  });
});

describe('the gate plan per image size (GATE_PLANS): the gate runs less in the browsers at 128 px, and says so', () => {
  const plan = gatePlan(128)!;
  /** A passing run of the 128 px plan: every Node family, generation in its engines, no app spec, no WebGPU. */
  const plannedRun = (): ReturnType<typeof passingRun> => {
    const r = passingRun();
    return {
      records: r.records.filter((x) => (x.runtime === 'node' || plan.browsers.includes(x.runtime)) && x.check !== 'app'),
      vitest: r.vitest,
      playwright: r.playwright.filter((t) => plan.browsers.includes(t.project) && !t.title.startsWith('app:')),
    };
  };
  const planScope: Scope = { ...FULL_SCOPE, browsers: plan.browsers, plan };

  it('32 px has no plan (the whole browser gate); 128 px runs generation.spec.ts in three engines and names what it leaves out', () => {
    expect(gatePlan(32)).toBeNull();
    expect(plan.browsers).toEqual(['chromium', 'firefox', 'webkit']);
    expect(plan.browserSuites).toEqual(['suites/browser/generation.spec.ts']);
    expect(plan.leftOut.join(' ')).toMatch(/chromium-webgpu.*app\.spec\.ts.*faults/s);
  });
  it('gate:selftest=plan-accepts-a-complete-planned-run', () => {
    const v = computeVerdict(input({ scope: planScope }, plannedRun()));
    selftest(
      'plan-accepts-a-complete-planned-run',
      v.accepted && v.scope.plan?.imageSize === 128,
      `accepted=${v.accepted}, reasons: ${v.reasons.map((r) => r.message).join(' | ')}`,
    );
  });
  it('gate:selftest=plan-does-not-leak-to-the-full-gate', () => {
    // the same run judged as a 32 px gate (no plan) misses the app family and WebGPU: never accepted
    const v = computeVerdict(input({}, plannedRun()));
    selftest('plan-does-not-leak-to-the-full-gate', !v.accepted && codes(v).includes('family-missing'), `outcome ${v.outcome}`);
  });
  it('gate:selftest=plan-expects-its-families-in-its-engines', () => {
    const r = plannedRun();
    r.records = r.records.filter((x) => !(x.runtime === 'firefox' && x.check === 'generation'));
    const v = computeVerdict(input({ scope: planScope }, r));
    selftest(
      'plan-expects-its-families-in-its-engines',
      !v.accepted &&
        v.outcome === 'inconclusive' &&
        v.reasons.some((x) => x.code === 'family-missing' && /generation.*firefox/.test(x.message)),
      `outcome ${v.outcome}; reasons ${v.reasons.map((x) => x.message).join(' | ')}`,
    );
  });
});

describe('records, runner reports, matching and replay', () => {
  it('gate:selftest=record-lines', () => {
    const good = parseRecord(
      JSON.stringify({ id: 'velocity:x=1', check: 'velocity', runtime: 'node', status: 'pass', metrics: { a: 1, b: 'NaN', c: [1] } }),
    );
    const bad = ['{', '[]', JSON.stringify({ id: 'x', check: 'c', runtime: 'node', status: 'ok' }), JSON.stringify({ check: 'c' })].map(
      parseRecord,
    );
    const ok = typeof good !== 'string' && good.metrics.c === '[1]' && bad.every((b) => typeof b === 'string');
    selftest('record-lines', ok, `good: ${JSON.stringify(good)}; bad: ${bad.map(String).join(' | ')}`);
    const dir = mkdtempSync(join(tmpdir(), 'gate-rec-'));
    writeFileSync(
      join(dir, 'checks.jsonl'),
      `${JSON.stringify({ id: 'a:b=1', check: 'a', runtime: 'node', status: 'pass', metrics: {} })}\n{"id":"a:b=2","che`,
    );
    const read = readRecords(join(dir, 'checks.jsonl'));
    expect(read.records).toHaveLength(1);
    expect(read.problems[0]).toMatch(/line 2: .*cut off/);
    expect(isSelfTest(rec('image:breed=Bombay,proof=channel-swap'))).toBe(true);
    expect(isSelfTest(rec('velocity:variant=guided,t=0.5'))).toBe(false);
    expect(idParams('velocity:variant=guided,breed=British Shorthair,t=0.5')).toEqual({
      variant: 'guided',
      breed: 'British Shorthair',
      t: '0.5',
    });
  });

  it('gate:selftest=vitest-report', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gate-vitest-'));
    writeFileSync(
      join(dir, 'vitest.json'),
      JSON.stringify({
        success: false,
        testResults: [
          {
            name: join(REPO_ROOT, 'suites/node/a.test.ts'),
            status: 'failed',
            message: '',
            assertionResults: [
              { ancestorTitles: ['d'], title: 'a:x=1', status: 'passed', failureMessages: [], duration: 2 },
              {
                ancestorTitles: ['d'],
                title: 'a:x=2',
                status: 'failed',
                failureMessages: ['\u001b[31mAssertionError\u001b[39m: no'],
                duration: 3,
              },
            ],
          },
          {
            name: join(REPO_ROOT, 'suites/node/b.test.ts'),
            status: 'failed',
            message: 'Error: Cannot find module x',
            assertionResults: [],
          },
        ],
      }),
    );
    const r = readVitestReport(join(dir, 'vitest.json'), REPO_ROOT);
    const missing = readVitestReport(join(dir, 'nope.json'), REPO_ROOT);
    selftest(
      'vitest-report',
      r.tests.length === 2 &&
        r.tests[1]!.errors[0] === 'AssertionError: no' &&
        r.fileErrors[0]?.file === 'suites/node/b.test.ts' &&
        !!missing.problem,
      `tests ${r.tests.length}, file errors ${JSON.stringify(r.fileErrors)}, missing report: ${missing.problem}`,
    );
  });

  it('gate:selftest=playwright-report', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gate-pw-'));
    writeFileSync(
      join(dir, 'playwright.json'),
      JSON.stringify({
        config: { rootDir: join(REPO_ROOT, 'suites/browser'), projects: [{ name: 'chromium' }, { name: 'webkit' }] },
        suites: [
          {
            title: 'g.spec.ts',
            file: 'g.spec.ts',
            specs: [],
            suites: [
              {
                title: 'group',
                file: 'g.spec.ts',
                specs: [
                  {
                    title: 'generation:variant=guided,seed=7',
                    file: 'g.spec.ts',
                    tests: [
                      {
                        projectName: 'chromium',
                        status: 'expected',
                        annotations: [{ type: 'engine', description: 'system Chromium, version 156' }],
                        results: [
                          {
                            status: 'passed',
                            duration: 5,
                            errors: [],
                            steps: [{ title: 'generation:engine=chromium,breed=Bombay,seed=7' }],
                          },
                        ],
                      },
                      { projectName: 'webkit', status: 'skipped', annotations: [], results: [] },
                    ],
                  },
                ],
              },
            ],
          },
        ],
        errors: [
          { message: 'Error: boom', location: { file: join(REPO_ROOT, 'suites/browser/bad.spec.ts') } },
          { message: 'webServer failed' },
        ],
        stats: { unexpected: 0 },
      }),
    );
    const r = readPlaywrightReport(join(dir, 'playwright.json'), REPO_ROOT);
    const c = r.tests.find((t) => t.project === 'chromium');
    selftest(
      'playwright-report',
      r.tests.length === 2 &&
        c?.file === 'suites/browser/g.spec.ts' &&
        c.steps.length === 1 &&
        c.engine === 'system Chromium, version 156' &&
        r.tests.find((t) => t.project === 'webkit')?.status === 'skipped' &&
        r.fileErrors[0]?.file === 'suites/browser/bad.spec.ts' &&
        r.globalErrors.length === 1,
      `tests ${JSON.stringify(r.tests.map((t) => [t.project, t.file, t.status, t.steps.length]))}, fileErrors ${r.fileErrors.length}, global ${r.globalErrors.length}`,
    );
  });

  it('gate:selftest=match-and-replay', () => {
    const tests = [
      vtest('velocity:variant=guided,breed=Bombay,t=0.5,batch=1', 'passed', 'suites/node/velocity.test.ts'),
      ptest('generation:variant=guided,seed=7 (13 breeds)', 'webkit', 'passed', [
        'generation:engine=webkit,variant=guided,breed=Bombay,seed=7',
      ]),
      ptest('threads+determinism:breed=Bombay,seed=7', 'firefox'),
    ];
    const byTitle = matchTest({ id: 'velocity:variant=guided,breed=Bombay,t=0.5,batch=1', runtime: 'node' }, tests);
    const byStep = matchTest({ id: 'generation:engine=webkit,variant=guided,breed=Bombay,seed=7', runtime: 'webkit' }, tests);
    const byParams = matchTest({ id: 'determinism:engine=firefox,threads=2,breed=Bombay,seed=7', runtime: 'firefox' }, tests);
    const none = matchTest({ id: 'generation:engine=webkit,variant=guided,breed=Bombay,seed=7', runtime: 'chromium' }, tests);
    const prose = {
      ...vtest('golden images are recognised as their breed', 'failed', 'suites/node/images.test.ts'),
      errors: ['Error: fidelity:set=goldens,proof=breed-blind: FAIL: void'],
    };
    const byError = matchTest({ id: 'fidelity:set=goldens,proof=breed-blind', runtime: 'node' }, [...tests, prose]);
    const prefixOnly = matchTest({ id: 'fidelity:set=goldens', runtime: 'node' }, [...tests, prose]);
    const nested = { ...vtest('aspect=output-layer', 'passed', 'suites/node/contract.test.ts'), path: ['variant=guided'] };
    const byPath = matchTest({ id: 'weights:variant=guided,aspect=output-layer', runtime: 'node' }, [
      ...tests,
      nested,
      { ...nested, path: ['variant=raw'] },
    ]);
    const node = replayCommand({ id: byTitle!.test.title, runtime: 'node' }, byTitle, { bundle: 'fixtures/x y' });
    const web = replayCommand({ id: 'generation:engine=webkit,variant=guided,breed=Bombay,seed=7', runtime: 'webkit' }, byStep, {
      bundle: 'fixtures/default',
    });
    // a run against another app replays its browser cases against that app, its Node cases as they were
    const onApp = { bundle: 'fixtures/default', app: { name: 'double', url: 'http://127.0.0.1:5173/' } };
    const webApp = replayCommand({ id: 'generation:engine=webkit,variant=guided,breed=Bombay,seed=7', runtime: 'webkit' }, byStep, onApp);
    const nodeApp = replayCommand({ id: byTitle!.test.title, runtime: 'node' }, byTitle, onApp);
    selftest(
      'match-and-replay',
      webApp.command.includes('TINYDIT_APP=double TINYDIT_APP_URL=http://127.0.0.1:5173/') &&
        !nodeApp.command.includes('TINYDIT_APP') &&
        !web.command.includes('TINYDIT_APP') &&
        byTitle?.via === 'title' &&
        byStep?.via === 'step' &&
        byParams?.via === 'params' &&
        none === null &&
        byError?.via === 'error' &&
        byError.test === prose &&
        prefixOnly === null &&
        byPath?.test === nested &&
        node.command.includes(`npx vitest run suites/node/velocity.test.ts -t 'velocity:variant=guided,breed=Bombay,t=0\\.5,batch=1'`) &&
        node.command.includes(`TINYDIT_BUNDLE='fixtures/x y'`) &&
        web.command.includes('--project=webkit') &&
        web.command.includes('TINYDIT_CASE=') &&
        web.exact,
      `title ${byTitle?.via}, step ${byStep?.via}, params ${byParams?.via}, error ${byError?.via}, prefix-only ${prefixOnly?.via}, path ${byPath?.test.path.join('>')}, none ${none}; node: ${node.command}; web: ${web.command}`,
    );
    expect(new RegExp(escapeRegex('a.b(c)[d]+')).test('a.b(c)[d]+')).toBe(true);
  });
});

describe('key metrics, history and drift', () => {
  const check = (id: string, metrics: Record<string, number>, over: Partial<VerdictCheck> = {}): VerdictCheck => ({
    id,
    check: id.slice(0, id.indexOf(':')),
    runtime: 'node',
    status: 'pass',
    metrics,
    threshold: {},
    message: '',
    artifacts: [],
    selfTest: false,
    source: 'record',
    ...over,
  });
  const run = (scale: number): VerdictCheck[] => [
    check('velocity:variant=guided,breed=Bombay,t=0.5', { maxAbs: 2e-6 * scale, worstRatio: 0.1 * scale, psnr: 130 }),
    check('velocity:variant=guided,breed=Sphynx,t=0.5', { maxAbs: 1e-6 * scale, worstRatio: 0.05 * scale }),
    check('velocity:variant=raw,breed=Bombay,t=0.5', { maxAbs: 3e-6, worstRatio: 0.2 }),
    check('velocity:variant=guided,mutant=zeroed', { maxAbs: 5, worstRatio: 1e5 }, { selfTest: true }),
  ];
  const hist = (runId: string, metrics: Record<string, number>, sha = 's1'): HistoryEntry => ({
    format: 'tinydit-history/1',
    runId,
    time: runId,
    modelSha256: sha,
    modelName: 'm',
    bundle: '/b',
    machine: { hostname: 'h', platform: 'linux', cpus: 2 },
    scope: { full: true, node: true, browsers: [] },
    level: 'full',
    accepted: true,
    complete: true,
    metrics,
  });

  it('gate:selftest=key-metrics', () => {
    const k = keyMetrics(run(1));
    selftest(
      'key-metrics',
      k['velocity@node[variant=guided]:maxAbs:max'] === 2e-6 &&
        k['velocity@node[variant=raw]:worstRatio:max'] === 0.2 &&
        !Object.keys(k).some((x) => x.includes('mutant') || x.includes('psnr')) &&
        Object.keys(k).length === 4,
      `keys: ${JSON.stringify(k)}`,
    );
  });

  it('gate:selftest=same-model-twice-no-drift', () => {
    const base = { source: 'a', runId: 'r1', modelSha256: 's1', time: null, metrics: keyMetrics(run(1)) };
    const d = computeDrift(keyMetrics(run(1)), base, []);
    selftest('same-model-twice-no-drift', d.drift.length === 0 && d.compared === 4, `${d.drift.length} drift over ${d.compared} compared`);
  });

  it('gate:selftest=perturbed-model-drifts-under-threshold', () => {
    const base = { source: 'a', runId: 'r1', modelSha256: 's1', time: null, metrics: keyMetrics(run(1)) };
    const current = run(1.5); // errors grow by half, still far under the tolerance (worstRatio 0.15 < 1)
    const passing = new Map([...keyMetricGroups(current)].map(([k, g]) => [k, g.allPass]));
    const d = computeDrift(keyMetrics(current), base, [], { passing });
    const guided = d.drift.find((x) => x.key === 'velocity@node[variant=guided]:worstRatio:max');
    selftest(
      'perturbed-model-drifts-under-threshold',
      d.drift.length === 2 &&
        guided?.baseline === 0.1 &&
        Math.abs(guided.current - 0.15) < 1e-12 &&
        guided.basis === 'default-band' &&
        guided.stillPassing === true &&
        !d.drift.some((x) => x.key.includes('raw')),
      `drift: ${JSON.stringify(d.drift)}`,
    );
    expect(guided!.band).toBeCloseTo(DEFAULT_REL_BAND * 0.1 + BAND_ABS_FLOOR, 15);
  });

  it('gate:selftest=history-spread', () => {
    const key = 'velocity@node[variant=guided]:maxAbs:max';
    const history = Array.from({ length: MIN_HISTORY_POINTS }, (_, i) => hist(`r${i}`, { [key]: 1e-6 * (1 + 0.2 * i) }));
    const base = { source: 'h', runId: 'r2', modelSha256: 's1', time: null, metrics: { [key]: 1.4e-6 } };
    const within = computeDrift({ [key]: 1.7e-6 }, base, history); // moved 0.3e-6 < spread 0.4e-6
    const beyond = computeDrift({ [key]: 1.9e-6 }, base, history); // moved 0.5e-6 > spread
    const fewer = computeDrift({ [key]: 1.7e-6 }, base, history.slice(0, MIN_HISTORY_POINTS - 1)); // default 5% band
    const otherModel = computeDrift({ [key]: 1.7e-6 }, { ...base, modelSha256: 's2' }, history); // another model's history is no spread
    selftest(
      'history-spread',
      within.drift.length === 0 &&
        beyond.drift[0]?.basis === 'history-spread' &&
        beyond.drift[0].points === MIN_HISTORY_POINTS &&
        fewer.drift[0]?.basis === 'default-band' &&
        otherModel.drift[0]?.basis === 'default-band',
      `within ${within.drift.length}, beyond ${JSON.stringify(beyond.drift[0])}, fewer ${fewer.drift[0]?.basis}, other model ${otherModel.drift[0]?.basis}`,
    );
  });

  it('gate:selftest=baseline-sources', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gate-base-'));
    mkdirSync(join(dir, 'run1'));
    writeFileSync(
      join(dir, 'run1', 'verdict.json'),
      JSON.stringify({ runId: 'run1', bundle: { modelSha256: 's1' }, finishedAt: 't', keyMetrics: { k: 1 } }),
    );
    writeFileSync(join(dir, 'history.jsonl'), [hist('r1', { k: 1 }), hist('r2', { k: 2 })].map((e) => JSON.stringify(e)).join('\n') + '\n');
    const fromDir = loadBaseline(join(dir, 'run1'));
    const fromHistory = loadBaseline(join(dir, 'history.jsonl'), 'r2');
    const picked = loadBaseline(`${join(dir, 'history.jsonl')}#r2`);
    let refused = '';
    try {
      loadBaseline(join(dir, 'nothing-here'));
    } catch (e) {
      refused = (e as Error).message;
    }
    selftest(
      'baseline-sources',
      fromDir.metrics.k === 1 &&
        fromDir.modelSha256 === 's1' &&
        fromHistory.runId === 'r1' &&
        picked.metrics.k === 2 &&
        /no such file/.test(refused),
      `dir ${JSON.stringify(fromDir)}, history ${fromHistory.runId}, picked ${picked.runId}, refused "${refused}"`,
    );
  });

  // The real model: the same model twice gives identical key metrics; its output bias shifted by a quarter of
  // the smallest tolerance still passes every velocity case, but the metrics drift and the gate says so.
  it('gate:selftest=real-model-perturbed-weights-drift', async () => {
    const bundle = await loadBundle(bundleDir(), { require: 'full' });
    const idx = bundle.requireFull('the drift self-test').velocity;
    const batch = idx.batches.find((b) => b.id.includes('t=0.5')) ?? idx.batches[0]!;
    const x = bundle.readGolden(idx.inputs.noise).data as Float32Array;
    const t = bundle.readGolden(idx.inputs.timestep).data as Float32Array;
    const br = bundle.readGolden(idx.inputs.breed).data as BigInt64Array;
    const g = bundle.velocityGoldens('guided');
    const expected = bundle.readGolden(g.expected).data as Float32Array;
    const floor = bundle.readGolden(g.noiseFloor).data as Float64Array;
    const per = bundle.channels * bundle.imageSize * bundle.imageSize;
    const rows = batch.rows;
    const gather = <T extends Float32Array | BigInt64Array>(src: T, n: number): T => {
      const out = new (src.constructor as new (k: number) => T)(rows.length * n);
      rows.forEach((r, i) => out.set(src.subarray(r * n, (r + 1) * n) as never, i * n));
      return out;
    };
    const policy = bundle.tolerance.velocity;
    const atol = rows.map((r) => toleranceBand(policy, floor[r]!));
    const bytes = new Uint8Array(readFileSync(bundle.variantPath('guided')));
    const shift = 0.25 * Math.min(...atol);
    const perturbed = withInitializers(bytes, {
      'final_layer.linear.bias': (d) => {
        for (let i = 0; i < d.length; i++) d[i]! += shift;
      },
    });
    const measure = async (model: Uint8Array, label: string): Promise<VerdictCheck[]> => {
      const r = await openModelBytes(model, bundle.manifest, { label, source: label, guidance: 'baked' }, { threads: 1 });
      try {
        const out = await r.run(
          gather(x, per),
          Float32Array.from(rows, (i) => t[i]!),
          gather(br, 1),
          rows.length,
        );
        const s = compareTensors(out, gather(expected, per), {
          shape: [rows.length, bundle.channels, bundle.imageSize, bundle.imageSize],
          atol,
          floor: rows.map((i) => floor[i]!),
        });
        return [
          {
            id: caseIdWith(batch.id, { variant: 'guided' }),
            check: 'velocity',
            runtime: 'node',
            status: s.failing === 0 ? 'pass' : 'fail',
            metrics: comparisonMetrics(s),
            threshold: {},
            message: '',
            artifacts: [],
            selfTest: false,
            source: 'record',
          },
        ];
      } finally {
        await r.release();
      }
    };
    const first = await measure(bytes, 'model.onnx');
    const second = await measure(bytes, 'model.onnx again');
    const moved = await measure(perturbed, `model.onnx, final_layer.linear.bias + ${shift}`);
    const base = { source: 'first run', runId: 'first', modelSha256: 'x', time: null, metrics: keyMetrics(first) };
    const same = computeDrift(keyMetrics(second), base, []);
    const passing = new Map([...keyMetricGroups(moved)].map(([k, gr]) => [k, gr.allPass]));
    const drift = computeDrift(keyMetrics(moved), base, [], { passing });
    const ratio = drift.drift.find((d) => d.key.endsWith(':worstRatio:max'));
    // under the fixed threshold: required when the model itself passes (a broken model cannot show that part)
    const underThreshold = first[0]!.status !== 'pass' || (moved[0]!.status === 'pass' && ratio?.stillPassing === true);
    selftest(
      'real-model-perturbed-weights-drift',
      same.drift.length === 0 && ratio !== undefined && ratio.current > ratio.baseline && underThreshold,
      `same model: ${same.drift.length} drift of ${same.compared}; perturbed (bias + ${shift.toExponential(2)}): status ${moved[0]!.status}, drift ${JSON.stringify(drift.drift.map((d) => [d.key, d.baseline, d.current]))}`,
      {
        shift,
        baselineWorstRatio: base.metrics['velocity@node[variant=guided]:worstRatio:max'] ?? null,
        perturbedWorstRatio: ratio?.current ?? null,
      },
    );
  });
});

describe('agreement matrix and summary page', () => {
  function pageRun(): { dir: string; verdict: Verdict } {
    const dir = mkdtempSync(join(tmpdir(), 'gate-page-'));
    const size = 4;
    const img = (r: number): Uint8Array =>
      encodePNG({
        width: size * 2,
        height: size * 2,
        data: new Uint8ClampedArray(size * size * 16).map((_, i) => (i % 4 === 3 ? 255 : (r * 40 + i) % 256)),
      });
    const r = passingRun();
    for (const [k, rt] of ['node', 'chromium'].entries()) {
      for (const [b, breed] of ['Abyssinian', 'Bombay'].entries()) {
        const folder = `images/${rt}_${breed}`;
        mkdirSync(join(dir, folder), { recursive: true });
        for (const n of ['generated', 'golden', 'diff']) writeFileSync(join(dir, folder, `${n}.png`), img(k + b));
        const id =
          rt === 'node'
            ? caseId('image', { breed, seed: 7, steps: 'final' })
            : caseId('generation', { engine: rt, variant: 'guided', breed, seed: 7 });
        const existing = r.records.find((x) => x.id === id);
        const artifacts = ['generated', 'golden', 'diff'].map((n) => `${folder}/${n}.png`);
        if (existing) existing.artifacts = artifacts;
        else r.records.push(rec(id, { runtime: rt, artifacts }));
      }
    }
    r.records.push(
      rec('trajectory:variant=guided,mode=free,breed=Bombay,seed=7,steps=50', {
        metrics: { finalMaxAbs: 4e-7 },
        threshold: { finalBand: 5e-5 },
      }),
    );
    r.records.find((x) => x.id === 'generation:engine=webkit,variant=guided,breed=Bombay,seed=7')!.metrics['state.maxAbs'] = 0.3;
    r.records.find((x) => x.id === 'generation:engine=firefox,variant=guided,breed=Bombay,seed=7')!.metrics['node.maxAbs'] = 2e-7;
    r.records.push(
      rec('stats:distribution,breed=Bombay,seed=7', {
        metrics: { 'z.meanR': 1.2, 'z.saturation': 5 },
        threshold: { 'absZ.meanR': 4, 'absZ.saturation': 3.6 },
        status: 'fail',
      }),
    );
    mkdirSync(join(dir, 'states', 'node'), { recursive: true });
    mkdirSync(join(dir, 'states', 'chromium'), { recursive: true });
    writeFileSync(
      join(dir, 'states', 'node', 'seed7_breed3.npy'),
      encodeNpy({ dtype: 'float32', shape: [1, 3, 1, 1], data: Float32Array.from([0.5, 0.25, -1]) }),
    );
    writeFileSync(
      join(dir, 'states', 'chromium', 'seed7_breed3.npy'),
      encodeNpy({ dtype: 'float32', shape: [1, 3, 1, 1], data: Float32Array.from([0.5, 0.25, -1.125]) }),
    );
    writeFileSync(
      join(dir, 'trajectory-errors.json'),
      JSON.stringify({
        runs: [
          {
            variant: 'guided',
            mode: 'free',
            cases: [{ id: 'c', breedName: 'Bombay', seed: 7, band: [5e-5, 5e-5, 5e-5], maxAbs: [0, 1e-7, 2e-7] }],
          },
        ],
      }),
    );
    const breeds = ['Abyssinian', 'Bengal', 'Birman', 'Bombay'];
    const v = computeVerdict(
      input({ bundle: { ...input().bundle, manifest: { name: 'synthetic', breeds, contract: { imageSize: size } } } }, r),
    );
    return { dir, verdict: v };
  }

  it('gate:selftest=agreement-matrix', () => {
    const { dir, verdict } = pageRun();
    const m = agreementMatrix(verdict.checks, dir, ['Abyssinian', 'Bengal', 'Birman', 'Bombay']);
    const nodeChromium = m.cells.node?.chromium;
    const nodeFirefox = m.cells.node?.firefox;
    const chromiumFirefox = m.cells.chromium?.firefox;
    selftest(
      'agreement-matrix',
      m.runtimes.slice(0, 5).join() === 'python,node,chromium,firefox,webkit' &&
        m.cells.python?.node?.value === 4e-7 &&
        m.cells.python?.webkit?.value === 0.3 &&
        m.oddOneOut === 'webkit' &&
        nodeChromium?.value === 0.125 &&
        nodeChromium.cases === 1 &&
        nodeFirefox?.value === 2e-7 &&
        /records/.test(nodeFirefox.basis) &&
        chromiumFirefox?.value === null,
      `python-node ${m.cells.python?.node?.value}, python-webkit ${m.cells.python?.webkit?.value}, odd ${m.oddOneOut}, node-chromium ${nodeChromium?.value}, node-firefox ${nodeFirefox?.value}, chromium-firefox ${chromiumFirefox?.value}`,
    );
  });

  it('gate:selftest=agreement-own-profile', () => {
    // a runtime judged by its own profile (WebGPU) is far from PyTorch by design: it stands out only by failing that profile
    const { dir, verdict } = pageRun();
    const base = verdict.checks.filter((c) => c.runtime !== 'webkit');
    const webgpu = (relL2: number) => ({
      ...base.find((c) => c.id === 'generation:engine=chromium,variant=guided,breed=Bombay,seed=7')!,
      id: 'generation:engine=chromium-webgpu,variant=guided,breed=Bombay,seed=7',
      runtime: 'chromium-webgpu',
      metrics: { 'state.maxAbs': 1.8e-4, 'state.relL2': relL2, 'node.maxAbs': 1.8e-4 },
      threshold: { 'state.relL2': 1.3e-4 },
    });
    const within = agreementMatrix([...base, webgpu(6.4e-5)], dir, ['Abyssinian', 'Bengal', 'Birman', 'Bombay']);
    const over = agreementMatrix([...base, webgpu(2.6e-4)], dir, ['Abyssinian', 'Bengal', 'Birman', 'Bombay']);
    const cell = within.cells.python?.['chromium-webgpu'];
    selftest(
      'agreement-own-profile',
      cell?.value === 1.8e-4 &&
        cell.ownProfile === true &&
        Math.abs(cell.ratio! - 6.4e-5 / 1.3e-4) < 1e-12 &&
        within.oddOneOut === null &&
        within.cells.node?.['chromium-webgpu']?.value === 1.8e-4 &&
        over.oddOneOut === 'chromium-webgpu',
      `cell ${JSON.stringify(cell)}, odd within ${within.oddOneOut}, odd over ${over.oddOneOut}`,
    );
  });

  it('gate:selftest=engine-own-suites', () => {
    // an engine that runs only its own suites (chromium-webgpu: webgpu.spec.ts) owes the families those suites record
    // (loading, generation), not the others (app)
    const r = passingRun();
    const without = (check: string) => ({
      ...r,
      records: r.records.filter((x) => !(x.runtime === 'chromium-webgpu' && x.check === check)),
    });
    const noApp = computeVerdict(input({}, without('app')));
    const noGeneration = computeVerdict(input({}, without('generation')));
    const missing = noGeneration.reasons.filter((x) => x.code === 'family-missing').map((x) => x.message);
    selftest(
      'engine-own-suites',
      noApp.outcome === 'accepted' &&
        noGeneration.outcome === 'inconclusive' &&
        missing.length === 1 &&
        /no generation check ran on chromium-webgpu/.test(missing[0]!),
      `without app: ${noApp.outcome}; without generation: ${noGeneration.outcome} (${missing.join('; ')})`,
    );
  });

  it('gate:selftest=summary-page', () => {
    const { dir, verdict } = pageRun();
    const html = renderReport(verdict, dir, { history: [], chartJs: '/* no charts in this test */' });
    const imgs = (html.match(/<img src="data:image\/png;base64,/g) ?? []).length;
    selftest(
      'summary-page',
      html.includes('id="verdict-title">REJECTED — NOT ACCEPTED') &&
        html.includes('stats:distribution,breed=Bombay,seed=7') &&
        html.includes('id="agreement-matrix"') &&
        imgs === 12 &&
        html.includes('>n/a<') &&
        html.includes('Odd one out: WebKit') &&
        !/<script[^>]+src=/.test(html) &&
        !/https?:\/\//.test(html.replace(/<script>[\s\S]*?<\/script>/g, '')),
      `title ok: ${html.includes('NOT ACCEPTED')}, ${imgs} inline images, matrix: ${html.includes('agreement-matrix')}`,
    );
  });
});

// ---------------------------------------------------------------------------------------------------------
// The command line, end to end (each a real gate run into a temporary reports folder)

interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
  runDir: string | null;
  verdict: Verdict | null;
}

function runCli(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  onStderr?: (text: string, kill: (sig: NodeJS.Signals) => void) => void,
): Promise<CliRun> {
  const reports = mkdtempSync(join(tmpdir(), 'gate-cli-'));
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(REPO_ROOT, 'scripts/gate.ts'), ...args, '--reports', reports, '--no-history', '--no-screenshot'],
      {
        cwd: REPO_ROOT,
        env: { ...process.env, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => {
      stdout += b.toString();
    });
    child.stderr.on('data', (b: Buffer) => {
      stderr += b.toString();
      onStderr?.(stderr, (sig) => child.kill(sig));
    });
    child.on('close', (code) => {
      const runs = existsSync(reports) ? readdirSync(reports).filter((f) => f !== 'history.jsonl') : [];
      const runDir = runs[0] ? join(reports, runs[0]) : null;
      const verdict =
        runDir && existsSync(join(runDir, 'verdict.json'))
          ? (JSON.parse(readFileSync(join(runDir, 'verdict.json'), 'utf8')) as Verdict)
          : null;
      resolve({ code, stdout, stderr, runDir, verdict });
    });
  });
}

describe("the judge's view: verdict.judge and its section of the page", () => {
  const judgeScope = (over: Partial<JudgeScope> = {}): JudgeScope => ({
    scope: FULL_SCOPE,
    level: 'full',
    mode: 'gate',
    refused: false,
    records: passingRun().records,
    ...over,
  });
  const evidenceDir = (): string => {
    const dir = mkdtempSync(join(tmpdir(), 'gate-judge-'));
    writeSampleJudge(dir);
    return dir;
  };
  const editEvidence = (dir: string, edit: (j: Record<string, unknown>) => void): void => {
    const j = JSON.parse(readFileSync(join(dir, JUDGE_EVIDENCE), 'utf8')) as Record<string, unknown>;
    edit(j);
    writeFileSync(join(dir, JUDGE_EVIDENCE), JSON.stringify(j));
  };

  it('gate:selftest=judge-section-from-evidence', () => {
    const dir = evidenceDir();
    const j = judgeSection(dir, judgeScope());
    const v = j.state === 'present' ? j : null;
    const ragdoll = v?.perBreed.find((b) => b.breed === 'Ragdoll');
    const sphynx = v?.perBreed.find((b) => b.breed === 'Sphynx');
    const first = v?.misjudged[0];
    const ok =
      !!v &&
      v.dataset === 'tinydit-procedural-32-v1' &&
      v.n === 4 &&
      v.perBreed.length === 13 &&
      v.source === JUDGE_EVIDENCE &&
      !!ragdoll &&
      ragdoll.top1 === 0.25 &&
      ragdoll.top2 === 0.25 &&
      ragdoll.top2Limit === 0.3 &&
      ragdoll.kid === 7.1 &&
      ragdoll.kidFloor === 6.29 &&
      ragdoll.kidBandP99 === 0.18 &&
      !ragdoll.accuracyPass &&
      !ragdoll.kidPass &&
      ragdoll.validityPass &&
      !ragdoll.pass &&
      !!sphynx &&
      sphynx.validityBad === 1 &&
      !sphynx.validityPass &&
      !sphynx.pass &&
      v.perBreed.filter((b) => b.pass).length === 11 &&
      v.confusion.breeds.join() === SAMPLE_BREEDS.join() &&
      v.confusion.counts[8]![7] === 2 &&
      v.confusion.counts[8]![8] === 1 &&
      v.pooled.images === 52 &&
      v.pooled.limit === 0.402 &&
      v.pooled.pass &&
      !v.allPass &&
      v.misjudged.length === 5 &&
      first?.asked === 'Ragdoll' &&
      first.judged === 'Persian' &&
      first.seed === 2_000_000 &&
      first.rank === 3 &&
      v.misjudged[4]?.asked === 'Other' &&
      v.images.grid === 'images/judge_model-guided/grid.png' &&
      v.images.misjudged === 'images/judge_model-guided/misjudged.png' &&
      v.problems.length === 0;
    // evidence of a judge suite older than the dataset, seed and image fields: the seeds follow from `seeds`, the dataset from the records
    editEvidence(dir, (e) => {
      delete e.dataset;
      delete e.gridImage;
      delete e.misjudgedImage;
      for (const im of e.images as Array<Record<string, unknown>>) delete im.seed;
    });
    const records = [...passingRun().records, rec('judge:check=yardstick', { metrics: { dataset: 'from-the-record' } })];
    const old = judgeSection(dir, judgeScope({ records }));
    const oldOk =
      old.state === 'present' &&
      old.dataset === 'from-the-record' &&
      old.problems.some((p) => /dataset/.test(p)) &&
      JSON.stringify(old.misjudged) === JSON.stringify(v?.misjudged) &&
      old.images.misjudged === 'images/judge_model-guided/misjudged.png';
    // a judge that got every image right: no sheet, said so
    editEvidence(dir, (e) => {
      for (const im of e.images as Array<Record<string, unknown>>) im.judged = im.asked;
    });
    rmSync(join(dir, 'images/judge_model-guided/misjudged.png'));
    const none = judgeSection(dir, judgeScope());
    const noneOk =
      none.state === 'present' &&
      none.misjudged.length === 0 &&
      none.images.misjudged === 'none' &&
      !none.problems.some((p) => p.includes('misjudged'));
    // the grid gone from the run folder: named, not shown
    rmSync(join(dir, 'images/judge_model-guided/grid.png'));
    const noGrid = judgeSection(dir, judgeScope());
    const noGridOk = noGrid.state === 'present' && noGrid.images.grid === null && noGrid.problems.some((p) => p.includes('grid.png'));
    selftest(
      'judge-section-from-evidence',
      ok && oldOk && noneOk && noGridOk,
      `sample: ${JSON.stringify(ragdoll)}, ${v?.misjudged.length} misjudged, first ${JSON.stringify(first)}; older evidence ${oldOk}; none misjudged ${noneOk}; grid missing ${noGridOk}`,
    );
  });

  it('gate:selftest=judge-section-missing-is-never-a-pass', () => {
    const empty = mkdtempSync(join(tmpdir(), 'gate-judge-'));
    const missing = judgeSection(empty, judgeScope());
    const failing = judgeSection(
      empty,
      judgeScope({ records: [rec('judge:check=yardstick', { status: 'fail', message: 'the bundle names no training dataset' })] }),
    );
    const garbled = evidenceDir();
    writeFileSync(join(garbled, JUDGE_EVIDENCE), '{"breeds": [');
    const unreadable = judgeSection(garbled, judgeScope());
    const shaped = evidenceDir();
    editEvidence(shaped, (e) => {
      (e.perBreed as Array<Record<string, unknown>>)[2]!.top2Min = 'loose';
    });
    const malformed = judgeSection(shaped, judgeScope());
    const isMissing = (j: JudgeSection, re: RegExp): boolean =>
      j.state === 'missing' && j.source === JUDGE_EVIDENCE && j.problem.includes(JUDGE_EVIDENCE) && re.test(j.problem) && !('allPass' in j);
    // out of scope: said so, not 'missing'; a run limited to suites that include the judge still expects it
    const noNode = judgeSection(empty, judgeScope({ scope: { ...FULL_SCOPE, node: false, full: false }, records: [] }));
    const contractOnly = judgeSection(empty, judgeScope({ level: 'contract-only', records: [] }));
    const otherSuites = judgeSection(
      empty,
      judgeScope({ scope: { ...FULL_SCOPE, full: false, suites: { node: ['suites/node/velocity.test.ts'] } }, records: [] }),
    );
    const withJudge = judgeSection(
      empty,
      judgeScope({ scope: { ...FULL_SCOPE, full: false, suites: { node: ['suites/node/judge.test.ts'] } }, records: [] }),
    );
    // a browser-only run: the browsers' judge records (the judge scoring their images) are not the Node family's evidence
    const browserJudge = [rec('judge:engine=chromium,variant=guided,seed=7,set=13-breeds', { runtime: 'chromium', status: 'fail' })];
    const browserOnly = judgeSection(empty, judgeScope({ scope: { ...FULL_SCOPE, node: false, full: false }, records: browserJudge }));
    const ok =
      isMissing(missing, /not written.*not a pass/) &&
      isMissing(failing, /judge:check=yardstick failed: the bundle names no training dataset/) &&
      isMissing(unreadable, /unreadable/) &&
      isMissing(malformed, /perBreed\[2\]\.top2Min/) &&
      noNode.state === 'not-run' &&
      /Node suites did not run/.test(noNode.why) &&
      contractOnly.state === 'not-run' &&
      otherSuites.state === 'not-run' &&
      isMissing(withJudge, /not written/) &&
      browserOnly.state === 'not-run' &&
      /Node suites did not run/.test(browserOnly.why);
    selftest(
      'judge-section-missing-is-never-a-pass',
      ok,
      `missing: ${JSON.stringify(missing)}; unreadable: ${JSON.stringify(unreadable)}; malformed: ${JSON.stringify(malformed)}; no node: ${noNode.state}; contract-only: ${contractOnly.state}; other suites: ${otherSuites.state}; judge suite: ${withJudge.state}; browser-only with browser judge records: ${browserOnly.state}`,
    );
  });

  it('gate:selftest=judge-section-in-verdict-json', async () => {
    // the gate's own finalising step (gate -- render re-judges a run folder): verdict.json carries the section
    const present = evidenceDir();
    const bare = mkdtempSync(join(tmpdir(), 'gate-judge-'));
    const judgeRecords = [
      rec('judge:check=yardstick', { metrics: { dataset: 'tinydit-procedural-32-v1' } }),
      rec('judge:check=accuracy,breed=all'),
    ];
    for (const dir of [present, bare])
      writeFileSync(join(dir, 'checks.jsonl'), judgeRecords.map((r) => JSON.stringify(r)).join('\n') + '\n');
    const verdicts: Record<string, Verdict> = {};
    const read = async (dir: string): Promise<JudgeSection | undefined> => {
      await rejudge({ runDir: dir, bundle: bundleDir(), failOnDrift: false, history: null, commandLine: 'npm run gate -- render' });
      verdicts[dir] = JSON.parse(readFileSync(join(dir, 'verdict.json'), 'utf8')) as Verdict;
      return verdicts[dir]!.judge;
    };
    const a = await read(present);
    const b = await read(bare);
    const page = readFileSync(join(bare, 'index.html'), 'utf8');
    // judge records that passed without their evidence: a harness fault (inconclusive, rerun), never an acceptance
    const bareVerdict = verdicts[bare]!;
    const missingReason = bareVerdict.reasons.find((r) => r.code === 'checks-unreadable' && r.message.includes('judge evidence missing'));
    const ok =
      a?.state === 'present' &&
      a.misjudged.length === 5 &&
      a.perBreed.length === 13 &&
      b?.state === 'missing' &&
      b.problem.includes(JUDGE_EVIDENCE) &&
      page.includes('id="judge-missing"') &&
      bareVerdict.outcome !== 'accepted' &&
      bareVerdict.outcome !== 'passed-narrowed' &&
      missingReason !== undefined &&
      !verdicts[present]!.reasons.some((r) => r.message.includes('judge evidence missing'));
    selftest(
      'judge-section-in-verdict-json',
      ok,
      `with evidence: ${a?.state}; without: ${JSON.stringify(b)}, outcome ${bareVerdict.outcome}, reason ${missingReason?.message ?? 'none'}`,
    );
  });

  it('gate:selftest=judge-section-on-the-page', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gate-judge-page-'));
    const v = writeSampleRun(dir);
    const html = renderReport(v, dir, { history: [], chartJs: '/* no charts in this test */' });
    const section = /<section id="judge">([\s\S]*?)<\/section>/.exec(html)?.[1] ?? '';
    const ragdollRow = /<tr><th class="bad">Ragdoll<\/th>(.*?)<\/tr>/.exec(section)?.[1] ?? '';
    const cells = [...ragdollRow.matchAll(/<td class="(\w*)"/g)].map((m) => m[1]);
    const confusion = /<table class="confusion"[\s\S]*?<\/table>/.exec(section)?.[0] ?? '';
    const sheets = [...section.matchAll(/<img class="judge-sheet" id="(judge-grid|judge-misjudged)" src="data:image\/png;base64,/g)].map(
      (m) => m[1],
    );
    const ok =
      section.startsWith('<h2>Judge (training-data yardstick)</h2>') &&
      section.includes(JUDGE_EXPLAINED.replace(/'/g, '&#39;')) &&
      cells.join() === 'bad,bad,ok,bad' &&
      (confusion.match(/class="diag/g) ?? []).length === 13 &&
      /class=" zero"/.test(confusion) &&
      /background:rgba\(179,38,30,0\.\d+\)[^>]*title="asked Ragdoll, judged Persian: 2 of 4"/.test(confusion) &&
      sheets.join() === 'judge-grid,judge-misjudged' &&
      (section.match(/<tr><td>Ragdoll<\/td><td>Persian<\/td><td>2000000<\/td><td>3<\/td><\/tr>/g) ?? []).length === 1 &&
      html.includes('<a href="#judge">judge</a>');
    const missing = renderReport(
      { ...v, judge: { state: 'missing', source: JUDGE_EVIDENCE, problem: `${JUDGE_EVIDENCE} is not written` } },
      dir,
      { chartJs: '' },
    );
    const notRun = renderReport({ ...v, judge: { state: 'not-run', source: JUDGE_EVIDENCE, why: 'the Node suites did not run' } }, dir, {
      chartJs: '',
    });
    const missingSection = /<section id="judge">([\s\S]*?)<\/section>/.exec(missing)?.[1] ?? '';
    const ok2 =
      /<p class="bad" id="judge-missing">The judge's evidence is missing: images\/judge\/guided\.json is not written<\/p>/.test(
        missingSection,
      ) &&
      !missingSection.includes('judge-breeds') &&
      !missingSection.includes('judge-sheet') &&
      notRun.includes('id="judge-not-run"');
    selftest(
      'judge-section-on-the-page',
      ok && ok2,
      `ragdoll cells ${cells.join()}, ${(confusion.match(/class="diag/g) ?? []).length} diagonal cells, sheets ${sheets.join()}; missing rendered: ${ok2}`,
    );
  });
});

describe('the verdict as JUnit', () => {
  it('gate:selftest=junit-verdict-says-whose-fault', () => {
    const accepted = renderJUnitVerdict(computeVerdict(input()));
    const failing = passingRun();
    failing.records.find((x) => x.check === 'velocity')!.status = 'fail';
    failing.vitest.find((t) => t.title.startsWith('velocity:'))!.status = 'failed';
    const rejected = renderJUnitVerdict(computeVerdict(input({}, failing)));
    const inconclusive = renderJUnitVerdict(
      computeVerdict(input({ processes: [proc('vitest'), proc('playwright', { exitCode: null, signal: 'SIGTERM', timedOut: true })] })),
    );
    const outcomeCase = (x: string): string => /<testcase classname="verdict" name="outcome">([\s\S]*?)<\/testcase>/.exec(x)?.[1] ?? 'none';
    const ok =
      outcomeCase(accepted) === '' &&
      / failures="0" errors="0"/.test(accepted) &&
      accepted.includes('<property name="outcome" value="accepted"/>') &&
      outcomeCase(rejected).startsWith('<failure type="rejected"') &&
      /name="velocity" assertions="\d+"><failure type="failed"/.test(rejected) &&
      outcomeCase(inconclusive).startsWith('<error type="inconclusive"') &&
      inconclusive.includes('suite-timeout');
    selftest(
      'junit-verdict-says-whose-fault',
      ok,
      `accepted: ${outcomeCase(accepted) || '(pass)'}; rejected: ${outcomeCase(rejected).slice(0, 80)}; inconclusive: ${outcomeCase(inconclusive).slice(0, 80)}`,
    );
  });
});

describe('the progress line in a CI log', () => {
  it('gate:selftest=ci-progress-prints-on-change-not-on-a-timer', () => {
    const lines: string[] = [];
    const out = {
      isTTY: false,
      write: (t: string) => {
        lines.push(t);
        return true;
      },
    } as unknown as NodeJS.WriteStream;
    const p = new ProgressLine(out);
    p.setPhase('Node suites (vitest)');
    for (let done = 1; done <= 200; done++)
      p.update({ runner: 'vitest', event: 'result', total: 200, done, status: 'passed', file: 'suites/node/x.test.ts', title: `t${done}` });
    p.setPhase('browser suites');
    for (const project of ['chromium', 'firefox'])
      for (let done = 1; done <= 20; done++)
        p.update({
          runner: 'playwright',
          event: 'test',
          project,
          total: 40,
          done: done + (project === 'firefox' ? 20 : 0),
          file: 'suites/browser/g.spec.ts',
          title: `g${done}`,
        });
    p.finish();
    // two phases, 10 tenths of the Node run, the browser runs' tenths and their engine change: a few dozen lines, not 240
    const ok = lines.length >= 12 && lines.length <= 30 && lines.every((l) => l.endsWith('\n'));
    selftest(
      'ci-progress-prints-on-change-not-on-a-timer',
      ok,
      `${lines.length} lines for 240 events: ${lines.slice(0, 3).join('').trim()} ...`,
    );
  });
});

describe('the gate command', () => {
  it('gate:selftest=cli-refuses-a-broken-bundle-before-running', async () => {
    const broken = mkdtempSync(join(tmpdir(), 'gate-broken-'));
    writeFileSync(join(broken, 'manifest.json'), '{"format": "tinydit-bundle/1"');
    const r = await runCli(['--bundle', broken, '--node-only']);
    const v = r.verdict;
    selftest(
      'cli-refuses-a-broken-bundle-before-running',
      r.code === 1 &&
        v?.accepted === false &&
        v.level === 'refused' &&
        v.reasons[0]?.code === 'bundle-refused' &&
        /manifest\.json: not valid JSON/.test(v.reason) &&
        v.processes.length === 0 &&
        r.stdout.includes('NOT ACCEPTED'),
      `exit ${r.code}; verdict ${JSON.stringify({ accepted: v?.accepted, level: v?.level, reason: v?.reason, processes: v?.processes.length })}`,
    );
    rmSync(broken, { recursive: true, force: true });
  }, 60_000);

  it('gate:selftest=cli-a-bundle-without-goldens-is-never-accepted', async () => {
    // the release decision on a bundle whose numeric checks cannot run: not accepted (exit 1), not even narrowed;
    // --screen on it is a screening (exit 3 when its whole scope ran; here narrowed to one fixture suite: exit 4)
    const dir = mkdtempSync(join(tmpdir(), 'gate-nogoldens-'));
    linkTree(bundleDir(), dir, new Set(['goldens']));
    const fixture = 'harness/gate/fixtures/metric.fixture.ts';
    const r = await runCli(['--bundle', dir, '--node-only', '--node-suites', fixture], { TINYDIT_GATE_FIXTURE: fixture });
    const s = await runCli(['--bundle', dir, '--node-only', '--node-suites', fixture, '--screen'], { TINYDIT_GATE_FIXTURE: fixture });
    const v = r.verdict;
    selftest(
      'cli-a-bundle-without-goldens-is-never-accepted',
      r.code === 1 &&
        v?.accepted === false &&
        v.outcome === 'rejected' &&
        v.level === 'contract-only' &&
        v.reasons.some((x) => x.code === 'goldens-missing') &&
        r.stdout.includes('NOT ACCEPTED') &&
        typeof v.bundle.digest === 'string' &&
        v.bundle.digest.length === 64 &&
        !(v.bundle.files ?? []).some((f) => f.path.startsWith('goldens/')) &&
        s.code === 4 &&
        s.verdict?.mode === 'screen' &&
        s.verdict.accepted === false,
      `no goldens: exit ${r.code}, outcome ${v?.outcome}, reasons ${v?.reasons.map((x) => x.code).join(',')}; --screen: exit ${s.code}, outcome ${s.verdict?.outcome}, mode ${s.verdict?.mode}`,
    );
    rmSync(dir, { recursive: true, force: true });
  }, 180_000);

  it('gate:selftest=cli-a-bundle-that-loosens-its-own-yardsticks-is-refused', async () => {
    // floorMultiple 10^6 in the manifest, and the guided velocity floors x 10^4: refused before anything runs, the
    // field and the file named, each as a failing trust record of the verdict
    const dir = mkdtempSync(join(tmpdir(), 'gate-loosened-'));
    linkTree(bundleDir(), dir, new Set());
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { tolerance: { velocity: { floorMultiple: number } } };
    manifest.tolerance.velocity.floorMultiple = 1e6;
    writeFresh(join(dir, 'manifest.json'), JSON.stringify(manifest, null, 1));
    const index = JSON.parse(readFileSync(join(dir, 'goldens', 'index.json'), 'utf8')) as {
      velocity: { noiseFloor: Record<string, string> };
    };
    const floorRel = index.velocity.noiseFloor.guided!;
    const floorPath = join(dir, 'goldens', floorRel);
    const npy = parseNpy(readFileSync(floorPath), floorRel);
    const scaled = Float64Array.from(npy.data as ArrayLike<number>, (x) => x * 1e4);
    const bytes = Buffer.from(readFileSync(floorPath));
    Buffer.from(scaled.buffer).copy(bytes, bytes.length - scaled.byteLength);
    writeFresh(floorPath, bytes);
    const r = await runCli(['--bundle', dir]);
    const v = r.verdict;
    const failed = (v?.checks ?? []).filter((c) => c.check === 'trust' && c.status === 'fail').map((c) => c.id);
    const refusal = v?.reasons.find((x) => x.code === 'bundle-refused')?.message ?? '';
    selftest(
      'cli-a-bundle-that-loosens-its-own-yardsticks-is-refused',
      r.code === 1 &&
        v?.outcome === 'rejected' &&
        v.level === 'refused' &&
        v.processes.length === 0 &&
        failed.includes('trust:check=tolerance-ceiling,field=tolerance.velocity.floorMultiple') &&
        failed.includes(caseId('trust', { check: 'noise-floor', file: `goldens/${floorRel}` })) &&
        /tolerance\.velocity\.floorMultiple = 1000000/.test(refusal) &&
        refusal.includes(`goldens/${floorRel}`),
      `exit ${r.code}; outcome ${v?.outcome}; level ${v?.level}; trust records failed: ${failed.join(', ')}; refusal: ${refusal.slice(0, 600)}`,
    );
    rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  it('gate:selftest=cli-a-case-filter-left-in-the-environment-narrows-the-run', async () => {
    const fixture = 'harness/gate/fixtures/metric.fixture.ts';
    const r = await runCli(['--bundle', bundleDir(), '--node-only', '--node-suites', fixture], {
      TINYDIT_GATE_FIXTURE: fixture,
      TINYDIT_CASE: 'Bombay',
    });
    const v = r.verdict;
    selftest(
      'cli-a-case-filter-left-in-the-environment-narrows-the-run',
      r.code === 4 &&
        v?.accepted === false &&
        v.outcome === 'passed-narrowed' &&
        v.scope.env?.TINYDIT_CASE === 'Bombay' &&
        v.scope.env?.TINYDIT_GATE_FIXTURE === fixture &&
        v.scope.narrowed.some((n) => n.includes('TINYDIT_CASE=Bombay')) &&
        r.stdout.includes('PASSED IN A NARROWED SCOPE'),
      `exit ${r.code}; outcome ${v?.outcome}; scope ${JSON.stringify(v?.scope)}`,
    );
  }, 120_000);

  it('gate:selftest=cli-names-a-suite-file-that-fails-to-load', async () => {
    const fixture = 'harness/gate/fixtures/load-error.fixture.ts';
    const r = await runCli(['--bundle', bundleDir(), '--node-only', '--node-suites', fixture, '--allow-narrow'], {
      TINYDIT_GATE_FIXTURE: fixture,
    });
    const v = r.verdict;
    const reason = v?.reasons.find((x) => x.code === 'file-failed-to-load');
    selftest(
      'cli-names-a-suite-file-that-fails-to-load',
      r.code === 5 &&
        v?.accepted === false &&
        v.outcome === 'inconclusive' &&
        !!reason &&
        reason.message.includes(fixture) &&
        /fails to load on purpose/.test(reason.message),
      `exit ${r.code}; reasons ${JSON.stringify(v?.reasons)}`,
    );
  }, 120_000);

  it('gate:selftest=cli-interrupt-leaves-an-incomplete-verdict-and-the-partial-results', async () => {
    const fixture = 'harness/gate/fixtures/slow.fixture.ts';
    let sent = false;
    const r = await runCli(
      ['--bundle', bundleDir(), '--node-only', '--node-suites', fixture],
      { TINYDIT_GATE_FIXTURE: fixture },
      (err, kill) => {
        // interrupt once the fixture's test is running (its case is then recorded)
        if (!sent && err.includes('slow.fixture.ts > gate-fixture:case=slow')) {
          sent = true;
          setTimeout(() => kill('SIGINT'), 1500);
        }
      },
    );
    const v = r.verdict;
    const partial = r.runDir ? readRecords(join(r.runDir, 'checks.jsonl')).records : [];
    selftest(
      'cli-interrupt-leaves-an-incomplete-verdict-and-the-partial-results',
      sent &&
        r.code === 130 &&
        v?.complete === false &&
        v.accepted === false &&
        v.reasons.some((x) => x.code === 'interrupted') &&
        partial.some((p) => p.id === 'gate-fixture:case=before-interrupt') &&
        existsSync(join(r.runDir!, 'index.html')),
      `interrupt sent: ${sent}; exit ${r.code}; verdict complete=${v?.complete} accepted=${v?.accepted} reasons=${v?.reasons.map((x) => x.code).join(',')}; partial records ${partial.length}`,
    );
  }, 120_000);
});
