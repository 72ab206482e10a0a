/**
 * The acceptance gate: one command, one verdict.
 *
 *   npm run gate -- [--bundle <dir>] [options]          (default bundle: $TINYDIT_BUNDLE, else fixtures/default)
 *   npm run gate:merge -- --blobs <shard dir> [<shard dir> ...] [options]
 *
 * Validates the bundle (a refused bundle is a verdict, before anything runs), runs the Node suites (vitest)
 * and the browser suites (Playwright: chromium, firefox, webkit) into reports/<UTC time>-<model sha>/, and
 * writes verdict.json, index.html, the runners' JUnit/JSON/HTML reports and a line of reports/history.jsonl.
 * Exit code (the verdict's `outcome`):
 *   0  accepted          the full gate on a bundle with goldens verified against its checkpoint; every check passed
 *   1  rejected          the model or its bundle is at fault: a check failed, a proof failed, the bundle was refused
 *   5  inconclusive      the harness or the environment could not judge (crash, timeout, engine missing, report
 *                        missing, check errored): not about the model; the verdict's `rerun` says what to rerun
 *   3  screened          --screen: contract, weights and behaviour passed; a screening, never a release decision
 *   4  passed-narrowed   everything in a narrowed scope passed (options or TINYDIT_CASE-like variables); never an acceptance
 *   2  usage error       130  interrupted
 *
 * Options:
 *   --bundle <dir>          the bundle to judge
 *   --node-only             only the Node suites            --browser-only   only the browser suites
 *   --browsers a,b          engines to run (default: every engine of harness/runtimes/registry.ts,
 *                           chromium,firefox,webkit,chromium-webgpu)
 *   --shard i/n             this machine's share of the browser tests (blob report for gate:merge)
 *   --grep <regex>          only tests whose name matches (vitest -t, playwright -g)
 *   --node-suites a,b       Node suite files          --browser-suites a,b   browser spec files
 *   --allow-narrow          ignored (kept so old scripts run): a narrowed run is never accepted; when everything
 *                           in its scope passed its outcome is passed-narrowed (exit 4)
 *   --screen                contract-level screening of a model without goldens: contract, weights, behaviour and
 *                           the browser smoke test; outcome screened (exit 3), never accepted
 *   --trust-goldens         a bundle that ships no checkpoint: accept its goldens unverified (recorded in the
 *                           verdict's goldens.state = trusted-by-flag). Without it such a bundle is not accepted.
 *   --baseline <path>       compare key metrics with an earlier run (run folder, verdict.json or history.jsonl[#run])
 *   --fail-on-drift         drift makes the verdict not accepted (default: reported only)
 *   --require-full          ignored (kept so old scripts run): a bundle without goldens is never accepted
 *   --history <file>        history file (default reports/history.jsonl)   --no-history   do not append
 *   --reports <dir>         where run folders go (default reports)
 *   --run-id <id>           name the run folder yourself
 *   --timeout-node <min>    default 30        --timeout-browser <min>   default 90
 *   --no-screenshot         skip the Chromium screenshot of index.html
 *   --verbose               echo the runners' output (always kept in <run>/logs/)
 *   --serial                the Node suites, then the browser suites (default: both at once; for a machine short
 *                           of memory, or to compare)
 *   --app <name|module>     the app under test of the browser suites' app checks (env TINYDIT_APP): reference (the
 *                           default), double, double-fixed, or an adapter module (docs/app-under-test.md)
 *   --app-url <url>         where that app is served (env TINYDIT_APP_URL; default: the adapter's own page)
 *   npm run gate -- render <run dir> [--bundle] [--baseline] [--history]
 *                           recompute verdict.json and index.html of a run folder from what it holds
 * gate:merge options: --blobs <dir>... (shard run folders, or folders of blob zips with the shard's
 *   checks.jsonl), --node <run dir> (a Node-suite run to merge in), and --bundle, --allow-narrow, --baseline,
 *   --fail-on-drift, --history, --no-history, --reports, --run-id, --no-screenshot as above.
 */
import { relative, resolve } from 'node:path';
import { REPO_ROOT } from '../harness/core/config.js';
import {
  ALL_BROWSERS,
  DEFAULT_BROWSER_TIMEOUT_MIN,
  DEFAULT_NODE_TIMEOUT_MIN,
  ReportWriteError,
  mergeShards,
  rejudge,
  runGate,
  type GateResult,
} from '../harness/gate/gate.js';
import type { Verdict } from '../harness/gate/types.js';
import { APP_ENV, APP_URL_ENV, appFromEnv } from '../harness/apps/adapter.js';

class UsageError extends Error {}

interface Parsed {
  flags: Map<string, string[]>;
}

const VALUE_FLAGS = new Set([
  '--bundle',
  '--browsers',
  '--shard',
  '--grep',
  '--node-suites',
  '--browser-suites',
  '--baseline',
  '--history',
  '--reports',
  '--run-id',
  '--timeout-node',
  '--timeout-browser',
  '--blobs',
  '--node',
  '--app',
  '--app-url',
]);
const BOOL_FLAGS = new Set([
  '--require-full',
  '--screen',
  '--trust-goldens',
  '--node-only',
  '--browser-only',
  '--allow-narrow',
  '--fail-on-drift',
  '--no-history',
  '--no-screenshot',
  '--verbose',
  '--serial',
  '--help',
  '-h',
]);

function parse(argv: string[]): Parsed {
  const flags = new Map<string, string[]>();
  let current: string | null = null;
  for (const raw of argv) {
    const [a, inline] =
      raw.startsWith('--') && raw.includes('=') ? [raw.slice(0, raw.indexOf('=')), raw.slice(raw.indexOf('=') + 1)] : [raw, undefined];
    if (a.startsWith('-') && (VALUE_FLAGS.has(a) || BOOL_FLAGS.has(a))) {
      current = VALUE_FLAGS.has(a) ? a : null;
      if (!flags.has(a)) flags.set(a, []);
      if (inline !== undefined) {
        flags.get(a)!.push(inline);
        current = a === '--blobs' ? a : null;
      }
      continue;
    }
    if (a.startsWith('-')) throw new UsageError(`unknown option ${a} (see the header of scripts/gate.ts)`);
    if (current === null) throw new UsageError(`unexpected argument ${raw}`);
    flags.get(current)!.push(raw);
    if (current !== '--blobs') current = null;
  }
  for (const f of VALUE_FLAGS) if (flags.has(f) && flags.get(f)!.length === 0) throw new UsageError(`${f} needs a value`);
  return { flags };
}

const one = (p: Parsed, f: string): string | undefined => p.flags.get(f)?.[p.flags.get(f)!.length - 1];
const has = (p: Parsed, f: string): boolean => p.flags.has(f);
const csv = (s: string | undefined): string[] | undefined =>
  s
    ?.split(',')
    .map((x) => x.trim())
    .filter(Boolean);

function minutes(p: Parsed, f: string, d: number): number {
  const v = one(p, f);
  if (v === undefined) return d * 60_000;
  const n = Number(v);
  if (!(n > 0)) throw new UsageError(`${f} must be a positive number of minutes, got ${v}`);
  return n * 60_000;
}

function summary(v: Verdict, runDir: string): string {
  const rel = relative(process.cwd(), runDir) || runDir;
  const head =
    v.outcome === 'accepted'
      ? 'ACCEPTED'
      : v.outcome === 'screened'
        ? 'SCREENED (contract-level screening passed; NOT a release decision, not accepted)'
        : v.outcome === 'passed-narrowed'
          ? 'PASSED IN A NARROWED SCOPE (not accepted: part of the gate did not run)'
          : v.outcome === 'inconclusive'
            ? v.complete
              ? 'INCONCLUSIVE, NOT ACCEPTED (the harness or the environment could not judge; not a verdict on the model)'
              : 'INCOMPLETE, NOT ACCEPTED (inconclusive)'
            : 'REJECTED (NOT ACCEPTED)';
  const lines = [
    '',
    `${head}  level=${v.level}  scope=${v.scope.full ? 'full' : `narrowed: ${v.scope.narrowed.join('; ')}`}`,
    ...(v.scope.plan
      ? [
          `the gate's ${v.scope.plan.imageSize} px plan: ${v.scope.plan.browserSuites.join(', ')} in ${v.scope.plan.browsers.join(', ')}; left out: ` +
            v.scope.plan.leftOut.map((l) => l.split(':')[0]).join('; ') +
            ' (verdict.json scope.plan says why)',
        ]
      : []),
    `model ${v.bundle.modelSha256 ?? '?'}  bundle digest ${v.bundle.digest ?? '?'}  goldens ${v.goldens?.state ?? '?'}`,
    ...(v.scope.app
      ? [`app under test: ${v.scope.app.name}${v.scope.app.url ? ` at ${v.scope.app.url}` : ''} (the browser suites' app checks judged it)`]
      : []),
    ...v.engines.filter((e) => e.name === 'WebGPU adapter').map((e) => `${e.runtime}: WebGPU adapter ${e.version}`),
    `checks ${v.counts.passed}/${v.counts.total} pass (self-tests ${v.counts.selfTests - v.counts.selfTestsFailed}/${v.counts.selfTests})`,
  ];
  if (!v.accepted) {
    for (const r of v.reasons.slice(0, 12)) {
      // a multi-line reason (a refused bundle lists its problems, each naming its file) keeps its first lines
      const [head, ...more] = r.message.split('\n');
      lines.push(`  - [${r.code}] ${head}`, ...more.slice(0, 6).map((m) => `      ${m.trim()}`));
      if (more.length > 6) lines.push(`      ... and ${more.length - 6} more in verdict.json`);
    }
  }
  const failed = v.checks.filter((c) => c.status !== 'pass');
  if (failed.length) {
    lines.push(`failed (${failed.length}):`);
    for (const c of failed.slice(0, 15)) {
      lines.push(`  ✗ ${c.id} [${c.runtime}] ${c.message.split('\n')[0]!.slice(0, 200)}`);
      if (c.replay) lines.push(`      replay: ${c.replay.command}`);
    }
    if (failed.length > 15) lines.push(`  ... and ${failed.length - 15} more in verdict.json`);
  }
  if (v.driftReport) {
    lines.push(`drift vs ${v.driftReport.baseline.source}: ${v.drift.length} of ${v.driftReport.compared} key metrics`);
    for (const d of v.drift.slice(0, 10))
      lines.push(`  ~ ${d.key}: ${d.baseline} -> ${d.current} (band ${d.band.toExponential(2)}, ${d.basis})`);
  }
  if (v.rerun) lines.push(`rerun: ${v.rerun.command}`, `  (${v.rerun.why})`);
  lines.push(`verdict: ${rel}/verdict.json`, `page:    ${rel}/index.html`);
  // the plain closing line CI systems read: checks that passed and checks that did not (failed or errored)
  lines.push(`gate: ${v.outcome}: ${v.counts.passed} passed, ${v.counts.total - v.counts.passed} failed`);
  return lines.join('\n') + '\n';
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const merge = argv[0] === 'merge';
  const render = argv[0] === 'render';
  const p = parse(merge || render ? argv.slice(render ? 2 : 1) : argv);
  if (has(p, '--help') || has(p, '-h')) {
    process.stdout.write('see the header of scripts/gate.ts for the options\n');
    return 0;
  }
  const reportsRoot = resolve(one(p, '--reports') ?? resolve(REPO_ROOT, 'reports'));
  const history = has(p, '--no-history') ? null : resolve(one(p, '--history') ?? resolve(reportsRoot, 'history.jsonl'));
  const commandLine = `npm run ${merge ? 'gate:merge' : 'gate'} -- ${(merge ? argv.slice(1) : argv).join(' ')}`.trim();
  let result: GateResult;
  if (render) {
    const runDir = argv[1];
    if (!runDir || runDir.startsWith('-')) throw new UsageError('gate render needs the run folder: npm run gate -- render reports/<run>');
    const bundle = one(p, '--bundle');
    result = await rejudge({
      runDir,
      failOnDrift: has(p, '--fail-on-drift'),
      history,
      commandLine,
      ...(bundle ? { bundle } : {}),
      ...(one(p, '--baseline') ? { baseline: one(p, '--baseline')! } : {}),
    });
  } else if (merge) {
    const blobs = [...(p.flags.get('--blobs') ?? []), ...(p.flags.get('--node') ?? [])];
    if (!blobs.length) throw new UsageError('gate:merge needs --blobs <shard dir> [<shard dir> ...]');
    const bundle = one(p, '--bundle');
    result = await mergeShards({
      inputs: blobs,
      reportsRoot,
      allowNarrow: has(p, '--allow-narrow'),
      failOnDrift: has(p, '--fail-on-drift'),
      history,
      screenshot: !has(p, '--no-screenshot'),
      commandLine,
      requireFull: has(p, '--require-full'),
      ...(bundle ? { bundle } : {}),
      ...(one(p, '--baseline') ? { baseline: one(p, '--baseline')! } : {}),
      ...(one(p, '--run-id') ? { runId: one(p, '--run-id')! } : {}),
    });
  } else {
    if (has(p, '--node-only') && has(p, '--browser-only')) throw new UsageError('--node-only and --browser-only exclude each other');
    const browsers = has(p, '--node-only') ? [] : (csv(one(p, '--browsers')) ?? [...ALL_BROWSERS]);
    for (const b of browsers)
      if (!ALL_BROWSERS.includes(b)) throw new UsageError(`--browsers: unknown engine ${b} (known: ${ALL_BROWSERS.join(', ')})`);
    const shard = one(p, '--shard');
    if (shard !== undefined && !/^\d+\/\d+$/.test(shard)) throw new UsageError(`--shard must be i/n, got ${shard}`);
    if (shard && !has(p, '--browser-only') && !has(p, '--node-only')) {
      process.stderr.write(
        '[gate] --shard: the Node suites run once, not per shard: this run is browser-only (run them with --node-only and pass that folder to gate:merge --node)\n',
      );
    }
    const bundle = one(p, '--bundle') ?? process.env.TINYDIT_BUNDLE ?? 'fixtures/default';
    // the app under test reaches the browser suites through the environment (harness/apps/adapter.ts appFromEnv)
    if (one(p, '--app')) process.env[APP_ENV] = one(p, '--app')!;
    if (one(p, '--app-url')) process.env[APP_URL_ENV] = one(p, '--app-url')!;
    try {
      await appFromEnv();
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    result = await runGate({
      bundle,
      reportsRoot,
      node: !has(p, '--browser-only') && !shard,
      browsers,
      ...(shard ? { shard } : {}),
      ...(one(p, '--grep') ? { grep: one(p, '--grep')! } : {}),
      ...(csv(one(p, '--node-suites')) ? { nodeSuites: csv(one(p, '--node-suites'))! } : {}),
      ...(csv(one(p, '--browser-suites')) ? { browserSuites: csv(one(p, '--browser-suites'))! } : {}),
      allowNarrow: has(p, '--allow-narrow'),
      failOnDrift: has(p, '--fail-on-drift'),
      history,
      ...(one(p, '--baseline') ? { baseline: one(p, '--baseline')! } : {}),
      ...(one(p, '--run-id') ? { runId: one(p, '--run-id')! } : {}),
      nodeTimeoutMs: minutes(p, '--timeout-node', DEFAULT_NODE_TIMEOUT_MIN),
      browserTimeoutMs: minutes(p, '--timeout-browser', DEFAULT_BROWSER_TIMEOUT_MIN),
      screenshot: !has(p, '--no-screenshot'),
      verbose: has(p, '--verbose'),
      serial: has(p, '--serial'),
      commandLine,
      requireFull: has(p, '--require-full'),
      mode: has(p, '--screen') ? 'screen' : 'gate',
      trustGoldens: has(p, '--trust-goldens'),
    });
  }
  process.stdout.write(summary(result.verdict, result.runDir));
  return result.exitCode;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    if (e instanceof UsageError) {
      process.stderr.write(`gate: ${e.message}\n`);
      process.exitCode = 2;
    } else if (e instanceof ReportWriteError) {
      // the verdict could not be saved: print what was judged (never a pass) and why nothing was written
      if (e.verdict) process.stdout.write(summary(e.verdict, e.path.replace(/\/[^/]*$/, '')).replace(/\n(verdict|page): .*(?=\n)/g, ''));
      process.stderr.write(`gate: ${e.message}\n`);
      process.exitCode = 5; // inconclusive: the environment (the report folder), not the model
    } else {
      process.stderr.write(`gate: the gate itself failed (inconclusive, not a verdict on the model): ${(e as Error).stack ?? String(e)}\n`);
      process.exitCode = 5;
    }
  },
);
