/**
 * Shows that sharding does not change the verdict: runs the browser suites once as a single run and once as
 * N Playwright shards (`--shard=i/N`, blob reports) merged with gate:merge, then compares the two verdicts:
 * the same check list (runtime, id, status), the same failed list, the same reason codes, the same acceptance.
 * Exit 0 when they agree, 1 with the differences otherwise.
 *
 *   npx tsx scripts/shard-check.ts [--bundle <dir>] [--browsers chromium] [--shards 3] [--browser-suites a,b] [--reports <dir>]
 * (one engine keeps it short; the nightly recipe in docs/nightly.md runs all three)
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DEFAULT_BROWSER_TIMEOUT_MIN, mergeShards, runGate, type GateOptions } from '../harness/gate/gate.js';
import type { Verdict } from '../harness/gate/types.js';

function arg(name: string, d?: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : d;
}

const bundle = arg('--bundle', process.env.TINYDIT_BUNDLE ?? 'fixtures/default')!;
const browsers = arg('--browsers', 'chromium')!.split(',');
const shards = Number(arg('--shards', '3'));
const suites = arg('--browser-suites')?.split(',');
const reports = resolve(arg('--reports', mkdtempSync(join(tmpdir(), 'shard-check-')))!);

const common: Omit<GateOptions, 'commandLine'> = {
  bundle,
  reportsRoot: reports,
  node: false,
  browsers,
  allowNarrow: true,
  failOnDrift: false,
  history: null,
  screenshot: false,
  verbose: false,
  nodeTimeoutMs: 60_000,
  browserTimeoutMs: DEFAULT_BROWSER_TIMEOUT_MIN * 60_000,
  ...(suites ? { browserSuites: suites } : {}),
};

/** What must be equal between a single run and merged shards. */
function essence(v: Verdict): { checks: string[]; failed: string[]; reasons: string[]; accepted: boolean; level: string; tests: string[] } {
  return {
    checks: v.checks.map((c) => `${c.runtime} ${c.status} ${c.id}`).sort(),
    failed: [...v.failed].sort(),
    reasons: [...new Set(v.reasons.map((r) => r.code))].sort(),
    accepted: v.accepted,
    level: v.level,
    tests: [
      `vitest ${v.counts.tests.vitest}`,
      `playwright ${v.counts.tests.playwright}`,
      `failed ${v.counts.tests.failed}`,
      `not run ${v.counts.tests.notRun}`,
    ],
  };
}

function diff(a: string[], b: string[]): { onlyA: string[]; onlyB: string[] } {
  const sa = new Set(a);
  const sb = new Set(b);
  return { onlyA: a.filter((x) => !sb.has(x)), onlyB: b.filter((x) => !sa.has(x)) };
}

process.stderr.write(`[shard-check] reports in ${reports}\n[shard-check] 1/${shards + 2}: single run (${browsers.join(', ')})\n`);
const single = await runGate({ ...common, runId: 'single', commandLine: 'shard-check single' });
const shardDirs: string[] = [];
for (let i = 1; i <= shards; i++) {
  process.stderr.write(`[shard-check] ${i + 1}/${shards + 2}: shard ${i}/${shards}\n`);
  const r = await runGate({
    ...common,
    shard: `${i}/${shards}`,
    runId: `shard-${i}-of-${shards}`,
    commandLine: `shard-check shard ${i}/${shards}`,
  });
  shardDirs.push(r.runDir);
}
process.stderr.write(`[shard-check] ${shards + 2}/${shards + 2}: gate:merge of ${shards} shards\n`);
const merged = await mergeShards({
  inputs: shardDirs,
  bundle,
  reportsRoot: reports,
  allowNarrow: true,
  failOnDrift: false,
  history: null,
  runId: 'merged',
  screenshot: false,
  commandLine: 'shard-check merge',
});

const a = essence(single.verdict);
const b = essence(merged.verdict);
const problems: string[] = [];
for (const k of ['checks', 'failed', 'reasons', 'tests'] as const) {
  const d = diff(a[k], b[k]);
  if (d.onlyA.length || d.onlyB.length)
    problems.push(
      `${k}: only in the single run [${d.onlyA.slice(0, 10).join(' | ')}]; only in the merged shards [${d.onlyB.slice(0, 10).join(' | ')}]`,
    );
}
if (a.accepted !== b.accepted) problems.push(`accepted: single ${a.accepted}, merged ${b.accepted}`);
if (a.level !== b.level) problems.push(`level: single ${a.level}, merged ${b.level}`);
const perShard = shardDirs.map((d, i) => `shard ${i + 1}: ${d}`).join('\n  ');
process.stdout.write(
  `single run: ${single.runDir}\n  ${perShard}\nmerged:     ${merged.runDir}\n` +
    `single: accepted=${a.accepted}, ${a.checks.length} checks, ${a.failed.length} failed, tests ${a.tests.join(', ')}, reasons [${a.reasons.join(', ')}]\n` +
    `merged: accepted=${b.accepted}, ${b.checks.length} checks, ${b.failed.length} failed, tests ${b.tests.join(', ')}, reasons [${b.reasons.join(', ')}]\n` +
    (problems.length ? `DIFFERENT:\n  ${problems.join('\n  ')}\n` : `SAME verdict and check list from ${shards} shards as from one run\n`),
);
process.exitCode = problems.length || a.checks.length === 0 ? 1 : 0;
if (a.checks.length === 0) process.stdout.write('no check ran: nothing was compared\n');
