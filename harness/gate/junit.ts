/**
 * The verdict as a JUnit file (junit-verdict.xml in the run folder), for CI systems that show JUnit and nothing
 * else: one test case `verdict > outcome` that fails (type rejected) when the model is at fault, errors (type
 * inconclusive) when the harness or the environment could not judge, and fails (type screened or
 * passed-narrowed) when the run is no release decision; then one test case per check family, failing with the ids
 * of its failed checks or erroring with those that could not run. Proofs are the family `proofs`. The runners' own
 * JUnit files (junit-node.xml, junit-browser.xml) stay beside it, test by test.
 */
import type { Verdict, VerdictCheck } from './types.js';

const xml = (s: string): string =>
  s
    .replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!)
    // characters XML 1.0 does not allow
    .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F]/g, '');

function familyCase(name: string, checks: VerdictCheck[]): { xml: string; failed: boolean; errored: boolean } {
  const failed = checks.filter((c) => c.status === 'fail');
  const errored = checks.filter((c) => c.status === 'error');
  const list = (cs: VerdictCheck[]): string =>
    cs
      .slice(0, 50)
      .map((c) => `${c.id}: ${c.message.split('\n')[0]!.slice(0, 300)}`)
      .join('\n') + (cs.length > 50 ? `\n... and ${cs.length - 50} more in verdict.json` : '');
  let body = '';
  if (failed.length)
    body = `<failure type="failed" message="${xml(`${failed.length} of ${checks.length} ${name} check(s) failed`)}">${xml(list(failed))}</failure>`;
  else if (errored.length)
    body = `<error type="errored" message="${xml(`${errored.length} of ${checks.length} ${name} check(s) could not run`)}">${xml(list(errored))}</error>`;
  return {
    xml: `    <testcase classname="checks" name="${xml(name)}" assertions="${checks.length}">${body}</testcase>`,
    failed: failed.length > 0,
    errored: !failed.length && errored.length > 0,
  };
}

export function renderJUnitVerdict(v: Verdict): string {
  const outcome = v.outcome ?? (v.accepted ? 'accepted' : 'rejected');
  const families = new Map<string, VerdictCheck[]>();
  for (const c of v.checks) {
    const k = c.selfTest ? 'proofs' : c.check;
    (families.get(k) ?? families.set(k, []).get(k)!).push(c);
  }
  const cases = [...families.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([k, cs]) => familyCase(k, cs));
  const why = [
    v.reason,
    ...v.reasons.slice(0, 12).map((r) => `[${r.code}] ${r.message.split('\n')[0]}`),
    ...(v.rerun ? [`rerun: ${v.rerun.command}`] : []),
  ]
    .filter(Boolean)
    .join('\n');
  const verdictBody =
    outcome === 'accepted'
      ? ''
      : outcome === 'inconclusive'
        ? `<error type="inconclusive" message="${xml(`INCONCLUSIVE: ${v.reason}`.slice(0, 500))}">${xml(why)}</error>`
        : `<failure type="${outcome}" message="${xml(`${outcome === 'rejected' ? 'REJECTED' : outcome.toUpperCase() + ' (not a release decision)'}: ${v.reason}`.slice(0, 500))}">${xml(why)}</failure>`;
  const tests = cases.length + 1;
  const failures = cases.filter((c) => c.failed).length + (outcome !== 'accepted' && outcome !== 'inconclusive' ? 1 : 0);
  const errors = cases.filter((c) => c.errored).length + (outcome === 'inconclusive' ? 1 : 0);
  const props = [
    ['outcome', outcome],
    ['mode', v.mode ?? 'gate'],
    ['level', v.level],
    ['scope', v.scope.full ? 'full' : `narrowed: ${v.scope.narrowed.join('; ')}`],
    ['bundle', v.bundle.dir],
    ['bundleDigest', v.bundle.digest ?? ''],
    ['modelSha256', v.bundle.modelSha256 ?? ''],
    ['goldens', v.goldens?.state ?? ''],
    ['runId', v.runId],
  ];
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="tinydit-gate" tests="${tests}" failures="${failures}" errors="${errors}">`,
    `  <testsuite name="tinydit-gate verdict: ${xml(outcome)}" tests="${tests}" failures="${failures}" errors="${errors}" timestamp="${xml(v.startedAt)}">`,
    `    <properties>${props.map(([k, val]) => `<property name="${k}" value="${xml(String(val))}"/>`).join('')}</properties>`,
    `    <testcase classname="verdict" name="outcome">${verdictBody}</testcase>`,
    ...cases.map((c) => c.xml),
    '  </testsuite>',
    '</testsuites>',
    '',
  ].join('\n');
}
