/**
 * The static server of the browser suites: serves exactly three roots, on 127.0.0.1 only, with the headers
 * that make the page cross-origin isolated (so that onnxruntime-web's wasm threads work):
 *   /          the reference page (harness/runtimes/web/dist, built by `npm run build:web`)
 *   /ort/      onnxruntime-web's dist folder (wasm binaries and their .mjs glue; no CDN)
 *   /bundle/   the model bundle directory (default fixtures/default, or env TINYDIT_BUNDLE)
 * Anything else, and every form of path traversal (.., percent-encoded dots or slashes, backslashes, NUL,
 * absolute paths, symlinks that resolve outside their root), is refused. Files are streamed, never read whole.
 *
 * CLI: tsx harness/runtimes/server.ts [--port 8765] [--host 127.0.0.1] [--bundle DIR] [--web DIR] [--ort DIR] [--verbose]
 *      [--share-bundle-with ORIGIN[,ORIGIN]] (default: the origin of env TINYDIT_APP_URL: an app under test served elsewhere)
 *      (exits with an error if the page is not built, unless --allow-missing-page)
 */
import { createReadStream, existsSync, realpathSync } from 'node:fs';
import { stat, realpath } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { dirname, extname, isAbsolute, join, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { bundleDir } from '../core/config.js';

const HERE = dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = resolve(HERE, '..', '..');
export const DEFAULT_WEB_DIR = join(HERE, 'web', 'dist');
export const DEFAULT_BUNDLE_DIR = join(REPO_ROOT, 'fixtures', 'default');

/** onnxruntime-web's dist folder, found through Node's resolver (works with hoisted or nested installs). */
export function ortDistDir(): string {
  const require = createRequire(import.meta.url);
  // The package's "node" export is dist/ort.node.min.js: its folder is dist/.
  return dirname(require.resolve('onnxruntime-web'));
}

export interface ServerOptions {
  port?: number;
  /** Only loopback makes sense for this server; defaults to 127.0.0.1. */
  host?: string;
  bundleDir?: string;
  webDir?: string;
  ortDir?: string;
  /**
   * Origins (scheme://host:port) of an app under test served elsewhere (a dev server, a deployed URL) that may fetch
   * /bundle/ files: for a request from one of them, a /bundle/ response carries Access-Control-Allow-Origin for it and
   * Cross-Origin-Resource-Policy: cross-origin. Nothing else is shared; the page and /ort/ stay same-origin.
   * CLI --share-bundle-with ORIGIN[,ORIGIN]; default: the origin of env TINYDIT_APP_URL (docs/app-under-test.md).
   */
  shareBundleWith?: string[];
  /** Called for each request: method, path, status (for debugging). */
  log?: (line: string) => void;
}

export interface RunningServer {
  url: string;
  port: number;
  /** The address the listening socket is bound to, as the kernel reports it (127.0.0.1 unless told ::1). */
  address: string;
  roots: Record<string, string>;
  close(): Promise<void>;
}

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.onnx': 'application/octet-stream',
  '.data': 'application/octet-stream',
  '.npy': 'application/octet-stream',
  '.bin': 'application/octet-stream',
  '.pt': 'application/octet-stream',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.md': 'text/plain; charset=utf-8',
};

export function mimeType(file: string): string {
  return MIME[extname(file).toLowerCase()] ?? 'application/octet-stream';
}

/** Headers sent on every response: cross-origin isolation, no sniffing, no caching of stale bundles. */
const COMMON_HEADERS: Record<string, string> = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'X-Content-Type-Options': 'nosniff',
  'Cache-Control': 'no-store',
};

export class PathRefused extends Error {
  constructor(
    readonly status: 400 | 403 | 404,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Maps a raw request target to [root name, relative path segments] or throws PathRefused.
 * Works on the raw (still percent-encoded) path so that encoded separators and dots are caught before decoding.
 */
export function routeRequest(rawTarget: string): { root: 'web' | 'ort' | 'bundle'; segments: string[] } {
  const q = rawTarget.indexOf('?');
  const rawPath = q >= 0 ? rawTarget.slice(0, q) : rawTarget;
  const hash = rawPath.indexOf('#');
  const path = hash >= 0 ? rawPath.slice(0, hash) : rawPath;
  if (!path.startsWith('/')) throw new PathRefused(400, 'request target must be an absolute path');
  // Encoded dot, slash, backslash, NUL, percent: never needed by the files we serve.
  if (/%(2e|2f|5c|00|25)/i.test(path)) throw new PathRefused(403, 'encoded dots, separators, NUL or percent signs are refused');
  if (path.includes('\\') || path.includes('\0')) throw new PathRefused(403, 'backslashes and NUL are refused');
  let decoded: string;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    throw new PathRefused(400, 'malformed percent-encoding');
  }
  if (decoded.includes('\\') || decoded.includes('\0')) throw new PathRefused(403, 'backslashes and NUL are refused');
  const parts = decoded.split('/').slice(1); // leading '' from the initial '/'
  // Empty segments (//), '.', '..' anywhere: refused (a trailing '/' leaves one final empty segment, allowed).
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    if (p === '.' || p === '..') throw new PathRefused(403, 'dot segments are refused');
    if (p === '' && i !== parts.length - 1) throw new PathRefused(403, 'empty path segments are refused');
    if (/^[a-zA-Z]:/.test(p)) throw new PathRefused(403, 'drive-letter paths are refused');
  }
  const first = parts[0] ?? '';
  if (first === 'ort' || first === 'bundle') {
    const rest = parts.slice(1);
    if (rest.length === 0 || (rest.length === 1 && rest[0] === '')) throw new PathRefused(404, 'directory listings are not served');
    return { root: first, segments: rest };
  }
  if (parts.length === 1 && first === '') return { root: 'web', segments: ['index.html'] };
  if (parts[parts.length - 1] === '') throw new PathRefused(404, 'directory listings are not served');
  return { root: 'web', segments: parts };
}

/** Resolves segments inside root and checks, after following symlinks, that the file stays inside it. */
async function resolveInside(rootReal: string, segments: string[]): Promise<string> {
  const candidate = resolve(rootReal, ...segments);
  if (isAbsolute(segments[0] ?? '') || !(candidate === rootReal || candidate.startsWith(rootReal + sep))) {
    throw new PathRefused(403, 'path escapes its root');
  }
  let real: string;
  try {
    real = await realpath(candidate);
  } catch {
    throw new PathRefused(404, 'not found');
  }
  if (!real.startsWith(rootReal + sep)) throw new PathRefused(403, 'symlink resolves outside its root');
  return real;
}

function send(res: ServerResponse, status: number, body: string, extra: Record<string, string> = {}): void {
  res.writeHead(status, {
    ...COMMON_HEADERS,
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    ...extra,
  });
  res.end(body);
}

export async function startServer(opts: ServerOptions = {}): Promise<RunningServer> {
  const host = opts.host ?? '127.0.0.1';
  if (host !== '127.0.0.1' && host !== 'localhost' && host !== '::1') {
    throw new Error(`refusing to bind to ${host}: this server only binds to the loopback interface`);
  }
  const dirs = {
    web: opts.webDir ?? DEFAULT_WEB_DIR,
    ort: opts.ortDir ?? ortDistDir(),
    bundle: opts.bundleDir ?? bundleDir(), // the one resolver of TINYDIT_BUNDLE (harness/core/config.ts)
  };
  // Real paths of the roots, once: a root that does not exist yet (bundle not built) answers 404 per request.
  const realRoot = (d: string): string | null => (existsSync(d) ? realpathSync(d) : null);
  const roots = { web: realRoot(dirs.web), ort: realRoot(dirs.ort), bundle: realRoot(dirs.bundle) };
  const log = opts.log;
  const share = new Set(opts.shareBundleWith ?? []);

  const handler = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const method = req.method ?? 'GET';
    const target = req.url ?? '/';
    let status = 200;
    try {
      if (method !== 'GET' && method !== 'HEAD') {
        status = 405;
        send(res, 405, 'method not allowed\n', { Allow: 'GET, HEAD' });
        return;
      }
      const { root, segments } = routeRequest(target);
      const rootReal = roots[root] ?? realRoot(dirs[root]);
      if (!rootReal) {
        throw new PathRefused(
          404,
          root === 'web'
            ? `the page is not built (${dirs.web} missing): run npm run build:web`
            : `${root} directory ${dirs[root]} does not exist`,
        );
      }
      roots[root] = rootReal;
      const file = await resolveInside(rootReal, segments);
      const st = await stat(file);
      if (!st.isFile()) throw new PathRefused(404, 'not a file');
      const origin = req.headers.origin;
      const shared =
        root === 'bundle' && typeof origin === 'string' && share.has(origin)
          ? { 'Access-Control-Allow-Origin': origin, 'Cross-Origin-Resource-Policy': 'cross-origin', Vary: 'Origin' }
          : {};
      res.writeHead(200, { ...COMMON_HEADERS, ...shared, 'Content-Type': mimeType(file), 'Content-Length': st.size });
      if (method === 'HEAD') {
        res.end();
        return;
      }
      const stream = createReadStream(file);
      stream.on('error', (err) => res.destroy(err));
      res.on('close', () => stream.destroy());
      stream.pipe(res);
    } catch (err) {
      if (err instanceof PathRefused) {
        status = err.status;
        send(res, err.status, `${err.status === 404 ? 'not found' : err.status === 400 ? 'bad request' : 'forbidden'}: ${err.message}\n`);
      } else {
        status = 500;
        if (!res.headersSent) send(res, 500, 'internal error\n');
        else res.destroy();
      }
    } finally {
      log?.(`${method} ${target} ${status}`);
    }
  };

  const server = createServer((req, res) => {
    void handler(req, res);
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', fail);
      ok();
    });
  });
  const { port, address } = server.address() as AddressInfo;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${urlHost}:${port}`,
    port,
    address,
    roots: dirs,
    close: () =>
      new Promise<void>((ok) => {
        server.close(() => ok());
        server.closeAllConnections();
      }),
  };
}

/** The origins given (comma-separated), else the origin of the app under test's URL (TINYDIT_APP_URL), else none. */
export function shareOrigins(arg: string | undefined, appUrl: string | undefined): string[] {
  const list = (arg ?? '')
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);
  if (list.length) return list.map((o) => new URL(o).origin);
  if (appUrl?.trim()) {
    try {
      return [new URL(appUrl.trim()).origin];
    } catch {
      throw new Error(`env TINYDIT_APP_URL=${appUrl}: not a URL`);
    }
  }
  return [];
}

function cliArg(name: string): string | undefined {
  const argv = process.argv.slice(2);
  const i = argv.indexOf(`--${name}`);
  if (i >= 0) return argv[i + 1];
  const eq = argv.find((a) => a.startsWith(`--${name}=`));
  return eq?.slice(name.length + 3);
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href;
if (isMain) {
  const port = Number(cliArg('port') ?? process.env.TINYDIT_PORT ?? 8765);
  const bundle = cliArg('bundle');
  const web = cliArg('web');
  const ort = cliArg('ort');
  const webDir = web ? resolve(web) : DEFAULT_WEB_DIR;
  if (!existsSync(join(webDir, 'index.html')) && !process.argv.includes('--allow-missing-page')) {
    console.error(
      `tinydit server: the reference page is not built (${join(webDir, 'index.html')} missing): run \`npm run build:web\` first`,
    );
    process.exit(1);
  }
  const running = await startServer({
    port,
    host: cliArg('host') ?? '127.0.0.1',
    ...(bundle ? { bundleDir: resolve(bundle) } : {}),
    ...(web ? { webDir: resolve(web) } : {}),
    ...(ort ? { ortDir: resolve(ort) } : {}),
    ...(process.argv.includes('--verbose') ? { log: (l: string) => console.log(l) } : {}),
    shareBundleWith: shareOrigins(cliArg('share-bundle-with'), process.env.TINYDIT_APP_URL),
  });
  console.log(
    `tinydit server on ${running.url}  (page ${running.roots.web}, /ort/ ${running.roots.ort}, /bundle/ ${running.roots.bundle})`,
  );
  const stop = (): void => {
    void running.close().then(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
