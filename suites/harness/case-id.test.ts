/**
 * Case ids (harness/core/case-id.ts): the TypeScript builder gives the shared vectors of harness/core/case-id.json byte for
 * byte (reference/python/tests/test_case_id.py runs the same vectors through the Python builder), refuses the
 * grammar's invalid cases, and recordCheck refuses to write a record whose id is not canonical. Cases:
 * case-id:part=<what>.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CASE_KEYS, type CaseParams, caseId, caseIdWith, nonCanonical, parseCaseId, SELF_TEST_KEYS } from '../../harness/core/case-id.js';
import { isSelfTest, readRecords } from '../../harness/gate/records.js';
import { matchTest, replayCommand } from '../../harness/gate/replay.js';
import type { RunnerTest } from '../../harness/gate/types.js';
import { recordCheck } from '../../harness/core/record-check.js';

interface Grammar {
  keyOrder: string[];
  selfTestKeys: string[];
  vectors: Array<{ family: string; params: CaseParams; id: string }>;
  invalid: Array<{ family: string; params: CaseParams; why: string }>;
}
const GRAMMAR = JSON.parse(readFileSync(new URL('../../harness/core/case-id.json', import.meta.url), 'utf8')) as Grammar;

describe('case ids', () => {
  it('case-id:part=vectors', () => {
    expect(GRAMMAR.vectors.length).toBeGreaterThan(3);
    for (const v of GRAMMAR.vectors) {
      expect(caseId(v.family, v.params), v.id).toBe(v.id);
      expect(nonCanonical(v.id)).toBeNull();
      const p = parseCaseId(v.id);
      expect(p.family).toBe(v.family);
      const given = Object.fromEntries(
        Object.entries(v.params)
          .filter(([, x]) => x !== null && x !== undefined)
          .map(([k, x]) => [k, String(x)]),
      );
      expect(p.params).toEqual(given);
    }
  });

  it('case-id:part=invalid', () => {
    for (const v of GRAMMAR.invalid) expect(() => caseId(v.family, v.params), v.why).toThrow();
  });

  it('case-id:part=order-and-helpers', () => {
    expect(CASE_KEYS).toEqual(GRAMMAR.keyOrder);
    expect(SELF_TEST_KEYS).toEqual(GRAMMAR.selfTestKeys);
    // every self-test key is in the grammar, so a self-test id can be written
    for (const k of SELF_TEST_KEYS) expect(CASE_KEYS).toContain(k);
    expect(caseIdWith('velocity:breed=Bombay,t=0.5,batch=1', { variant: 'raw' })).toBe('velocity:variant=raw,breed=Bombay,t=0.5,batch=1');
    expect(nonCanonical('velocity:batch=1,variant=guided')).toBe('not in canonical order: write velocity:variant=guided,batch=1');
    expect(nonCanonical('velocity:colour=red')).toMatch(/unknown key/);
    expect(caseId('gate')).toBe('gate');
    expect(isSelfTest({ id: caseId('velocity', { variant: 'guided', mutant: 'zeroed' }), check: 'velocity' })).toBe(true);
    expect(isSelfTest({ id: caseId('velocity', { variant: 'guided' }), check: 'velocity' })).toBe(false);
  });

  it('case-id:part=record-refuses-non-canonical', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tinydit-case-id-'));
    try {
      const rec = { check: 'velocity', runtime: 'node', status: 'pass' as const, metrics: {} };
      expect(() => recordCheck({ ...rec, id: 'velocity:batch=1,variant=guided' }, dir)).toThrow(
        /canonical order: write velocity:variant=guided,batch=1/,
      );
      expect(() => recordCheck({ ...rec, id: caseId('velocity', { batch: 1, variant: 'guided' }) }, dir)).not.toThrow();
      expect(readFileSync(join(dir, 'checks.jsonl'), 'utf8')).toContain('"id":"velocity:variant=guided,batch=1"');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('case-id:part=records-name-their-test', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tinydit-origin-'));
    try {
      // suites/node/setup.ts told the writer which test runs: this one
      recordCheck(
        { id: caseId('velocity', { variant: 'raw', breed: 'Bombay' }), check: 'velocity', runtime: 'node', status: 'fail', metrics: {} },
        dir,
      );
      const { records, problems } = readRecords(join(dir, 'checks.jsonl'));
      expect(problems).toEqual([]);
      const r = records[0]!;
      expect(r.test).toEqual({
        runner: 'vitest',
        file: 'suites/harness/case-id.test.ts',
        title: 'case-id:part=records-name-their-test',
        path: ['case ids'],
      });
      const line = JSON.parse(readFileSync(join(dir, 'checks.jsonl'), 'utf8')) as { params: Record<string, string> };
      expect(line.params).toEqual({ variant: 'raw', breed: 'Bombay' });
      // the gate takes the named test, although neither its title nor its steps mention the case
      const tests: RunnerTest[] = [
        {
          runner: 'vitest',
          file: 'suites/harness/case-id.test.ts',
          title: 'another test',
          path: ['case ids'],
          project: 'node',
          status: 'passed',
          steps: [],
          errors: [],
          durationMs: 1,
        },
        {
          runner: 'vitest',
          file: 'suites/harness/case-id.test.ts',
          title: 'case-id:part=records-name-their-test',
          path: ['case ids'],
          project: 'node',
          status: 'failed',
          steps: [],
          errors: [],
          durationMs: 1,
        },
      ];
      const m = matchTest(r, tests);
      expect(m?.via).toBe('origin');
      expect(m?.test).toBe(tests[1]);
      expect(replayCommand(r, m, { bundle: 'fixtures/default' }).command).toContain(
        'case-id.test.ts -t case-id:part=records-name-their-test',
      );
      // without the origin, the same record matches nothing: the guesses find no title, step or error naming it
      const { test: _dropped, ...bare } = r;
      expect(matchTest(bare, tests)).toBeNull();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
