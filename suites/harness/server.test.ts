/**
 * The static server of the browser suites (harness/runtimes/server.ts) serves the page, onnxruntime-web's runtime and
 * the bundle, and nothing else, on the loopback interface only:
 * - every form of path traversal is refused with 400/403/404 and never returns a byte of the file behind it:
 *   `..`, percent-encoded dots and slashes (single and double encoding, mixed case, overlong UTF-8), backslashes,
 *   NUL, absolute and drive-letter paths, absolute-form request targets, symlinks that leave their root (file,
 *   folder, absolute link), a root-hopping `/ort/../bundle/`;
 * - only the three roots answer: files beside them (the repository, node_modules) are not found, folders are
 *   not listed, methods other than GET/HEAD are refused;
 * - it binds to 127.0.0.1: a connection through any non-loopback address of this machine fails, while the
 *   same probe reaches a listener bound to that address (so the probe can fail), and a non-loopback host is
 *   refused outright.
 * Requests are written raw on a socket, so no client normalises them first. Roots are temporary folders with
 * a secret file placed beside them; the real roots are checked too. Cases: server:request=<target> and
 * server:bind=<what>.
 */
import { caseId } from '../../harness/core/case-id.js';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordCheck } from '../../harness/core/record-check.js';
import { shareOrigins, startServer, type RunningServer } from '../../harness/runtimes/server.js';

const RUNTIME = 'node';
/** Content of the files placed outside the roots: a response that contains it leaked. */
const SECRET = 'TINYDIT-SERVER-TEST-SECRET';
const REFUSED = [400, 403, 404];

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** One HTTP/1.1 request written byte for byte (no URL parsing on the client side). */
function rawRequest(port: number, target: string, method = 'GET', host = '127.0.0.1', origin?: string): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, host, () =>
      sock.write(
        `${method} ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\n${origin ? `Origin: ${origin}\r\n` : ''}Connection: close\r\n\r\n`,
        'latin1',
      ),
    );
    const chunks: Buffer[] = [];
    sock.on('data', (d: Buffer) => chunks.push(d));
    sock.on('end', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const [head = '', ...rest] = text.split('\r\n\r\n');
      const [statusLine = '', ...lines] = head.split('\r\n');
      const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
      resolve({ status: Number(/^HTTP\/1\.1 (\d+)/.exec(statusLine)?.[1] ?? 0), headers, body: rest.join('\r\n\r\n') });
    });
    sock.on('error', reject);
    sock.setTimeout(10_000, () => {
      sock.destroy();
      reject(new Error(`${method} ${target}: no answer within 10 s`));
    });
  });
}

/** Connect attempt: 'connected' or the error code. */
function tryConnect(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const sock = connect({ host, port, timeout: 3_000 });
    sock.on('connect', () => {
      sock.destroy();
      resolve('connected');
    });
    sock.on('timeout', () => {
      sock.destroy();
      resolve('ETIMEDOUT');
    });
    sock.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
}

// ---------------------------------------------------------------------------------------------------------
// Roots with a secret beside them

const base = mkdtempSync(join(tmpdir(), 'tinydit-server-test-'));
const roots = { web: join(base, 'web'), ort: join(base, 'ort'), bundle: join(base, 'bundle') };
let server: RunningServer;

beforeAll(async () => {
  for (const d of [...Object.values(roots), join(roots.bundle, 'goldens'), join(base, 'outside')]) mkdirSync(d, { recursive: true });
  writeFileSync(join(roots.web, 'index.html'), '<!doctype html><title>page</title>');
  writeFileSync(join(roots.web, 'main.js'), 'export {};');
  writeFileSync(join(roots.ort, 'ort-wasm-simd-threaded.wasm'), new Uint8Array([0, 97, 115, 109]));
  writeFileSync(join(roots.bundle, 'manifest.json'), '{"format":"tinydit-bundle/1"}');
  writeFileSync(join(roots.bundle, 'goldens', 'index.json'), '{}');
  writeFileSync(join(base, 'secret.txt'), SECRET);
  writeFileSync(join(base, 'outside', 'secret.txt'), SECRET);
  symlinkSync(join(base, 'secret.txt'), join(roots.bundle, 'link-out.txt'));
  symlinkSync('../outside', join(roots.bundle, 'dir-out'));
  symlinkSync('/etc/passwd', join(roots.bundle, 'abs-out'));
  symlinkSync(join(roots.bundle, 'manifest.json'), join(roots.bundle, 'link-in.json'));
  server = await startServer({ webDir: roots.web, ortDir: roots.ort, bundleDir: roots.bundle, port: 0 });
});

afterAll(async () => {
  await server?.close();
  rmSync(base, { recursive: true, force: true });
});

/** Requests that must be refused, by what they try. */
const TRAVERSAL: Array<[string, string]> = [
  ['dot-dot', '/bundle/../secret.txt'],
  ['dot-dot-deep', '/bundle/../../../../../../etc/passwd'],
  ['dot-dot-from-page', '/../secret.txt'],
  ['dot-dot-root-hop', '/ort/../bundle/manifest.json'],
  ['dot-segment', '/bundle/./manifest.json'],
  ['encoded-dots', '/bundle/%2e%2e/secret.txt'],
  ['encoded-dots-upper', '/bundle/%2E%2E/secret.txt'],
  ['half-encoded-dots', '/bundle/.%2e/secret.txt'],
  ['encoded-slash', '/bundle/..%2fsecret.txt'],
  ['encoded-slash-upper', '/bundle/..%2Fsecret.txt'],
  ['all-encoded', '/bundle/%2e%2e%2fsecret.txt'],
  ['double-encoded-dots', '/bundle/%252e%252e/secret.txt'],
  ['double-encoded-slash', '/bundle/..%252fsecret.txt'],
  ['overlong-utf8-dots', '/bundle/%c0%ae%c0%ae/secret.txt'],
  ['encoded-backslash', '/bundle/..%5csecret.txt'],
  ['backslash', '/bundle/..\\secret.txt'],
  ['encoded-nul', '/bundle/manifest.json%00.png'],
  ['raw-nul', '/bundle/manifest.json\u0000'],
  ['absolute-path', '//etc/passwd'],
  ['absolute-path-in-root', '/bundle//etc/passwd'],
  ['encoded-absolute-path', '/%2fetc/passwd'],
  ['drive-letter', '/bundle/C:/Windows/win.ini'],
  ['absolute-form-target', 'http://127.0.0.1/bundle/../secret.txt'],
  ['relative-target', 'bundle/manifest.json'],
  ['symlink-file-out', '/bundle/link-out.txt'],
  ['symlink-dir-out', '/bundle/dir-out/secret.txt'],
  ['symlink-absolute', '/bundle/abs-out'],
];

/** Paths outside the three roots, and folder listings: not served. */
const NOT_SERVED: Array<[string, string]> = [
  ['beside-the-roots', '/secret.txt'],
  ['repository-file', '/package.json'],
  ['node-modules', '/node_modules/onnxruntime-web/package.json'],
  ['harness-source', '/harness/runtimes/server.ts'],
  ['bundle-listing', '/bundle/'],
  ['bundle-bare', '/bundle'],
  ['ort-listing', '/ort/'],
  ['goldens-listing', '/bundle/goldens/'],
];

const SERVED: Array<[string, string, string]> = [
  ['page', '/', 'text/html; charset=utf-8'],
  ['page-file', '/index.html', 'text/html; charset=utf-8'],
  ['page-script', '/main.js', 'text/javascript; charset=utf-8'],
  ['runtime', '/ort/ort-wasm-simd-threaded.wasm', 'application/wasm'],
  ['bundle-file', '/bundle/manifest.json', 'application/json; charset=utf-8'],
  ['bundle-subfolder', '/bundle/goldens/index.json', 'application/json; charset=utf-8'],
  ['symlink-inside', '/bundle/link-in.json', 'application/json; charset=utf-8'],
  ['query-string', '/bundle/manifest.json?v=1', 'application/json; charset=utf-8'],
];

function record(id: string, ok: boolean, metrics: Record<string, number | string | boolean | null>, message: string): void {
  recordCheck({
    id,
    check: 'server',
    runtime: RUNTIME,
    status: ok ? 'pass' : 'fail',
    metrics,
    threshold: { refusedWith: REFUSED.join('|') },
    message,
  });
}

describe('the static server refuses path traversal', () => {
  it.each(TRAVERSAL)('server:request=%s', async (what, target) => {
    const id = caseId('server', { request: what });
    const r = await rawRequest(server.port, target);
    const leaked = r.body.includes(SECRET) || r.body.includes('root:x:0:0') || r.body.includes('tinydit-bundle');
    const ok = REFUSED.includes(r.status) && !leaked;
    record(id, ok, { status: r.status, leaked }, `${JSON.stringify(target)} -> ${r.status} ${r.body.trim().slice(0, 120)}`);
    expect(
      ok,
      `${id}: ${JSON.stringify(target)} answered ${r.status}${leaked ? ' WITH the file behind it' : ''}: ${r.body.slice(0, 200)}`,
    ).toBe(true);
    // refusals carry the isolation headers too (a 403 page is still a document of this origin); the parser's own 400 has none
    if (r.status !== 400) expect(r.headers['cross-origin-opener-policy']).toBe('same-origin');
  });
});

describe('the static server serves only the page, /ort/ and /bundle/', () => {
  it.each(NOT_SERVED)('server:request=%s', async (what, target) => {
    const id = caseId('server', { request: what });
    const r = await rawRequest(server.port, target);
    const ok = r.status === 404 && !r.body.includes(SECRET);
    record(id, ok, { status: r.status }, `${target} -> ${r.status} ${r.body.trim().slice(0, 120)}`);
    expect(ok, `${id}: ${target} answered ${r.status}: ${r.body.slice(0, 200)}`).toBe(true);
  });

  it.each(SERVED)('server:request=%s', async (what, target, type) => {
    const id = caseId('server', { request: what });
    const r = await rawRequest(server.port, target);
    const ok =
      r.status === 200 &&
      r.headers['content-type'] === type &&
      r.headers['cross-origin-opener-policy'] === 'same-origin' &&
      r.headers['cross-origin-embedder-policy'] === 'require-corp';
    record(
      id,
      ok,
      { status: r.status, contentType: r.headers['content-type'] ?? null },
      `${target} -> ${r.status} ${r.headers['content-type']}`,
    );
    expect(ok, `${id}: ${target} answered ${r.status} ${JSON.stringify(r.headers)}`).toBe(true);
  });

  it.each(['POST', 'PUT', 'DELETE', 'PATCH'])('server:request=method-%s', async (method) => {
    const id = caseId('server', { request: `method-${method}` });
    const r = await rawRequest(server.port, '/bundle/manifest.json', method);
    record(id, r.status === 405, { status: r.status, allow: r.headers.allow ?? null }, `${method} -> ${r.status}`);
    expect(r.status, id).toBe(405);
    expect(r.headers.allow).toBe('GET, HEAD');
  });

  it('server:request=real-roots', async () => {
    // the default roots of a gate run: the built page, node_modules/onnxruntime-web/dist, fixtures/default
    const real = await startServer({ port: 0 });
    try {
      const refused: Array<[string, number]> = [];
      for (const t of [
        '/package.json',
        '/bundle/../package.json',
        '/ort/../../package.json',
        '/ort/../package.json',
        '/bundle/..%2f..%2fpackage.json',
        '/node_modules/onnxruntime-web/package.json',
        '/harness/runtimes/server.ts',
        '/.git/config',
        '/bundle/',
      ]) {
        refused.push([t, (await rawRequest(real.port, t)).status]);
      }
      const served = await rawRequest(real.port, '/ort/ort-wasm-simd-threaded.wasm', 'HEAD');
      const manifest = await rawRequest(real.port, '/bundle/manifest.json', 'HEAD');
      const ok = refused.every(([, s]) => REFUSED.includes(s)) && served.status === 200 && manifest.status === 200;
      record(
        'server:request=real-roots',
        ok,
        { served: served.status, manifest: manifest.status },
        `${refused.map(([t, s]) => `${t} -> ${s}`).join('; ')}; /ort/ wasm -> ${served.status}; /bundle/manifest.json -> ${manifest.status}`,
      );
      expect(
        refused.filter(([, s]) => !REFUSED.includes(s)),
        'requests outside the roots that were answered',
      ).toEqual([]);
      expect(served.status).toBe(200);
      expect(manifest.status).toBe(200);
    } finally {
      await real.close();
    }
  });
});

describe('the static server shares /bundle/ with an app under test served elsewhere, and nothing else', () => {
  it('server:request=shared-bundle', async () => {
    const app = 'http://localhost:5173';
    expect(shareOrigins(undefined, `${app}/some/page?x=1`)).toEqual([app]);
    expect(shareOrigins('http://a.test:1/,http://b.test', undefined)).toEqual(['http://a.test:1', 'http://b.test']);
    expect(shareOrigins(undefined, undefined)).toEqual([]);
    const s = await startServer({ port: 0, shareBundleWith: [app] });
    try {
      const bundle = await rawRequest(s.port, '/bundle/manifest.json', 'HEAD', '127.0.0.1', app);
      const other = await rawRequest(s.port, '/bundle/manifest.json', 'HEAD', '127.0.0.1', 'http://evil.test');
      const none = await rawRequest(s.port, '/bundle/manifest.json', 'HEAD');
      const ort = await rawRequest(s.port, '/ort/ort-wasm-simd-threaded.wasm', 'HEAD', '127.0.0.1', app);
      const cases: Array<[string, RawResponse, string | undefined, string]> = [
        ['/bundle/ from the app', bundle, app, 'cross-origin'],
        ['/bundle/ from another origin', other, undefined, 'same-origin'],
        ['/bundle/ with no Origin', none, undefined, 'same-origin'],
        ['/ort/ from the app', ort, undefined, 'same-origin'],
      ];
      const wrong = cases.filter(
        ([, r, acao, corp]) =>
          r.status !== 200 || r.headers['access-control-allow-origin'] !== acao || r.headers['cross-origin-resource-policy'] !== corp,
      );
      record(
        'server:request=shared-bundle',
        wrong.length === 0,
        { cases: cases.length, wrong: wrong.length },
        wrong.length
          ? wrong
              .map(
                ([w, r]) =>
                  `${w}: ${r.status} ACAO ${r.headers['access-control-allow-origin']} CORP ${r.headers['cross-origin-resource-policy']}`,
              )
              .join('; ')
          : `only /bundle/ to ${app} is shared (ACAO + CORP cross-origin); other origins, no origin and /ort/ stay same-origin`,
      );
      expect(wrong.map(([w]) => w)).toEqual([]);
    } finally {
      await s.close();
    }
  });
});

describe('the static server binds to loopback only', () => {
  /** Every non-loopback address of this machine (link-local IPv6 with its interface). */
  const external = Object.entries(networkInterfaces()).flatMap(([name, list]) =>
    (list ?? [])
      .filter((a) => !a.internal)
      .map((a) => (a.family === 'IPv6' && a.address.startsWith('fe80:') ? `${a.address}%${name}` : a.address)),
  );

  it('server:bind=address', () => {
    // the listening socket's own address, as the kernel reports it
    const ok = server.address === '127.0.0.1' && server.url === `http://127.0.0.1:${server.port}`;
    record('server:bind=address', ok, { url: server.url, address: server.address }, `listening on ${server.address} (${server.url})`);
    expect(server.address).toBe('127.0.0.1');
    expect(server.url).toBe(`http://127.0.0.1:${server.port}`);
  });

  it('server:bind=non-loopback-unreachable', async () => {
    const id = 'server:bind=non-loopback-unreachable';
    const outcomes: Array<[string, string, string]> = [];
    for (const host of external) {
      // the probe itself must be able to connect: a listener bound to that very address answers it
      const control = createServer((s) => s.destroy());
      const bound = await new Promise<boolean>((ok) => {
        control.once('error', () => ok(false));
        control.listen(0, host, () => ok(true));
      });
      const controlOutcome = bound ? await tryConnect(host, (control.address() as AddressInfo).port) : 'cannot bind (not probed)';
      control.close();
      outcomes.push([host, await tryConnect(host, server.port), controlOutcome]);
    }
    const probed = outcomes.filter(([, , c]) => c === 'connected');
    const reached = outcomes.filter(([, o]) => o === 'connected');
    const ok = reached.length === 0 && (external.length === 0 || probed.length > 0);
    record(
      id,
      ok,
      { addresses: external.length, probed: probed.length, reached: reached.length },
      external.length === 0
        ? 'this machine has no non-loopback address: the bound address (server:bind=address) is the evidence'
        : outcomes.map(([h, o, c]) => `${h}: ${o} (control listener: ${c})`).join('; '),
    );
    expect(reached, `${id}: the server answered on a non-loopback address`).toEqual([]);
    if (external.length)
      expect(probed.length, `${id}: no non-loopback address could be probed: ${JSON.stringify(outcomes)}`).toBeGreaterThan(0);
  });

  it.each(['0.0.0.0', '::', '192.0.2.1'])('server:bind=refuses-host-%s', async (host) => {
    const id = caseId('server', { bind: `refuses-host-${host}` });
    let message = '';
    try {
      const s = await startServer({ host, port: 0 });
      await s.close();
    } catch (e) {
      message = (e as Error).message;
    }
    const ok = /only binds to the loopback interface/.test(message);
    record(id, ok, { refused: message !== '' }, message || `startServer({ host: '${host}' }) started`);
    expect(message, id).toMatch(/only binds to the loopback interface/);
  });
});
