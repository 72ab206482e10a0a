/**
 * A small schema language for the bundle's JSON files: each schema checks a value at a JSON path and appends
 * `<file>: <path> must be ...` to a list, so every problem is reported at once with its field. Also the lenient JSON
 * reader that keeps Python's NaN/Infinity tokens as markers, so the schema can name the field that holds one.
 */
import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, normalize, sep } from 'node:path';

// ---------------------------------------------------------------------------------------------------------
// A small schema language: each schema checks a value at a JSON path and appends `<file>: <path> must be ...`

export interface Schema {
  check(v: unknown, path: string, out: string[]): void;
  optional?: boolean;
}

export const NON_FINITE_KEY = '__nonFinite__';

export function isNonFiniteToken(v: unknown): v is { [NON_FINITE_KEY]: string } {
  return typeof v === 'object' && v !== null && NON_FINITE_KEY in v;
}

export function got(v: unknown): string {
  if (v === undefined) return 'nothing (the field is missing)';
  if (isNonFiniteToken(v)) return String(v[NON_FINITE_KEY]);
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? `${v.slice(0, 57)}...` : v);
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (typeof v === 'object' && v !== null) return 'an object';
  return String(v);
}

export function join_(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  const k = /^[A-Za-z_][\w-]*$/.test(key) ? key : JSON.stringify(key);
  return path ? `${path}.${k}` : k;
}

export const must = (out: string[], path: string, what: string, v: unknown): void => {
  out.push(`${path} must be ${what}, got ${got(v)}`);
};

export type NumRule = 'positive' | 'nonneg' | 'finite' | 'posint' | 'nonnegint' | 'unit';
export const NUM_DESC: Record<NumRule, string> = {
  positive: 'a positive finite number',
  nonneg: 'a non-negative finite number',
  finite: 'a finite number',
  posint: 'a positive integer',
  nonnegint: 'a non-negative integer',
  unit: 'a number in [0, 1]',
};
export function num(rule: NumRule, max?: number): Schema {
  return {
    check(v, path, out) {
      const ok =
        typeof v === 'number' &&
        Number.isFinite(v) &&
        (rule === 'positive'
          ? v > 0
          : rule === 'nonneg'
            ? v >= 0
            : rule === 'posint'
              ? Number.isInteger(v) && v > 0
              : rule === 'nonnegint'
                ? Number.isInteger(v) && v >= 0
                : rule === 'unit'
                  ? v >= 0 && v <= 1
                  : true) &&
        (max === undefined || v <= max);
      if (!ok) must(out, path, NUM_DESC[rule] + (max !== undefined ? ` <= ${max}` : ''), v);
    },
  };
}
export function str(opts: { nonEmpty?: boolean; pattern?: RegExp; desc?: string } = {}): Schema {
  return {
    check(v, path, out) {
      if (typeof v !== 'string' || (opts.nonEmpty && v.length === 0) || (opts.pattern && !opts.pattern.test(v))) {
        must(out, path, opts.desc ?? (opts.nonEmpty ? 'a non-empty string' : 'a string'), v);
      }
    },
  };
}
export const bool: Schema = {
  check: (v, path, out) => {
    if (typeof v !== 'boolean') must(out, path, 'true or false', v);
  },
};
export function oneOf(values: readonly (string | number)[]): Schema {
  return {
    check: (v, path, out) => {
      if (!values.includes(v as string)) must(out, path, `one of ${values.map((x) => JSON.stringify(x)).join(', ')}`, v);
    },
  };
}
export function optional(s: Schema): Schema {
  return { ...s, optional: true };
}
export function nullable(s: Schema): Schema {
  return {
    check: (v, path, out) => {
      if (v !== null) s.check(v, path, out);
    },
  };
}
export function anyOf(schemas: Schema[], desc: string): Schema {
  return {
    check(v, path, out) {
      if (
        !schemas.some((s) => {
          const o: string[] = [];
          s.check(v, path, o);
          return o.length === 0;
        })
      )
        must(out, path, desc, v);
    },
  };
}
export function arr(item: Schema, opts: { minLength?: number; length?: number } = {}): Schema {
  return {
    check(v, path, out) {
      if (!Array.isArray(v)) return must(out, path, 'an array', v);
      if (opts.length !== undefined && v.length !== opts.length) return must(out, path, `an array of ${opts.length}`, v);
      if (opts.minLength !== undefined && v.length < opts.minLength) return must(out, path, `an array of at least ${opts.minLength}`, v);
      v.forEach((x, i) => item.check(x, join_(path, i), out));
    },
  };
}
export function tuple(items: Schema[]): Schema {
  return {
    check(v, path, out) {
      if (!Array.isArray(v) || v.length !== items.length) return must(out, path, `an array of ${items.length}`, v);
      items.forEach((s, i) => s.check(v[i], join_(path, i), out));
    },
  };
}
/** An object with these keys (extra keys are allowed: newer producers may add fields). */
export function obj(shape: Record<string, Schema>): Schema {
  return {
    check(v, path, out) {
      if (typeof v !== 'object' || v === null || Array.isArray(v) || isNonFiniteToken(v)) return must(out, path, 'an object', v);
      const o = v as Record<string, unknown>;
      for (const [k, s] of Object.entries(shape)) {
        if (o[k] === undefined && s.optional) continue;
        s.check(o[k], join_(path, k), out);
      }
    },
  };
}
export function record(value: Schema, opts: { minKeys?: number } = {}): Schema {
  return {
    check(v, path, out) {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) return must(out, path, 'an object', v);
      const entries = Object.entries(v as Record<string, unknown>);
      if (opts.minKeys !== undefined && entries.length < opts.minKeys)
        return must(out, path, `an object with at least ${opts.minKeys} entr${opts.minKeys === 1 ? 'y' : 'ies'}`, v);
      for (const [k, x] of entries) value.check(x, join_(path, k), out);
    },
  };
}

/** A path inside the bundle: relative, no '..' escaping it. */
export function isInside(rel: string): boolean {
  if (rel.length === 0 || isAbsolute(rel) || rel.includes('\\')) return false;
  const n = normalize(rel);
  return n !== '..' && !n.startsWith(`..${sep}`) && !n.startsWith('/');
}
export const relFileChecked: Schema = {
  check(v, path, out) {
    if (typeof v !== 'string' || !isInside(v)) must(out, path, 'a relative file path inside the bundle', v);
  },
};

/** JSON.parse that keeps Python's NaN/Infinity tokens as markers, so the schema names the field holding one. */
export function parseJsonLenient(text: string): unknown {
  const marked = text.replace(/"(?:[^"\\]|\\.)*"|-?Infinity|NaN/g, (m) => (m.startsWith('"') ? m : `{"${NON_FINITE_KEY}":"${m}"}`));
  return JSON.parse(marked);
}

export function readJson(path: string, rel: string, issues: string[], fix: string): unknown {
  if (!existsSync(path)) {
    issues.push(`${rel}: missing; ${fix}`);
    return undefined;
  }
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    issues.push(`${rel}: cannot be read (${(e as Error).message})`);
    return undefined;
  }
  try {
    return parseJsonLenient(text);
  } catch (e) {
    issues.push(`${rel}: not valid JSON (${(e as Error).message}); ${fix}`);
    return undefined;
  }
}
