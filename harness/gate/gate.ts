/**
 * The acceptance gate as a library: runGate() validates the bundle, runs the Node suites (vitest) and the
 * browser suites (Playwright) into one run folder, and writes verdict.json, index.html and a history line;
 * mergeShards() does the same from the blob reports and check records of Playwright shards. scripts/gate.ts
 * and scripts/merge-shards.ts are the command lines.
 *
 * A run folder reports/<run-id>/ (run id = UTC time + first 8 hex of the model's sha256):
 *   verdict.json          the verdict (harness/gate/types.ts Verdict); written 'incomplete' at the start, so a
 *                         run killed outright still leaves a verdict that says so
 *   index.html            the summary page (harness/gate/report.ts), self-contained
 *   checks.jsonl          every check record of every suite (harness/core/record-check.ts)
 *   vitest.json, junit-node.xml                       vitest's own reports
 *   playwright.json, junit-browser.xml, playwright-html/   Playwright's own reports (blob-report/ when sharded)
 *   logs/<runner>.log     the runners' console output
 *   images/, trajectory-errors.json, states/ ...    evidence the suites write (see report.ts); the judge family's
 *                         (images/judge/guided.json) is read back into verdict.json's `judge` (judge.ts)
 *   report-page.png       screenshot of index.html in Chromium (suites/harness/browser/report-page.spec.ts)
 */
import { agreementMatrix } from './agreement.js';
import { copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { basename, join, relative, resolve } from 'node:path';
import { BundleError, loadBundle, sha256File, type Bundle } from '../model/bundle.js';
import { readManifestLenient } from '../model/bundle-files.js';
import { REPO_ROOT } from '../core/config.js';
import { defaultThreads } from '../runtimes/node.js';
import { computeDrift, keyMetricGroups, loadBaseline, readHistory, appendHistory, HISTORY_FORMAT, type HistoryEntry } from './metrics.js';
import { freePort, interruptChildren, machineInfo, packageVersions, runChild } from './process.js';
import { ProgressLine, parseProgressLine } from './progress.js';
import { CHECKS_FILE, readRecords } from './records.js';
import { judgeSection } from './judge.js';
import { renderJUnitVerdict } from './junit.js';
import { renderReport } from './report.js';
import { readPlaywrightReport, readVitestReport } from './runners.js';
import { recordCheck } from '../core/record-check.js';
import { NOISE_FLOOR_ULPS, TOLERANCE_BOUNDS, trustRecordId, type TrustIssue } from '../model/trust.js';
import { bundleDigest, type BundleDigest } from './digest.js';
import {
  OUTCOME_EXIT,
  VERDICT_FORMAT,
  type GateMode,
  type GatePlanScope,
  type ProcessOutcome,
  type RunnerResults,
  type Scope,
  type Verdict,
} from './types.js';
import { CONTRACT_ONLY_SUITES, budgetRuntimesInScope, computeVerdict, type Level } from './verdict.js';
import { ENGINES, WASM_ENGINES } from '../runtimes/registry.js';
import { describeRunMemory, procAvailable, RunMemorySampler, type RunMemory } from '../bench/procmem.js';
import { describeProfile, measureSpeed, SPEED_PROFILE_ENV, writeSpeedProfile, type SpeedProfile } from '../runtimes/time-bounds.js';
import { staleWebSources } from '../runtimes/web/sources.js';

/** The speed profile the time limits of a run were derived from, in its run folder. */
const SPEED_PROFILE_FILE = 'speed-profile.json';
/** Each runtime's peak memory over the run (RunMemorySampler), sampled every MEMORY_SAMPLE_MS. */
const MEMORY_FILE = 'memory.json';
const MEMORY_SAMPLE_MS = 1000;

/** Every browser engine (harness/runtimes/registry.ts): the default of --browsers. */
export const ALL_BROWSERS: readonly string[] = ENGINES;
/**
 * The browser specs that judge the model (a Playwright path filter). suites/harness/browser/ holds the gate's own
 * tests, run by `npm run test:harness`, never inside a model's verdict.
 */
export const MODEL_BROWSER_SUITES = 'suites/browser/';
const BIN = (name: string): string => join(REPO_ROOT, 'node_modules', '.bin', name);

/** Time limits of the suites: generous for the 2-core CI box (a full run takes minutes), short of forever. */
export const DEFAULT_NODE_TIMEOUT_MIN = 30;
export const DEFAULT_BROWSER_TIMEOUT_MIN = 90;

export interface GateOptions {
  /** Bundle folder as the user gave it (kept for replay commands). */
  bundle: string;
  reportsRoot: string;
  node: boolean;
  browsers: string[];
  shard?: string;
  grep?: string;
  nodeSuites?: string[];
  browserSuites?: string[];
  allowNarrow: boolean;
  baseline?: string;
  failOnDrift: boolean;
  /** history.jsonl path, or null to leave the history alone. */
  history: string | null;
  runId?: string;
  nodeTimeoutMs: number;
  browserTimeoutMs: number;
  screenshot: boolean;
  /** Echo the runners' console output. */
  verbose: boolean;
  /** The command line, for the verdict's replay of the whole run. */
  commandLine: string;
  /** Kept for old callers: a contract-only bundle is never accepted. */
  requireFull?: boolean;
  /** --serial: the Node suites, then the browser suites (default: both at once). */
  serial?: boolean;
  /** 'screen' (--screen): the contract-level screening, never an acceptance. Default 'gate'. */
  mode?: GateMode;
  /** --trust-goldens: a bundle without a checkpoint may be accepted with unverified goldens (recorded). */
  trustGoldens?: boolean;
}

export interface GateResult {
  verdict: Verdict;
  runDir: string;
  exitCode: number;
}

function utcStamp(d = new Date()): string {
  return d
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
}

function writeJson(path: string, v: unknown): void {
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, JSON.stringify(v, (_k, x) => (typeof x === 'number' && !Number.isFinite(x) ? String(x) : x), 2) + '\n');
  renameSync(tmp, path);
}

/** Error codes of a report folder without room (no space, quota, file too large). */
const NO_ROOM = new Set(['ENOSPC', 'EDQUOT', 'EFBIG']);

/**
 * The run's files could not be written (no space left, quota, read-only folder): the gate stops there and never
 * passes. `verdict` is the verdict computed in memory when it got that far (it is printed, as it could not be saved).
 */
export class ReportWriteError extends Error {
  readonly verdict: Verdict | null;
  constructor(
    readonly path: string,
    readonly code: string,
    judged: Verdict | null,
    cause: string,
  ) {
    super(
      NO_ROOM.has(code)
        ? `the report folder is out of space: writing ${path} failed with ${code} (${cause}); the run is not accepted. ` +
            'Free space there, or point --reports (and --history) at a folder with room, and run the gate again'
        : `the report folder is not writable: writing ${path} failed with ${code} (${cause}); the run is not accepted. ` +
            "Fix the folder's permissions, or point --reports (and --history) elsewhere, and run the gate again",
    );
    this.verdict = judged && {
      ...judged,
      accepted: false,
      outcome: 'inconclusive',
      reason: this.message,
      reasons: [{ code: 'report-unwritable', message: this.message }, ...judged.reasons],
    };
  }
}

/** Runs a write of the run's files; a file-system refusal becomes a ReportWriteError naming the file. */
function writing<T>(path: string, verdict: Verdict | null, write: () => T): T {
  try {
    return write();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code && (NO_ROOM.has(code) || code === 'EROFS' || code === 'EACCES' || code === 'EPERM')) {
      throw new ReportWriteError(path, code, verdict, (e as Error).message.replace(/^[A-Z]+: /, ''));
    }
    throw e;
  }
}

/** The model file the run id and verdict name: the guided variant, else the first, else model.onnx. */
async function modelIdentity(
  dir: string,
): Promise<{ file: string | null; sha: string | null; manifestSha: string | null; manifest: unknown }> {
  const { manifest } = readManifestLenient(dir); // a broken manifest is refused later, with the reason
  const variants = (manifest as { variants?: Record<string, { file?: string; sha256?: string }> } | null)?.variants ?? {};
  const v = variants.guided ?? Object.values(variants)[0];
  const file = typeof v?.file === 'string' ? v.file : 'model.onnx';
  const path = join(dir, file);
  let sha: string | null = null;
  if (existsSync(path) && statSync(path).isFile()) sha = await sha256File(path);
  return { file: existsSync(path) ? file : null, sha, manifestSha: typeof v?.sha256 === 'string' ? v.sha256 : null, manifest };
}

function newRunDir(root: string, runId: string): { runId: string; dir: string } {
  let id = runId;
  for (let k = 2; existsSync(join(root, id)); k++) id = `${runId}-${k}`;
  const dir = join(root, id);
  mkdirSync(dir, { recursive: true });
  return { runId: id, dir };
}

/**
 * Environment variables that change which cases run, or what they run on. Set when the gate starts, they reach
 * every suite; the verdict records them in its scope and a run with any of them is narrowed (never accepted).
 */
export const NARROWING_ENV: Record<string, string> = {
  TINYDIT_CASE: 'only cases whose id matches this pattern ran (a replay filter)',
  TINYDIT_GATE_FIXTURE: "the Node suites were replaced by the gate's own test fixtures",
  TINYDIT_BROWSER_FIXTURE: "the browser suites ran the gate's own test fixtures",
  TINYDIT_SMOKE_MODEL: 'the browser smoke test loaded another model file than the default export',
  TINYDIT_PAGE_FAULTS: 'the page had faults injected',
};

/** The narrowing variables set (non-empty) in an environment. */
export function narrowingEnv(env: NodeJS.ProcessEnv | Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(
    Object.keys(NARROWING_ENV)
      .filter((k) => (env[k] ?? '').trim() !== '')
      .map((k) => [k, String(env[k])]),
  );
}

/**
 * The gate's browser plan per image size, where it differs from the 32 px gate (every spec in every engine). Keyed
 * on the contract's image size, which the contract family checks against the graph and the pinned yardstick must
 * match: a bundle cannot claim a size to get a smaller plan. Node runs every suite at every size; the judge's own
 * plan per size is JUDGE_PLANS (harness/checks/yardstick.ts). docs/production-model.md says why each plan judges
 * enough.
 */
export const GATE_PLANS: Readonly<
  Record<number, { browsers: readonly string[]; browserSuites: readonly string[]; leftOut: readonly string[] }>
> = {
  128: {
    // every engine on the wasm backend (the registry's); the WebGPU one is left out below
    browsers: WASM_ENGINES,
    browserSuites: ['suites/browser/generation.spec.ts'],
    leftOut: [
      'chromium-webgpu: a 128 px guided step takes about 20 s on SwiftShader, the CPU WebGPU of these machines (over half an hour for its plan); run it where a GPU is (TINYDIT_WEBGPU_ADAPTER=hardware, --browsers chromium-webgpu)',
      "app.spec.ts: the app's default images are every breed again at 50 steps (about 1,000 core-seconds at 128 px); the app code is the 32 px gate's, and Node's judge samples the model at 50 steps",
      "faults, threads, progress, download and smoke specs: they judge the page around the model (5 to 11 s per 128 px load, several loads per engine), not the model's numbers, which generation.spec.ts judges for every breed",
    ],
  },
};

/** The gate's plan for a bundle's image size, or null where the whole browser gate runs (32 px and any size without an entry). */
export function gatePlan(imageSize: number): GatePlanScope | null {
  const p = GATE_PLANS[imageSize];
  return p ? { imageSize, browsers: [...p.browsers], browserSuites: [...p.browserSuites], leftOut: [...p.leftOut] } : null;
}

const sameSet = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && a.every((x) => b.includes(x));

function scopeOf(
  o: Pick<GateOptions, 'node' | 'browsers' | 'shard' | 'grep' | 'nodeSuites' | 'browserSuites' | 'allowNarrow'>,
  level: Level | null,
  mergedFrom?: string[],
  env: Record<string, string> = {},
  plan: GatePlanScope | null = null,
): Scope {
  const narrowed: string[] = [];
  if (!o.node) narrowed.push('Node suites not run');
  // under a plan, what it leaves out is the plan's, said in scope.plan; anything less than the plan is narrowed
  const expected = plan?.browsers ?? ALL_BROWSERS;
  const missing = expected.filter((b) => !o.browsers.includes(b));
  if (missing.length === expected.length) narrowed.push('browser suites not run');
  else if (missing.length) narrowed.push(`engines ${missing.join(', ')} not run`);
  if (o.shard) narrowed.push(`only shard ${o.shard} of the browser tests`);
  if (o.grep) narrowed.push(`tests filtered by --grep ${o.grep}`);
  if (o.nodeSuites?.length) narrowed.push(`Node suites limited to ${o.nodeSuites.join(', ')}`);
  const userSuites = plan && o.browserSuites && sameSet(o.browserSuites, plan.browserSuites) ? undefined : o.browserSuites;
  if (userSuites?.length) narrowed.push(`browser suites limited to ${userSuites.join(', ')}`);
  for (const [k, v] of Object.entries(env)) narrowed.push(`env ${k}=${v}: ${NARROWING_ENV[k] ?? 'changes which cases run'}`);
  if (level === 'contract-only') {
    /* a level, not a narrowing: the verdict's level says it */
  }
  const app = process.env.TINYDIT_APP?.trim();
  const appUrl = process.env.TINYDIT_APP_URL?.trim();
  return {
    ...(Object.keys(env).length ? { env } : {}),
    ...((app && app !== 'reference') || appUrl ? { app: { name: app || 'reference', ...(appUrl ? { url: appUrl } : {}) } } : {}),
    full: narrowed.length === 0,
    node: o.node,
    browsers: o.browsers,
    ...(o.shard ? { shard: o.shard } : {}),
    ...(mergedFrom ? { mergedFrom } : {}),
    ...(o.grep ? { grep: o.grep } : {}),
    narrowed,
    allowNarrow: o.allowNarrow,
    ...(o.nodeSuites?.length || userSuites?.length
      ? {
          suites: {
            ...(o.nodeSuites?.length ? { node: o.nodeSuites } : {}),
            ...(userSuites?.length ? { browser: userSuites } : {}),
          },
        }
      : {}),
    ...(plan ? { plan } : {}),
  };
}

function envSnapshot(env: NodeJS.ProcessEnv): Record<string, string> {
  const keep = Object.entries(env).filter(([k]) => /^(TINYDIT_|ORT_|OMP_|CI$|PLAYWRIGHT_BROWSERS_PATH$)/.test(k));
  return Object.fromEntries(keep.map(([k, v]) => [k, String(v)]));
}

/** True when harness/runtimes/web/dist is missing or older than the page's sources. */
function webBuildStale(): boolean {
  const stale = staleWebSources();
  return stale === null || stale.length > 0;
}

/** Ctrl-C / SIGTERM while the gate runs: stop the children, then finish with an 'interrupted' verdict. */
class Interrupts {
  interrupted = false;
  private handlers: Array<[NodeJS.Signals, () => void]> = [];
  constructor(onSecond: () => void) {
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as NodeJS.Signals[]) {
      const h = (): void => {
        if (this.interrupted) {
          onSecond();
          return;
        }
        this.interrupted = true;
        process.stderr.write(`\n[gate] ${sig}: stopping the suites; the verdict will say 'interrupted' and keep the partial results\n`);
        interruptChildren();
      };
      process.on(sig, h);
      this.handlers.push([sig, h]);
    }
  }
  dispose(): void {
    for (const [sig, h] of this.handlers) process.off(sig, h);
  }
}

interface Finalise {
  runId: string;
  runDir: string;
  startedAt: string;
  interrupted: boolean;
  refused?: string;
  level: Level | 'refused' | 'unknown';
  scope: Scope;
  identity: { file: string | null; sha: string | null; manifestSha: string | null; manifest: unknown };
  bundleDir: string;
  bundleArg: string;
  vitest: RunnerResults | null;
  playwright: RunnerResults | null;
  processes: ProcessOutcome[];
  env: Record<string, string>;
  commandLine: string;
  baseline?: string;
  history: string | null;
  failOnDrift: boolean;
  screenshot: boolean;
  progress?: ProgressLine;
  /** History read for the trend and the spread without appending this run (re-judging). */
  trendFrom?: string;
  requireFull?: boolean;
  mode?: GateMode;
  trustGoldens?: boolean;
  /** The bundle digest (null when it could not be computed: the bundle folder is missing). */
  digest: BundleDigest | null;
}

/** The bundle digest, or null with the reason on stderr (a missing folder is refused with its own reason). */
async function digestOrNull(dir: string): Promise<BundleDigest | null> {
  try {
    return await bundleDigest(dir);
  } catch (e) {
    process.stderr.write(`[gate] bundle digest: ${(e as Error).message}\n`);
    return null;
  }
}

const RUN_FILES: Record<string, string> = {
  verdict: 'verdict.json',
  page: 'index.html',
  checks: CHECKS_FILE,
  vitestJson: 'vitest.json',
  junitNode: 'junit-node.xml',
  playwrightJson: 'playwright.json',
  junitBrowser: 'junit-browser.xml',
  junitVerdict: 'junit-verdict.xml',
  playwrightHtml: 'playwright-html/index.html',
  blob: 'blob-report',
  trajectoryErrors: 'trajectory-errors.json',
  screenshot: 'report-page.png',
};

function filesOf(runDir: string): Record<string, string | null> {
  return Object.fromEntries(Object.entries(RUN_FILES).map(([k, f]) => [k, existsSync(join(runDir, f)) ? f : null]));
}

/** Computes the verdict from what the run folder holds, writes verdict.json, index.html and the history line. */
async function finalise(f: Finalise): Promise<{ verdict: Verdict; exitCode: number }> {
  const { records, problems } = readRecords(join(f.runDir, CHECKS_FILE));
  // the judge's view, from its evidence in the run folder ('missing' when the judge family was in scope and left none)
  const judge = judgeSection(f.runDir, {
    scope: f.scope,
    level: f.level,
    mode: f.mode ?? 'gate',
    refused: f.refused !== undefined,
    interrupted: f.interrupted,
    records,
  });
  // judge records that passed without the evidence a person reads are a harness fault: never an acceptance
  if (judge.state === 'missing')
    problems.push(
      `judge evidence missing: ${judge.source}: ${judge.problem}; rerun the judge family (npm run gate -- --node-only --node-suites suites/node/judge.test.ts)`,
    );
  const verdict = computeVerdict({
    runId: f.runId,
    startedAt: f.startedAt,
    finishedAt: f.interrupted ? null : new Date().toISOString(),
    interrupted: f.interrupted,
    ...(f.refused !== undefined ? { refused: f.refused } : {}),
    level: f.level,
    scope: f.scope,
    bundle: {
      dir: f.bundleDir,
      modelFile: f.identity.file,
      modelSha256: f.identity.sha,
      manifestSha256: f.identity.manifestSha,
      manifest: f.identity.manifest,
      digest: f.digest?.digest ?? null,
      files: f.digest?.files ?? [],
    },
    bundleArg: f.bundleArg,
    records,
    recordProblems: problems,
    vitest: f.vitest,
    playwright: f.playwright,
    processes: f.processes,
    machine: machineInfo(),
    packages: packageVersions(REPO_ROOT, f.identity.manifest),
    env: f.env,
    files: {},
    runCommand: f.commandLine,
    ...(f.requireFull ? { requireFull: true } : {}),
    ...(f.mode ? { mode: f.mode } : {}),
    ...(f.trustGoldens ? { trustGoldens: true } : {}),
  });
  verdict.judge = judge;
  const breeds = (verdict.bundle.manifest as { breeds?: unknown } | null)?.breeds;
  verdict.agreement = agreementMatrix(verdict.checks, f.runDir, Array.isArray(breeds) ? (breeds as string[]) : []);
  const memoryFile = join(f.runDir, MEMORY_FILE);
  if (existsSync(memoryFile)) {
    try {
      const m = JSON.parse(readFileSync(memoryFile, 'utf8')) as RunMemory;
      verdict.peakMemory = { file: MEMORY_FILE, summary: describeRunMemory(m), runtimes: m.runtimes };
    } catch (e) {
      verdict.peakMemory = { file: MEMORY_FILE, summary: `unreadable: ${(e as Error).message}`, runtimes: {} };
    }
  }
  const speedFile = join(f.runDir, SPEED_PROFILE_FILE);
  if (existsSync(speedFile)) {
    try {
      verdict.timeBounds = {
        file: SPEED_PROFILE_FILE,
        summary: describeProfile(JSON.parse(readFileSync(speedFile, 'utf8')) as SpeedProfile),
      };
    } catch (e) {
      verdict.timeBounds = { file: SPEED_PROFILE_FILE, summary: `unreadable: ${(e as Error).message}` };
    }
  }
  // the Node suites' onnxruntime threads, when no record states them: the runtime's own default under this env
  if (f.scope.node && !verdict.determinism.threads.node) {
    try {
      verdict.determinism.threads.node = [defaultThreads()];
    } catch {
      /* an invalid TINYDIT_ORT_THREADS already failed the suites */
    }
  }
  const historyFile = f.history ?? f.trendFrom ?? null;
  const historyEntries = historyFile ? readHistory(historyFile).entries : [];
  if (f.baseline) {
    try {
      const base = loadBaseline(f.baseline, f.runId);
      const passing = new Map([...keyMetricGroups(verdict.checks)].map(([k, g]) => [k, g.allPass]));
      let history = historyEntries;
      // a baseline given as a history file also supplies the spread
      if (!historyFile && base.source.includes('.jsonl')) history = readHistory(base.source.slice(0, base.source.indexOf('#'))).entries;
      const report = computeDrift(verdict.keyMetrics, base, history, { currentRunId: f.runId, passing });
      verdict.driftReport = report;
      verdict.drift = report.drift;
      if (f.failOnDrift && report.drift.length) {
        verdict.reasons.push({
          code: 'drift',
          message: `${report.drift.length} key metric(s) drifted from ${report.baseline.source} (--fail-on-drift)`,
        });
        verdict.accepted = false;
        verdict.reason ||= verdict.reasons[verdict.reasons.length - 1]!.message;
      }
    } catch (e) {
      verdict.reasons.push({ code: 'baseline-unreadable', message: (e as Error).message });
      verdict.accepted = false;
      verdict.reason ||= (e as Error).message;
    }
  }
  verdict.files = { ...filesOf(f.runDir), verdict: 'verdict.json', page: 'index.html' };
  const entry: HistoryEntry = {
    format: HISTORY_FORMAT,
    runId: f.runId,
    time: verdict.finishedAt ?? new Date().toISOString(),
    modelSha256: f.identity.sha,
    bundleDigest: f.digest?.digest ?? null,
    outcome: verdict.outcome,
    mode: verdict.mode,
    goldens: verdict.goldens?.state ?? null,
    modelName: (f.identity.manifest as { name?: string } | null)?.name ?? null,
    bundle: f.bundleDir,
    machine: { hostname: String(verdict.machine.hostname), platform: String(verdict.machine.platform), cpus: Number(verdict.machine.cpus) },
    scope: { full: f.scope.full, node: f.scope.node, browsers: f.scope.browsers, ...(f.scope.shard ? { shard: f.scope.shard } : {}) },
    level: verdict.level,
    accepted: verdict.accepted,
    complete: verdict.complete,
    metrics: verdict.keyMetrics,
  };
  const trend = [
    ...historyEntries.filter((h) => h.runId !== f.runId),
    ...(verdict.complete && Object.keys(verdict.keyMetrics).length ? [entry] : []),
  ];
  // Files first (the verdict last, so a verdict.json on disk means the page is there too); no room: not accepted, said so.
  writing(join(f.runDir, 'junit-verdict.xml'), verdict, () =>
    writeFileSync(join(f.runDir, 'junit-verdict.xml'), renderJUnitVerdict(verdict)),
  );
  verdict.files = { ...verdict.files, junitVerdict: 'junit-verdict.xml' };
  writing(join(f.runDir, 'index.html'), verdict, () =>
    writeFileSync(join(f.runDir, 'index.html'), renderReport(verdict, f.runDir, { history: trend })),
  );
  writing(join(f.runDir, 'verdict.json'), verdict, () => writeJson(join(f.runDir, 'verdict.json'), verdict));
  // Only complete runs that judged something enter the history (an interrupted run's metrics are partial).
  if (f.history && verdict.complete && Object.keys(verdict.keyMetrics).length) {
    try {
      writing(f.history, verdict, () => appendHistory(f.history!, entry));
    } catch (e) {
      // the verdict on disk must not say accepted when the run ended in an error: replace it if there is room
      if (e instanceof ReportWriteError && e.verdict) {
        try {
          writeJson(join(f.runDir, 'verdict.json'), e.verdict);
        } catch {
          /* no room there either */
        }
      }
      throw e;
    }
  }
  if (f.screenshot && !f.interrupted && verdict.level !== 'refused') {
    f.progress?.setPhase('screenshot of the summary page (chromium)');
    await screenshotPage(f.runDir, f.bundleDir);
    verdict.files = { ...filesOf(f.runDir), verdict: 'verdict.json', page: 'index.html' };
    writeJson(join(f.runDir, 'verdict.json'), verdict);
  }
  const exitCode = f.interrupted ? 130 : OUTCOME_EXIT[verdict.outcome];
  return { verdict, exitCode };
}

/** Takes the screenshot of index.html with suites/harness/browser/report-page.spec.ts (records kept apart from the verdict). */
async function screenshotPage(runDir: string, bundleDir: string): Promise<void> {
  const side = join(runDir, 'report-page');
  const port = await freePort();
  const out = await runChild({
    name: 'report-page screenshot',
    command: BIN('playwright'),
    args: [
      'test',
      'suites/harness/browser/report-page.spec.ts',
      '--project=chromium',
      '--reporter=line',
      `--output=${join(side, 'test-results')}`,
    ],
    cwd: REPO_ROOT,
    log: join(runDir, 'logs', 'report-page.log'),
    timeoutMs: 180_000,
    env: {
      ...process.env,
      TINYDIT_REPORT_PAGE: join(runDir, 'index.html'),
      TINYDIT_REPORT_DIR: side,
      TINYDIT_BUNDLE: bundleDir,
      TINYDIT_PORT: String(port),
      PLAYWRIGHT_HTML_OPEN: 'never',
    },
  });
  const shot = join(side, 'report-page-run.png');
  if (out.exitCode === 0 && existsSync(shot)) copyFileSync(shot, join(runDir, 'report-page.png'));
  else process.stderr.write(`[gate] the screenshot of index.html failed (exit ${out.exitCode}); see ${out.log}\n`);
}

function provisional(runId: string, startedAt: string, bundleDir: string, scope: Scope, note: string): Record<string, unknown> {
  return {
    format: VERDICT_FORMAT,
    runId,
    complete: false,
    outcome: 'inconclusive',
    accepted: false,
    reason: note,
    reasons: [{ code: 'incomplete', message: note }],
    startedAt,
    finishedAt: null,
    scope,
    bundle: { dir: bundleDir },
  };
}

/**
 * The gate-owned tolerance policy (harness/model/trust.ts) as check records: each refusal a failing record naming the
 * field or file; a bundle that loaded with goldens a passing record per check (its tolerances are within the
 * ceilings, its floors within the analytic ceiling). Written by the gate itself, before any suite runs.
 */
function recordTrust(runDir: string, issues: TrustIssue[], loaded: Bundle | null): void {
  for (const t of issues) {
    recordCheck(
      { id: trustRecordId(t), check: 'trust', runtime: 'node', status: 'fail', metrics: { subject: t.subject }, message: t.message },
      runDir,
    );
  }
  if (!loaded) return;
  const policy = loaded.manifest.tolerance;
  recordCheck(
    {
      id: 'trust:check=tolerance-ceiling',
      check: 'trust',
      runtime: 'node',
      status: 'pass',
      metrics: {
        fields: TOLERANCE_BOUNDS.length,
        velocityFloorMultiple: policy?.velocity.floorMultiple ?? null,
        trajectoryFloorMultiple: policy?.trajectory.floorMultiple ?? null,
      },
      message: `manifest.json tolerance: every field within the gate's ceilings (harness/model/trust.ts TOLERANCE_BOUNDS, ${TOLERANCE_BOUNDS.length} fields): the bundle did not loosen its own judgement`,
    },
    runDir,
  );
  recordCheck(
    {
      id: 'trust:check=noise-floor',
      check: 'trust',
      runtime: 'node',
      status: 'pass',
      metrics: { ulps: NOISE_FLOOR_ULPS },
      threshold: { ulps: NOISE_FLOOR_ULPS },
      message: `every velocity and trajectory noise floor of goldens/ is within ${NOISE_FLOOR_ULPS} float32 ulps of its case's own magnitude (harness/model/trust.ts)`,
    },
    runDir,
  );
}

export async function runGate(o: GateOptions): Promise<GateResult> {
  const startedAt = new Date().toISOString();
  const bundleDir = resolve(o.bundle);
  const identity = await modelIdentity(bundleDir);
  const { runId, dir: runDir } = writing(resolve(o.reportsRoot), null, () =>
    newRunDir(resolve(o.reportsRoot), o.runId ?? `${utcStamp()}-${(identity.sha ?? 'nomodel').slice(0, 8)}`),
  );
  const progress = new ProgressLine();
  let forced = false;
  const interrupts = new Interrupts(() => {
    forced = true;
    interruptChildren();
  });
  const mode: GateMode = o.mode ?? 'gate';
  const trustGoldens = o.trustGoldens === true || process.env.TINYDIT_TRUST_GOLDENS === '1';
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    TINYDIT_BUNDLE: bundleDir,
    TINYDIT_REPORT_DIR: runDir,
    ...(trustGoldens ? { TINYDIT_TRUST_GOLDENS: '1' } : {}),
  };
  progress.setPhase(`bundle digest ${o.bundle}`);
  const digest = await digestOrNull(bundleDir);
  const base = {
    runId,
    runDir,
    startedAt,
    identity,
    bundleDir,
    bundleArg: o.bundle,
    env: envSnapshot(env),
    commandLine: o.commandLine,
    history: o.history,
    failOnDrift: o.failOnDrift,
    ...(o.baseline ? { baseline: o.baseline } : {}),
    ...(o.requireFull ? { requireFull: true } : {}),
    mode,
    trustGoldens,
    digest,
  };
  process.stderr.write(`[gate] run ${runId} -> ${relative(process.cwd(), runDir) || runDir}\n`);

  // 1. the bundle, before anything runs
  let bundle: Bundle | null = null;
  let refused: string | undefined;
  progress.setPhase(`validating bundle ${o.bundle}`);
  try {
    bundle = await loadBundle(bundleDir, { verifyHashes: true });
  } catch (e) {
    refused = e instanceof BundleError ? e.message : `bundle ${bundleDir}: ${(e as Error).message}`;
    if (e instanceof BundleError) recordTrust(runDir, e.trust, null);
  }
  if (bundle?.level === 'full') recordTrust(runDir, [], bundle);
  const level: Level | 'refused' = bundle ? bundle.level : 'refused';
  // the gate's plan for this image size, unless the engines or specs were chosen by hand (then it is a narrowing)
  const plan = bundle && bundle.level === 'full' && mode === 'gate' ? gatePlan(bundle.manifest.contract.imageSize) : null;
  const planned = plan !== null && !o.browserSuites?.length && sameSet(o.browsers, ALL_BROWSERS);
  if (planned) o = { ...o, browsers: [...plan.browsers], browserSuites: [...plan.browserSuites] };
  const scope = scopeOf(o, bundle?.level ?? null, undefined, narrowingEnv(process.env), planned ? plan : null);
  try {
    writing(join(runDir, 'verdict.json'), null, () =>
      writeJson(
        join(runDir, 'verdict.json'),
        provisional(
          runId,
          startedAt,
          bundleDir,
          scope,
          'incomplete: the run has not finished (if nothing is running, it was killed; the partial results in this folder are readable)',
        ),
      ),
    );
  } catch (e) {
    progress.finish();
    interrupts.dispose();
    throw e;
  }
  if (refused !== undefined) {
    progress.finish();
    interrupts.dispose();
    const r = await finalise({
      ...base,
      interrupted: false,
      refused,
      level: 'refused',
      scope,
      vitest: null,
      playwright: null,
      processes: [],
      screenshot: false,
    });
    return { ...r, runDir };
  }

  // The bundle's speed in onnxruntime-node, measured once: every time bound of the suites that waits on a model is
  // derived from it (harness/runtimes/time-bounds.ts), not set on the 32-pixel fixture. Never fails the run.
  progress.setPhase('timing the model (onnxruntime-node, 1 thread)');
  const speed = await measureSpeed(bundleDir);
  const speedFile = join(runDir, SPEED_PROFILE_FILE);
  try {
    writing(speedFile, null, () => writeSpeedProfile(speed, speedFile));
  } catch (e) {
    progress.finish();
    interrupts.dispose();
    throw e;
  }
  env[SPEED_PROFILE_ENV] = speedFile;
  progress.printAbove(`[gate] time bounds from ${describeProfile(speed)} (${relative(process.cwd(), speedFile) || speedFile})`);

  const processes: ProcessOutcome[] = [];
  const onLine = (line: string): void => {
    const e = parseProgressLine(line);
    if (e) progress.update(e);
  };
  const echo = o.verbose ? process.stdout : undefined;
  let vitest: RunnerResults | null = null;
  let playwright: RunnerResults | null = null;

  // 2 and 3. the Node suites (vitest) and the browser suites (Playwright) at the same time (--serial: one after
  //    the other). They share nothing but checks.jsonl (each record one appended line) and the machine: on two cores
  //    the browsers' single-threaded inference and the Node suites' fill both.
  const runNode = async (): Promise<void> => {
    if (!o.node || interrupts.interrupted) return;
    const suites = o.nodeSuites?.length ? o.nodeSuites : level === 'contract-only' || mode === 'screen' ? CONTRACT_ONLY_SUITES.node : [];
    const p = await runChild({
      name: 'vitest',
      command: BIN('vitest'),
      cwd: REPO_ROOT,
      env,
      log: join(runDir, 'logs', 'vitest.log'),
      timeoutMs: o.nodeTimeoutMs,
      onLine,
      ...(echo ? { echo } : {}),
      args: ['run', ...suites, '--config', join(REPO_ROOT, 'harness/gate/vitest.gate.config.ts'), ...(o.grep ? ['-t', o.grep] : [])],
    });
    processes.push(p);
    vitest = readVitestReport(join(runDir, 'vitest.json'), REPO_ROOT);
  };
  const runBrowsers = async (): Promise<void> => {
    if (!o.browsers.length || interrupts.interrupted) return;
    const suites = o.browserSuites?.length
      ? o.browserSuites
      : level === 'contract-only' || mode === 'screen'
        ? CONTRACT_ONLY_SUITES.browser
        : [MODEL_BROWSER_SUITES];
    const reporters = [
      'list',
      'html',
      'json',
      'junit',
      join(REPO_ROOT, 'harness/gate/playwright-progress.ts'),
      ...(o.shard ? ['blob'] : []),
    ];
    const port = await freePort();
    const p = await runChild({
      name: 'playwright',
      command: BIN('playwright'),
      cwd: REPO_ROOT,
      log: join(runDir, 'logs', 'playwright.log'),
      timeoutMs: o.browserTimeoutMs,
      onLine,
      ...(echo ? { echo } : {}),
      env: {
        ...env,
        TINYDIT_PORT: String(port),
        PLAYWRIGHT_JSON_OUTPUT_FILE: join(runDir, 'playwright.json'),
        PLAYWRIGHT_JUNIT_OUTPUT_FILE: join(runDir, 'junit-browser.xml'),
        PLAYWRIGHT_HTML_OUTPUT_DIR: join(runDir, 'playwright-html'),
        PLAYWRIGHT_HTML_OPEN: 'never',
        PLAYWRIGHT_BLOB_OUTPUT_DIR: join(runDir, 'blob-report'),
      },
      args: [
        'test',
        ...suites,
        ...o.browsers.map((b) => `--project=${b}`),
        `--reporter=${reporters.join(',')}`,
        `--output=${join(runDir, 'test-results')}`,
        ...(o.shard ? [`--shard=${o.shard}`] : []),
        ...(o.grep ? ['-g', o.grep] : []),
      ],
    });
    processes.push(p);
    playwright = readPlaywrightReport(join(runDir, 'playwright.json'), REPO_ROOT);
  };

  // the reference page is built before either runner starts (a stale build would be judged otherwise)
  if (o.browsers.length && !interrupts.interrupted && webBuildStale()) {
    progress.setPhase('building the reference page (harness/web)');
    const b = await runChild({
      name: 'build:web',
      command: BIN('tsx'),
      args: ['harness/runtimes/web/build.ts'],
      cwd: REPO_ROOT,
      env,
      log: join(runDir, 'logs', 'build-web.log'),
      timeoutMs: 300_000,
    });
    processes.push(b);
  }
  const runners = [
    o.node ? 'Node suites (vitest)' : '',
    o.browsers.length ? `browser suites (Playwright: ${o.browsers.join(', ')}${o.shard ? `, shard ${o.shard}` : ''})` : '',
  ].filter(Boolean);
  // each runtime's peak memory over the runners' whole run (the verdict's peakMemory; harness/bench/procmem.ts)
  const memory = procAvailable() ? new RunMemorySampler(process.pid, MEMORY_SAMPLE_MS).start() : null;
  if (o.serial) {
    if (o.node) progress.setPhase(runners[0]!);
    await runNode();
    if (o.browsers.length) progress.setPhase(runners[runners.length - 1]!);
    await runBrowsers();
  } else {
    progress.setPhase(runners.join(' + '));
    await Promise.all([runNode(), runBrowsers()]);
  }
  if (memory) {
    const m = memory.stop();
    try {
      writing(join(runDir, MEMORY_FILE), null, () => writeFileSync(join(runDir, MEMORY_FILE), `${JSON.stringify(m, null, 1)}\n`));
      progress.printAbove(`[gate] ${describeRunMemory(m)}`);
    } catch (e) {
      progress.printAbove(`[gate] peak memory not recorded: ${(e as Error).message}`);
    }
  }

  // 4. the speed budget, when the manifest states one (docs/performance.md): the benchmark's budget-only pass
  //    writes 'speed' records into this run's checks.jsonl. Not in a shard (gate:merge says how to add it).
  const budgetRts = budgetRuntimesInScope(bundle?.manifest.budget, o.node, o.browsers, o.shard);
  if (budgetRts.length && !interrupts.interrupted) {
    progress.setPhase(`speed budget (bench --budget-only: ${budgetRts.join(', ')})`);
    const p = await runChild({
      name: 'bench',
      command: BIN('tsx'),
      cwd: REPO_ROOT,
      env,
      log: join(runDir, 'logs', 'bench.log'),
      timeoutMs: o.browserTimeoutMs,
      ...(echo ? { echo } : {}),
      args: [
        'scripts/bench.ts',
        '--budget-only',
        '--bundle',
        bundleDir,
        '--runtimes',
        budgetRts.join(','),
        '--report-dir',
        runDir,
        '--out',
        join(runDir, 'bench.json'),
      ],
    });
    processes.push(p);
  }

  progress.setPhase('verdict');
  progress.finish();
  try {
    const r = await finalise({
      ...base,
      interrupted: interrupts.interrupted || forced,
      level,
      scope,
      vitest,
      playwright,
      processes,
      screenshot: o.screenshot && o.browsers.includes('chromium') && !o.shard,
      progress,
    });
    return { ...r, runDir };
  } finally {
    progress.finish();
    interrupts.dispose();
  }
}

// ---------------------------------------------------------------------------------------------------------
// Shards

export interface MergeOptions {
  /** Shard folders: each holds blob zips (directly or in blob-report/) and the shard's checks.jsonl. */
  inputs: string[];
  /** A folder with a Node-suite run (vitest.json + checks.jsonl) to merge in, e.g. a --node-only gate run. */
  bundle?: string;
  reportsRoot: string;
  allowNarrow: boolean;
  baseline?: string;
  failOnDrift: boolean;
  history: string | null;
  runId?: string;
  screenshot: boolean;
  commandLine: string;
  requireFull?: boolean;
}

const SHARD_SKIP = new Set([
  'verdict.json',
  'index.html',
  'junit-verdict.xml',
  'playwright.json',
  'junit-browser.xml',
  'junit-node.xml',
  'playwright-html',
  'blob-report',
  'test-results',
  'logs',
  'report-page',
  'report-page.png',
  'vitest.json',
  CHECKS_FILE,
]);

function blobZips(dir: string): string[] {
  const out: string[] = [];
  for (const d of [dir, join(dir, 'blob-report')]) {
    if (!existsSync(d) || !statSync(d).isDirectory()) continue;
    for (const f of readdirSync(d)) if (f.endsWith('.zip')) out.push(join(d, f));
  }
  return out;
}

/** Merges shard folders into one run folder and judges it exactly as a single run. */
export async function mergeShards(o: MergeOptions): Promise<GateResult> {
  const startedAt = new Date().toISOString();
  const inputs = o.inputs.map((d) => resolve(d));
  for (const d of inputs) if (!existsSync(d)) throw new Error(`gate:merge: ${d}: no such folder`);
  const shardVerdicts = inputs.map((d) => {
    try {
      return JSON.parse(readFileSync(join(d, 'verdict.json'), 'utf8')) as Partial<Verdict>;
    } catch {
      return null;
    }
  });
  const bundleArg = o.bundle ?? shardVerdicts.find((v) => v?.bundle?.dir)?.bundle?.dir ?? process.env.TINYDIT_BUNDLE ?? 'fixtures/default';
  const bundleDir = resolve(bundleArg);
  const identity = await modelIdentity(bundleDir);
  const { runId, dir: runDir } = newRunDir(
    resolve(o.reportsRoot),
    o.runId ?? `${utcStamp()}-${(identity.sha ?? 'nomodel').slice(0, 8)}-merged`,
  );
  process.stderr.write(`[gate:merge] ${inputs.length} shard folder(s) -> ${relative(process.cwd(), runDir) || runDir}\n`);
  const interrupts = new Interrupts(() => interruptChildren());
  writeJson(join(runDir, 'verdict.json'), {
    format: VERDICT_FORMAT,
    runId,
    complete: false,
    outcome: 'inconclusive',
    accepted: false,
    reason: 'incomplete: merging',
  });

  // union of the records and the evidence files of every shard
  const allBlobs = join(runDir, 'blob-all');
  mkdirSync(allBlobs, { recursive: true });
  const records: string[] = [];
  const processes: ProcessOutcome[] = [];
  let vitestDir: string | null = null;
  const modelShas = new Set<string>();
  inputs.forEach((d, k) => {
    const checks = join(d, CHECKS_FILE);
    if (existsSync(checks)) records.push(readFileSync(checks, 'utf8').replace(/\n?$/, '\n'));
    for (const z of blobZips(d)) copyFileSync(z, join(allBlobs, `shard${k + 1}-${basename(z)}`));
    if (existsSync(join(d, 'vitest.json'))) vitestDir ??= d;
    for (const entry of readdirSync(d)) {
      if (SHARD_SKIP.has(entry) || entry.endsWith('.zip')) continue;
      cpSync(join(d, entry), join(runDir, entry), { recursive: true, force: false, errorOnExist: false });
    }
    const v = shardVerdicts[k];
    for (const p of v?.processes ?? []) processes.push({ ...p, name: `${basename(d)}: ${p.name}` });
    if (v?.bundle?.modelSha256) modelShas.add(v.bundle.modelSha256);
  });
  writeFileSync(join(runDir, CHECKS_FILE), records.join(''));
  if (vitestDir) {
    copyFileSync(join(vitestDir, 'vitest.json'), join(runDir, 'vitest.json'));
    if (existsSync(join(vitestDir, 'junit-node.xml'))) copyFileSync(join(vitestDir, 'junit-node.xml'), join(runDir, 'junit-node.xml'));
  }

  const zips = readdirSync(allBlobs).filter((f) => f.endsWith('.zip'));
  let playwright: RunnerResults | null = null;
  if (zips.length) {
    const p = await runChild({
      name: 'playwright merge-reports',
      command: BIN('playwright'),
      cwd: REPO_ROOT,
      log: join(runDir, 'logs', 'merge-reports.log'),
      timeoutMs: 600_000,
      args: ['merge-reports', '--reporter=json,junit,html', allBlobs],
      env: {
        ...process.env,
        PLAYWRIGHT_JSON_OUTPUT_FILE: join(runDir, 'playwright.json'),
        PLAYWRIGHT_JUNIT_OUTPUT_FILE: join(runDir, 'junit-browser.xml'),
        PLAYWRIGHT_HTML_OUTPUT_DIR: join(runDir, 'playwright-html'),
        PLAYWRIGHT_HTML_OPEN: 'never',
      },
    });
    processes.push(p);
    playwright = readPlaywrightReport(join(runDir, 'playwright.json'), REPO_ROOT);
  }
  const vitest = vitestDir ? readVitestReport(join(runDir, 'vitest.json'), REPO_ROOT) : null;

  // what was asked of the shards: their recorded scope, else every project the merged report knows
  const askedBrowsers = [...new Set(shardVerdicts.flatMap((v) => v?.scope?.browsers ?? []))];
  const browsers = askedBrowsers.length ? askedBrowsers : playwright?.projects.length ? playwright.projects : [];
  const grep = shardVerdicts.find((v) => v?.scope?.grep)?.scope?.grep;
  const suites = shardVerdicts.find((v) => v?.scope?.suites)?.scope?.suites;
  const plan = shardVerdicts.find((v) => v?.scope?.plan)?.scope?.plan ?? null;
  let bundle: Bundle | null = null;
  let refused: string | undefined;
  try {
    bundle = await loadBundle(bundleDir, { verifyHashes: true });
  } catch (e) {
    refused = (e as Error).message;
  }
  const level: Level | 'refused' = bundle ? bundle.level : 'refused';
  const shardEnv = Object.assign({}, ...shardVerdicts.map((v) => v?.scope?.env ?? {})) as Record<string, string>;
  const scope = scopeOf(
    {
      node: vitest !== null,
      browsers,
      allowNarrow: o.allowNarrow,
      ...(grep ? { grep } : {}),
      ...(suites?.node ? { nodeSuites: suites.node } : {}),
      ...(suites?.browser ? { browserSuites: suites.browser } : {}),
      ...(plan && !suites?.browser ? { browserSuites: plan.browserSuites } : {}),
    },
    bundle?.level ?? null,
    inputs.map((d) => relative(process.cwd(), d) || d),
    { ...shardEnv, ...narrowingEnv(process.env) },
    plan,
  );
  const digest = await digestOrNull(bundleDir);
  // shards are one verdict only when they judged the same bundle: the same digest (every file), not only the same model
  const digests = new Set(shardVerdicts.map((v) => v?.bundle?.digest).filter((d): d is string => typeof d === 'string'));
  const unnamed = shardVerdicts.filter((v) => v && !v.bundle?.digest).length;
  if (digests.size > 1 || (digest && digests.size === 1 && !digests.has(digest.digest))) {
    refused = `the shards judged different bundles (digests ${[...digests].map((d) => d.slice(0, 12)).join(', ')}; the bundle given here: ${digest?.digest.slice(0, 12) ?? 'unreadable'}): they cannot be merged into one verdict`;
  } else if (unnamed > 0) {
    refused = `${unnamed} shard verdict(s) carry no bundle digest (made by an older gate, or not a gate run folder): rerun those shards with this gate`;
  } else if (modelShas.size > 1 || (identity.sha && modelShas.size === 1 && !modelShas.has(identity.sha))) {
    refused = `the shards judged different models (${[...modelShas, identity.sha].filter(Boolean).join(', ')}): they cannot be merged into one verdict`;
  }
  const modes = new Set(shardVerdicts.map((v) => v?.mode ?? 'gate'));
  const trustGoldens = shardVerdicts.some((v) => v?.goldens?.flag === true);
  const r = await finalise({
    runId,
    runDir,
    startedAt,
    interrupted: interrupts.interrupted,
    ...(refused !== undefined ? { refused } : {}),
    level,
    scope,
    identity,
    bundleDir,
    bundleArg,
    vitest,
    playwright,
    processes,
    env: envSnapshot(process.env),
    commandLine: o.commandLine,
    history: o.history,
    failOnDrift: o.failOnDrift,
    ...(o.baseline ? { baseline: o.baseline } : {}),
    screenshot: o.screenshot && browsers.includes('chromium'),
    ...(o.requireFull ? { requireFull: true } : {}),
    digest,
    mode: modes.has('screen') ? 'screen' : 'gate',
    trustGoldens,
  });
  interrupts.dispose();
  return { ...r, runDir };
}

// ---------------------------------------------------------------------------------------------------------
// Re-judging a run folder

export interface RejudgeOptions {
  runDir: string;
  bundle?: string;
  baseline?: string;
  failOnDrift: boolean;
  /** History to read the trend and spread from (not appended to: the run is already in it, if complete). */
  history: string | null;
  commandLine: string;
}

/**
 * Recomputes verdict.json and index.html of an existing run folder from what it holds (checks.jsonl, the
 * runners' reports, the processes its verdict recorded). A run that never finished stays incomplete.
 */
export async function rejudge(o: RejudgeOptions): Promise<GateResult> {
  const runDir = resolve(o.runDir);
  if (!existsSync(runDir)) throw new Error(`${runDir}: no such run folder`);
  let old: Partial<Verdict> = {};
  try {
    old = JSON.parse(readFileSync(join(runDir, 'verdict.json'), 'utf8')) as Partial<Verdict>;
  } catch {
    /* a folder of records only */
  }
  const bundleArg = o.bundle ?? old.bundle?.dir ?? process.env.TINYDIT_BUNDLE ?? 'fixtures/default';
  const bundleDir = resolve(bundleArg);
  const identity = await modelIdentity(bundleDir);
  const vitest = existsSync(join(runDir, 'vitest.json')) ? readVitestReport(join(runDir, 'vitest.json'), REPO_ROOT) : null;
  const playwright = existsSync(join(runDir, 'playwright.json')) ? readPlaywrightReport(join(runDir, 'playwright.json'), REPO_ROOT) : null;
  const { records } = readRecords(join(runDir, CHECKS_FILE));
  let bundle: Bundle | null = null;
  let refused: string | undefined;
  try {
    bundle = await loadBundle(bundleDir, { verifyHashes: true });
  } catch (e) {
    refused = (e as Error).message;
  }
  const browsersSeen = [...new Set([...records.map((r) => r.runtime), ...(playwright?.tests.map((t) => t.project) ?? [])])].filter((r) =>
    ALL_BROWSERS.includes(r),
  );
  const scope =
    old.scope ??
    scopeOf(
      {
        node: vitest !== null || records.some((r) => r.runtime === 'node'),
        browsers: browsersSeen,
        allowNarrow: false,
      },
      bundle?.level ?? null,
    );
  const digest = await digestOrNull(bundleDir);
  if (old.bundle?.digest && digest && old.bundle.digest !== digest.digest && refused === undefined) {
    refused = `the bundle ${bundleDir} is not the one this run judged (digest ${digest.digest.slice(0, 12)}, the run's ${old.bundle.digest.slice(0, 12)}): a verdict is recomputed only against the same bundle`;
  }
  const r = await finalise({
    runId: old.runId ?? basename(runDir),
    runDir,
    startedAt: old.startedAt ?? new Date().toISOString(),
    interrupted: old.complete === false,
    ...(refused !== undefined ? { refused } : {}),
    level: bundle ? bundle.level : 'refused',
    scope,
    identity,
    bundleDir,
    bundleArg,
    vitest,
    playwright,
    processes: old.processes ?? [],
    env: old.determinism?.env ?? {},
    commandLine: o.commandLine,
    history: null,
    failOnDrift: o.failOnDrift,
    ...(o.baseline ? { baseline: o.baseline } : {}),
    screenshot: false,
    ...(o.history ? { trendFrom: o.history } : {}),
    digest,
    mode: old.mode ?? 'gate',
    trustGoldens: old.goldens?.flag === true,
  });
  return { ...r, runDir };
}
