/**
 * The reference page's build and the sources it is built from (the page's own files and the core modules it
 * bundles), for the gate and the benchmark to tell a stale build from a current one.
 */
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
export const WEB_DIST_DIR = join(HERE, 'dist');
export const WEB_SOURCES: readonly string[] = [
  ...['main.ts', 'worker.ts', 'protocol.ts', 'index.html', 'build.ts'].map((f) => join(HERE, f)),
  ...['sampler.ts', 'noise.ts', 'image.ts'].map((f) => join(HERE, '..', '..', 'core', f)),
  ...['app.ts', 'worker.ts', 'protocol.ts', 'index.html'].map((f) => join(HERE, '..', '..', 'apps', 'double', f)),
];

/** The sources newer than the built page ([] when it is current); null when the page is not built at all. */
export function staleWebSources(): string[] | null {
  const built = [join(WEB_DIST_DIR, 'main.js'), join(WEB_DIST_DIR, 'worker.js'), join(WEB_DIST_DIR, 'app-double', 'app.js')];
  if (!built.every(existsSync)) return null;
  const t = Math.min(...built.map((b) => statSync(b).mtimeMs));
  return WEB_SOURCES.filter((s) => existsSync(s) && statSync(s).mtimeMs > t);
}
