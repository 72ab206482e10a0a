/**
 * The benchmark's own correctness (harness/bench): the statistics it reports, the manifest budget field, the
 * speed gate's judgement, the baseline comparison and the process-tree memory sampler. The speed gate is shown
 * to FAIL on a model made slower on purpose (a busy wait in every model call), while the real model passes
 * the same budget: case `speed:runtime=node,...,mutant=slow-model`.
 */
import { caseId } from '../../harness/core/case-id.js';
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runnerOf, unionMs } from '../../harness/bench/overhead.js';
import { compareWithBaseline, MIN_SLOWDOWN_REL } from '../../harness/bench/baseline.js';
import { budgetRecords, judgeBudget, resolveBudget, type ResolvedBudget } from '../../harness/bench/budget.js';
import { machineInfo } from '../../harness/bench/machine.js';
import { NodeDriver } from '../../harness/bench/node-driver.js';
import { runPlan, type BenchPlan, type Figure } from '../../harness/bench/plan.js';
import { describeRunMemory, procAvailable, RunMemorySampler, TreeMemorySampler } from '../../harness/bench/procmem.js';
import { summarize } from '../../harness/bench/stats.js';
import { BundleError, loadBundle } from '../../harness/model/bundle.js';
import { REPO_ROOT, bundleDir } from '../../harness/core/config.js';
import type { Verdict } from '../../harness/gate/types.js';
import { recordCheck } from '../../harness/core/record-check.js';

const SOURCE = bundleDir();
const clones: string[] = [];
afterAll(() => {
  for (const d of clones) rmSync(d, { recursive: true, force: true });
});

/** A bundle made of symlinks to SOURCE's files, with its own manifest.json edited by `edit`. */
function cloneWithManifest(edit: (m: Record<string, unknown>) => void): string {
  const dst = mkdtempSync(join(tmpdir(), 'tinydit-speed-bundle-'));
  clones.push(dst);
  const walk = (rel: string): void => {
    for (const e of readdirSync(join(SOURCE, rel), { withFileTypes: true })) {
      const r = join(rel, e.name);
      if (e.isDirectory()) {
        mkdirSync(join(dst, r), { recursive: true });
        walk(r);
      } else if (r !== 'manifest.json') symlinkSync(join(SOURCE, r), join(dst, r));
    }
  };
  walk('');
  const m = JSON.parse(readFileSync(join(SOURCE, 'manifest.json'), 'utf8')) as Record<string, unknown>;
  edit(m);
  writeFileSync(join(dst, 'manifest.json'), JSON.stringify(m));
  return dst;
}

async function loadError(dir: string): Promise<string> {
  try {
    await loadBundle(dir, { verifyHashes: false });
  } catch (e) {
    if (e instanceof BundleError) return e.message;
    throw e;
  }
  return '';
}

function fig(runtime: Figure['runtime'], variant: string, samples: number[], over: Partial<Figure> = {}): Figure {
  return {
    id: caseId('generation', { runtime, threads: 1, variant, steps: 50 }),
    kind: 'generation',
    runtime,
    threads: 1,
    requestedThreads: runtime === 'node' ? 1 : 'default',
    variant,
    steps: 50,
    unit: 'ms',
    what: 'test',
    samples,
    summary: summarize(samples),
    ...over,
  };
}

describe('benchmark statistics', () => {
  it('summarize: median, quartiles (linear interpolation), IQR, MAD', () => {
    const s = summarize([5, 1, 4, 2, 3]);
    expect(s).toMatchObject({ n: 5, median: 3, q1: 2, q3: 4, iqr: 2, mad: 1, min: 1, max: 5, mean: 3 });
    expect(summarize([1, 2, 3, 4]).median).toBe(2.5);
  });
  it('summarize refuses no samples and non-finite samples, naming them', () => {
    expect(() => summarize([], 'step chromium')).toThrow(/step chromium: no samples/);
    expect(() => summarize([1, NaN], 'load')).toThrow(/load: sample 1 is NaN/);
  });
});

describe('manifest budget field (harness/model/bundle.ts)', () => {
  it('a bundle with a well-formed budget loads, and one without still loads', async () => {
    const ok = cloneWithManifest((m) => {
      m.budget = { fullGenerationMs: { chromium: 2000, node: 500 }, steps: 50, variant: 'quantized', reason: 'target' };
    });
    const b = await loadBundle(ok, { verifyHashes: false });
    expect(b.manifest.budget?.fullGenerationMs.chromium).toBe(2000);
    expect((await loadBundle(SOURCE, { verifyHashes: false })).manifest.budget).toBeUndefined();
  });
  it.each([
    ['unknown runtime', { fullGenerationMs: { safari: 2000 } }, /budget\.fullGenerationMs\.safari is not a runtime/],
    ['negative limit', { fullGenerationMs: { chromium: -1 } }, /budget\.fullGenerationMs\.chromium must be a positive finite number/],
    ['no limits', { fullGenerationMs: {} }, /budget\.fullGenerationMs must be an object with at least 1 entry/],
    ['unknown variant', { fullGenerationMs: { node: 100 }, variant: 'fp16' }, /budget\.variant names 'fp16', which is not a variant/],
    ['fractional steps', { fullGenerationMs: { node: 100 }, steps: 12.5 }, /budget\.steps must be a positive integer/],
  ])('a budget with %s is refused, naming the field', async (_name, budget, cause) => {
    const dir = cloneWithManifest((m) => {
      m.budget = budget;
    });
    expect(await loadError(dir)).toMatch(cause);
  });
});

describe('speed gate judgement (harness/bench/budget.ts)', () => {
  const b: ResolvedBudget = {
    limits: { chromium: 2000, firefox: 2000, webkit: 2000 },
    steps: 50,
    variant: 'quantized',
    threads: null,
    reason: null,
  };
  const figures = [
    fig('node', 'quantized', [300, 310, 320]),
    fig('chromium', 'quantized', [1500, 1600, 1700], { requestedThreads: 'default', threads: 2 }),
    fig('firefox', 'quantized', [2500, 2600, 2700], { requestedThreads: 'default', threads: 2 }),
  ];
  const j = judgeBudget(b, figures, [
    { runtime: 'webkit', requestedThreads: 'default', variant: 'quantized', stage: 'load', message: 'out of memory' },
  ]);
  it('within budget passes, over budget fails with the figure, the budget and the Node baseline', () => {
    const c = j.find((x) => x.runtime === 'chromium')!;
    expect(c.status).toBe('pass');
    const f = j.find((x) => x.runtime === 'firefox')!;
    expect(f.status).toBe('fail');
    expect(f.message).toMatch(/2600 ms .*1\.30x the budget of 2000 ms .*budget\.fullGenerationMs\.firefox.*Node \(1 thread\) 310 ms/);
  });
  it('a budgeted runtime that was not measured is an error naming why, never a pass', () => {
    const w = j.find((x) => x.runtime === 'webkit')!;
    expect(w.status).toBe('error');
    expect(w.message).toMatch(/no full-generation figure for webkit.*quantized at load: out of memory/);
  });
  it('records carry the machine and the Node baseline with every figure', () => {
    const recs = budgetRecords(j, machineInfo());
    const f = recs.find((r) => r.runtime === 'firefox')!;
    expect(f).toMatchObject({ check: 'speed', status: 'fail', threshold: { fullGenerationMs: 2000 } });
    expect(f.metrics).toMatchObject({
      fullGenerationMsMedian: 2600,
      nodeBaselineMsMedian: 310,
      cores: expect.any(Number),
      cpuModel: expect.any(String),
    });
  });
  it('the default variant is the one the web app ships (quantized) when the bundle has it', () => {
    expect(resolveBudget({ fullGenerationMs: { node: 1 } }, ['guided', 'raw', 'quantized'], 50)?.variant).toBe('quantized');
    expect(resolveBudget({ fullGenerationMs: { node: 1 } }, ['guided', 'raw'], 50)?.variant).toBe('guided');
  });
});

describe('baseline comparison (harness/bench/baseline.ts)', () => {
  const m = { ...machineInfo(), loadAverageStart: [0, 0, 0] };
  const base = [fig('node', 'guided', [100, 101, 102, 103, 104])];
  const cmp = (cur: Figure[], ...bases: Figure[][]) =>
    compareWithBaseline(
      bases.map((_, i) => `b${i}.json`),
      { machine: m, figures: cur },
      bases.map((figures) => ({ machine: m, figures })),
    );
  it('the same figures are no slowdown', () => {
    expect(cmp(base, base).slowdowns).toEqual([]);
  });
  it('one baseline: a median beyond the default band and the IQRs is a slowdown; inside them it is not', () => {
    expect(cmp([fig('node', 'guided', [150, 151, 152, 153, 154])], base).slowdowns).toEqual([base[0]!.id]);
    expect(cmp([fig('node', 'guided', [80, 95, 104, 115, 130])], base).slowdowns).toEqual([]);
    const inBand = 102 * (1 + MIN_SLOWDOWN_REL / 2);
    expect(cmp([fig('node', 'guided', [inBand, inBand])], [fig('node', 'guided', [102, 102])]).slowdowns).toEqual([]);
  });
  it('several baselines: their own range is the run-to-run spread', () => {
    const b1 = [fig('node', 'guided', [100, 100])];
    const b2 = [fig('node', 'guided', [101, 101])];
    // 104 is inside the default band of one baseline, but 3x beyond the 1 ms range of two baselines
    const r = cmp([fig('node', 'guided', [104, 104])], b1, b2);
    expect(r.slowdowns).toEqual([b1[0]!.id]);
    expect(r.compared[0]).toMatchObject({ spreadBasis: 'baseline-range', spread: 1 });
  });
  it('another machine is compared but said to be indicative only; a busy machine is marked', () => {
    const r = compareWithBaseline(['b.json'], { machine: { ...m, loadAverageStart: [11, 9, 8] }, figures: base }, [
      { machine: { ...m, cpuModel: 'other' }, figures: base },
    ]);
    expect(r.machineNote).toMatch(/indicative only/);
    expect(r.busyNote).toMatch(/load 11 on \d+ cores/);
  });
});

describe.runIf(procAvailable())('process-tree memory (harness/bench/procmem.ts)', () => {
  it('sees a 200 MiB child process', async () => {
    const MIB = 200;
    const child = spawn(
      process.execPath,
      ['-e', `const b = Buffer.alloc(${MIB} * 2 ** 20, 1); console.log('ready'); setTimeout(() => b.length, 60000)`],
      { stdio: ['ignore', 'pipe', 'ignore'] },
    );
    try {
      // sample once the child holds its memory (start-up takes seconds on a busy machine)
      await new Promise<void>((ok, fail) => {
        child.stdout.on('data', (d: Buffer) => {
          if (d.toString().includes('ready')) ok();
        });
        child.once('exit', (c) => fail(new Error(`the allocating child exited (${c}) before it was ready`)));
      });
      const sampler = new TreeMemorySampler(process.pid, /^Xvfb$/, 50).start();
      await new Promise((ok) => setTimeout(ok, 200));
      const t = sampler.stop();
      expect(t.peakRssMiB).toBeGreaterThan(MIB);
      expect(t.maxProcessHwmMiB).toBeGreaterThan(MIB);
    } finally {
      child.kill();
    }
  });
});

describe.runIf(procAvailable())('peak memory per runtime of a gate run (harness/bench/procmem.ts RunMemorySampler)', () => {
  it('gives each process the runtime of its executable or of its parent, never of an argument', async () => {
    // a process tree shaped like a gate run: a "firefox" (a shell under that name) with a child holding 100 MiB,
    // a Node process running a script under a vitest folder, and a process whose ARGUMENT names chromium
    const dir = mkdtempSync(join(tmpdir(), 'runmem-'));
    const firefox = join(dir, 'firefox');
    symlinkSync('/bin/sh', firefox);
    mkdirSync(join(dir, 'vitest'));
    const script = join(dir, 'vitest', 'forks.js');
    writeFileSync(script, 'setTimeout(() => {}, 60000)');
    const alloc = `const b = Buffer.alloc(100 * 2 ** 20, 1); console.log('ready'); setTimeout(() => b.length, 60000)`;
    const kids = [
      // (not the shell's last command: a shell may exec that one in its own place)
      spawn(firefox, ['-c', `"${process.execPath}" -e "${alloc}"; true`], { stdio: ['ignore', 'pipe', 'ignore'], detached: true }),
      spawn(process.execPath, [script], { stdio: 'ignore' }),
      spawn('/bin/sh', ['-c', 'sleep 60', 'sh', '--project=chromium'], { stdio: 'ignore' }),
    ];
    try {
      await new Promise<void>((ok, fail) => {
        kids[0]!.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && ok());
        kids[0]!.once('exit', (c) => fail(new Error(`the allocating child exited (${c}) before it was ready`)));
      });
      const sampler = new RunMemorySampler(process.pid, 50).start();
      await new Promise((ok) => setTimeout(ok, 200));
      const m = sampler.stop();
      expect(Object.keys(m.runtimes).sort()).toEqual(['firefox', 'node']);
      expect(m.runtimes['firefox']!.peakRssMiB).toBeGreaterThan(100);
      expect(m.runtimes['node']!.processes).toBe(1);
      expect(describeRunMemory(m)).toMatch(/^peak RSS per runtime: firefox \d+ MiB \(largest process \d+\), node \d+ MiB/);
    } finally {
      for (const k of kids) {
        try {
          process.kill(k === kids[0] ? -k.pid! : k.pid!); // the "firefox" with its child: its process group
        } catch {
          // already gone
        }
      }
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// The real model passes a budget this many times its own measured generation time; the slowed model must not.
const BUDGET_HEADROOM = 3;
// The slowed model waits this many times the real model's per-step time in each call: ~10x slower overall.
const SLOWDOWN_FACTOR = 10;

describe('speed gate self-test on the embedded model (Node, 1 thread)', () => {
  it('speed:runtime=node,variant=guided,mutant=slow-model', async () => {
    const bundle = await loadBundle(SOURCE, { verifyHashes: false });
    const m = bundle.manifest;
    const plan: BenchPlan = {
      stepCases: [],
      stepsPerRun: 1,
      warmup: 0,
      repeats: 0,
      fullVariants: ['guided'],
      fullSteps: 10,
      fullBreeds: [0, 3],
      cfgScale: m.guidance.scale,
      loadRepeats: 1,
      seed: 7,
    };
    const fast = await runPlan(new NodeDriver(bundle.dir, m, {}), plan, 1);
    expect(fast.errors).toEqual([]);
    const fastFig = fast.figures.find((f) => f.kind === 'generation')!;
    const perStep = fastFig.summary.median / plan.fullSteps;
    const slow = await runPlan(new NodeDriver(bundle.dir, m, { slowdownMsPerCall: SLOWDOWN_FACTOR * perStep }), plan, 1);
    const budget: ResolvedBudget = {
      limits: { node: BUDGET_HEADROOM * fastFig.summary.median },
      steps: plan.fullSteps,
      variant: 'guided',
      threads: 1,
      reason: null,
    };
    const real = judgeBudget(budget, fast.figures)[0]!;
    const mutant = judgeBudget(budget, slow.figures)[0]!;
    for (const r of budgetRecords([mutant], machineInfo(), { selfTest: 'slow-model' })) recordCheck(r);
    expect(real.status, real.message).toBe('pass');
    expect(mutant.status, mutant.message).toBe('fail');
    expect(mutant.message).toMatch(/the budget of/);
  });
});

// ---------------------------------------------------------------------------------------------------------
// The gate runs the speed budget: `npm run gate` on a bundle whose manifest states one measures it (bench
// --budget-only into the run folder) and the verdict shows it. A budget of a fiftieth of the measured time
// must make the same gate run NOT ACCEPTED, through the speed record; a generous one must not. (A fifth was not
// enough: beside the other harness tests, two back-to-back runs measured the same 5-step generations 67 ms and
// under 13 ms.) The gate
// runs with one tiny Node suite (harness/gate/fixtures/metric.fixture.ts) to stay cheap: a narrowed run, whose best
// outcome is passed-narrowed (exit 4), and whose speed failure makes it not-accepted (exit 1).

/** The tight budget is the generous run's measured time divided by this. */
const TIGHT_FRACTION = 50;
/** Budget steps: short generations keep the two gate runs cheap (13 breeds x 5 steps in Node). */
const GATE_BUDGET_STEPS = 5;

function gateRun(bundle: string): Promise<{ code: number | null; verdict: Verdict | null; out: string }> {
  const reports = mkdtempSync(join(tmpdir(), 'tinydit-speed-gate-'));
  clones.push(reports);
  const fixture = 'harness/gate/fixtures/metric.fixture.ts';
  const args = [
    '--import',
    'tsx',
    join(REPO_ROOT, 'scripts/gate.ts'),
    '--bundle',
    bundle,
    '--node-only',
    '--node-suites',
    fixture,
    '--reports',
    reports,
    '--run-id',
    'speed',
    '--no-history',
    '--no-screenshot',
  ];
  return new Promise((ok) => {
    execFile(
      process.execPath,
      args,
      { cwd: REPO_ROOT, env: { ...process.env, TINYDIT_GATE_FIXTURE: fixture }, timeout: 240_000 },
      (err, stdout, stderr) => {
        let verdict: Verdict | null = null;
        try {
          verdict = JSON.parse(readFileSync(join(reports, 'speed', 'verdict.json'), 'utf8')) as Verdict;
        } catch {
          /* none: asserted below */
        }
        ok({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, verdict, out: `${stdout}\n${stderr}` });
      },
    );
  });
}

describe('the gate judges a manifest budget (harness/gate/gate.ts step 4)', () => {
  it('speed:gate-run,mutant=budget-below-the-measured-time', async () => {
    const generous = cloneWithManifest((m) => {
      m.budget = { fullGenerationMs: { node: 600_000 }, steps: GATE_BUDGET_STEPS, variant: 'quantized', threads: 1 };
    });
    const g = await gateRun(generous);
    const rec = g.verdict?.checks.find((c) => c.check === 'speed' && c.runtime === 'node');
    expect(rec, `no speed check in the verdict of a gate run with a budget: ${g.out.slice(-2000)}`).toBeTruthy();
    expect(g.code, g.out.slice(-2000)).toBe(4);
    expect(g.verdict?.outcome).toBe('passed-narrowed');
    expect(rec!.status).toBe('pass');
    const measured = Number(rec!.metrics.fullGenerationMsMedian);
    expect(measured).toBeGreaterThan(0);
    // the same run with a budget of a fiftieth of what was just measured
    const tight = cloneWithManifest((m) => {
      m.budget = {
        fullGenerationMs: { node: Math.max(1, Math.floor(measured / TIGHT_FRACTION)) },
        steps: GATE_BUDGET_STEPS,
        variant: 'quantized',
        threads: 1,
      };
    });
    const t = await gateRun(tight);
    const tRec = t.verdict?.checks.find((c) => c.check === 'speed' && c.runtime === 'node');
    const caught =
      t.code === 1 &&
      t.verdict?.accepted === false &&
      tRec?.status === 'fail' &&
      t.verdict.reasons.some((r) => r.code === 'checks-failed' && r.message.includes('speed:'));
    recordCheck({
      id: caseId('speed-mutant', {
        runtime: 'node',
        variant: 'quantized',
        steps: GATE_BUDGET_STEPS,
        mutant: 'budget-below-the-measured-time',
      }),
      check: 'speed-mutant',
      runtime: 'node',
      status: caught ? 'pass' : 'fail',
      metrics: { measuredMs: measured, budgetMs: Math.max(1, Math.floor(measured / TIGHT_FRACTION)), exitCode: t.code },
      message: caught
        ? `rejected as expected: ${tRec?.message}`
        : `a gate run with a budget of a fiftieth of the measured time was not rejected through its speed record: exit ${t.code}, reasons ${t.verdict?.reasons.map((r) => r.code).join(',')}`,
    });
    expect(caught, `exit ${t.code}; ${JSON.stringify(t.verdict?.reasons)}; ${t.out.slice(-1500)}`).toBe(true);
  }, 500_000);
});

describe('overhead: the runners run at once, so each probed process is counted for its own runner', () => {
  it('runnerOf classifies vitest, Playwright (runner, workers, static server) and the gate by script path', () => {
    expect(runnerOf(['/r/node_modules/vitest/dist/workers/forks.js'])).toBe('vitest');
    expect(runnerOf(['/r/node_modules/vitest/vitest.mjs', 'run'])).toBe('vitest');
    expect(runnerOf(['/r/node_modules/playwright/lib/worker/workerProcessEntry.js'])).toBe('playwright');
    expect(runnerOf(['/r/node_modules/@playwright/test/cli.js', 'test'])).toBe('playwright');
    expect(runnerOf(['/r/harness/runtimes/server.ts', '--port', '1234'])).toBe('playwright');
    expect(runnerOf(['/r/scripts/gate.ts', '--no-history'])).toBe('gate');
  });
  it('unionMs counts an instant once however many processes ran a model in it', () => {
    expect(
      unionMs([
        [0, 10],
        [5, 10],
        [30, 5],
      ]),
    ).toBe(20);
  });
});
