/**
 * The gate's own overhead: how much of a real `npm run gate` run's wall time is spent outside session.run.
 * The gate runs unchanged (scripts/gate.ts) with two probes that change no project file:
 *  - NODE_OPTIONS="--import harness/bench/ort-probe.mjs" in every Node process: onnxruntime-node's session.run
 *    and session creation are timed (vitest workers), and the browser suites' static server answers the page's
 *    probe requests and serves an instrumented page worker;
 *  - that worker (harness/runtimes/web/worker.ts built with harness/bench/ort-web-probe.ts in place of onnxruntime-web)
 *    reports every session.run and session creation in the browsers.
 * Inference time is the union of the session.run intervals over all processes (two vitest workers run at once:
 * an instant counts once), so `1 - inference / wall` is the share of the wall clock in which no model ran.
 *
 *   npm run bench -- overhead [--gate-args "..."] [--out reports/overhead.json]
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { REPO_ROOT } from '../core/config.js';
import { machineInfo, type MachineInfo } from './machine.js';

const HERE = dirname(fileURLToPath(import.meta.url));
export const PROBE_PRELOAD = join(HERE, 'ort-probe.mjs');
const WEB_PROBE = join(HERE, 'ort-web-probe.ts');

/** Builds harness/runtimes/web/worker.ts with onnxruntime-web replaced by the probing wrapper; returns the file. */
export async function buildProbedWorker(outDir: string): Promise<string> {
  mkdirSync(outDir, { recursive: true });
  const out = join(outDir, 'worker.js');
  await build({
    entryPoints: [join(REPO_ROOT, 'harness/runtimes/web/worker.ts')],
    outfile: out,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['es2022'],
    conditions: ['onnxruntime-web-use-extern-wasm'],
    logLevel: 'error',
    plugins: [
      {
        name: 'probe-onnxruntime-web',
        setup(b) {
          b.onResolve({ filter: /^onnxruntime-web\/wasm$/ }, (args) => (args.importer === WEB_PROBE ? undefined : { path: WEB_PROBE }));
        },
      },
    ],
  });
  return out;
}

/** [start, duration] intervals -> total time covered by at least one (ms). */
export function unionMs(intervals: Array<[number, number]>): number {
  const iv = intervals
    .filter(([s, d]) => Number.isFinite(s) && Number.isFinite(d) && d >= 0)
    .map(([s, d]) => [s, s + d] as [number, number])
    .sort((a, b) => a[0] - b[0]);
  let total = 0;
  let cur: [number, number] | null = null;
  for (const [s, e] of iv) {
    if (!cur || s > cur[1]) {
      if (cur) total += cur[1] - cur[0];
      cur = [s, e];
    } else if (e > cur[1]) cur[1] = e;
  }
  if (cur) total += cur[1] - cur[0];
  return total;
}

interface ProbeFile {
  pid: number;
  argv: string[];
  node: { runs: Array<[number, number]>; creates: Array<[number, number]> };
  browser: { runs: Array<[number, number, string]>; creates: Array<[number, number, string]> };
  workerServed: number;
}

export interface PhaseFigures {
  name: string;
  /** The runner process's duration (verdict.json processes), ms. */
  durationMs: number | null;
  runs: number;
  /** Wall time with at least one session.run in flight, ms. */
  inferenceMs: number;
  /** Sum of session.run durations (CPU-parallel runs count twice), ms. */
  inferenceSumMs: number;
  sessions: number;
  /** Wall time with at least one session being created, ms. */
  sessionCreateMs: number;
}

export interface OverheadReport {
  format: 'tinydit-overhead/1';
  machine: MachineInfo;
  gate: {
    command: string;
    exitCode: number | null;
    runDir: string | null;
    accepted: boolean | null;
    wallMs: number;
    verdictWallMs: number | null;
  };
  phases: PhaseFigures[];
  inferenceMs: number;
  sessionCreateMs: number;
  /** 1 - inference / wall */
  overheadFraction: number;
  /** 1 - (inference + session creation) / wall */
  overheadExcludingLoadFraction: number;
  /** Where the rest goes, ms (wall minus the runner processes; per runner, its time outside inference and load). */
  breakdown: Record<string, number>;
  /** Per browser spec file (tests run one at a time: windows do not overlap) and per Node suite file (two
   * workers: windows overlap, so a file's inference may include its neighbour's). */
  files: FileFigures[];
  probeCheck: { workerServed: number; nodeProcessesWithRuns: number };
}

export interface FileFigures {
  runner: 'vitest' | 'playwright';
  file: string;
  /** Sum of the file's test (or file) durations, ms. */
  wallMs: number;
  inferenceMs: number;
  sessionCreateMs: number;
  outsideMs: number;
}

/** Union of intervals clipped to windows [start, end]. */
function unionWithin(intervals: Array<[number, number]>, windows: Array<[number, number]>): number {
  const clipped: Array<[number, number]> = [];
  for (const [ws, we] of windows) {
    for (const [s, d] of intervals) {
      const a = Math.max(s, ws);
      const b = Math.min(s + d, we);
      if (b > a) clipped.push([a, b - a]);
    }
  }
  return unionMs(clipped);
}

interface PwSuite {
  file?: string;
  specs?: Array<{ file: string; tests: Array<{ projectName: string; results: Array<{ startTime: string; duration: number }> }> }>;
  suites?: PwSuite[];
}

/** [start, end] epoch ms of the vitest run and of the Playwright run, from their JSON reports. */
function phaseWindows(runDir: string): { vitest: [number, number] | null; playwright: [number, number] | null } {
  let vitest: [number, number] | null = null;
  let playwright: [number, number] | null = null;
  const vj = join(runDir, 'vitest.json');
  if (existsSync(vj)) {
    const v = JSON.parse(readFileSync(vj, 'utf8')) as { startTime: number; testResults: Array<{ endTime: number }> };
    vitest = [v.startTime, Math.max(v.startTime, ...v.testResults.map((t) => t.endTime))];
  }
  const pw = join(runDir, 'playwright.json');
  if (existsSync(pw)) {
    const st = (JSON.parse(readFileSync(pw, 'utf8')) as { stats: { startTime: string; duration: number } }).stats;
    const start = Date.parse(st.startTime);
    playwright = [start, start + st.duration];
  }
  return { vitest, playwright };
}

function fileWindows(runDir: string): Array<{ runner: 'vitest' | 'playwright'; file: string; windows: Array<[number, number]> }> {
  const out = new Map<string, { runner: 'vitest' | 'playwright'; file: string; windows: Array<[number, number]> }>();
  const add = (runner: 'vitest' | 'playwright', file: string, w: [number, number]): void => {
    const k = `${runner}|${file}`;
    const e = out.get(k) ?? { runner, file, windows: [] };
    e.windows.push(w);
    out.set(k, e);
  };
  const pw = join(runDir, 'playwright.json');
  if (existsSync(pw)) {
    const walk = (s: PwSuite): void => {
      for (const sp of s.specs ?? [])
        for (const t of sp.tests)
          for (const r of t.results) {
            const start = Date.parse(r.startTime);
            add('playwright', `${sp.file} [${t.projectName}]`, [start, start + r.duration]);
          }
      for (const c of s.suites ?? []) walk(c);
    };
    for (const s of (JSON.parse(readFileSync(pw, 'utf8')) as { suites: PwSuite[] }).suites) walk(s);
  }
  const vj = join(runDir, 'vitest.json');
  if (existsSync(vj)) {
    for (const t of (JSON.parse(readFileSync(vj, 'utf8')) as { testResults: Array<{ name: string; startTime: number; endTime: number }> })
      .testResults) {
      add('vitest', t.name.startsWith(REPO_ROOT) ? t.name.slice(REPO_ROOT.length + 1) : t.name, [t.startTime, t.endTime]);
    }
  }
  return [...out.values()];
}

function phaseFigures(
  name: string,
  durationMs: number | null,
  runs: Array<[number, number]>,
  creates: Array<[number, number]>,
): PhaseFigures {
  return {
    name,
    durationMs,
    runs: runs.length,
    inferenceMs: unionMs(runs),
    inferenceSumMs: runs.reduce((a, [, d]) => a + d, 0),
    sessions: creates.length,
    sessionCreateMs: unionMs(creates),
  };
}

export async function measureOverhead(opts: { gateArgs: string[]; out: string; log: (l: string) => void }): Promise<OverheadReport> {
  const tmp = mkdtempSync(join(tmpdir(), 'tinydit-overhead-'));
  const probeDir = join(tmp, 'probe');
  mkdirSync(probeDir);
  try {
    const worker = await buildProbedWorker(join(tmp, 'web'));
    const runId = `overhead-${new Date()
      .toISOString()
      .replace(/[-:]/g, '')
      .replace(/\.\d+Z$/, 'Z')}`;
    const args = ['--import', 'tsx', join(REPO_ROOT, 'scripts/gate.ts'), '--no-history', '--run-id', runId, ...opts.gateArgs];
    const env = {
      ...process.env,
      NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import ${PROBE_PRELOAD}`.trim(),
      TINYDIT_ORT_PROBE_DIR: probeDir,
      TINYDIT_ORT_PROBE_WORKER: worker,
    };
    opts.log(`running the gate with inference probes: node ${args.slice(2).join(' ')}`);
    const t0 = Date.now();
    const child = spawn(process.execPath, args, { cwd: REPO_ROOT, env, stdio: ['ignore', 'inherit', 'inherit'] });
    const exitCode = await new Promise<number | null>((ok) => child.on('close', (c) => ok(c)));
    const wallMs = Date.now() - t0;
    await new Promise((ok) => setTimeout(ok, 1500)); // let the last probe files land

    const files: ProbeFile[] = readdirSync(probeDir)
      .filter((f) => f.endsWith('.json'))
      .map((f) => JSON.parse(readFileSync(join(probeDir, f), 'utf8')) as ProbeFile);
    const intervals: OverheadIntervals = {
      runId,
      wallMs,
      exitCode,
      gateArgs: opts.gateArgs,
      nodeRuns: files.flatMap((f) => f.node.runs),
      nodeCreates: files.flatMap((f) => f.node.creates),
      webRuns: files.flatMap((f) => f.browser.runs.map(([s, d]) => [s, d] as [number, number])),
      webCreates: files.flatMap((f) => f.browser.creates.map(([s, d]) => [s, d] as [number, number])),
      byRunner: Object.fromEntries(
        (['vitest', 'playwright', 'gate'] as const).map((r) => {
          const fs = files.filter((f) => runnerOf(f.argv) === r);
          return [
            r,
            {
              runs: fs.flatMap((f) => [...f.node.runs, ...f.browser.runs.map(([s, d]) => [s, d] as [number, number])]),
              creates: fs.flatMap((f) => [...f.node.creates, ...f.browser.creates.map(([s, d]) => [s, d] as [number, number])]),
            },
          ];
        }),
      ) as OverheadIntervals['byRunner'],
      probeCheck: {
        workerServed: files.reduce((a, f) => a + f.workerServed, 0),
        nodeProcessesWithRuns: files.filter((f) => f.node.runs.length > 0).length,
      },
    };
    mkdirSync(dirname(opts.out), { recursive: true });
    writeFileSync(join(dirname(opts.out), 'overhead-intervals.json'), JSON.stringify(intervals));
    const report = analyseOverhead(intervals);
    writeFileSync(opts.out, JSON.stringify(report, null, 1) + '\n');
    return report;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/**
 * The runner a probed process belongs to, from its script path: vitest's workers; Playwright's runner, its workers
 * and the static server it starts (which reports the page workers' inference); anything else is the gate itself.
 */
export function runnerOf(argv: string[]): 'vitest' | 'playwright' | 'gate' {
  const a = argv.join(' ');
  if (/[\\/]vitest[\\/]/.test(a)) return 'vitest';
  if (/playwright|harness[\\/]runtimes[\\/]server\.ts/.test(a)) return 'playwright';
  return 'gate';
}

/** What a probed gate run left: every interval, the gate's wall time and exit code (overhead-intervals.json). */
export interface OverheadIntervals {
  runId: string;
  wallMs: number;
  exitCode: number | null;
  gateArgs: string[];
  nodeRuns: Array<[number, number]>;
  nodeCreates: Array<[number, number]>;
  webRuns: Array<[number, number]>;
  webCreates: Array<[number, number]>;
  /**
   * The same intervals by the runner whose processes reported them (runnerOf). The runners run at once, so a phase
   * is judged on its own processes' intervals; absent in files written before the runners ran at once.
   */
  byRunner?: Record<'vitest' | 'playwright' | 'gate', { runs: Array<[number, number]>; creates: Array<[number, number]> }>;
  probeCheck: { workerServed: number; nodeProcessesWithRuns: number };
}

/** The overhead figures from the intervals and the gate's run folder (verdict.json, vitest.json, playwright.json). */
export function analyseOverhead(iv: OverheadIntervals): OverheadReport {
  const { nodeRuns, nodeCreates, webRuns, webCreates, wallMs } = iv;
  const runDir = join(REPO_ROOT, 'reports', iv.runId);
  let verdict: {
    accepted?: boolean;
    startedAt?: string;
    finishedAt?: string | null;
    processes?: Array<{ name: string; durationMs: number }>;
  } | null = null;
  if (existsSync(join(runDir, 'verdict.json'))) verdict = JSON.parse(readFileSync(join(runDir, 'verdict.json'), 'utf8'));
  const dur = (n: string): number | null => verdict?.processes?.find((p) => p.name === n)?.durationMs ?? null;
  // Phases by time window, every probe in it whatever its runtime: the Node suites also start browsers (nested gate
  // runs in robustness tests) and the browser suites also run onnxruntime-node (goldens judged in Node).
  const allRuns = [...nodeRuns, ...webRuns];
  const allCreates = [...nodeCreates, ...webCreates];
  const windows = phaseWindows(runDir);
  const clip = (xs: Array<[number, number]>, w: [number, number] | null): Array<[number, number]> =>
    w
      ? xs.map(([s, d]) => [Math.max(s, w[0]), Math.min(s + d, w[1]) - Math.max(s, w[0])] as [number, number]).filter(([, d]) => d > 0)
      : [];
  // A runner's intervals: its own processes' when the probe files say (runners at once), else all in its window.
  const own = (r: 'vitest' | 'playwright'): { runs: Array<[number, number]>; creates: Array<[number, number]> } =>
    iv.byRunner ? iv.byRunner[r] : { runs: allRuns, creates: allCreates };
  const phaseRuns = {
    vitest: { runs: clip(own('vitest').runs, windows.vitest), creates: clip(own('vitest').creates, windows.vitest) },
    playwright: { runs: clip(own('playwright').runs, windows.playwright), creates: clip(own('playwright').creates, windows.playwright) },
  };
  const phases = [
    phaseFigures('Node suites (vitest)', dur('vitest'), phaseRuns.vitest.runs, phaseRuns.vitest.creates),
    phaseFigures('browser suites (Playwright)', dur('playwright'), phaseRuns.playwright.runs, phaseRuns.playwright.creates),
  ];
  const inferenceMs = unionMs([...nodeRuns, ...webRuns]);
  const sessionCreateMs = unionMs([...nodeCreates, ...webCreates]);
  const loadAndRun = unionMs([...nodeRuns, ...webRuns, ...nodeCreates, ...webCreates]);
  const verdictWallMs = verdict?.startedAt && verdict.finishedAt ? Date.parse(verdict.finishedAt) - Date.parse(verdict.startedAt) : null;
  const breakdown: Record<string, number> = {};
  const byPhase: Array<[PhaseFigures, Array<[number, number]>, Array<[number, number]>]> = [
    [phases[0]!, phaseRuns.vitest.runs, phaseRuns.vitest.creates],
    [phases[1]!, phaseRuns.playwright.runs, phaseRuns.playwright.creates],
  ];
  for (const [p, runs, creates] of byPhase) {
    if (p.durationMs === null) continue;
    // one union: a session created in one worker while the other runs a model counts once
    breakdown[`${p.name}: outside session.run and session creation`] = p.durationMs - unionMs([...runs, ...creates]);
    breakdown[`${p.name}: session creation (not overlapping a session.run)`] = unionMs([...runs, ...creates]) - p.inferenceMs;
  }
  // the gate itself: the wall time in which neither runner was running (they run at once: their windows' union)
  const runnerWindows = [windows.vitest, windows.playwright]
    .filter((w): w is [number, number] => w !== null)
    .map(([a, b]) => [a, b - a] as [number, number]);
  breakdown['gate itself, neither runner running (bundle check, page build, verdict, report page, screenshot)'] =
    wallMs - unionMs(runnerWindows);
  const files: FileFigures[] = fileWindows(runDir)
    .map((f) => {
      const { runs, creates } = own(f.runner);
      const wall = f.windows.reduce((a, [s, e]) => a + (e - s), 0);
      const inf = unionWithin(runs, f.windows);
      const both = unionWithin([...runs, ...creates], f.windows);
      return { runner: f.runner, file: f.file, wallMs: wall, inferenceMs: inf, sessionCreateMs: both - inf, outsideMs: wall - both };
    })
    .sort((a, b) => b.outsideMs - a.outsideMs);
  return {
    format: 'tinydit-overhead/1',
    machine: machineInfo(),
    gate: {
      command: `npm run gate -- --no-history --run-id ${iv.runId} ${iv.gateArgs.join(' ')}`.trim(),
      exitCode: iv.exitCode,
      runDir: existsSync(runDir) ? runDir : null,
      accepted: verdict?.accepted ?? null,
      wallMs,
      verdictWallMs,
    },
    phases,
    inferenceMs,
    sessionCreateMs,
    overheadFraction: 1 - inferenceMs / wallMs,
    overheadExcludingLoadFraction: 1 - loadAndRun / wallMs,
    breakdown,
    files,
    probeCheck: iv.probeCheck,
  };
}

export function overheadText(r: OverheadReport): string {
  const s = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
  const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;
  const lines = [
    `gate wall time ${s(r.gate.wallMs)} (exit ${r.gate.exitCode}, accepted ${r.gate.accepted}); run folder ${r.gate.runDir ?? '(none)'}`,
    `inference (union of session.run over all processes) ${s(r.inferenceMs)} = ${pct(r.inferenceMs / r.gate.wallMs)} of the wall time; session creation ${s(r.sessionCreateMs)}`,
    `overhead outside session.run: ${pct(r.overheadFraction)}; outside session.run and session creation: ${pct(r.overheadExcludingLoadFraction)}`,
  ];
  for (const p of r.phases) {
    lines.push(
      `  ${p.name}: ${p.durationMs === null ? '?' : s(p.durationMs)} wall, ${p.runs} runs, inference ${s(p.inferenceMs)} (sum ${s(p.inferenceSumMs)})` +
        `${p.durationMs ? ` = ${pct(p.inferenceMs / p.durationMs)}` : ''}, ${p.sessions} sessions created in ${s(p.sessionCreateMs)}`,
    );
  }
  for (const [k, v] of Object.entries(r.breakdown)) lines.push(`  ${k}: ${s(v)}`);
  lines.push(
    '  per file (wall = sum of its test durations; each runner has two workers, so two files overlap and share their intervals), largest time outside inference first:',
  );
  for (const f of r.files.slice(0, 14)) {
    lines.push(
      `    ${f.file}: ${s(f.wallMs)} wall, inference ${s(f.inferenceMs)}, session creation ${s(f.sessionCreateMs)}, outside ${s(f.outsideMs)}`,
    );
  }
  lines.push(
    `  probes: instrumented page worker served ${r.probeCheck.workerServed} time(s), ${r.probeCheck.nodeProcessesWithRuns} Node process(es) ran models`,
  );
  return lines.join('\n');
}
