/**
 * The benchmark run: Node configurations (each in its own process, for its peak memory), then each browser
 * engine (one at a time, its process tree's memory sampled from /proc), the ratios of every browser figure to
 * the Node figure of the same run, the budget judgement (harness/bench/budget.ts), the comparison with a
 * baseline, and reports/bench.json.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { loadBundle, type Manifest } from '../model/bundle.js';
import { REPO_ROOT } from '../core/config.js';
import { startServer } from '../runtimes/server.js';
import type { LoadOptions } from '../runtimes/web/protocol.js';
import { compareWithBaseline, type BaselineReport, type BenchLike } from './baseline.js';
import { budgetRecords, judgeBudget, resolveBudget, writeBudgetRecords, type BudgetJudgement, type ResolvedBudget } from './budget.js';
import { BrowserDriver, openEngine } from './browser.js';
import { currentLoad, machineInfo, type MachineInfo } from './machine.js';
import { attachRatios, runPlan, stepCasesFor, type BenchPlan, type ConfigError, type Figure, type RuntimeName } from './plan.js';
import { TreeMemorySampler, procAvailable, type TreeMemory } from './procmem.js';
import { staleWebSources, WEB_DIST_DIR } from '../runtimes/web/sources.js';

export const BENCH_FORMAT = 'tinydit-bench/1';

export interface MemoryFigure {
  runtime: RuntimeName;
  requestedThreads: number | 'default' | 'all';
  label: string;
  text: string;
  /** Node: peak RSS of the benchmark process. */
  maxRssMiB?: number;
  rssAfterLoadMiB?: Record<string, number>;
  /** Browsers: the engine process tree. */
  tree?: TreeMemory;
}

export interface EngineRecord {
  runtime: RuntimeName;
  label: string;
  version: string;
  executable: string;
  hardwareConcurrency: number;
  crossOriginIsolated: boolean;
  userAgent: string;
  startMs: number;
}

export interface BenchReport {
  format: typeof BENCH_FORMAT;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  command: string;
  bundle: {
    dir: string;
    name: string;
    trained: boolean;
    config: string;
    imageSize: number;
    parameters: number;
    variants: Record<string, { file: string; bytes: number }>;
  };
  machine: MachineInfo;
  plan: BenchPlan;
  engines: EngineRecord[];
  figures: Figure[];
  memory: MemoryFigure[];
  errors: ConfigError[];
  budget: {
    resolved: ResolvedBudget;
    judgements: Array<Omit<BudgetJudgement, 'figure' | 'nodeBaseline'> & { figureId: string | null; nodeBaselineId: string | null }>;
  } | null;
  baseline: BaselineReport | null;
}

export interface BenchOptions {
  bundleDir: string;
  runtimes: RuntimeName[];
  nodeThreads: number[];
  /** null = the web app's default (all cores when cross-origin isolated). */
  browserThreads: Array<number | null>;
  /** Session creations per variant in browsers (default: plan.loadRepeats). */
  browserLoadRepeats?: number;
  plan: BenchPlan;
  out: string;
  /** Where speed records go (checks.jsonl); undefined: reportDir() (TINYDIT_REPORT_DIR or reports/latest). */
  reportDir?: string;
  /** Write speed check records (only when the manifest has a budget). */
  records: boolean;
  /** Budgeted runtimes to judge (default: every runtime of the budget; an unmeasured one is an error record). */
  judged?: RuntimeName[];
  /** Earlier bench.json files: slowdowns beyond their run-to-run spread are flagged. */
  baselines?: string[];
  callTimeoutMs: number;
  command: string;
  log: (line: string) => void;
}

/**
 * The default plan for a bundle: every variant's step cases (5 measured runs of 10 steps after 1 warm-up),
 * the 13-breed generation of the guided model at the default steps, 3 session creations per variant in Node
 * (1 in browsers: each is a new worker compiling onnxruntime-web's wasm, seconds each).
 */
export function defaultPlan(m: Manifest, over: Partial<BenchPlan> = {}): BenchPlan {
  const variants = Object.keys(m.variants);
  return {
    stepCases: stepCasesFor(m.variants, m.guidance.scale),
    stepsPerRun: 10,
    warmup: 1,
    repeats: 5,
    fullVariants: ['guided'].filter((v) => variants.includes(v)),
    fullSteps: m.sampler?.defaultSteps ?? 50,
    fullBreeds: m.breeds.map((_, i) => i),
    cfgScale: m.guidance.scale,
    loadRepeats: 3,
    seed: 7,
    ...over,
  };
}

export function loadOptionsFor(m: Manifest, variant: string): LoadOptions {
  const v = m.variants[variant];
  if (!v) throw new Error(`manifest has no variant '${variant}'`);
  return {
    modelUrl: `/bundle/${v.file.split('/').map(encodeURIComponent).join('/')}`,
    guidance: v.guidance,
    ...(v.guidance === 'baked' ? { bakedScale: m.guidance.scale } : {}),
    nullIndex: m.guidance.nullIndex,
    imageSize: m.contract.imageSize,
    channels: m.contract.channels,
  };
}

function webDistReady(): string | null {
  const stale = staleWebSources();
  if (stale === null) return `the reference page is not built (${WEB_DIST_DIR}): run npm run build:web`;
  return stale.length
    ? `the reference page is older than ${stale.map((s) => s.slice(REPO_ROOT.length + 1)).join(', ')}: run npm run build:web`
    : null;
}

async function runNodeConfig(
  o: BenchOptions,
  threads: number,
  tmp: string,
): Promise<{
  config: { figures: Figure[]; errors: ConfigError[] };
  memory: { maxRssMiB: number; rssAfterLoadMiB: Record<string, number>; rssStartMiB: number };
}> {
  const planFile = join(tmp, 'plan.json');
  const outFile = join(tmp, `node-${threads}.json`);
  writeFileSync(planFile, JSON.stringify(o.plan));
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(REPO_ROOT, 'harness/bench/node-child.ts'),
      '--bundle',
      o.bundleDir,
      '--threads',
      String(threads),
      '--plan',
      planFile,
      '--out',
      outFile,
    ],
    {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'inherit', 'pipe'],
      env: { ...process.env, NODE_NO_WARNINGS: '1' },
    },
  );
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    const s = d.toString();
    stderr = (stderr + s).slice(-4000);
    for (const line of s.split('\n')) if (line.trim()) o.log(line);
  });
  const code = await new Promise<number | null>((ok) => child.on('close', (c) => ok(c)));
  if (code !== 0 || !existsSync(outFile)) {
    throw new Error(`the Node benchmark (threads ${threads}) exited with ${code}:\n${stderr.trim().split('\n').slice(-8).join('\n')}`);
  }
  return JSON.parse(readFileSync(outFile, 'utf8'));
}

const fmtTree = (t: TreeMemory): string =>
  `peak ${t.peakRssMiB.toFixed(0)} RSS / ${t.peakPssMiB === null ? '?' : t.peakPssMiB.toFixed(0)} PSS over ${t.processes} processes ` +
  `(${t.baselineRssMiB.toFixed(0)} RSS before the first model), largest process ${t.maxProcessName} ${t.maxProcessHwmMiB.toFixed(0)}`;

export async function runBench(o: BenchOptions): Promise<BenchReport> {
  const started = new Date();
  const t0 = performance.now();
  const bundle = await loadBundle(o.bundleDir, { verifyHashes: false });
  const m = bundle.manifest;
  const machine = machineInfo();
  const log = o.log;
  log(`bundle ${bundle.dir}: ${m.name} (${m.identity.config.name}, ${m.identity.parameters} parameters, trained: ${m.trained})`);
  log(`machine: ${machine.cpuModel}, ${machine.cores} cores, ${machine.os}, load ${machine.loadAverageStart.join(' ')}`);
  const figures: Figure[] = [];
  const errors: ConfigError[] = [];
  const memory: MemoryFigure[] = [];
  const engines: EngineRecord[] = [];
  const tmp = mkdtempSync(join(tmpdir(), 'tinydit-bench-'));
  try {
    if (o.runtimes.includes('node')) {
      for (const threads of o.nodeThreads) {
        log(`node, ${threads} thread(s):`);
        try {
          const r = await runNodeConfig(o, threads, tmp);
          figures.push(...r.config.figures);
          errors.push(...r.config.errors);
          memory.push({
            runtime: 'node',
            requestedThreads: threads,
            label: `node ${threads}t`,
            maxRssMiB: r.memory.maxRssMiB,
            rssAfterLoadMiB: r.memory.rssAfterLoadMiB,
            text:
              `maxRSS ${r.memory.maxRssMiB.toFixed(0)} (RSS ${r.memory.rssStartMiB.toFixed(0)} before loading; after each load: ` +
              `${Object.entries(r.memory.rssAfterLoadMiB)
                .map(([k, v]) => `${k} ${v.toFixed(0)}`)
                .join(', ')})`,
          });
        } catch (e) {
          errors.push({ runtime: 'node', requestedThreads: threads, variant: null, stage: 'process', message: (e as Error).message });
          log(`  node ${threads}t FAILED: ${(e as Error).message}`);
        }
      }
    }
    const browsers = o.runtimes.filter((r) => r !== 'node');
    if (browsers.length) {
      const notReady = webDistReady();
      if (notReady) {
        for (const rt of browsers)
          errors.push({ runtime: rt, requestedThreads: 'default', variant: null, stage: 'page', message: notReady });
        log(notReady);
      } else {
        const server = await startServer({ bundleDir: bundle.dir, port: 0 });
        try {
          for (const rt of browsers) {
            log(`${rt}:`);
            const tStart = performance.now();
            let eng: Awaited<ReturnType<typeof openEngine>>;
            try {
              eng = await openEngine(rt, server.url);
            } catch (e) {
              errors.push({
                runtime: rt,
                requestedThreads: 'default',
                variant: null,
                stage: 'engine start',
                message: (e as Error).message,
              });
              log(`  ${rt} FAILED to start: ${(e as Error).message.split('\n')[0]}`);
              continue;
            }
            engines.push({
              runtime: rt,
              label: eng.label,
              version: eng.version,
              executable: eng.engine.executable,
              hardwareConcurrency: eng.hardwareConcurrency,
              crossOriginIsolated: eng.crossOriginIsolated,
              userAgent: eng.userAgent,
              startMs: performance.now() - tStart,
            });
            // sampled from here: the first sample is the engine with the page open and no model loaded
            const engineSampler = procAvailable() ? new TreeMemorySampler().start() : null;
            log(
              `  ${eng.label} ${eng.version}, hardwareConcurrency ${eng.hardwareConcurrency}, crossOriginIsolated ${eng.crossOriginIsolated}`,
            );
            try {
              const driver = new BrowserDriver(rt, eng.page, { loadOptions: (v) => loadOptionsFor(m, v), callTimeoutMs: o.callTimeoutMs });
              const plan = { ...o.plan, loadRepeats: o.browserLoadRepeats ?? o.plan.loadRepeats };
              for (const threads of o.browserThreads) {
                const r = await runPlan(driver, plan, threads, log);
                figures.push(...r.figures);
                errors.push(...r.errors);
              }
            } finally {
              const tree = engineSampler?.stop();
              await eng.close().catch(() => undefined);
              if (tree) {
                memory.push({ runtime: rt, requestedThreads: 'all', label: `${rt} (${eng.label})`, tree, text: fmtTree(tree) });
                log(`  memory: ${fmtTree(tree)}`);
              }
            }
          }
        } finally {
          await server.close();
        }
      }
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  attachRatios(figures);
  machine.loadAverageEnd = currentLoad();

  const resolved = resolveBudget(m.budget, Object.keys(m.variants), m.sampler?.defaultSteps ?? 50);
  let budget: BenchReport['budget'] = null;
  if (resolved) {
    const judged = o.judged;
    const limits = judged
      ? Object.fromEntries(Object.entries(resolved.limits).filter(([rt]) => judged.includes(rt as RuntimeName)))
      : resolved.limits;
    const judgements = judgeBudget({ ...resolved, limits }, figures, errors);
    const versions = Object.fromEntries(engines.map((e) => [e.runtime, `${e.label} ${e.version}`]));
    if (o.records) writeBudgetRecords(budgetRecords(judgements, machine, { engineVersions: versions }), o.reportDir);
    budget = {
      resolved,
      judgements: judgements.map(({ figure, nodeBaseline, ...j }) => ({
        ...j,
        figureId: figure?.id ?? null,
        nodeBaselineId: nodeBaseline?.id ?? null,
      })),
    };
  }

  const report: BenchReport = {
    format: BENCH_FORMAT,
    startedAt: started.toISOString(),
    finishedAt: new Date().toISOString(),
    durationMs: performance.now() - t0,
    command: o.command,
    bundle: {
      dir: bundle.dir,
      name: m.name,
      trained: m.trained,
      config: m.identity.config.name,
      imageSize: m.contract.imageSize,
      parameters: m.identity.parameters,
      variants: Object.fromEntries(Object.entries(m.variants).map(([k, v]) => [k, { file: v.file, bytes: v.bytes }])),
    },
    machine,
    plan: o.plan,
    engines,
    figures,
    memory,
    errors,
    budget,
    baseline: null,
  };
  if (o.baselines?.length) {
    const files = o.baselines.map((b) => resolve(b));
    const bases = files.map((file) => {
      try {
        return JSON.parse(readFileSync(file, 'utf8')) as BenchLike;
      } catch (e) {
        throw new Error(
          `--baseline ${file}: cannot be read as a bench.json (${(e as Error).message}); pass the reports/bench.json of an earlier npm run bench`,
        );
      }
    });
    report.baseline = compareWithBaseline(files, { machine, figures }, bases);
  }
  mkdirSync(dirname(o.out), { recursive: true });
  writeFileSync(o.out, JSON.stringify(report, null, 1) + '\n');
  return report;
}
