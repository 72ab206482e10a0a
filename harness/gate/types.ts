/**
 * The gate's data: what a run folder holds and what verdict.json says. verdict.json is the one document the
 * release pipeline reads (`accepted`, `failed`, `reasons`), the nightly job diffs (`keyMetrics`, `drift`) and
 * the summary page renders. Everything in it is plain JSON (no NaN: non-finite numbers are strings).
 */
import type { CheckStatus, Metric, RecordOrigin } from '../core/record-check.js';
import type { AgreementMatrix } from './agreement.js';

export const VERDICT_FORMAT = 'tinydit-verdict/1';

/** One line of checks.jsonl as the gate reads it (runtime and check are never empty). */
export interface GateRecord {
  id: string;
  check: string;
  runtime: string;
  status: CheckStatus;
  metrics: Record<string, Metric>;
  threshold: Record<string, Metric>;
  message: string;
  artifacts: string[];
  time?: string;
  /** The test that wrote it, when the suite's runner said (harness/core/record-check.ts setRecordOrigin). */
  test?: RecordOrigin;
}

/** A test as a runner (vitest or Playwright) reported it. */
export interface RunnerTest {
  runner: 'vitest' | 'playwright';
  /** Path relative to the repository root (suites/node/x.test.ts, suites/browser/x.spec.ts). */
  file: string;
  /** The test's own title (no describe blocks). */
  title: string;
  /** describe blocks, outermost first. */
  path: string[];
  /** Playwright project (engine) or 'node'. */
  project: string;
  /** passed | failed | skipped | timedOut | interrupted | flaky | pending | todo */
  status: string;
  /** Titles of top-level test.step()s (Playwright), where case ids often live. */
  steps: string[];
  errors: string[];
  durationMs: number;
  /** Engine annotation ('system Chromium (...), version 156...'), Playwright only. */
  engine?: string;
}

/** A test file the runner could not load or run (syntax error, import failure, top-level throw). */
export interface RunnerFileError {
  runner: 'vitest' | 'playwright';
  file: string;
  message: string;
}

export interface RunnerResults {
  runner: 'vitest' | 'playwright';
  /** The runner's report file the results were read from, or null when it was missing. */
  report: string | null;
  /** Why the report could not be read, when it could not. */
  problem?: string;
  tests: RunnerTest[];
  fileErrors: RunnerFileError[];
  /** Errors outside any test (Playwright's global errors, vitest's unhandled errors). */
  globalErrors: string[];
  /** Projects the runner was configured to run (Playwright), for the "0 tests ran" check. */
  projects: string[];
  /** Runner says the run succeeded overall. */
  success: boolean | null;
}

/** How a child process (vitest, Playwright) ended. */
export interface ProcessOutcome {
  name: string;
  command: string;
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  interrupted: boolean;
  /** The process could not be started at all. */
  spawnError?: string;
  /** Its log file could not be written (e.g. no space left): the output is lost, the run is not accepted. */
  logError?: string;
  durationMs: number;
  log: string;
}

export interface Scope {
  /** True only when every part of the gate ran: Node suites and all three engines, no shard, no filter. */
  full: boolean;
  node: boolean;
  browsers: string[];
  shard?: string;
  /** Merged from shards (gate:merge). */
  mergedFrom?: string[];
  /** Test-name filter (--grep), if any. */
  grep?: string;
  /** Suite files the run was limited to (--node-suites, --browser-suites). */
  suites?: { node?: string[]; browser?: string[] };
  /** What was left out, in words. */
  narrowed: string[];
  /**
   * The app the browser suites' app checks drove, when it is not the reference page (env TINYDIT_APP, TINYDIT_APP_URL;
   * harness/apps/adapter.ts): the verdict is then about the model as that app runs it.
   */
  app?: { name: string; url?: string };
  /** --allow-narrow was given. Kept for old verdicts and scripts: it no longer changes anything, a narrowed run
   *  is never accepted (its best outcome is 'passed-narrowed'). */
  allowNarrow: boolean;
  /** Environment variables that change which cases run (TINYDIT_CASE, TINYDIT_GATE_FIXTURE, ...), as they were set. */
  env?: Record<string, string>;
  /**
   * The gate's own plan for the bundle's image size (harness/gate/gate.ts GATE_PLANS), when it runs less in the
   * browsers than the 32 px gate: the engines and spec files it ran, and what it left out and why. A plan is the
   * gate's choice, keyed on an image size the contract checks against the graph; it is not a narrowing.
   */
  plan?: GatePlanScope;
}

export interface GatePlanScope {
  imageSize: number;
  browsers: string[];
  browserSuites: string[];
  leftOut: string[];
}

/**
 * What a run answers. Only 'accepted' is a release decision (exit 0).
 * - accepted: the full gate, on a bundle with goldens whose provenance was verified (or trusted by the recorded
 *   --trust-goldens flag), and every check and proof passed.
 * - rejected: the model (or its bundle) is at fault: a check ran and failed, a proof showed a check cannot vouch
 *   for it, the bundle was refused or has no goldens (exit 1).
 * - inconclusive: the harness or the environment could not judge (an engine crashed or did not start, a runner
 *   timed out, a report or a family is missing, a check errored); says nothing about the model (exit 5).
 * - screened: a --screen run (contract, weights and behaviour only, no goldens needed) whose checks all passed:
 *   a screening, not a release decision (exit 3).
 * - passed-narrowed: a narrowed run (options or environment limited the cases) whose checks all passed: says
 *   nothing about what it left out, never an acceptance (exit 4).
 */
export type Outcome = 'accepted' | 'rejected' | 'inconclusive' | 'screened' | 'passed-narrowed';

/** Exit codes of `npm run gate` per outcome (130: interrupted, 2: usage error). */
export const OUTCOME_EXIT: Record<Outcome, number> = { accepted: 0, rejected: 1, screened: 3, 'passed-narrowed': 4, inconclusive: 5 };

/** 'gate': the release decision; 'screen': the contract-level screening of a model that has no goldens yet. */
export type GateMode = 'gate' | 'screen';

/** How far the bundle's own yardsticks (its goldens and floors) were checked against its checkpoint. */
export interface GoldensTrust {
  /** verified: provenance re-derived them from the checkpoint and they agree; trusted-by-flag: no checkpoint,
   *  accepted on --trust-goldens; unverified: no provenance evidence; failed: provenance disagrees; absent: no goldens. */
  state: 'verified' | 'trusted-by-flag' | 'unverified' | 'failed' | 'absent';
  /** --trust-goldens was given (recorded whether or not it was needed). */
  flag: boolean;
  /** Provenance records of this run (passed / total). */
  provenance: { passed: number; total: number };
}

export interface ReplayCommand {
  command: string;
  /** True when the command selects exactly the failing case (matched to a test title or step). */
  exact: boolean;
}

export interface VerdictCheck {
  id: string;
  check: string;
  runtime: string;
  status: CheckStatus;
  metrics: Record<string, Metric>;
  threshold: Record<string, Metric>;
  message: string;
  artifacts: string[];
  /** Self-test (a check run on a broken model or page, whose 'pass' means the break was caught). */
  selfTest: boolean;
  /** Where it came from: a record of checks.jsonl, or a runner result with no record behind it. */
  source: 'record' | 'runner';
  test?: { runner: string; file: string; title: string; project: string };
  replay?: ReplayCommand;
}

export interface Reason {
  /** A short stable code: bundle-refused, interrupted, suite-crashed, suite-timeout, no-report, file-failed-to-load,
   *  project-empty, engine-not-started, family-missing, test-failed-unrecorded, test-not-run, global-error,
   *  narrowed-scope, checks-unreadable, runner-disagrees, test-timeout, engine-crashed, report-unwritable. */
  code: string;
  message: string;
}

export interface EngineVersion {
  runtime: string;
  name: string;
  version: string;
  /** Where the version was read: a record's metrics, a Playwright annotation, a package.json. */
  source: string;
}

export interface Counts {
  total: number;
  passed: number;
  failed: number;
  errors: number;
  selfTests: number;
  selfTestsFailed: number;
  byRuntime: Record<string, { total: number; passed: number; failed: number }>;
  byCheck: Record<string, { total: number; passed: number; failed: number }>;
  tests: { vitest: number; playwright: number; failed: number; notRun: number };
}

export interface Drift {
  key: string;
  baseline: number;
  current: number;
  /** |current - baseline| */
  change: number;
  /** The band it was judged by and how that band came about. */
  band: number;
  basis: 'history-spread' | 'default-band';
  /** History points the spread was measured on (0 with the default band). */
  points: number;
  direction: 'up' | 'down';
  /** Whether the checks behind the metric still pass (drift under the fixed threshold). */
  stillPassing: boolean | null;
}

export interface DriftReport {
  baseline: { source: string; runId: string | null; modelSha256: string | null; bundleDigest?: string | null; time: string | null };
  compared: number;
  drift: Drift[];
  /** Metrics the baseline had and this run lacks (a check family that stopped reporting). */
  missing: string[];
  /** Metrics this run has and the baseline lacked. */
  added: string[];
}

/** One breed of the judge's view (images/judge/guided.json `perBreed`, with its limits). */
export interface JudgeBreed {
  breed: string;
  /** Images judged (N per breed). */
  n: number;
  /** Fraction of the breed's images the judge assigns to it (first choice) / among its first two. */
  top1: number;
  top2: number;
  /** judge:check=accuracy,breed=<b>: top2 >= top2Limit. */
  top2Limit: number;
  /** KID of the generated set against the breed's training reference; null when it was not finite. */
  kid: number | null;
  /** judge:check=kid,breed=<b>: kid <= kidFloor (the wrong-breed floor at N). */
  kidFloor: number;
  /** The breed's split-half band p99 at N: what KID real training images of it show (recorded, not a limit). */
  kidBandP99: number;
  /** Images breaking a validity limit (judge:check=validity,breed=<b>). */
  validityBad: number;
  accuracyPass: boolean;
  kidPass: boolean;
  validityPass: boolean;
  /** All three of the breed's checks pass. */
  pass: boolean;
}

/** A generated image the judge assigned to another breed than the one asked for. */
export interface JudgeMisjudged {
  asked: string;
  judged: string;
  /** The noise seed it was sampled with; null when the evidence does not say. */
  seed: number | null;
  /** Where the judge ranks the breed asked for (2: its second choice); null when the evidence does not say. */
  rank: number | null;
}

/** The judge's view as its evidence file holds it. */
export interface JudgeView {
  state: 'present';
  /** The evidence file, relative to the run folder (images/judge/guided.json). */
  source: string;
  /** The training dataset whose yardstick judged the images (manifest training.dataset); null when unknown. */
  dataset: string | null;
  /** Images per breed. */
  n: number;
  /** Which seeds, in words ('2000000..2000015 per breed'). */
  seeds: string;
  perBreed: JudgeBreed[];
  /** judge:check=accuracy,breed=all: pooled top-1 over every breed's images >= limit. */
  pooled: { top1: number; limit: number; images: number; pass: boolean };
  /** counts[asked][judged], both in the order of `breeds` (the manifest's). */
  confusion: { breeds: string[]; counts: number[][] };
  /** Every misjudged image, in the order of the misjudged sheet (breed asked for, then seed). */
  misjudged: JudgeMisjudged[];
  /** Paths relative to the run folder: the grid of every image, the sheet of the misjudged ones ('none' when the
   *  judge got every image right); null when the file is not in the run folder (then `problems` says so). */
  images: { grid: string | null; misjudged: string | 'none' | null };
  /** Every per-breed check and the pooled check pass, by the numbers and limits of the evidence. */
  allPass: boolean;
  /** What is incomplete about the evidence (a missing image, a dataset read from the records instead). */
  problems: string[];
}

/**
 * The judge section of verdict.json (harness/gate/judge.ts). 'missing': the judge family was in the run's scope and
 * its evidence is absent or unreadable, so the judge's view is unknown (never a pass); 'not-run': the run's scope
 * left the judge family out.
 */
export type JudgeSection =
  | JudgeView
  | { state: 'missing'; source: string; problem: string }
  | { state: 'not-run'; source: string; why: string };

export interface Verdict {
  format: typeof VERDICT_FORMAT;
  runId: string;
  /** False while running, and for an interrupted or killed run. */
  complete: boolean;
  /** What the run answers (see Outcome); `accepted` is true exactly when it is 'accepted'. */
  outcome: Outcome;
  mode: GateMode;
  accepted: boolean;
  /** An inconclusive run: what to rerun, and why it is not about the model. */
  rerun?: { command: string; why: string; tests: string[] };
  /** Short summary of why not accepted ('' when accepted). */
  reason: string;
  reasons: Reason[];
  level: 'full' | 'contract-only' | 'refused' | 'unknown';
  scope: Scope;
  startedAt: string;
  finishedAt: string | null;
  bundle: {
    dir: string;
    modelFile: string | null;
    modelSha256: string | null;
    /** The manifest's sha256 of the model file, to show they agree. */
    manifestSha256: string | null;
    manifest: unknown;
    /** sha256 over every file of the bundle (harness/gate/digest.ts); null when the folder could not be read. */
    digest?: string | null;
    /** The files the digest covers, each with its sha256 and size. */
    files?: { path: string; sha256: string; bytes: number }[];
  };
  /** How far the goldens were verified against the checkpoint. */
  goldens?: GoldensTrust;
  machine: Record<string, unknown>;
  engines: EngineVersion[];
  determinism: {
    seeds: number[];
    threads: Record<string, number[]>;
    /** Environment that shapes the run. */
    env: Record<string, string>;
  };
  counts: Counts;
  /** Ids of every failed check and failed/unrecorded test (self-tests included), failures first in checks. */
  failed: string[];
  checks: VerdictCheck[];
  processes: ProcessOutcome[];
  keyMetrics: Record<string, number>;
  drift: Drift[];
  driftReport: DriftReport | null;
  files: Record<string, string | null>;
  /** Commands that reproduce this run and each failure. */
  replay: { run: string; failed: Record<string, string> };
  /** The judge's view of the model's images (read from the run folder after the suites ran; absent in verdicts of
   *  older gates and in verdicts computed without a run folder). */
  judge?: JudgeSection;
  /** Every runtime's final-state agreement with PyTorch and with each other (harness/gate/agreement.ts; the report's
   *  matrix), computed from the run folder; absent in verdicts of older gates. */
  agreement?: AgreementMatrix;
  /**
   * The bundle's speed in onnxruntime-node, measured before the runners started, from which every time limit that
   * waits on the model was derived (harness/runtimes/time-bounds.ts): the profile file in the run folder and a line.
   */
  timeBounds?: { file: string; summary: string };
  /**
   * Each runtime's peak memory over the runners' run, sampled from /proc every second (harness/bench/procmem.ts
   * RunMemorySampler: a process belongs to the runtime of its executable, else of its parent): summed RSS of its
   * processes at the worst sample and the largest single process's own peak (VmHWM). Absent where /proc is not.
   */
  peakMemory?: {
    file: string;
    summary: string;
    runtimes: Record<string, { peakRssMiB: number; maxProcessMiB: number; processes: number }>;
  };
}
