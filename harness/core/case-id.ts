/**
 * Case ids: the one way to name a case. `family:key=value,key=value`, e.g.
 * `velocity:variant=guided,breed=Bombay,t=0.5,batch=1`. The keys are written in one canonical order (the grammar
 * in harness/core/case-id.json, which the Python producer reads too: reference/python/tinydit/case_id.py), so the
 * same case always has the same id, whichever suite, engine or language wrote it. docs/case-ids.md explains
 * the grammar and lists the ids this order renamed.
 *
 *   caseId('velocity', { batch: 1, t: 0.5, breed: 'Bombay', variant: 'guided' })
 *     -> 'velocity:variant=guided,breed=Bombay,t=0.5,batch=1'
 *   parseCaseId('velocity:variant=guided,breed=Bombay') -> { family: 'velocity', params: { variant: 'guided', breed: 'Bombay' } }
 *
 * Writing is strict (an unknown key, a comma or '=' in a value: an error naming the fix; '' writes a bare word);
 * reading is tolerant (any id a record carries can be read, so an old run's records still load).
 */
import { readFileSync } from 'node:fs';

interface Grammar {
  familyPattern: string;
  valueForbidden: string;
  keyOrder: string[];
  selfTestKeys: string[];
}

const GRAMMAR_FILE = new URL('./case-id.json', import.meta.url);
const GRAMMAR = JSON.parse(readFileSync(GRAMMAR_FILE, 'utf8')) as Grammar;
const FAMILY_RE = new RegExp(GRAMMAR.familyPattern);
const RANK = new Map(GRAMMAR.keyOrder.map((k, i) => [k, i]));

/** The keys a case id may carry, in the order they are written. */
export const CASE_KEYS: readonly string[] = GRAMMAR.keyOrder;
/** Keys that mark a self-test: a check run on a model or page broken on purpose. */
export const SELF_TEST_KEYS: readonly string[] = GRAMMAR.selfTestKeys;

/** A parameter value; null and undefined leave the key out (an optional key). */
export type CaseValue = string | number | boolean | null | undefined;
export type CaseParams = Readonly<Record<string, CaseValue>>;

export class CaseIdError extends Error {}

function valueText(family: string, key: string, v: string | number | boolean): string {
  const s = String(v);
  for (const ch of GRAMMAR.valueForbidden) {
    if (s.includes(ch))
      throw new CaseIdError(`case id ${family}: ${key}=${JSON.stringify(s)} contains ${JSON.stringify(ch)}, which the grammar reserves`);
  }
  return s;
}

/** Builds the canonical id of a case. */
export function caseId(family: string, params: CaseParams = {}): string {
  if (!FAMILY_RE.test(family)) throw new CaseIdError(`case id family ${JSON.stringify(family)} does not match ${GRAMMAR.familyPattern}`);
  const parts: Array<[number, string]> = [];
  for (const [k, v] of Object.entries(params)) {
    if (v === null || v === undefined) continue;
    const rank = RANK.get(k);
    if (rank === undefined) {
      throw new CaseIdError(
        `case id ${family}: unknown key ${JSON.stringify(k)}; add it to harness/core/case-id.json's keyOrder (its place there decides the order)`,
      );
    }
    const text = valueText(family, k, v);
    // '' is a bare word: a flag with no value (`bundle:load`, `contract:reader,fault=empty`)
    parts.push([rank, text ? `${k}=${text}` : k]);
  }
  parts.sort((a, b) => a[0] - b[0]);
  return parts.length ? `${family}:${parts.map((p) => p[1]).join(',')}` : family;
}

/** Reads any id: `family:key=value,...` (bare words are keys with the value ''). */
export function parseCaseId(id: string): { family: string; params: Record<string, string> } {
  const colon = id.indexOf(':');
  const family = colon >= 0 ? id.slice(0, colon) : id;
  const rest = colon >= 0 ? id.slice(colon + 1) : '';
  const params: Record<string, string> = {};
  for (const part of rest.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) {
      if (part) params[part] = '';
      continue;
    }
    params[part.slice(0, eq)] = part.slice(eq + 1);
  }
  return { family, params };
}

/** The id with extra parameters, in canonical order: caseIdWith('velocity:breed=Bombay', { variant: 'raw' }). */
export function caseIdWith(id: string, extra: CaseParams): string {
  const { family, params } = parseCaseId(id);
  return caseId(family, { ...params, ...extra });
}

/** Why an id is not canonical (null when it is): the id a record or a test title carries must be what caseId builds. */
export function nonCanonical(id: string): string | null {
  try {
    const { family, params } = parseCaseId(id);
    const built = caseId(family, params);
    return built === id ? null : `not in canonical order: write ${built}`;
  } catch (e) {
    return (e as Error).message;
  }
}
