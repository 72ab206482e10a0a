/**
 * One Node benchmark configuration in its own process, so that its peak memory (maxRSS) is the runtime's own:
 *   node --import tsx harness/bench/node-child.ts --bundle DIR --threads N --plan PLAN.json --out RESULT.json
 * Writes { config: ConfigResult, memory: { maxRssMiB, rssAfterLoadMiB, rssStartMiB } }.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NodeDriver } from './node-driver.js';
import { runPlan, type BenchPlan } from './plan.js';

function arg(name: string): string {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? process.argv[i + 1] : undefined;
  if (v === undefined) throw new Error(`node-child: missing --${name}`);
  return v;
}

const dir = arg('bundle');
const threads = Number(arg('threads'));
const plan = JSON.parse(readFileSync(arg('plan'), 'utf8')) as BenchPlan;
const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
const rssStartMiB = process.memoryUsage().rss / 2 ** 20;
const driver = new NodeDriver(dir, manifest);
const config = await runPlan(driver, plan, threads, (l) => process.stderr.write(l + '\n'));
await driver.close();
const memory = {
  rssStartMiB,
  rssAfterLoadMiB: driver.rssAfterLoad,
  // resourceUsage().maxRSS is in KiB: the process's peak resident set over its whole life
  maxRssMiB: process.resourceUsage().maxRSS / 1024,
};
writeFileSync(arg('out'), JSON.stringify({ config, memory }));
