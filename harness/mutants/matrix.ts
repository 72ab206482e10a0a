/**
 * The kill matrix: one gate verdict per mutant (and one for the good model) reduced to which check keys
 * rejected it, and whether one of them is a check aimed at the mutant's fault. Pure functions of verdict.json
 * documents, so the table can be rebuilt from a folder of runs and unit-tested on synthetic verdicts.
 */
import { idParams, isSelfTest } from '../gate/records.js';
import type { Verdict, VerdictCheck } from '../gate/types.js';
import type { CheckKey } from './types.js';
import { familyRank } from '../gate/families.js';

/** `behaviour/depends-on-breed`, `contract/io-names`, `velocity`, `test` (a runner failure with no record). */
export function checkKey(c: Pick<VerdictCheck, 'id' | 'check'>): CheckKey {
  const p = idParams(c.id);
  const sub = p.check ?? p.aspect;
  return sub && sub !== c.check ? `${c.check}/${sub}` : c.check;
}

/** Whether a failing key is one of the aimed ones (`velocity` aims at every `velocity/...` too). */
export function isAimed(key: CheckKey, expect: CheckKey[]): boolean {
  return expect.some((e) => key === e || key.startsWith(`${e}/`));
}

/**
 * Keys the verdict itself fails, not a check record: `verdict/goldens-missing` (reason goldens-missing: a bundle
 * without goldens is never accepted), `verdict/goldens-unverified` (reason goldens-unverified: no provenance record
 * verified the goldens), `verdict/narrowed-by-env` (the scope records narrowing environment variables such as
 * TINYDIT_CASE: the run is never an acceptance).
 */
export function verdictKeys(v: Pick<Verdict, 'reasons'> & { scope?: { env?: Record<string, string> } }): CheckKey[] {
  const codes = new Set((v.reasons ?? []).map((r) => r.code));
  const keys: CheckKey[] = [];
  if (codes.has('goldens-missing')) keys.push('verdict/goldens-missing');
  if (codes.has('goldens-unverified')) keys.push('verdict/goldens-unverified');
  if (Object.keys(v.scope?.env ?? {}).length > 0) keys.push('verdict/narrowed-by-env');
  return keys;
}

export type RunOutcome =
  /** Not accepted, and at least one aimed key failed. */
  | 'caught'
  /** Not passed on its scope, but no aimed key failed (the matrix fails: the gate was right for the wrong reason). */
  | 'caught-unaimed'
  /** Passed on its scope (accepted or passed-narrowed) with no aimed key failing, or accepted: the gate missed it. */
  | 'missed'
  /** The harness or the environment could not judge (verdict outcome 'inconclusive'): neither caught nor missed. */
  | 'inconclusive'
  /** The gate run did not finish or could not be read. */
  | 'no-verdict'
  /** The mutant could not be built or injected (named in `note`). */
  | 'blocked'
  /** Not selected for this scope (e.g. a page fault with --node-only). */
  | 'not-run';

export interface RunSummary {
  name: string;
  description: string;
  kind: string;
  /** 'self-consistent' (the broken checkpoint with goldens made from it) or 'export' (broken model, good goldens). */
  form?: 'export' | 'self-consistent';
  /** The fault both forms share (the two-forms table's row); default the name. */
  fault?: string;
  origin: number[];
  expect: CheckKey[];
  /** The gate's scope for this run: node, node+chromium, ... */
  scope: string;
  outcome: RunOutcome;
  /** The run passed everything in its scope (passedOnScope: accepted, or passed-narrowed); null without a verdict. */
  accepted: boolean | null;
  /** The verdict's own outcome (accepted, rejected, inconclusive, passed-narrowed, ...), when it has one. */
  verdictOutcome?: string;
  /** Failing (fail or error) non-self-test check keys, with how many cases failed under each. */
  failedKeys: Record<CheckKey, number>;
  /** Aimed keys among the failing ones. */
  aimedFailed: CheckKey[];
  /** Self-tests (the suites' own proofs on broken copies) that failed: a broken base makes some proofs moot. */
  selfTestsFailed: number;
  /** Verdict reason codes other than the allowed narrowed scope. */
  reasons: string[];
  /** The first message of an aimed failure (or of any failure), for the report. */
  evidence: string;
  runDir: string | null;
  durationS: number | null;
  /** The verdict of an earlier run was kept (gate-power --reuse). */
  reused?: boolean;
  note?: string;
}

export interface MatrixInput {
  name: string;
  description: string;
  kind: string;
  form?: 'export' | 'self-consistent';
  fault?: string;
  origin: number[];
  expect: CheckKey[];
  scope: string;
  runDir: string | null;
  durationS: number | null;
  verdict: Verdict | null;
  reused?: boolean;
  note?: string;
  blocked?: boolean;
  notRun?: boolean;
}

const IGNORED_REASONS = new Set(['narrowed-scope-allowed', 'narrowed-scope', 'allow-narrow-ignored']);

export function summarise(i: MatrixInput): RunSummary {
  const base = {
    name: i.name,
    description: i.description,
    kind: i.kind,
    origin: i.origin,
    expect: i.expect,
    scope: i.scope,
    runDir: i.runDir,
    ...(i.form ? { form: i.form } : {}),
    ...(i.fault ? { fault: i.fault } : {}),
    durationS: i.durationS,
    failedKeys: {},
    aimedFailed: [],
    selfTestsFailed: 0,
    reasons: [],
    evidence: '',
    accepted: null,
    ...(i.note ? { note: i.note } : {}),
    ...(i.reused ? { reused: true } : {}),
  };
  if (i.notRun) return { ...base, outcome: 'not-run' };
  if (i.blocked) return { ...base, outcome: 'blocked' };
  const v = i.verdict;
  if (!v?.complete || !Array.isArray(v.checks))
    return { ...base, outcome: 'no-verdict', note: i.note ?? 'the gate left no complete verdict.json' };
  const failedKeys: Record<CheckKey, number> = {};
  let selfTestsFailed = 0;
  let evidence = '';
  let aimedEvidence = '';
  for (const c of v.checks) {
    if (c.status === 'pass') continue;
    // a self-test (or the runner's failure of one, whose id carries the test title) proves a check on a broken
    // copy of the model under test: with a broken base it may fail for reasons that say nothing of this mutant
    if (c.selfTest || isSelfTest(c)) {
      selfTestsFailed++;
      continue;
    }
    const k = checkKey(c);
    failedKeys[k] = (failedKeys[k] ?? 0) + 1;
    const line = `${c.id}: ${c.message.split('\n')[0]!.slice(0, 300)}`;
    if (!evidence) evidence = line;
    if (!aimedEvidence && isAimed(k, i.expect)) aimedEvidence = line;
  }
  const reasons = [...new Set(v.reasons.map((r) => r.code).filter((c) => !IGNORED_REASONS.has(c)))];
  if (v.level === 'refused') failedKeys.bundle = 1;
  for (const k of verdictKeys(v)) {
    failedKeys[k] = (failedKeys[k] ?? 0) + 1;
    if (!aimedEvidence && isAimed(k, i.expect)) {
      aimedEvidence =
        k === 'verdict/narrowed-by-env'
          ? `${k}: scope.env ${JSON.stringify(v.scope?.env ?? {})} (outcome ${v.outcome ?? (v.accepted ? 'accepted' : 'not accepted')})`
          : `${k}: ${(v.reasons.find((r) => `verdict/${r.code}` === k)?.message.split('\n')[0] ?? '').slice(0, 300)}`;
    }
  }
  const aimedFailed = Object.keys(failedKeys).filter((k) => isAimed(k, i.expect));
  const passed = passedOnScope(v);
  // caught: an aimed key failed and the verdict is no acceptance (a narrowed run never is, so a mutant whose
  // fault is the narrowing itself is caught by verdict/narrowed-by-env); missed: everything in its scope passed
  // and no aimed key failed (or, whatever failed, it was accepted)
  // inconclusive: the harness could not judge; counted apart, never as caught (issue: harness faults are no verdicts)
  const outcome: RunOutcome =
    v.outcome === 'inconclusive'
      ? 'inconclusive'
      : aimedFailed.length && !v.accepted
        ? 'caught'
        : (passed && !aimedFailed.length) || v.accepted
          ? 'missed'
          : 'caught-unaimed';
  return {
    ...base,
    outcome,
    accepted: passed,
    ...(v.outcome ? { verdictOutcome: v.outcome } : {}),
    failedKeys,
    aimedFailed,
    selfTestsFailed,
    reasons,
    evidence: aimedEvidence || evidence || (v.reasons[0]?.message ?? ''),
  };
}

/**
 * The run passed everything in its scope: accepted, or passed-narrowed (the kill matrix runs node-only and
 * single-engine scopes, which are never acceptances). Verdicts of older gates carry no outcome: their accepted.
 */
export function passedOnScope(v: Pick<Verdict, 'accepted'> & { outcome?: string }): boolean {
  return v.outcome === undefined ? v.accepted : v.outcome === 'accepted' || v.outcome === 'passed-narrowed';
}

export function columns(rows: RunSummary[]): CheckKey[] {
  const keys = new Set<CheckKey>();
  for (const r of rows) {
    for (const k of Object.keys(r.failedKeys)) keys.add(k);
    for (const k of r.expect) keys.add(k);
  }
  // the pipeline's order of families (harness/gate/families.ts), then anything else alphabetically
  return [...keys].sort((a, b) => familyRank(a) - familyRank(b) || a.localeCompare(b));
}

/** The matrix passes when the good model is accepted and every mutant that ran is caught by an aimed check. */
export function matrixPasses(good: RunSummary | null, rows: RunSummary[]): { pass: boolean; problems: string[] } {
  const problems: string[] = [];
  if (!good) problems.push('the good model was not run');
  else if (good.accepted !== true)
    problems.push(
      `the good model was NOT accepted (${good.outcome}; failing: ${Object.keys(good.failedKeys).join(', ') || good.reasons.join(', ') || good.note || '?'})`,
    );
  for (const r of rows) {
    if (r.outcome === 'caught' || r.outcome === 'not-run') continue;
    problems.push(
      `${r.name}: ${r.outcome}${r.outcome === 'caught-unaimed' ? ` (rejected by ${Object.keys(r.failedKeys).join(', ') || r.reasons.join(', ')}, none of ${r.expect.join(', ')})` : ''}${r.note ? `: ${r.note}` : ''}`,
    );
  }
  return { pass: problems.length === 0, problems };
}

const OUTCOME_WORD: Record<RunOutcome, string> = {
  caught: 'rejected',
  'caught-unaimed': 'rejected (not by an aimed check)',
  missed: '**ACCEPTED (missed)**',
  inconclusive: '**inconclusive** (the harness could not judge; rerun)',
  'no-verdict': '**no verdict**',
  blocked: '**blocked**',
  'not-run': 'not run',
};

/** The good model's row: accepted, or passed everything in a narrowed scope (a node-only matrix never accepts). */
function goodWord(r: RunSummary): string {
  return r.verdictOutcome === 'passed-narrowed' ? 'passed its scope (passed-narrowed)' : 'accepted';
}

/** Short column header: `behaviour/depends-on-breed` -> `behaviour<br>depends-on-breed`. */
function header(k: string): string {
  return k.replace('/', '/<br>');
}

/**
 * One row per fault that has a self-consistent form: how the gate judged the broken model next to the good
 * goldens (export form) and the broken checkpoint shipped with goldens regenerated from it (self-consistent form).
 */
export function formsTable(rows: RunSummary[]): string[] {
  const sc = rows.filter((r) => r.form === 'self-consistent');
  if (sc.length === 0) return [];
  const byName = new Map(rows.map((r) => [r.name, r]));
  const cell = (r: RunSummary | undefined): string =>
    !r ? 'not in this run' : `\`${r.name}\`: ${OUTCOME_WORD[r.outcome]}${r.aimedFailed.length ? ` by ${r.aimedFailed.join(', ')}` : ''}`;
  const lines = [
    '',
    '## Each fault in both forms',
    '',
    "Export form: the broken model next to the good checkpoint's goldens. Self-consistent form: the broken checkpoint shipped with " +
      "everything make_bundle.py made from it, so the bundle's own references agree with it and only the gate's own yardsticks can object.",
    '',
    '| fault | export form | self-consistent form |',
    '|---|---|---|',
  ];
  for (const r of sc) {
    const fault = r.fault ?? r.name;
    const exp = fault !== r.name ? byName.get(fault) : undefined;
    lines.push(`| ${fault} | ${fault !== r.name ? cell(exp) : '(no export-form mutant in the catalogue)'} | ${cell(r)} |`);
  }
  return lines;
}

export function renderMarkdown(
  good: RunSummary | null,
  rows: RunSummary[],
  meta: { bundle: string; command: string; date: string; engines: string },
): string {
  const cols = columns(good ? [good, ...rows] : rows);
  const cell = (r: RunSummary, k: string): string => {
    const failed = r.failedKeys[k] !== undefined;
    const aimed = isAimed(k, r.expect);
    if (failed && aimed) return '●';
    if (failed) return '○';
    if (aimed && r.outcome !== 'not-run') return '·';
    return '';
  };
  const lines: string[] = [];
  const verdict = matrixPasses(good, rows);
  lines.push(`# Gate power: the kill matrix`, '');
  lines.push(`Bundle \`${meta.bundle}\`, ${meta.date}, engines: ${meta.engines}. Command: \`${meta.command}\`.`, '');
  lines.push(
    `**${verdict.pass ? 'PASS' : 'FAIL'}**: ${rows.filter((r) => r.outcome === 'caught').length} of ${rows.filter((r) => r.outcome !== 'not-run').length} mutants rejected by an aimed check; ` +
      `good model ${good?.accepted ? goodWord(good) : 'NOT accepted'}.`,
    '',
  );
  if (!verdict.pass) {
    for (const p of verdict.problems) lines.push(`- ${p}`);
    lines.push('');
  }
  lines.push(
    '● failed, and aimed at this fault · aimed, did not fail ○ failed, not aimed (collateral). Cells count check keys of non-self-test records; ' +
      "a key is the record's family plus its `check=`/`aspect=` (e.g. `behaviour/depends-on-breed`).",
    '',
  );
  lines.push(`| mutant | kind | verdict | ${cols.map(header).join(' | ')} |`);
  lines.push(`|---|---|---|${cols.map(() => ':-:').join('|')}|`);
  const row = (r: RunSummary, label: string): string =>
    `| ${label} | ${r.kind} | ${r.name === 'good-model' ? (r.accepted ? goodWord(r) : '**NOT ACCEPTED**') : OUTCOME_WORD[r.outcome]} | ${cols.map((k) => cell(r, k)).join(' | ')} |`;
  if (good) lines.push(row(good, '**good model**'));
  for (const r of rows) lines.push(row(r, `\`${r.name}\``));
  lines.push(...formsTable(rows));
  lines.push('', '## Mutants', '');
  lines.push('| mutant | ORIGIN | what is broken | aimed checks | caught by (aimed) | scope | gate s |');
  lines.push('|---|---|---|---|---|---|--:|');
  for (const r of rows) {
    lines.push(
      `| \`${r.name}\` | ${r.origin.join(', ') || ''} | ${r.description}${r.note ? ` (${r.note})` : ''} | ${r.expect.join(', ')} | ${r.aimedFailed.join(', ') || '-'} | ${r.scope} | ${r.durationS?.toFixed(0) ?? ''}${r.reused ? ' (earlier run)' : ''} |`,
    );
  }
  lines.push('', '## Evidence (first aimed failure of each run)', '');
  for (const r of rows)
    lines.push(`- \`${r.name}\`: ${r.evidence.replace(/\|/g, '\\|') || r.note || r.outcome}${r.runDir ? ` (run: \`${r.runDir}\`)` : ''}`);
  return lines.join('\n') + '\n';
}
