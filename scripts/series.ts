/**
 * Reliability series: the full gate on the good model N times in a row, each run on a fresh clone of this
 * repository (git clone of HEAD, `npm ci`, the page build), optionally with a concurrent CPU load (a process
 * keeping one core busy for the whole series), as CI and a developer's laptop run it. Counts the outcomes apart:
 * accepted, rejected (a false reject: the good model blamed), inconclusive (the harness or the machine could not
 * judge, with its causes), and writes reports/series/series.{json,md}.
 *
 *   npx tsx scripts/series.ts --runs 10 --load 1             (the nightly's reliability step)
 *   npx tsx scripts/series.ts --runs 2 --load 0 --out reports/series-quick
 *
 * Options: --runs N (default 10), --load K (busy processes, default 1), --bundle <dir inside the repo> (default
 * fixtures/default), --out <dir> (default reports/series), --keep (keep the clones). Exit 0 when no run rejected
 * the good model and every run finished; 1 when any run rejected it; 5 when some were only inconclusive.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { REPO_ROOT } from '../harness/core/config.js';
import type { Verdict } from '../harness/gate/types.js';

interface Options {
  runs: number;
  load: number;
  bundle: string;
  out: string;
  keep: boolean;
}

function parse(argv: string[]): Options {
  const o: Options = { runs: 10, load: 1, bundle: 'fixtures/default', out: join(REPO_ROOT, 'reports/series'), keep: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const val = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--runs') o.runs = Number(val());
    else if (a === '--load') o.load = Number(val());
    else if (a === '--bundle') o.bundle = val();
    else if (a === '--out') o.out = resolve(val());
    else if (a === '--keep') o.keep = true;
    else throw new Error(`unknown option ${a} (see the header of scripts/series.ts)`);
  }
  if (!Number.isInteger(o.runs) || o.runs < 1) throw new Error('--runs needs a positive integer');
  if (!Number.isInteger(o.load) || o.load < 0) throw new Error('--load needs a non-negative integer');
  return o;
}

function run(cmd: string, args: string[], cwd: string, log: string): Promise<{ code: number | null; ms: number }> {
  const t0 = Date.now();
  return new Promise((ok) => {
    const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CI: '1' } });
    let text = '';
    child.stdout.on('data', (b: Buffer) => {
      text += b.toString();
    });
    child.stderr.on('data', (b: Buffer) => {
      text += b.toString();
    });
    child.on('close', (code) => {
      writeFileSync(log, text);
      ok({ code, ms: Date.now() - t0 });
    });
  });
}

interface SeriesRun {
  run: number;
  outcome: string;
  exitCode: number | null;
  setupS: number;
  gateS: number;
  reasons: string[];
  failed: string[];
  runDir: string | null;
  log: string;
}

async function main(): Promise<number> {
  const o = parse(process.argv.slice(2));
  mkdirSync(o.out, { recursive: true });
  const head = spawnSync('git', ['rev-parse', 'HEAD'], { cwd: REPO_ROOT, encoding: 'utf8' }).stdout.trim();
  const dirty = spawnSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: REPO_ROOT, encoding: 'utf8' }).stdout.trim();
  if (dirty)
    process.stderr.write(`[series] note: the working tree has uncommitted changes; the clones test HEAD ${head.slice(0, 8)} only\n`);
  // the concurrent load: K processes spinning for the whole series
  const load: ChildProcess[] = [];
  for (let k = 0; k < o.load; k++) load.push(spawn(process.execPath, ['-e', 'for(;;){}'], { stdio: 'ignore' }));
  const stopLoad = (): void => {
    for (const p of load) p.kill('SIGKILL');
  };
  process.on('exit', stopLoad);
  const runs: SeriesRun[] = [];
  const started = new Date();
  /** series.json and series.md, rewritten after every run so a series cut short still reads. */
  const write = (final: boolean) => {
    const count = (s: string): number => runs.filter((r) => r.outcome === s).length;
    const summary = {
      head,
      started: started.toISOString(),
      finished: final ? new Date().toISOString() : null,
      planned: o.runs,
      load: o.load,
      runs: runs.length,
      accepted: count('accepted'),
      rejected: count('rejected'),
      inconclusive: count('inconclusive'),
      cpus: cpus().length,
      series: runs,
    };
    writeFileSync(join(o.out, 'series.json'), JSON.stringify(summary, null, 2) + '\n');
    const md = [
      `# Reliability series: the good model, ${runs.length} full gate runs on fresh clones of ${head.slice(0, 8)}, ${o.load} busy process(es)`,
      '',
      `${summary.accepted} accepted, ${summary.rejected} rejected, ${summary.inconclusive} inconclusive of ${runs.length} run(s)${final ? '' : ` so far (${o.runs} planned; the series is still running or was cut short)`} (${summary.started} to ${summary.finished ?? 'now'}, ${summary.cpus} CPUs)`,
      '',
      '| run | outcome | exit | gate s | setup s | causes |',
      '|---|---|---|---|---|---|',
      ...runs.map(
        (r) =>
          `| ${r.run} | ${r.outcome} | ${r.exitCode ?? ''} | ${r.gateS.toFixed(0)} | ${r.setupS.toFixed(0)} | ${r.outcome === 'accepted' ? '' : [...r.reasons, ...r.failed].slice(0, 4).join('; ').replace(/\|/g, '/')} |`,
      ),
      '',
    ].join('\n');
    writeFileSync(join(o.out, 'series.md'), md);
    return summary;
  };
  try {
    for (let i = 1; i <= o.runs; i++) {
      const clone = mkdtempSync(join(tmpdir(), `tinydit-series-${i}-`));
      const logDir = join(o.out, `run${i}`);
      mkdirSync(logDir, { recursive: true });
      process.stdout.write(`[series] run ${i}/${o.runs}: fresh clone of ${head.slice(0, 8)} in ${clone}\n`);
      const t0 = Date.now();
      // every run tests the commit the series started on, even if HEAD moves while it runs
      let ok = (await run('git', ['clone', '--quiet', '--no-hardlinks', REPO_ROOT, clone], tmpdir(), join(logDir, 'clone.log'))).code === 0;
      if (ok) ok = (await run('git', ['checkout', '--quiet', '--detach', head], clone, join(logDir, 'checkout.log'))).code === 0;
      if (ok) ok = (await run('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], clone, join(logDir, 'npm-ci.log'))).code === 0;
      if (ok) ok = (await run('npm', ['run', '--silent', 'build:web'], clone, join(logDir, 'build-web.log'))).code === 0;
      const setupS = (Date.now() - t0) / 1000;
      if (!ok) {
        runs.push({
          run: i,
          outcome: 'inconclusive',
          exitCode: null,
          setupS,
          gateS: 0,
          reasons: ['setup of the fresh clone failed (see its logs)'],
          failed: [],
          runDir: null,
          log: logDir,
        });
        write(false);
        continue;
      }
      const reports = join(logDir, 'reports');
      const g = await run(
        'npm',
        ['run', '--silent', 'gate', '--', '--bundle', o.bundle, '--reports', reports, '--no-history', '--no-screenshot'],
        clone,
        join(logDir, 'gate.log'),
      );
      const runId = existsSync(reports) ? readdirSync(reports).find((d) => existsSync(join(reports, d, 'verdict.json'))) : undefined;
      let v: Verdict | null = null;
      try {
        v = runId ? (JSON.parse(readFileSync(join(reports, runId, 'verdict.json'), 'utf8')) as Verdict) : null;
      } catch {
        v = null;
      }
      const outcome = v?.outcome ?? (g.code === 0 ? 'accepted' : 'inconclusive');
      runs.push({
        run: i,
        outcome,
        exitCode: g.code,
        setupS,
        gateS: g.ms / 1000,
        reasons: (v?.reasons ?? []).map((r) => `${r.code}: ${r.message.split('\n')[0]!.slice(0, 200)}`),
        failed: (v?.failed ?? []).slice(0, 10),
        runDir: runId ? join(reports, runId) : null,
        log: logDir,
      });
      process.stdout.write(`[series]   ${outcome} (exit ${g.code}) gate ${(g.ms / 1000).toFixed(0)} s, setup ${setupS.toFixed(0)} s\n`);
      if (!o.keep) rmSync(clone, { recursive: true, force: true });
      write(false);
    }
  } finally {
    stopLoad();
  }
  const summary = write(true);
  process.stdout.write(readFileSync(join(o.out, 'series.md'), 'utf8'));
  return summary.rejected > 0 ? 1 : summary.inconclusive > 0 ? 5 : 0;
}

main().then(
  (c) => {
    process.exitCode = c;
  },
  (e: unknown) => {
    process.stderr.write(`series: ${(e as Error).message}\n`);
    process.exitCode = 2;
  },
);
