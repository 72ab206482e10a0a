/**
 * The bundle digest: one sha256 that names everything a verdict was about. The run id and the old verdicts named
 * a bundle by its guided model's sha256 only, so two bundles with the same model and different goldens,
 * manifest or floors looked like the same thing in the history, in drift and in shard merges. The digest covers
 * every regular file of the bundle folder (manifest.json, every ONNX variant, the checkpoint, every file under
 * goldens/, anything else that ships in it), listed by path with its own sha256 and size:
 *
 *   digest = sha256 of the lines "<sha256>  <bytes>  <path relative to the bundle, '/' separated>\n", sorted by path
 *
 * so `sha256sum`-style tools can recompute it (docs/nightly.md says how).
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, lstatSync, readdirSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';

export interface BundleFileDigest {
  path: string;
  sha256: string;
  bytes: number;
}

export interface BundleDigest {
  /** sha256 over the sorted file list (see the header). */
  digest: string;
  files: BundleFileDigest[];
  /** Entries that are not regular files or links to them (named, never silently left out of the digest's meaning). */
  skipped: string[];
}

function sha256Stream(path: string): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const h = createHash('sha256');
    createReadStream(path)
      .on('data', (c) => h.update(c))
      .on('error', reject)
      .on('end', () => resolvePromise(h.digest('hex')));
  });
}

function walk(root: string, dir: string, out: string[], skipped: string[]): void {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    const l = lstatSync(p);
    const s = l.isSymbolicLink() ? (existsSync(p) ? statSync(p) : null) : l;
    if (s?.isDirectory()) walk(root, p, out, skipped);
    else if (s?.isFile()) out.push(p);
    else skipped.push(relative(root, p).split(sep).join('/'));
  }
}

/** The digest of a bundle folder; throws when the folder does not exist. */
export async function bundleDigest(dir: string): Promise<BundleDigest> {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new Error(`${dir}: not a bundle folder (no such directory)`);
  const paths: string[] = [];
  const skipped: string[] = [];
  walk(dir, dir, paths, skipped);
  const files: BundleFileDigest[] = [];
  for (const p of paths)
    files.push({ path: relative(dir, p).split(sep).join('/'), sha256: await sha256Stream(p), bytes: statSync(p).size });
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const h = createHash('sha256');
  for (const f of files) h.update(`${f.sha256}  ${f.bytes}  ${f.path}\n`);
  return { digest: h.digest('hex'), files, skipped };
}
