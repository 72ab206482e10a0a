/**
 * The runtime registry (harness/runtimes/registry.ts) is the one list of engines: every engine it names has a
 * Playwright launcher, the derived lists keep its order, and no other source file spells out the engines as a
 * list of its own again (the drift this registry replaced: a list missed when an engine is added drops that
 * engine silently). Cases: registry:part=<what>.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../harness/core/config.js';
import { playwrightType } from '../../harness/runtimes/detect.js';
import { CONTRACT_ONLY_SUITES, EXPECTED_FAMILIES, FAMILIES, FAMILY_ORDER, familyRank } from '../../harness/gate/families.js';
import {
  ENGINES,
  ORT_RUNTIMES,
  RESERVED_SUITES,
  RUNTIME_LABEL,
  RUNTIME_NAMES,
  RUNTIMES,
  WASM_ENGINES,
  backendOf,
  engineRuns,
  engineSuites,
  isEngine,
  runtimeRank,
} from '../../harness/runtimes/registry.js';

/** Two or more engine names in a row inside brackets: a hand-written list of engines. */
function handLists(text: string): string[] {
  const names = ENGINES.join('|');
  const re = new RegExp(`\\[\\s*(['"\`])(${names})\\1\\s*,\\s*(['"\`])(${names})\\3[^\\]]*\\]`, 'g');
  return [...text.matchAll(re)].map((m) => m[0]);
}

function sources(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir)) {
    if (e === 'node_modules' || e === 'dist' || e.startsWith('.')) continue;
    const p = join(dir, e);
    if (statSync(p).isDirectory()) sources(p, out);
    else if (/\.(ts|mjs)$/.test(e)) out.push(p);
  }
  return out;
}

describe('runtime registry', () => {
  it('registry:part=launchers', () => {
    for (const e of ENGINES) expect(typeof playwrightType(e).launch, `${e}: no Playwright launcher of that name`).toBe('function');
    expect(ENGINES.length).toBeGreaterThan(0);
  });

  it('registry:part=derived-lists', () => {
    expect(RUNTIME_NAMES).toEqual(RUNTIMES.map((r) => r.name));
    expect(ORT_RUNTIMES).toEqual(RUNTIMES.filter((r) => r.kind !== 'reference').map((r) => r.name));
    expect(ENGINES).toEqual(RUNTIMES.filter((r) => r.kind === 'browser').map((r) => r.name));
    for (const r of RUNTIMES) expect(RUNTIME_LABEL[r.name]).toBe(r.label);
    expect(ENGINES.every(isEngine) && !isEngine('node') && !isEngine('python')).toBe(true);
    expect(RUNTIME_NAMES.map(runtimeRank)).toEqual(RUNTIME_NAMES.map((_, i) => i));
    expect(runtimeRank('no-such-runtime')).toBe(RUNTIME_NAMES.length);
  });

  it('registry:part=own-suites', () => {
    // an engine with suites of its own runs only those, and no other engine runs them
    for (const s of RESERVED_SUITES) expect(existsSync(join(REPO_ROOT, s)), `reserved suite ${s} does not exist`).toBe(true);
    for (const e of ENGINES) {
      const own = engineSuites(e);
      for (const s of RESERVED_SUITES) expect(engineRuns(e, s), `${e} and ${s}`).toBe(own?.includes(s) ?? false);
      expect(engineRuns(e, 'suites/browser/generation.spec.ts'), `${e} and generation.spec.ts`).toBe(own === null);
      expect(engineRuns(e, 'suites/browser/'), `${e} and the folder`).toBe(true);
    }
    expect(WASM_ENGINES).toEqual(ENGINES.filter((e) => backendOf(e) === 'wasm'));
    expect(WASM_ENGINES.length).toBeGreaterThan(0);
  });

  it('registry:part=no-hand-written-engine-lists', () => {
    // the detector must see a hand-written list, or its silence proves nothing
    expect(handLists("const A = ['chromium', 'firefox', 'webkit'];")).toHaveLength(1);
    expect(handLists('const A = ["firefox", "webkit"];')).toHaveLength(1);
    const found: string[] = [];
    for (const top of ['harness', 'scripts']) {
      for (const f of sources(join(REPO_ROOT, top))) {
        if (f.endsWith('registry.ts')) continue;
        for (const l of handLists(readFileSync(f, 'utf8'))) found.push(`${relative(REPO_ROOT, f)}: ${l}`);
      }
    }
    for (const f of readdirSync(REPO_ROOT).filter((e) => /\.config\.ts$/.test(e))) {
      for (const l of handLists(readFileSync(join(REPO_ROOT, f), 'utf8'))) found.push(`${f}: ${l}`);
    }
    expect(found, `lists of engines written by hand (derive them from harness/runtimes/registry.ts):\n${found.join('\n')}`).toEqual([]);
  });

  it('registry:part=check-families', () => {
    expect(new Set(FAMILY_ORDER).size, 'a family is listed twice').toBe(FAMILY_ORDER.length);
    for (const f of FAMILIES) {
      for (const suite of f.suites) expect(existsSync(join(REPO_ROOT, suite)), `${f.family}: suite ${suite} does not exist`).toBe(true);
      if (f.required.length) expect(f.suites.length, `${f.family} is required but no suite records it`).toBeGreaterThan(0);
      if (f.required.length) expect(f.where, `${f.family}: a harness family can never be required of a model`).not.toBe('harness');
    }
    // what a model's verdict requires: the model families, never the harness's own
    expect(EXPECTED_FAMILIES.map((e) => e.family).sort()).toEqual(
      [
        'app',
        'behaviour',
        'contract',
        'generation',
        'judge',
        'image',
        'loading',
        'noise',
        'provenance',
        'stats',
        'trajectory',
        'trust',
        'velocity',
        'weights',
      ].sort(),
    );
    expect(CONTRACT_ONLY_SUITES.node.sort()).toEqual(['suites/node/behaviour.test.ts', 'suites/node/contract.test.ts']);
    expect(familyRank('contract/dtypes')).toBeLessThan(familyRank('velocity'));
    expect(familyRank('no-such-family')).toBe(FAMILY_ORDER.length);
  });
});
