/**
 * WebKit without Playwright's patched build: WebKitGTK's MiniBrowser on its own Xvfb, driven through
 * Playwright's WebKit remote-inspector connect path (`webkit.connectOverCDP`, the one meant for
 * ios_webkit_debug_proxy; not in Playwright's public typings).
 *
 *  - Xvfb -displayfd picks a free display;
 *  - MiniBrowser runs with WEBKIT_INSPECTOR_HTTP_SERVER=127.0.0.1:<port> and JSC_useSharedArrayBuffer=1
 *    (without it SharedArrayBuffer is undefined and onnxruntime-web drops to one thread);
 *  - WebKitGTK's inspector HTTP server lists targets as HTML, not /json, so a tiny local helper serves
 *    /json with each target's ws://.../socket/<conn>/<target>/WebPage URL;
 *  - MiniBrowser starts on the page's origin: its first cross-process navigation (another origin, or into a
 *    COOP page) would be cancelled.
 * Limits: one context with one tab (state carries between tests), no newContext/newPage, no setViewportSize,
 * keyboard.type types nothing (use fill/click), clicks are synthetic, downloads are not reported.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createServer as createNetServer } from 'node:net';
import type { Browser, BrowserType } from '@playwright/test';

export const MINIBROWSER_CANDIDATES = [
  '/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser',
  '/usr/lib/aarch64-linux-gnu/webkit2gtk-4.1/MiniBrowser',
  '/usr/lib/x86_64-linux-gnu/webkit2gtk-4.0/MiniBrowser',
  '/usr/lib/aarch64-linux-gnu/webkit2gtk-4.0/MiniBrowser',
  '/usr/libexec/webkit2gtk-4.1/MiniBrowser',
  '/usr/libexec/webkit2gtk-4.0/MiniBrowser',
];
export const XVFB_CANDIDATES = ['/usr/bin/Xvfb', '/usr/local/bin/Xvfb'];

export function findMiniBrowser(): string | undefined {
  const env = process.env.TINYDIT_MINIBROWSER;
  if (env) return env;
  return MINIBROWSER_CANDIDATES.find((p) => existsSync(p));
}
export function findXvfb(): string | undefined {
  return XVFB_CANDIDATES.find((p) => existsSync(p));
}

export const MINIBROWSER_INSTALL_HINT =
  "install WebKitGTK's MiniBrowser and Xvfb: `apt-get update && apt-get install -y webkit2gtk-driver xvfb` " +
  "(MiniBrowser ships in libwebkit2gtk-4.1-0), or Playwright's WebKit: `npx playwright install --with-deps webkit`";

export interface MiniBrowserOptions {
  /** The first page; must be on the origin the tests use (see above). */
  startUrl: string;
  executable?: string;
  xvfb?: string;
  /** Playwright's webkit BrowserType (the `playwright` fixture's, so that its instrumentation applies). */
  webkit: BrowserType;
  /** ms to wait for each start-up stage (default 30000). */
  timeoutMs?: number;
}

export interface MiniBrowserSession {
  browser: Browser;
  /** e.g. "WebKitGTK 2.50.6" */
  version: string;
  display: string;
  executable: string;
  /** Recent stderr/stdout of MiniBrowser and Xvfb (for failure messages). */
  logs(): string;
  close(): Promise<void>;
}

class Ring {
  private lines: string[] = [];
  push(prefix: string, chunk: Buffer | string): void {
    for (const l of chunk.toString().split('\n')) if (l.trim()) this.lines.push(`${prefix}${l}`);
    if (this.lines.length > 200) this.lines.splice(0, this.lines.length - 200);
  }
  text(): string {
    return this.lines.join('\n');
  }
}

async function freePort(): Promise<number> {
  const s = createNetServer();
  await new Promise<void>((ok, fail) => {
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => ok());
  });
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((ok) => s.close(() => ok()));
  return port;
}

function sleep(ms: number): Promise<void> {
  return new Promise((ok) => setTimeout(ok, ms));
}

function exited(p: ChildProcess): boolean {
  return p.exitCode !== null || p.signalCode !== null;
}

async function killProcess(p: ChildProcess | undefined): Promise<void> {
  if (!p || exited(p)) return;
  const gone = new Promise<void>((ok) => p.once('exit', () => ok()));
  p.kill('SIGTERM');
  const timer = setTimeout(() => {
    if (!exited(p)) p.kill('SIGKILL');
  }, 3000);
  await gone;
  clearTimeout(timer);
}

async function startXvfb(xvfb: string, ring: Ring, timeoutMs: number): Promise<{ proc: ChildProcess; display: string }> {
  const proc = spawn(xvfb, ['-displayfd', '3', '-screen', '0', '1280x1024x24', '-nolisten', 'tcp', '-nolisten', 'unix-abstract'], {
    stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
  });
  proc.stdout?.on('data', (d: Buffer) => ring.push('[xvfb] ', d));
  proc.stderr?.on('data', (d: Buffer) => ring.push('[xvfb] ', d));
  const fd3 = proc.stdio[3] as NodeJS.ReadableStream | null;
  const display = await new Promise<string>((ok, fail) => {
    let buf = '';
    const timer = setTimeout(() => fail(new Error(`Xvfb gave no display within ${timeoutMs} ms`)), timeoutMs);
    fd3?.on('data', (d: Buffer) => {
      buf += d.toString();
      const m = /(\d+)\s*\n/.exec(buf);
      if (m) {
        clearTimeout(timer);
        ok(`:${m[1]}`);
      }
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      fail(new Error(`Xvfb exited (code ${code}) before giving a display`));
    });
    proc.once('error', (err) => {
      clearTimeout(timer);
      fail(err);
    });
  });
  return { proc, display };
}

interface InspectorTarget {
  title: string;
  url: string;
  socket: string;
}

/** Parses WebKitGTK's inspector HTML target list. */
export function parseInspectorTargets(html: string): InspectorTarget[] {
  const out: InspectorTarget[] = [];
  const rowRe = /<tr>([\s\S]*?)<\/tr>/g;
  let m: RegExpExecArray | null;
  while ((m = rowRe.exec(html))) {
    const row = m[1]!;
    const socket = /\/socket\/(\d+)\/(\d+)\/(\w+)/.exec(row);
    if (!socket) continue;
    const title = /class="targetname">([\s\S]*?)<\/div>/.exec(row)?.[1] ?? '';
    const url = /class="targeturl">([\s\S]*?)<\/div>/.exec(row)?.[1] ?? '';
    out.push({ title, url, socket: socket[0] });
  }
  return out;
}

/**
 * Waits until the inspector lists a WebPage target already showing the start URL: connecting earlier (while
 * MiniBrowser still shows about:blank) attaches to a page that is then swapped for the COOP page's process,
 * and the connection never initialises.
 */
async function waitForTarget(
  inspector: string,
  startUrl: string,
  deadline: number,
  proc: ChildProcess,
  ring: Ring,
): Promise<InspectorTarget> {
  let lastErr = 'no answer';
  while (Date.now() < deadline) {
    if (exited(proc)) throw new Error(`MiniBrowser exited (code ${proc.exitCode ?? proc.signalCode})\n${ring.text()}`);
    try {
      const res = await fetch(`http://${inspector}/`);
      const targets = parseInspectorTargets(await res.text()).filter((t) => t.socket.endsWith('/WebPage'));
      const ready = targets.find((t) => sameUrl(t.url, startUrl));
      if (ready) return ready;
      lastErr = targets.length ? `page still at ${targets.map((t) => t.url).join(', ')}` : 'no WebPage target listed yet';
    } catch (err) {
      lastErr = (err as Error).message;
    }
    await sleep(250);
  }
  throw new Error(`MiniBrowser's inspector at ${inspector} listed no page (${lastErr})\n${ring.text()}`);
}

function sameUrl(a: string, b: string): boolean {
  const norm = (u: string): string => u.replace(/&amp;/g, '&').replace(/\/$/, '');
  return norm(a) === norm(b);
}

/** The /json endpoint Playwright's webkit connect path expects, pointing at WebKitGTK's inspector sockets. */
async function startJsonHelper(inspector: string): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    void (async () => {
      if (req.url !== '/json' && req.url !== '/json/list') {
        res.writeHead(404).end();
        return;
      }
      try {
        const html = await (await fetch(`http://${inspector}/`)).text();
        const list = parseInspectorTargets(html)
          .filter((t) => t.socket.endsWith('/WebPage'))
          .map((t) => ({
            id: t.socket,
            type: 'page',
            title: t.title,
            url: t.url,
            webSocketDebuggerUrl: `ws://${inspector}${t.socket}`,
          }));
        res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(list));
      } catch (err) {
        res.writeHead(502, { 'Content-Type': 'text/plain' }).end(String(err));
      }
    })();
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', () => ok()));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

export function miniBrowserVersion(executable: string, display?: string): string {
  try {
    const out = execFileSync(executable, ['--version'], {
      env: { ...process.env, ...(display ? { DISPLAY: display } : {}) },
      timeout: 15000,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return /WebKitGTK\s+[\d.]+/.exec(out)?.[0] ?? out.trim();
  } catch (err) {
    const out = String((err as { stdout?: string }).stdout ?? '');
    return /WebKitGTK\s+[\d.]+/.exec(out)?.[0] ?? 'WebKitGTK (version unknown)';
  }
}

export async function startMiniBrowser(opts: MiniBrowserOptions): Promise<MiniBrowserSession> {
  const executable = opts.executable ?? findMiniBrowser();
  const xvfb = opts.xvfb ?? findXvfb();
  if (!executable || !existsSync(executable)) {
    throw new Error(
      `WebKitGTK MiniBrowser not found (looked at ${opts.executable ?? MINIBROWSER_CANDIDATES.join(', ')}); ${MINIBROWSER_INSTALL_HINT}`,
    );
  }
  if (!xvfb) throw new Error(`Xvfb not found (looked at ${XVFB_CANDIDATES.join(', ')}); ${MINIBROWSER_INSTALL_HINT}`);
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const ring = new Ring();
  let xv: ChildProcess | undefined;
  let mb: ChildProcess | undefined;
  let helper: Server | undefined;
  let browser: Browser | undefined;
  const cleanup = async (): Promise<void> => {
    if (browser) await browser.close().catch(() => undefined);
    if (helper) await new Promise<void>((ok) => helper!.close(() => ok()));
    helper = undefined;
    await killProcess(mb);
    await killProcess(xv);
  };
  try {
    const started = await startXvfb(xvfb, ring, timeoutMs);
    xv = started.proc;
    const display = started.display;
    const inspector = `127.0.0.1:${await freePort()}`;
    mb = spawn(executable, [opts.startUrl], {
      env: {
        ...process.env,
        DISPLAY: display,
        WEBKIT_INSPECTOR_HTTP_SERVER: inspector,
        JSC_useSharedArrayBuffer: '1',
        // No GPU here: keep WebKitGTK on its software paths, quietly.
        WEBKIT_DISABLE_COMPOSITING_MODE: '1',
        LIBGL_ALWAYS_SOFTWARE: '1',
        GTK_A11Y: 'none',
        NO_AT_BRIDGE: '1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    mb.stdout?.on('data', (d: Buffer) => ring.push('[minibrowser] ', d));
    mb.stderr?.on('data', (d: Buffer) => ring.push('[minibrowser] ', d));
    const spawnError = new Promise<never>((_, fail) => mb!.once('error', fail));
    await Promise.race([waitForTarget(inspector, opts.startUrl, Date.now() + timeoutMs, mb, ring), spawnError]);
    const json = await startJsonHelper(inspector);
    helper = json.server;
    const connect = (opts.webkit as unknown as { connectOverCDP(url: string, o?: { timeout?: number }): Promise<Browser> }).connectOverCDP;
    if (typeof connect !== 'function') throw new Error('this Playwright has no webkit.connectOverCDP (remote inspector connect path)');
    browser = await connect.call(opts.webkit, json.url, { timeout: timeoutMs });
    const version = miniBrowserVersion(executable, display);
    const connected = browser;
    return {
      browser: connected,
      version,
      display,
      executable,
      logs: () => ring.text(),
      close: cleanup,
    };
  } catch (err) {
    const logs = ring.text();
    await cleanup();
    const e = err as Error;
    if (logs && !e.message.includes(logs)) e.message += `\n--- MiniBrowser/Xvfb output ---\n${logs}`;
    throw e;
  }
}
