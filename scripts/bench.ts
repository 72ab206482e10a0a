/**
 * npm run bench [-- options]: the speed of a model bundle in onnxruntime-node and in each browser engine
 * (a benchmark, not a timed test). Prints the tables, writes reports/bench.json, judges the manifest's latency
 * budget when it has one (check records 'speed' in <report dir>/checks.jsonl), and compares with a baseline.
 *
 *   --bundle DIR             bundle (default: TINYDIT_BUNDLE, else fixtures/default)
 *   --runtimes LIST          node,chromium,firefox,webkit (default: all four)
 *   --node-threads LIST      default 1,2
 *   --browser-threads LIST   numbers and/or 'default' (the web app's choice: all cores); default 1,default
 *   --repeats N --warmup N --steps-per-run N   per-step measurement (default 7, 2, 10)
 *   --full-steps N           steps of the full generation (default: the manifest's sampler.defaultSteps)
 *   --breeds N|LIST          breeds generated one after another (default: all 13)
 *   --full-variants LIST     variants whose full generation is timed (default guided, plus the budget's variant)
 *   --variants LIST          variants whose per-step latency is timed (default: all)
 *   --load-repeats N         session creations per variant (default 3 in Node, 1 in browsers)
 *   --quick                  repeats 3, warmup 1, 3 breeds, 1 load: a smoke run of the benchmark itself
 *   --budget-only            only what the manifest's budget needs (its variant's full generation + Node baseline);
 *                            with --runtimes, only those of the budgeted runtimes (Node is always measured)
 *   --out FILE               default reports/bench.json
 *   --baseline FILE          an earlier bench.json (repeat for several): flag slowdowns beyond the run-to-run spread
 *   --fail-on-slowdown       exit 1 when the baseline comparison flags a slowdown
 *   --report-dir DIR         where speed check records go (default: TINYDIT_REPORT_DIR, else reports/latest)
 *   --no-records             do not write check records
 *   --markdown               also print the tables as markdown
 * Exit: 0 when every configuration was measured and the budget (if any) is met; 1 otherwise; 2 usage error.
 *
 * npm run bench -- overhead [--out reports/overhead.json] [gate options...]: runs the gate (scripts/gate.ts,
 * unchanged, with the given options) with inference probes and reports the share of its wall time spent outside
 * session.run (harness/bench/overhead.ts). `overhead --reanalyse reports/overhead-intervals.json` recomputes the
 * figures of the last probed run without running the gate again.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { loadBundle } from '../harness/model/bundle.js';
import { bundleDir, REPO_ROOT } from '../harness/core/config.js';
import { resolveBudget } from '../harness/bench/budget.js';
import { machineLine } from '../harness/bench/machine.js';
import { analyseOverhead, measureOverhead, overheadText, type OverheadIntervals, type OverheadReport } from '../harness/bench/overhead.js';
import type { RuntimeName } from '../harness/bench/plan.js';
import { defaultPlan, runBench, type BenchOptions } from '../harness/bench/run.js';
import { markdownTables, textTables } from '../harness/bench/table.js';
import { BENCH_RUNTIMES } from '../harness/runtimes/registry.js';

const ALL: readonly RuntimeName[] = BENCH_RUNTIMES;
/** One session creation per variant in browsers: each starts a worker that compiles onnxruntime-web's wasm (seconds). */
const BROWSER_LOAD_REPEATS = 1;

class Usage extends Error {}

/** --baseline may repeat: its values are collected in `baselines`. */
function parseArgs(argv: string[]): { args: Map<string, string | true>; baselines: string[] } {
  const out = new Map<string, string | true>();
  const baselines: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) throw new Usage(`unexpected argument '${a}'`);
    const eq = a.indexOf('=');
    let key: string;
    let value: string | true;
    if (eq > 0) {
      key = a.slice(2, eq);
      value = a.slice(eq + 1);
    } else {
      key = a.slice(2);
      const next = argv[i + 1];
      if (next !== undefined && !next.startsWith('--')) {
        value = next;
        i++;
      } else value = true;
    }
    if (key === 'baseline') {
      if (value === true) throw new Usage('--baseline needs a bench.json file');
      baselines.push(value);
    }
    out.set(key, value);
  }
  return { args: out, baselines };
}

const FLAGS = new Set(['quick', 'budget-only', 'fail-on-slowdown', 'no-records', 'markdown']);
const VALUED = new Set([
  'bundle',
  'runtimes',
  'node-threads',
  'browser-threads',
  'repeats',
  'warmup',
  'steps-per-run',
  'full-steps',
  'breeds',
  'full-variants',
  'variants',
  'load-repeats',
  'out',
  'baseline',
  'report-dir',
  'call-timeout-s',
]);

function posInt(v: string | true | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v === true || !Number.isInteger(n) || n < 1) throw new Usage(`--${name} needs a positive integer, got '${String(v)}'`);
  return n;
}
function list(v: string | true | undefined, name: string): string[] | undefined {
  if (v === undefined) return undefined;
  if (v === true) throw new Usage(`--${name} needs a comma-separated list`);
  return v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

async function overhead(argv: string[]): Promise<number> {
  const i = argv.indexOf('--out');
  const out = resolve(i >= 0 && argv[i + 1] ? argv[i + 1]! : resolve(REPO_ROOT, 'reports/overhead.json'));
  const rest = i >= 0 ? [...argv.slice(0, i), ...argv.slice(i + 2)] : argv;
  const k = rest.indexOf('--reanalyse');
  let r: OverheadReport;
  if (k >= 0) {
    // recompute from a probed run's overhead-intervals.json (its run folder must still be in reports/)
    const file = rest[k + 1];
    if (!file) throw new Usage('--reanalyse needs the overhead-intervals.json of a probed gate run');
    r = analyseOverhead(JSON.parse(readFileSync(resolve(file), 'utf8')) as OverheadIntervals);
    writeFileSync(out, JSON.stringify(r, null, 1) + '\n');
  } else r = await measureOverhead({ gateArgs: rest, out, log: (l) => console.log(l) });
  console.log('');
  console.log(overheadText(r));
  console.log(`wrote ${out}`);
  return r.gate.exitCode === 0 || r.gate.exitCode === 1 ? 0 : 1;
}

async function main(): Promise<number> {
  if (process.argv[2] === 'overhead') return overhead(process.argv.slice(3));
  const { args, baselines } = parseArgs(process.argv.slice(2));
  for (const k of args.keys()) if (!FLAGS.has(k) && !VALUED.has(k)) throw new Usage(`unknown option --${k}`);
  for (const k of FLAGS) if (args.has(k) && args.get(k) !== true) throw new Usage(`--${k} takes no value`);
  const dir = resolve(String(args.get('bundle') ?? bundleDir()));
  const bundle = await loadBundle(dir, { verifyHashes: false });
  const m = bundle.manifest;

  const runtimes = (list(args.get('runtimes'), 'runtimes') ?? ALL) as RuntimeName[];
  const badRt = runtimes.filter((r) => !ALL.includes(r));
  if (badRt.length) throw new Usage(`--runtimes: unknown ${badRt.join(', ')} (known: ${ALL.join(', ')})`);
  const nodeThreads = (list(args.get('node-threads'), 'node-threads') ?? ['1', '2']).map((s) => posInt(s, 'node-threads')!);
  const browserThreads = (list(args.get('browser-threads'), 'browser-threads') ?? ['1', 'default']).map((s) =>
    s === 'default' ? null : posInt(s, 'browser-threads')!,
  );
  const quick = args.has('quick');
  let plan = defaultPlan(m, quick ? { repeats: 3, warmup: 1, loadRepeats: 1, fullBreeds: [0, 3, 10] } : {});
  const breedsArg = args.get('breeds');
  if (breedsArg !== undefined) {
    const l = list(breedsArg, 'breeds')!;
    const nums = l.map(Number);
    if (nums.some((n) => !Number.isInteger(n) || n < 0))
      throw new Usage(`--breeds needs a count or a list of breed indices, got '${String(breedsArg)}'`);
    plan.fullBreeds = l.length === 1 ? Array.from({ length: Math.min(nums[0]!, m.breeds.length) }, (_, i) => i) : nums;
    if (plan.fullBreeds.some((b) => b >= m.breeds.length)) throw new Usage(`--breeds: the bundle has ${m.breeds.length} breeds`);
  }
  plan = {
    ...plan,
    repeats: posInt(args.get('repeats'), 'repeats') ?? plan.repeats,
    warmup: args.get('warmup') === '0' ? 0 : (posInt(args.get('warmup'), 'warmup') ?? plan.warmup),
    stepsPerRun: posInt(args.get('steps-per-run'), 'steps-per-run') ?? plan.stepsPerRun,
    fullSteps: posInt(args.get('full-steps'), 'full-steps') ?? plan.fullSteps,
    loadRepeats: posInt(args.get('load-repeats'), 'load-repeats') ?? plan.loadRepeats,
  };
  const browserLoadRepeats = posInt(args.get('load-repeats'), 'load-repeats') ?? (quick ? 1 : BROWSER_LOAD_REPEATS);
  const fullVariants = list(args.get('full-variants'), 'full-variants');
  if (fullVariants) plan.fullVariants = fullVariants;
  const stepVariants = list(args.get('variants'), 'variants');
  if (stepVariants) plan.stepCases = plan.stepCases.filter((c) => stepVariants.includes(c.variant));
  for (const v of [...plan.fullVariants, ...(stepVariants ?? [])])
    if (!(v in m.variants)) throw new Usage(`variant '${v}' is not in the bundle (has: ${Object.keys(m.variants).join(', ')})`);

  const budget = resolveBudget(m.budget, Object.keys(m.variants), m.sampler?.defaultSteps ?? 50);
  let rts = runtimes;
  let nThreads = nodeThreads;
  let bThreads = browserThreads;
  if (args.has('budget-only')) {
    if (!budget) throw new Usage(`--budget-only: ${dir}/manifest.json has no budget (see docs/performance.md)`);
    plan = { ...plan, stepCases: [], fullVariants: [budget.variant], fullSteps: budget.steps, loadRepeats: 1 };
    // the budgeted runtimes (those of --runtimes, when given), and always Node: the baseline of every record
    const given = args.has('runtimes');
    rts = ALL.filter((r) => r === 'node' || (r in budget.limits && (!given || runtimes.includes(r))));
    nThreads = [...new Set([1, ...(budget.limits.node !== undefined ? [budget.threads ?? 1] : [])])];
    bThreads = [budget.threads];
  } else if (budget) {
    // the budget's figure must be measured: its variant at its steps
    if (!plan.fullVariants.includes(budget.variant)) plan.fullVariants.push(budget.variant);
    if (plan.fullSteps !== budget.steps)
      console.warn(`note: full generation at ${plan.fullSteps} steps, the budget is stated at ${budget.steps}: its checks will be errors`);
  }

  const out = resolve(String(args.get('out') ?? resolve(REPO_ROOT, 'reports/bench.json')));
  const opts: BenchOptions = {
    bundleDir: dir,
    runtimes: rts,
    nodeThreads: nThreads,
    browserThreads: bThreads,
    browserLoadRepeats,
    plan,
    out,
    ...(args.has('report-dir') ? { reportDir: resolve(String(args.get('report-dir'))) } : {}),
    records: !args.has('no-records'),
    // --runtimes narrows what the budget judges too (the gate passes the runtimes of its scope)
    ...(args.has('runtimes') ? { judged: runtimes } : {}),
    ...(baselines.length ? { baselines } : {}),
    callTimeoutMs: (posInt(args.get('call-timeout-s'), 'call-timeout-s') ?? 600) * 1000,
    command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(),
    log: (l) => console.log(l),
  };
  const report = await runBench(opts);

  console.log('');
  console.log(`machine: ${machineLine(report.machine)}`);
  console.log(`bundle: ${report.bundle.name} (${report.bundle.config}, ${report.bundle.parameters} parameters)`);
  for (const e of report.engines)
    console.log(
      `engine ${e.runtime}: ${e.label} ${e.version} (hardwareConcurrency ${e.hardwareConcurrency}, crossOriginIsolated ${e.crossOriginIsolated})`,
    );
  console.log('');
  console.log(textTables(report));
  if (args.has('markdown')) console.log(markdownTables(report));
  let exit = 0;
  if (report.errors.length) {
    exit = 1;
    console.log(`NOT MEASURED (${report.errors.length}):`);
    for (const e of report.errors)
      console.log(`  ${e.runtime} threads=${e.requestedThreads} ${e.variant ?? ''} at ${e.stage}: ${e.message}`);
  }
  if (report.budget) {
    console.log(`budget (${report.budget.resolved.variant}, ${report.budget.resolved.steps} steps):`);
    for (const j of report.budget.judgements) {
      console.log(`  ${j.status.toUpperCase()} ${j.id}: ${j.message}`);
      if (j.status !== 'pass') exit = 1;
    }
  }
  if (report.baseline) {
    const b = report.baseline;
    console.log(`baseline ${b.files.join(', ')}: ${b.compared.length} figures compared${b.machineNote ? ` (${b.machineNote})` : ''}`);
    if (b.busyNote) console.log(`  NOTE: ${b.busyNote}`);
    for (const c of b.compared.filter((x) => x.slowdown || x.faster)) {
      console.log(
        `  ${c.slowdown ? 'SLOWER' : 'faster'} ${c.id}: ${c.baselineMedian.toFixed(2)} -> ${c.currentMedian.toFixed(2)} ms (x${c.ratio.toFixed(2)}, spread ${c.spread.toFixed(2)} ms, ${c.spreadBasis})`,
      );
    }
    if (b.slowdowns.length === 0) console.log('  no slowdown beyond the run-to-run spread');
    if (b.missing.length) console.log(`  not measured this time: ${b.missing.join(', ')}`);
    if (b.slowdowns.length && args.has('fail-on-slowdown')) exit = 1;
  }
  console.log(`wrote ${out} (${(report.durationMs / 1000).toFixed(0)} s)`);
  return exit;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    if (e instanceof Usage) {
      console.error(`bench: ${e.message}\n(see the options at the top of scripts/bench.ts)`);
      process.exit(2);
    }
    console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
    process.exit(1);
  },
);
