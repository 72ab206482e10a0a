/**
 * Materialises the mutant catalogue (harness/mutants/catalogue.ts) as bundles under reports/mutants/<name>/.
 *
 *   npx tsx scripts/make-mutants.ts [--bundle fixtures/default] [--out reports/mutants] [--only a,b] [--cheap] [--list]
 *
 * Python re-exports (reference/python/make_mutants.py) are made first when a selected mutant needs them and
 * <out>/.python/made.json does not already list them for this checkpoint and script (TINYDIT_PYTHON picks the
 * interpreter, default /usr/bin/python3). Exit 0 when every selected mutant was built, 1 otherwise (each failure
 * named), 2 on a usage error.
 */
import { join, relative, resolve } from 'node:path';
import { REPO_ROOT } from '../harness/core/config.js';
import { CATALOGUE } from '../harness/mutants/catalogue.js';
import { DEFAULT_MUTANTS_DIR, ensurePythonMutants, loadSource, materialise, PYTHON_SUBDIR } from '../harness/mutants/materialise.js';
import type { Mutant } from '../harness/mutants/types.js';

export interface MakeOptions {
  bundle: string;
  out: string;
  only?: string[];
  cheapOnly?: boolean;
  log?: (line: string) => void;
}

export function selectMutants(only?: string[], cheapOnly = false): Mutant[] {
  const unknown = (only ?? []).filter((n) => !CATALOGUE.some((m) => m.name === n));
  if (unknown.length) throw new Error(`unknown mutant(s) ${unknown.join(', ')}; known: ${CATALOGUE.map((m) => m.name).join(', ')}`);
  return CATALOGUE.filter((m) => (!only?.length || only.includes(m.name)) && (!cheapOnly || m.cheap));
}

/** Builds the selection; returns the folders made and the failures (name -> message). */
export async function makeMutants(o: MakeOptions): Promise<{ made: Record<string, string>; failed: Record<string, string> }> {
  const log = o.log ?? ((l: string) => process.stdout.write(l + '\n'));
  const bundle = await loadSource(o.bundle);
  const selected = selectMutants(o.only, o.cheapOnly);
  const pythonDir = join(o.out, PYTHON_SUBDIR);
  const failed: Record<string, string> = {};
  const made: Record<string, string> = {};
  const needPython = [...new Set(selected.flatMap((m) => m.python ?? []))];
  try {
    for (const line of ensurePythonMutants(bundle, needPython, pythonDir)) log(line);
  } catch (e) {
    for (const m of selected.filter((x) => x.python?.length)) failed[m.name] = (e as Error).message;
  }
  for (const m of selected) {
    if (failed[m.name]) continue;
    try {
      const r = materialise(m, bundle, o.out, { pythonDir });
      made[m.name] = join(o.out, m.name);
      const what = Object.keys(r.changed).length ? `replaced ${Object.keys(r.changed).join(', ')}` : 'models unchanged';
      const goldens = r.goldens?.removed
        ? ', goldens/ removed'
        : r.goldens
          ? `, ${Object.keys(r.goldens.replaced).length} golden file(s) replaced`
          : '';
      const env = Object.entries(r.env ?? {})
        .map(([k, v]) => `${k}=${v}`)
        .join(' ');
      log(
        `${m.name.padEnd(28)} ${what}${r.manifestEdited ? ', manifest edited' : ''}${goldens}${r.files ? `, ${Object.keys(r.files).length} other file(s)` : ''}` +
          `${r.pageFaults.length ? `, page fault ${r.pageFaults.join(',')}` : ''}${env ? `, gate env ${env}` : ''}`,
      );
    } catch (e) {
      failed[m.name] = (e as Error).message;
      log(`${m.name.padEnd(28)} FAILED: ${(e as Error).message}`);
    }
  }
  return { made, failed };
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const opt = (f: string): string | undefined => {
    const i = argv.indexOf(f);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const known = new Set(['--bundle', '--out', '--only', '--cheap', '--list']);
  for (const a of argv)
    if (a.startsWith('--') && !known.has(a)) {
      process.stderr.write(`make-mutants: unknown option ${a}\n`);
      return 2;
    }
  if (argv.includes('--list')) {
    for (const m of CATALOGUE)
      process.stdout.write(
        `${m.name.padEnd(28)} ${m.kind.padEnd(7)} ${m.cheap ? 'cheap' : '     '} expect ${m.expect.join(', ')}\n    ${m.description}\n`,
      );
    return 0;
  }
  const out = resolve(opt('--out') ?? DEFAULT_MUTANTS_DIR);
  const only = opt('--only')
    ?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const { made, failed } = await makeMutants({
    bundle: opt('--bundle') ?? process.env.TINYDIT_BUNDLE ?? join(REPO_ROOT, 'fixtures/default'),
    out,
    ...(only ? { only } : {}),
    cheapOnly: argv.includes('--cheap'),
  });
  process.stdout.write(
    `${Object.keys(made).length} mutant bundle(s) in ${relative(process.cwd(), out) || out}${Object.keys(failed).length ? `; ${Object.keys(failed).length} FAILED: ${Object.keys(failed).join(', ')}` : ''}\n`,
  );
  return Object.keys(failed).length ? 1 : 0;
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(REPO_ROOT, 'scripts/make-mutants.ts')) {
  main().then(
    (c) => {
      process.exitCode = c;
    },
    (e: unknown) => {
      process.stderr.write(`make-mutants: ${(e as Error).stack ?? String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
