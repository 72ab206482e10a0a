/**
 * Writes a mutant as a full bundle folder: the good bundle's files hard-linked (or copied where links cannot be
 * made; never symlinks, which the test server refuses when they leave the bundle), the mutated ONNX files, and a
 * manifest whose sha256 and sizes match them (the point is a broken model, not a broken manifest), plus
 * mutant.json saying what was broken, which checks are aimed at it and the environment its gate run needs.
 * Goldens edits (a bundle shipped without goldens/, golden files replaced) and other whole files are written
 * fresh: a path that is written is never linked first, and writeFresh unlinks before writing, so nothing can
 * reach the good bundle through a hard link.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, linkSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { loadBundle, type Bundle, type Manifest } from '../model/bundle.js';
import { REPO_ROOT } from '../core/config.js';
import type { ModelGeometry } from './edits.js';
import type { BuildContext, Mutant } from './types.js';

export const MUTANT_FILE = 'mutant.json';
/** Default output of the Python mutants (reference/python/make_mutants.py --out). */
export const DEFAULT_MUTANTS_DIR = resolve(REPO_ROOT, 'reports/mutants');
export const PYTHON_SUBDIR = '.python';

/** What mutant.json of a materialised mutant says. */
export interface MutantRecord {
  name: string;
  description: string;
  kind: Mutant['kind'];
  origin: number[];
  expect: string[];
  pageFaults: string[];
  /** Variants whose ONNX file was replaced, with the new sha256. */
  changed: Record<string, string>;
  manifestEdited: boolean;
  /** Goldens edits: shipped without goldens/, or files replaced (path relative to goldens/ -> new sha256). */
  goldens?: { removed: boolean; replaced: Record<string, string> };
  /** Other whole files replaced or added (path in the bundle -> sha256). */
  files?: Record<string, string>;
  /** Environment variables the gate must run this mutant with (scripts/gate-power.ts sets them). */
  env?: Record<string, string>;
  source: { dir: string; manifestSha256: string };
}

export function geometryOf(b: Bundle): ModelGeometry {
  const c = b.manifest.identity.config;
  return {
    patchSize: c.patch_size,
    channels: c.in_channels,
    embedDim: c.embed_dim,
    depth: c.depth,
    ...(c.prediction ? { prediction: c.prediction } : {}),
  };
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * Hard-links (else copies) every file of src into dst, recursively, skipping the paths in `skip` (relative to
 * src, '/'-separated: a top-level name skips that file or whole folder, `goldens/velocity/guided.npy` one file).
 * Replace a file of dst with writeFresh (unlink, then write) rather than editing it in place: an edit would reach
 * the source through the link.
 */
export function linkTree(src: string, dst: string, skip: Set<string>, rel = ''): void {
  mkdirSync(dst, { recursive: true });
  for (const entry of readdirSync(src)) {
    const here = rel ? `${rel}/${entry}` : entry;
    if (skip.has(here)) continue;
    const from = join(src, entry);
    const to = join(dst, entry);
    if (statSync(from).isDirectory()) {
      linkTree(from, to, skip, here);
      continue;
    }
    try {
      linkSync(from, to);
    } catch {
      copyFileSync(from, to);
    }
  }
}

/** Writes a new file at `path` (creating its folder); an existing file (perhaps a hard link to the good bundle) is
 *  unlinked first, never written through. */
export function writeFresh(path: string, bytes: Uint8Array | string): void {
  mkdirSync(dirname(path), { recursive: true });
  rmSync(path, { force: true });
  writeFileSync(path, bytes);
}

/** A bundle-relative path that stays inside the bundle ('/'-separated, no '..', not absolute). */
function safeRel(p: string, what: string): string {
  const parts = p.split('/');
  if (!p || isAbsolute(p) || p.includes('\\') || parts.some((x) => x === '' || x === '.' || x === '..')) {
    throw new Error(`${what}: '${p}' is not a relative path inside the bundle`);
  }
  return p;
}

/** Every file under dir, as '/'-separated paths relative to it, sorted. */
export function listFiles(dir: string, rel = ''): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(join(dir, rel))) {
    const here = rel ? `${rel}/${entry}` : entry;
    if (statSync(join(dir, here)).isDirectory()) out.push(...listFiles(dir, here));
    else out.push(here);
  }
  return out.sort();
}

export interface BuildOptions {
  /** Folder of reference/python/make_mutants.py outputs (default <out>/.python). */
  pythonDir: string;
}

function pythonMissing(bundle: Bundle, o: BuildOptions, path: string, mutant: string): Error {
  return new Error(
    `${path} is missing: make it with /usr/bin/python3 reference/python/make_mutants.py --checkpoint ` +
      `${bundle.dir}/${bundle.manifest.identity.checkpoint.file ?? 'checkpoint.pt'} --out ${o.pythonDir} --only ${mutant}`,
  );
}

export function buildContext(bundle: Bundle, o: BuildOptions): BuildContext {
  return {
    bundle,
    geometry: geometryOf(bundle),
    variantBytes: (v) => new Uint8Array(readFileSync(bundle.variantPath(v))),
    goldenBytes: (rel) => new Uint8Array(readFileSync(bundle.goldenPath(rel))),
    pythonFile: (mutant, file) => {
      const path = join(o.pythonDir, mutant, file);
      if (!existsSync(path)) throw pythonMissing(bundle, o, path, mutant);
      return new Uint8Array(readFileSync(path));
    },
    pythonFiles: (mutant, under) => {
      const path = join(o.pythonDir, mutant, under);
      if (!existsSync(path) || !statSync(path).isDirectory()) throw pythonMissing(bundle, o, path, mutant);
      return listFiles(path);
    },
  };
}

/** Builds one mutant into <outDir>/<name>/ (replacing what was there) and returns its record. */
export function materialise(m: Mutant, bundle: Bundle, outDir: string, o: BuildOptions): MutantRecord {
  const built = m.build(buildContext(bundle, o));
  const dir = join(outDir, m.name);
  rmSync(dir, { recursive: true, force: true });
  const replaced = new Set(Object.keys(built.models).map((v) => bundle.variant(v).file));
  const goldenReplace = Object.entries(built.goldens?.replace ?? {}).map(
    ([rel, bytes]) => [safeRel(rel, `mutant ${m.name} goldens.replace`), bytes] as const,
  );
  const otherFiles = Object.entries(built.files ?? {}).map(([rel, bytes]) => [safeRel(rel, `mutant ${m.name} files`), bytes] as const);
  const removeGoldens = built.goldens?.remove === true;
  if (removeGoldens && goldenReplace.length) throw new Error(`mutant ${m.name}: goldens.remove and goldens.replace together`);
  for (const [rel] of otherFiles) {
    if (
      rel === 'manifest.json' ||
      rel === MUTANT_FILE ||
      rel === 'goldens' ||
      rel.startsWith('goldens/') ||
      [...replaced].includes(rel) ||
      bundle.variantNames.some((v) => bundle.variant(v).file === rel)
    ) {
      throw new Error(
        `mutant ${m.name}: files['${rel}']: the manifest, mutant.json, the models and goldens/ are set through manifest, models and goldens`,
      );
    }
  }
  // never link a file that is then written: writeFresh unlinks anyway, skipping is the first line of defence
  const skip = new Set<string>([
    'manifest.json',
    MUTANT_FILE,
    ...replaced,
    ...goldenReplace.map(([rel]) => `goldens/${rel}`),
    ...otherFiles.map(([rel]) => rel),
  ]);
  if (removeGoldens) skip.add('goldens');
  linkTree(bundle.dir, dir, skip);
  const manifestText = readFileSync(join(bundle.dir, 'manifest.json'), 'utf8');
  const manifest = JSON.parse(manifestText) as Manifest;
  const changed: Record<string, string> = {};
  for (const [v, bytes] of Object.entries(built.models)) {
    const spec = manifest.variants[v];
    if (!spec) throw new Error(`mutant ${m.name}: variant '${v}' is not in ${bundle.dir}/manifest.json`);
    writeFresh(join(dir, spec.file), bytes);
    spec.sha256 = sha256(bytes);
    spec.bytes = bytes.length;
    changed[v] = spec.sha256;
  }
  const goldensReplaced: Record<string, string> = {};
  for (const [rel, bytes] of goldenReplace) {
    writeFresh(join(dir, 'goldens', rel), bytes);
    goldensReplaced[rel] = sha256(bytes);
  }
  const files: Record<string, string> = {};
  for (const [rel, bytes] of otherFiles) {
    writeFresh(join(dir, rel), bytes);
    files[rel] = sha256(bytes);
  }
  built.manifest?.(manifest);
  manifest.name = `${manifest.name} [mutant ${m.name}]`;
  writeFresh(join(dir, 'manifest.json'), JSON.stringify(manifest, null, 1) + '\n');
  const record: MutantRecord = {
    name: m.name,
    description: m.description,
    kind: m.kind,
    origin: m.origin ?? [],
    expect: m.expect,
    pageFaults: built.pageFaults ?? [],
    changed,
    manifestEdited: built.manifest !== undefined,
    ...(removeGoldens || goldenReplace.length ? { goldens: { removed: removeGoldens, replaced: goldensReplaced } } : {}),
    ...(otherFiles.length ? { files } : {}),
    env: built.env ?? {},
    source: { dir: bundle.dir, manifestSha256: sha256(new TextEncoder().encode(manifestText)) },
  };
  writeFresh(join(dir, MUTANT_FILE), JSON.stringify(record, null, 1) + '\n');
  return record;
}

/** Reads mutant.json of a materialised mutant (null when the folder is not one). */
export function readMutantRecord(dir: string): MutantRecord | null {
  const p = join(dir, MUTANT_FILE);
  return existsSync(p) ? (JSON.parse(readFileSync(p, 'utf8')) as MutantRecord) : null;
}

/**
 * Makes the Python mutants the selection needs unless <pythonDir>/made.json lists them for this very checkpoint
 * and script. Returns a line per action; throws with Python's output when it fails.
 */
export function ensurePythonMutants(
  bundle: Bundle,
  names: string[],
  pythonDir: string,
  python = process.env.TINYDIT_PYTHON ?? '/usr/bin/python3',
): string[] {
  if (names.length === 0) return [];
  const ckFile = bundle.manifest.identity.checkpoint.file;
  if (!ckFile) throw new Error(`${bundle.dir}/manifest.json names no checkpoint file: the Python mutants (${names.join(', ')}) need one`);
  const ckPath = join(bundle.dir, ckFile);
  const script = join(REPO_ROOT, 'reference/python/make_mutants.py');
  const ckSha = sha256(readFileSync(ckPath));
  // make_mutants.py's script_sha(): this script, then the self-consistent builder it imports
  const scriptSha = sha256(Buffer.concat([readFileSync(script), readFileSync(join(REPO_ROOT, 'reference/python/self_consistent.py'))]));
  let made: Record<string, { checkpointSha256?: string; script?: string; files?: string[] }> = {};
  try {
    made = JSON.parse(readFileSync(join(pythonDir, 'made.json'), 'utf8')) as typeof made;
  } catch {
    /* none yet */
  }
  const stale = names.filter((n) => {
    const e = made[n];
    return !e || e.checkpointSha256 !== ckSha || e.script !== scriptSha || !(e.files ?? []).every((f) => existsSync(join(pythonDir, n, f)));
  });
  if (stale.length === 0) return [`Python mutants up to date in ${pythonDir}: ${names.join(', ')}`];
  const args = [script, '--checkpoint', ckPath, '--out', pythonDir, '--only', stale.join(',')];
  const r = spawnSync(python, args, { cwd: REPO_ROOT, encoding: 'utf8' });
  if (r.status !== 0) {
    throw new Error(`${python} ${args.join(' ')} failed (exit ${r.status ?? r.signal}):\n${r.stdout}\n${r.stderr}`);
  }
  return [`made Python mutants ${stale.join(', ')}: ${r.stdout.trim()}`];
}

export async function loadSource(dir: string): Promise<Bundle> {
  return loadBundle(resolve(dir), { verifyHashes: true });
}

/** A mutant held in memory, for direct judging. */
export interface InMemoryMutant {
  /** The manifest as the mutant's folder would hold it (edits applied; model sha256/sizes are not recomputed). */
  manifest: Manifest;
  /** ONNX bytes per variant (the good bytes where the mutant keeps them). */
  models: Record<string, Uint8Array>;
  pageFaults: string[];
  /** Replaced golden files, by path relative to goldens/ (the others are the good bundle's). */
  goldens: Record<string, Uint8Array>;
  /** The mutant ships without goldens/. */
  goldensRemoved: boolean;
  /** Other whole files replaced or added, by path in the bundle. */
  files: Record<string, Uint8Array>;
  /** Environment the gate would run it with. */
  env: Record<string, string>;
}

/** A mutant held in memory (models, manifest and goldens edits as the bundle folder would hold them), for direct judging. */
export function inMemory(m: Mutant, bundle: Bundle, o: BuildOptions): InMemoryMutant {
  const built = m.build(buildContext(bundle, o));
  const manifest = structuredClone(bundle.manifest);
  built.manifest?.(manifest);
  const models: Record<string, Uint8Array> = {};
  for (const v of bundle.variantNames) models[v] = built.models[v] ?? new Uint8Array(readFileSync(bundle.variantPath(v)));
  return {
    manifest,
    models,
    pageFaults: built.pageFaults ?? [],
    goldens: { ...(built.goldens?.replace ?? {}) },
    goldensRemoved: built.goldens?.remove === true,
    files: { ...(built.files ?? {}) },
    env: { ...(built.env ?? {}) },
  };
}
