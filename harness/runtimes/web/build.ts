/**
 * Bundles the reference page (main.ts) and its worker (worker.ts, with onnxruntime-web's wasm build and the
 * shared sampler/noise/image modules) into harness/runtimes/web/dist/, and copies index.html there.
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
  await build({
    entryPoints: { main: join(HERE, 'main.ts'), worker: join(HERE, 'worker.ts') },
    outdir: WEB_DIST,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['es2022'],
    // Selects onnxruntime-web's non-embedded wasm build, so that wasmPaths decides where the binaries come from.
    conditions: ['onnxruntime-web-use-extern-wasm'],
    sourcemap: 'linked',
    minify: opts.minify ?? false,
    legalComments: 'none',
    logLevel: opts.quiet ? 'error' : 'warning',
    metafile: false,
  });
  copyFileSync(join(HERE, 'index.html'), join(WEB_DIST, 'index.html'));
  if (!opts.quiet) {
    for (const f of ['index.html', 'main.js', 'worker.js']) {
      console.log(`  ${join('harness/runtimes/web/dist', f)}  ${(statSync(join(WEB_DIST, f)).size / 1024).toFixed(1)} KiB`);
    }
  }
  return WEB_DIST;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await buildWeb({ minify: process.argv.includes('--minify') });
}
