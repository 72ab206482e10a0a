/**
 * Bundles the reference page (main.ts) and its worker (worker.ts, with onnxruntime-web's wasm build and the
 * shared sampler/noise/image modules) into harness/runtimes/web/dist/, and copies index.html there; and the app double
 * (harness/apps/double, onnxruntime-web's WebGPU build) into dist/app-double/.
 * onnxruntime-web is bundled in its "extern wasm" flavour (ort.wasm.min.mjs): it loads
 * ort-wasm-simd-threaded.{mjs,wasm} from ort.env.wasm.wasmPaths (/ort/, served locally), never from a CDN.
 *   npm run build:web        (tsx harness/runtimes/web/build.ts [--minify])
 */
import { copyFileSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const HERE = dirname(fileURLToPath(import.meta.url));
export const WEB_DIST = join(HERE, 'dist');

export async function buildWeb(opts: { minify?: boolean; quiet?: boolean } = {}): Promise<string> {
  rmSync(WEB_DIST, { recursive: true, force: true });
  mkdirSync(WEB_DIST, { recursive: true });
  const common = {
    bundle: true,
    format: 'esm' as const,
    platform: 'browser' as const,
    target: ['es2022'],
    // Selects onnxruntime-web's non-embedded wasm build, so that wasmPaths decides where the binaries come from.
    conditions: ['onnxruntime-web-use-extern-wasm'],
    sourcemap: 'linked' as const,
    minify: opts.minify ?? false,
    legalComments: 'none' as const,
    logLevel: opts.quiet ? ('error' as const) : ('warning' as const),
    metafile: false,
  };
  await build({ ...common, entryPoints: { main: join(HERE, 'main.ts'), worker: join(HERE, 'worker.ts') }, outdir: WEB_DIST });
  copyFileSync(join(HERE, 'index.html'), join(WEB_DIST, 'index.html'));
  // The app double (harness/apps/double): an app under test, served beside the reference page at /app-double/.
  const doubleDir = join(HERE, '..', '..', 'apps', 'double');
  const doubleOut = join(WEB_DIST, 'app-double');
  await build({ ...common, entryPoints: { app: join(doubleDir, 'app.ts'), worker: join(doubleDir, 'worker.ts') }, outdir: doubleOut });
  copyFileSync(join(doubleDir, 'index.html'), join(doubleOut, 'index.html'));
  if (!opts.quiet) {
    for (const f of ['index.html', 'main.js', 'worker.js', 'app-double/index.html', 'app-double/app.js', 'app-double/worker.js']) {
      console.log(`  ${join('harness/runtimes/web/dist', f)}  ${(statSync(join(WEB_DIST, f)).size / 1024).toFixed(1)} KiB`);
    }
  }
  return WEB_DIST;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await buildWeb({ minify: process.argv.includes('--minify') });
}
