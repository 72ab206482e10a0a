/**
 * Derives a bundle with a changed model from a good one, to show what the gate does with it: the same goldens
 * and manifest, the guided model's weights edited, the manifest's sha256 and size updated so the bundle still
 * loads (the change is in the model, not in the packaging).
 *
 *   npx tsx harness/gate/derive-bundle.ts perturb <src> <dst> [fraction]   output bias + fraction x absMin (default 0.25):
 *                                                                      slightly perturbed weights, still within tolerance
 *   npx tsx harness/gate/derive-bundle.ts zero-output <src> <dst>          final layer zeroed (ORIGIN failure 2)
 */
import { createHash } from 'node:crypto';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { withInitializers, zeroOutputLayer } from '../model/onnx-edit.js';

export type Derivation = 'perturb' | 'zero-output';

/** Writes the derived bundle and returns what was changed. */
export function deriveBundle(src: string, dst: string, how: Derivation, fraction = 0.25): string {
  cpSync(src, dst, { recursive: true });
  const manifestPath = join(dst, 'manifest.json');
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as {
    name: string;
    variants: Record<string, { file: string; sha256: string; bytes: number }>;
    tolerance?: { velocity?: { absMin?: number } };
  };
  const guided = manifest.variants.guided;
  if (!guided) throw new Error(`${manifestPath}: no guided variant to change`);
  const path = join(dst, guided.file);
  const bytes = new Uint8Array(readFileSync(path));
  let changed: string;
  let out: Uint8Array;
  if (how === 'perturb') {
    const absMin = manifest.tolerance?.velocity?.absMin;
    if (typeof absMin !== 'number') throw new Error(`${manifestPath}: tolerance.velocity.absMin is needed to size the perturbation`);
    const shift = fraction * absMin;
    out = withInitializers(
      bytes,
      {
        'final_layer.linear.bias': (d) => {
          for (let i = 0; i < d.length; i++) d[i]! += shift;
        },
      },
      path,
    );
    changed = `final_layer.linear.bias + ${shift} (${fraction} x tolerance.velocity.absMin)`;
  } else {
    out = zeroOutputLayer(bytes, path);
    changed = 'final layer zeroed';
  }
  writeFileSync(path, out);
  guided.sha256 = createHash('sha256').update(out).digest('hex');
  guided.bytes = out.length;
  manifest.name = `${manifest.name} (${how}: ${changed})`;
  writeFileSync(manifestPath, JSON.stringify(manifest, null, 2) + '\n');
  return changed;
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('derive-bundle.ts')) {
  const [how, src, dst, fraction] = process.argv.slice(2);
  if ((how !== 'perturb' && how !== 'zero-output') || !src || !dst) {
    process.stderr.write('usage: npx tsx harness/gate/derive-bundle.ts perturb|zero-output <src bundle> <dst bundle> [fraction]\n');
    process.exit(2);
  }
  const what = deriveBundle(resolve(src), resolve(dst), how, fraction ? Number(fraction) : undefined);
  process.stdout.write(`${dst}: guided model ${what}\n`);
}
