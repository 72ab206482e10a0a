/**
 * The judge's view in verdict.json: what the judge family (suites/node/judge.test.ts, docs/yardstick.md) saw, read
 * from its evidence in the run folder after the suites ran: images/judge/guided.json (per-breed accuracy, KID and
 * validity with their limits, the confusion matrix, each image's verdict) and the PNGs beside it. Nothing here
 * judges: the judge's records in checks.jsonl decide; this carries their numbers to the verdict and the page.
 *
 * Fail closed: when the judge family was in the run's scope and the file is missing, unreadable or not the shape the
 * suite writes, the section says 'missing' with the path and the problem, never a view that could read as a pass.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isSelfTest } from './records.js';
import { isBrowserRuntime } from './replay.js';
import type { GateMode, GateRecord, JudgeBreed, JudgeMisjudged, JudgeSection, JudgeView, Scope } from './types.js';

/** Where the judge family writes its evidence, relative to the run folder. */
export const JUDGE_EVIDENCE = 'images/judge/guided.json';
/** The PNGs of evidence files older than their `gridImage` / `misjudgedImage` fields. */
const DEFAULT_GRID = 'images/judge_model-guided/grid.png';
const DEFAULT_MISJUDGED = 'images/judge_model-guided/misjudged.png';
const JUDGE_SUITE = 'suites/node/judge.test.ts';

export interface JudgeScope {
  scope: Scope;
  level: string;
  mode: GateMode;
  /** The bundle was refused before any suite ran. */
  refused: boolean;
  /** The run was interrupted (its evidence may not have been written yet). */
  interrupted?: boolean;
  records: GateRecord[];
}

/**
 * A record of the Node judge family, whose evidence this section reads. The browser suite's judge records
 * (`judge:engine=...`, the judge scoring the images a browser generated) carry their own numbers and leave no
 * images/judge/guided.json: a browser-only run is not a judge run with its evidence missing.
 */
const nodeJudgeRecord = (r: GateRecord): boolean => r.check === 'judge' && !isSelfTest(r) && !isBrowserRuntime(r.runtime);

/** Why the run's scope left the judge family out, or null when it was in scope. */
export function judgeOutOfScope(s: JudgeScope): string | null {
  if (s.records.some(nodeJudgeRecord)) return null;
  if (s.refused) return 'the bundle was refused before any suite ran';
  if (!s.scope.node) return 'the Node suites did not run';
  if (s.mode === 'screen') return 'a --screen run does not run the judge family';
  if (s.level !== 'full') return `the bundle's level is ${s.level}: the judge family runs on bundles with goldens`;
  const limited = s.scope.suites?.node;
  if (limited?.length && !limited.some((f) => f.endsWith('judge.test.ts'))) return `the Node suites were limited to ${limited.join(', ')}`;
  if (s.scope.env?.TINYDIT_GATE_FIXTURE) return "the Node suites were replaced by the gate's own test fixtures";
  if (s.scope.grep || s.scope.env?.TINYDIT_CASE)
    return `a case filter (${s.scope.grep ? `--grep ${s.scope.grep}` : `TINYDIT_CASE=${s.scope.env?.TINYDIT_CASE}`}) left no judge case`;
  return null;
}

class Malformed extends Error {}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function field(o: Record<string, unknown>, key: string, where: string): unknown {
  if (!(key in o)) throw new Malformed(`${where}.${key} is missing`);
  return o[key];
}

function numberAt(o: Record<string, unknown>, key: string, where: string): number {
  const v = field(o, key, where);
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new Malformed(`${where}.${key} is ${JSON.stringify(v)}, not a finite number`);
  return v;
}

function boolAt(o: Record<string, unknown>, key: string, where: string): boolean {
  const v = field(o, key, where);
  if (typeof v !== 'boolean') throw new Malformed(`${where}.${key} is ${JSON.stringify(v)}, not true or false`);
  return v;
}

function arrayAt(o: Record<string, unknown>, key: string, where: string): unknown[] {
  const v = field(o, key, where);
  if (!Array.isArray(v)) throw new Malformed(`${where}.${key} is not a list`);
  return v;
}

const optString = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);

/** The run folder's path of an evidence PNG, or null with the problem when it is not there. */
function pngIn(runDir: string, rel: string, what: string, problems: string[]): string | null {
  if (existsSync(join(runDir, rel))) return rel;
  problems.push(`${what} ${rel} is not in the run folder`);
  return null;
}

/** Parses the judge family's evidence file (suites/node/judge.test.ts summaryOf); throws Malformed naming the field. */
function parseEvidence(raw: unknown, runDir: string, records: GateRecord[]): JudgeView {
  if (!isObj(raw)) throw new Malformed('not a JSON object');
  const breeds = arrayAt(raw, 'breeds', 'evidence');
  if (breeds.length === 0 || !breeds.every((b): b is string => typeof b === 'string'))
    throw new Malformed('evidence.breeds is not a list of breed names');
  const K = breeds.length;
  const n = numberAt(raw, 'n', 'evidence');
  const counts = arrayAt(raw, 'confusion', 'evidence').map((row, a) => {
    if (!Array.isArray(row) || row.length !== K || !row.every((x): x is number => typeof x === 'number' && Number.isInteger(x) && x >= 0)) {
      throw new Malformed(`evidence.confusion[${a}] is not ${K} counts`);
    }
    return row;
  });
  if (counts.length !== K) throw new Malformed(`evidence.confusion has ${counts.length} rows for ${K} breeds`);
  const perBreed = arrayAt(raw, 'perBreed', 'evidence').map((r, k): JudgeBreed => {
    const where = `evidence.perBreed[${k}]`;
    if (!isObj(r)) throw new Malformed(`${where} is not an object`);
    const name = field(r, 'name', where);
    if (typeof name !== 'string' || !breeds.includes(name))
      throw new Malformed(`${where}.name ${JSON.stringify(name)} is not one of evidence.breeds`);
    const kid = field(r, 'kid', where);
    if (kid !== null && (typeof kid !== 'number' || !Number.isFinite(kid)))
      throw new Malformed(`${where}.kid is ${JSON.stringify(kid)}, not a number`);
    const accuracyPass = boolAt(r, 'accuracyPass', where);
    const kidPass = boolAt(r, 'kidPass', where) && kid !== null;
    const validityPass = boolAt(r, 'validityPass', where);
    return {
      breed: name,
      n: numberAt(r, 'n', where),
      top1: numberAt(r, 'top1', where),
      top2: numberAt(r, 'top2', where),
      top2Limit: numberAt(r, 'top2Min', where),
      kid,
      kidFloor: numberAt(r, 'kidMax', where),
      kidBandP99: numberAt(r, 'kidBandP99', where),
      validityBad: numberAt(r, 'validityBad', where),
      accuracyPass,
      kidPass,
      validityPass,
      pass: accuracyPass && kidPass && validityPass,
    };
  });
  if (perBreed.length !== K) throw new Malformed(`evidence.perBreed has ${perBreed.length} breeds, evidence.breeds ${K}`);
  const seeds = optString(raw.seeds) ?? '';
  const firstSeed = /^(\d+)\.\./.exec(seeds);
  const misjudged: JudgeMisjudged[] = [];
  arrayAt(raw, 'images', 'evidence').forEach((im, i) => {
    if (!isObj(im)) throw new Malformed(`evidence.images[${i}] is not an object`);
    const asked = field(im, 'asked', `evidence.images[${i}]`);
    const judged = field(im, 'judged', `evidence.images[${i}]`);
    if (typeof asked !== 'string' || typeof judged !== 'string')
      throw new Malformed(`evidence.images[${i}]: asked and judged must be breed names`);
    if (asked === judged) return;
    // evidence older than its per-image seed: image i = breed * n + k was sampled with the first seed + k
    const seed = typeof im.seed === 'number' ? im.seed : firstSeed ? Number(firstSeed[1]) + (i % n) : null;
    misjudged.push({ asked, judged, seed, rank: typeof im.rank === 'number' ? im.rank : null });
  });
  const order = (b: string): number => breeds.indexOf(b);
  misjudged.sort((a, b) => order(a.asked) - order(b.asked) || (a.seed ?? 0) - (b.seed ?? 0));
  const problems: string[] = [];
  let dataset = optString(raw.dataset);
  if (dataset === null) {
    const y = records.find((r) => r.id === 'judge:check=yardstick');
    dataset = optString(y?.metrics.dataset);
    problems.push(
      dataset
        ? 'the evidence does not name its dataset: taken from the judge:check=yardstick record'
        : 'the evidence does not name its dataset, and no judge:check=yardstick record does',
    );
  }
  const grid = pngIn(runDir, optString(raw.gridImage) ?? DEFAULT_GRID, 'the grid of every judged image', problems);
  const sheet = optString(raw.misjudgedImage);
  const misjudgedPng =
    misjudged.length === 0
      ? 'none'
      : pngIn(runDir, sheet && sheet !== 'none' ? sheet : DEFAULT_MISJUDGED, 'the sheet of the misjudged images', problems);
  const top1 = numberAt(raw, 'pooledTop1', 'evidence');
  const limit = numberAt(raw, 'pooledMin', 'evidence');
  const pooled = { top1, limit, images: counts.flat().reduce((s, x) => s + x, 0), pass: top1 >= limit };
  return {
    state: 'present',
    source: JUDGE_EVIDENCE,
    dataset,
    n,
    seeds,
    perBreed,
    pooled,
    confusion: { breeds, counts },
    misjudged,
    images: { grid, misjudged: misjudgedPng },
    allPass: pooled.pass && perBreed.every((b) => b.pass),
    problems,
  };
}

/** The judge section of a run folder's verdict (see JudgeSection). */
export function judgeSection(runDir: string, s: JudgeScope): JudgeSection {
  const path = join(runDir, JUDGE_EVIDENCE);
  let problem: string;
  if (existsSync(path)) {
    try {
      return parseEvidence(JSON.parse(readFileSync(path, 'utf8')), runDir, s.records);
    } catch (e) {
      problem = e instanceof Malformed ? `not the judge family's evidence (${e.message})` : `unreadable (${(e as Error).message})`;
    }
  } else {
    const why = judgeOutOfScope(s);
    if (why !== null) return { state: 'not-run', source: JUDGE_EVIDENCE, why };
    problem = s.interrupted ? 'not written (the run was interrupted)' : 'not written';
  }
  const cause = s.records.find((r) => nodeJudgeRecord(r) && r.status !== 'pass');
  return {
    state: 'missing',
    source: JUDGE_EVIDENCE,
    problem:
      `${JUDGE_EVIDENCE} is ${problem}, though the judge family (${JUDGE_SUITE}) was in this run's scope: the judge's view of the images is unknown, which is not a pass` +
      (cause ? `; ${cause.id} ${cause.status === 'error' ? 'errored' : 'failed'}: ${cause.message.slice(0, 300)}` : ''),
  };
}
