/**
 * Gate power: runs the acceptance gate (scripts/gate.ts) on every mutant of the catalogue and on the good model,
 * and writes the kill matrix (mutant x check: caught or not) to reports/gate-power/kill-matrix.{md,json}.
 *
 *   npm run gate:power                                   node mutants node-only, browser/both mutants with chromium
 *   npm run gate:power -- --only breed-blind,t-blind     a subset (the good model always runs)
 *   npm run gate:power -- --node-only                    no browser runs (page-fault mutants: not run)
 *   npm run gate:power -- --browsers chromium,firefox    engines of the browser/both mutant runs
 *   npm run gate:power -- --false-rejects 10             the good model through the full gate (all three engines),
 *                                                        10 times: reports/gate-power/false-rejects.{md,json}
 *
 * Options: --bundle <dir> (default fixtures/default), --out <dir> (default reports/gate-power), --mutants <dir>
 * (default reports/mutants), --skip-make (use the mutant folders already there), --timeout-node <min>,
 * --timeout-browser <min> (passed to the gate), --reuse (keep a run whose complete verdict is newer than its bundle's
 * manifest.json and has the same engines: rebuilds the matrix after an interrupted run, or reruns only the runs
 * whose folder was deleted). Each gate run goes to <out>/runs/<name>/ (no history line, no
 * screenshot). Scopes: a 'node' mutant runs --node-only; 'browser' and 'both' run the Node suites and the
 * chosen engines. Such runs are narrowed, so their best outcome is passed-narrowed: a run counts as "not rejected"
 * when it passed everything in its scope (matrix.ts passedOnScope); the good model is run on the widest scope used
 * and must pass on it.
 * Page faults (?fault=...) reach the browser suites through env TINYDIT_PAGE_FAULTS (comma-separated), which
 * suites/browser/fixtures.ts must honour in app.open(); while it does not, such mutants are reported 'blocked'.
 * A mutant's own environment (mutant.json `env`, e.g. TINYDIT_CASE for narrowed-by-case-filter) is set for its
 * gate run; the narrowing variables of this script's own environment (harness/gate/gate.ts NARROWING_ENV) are
 * removed from every gate run, so a variable left exported in the shell cannot leak into the matrix.
 *
 * Exit 0 when the good model is accepted and every mutant that ran is rejected through an aimed check (and, for
 * --false-rejects, when no run rejected the good model); 1 otherwise; 2 on a usage error.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { REPO_ROOT } from '../harness/core/config.js';
import { interruptChildren, runChild } from '../harness/gate/process.js';
import type { Verdict } from '../harness/gate/types.js';
import { ALL_BROWSERS, NARROWING_ENV } from '../harness/gate/gate.js';
import { CATALOGUE } from '../harness/mutants/catalogue.js';
import { DEFAULT_MUTANTS_DIR, readMutantRecord } from '../harness/mutants/materialise.js';
import {
  checkKey,
  matrixPasses,
  passedOnScope,
  renderMarkdown,
  summarise,
  type MatrixInput,
  type RunSummary,
} from '../harness/mutants/matrix.js';
import type { Mutant } from '../harness/mutants/types.js';
import { makeMutants, selectMutants } from './make-mutants.js';

class UsageError extends Error {}

const TSX = join(REPO_ROOT, 'node_modules', '.bin', 'tsx');
/** The env var page faults travel in (to be honoured by suites/browser/fixtures.ts app.open()). */
export const PAGE_FAULTS_ENV = 'TINYDIT_PAGE_FAULTS';

interface Options {
  bundle: string;
  out: string;
  mutantsDir: string;
  only?: string[];
  nodeOnly: boolean;
  browsers: string[];
  skipMake: boolean;
  falseRejects: number;
  timeoutNode?: string;
  timeoutBrowser?: string;
  reuse: boolean;
}

function parse(argv: string[]): Options {
  const o: Options = {
    bundle: process.env.TINYDIT_BUNDLE ?? join(REPO_ROOT, 'fixtures/default'),
    out: join(REPO_ROOT, 'reports/gate-power'),
    mutantsDir: DEFAULT_MUTANTS_DIR,
    nodeOnly: false,
    browsers: ['chromium'],
    skipMake: false,
    falseRejects: 0,
    reuse: false,
  };
  let browsersGiven = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const val = (): string => {
      const v = argv[++i];
      if (v === undefined || v.startsWith('--')) throw new UsageError(`${a} needs a value`);
      return v;
    };
    switch (a) {
      case '--bundle':
        o.bundle = val();
        break;
      case '--out':
        o.out = resolve(val());
        break;
      case '--mutants':
        o.mutantsDir = resolve(val());
        break;
      case '--only':
        o.only = val()
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean);
        break;
      case '--node-only':
        o.nodeOnly = true;
        break;
      case '--browsers':
        o.browsers = val()
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean);
        browsersGiven = true;
        break;
      case '--skip-make':
        o.skipMake = true;
        break;
      case '--reuse':
        o.reuse = true;
        break;
      case '--false-rejects': {
        const n = Number(val());
        if (!Number.isInteger(n) || n < 1) throw new UsageError('--false-rejects needs a positive integer');
        o.falseRejects = n;
        break;
      }
      case '--timeout-node':
        o.timeoutNode = val();
        break;
      case '--timeout-browser':
        o.timeoutBrowser = val();
        break;
      case '--help':
      case '-h':
        throw new UsageError('see the header of scripts/gate-power.ts');
      default:
        throw new UsageError(`unknown option ${a} (see the header of scripts/gate-power.ts)`);
    }
  }
  if (o.falseRejects > 0 && !browsersGiven) o.browsers = [...ALL_BROWSERS];
  for (const b of o.browsers)
    if (!ALL_BROWSERS.includes(b)) throw new UsageError(`--browsers: unknown engine ${b} (known: ${ALL_BROWSERS.join(', ')})`);
  return o;
}

/** Whether the browser suites read page faults from the environment (the hook this script relies on). */
function pageFaultHookPresent(): boolean {
  const f = join(REPO_ROOT, 'suites/browser/fixtures.ts');
  return existsSync(f) && readFileSync(f, 'utf8').includes(PAGE_FAULTS_ENV);
}

interface GateRun {
  verdict: Verdict | null;
  runDir: string;
  durationS: number;
  exitCode: number | null;
  reused?: boolean;
  note?: string;
}

async function gate(bundleDir: string, runId: string, o: Options, browsers: string[], env: Record<string, string> = {}): Promise<GateRun> {
  const runsRoot = join(o.out, 'runs');
  const runDir = join(runsRoot, runId);
  if (o.reuse) {
    const kept = reusable(runDir, bundleDir, browsers);
    if (kept)
      return {
        verdict: kept,
        runDir,
        durationS: (Date.parse(kept.finishedAt ?? kept.startedAt) - Date.parse(kept.startedAt)) / 1000,
        exitCode: kept.accepted ? 0 : passedOnScope(kept) ? 4 : 1,
        reused: true,
      };
  }
  rmSync(runDir, { recursive: true, force: true });
  const args = [
    join(REPO_ROOT, 'scripts/gate.ts'),
    '--bundle',
    bundleDir,
    '--reports',
    runsRoot,
    '--run-id',
    runId,
    '--no-history',
    '--no-screenshot',
    ...(browsers.length ? ['--browsers', browsers.join(',')] : ['--node-only']),
    ...(o.timeoutNode ? ['--timeout-node', o.timeoutNode] : []),
    ...(o.timeoutBrowser ? ['--timeout-browser', o.timeoutBrowser] : []),
  ];
  mkdirSync(runsRoot, { recursive: true });
  const p = await runChild({
    name: `gate ${runId}`,
    command: TSX,
    args,
    cwd: REPO_ROOT,
    env: { ...baseEnv(), ...env },
    log: join(runsRoot, `${runId}.log`),
    timeoutMs: ((Number(o.timeoutNode ?? 30) + (browsers.length ? Number(o.timeoutBrowser ?? 90) : 0)) * 60 + 300) * 1000,
  });
  let verdict: Verdict | null = null;
  let note: string | undefined;
  try {
    verdict = JSON.parse(readFileSync(join(runDir, 'verdict.json'), 'utf8')) as Verdict;
  } catch (e) {
    note = `no readable ${relative(REPO_ROOT, runDir)}/verdict.json (${(e as Error).message.split('\n')[0]}); gate exit ${p.exitCode ?? p.signal}, log ${relative(REPO_ROOT, p.log)}`;
  }
  if (p.timedOut) note = `the gate ran past its time limit; log ${relative(REPO_ROOT, p.log)}`;
  return { verdict, runDir, durationS: p.durationMs / 1000, exitCode: p.exitCode, ...(note ? { note } : {}) };
}

/** This process's environment without the narrowing variables (a mutant that needs one sets it itself). */
function baseEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of Object.keys(NARROWING_ENV)) delete env[k];
  return env;
}

/** A finished verdict of this bundle (newer than its manifest) on the same engines, or null. */
function reusable(runDir: string, bundleDir: string, browsers: string[]): Verdict | null {
  try {
    const v = JSON.parse(readFileSync(join(runDir, 'verdict.json'), 'utf8')) as Verdict;
    const made = statSync(join(bundleDir, 'manifest.json')).mtimeMs;
    const same =
      v.complete && Date.parse(v.startedAt) > made && JSON.stringify([...v.scope.browsers].sort()) === JSON.stringify([...browsers].sort());
    return same ? v : null;
  } catch {
    return null;
  }
}

const scopeName = (browsers: string[]): string => (browsers.length ? `node+${browsers.join('+')}` : 'node');

function browsersFor(m: Mutant, o: Options): string[] | null {
  if (m.kind === 'node') return [];
  if (o.nodeOnly) return m.kind === 'both' ? [] : null; // a browser-only fault cannot be judged without a browser
  return o.browsers;
}

async function killMatrix(o: Options): Promise<number> {
  const started = new Date();
  const selected = selectMutants(o.only);
  const log = (s: string): void => {
    process.stdout.write(s + '\n');
  };
  // --reuse keeps built mutants (rebuilding them would make every earlier run stale)
  const toMake = selected.filter((m) => !o.reuse || !readMutantRecord(join(o.mutantsDir, m.name)));
  if (!o.skipMake && toMake.length) {
    const { failed } = await makeMutants({
      bundle: o.bundle,
      out: o.mutantsDir,
      only: toMake.map((m) => m.name),
      log: (l) => log(`[make] ${l}`),
    });
    for (const [n, msg] of Object.entries(failed)) log(`[make] ${n} could not be built: ${msg.split('\n')[0]}`);
  }
  const hook = pageFaultHookPresent();
  const plans = selected.map((m) => ({ m, browsers: browsersFor(m, o) }));
  const widest = plans.some((p) => p.browsers?.length) ? o.browsers : [];
  mkdirSync(o.out, { recursive: true });

  log(`[gate-power] good model (${scopeName(widest)})`);
  const g = await gate(resolve(o.bundle), 'good-model', o, widest);
  const good = summarise({
    name: 'good-model',
    description: 'the bundle as made',
    kind: '-',
    origin: [],
    expect: [],
    scope: scopeName(widest),
    runDir: relative(REPO_ROOT, g.runDir),
    durationS: g.durationS,
    verdict: g.verdict,
    ...(g.reused ? { reused: true } : {}),
    ...(g.note ? { note: g.note } : {}),
  });
  log(
    `[gate-power]   ${good.accepted ? 'accepted' : `NOT ACCEPTED: ${Object.keys(good.failedKeys).join(', ') || good.reasons.join(', ') || good.note}`} (${g.durationS.toFixed(0)} s)`,
  );

  const rows: RunSummary[] = [];
  for (const { m, browsers } of plans) {
    const dir = join(o.mutantsDir, m.name);
    const rec = readMutantRecord(dir);
    const input: MatrixInput = {
      name: m.name,
      description: m.description,
      kind: m.kind,
      origin: m.origin ?? [],
      expect: m.expect,
      form: m.form ?? 'export',
      fault: m.fault ?? m.name,
      scope: browsers ? scopeName(browsers) : '-',
      runDir: null,
      durationS: null,
      verdict: null,
    };
    if (browsers === null) {
      rows.push(summarise({ ...input, notRun: true, note: 'page fault: needs a browser (--node-only)' }));
      log(`[gate-power] ${m.name}: not run (--node-only)`);
      continue;
    }
    if (!rec) {
      rows.push(
        summarise({
          ...input,
          blocked: true,
          note: `${relative(REPO_ROOT, dir)} is not a built mutant (npx tsx scripts/make-mutants.ts --only ${m.name})`,
        }),
      );
      log(`[gate-power] ${m.name}: blocked (not built)`);
      continue;
    }
    const faults = rec.pageFaults;
    if (faults.length && !hook) {
      rows.push(
        summarise({
          ...input,
          blocked: true,
          note: `page fault ${faults.join(',')} cannot reach the browser suites: suites/browser/fixtures.ts does not read ${PAGE_FAULTS_ENV}`,
        }),
      );
      log(`[gate-power] ${m.name}: blocked (page-fault hook missing)`);
      continue;
    }
    const env: Record<string, string> = { ...(rec.env ?? {}), ...(faults.length ? { [PAGE_FAULTS_ENV]: faults.join(',') } : {}) };
    log(
      `[gate-power] ${m.name} (${scopeName(browsers)}${
        Object.keys(env).length
          ? `, env ${Object.entries(env)
              .map(([k, v]) => `${k}=${v}`)
              .join(' ')}`
          : ''
      })`,
    );
    const r = await gate(dir, m.name, o, browsers, env);
    const s = summarise({
      ...input,
      runDir: relative(REPO_ROOT, r.runDir),
      durationS: r.durationS,
      verdict: r.verdict,
      ...(r.reused ? { reused: true } : {}),
      ...(r.note ? { note: r.note } : {}),
    });
    rows.push(s);
    log(
      `[gate-power]   ${s.outcome}: aimed ${s.aimedFailed.join(', ') || '-'}; also ${
        Object.keys(s.failedKeys)
          .filter((k) => !s.aimedFailed.includes(k))
          .join(', ') || '-'
      } (${r.durationS.toFixed(0)} s)`,
    );
    writeOutputs(o, good, rows, started, widest); // partial results survive an interrupted run
  }
  const verdict = writeOutputs(o, good, rows, started, widest);
  log(`\n${verdict.pass ? 'PASS' : 'FAIL'}: kill matrix in ${relative(process.cwd(), join(o.out, 'kill-matrix.md'))}`);
  for (const p of verdict.problems) log(`  - ${p}`);
  return verdict.pass ? 0 : 1;
}

function writeOutputs(
  o: Options,
  good: RunSummary,
  rows: RunSummary[],
  started: Date,
  engines: string[],
): { pass: boolean; problems: string[] } {
  const verdict = matrixPasses(good, rows);
  const command = `npm run gate:power -- ${process.argv.slice(2).join(' ')}`.trim();
  const meta = {
    bundle: relative(REPO_ROOT, resolve(o.bundle)) || o.bundle,
    command,
    date: started.toISOString(),
    engines: engines.join(', ') || 'none (Node only)',
  };
  writeFileSync(
    join(o.out, 'kill-matrix.json'),
    JSON.stringify(
      { format: 'tinydit-kill-matrix/1', ...meta, pass: verdict.pass, problems: verdict.problems, good, mutants: rows },
      null,
      1,
    ) + '\n',
  );
  writeFileSync(join(o.out, 'kill-matrix.md'), renderMarkdown(good, rows, meta));
  return verdict;
}

// ---------------------------------------------------------------------------------------------------------
// False rejects: the good model, the full gate, N times

async function falseRejects(o: Options): Promise<number> {
  mkdirSync(o.out, { recursive: true });
  const started = new Date();
  const runs: {
    run: number;
    accepted: boolean | null;
    durationS: number;
    failed: string[];
    reasons: string[];
    runDir: string;
    note?: string;
  }[] = [];
  for (let k = 1; k <= o.falseRejects; k++) {
    process.stdout.write(`[false-rejects] run ${k}/${o.falseRejects} (node+${o.browsers.join('+')})\n`);
    const r = await gate(resolve(o.bundle), `false-reject-${String(k).padStart(2, '0')}`, o, o.browsers);
    const v = r.verdict;
    const failed = (v?.checks ?? [])
      .filter((c) => c.status !== 'pass')
      .map((c) => `${c.runtime} ${checkKey(c)} ${c.id}: ${c.message.split('\n')[0]!.slice(0, 200)}`);
    const reasons = (v?.reasons ?? []).map((x) => `${x.code}: ${x.message.split('\n')[0]!.slice(0, 200)}`);
    runs.push({
      run: k,
      accepted: v ? v.accepted : null,
      durationS: r.durationS,
      failed,
      reasons,
      runDir: relative(REPO_ROOT, r.runDir),
      ...(r.note ? { note: r.note } : {}),
    });
    process.stdout.write(
      `[false-rejects]   ${v?.accepted ? 'accepted' : `REJECTED (${failed.length} failing checks; ${reasons.map((x) => x.split(':')[0]).join(', ')})`} in ${r.durationS.toFixed(0)} s\n`,
    );
    writeFalseRejects(o, runs, started);
  }
  const rejected = runs.filter((r) => r.accepted !== true).length;
  process.stdout.write(
    `\n${rejected} of ${runs.length} full gate runs rejected the good model; ${relative(process.cwd(), join(o.out, 'false-rejects.md'))}\n`,
  );
  return rejected === 0 ? 0 : 1;
}

function writeFalseRejects(
  o: Options,
  runs: { run: number; accepted: boolean | null; durationS: number; failed: string[]; reasons: string[]; runDir: string; note?: string }[],
  started: Date,
): void {
  const rejected = runs.filter((r) => r.accepted !== true);
  const durations = runs.map((r) => r.durationS).sort((a, b) => a - b);
  const median = durations.length ? durations[Math.floor(durations.length / 2)]! : 0;
  const command = `npm run gate:power -- ${process.argv.slice(2).join(' ')}`.trim();
  writeFileSync(
    join(o.out, 'false-rejects.json'),
    JSON.stringify(
      {
        format: 'tinydit-false-rejects/1',
        bundle: o.bundle,
        engines: o.browsers,
        command,
        started: started.toISOString(),
        runs: runs.length,
        rejected: rejected.length,
        medianDurationS: median,
        detail: runs,
      },
      null,
      1,
    ) + '\n',
  );
  const lines = [
    `# False rejects: the good model through the full gate`,
    '',
    `\`${command}\` on \`${relative(REPO_ROOT, resolve(o.bundle))}\`, engines ${o.browsers.join(', ')}, started ${started.toISOString()}.`,
    '',
    `**${rejected.length} of ${runs.length} runs rejected the good model** (target 0). Median run ${median.toFixed(0)} s.`,
    '',
    '| run | verdict | s | failing checks / reasons |',
    '|--:|---|--:|---|',
    ...runs.map(
      (r) =>
        `| ${r.run} | ${r.accepted ? 'accepted' : '**REJECTED**'} | ${r.durationS.toFixed(0)} | ${r.accepted ? '' : [...r.failed.slice(0, 6), ...r.reasons.slice(0, 3), r.note ?? ''].filter(Boolean).join('<br>').replace(/\|/g, '\\|')} |`,
    ),
  ];
  writeFileSync(join(o.out, 'false-rejects.md'), lines.join('\n') + '\n');
}

async function main(): Promise<number> {
  const o = parse(process.argv.slice(2));
  process.on('SIGINT', () => {
    interruptChildren();
    process.exitCode = 130;
  });
  if (o.falseRejects > 0) return falseRejects(o);
  return killMatrix(o);
}

main().then(
  (c) => {
    process.exitCode = process.exitCode ?? c;
  },
  (e: unknown) => {
    process.stderr.write(`gate-power: ${e instanceof UsageError ? e.message : ((e as Error).stack ?? String(e))}\n`);
    process.exitCode = e instanceof UsageError ? 2 : 1;
  },
);

export { CATALOGUE };
