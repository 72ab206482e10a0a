/**
 * Gate power in CI: every cheap mutant of the catalogue (harness/mutants/catalogue.ts) is built in memory from
 * the bundle under test and run through the Node checks aimed at it (harness/mutants/judges.ts: the harness
 * functions the Node suites are built on, on a reduced set of cases); each must be caught by at least one of
 * them, and the same judges must pass the bundle's own model (the control). The full gate on every mutant,
 * browsers included, is `npm run gate:power` (docs/gate-power.md).
 * Cases: gate-power:mutant=<name> (a self-test: pass = caught), gate-power:selftest=control,key=<check key>,
 * gate-power:selftest=<unit> for the kill-matrix and edit arithmetic.
 */
import { describe, expect, it } from 'vitest';
import { loadBundle, type Bundle } from '../../harness/model/bundle.js';
import { bundleDir } from '../../harness/core/config.js';
import type { Verdict, VerdictCheck } from '../../harness/gate/types.js';
import { CATALOGUE } from '../../harness/mutants/catalogue.js';
import { roundToHalf } from '../../harness/mutants/edits.js';
import { DIRECT_JUDGES, judge, type JudgeOutcome } from '../../harness/mutants/judges.js';
import { DEFAULT_MUTANTS_DIR, inMemory, PYTHON_SUBDIR } from '../../harness/mutants/materialise.js';
import { checkKey, formsTable, matrixPasses, summarise, verdictKeys } from '../../harness/mutants/matrix.js';
import { recordCheck } from '../../harness/core/record-check.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const RUNTIME = 'node';
const FAMILY = 'gate-power';
/** Cheap mutants run here; the Python ones and page faults only in `npm run gate:power`. */
const CHEAP = CATALOGUE.filter((m) => m.cheap);

const loaded = await loadBundle(bundleDir(), { require: 'full' }).then(
  (b) => ({ bundle: b }),
  (e: Error) => ({ error: e }),
);

function directKeys(expectKeys: string[]): string[] {
  return expectKeys.filter((k) => DIRECT_JUDGES[k] !== undefined);
}

function summary(outcomes: JudgeOutcome[]): string {
  return outcomes.map((o) => `${o.key} ${o.pass ? 'passed' : 'FAILED'} ${o.message.split('\n')[0]!.slice(0, 240)}`).join('; ');
}

describe('the catalogue is well formed', () => {
  it('gate-power:selftest=catalogue', () => {
    const names = CATALOGUE.map((m) => m.name);
    const problems: string[] = [];
    const dupes = names.filter((n, i) => names.indexOf(n) !== i);
    if (dupes.length) problems.push(`duplicate names ${dupes.join(', ')}`);
    for (const m of CATALOGUE) {
      if (!/^[a-z0-9][a-z0-9-]*$/.test(m.name)) problems.push(`${m.name}: the name must be a folder-safe slug`);
      if (m.expect.length === 0) problems.push(`${m.name}: no aimed check`);
      if (m.cheap && (m.python?.length || m.kind === 'browser')) problems.push(`${m.name}: a cheap mutant cannot need Python or a browser`);
      if (m.cheap && directKeys(m.expect).length === 0)
        problems.push(
          `${m.name}: cheap, but none of its aimed checks (${m.expect.join(', ')}) has a direct judge in harness/mutants/judges.ts`,
        );
    }
    recordCheck({
      id: `${FAMILY}:selftest=catalogue`,
      check: FAMILY,
      runtime: RUNTIME,
      status: problems.length ? 'fail' : 'pass',
      metrics: { mutants: CATALOGUE.length, cheap: CHEAP.length },
      message: problems.join('; ') || `${CATALOGUE.length} mutants, ${CHEAP.length} cheap`,
    });
    expect(problems).toEqual([]);
  });

  it('gate-power:selftest=half-rounding', () => {
    // float16 facts: 1/3 -> 0x3555 = 0.333251953125; 2049 ties to even 2048; 65504 is the largest half; 65520 overflows;
    // 2^-24 is the smallest subnormal, below half of it rounds to 0
    const cases: [number, number][] = [
      [1 / 3, 0.333251953125],
      [2049, 2048],
      [2051, 2052],
      [65504, 65504],
      [65520, Infinity],
      [-(2 ** -24), -(2 ** -24)],
      [2 ** -26, 0],
      [0.1, 0.0999755859375],
    ];
    const wrong = cases
      .filter(([x, want]) => roundToHalf(Math.fround(x)) !== want)
      .map(([x, want]) => `${x} -> ${roundToHalf(Math.fround(x))} (want ${want})`);
    recordCheck({
      id: `${FAMILY}:selftest=half-rounding`,
      check: FAMILY,
      runtime: RUNTIME,
      status: wrong.length ? 'fail' : 'pass',
      metrics: { cases: cases.length },
      message: wrong.join('; ') || 'float16 rounding as IEEE 754',
    });
    expect(wrong).toEqual([]);
  });

  it('gate-power:selftest=matrix-outcomes', () => {
    const check = (id: string, status: VerdictCheck['status'], selfTest = false): VerdictCheck => ({
      id,
      check: id.slice(0, id.indexOf(':')),
      runtime: 'node',
      status,
      metrics: {},
      threshold: {},
      message: `${id} ${status}`,
      artifacts: [],
      selfTest,
      source: 'record',
    });
    const verdict = (accepted: boolean, checks: VerdictCheck[]): Verdict =>
      ({ complete: true, accepted, checks, reasons: [], level: 'full' }) as unknown as Verdict;
    /** A verdict of the current gate: an outcome, reason codes, a scope (env: the narrowing variables recorded). */
    const gated = (outcome: string, checks: VerdictCheck[], codes: string[] = [], env?: Record<string, string>, level = 'full'): Verdict =>
      ({
        complete: true,
        outcome,
        accepted: outcome === 'accepted',
        checks,
        level,
        reasons: codes.map((code) => ({ code, message: `${code} message` })),
        scope: { full: false, node: true, browsers: [], narrowed: ['browser suites not run'], allowNarrow: false, ...(env ? { env } : {}) },
      }) as unknown as Verdict;
    const base = {
      name: 'm',
      description: '',
      kind: 'node',
      origin: [],
      expect: ['behaviour/depends-on-breed', 'velocity'],
      scope: 'node',
      runDir: null,
      durationS: null,
    };
    const aimedAt = (...expect: string[]) => ({ ...base, expect });
    const outcomes = {
      aimed: summarise({
        ...base,
        verdict: verdict(false, [check('behaviour:check=depends-on-breed,variant=guided', 'fail'), check('trajectory:x=1', 'fail')]),
      }).outcome,
      unaimed: summarise({ ...base, verdict: verdict(false, [check('trajectory:x=1', 'fail'), check('velocity:mutant=z', 'fail', true)]) })
        .outcome,
      missed: summarise({ ...base, verdict: verdict(true, [check('velocity:x=1', 'pass')]) }).outcome,
      prefix: summarise({ ...base, verdict: verdict(false, [check('velocity:variant=raw,t=0.5', 'error')]) }).outcome,
      incomplete: summarise({ ...base, verdict: { complete: false } as unknown as Verdict }).outcome,
      // a node-only run that passed everything: passed-narrowed is "not rejected"
      narrowedMissed: summarise({ ...base, verdict: gated('passed-narrowed', [check('velocity:x=1', 'pass')]) }).outcome,
      // the trust boundary: records the gate writes from harness/model/trust.ts on a refused bundle
      trustFloor: summarise({
        ...aimedAt('trust/noise-floor'),
        verdict: gated(
          'rejected',
          [check('trust:check=noise-floor,file=goldens/velocity/guided_floor.npy', 'fail')],
          ['bundle-refused'],
          undefined,
          'refused',
        ),
      }).outcome,
      trustCeiling: summarise({
        ...aimedAt('trust/tolerance-ceiling'),
        verdict: gated(
          'rejected',
          [check('trust:check=tolerance-ceiling,field=tolerance.velocity.floorMultiple', 'fail')],
          ['bundle-refused'],
          undefined,
          'refused',
        ),
      }).outcome,
      // verdict keys: no goldens (never accepted), narrowing variables in the scope, goldens nobody verified
      goldensMissing: summarise({
        ...aimedAt('verdict/goldens-missing'),
        verdict: gated('rejected', [check('contract:aspect=io-names', 'pass')], ['goldens-missing'], undefined, 'contract-only'),
      }).outcome,
      narrowedByEnv: summarise({
        ...aimedAt('verdict/narrowed-by-env'),
        verdict: gated('passed-narrowed', [check('velocity:x=1', 'pass')], [], { TINYDIT_CASE: 'Bombay' }),
      }).outcome,
      narrowedNoEnv: summarise({
        ...aimedAt('verdict/narrowed-by-env'),
        verdict: gated('passed-narrowed', [check('velocity:x=1', 'pass')]),
      }).outcome,
      unverifiedAimed: summarise({
        ...aimedAt('verdict/goldens-unverified'),
        verdict: gated('passed-narrowed', [], ['goldens-unverified']),
      }).outcome,
      // provenance aimed, but it did not run: passed on scope (goldens-unverified is not a provenance failure)
      provenanceNotRun: summarise({
        ...aimedAt('provenance'),
        verdict: gated('passed-narrowed', [check('velocity:x=1', 'pass')], ['goldens-unverified']),
      }).outcome,
      provenanceFailed: summarise({
        ...aimedAt('provenance'),
        verdict: gated('rejected', [check('provenance:part=velocity,variant=guided', 'fail'), check('velocity:x=1', 'fail')]),
      }).outcome,
      // a narrowed run with a failure that is not aimed: rejected for the wrong reason
      narrowedUnaimed: summarise({
        ...aimedAt('provenance'),
        verdict: gated('rejected', [check('velocity:x=1', 'fail')], ['goldens-unverified']),
      }).outcome,
      // the harness could not judge (an engine crashed): counted apart, never caught, even when an aimed check errored
      inconclusive: summarise({
        ...base,
        verdict: gated('inconclusive', [check('velocity:variant=raw,t=0.5', 'error')], ['engine-crashed']),
      }).outcome,
    };
    const want = {
      aimed: 'caught',
      unaimed: 'caught-unaimed',
      missed: 'missed',
      prefix: 'caught',
      incomplete: 'no-verdict',
      narrowedMissed: 'missed',
      trustFloor: 'caught',
      trustCeiling: 'caught',
      goldensMissing: 'caught',
      narrowedByEnv: 'caught',
      narrowedNoEnv: 'missed',
      unverifiedAimed: 'caught',
      provenanceNotRun: 'missed',
      provenanceFailed: 'caught',
      narrowedUnaimed: 'caught-unaimed',
      inconclusive: 'inconclusive',
    };
    const keyOk =
      checkKey({ id: 'contract:variant=guided,aspect=io-names', check: 'contract' }) === 'contract/io-names' &&
      checkKey({ id: 'trust:check=noise-floor,file=goldens/trajectories/floor.npy', check: 'trust' }) === 'trust/noise-floor' &&
      checkKey({ id: 'provenance:part=trajectory,breed=Bombay', check: 'provenance' }) === 'provenance';
    const vk = verdictKeys(gated('rejected', [], ['goldens-missing', 'goldens-unverified'], { TINYDIT_CASE: 'x' }));
    const verdictKeysOk =
      JSON.stringify(vk) === JSON.stringify(['verdict/goldens-missing', 'verdict/goldens-unverified', 'verdict/narrowed-by-env']) &&
      verdictKeys(verdict(true, [])).length === 0;
    const good = summarise({ ...base, name: 'good-model', expect: [], verdict: verdict(true, []) });
    const gatePass = matrixPasses(good, [summarise({ ...base, verdict: verdict(true, []) })]).pass;
    const ok = JSON.stringify(outcomes) === JSON.stringify(want) && keyOk && verdictKeysOk && gatePass === false;
    recordCheck({
      id: `${FAMILY}:selftest=matrix-outcomes`,
      check: FAMILY,
      runtime: RUNTIME,
      status: ok ? 'pass' : 'fail',
      metrics: { outcomes: JSON.stringify(outcomes), keyOk, verdictKeysOk, missedFailsMatrix: !gatePass },
      message: ok
        ? 'kill-matrix outcomes as specified'
        : `got ${JSON.stringify(outcomes)}, want ${JSON.stringify(want)}; keys ok ${keyOk}; verdict keys ${JSON.stringify(vk)}; a missed mutant fails the matrix: ${!gatePass}`,
    });
    expect(outcomes).toEqual(want);
    expect(keyOk).toBe(true);
    expect(verdictKeysOk).toBe(true);
    expect(gatePass).toBe(false);
  });

  it('gate-power:selftest=matrix-two-forms', () => {
    // each self-consistent mutant names the export-form mutant of its fault (when there is one), and the matrix
    // shows the two side by side
    const sc = CATALOGUE.filter((m) => m.form === 'self-consistent');
    const badLinks = sc
      .filter(
        (m) => !m.python?.includes(m.name) || (m.fault !== m.name && !CATALOGUE.some((x) => x.name === m.fault && x.form === undefined)),
      )
      .map((m) => `${m.name} (fault ${m.fault})`);
    const run = (name: string, form: 'export' | 'self-consistent', fault: string, failed: string[]) =>
      summarise({
        name,
        description: '',
        kind: 'node',
        origin: [],
        expect: ['judge/accuracy', 'velocity'],
        scope: 'node',
        runDir: null,
        durationS: null,
        form,
        fault,
        verdict: {
          complete: true,
          outcome: 'rejected',
          accepted: false,
          level: 'full',
          reasons: [],
          checks: failed.map((id) => ({
            id,
            check: id.slice(0, id.indexOf(':')),
            runtime: 'node',
            status: 'fail',
            metrics: {},
            threshold: {},
            message: id,
            artifacts: [],
            selfTest: false,
            source: 'record',
          })),
        } as unknown as Verdict,
      });
    const table = formsTable([
      run('breeds-swapped', 'export', 'breeds-swapped', ['velocity:x=1']),
      run('sc-breeds-swapped', 'self-consistent', 'breeds-swapped', ['judge:check=accuracy,breed=Bombay']),
      run('sc-only', 'self-consistent', 'sc-only', ['judge:check=accuracy,breed=all']),
    ]);
    const row = table.find((l) => l.startsWith('| breeds-swapped |')) ?? '';
    const ok =
      sc.length >= 10 &&
      badLinks.length === 0 &&
      row.includes('`breeds-swapped`: rejected by velocity') &&
      row.includes('`sc-breeds-swapped`: rejected by judge/accuracy') &&
      table.some((l) => l.startsWith('| sc-only | (no export-form mutant')) &&
      formsTable([run('x', 'export', 'x', [])]).length === 0;
    recordCheck({
      id: `${FAMILY}:selftest=matrix-two-forms`,
      check: FAMILY,
      runtime: RUNTIME,
      status: ok ? 'pass' : 'fail',
      metrics: { selfConsistent: sc.length, badLinks: badLinks.length },
      message: ok
        ? `${sc.length} self-consistent mutants, each linked to its fault; the two-forms table as specified`
        : `bad links: ${badLinks.join(', ') || 'none'}; table: ${table.join(' / ')}`,
    });
    expect(badLinks).toEqual([]);
    expect(ok).toBe(true);
  });
});

if ('error' in loaded) {
  it('gate-power: bundle loads', () => {
    recordCheck({ id: `${FAMILY}:bundle`, check: FAMILY, runtime: RUNTIME, status: 'error', metrics: {}, message: loaded.error.message });
    throw loaded.error;
  });
} else {
  const bundle: Bundle = loaded.bundle;
  const pythonDir = join(DEFAULT_MUTANTS_DIR, PYTHON_SUBDIR); // cheap mutants need no Python file; named in errors only
  const models = Object.fromEntries(bundle.variantNames.map((v) => [v, new Uint8Array(readFileSync(bundle.variantPath(v)))]));
  const controlKeys = [...new Set(CHEAP.flatMap((m) => directKeys(m.expect)))];

  describe('gate power: the bundle passes the aimed judges (control)', () => {
    it(`${FAMILY}:selftest=control`, async () => {
      const out = await judge({ bundle, manifest: bundle.manifest, models }, controlKeys, bundle.dir);
      for (const k of controlKeys) {
        const mine = out.filter((o) => o.key === k);
        const ok = mine.length > 0 && mine.every((o) => o.pass);
        recordCheck({
          id: `${FAMILY}:selftest=control,key=${k}`,
          check: FAMILY,
          runtime: RUNTIME,
          status: ok ? 'pass' : 'fail',
          metrics: { judged: mine.length },
          message: ok
            ? `the bundle's own model passes ${k}`
            : `the bundle's own model fails the ${k} judge, so a mutant failing it proves nothing: ${summary(mine.filter((o) => !o.pass))}`,
        });
      }
      expect(
        out.filter((o) => !o.pass),
        summary(out.filter((o) => !o.pass)),
      ).toEqual([]);
    });
  });

  describe('gate power: each cheap mutant is caught by a check aimed at it', () => {
    for (const m of CHEAP) {
      const id = `${FAMILY}:mutant=${m.name}`;
      it(id, async () => {
        const keys = directKeys(m.expect);
        let out: JudgeOutcome[];
        try {
          const mem = inMemory(m, bundle, { pythonDir });
          out = await judge(
            { bundle, manifest: mem.manifest, models: mem.models, goldens: mem.goldens },
            keys,
            `${bundle.dir} [mutant ${m.name}]`,
          );
        } catch (e) {
          recordCheck({
            id,
            check: FAMILY,
            runtime: RUNTIME,
            status: 'error',
            metrics: { mutant: m.name },
            message: `cannot build or judge mutant ${m.name}: ${(e as Error).message}`,
          });
          throw e;
        }
        const caughtBy = [...new Set(out.filter((o) => !o.pass).map((o) => o.key))];
        const caught = caughtBy.length > 0;
        recordCheck({
          id,
          check: FAMILY,
          runtime: RUNTIME,
          status: caught ? 'pass' : 'fail',
          metrics: { mutant: m.name, judged: keys.join(','), caughtBy: caughtBy.join(',') || null },
          message: caught
            ? `caught by ${caughtBy.join(', ')}: ${summary(out.filter((o) => !o.pass)).slice(0, 600)}`
            : `mutant ${m.name} (${m.description}) PASSED every aimed check judged here (${keys.join(', ')}): ${summary(out)}`,
        });
        expect(caught, `mutant ${m.name} was not caught by ${keys.join(', ')}: ${summary(out)}`).toBe(true);
      });
    }
  });
}
