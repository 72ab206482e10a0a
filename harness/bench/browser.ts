/**
 * The browser engines as benchmark runtimes: the engine each Playwright project would use
 * (harness/runtimes/detect.ts: Playwright's own build, else Debian's Chromium, Firefox ESR over WebDriver BiDi,
 * WebKitGTK MiniBrowser), started from this process with Playwright's library API, on the reference page
 * (harness/web) served by harness/runtimes/server.ts. Every figure is timed inside the page with performance.now() around
 * window.tinydit.load()/generate(); the page's worker reports its own session and session.run times.
 */
import { webkit, type Browser, type BrowserContext, type Page } from '@playwright/test';
import { chooseEngine, engineMissingMessage, playwrightType, type EngineChoice } from '../runtimes/detect.js';
import { installFirefoxBidiShim } from '../runtimes/firefox-shim.js';
import { startMiniBrowser, type MiniBrowserSession } from '../runtimes/webkit.js';
import type { LoadOptions } from '../runtimes/web/protocol.js';
import type { GenerateRequest, GenerateTiming, LoadTiming, RuntimeDriver, RuntimeName } from './plan.js';

export interface OpenEngine {
  runtime: RuntimeName;
  engine: EngineChoice;
  label: string;
  version: string;
  page: Page;
  hardwareConcurrency: number;
  crossOriginIsolated: boolean;
  userAgent: string;
  close(): Promise<void>;
}

/** Starts an engine and opens the reference page on serverUrl. Throws with the engine and the fix. */
export async function openEngine(runtime: RuntimeName, serverUrl: string, timeoutMs = 90_000): Promise<OpenEngine> {
  if (runtime === 'node') throw new Error('openEngine: node is not a browser');
  const e = chooseEngine(runtime);
  if (!e.available) throw new Error(engineMissingMessage(e));
  let browser: Browser | undefined;
  let context: BrowserContext | undefined;
  let mb: MiniBrowserSession | undefined;
  let page: Page;
  try {
    if (e.kind === 'minibrowser') {
      mb = await startMiniBrowser({ startUrl: `${serverUrl}/`, executable: e.executable, webkit, timeoutMs });
      browser = mb.browser;
      const p = browser.contexts()[0]?.pages()[0];
      if (!p) throw new Error('MiniBrowser has no page');
      page = p;
    } else {
      if (e.kind === 'system-firefox') installFirefoxBidiShim();
      const type = playwrightType(runtime);
      browser = await type.launch({ ...e.launchOptions, ...(e.channel ? { channel: e.channel } : {}), headless: true, timeout: timeoutMs });
      context = await browser.newContext();
      page = await context.newPage();
      await page.goto(`${serverUrl}/`, { timeout: timeoutMs });
    }
    await page.waitForFunction(() => typeof window.tinydit === 'object' && window.tinydit !== null, undefined, { timeout: timeoutMs });
  } catch (err) {
    if (mb) await mb.close().catch(() => undefined);
    else if (browser) await browser.close().catch(() => undefined);
    throw new Error(engineMissingMessage(e, (err as Error).message));
  }
  const env = await page.evaluate(() => ({
    hc: navigator.hardwareConcurrency || 1,
    coi: self.crossOriginIsolated === true,
    ua: navigator.userAgent,
  }));
  const version = mb ? mb.version : browser.version();
  const opened = browser;
  return {
    runtime,
    engine: e,
    label: e.label,
    version,
    page,
    hardwareConcurrency: env.hc,
    crossOriginIsolated: env.coi,
    userAgent: env.ua,
    close: async () => {
      if (mb) await mb.close();
      else {
        await context?.close().catch(() => undefined);
        await opened.close();
      }
    },
  };
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const t = new Promise<never>((_, fail) => {
    timer = setTimeout(() => fail(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

export interface BrowserDriverOptions {
  /** load() options of a variant (model URL, guidance, scale, null index, size) from the bundle. */
  loadOptions(variant: string): LoadOptions;
  /** Per call limit, ms. */
  callTimeoutMs: number;
}

/** window.tinydit in an open engine, as a RuntimeDriver. */
export class BrowserDriver implements RuntimeDriver {
  constructor(
    readonly runtime: RuntimeName,
    private readonly page: Page,
    private readonly opts: BrowserDriverOptions,
  ) {}

  async load(variant: string, threads: number | null): Promise<LoadTiming> {
    const o: LoadOptions = {
      ...this.opts.loadOptions(variant),
      timeoutMs: this.opts.callTimeoutMs,
      ...(threads !== null ? { numThreads: threads } : {}),
    };
    const r = await withTimeout(
      this.page.evaluate(async (lo) => {
        const t0 = performance.now();
        try {
          const info = await window.tinydit.load(lo);
          return {
            ok: true as const,
            wall: performance.now() - t0,
            sessionMs: info.sessionMs,
            fetchMs: info.fetchMs,
            threads: info.numThreads,
            bytes: info.modelBytes,
          };
        } catch (e) {
          return { ok: false as const, message: e instanceof Error ? e.message : String(e) };
        }
      }, o),
      this.opts.callTimeoutMs + 10_000,
      `${this.runtime}: load(${o.modelUrl})`,
    );
    if (!r.ok) throw new Error(`${this.runtime}: load(${o.modelUrl}) failed: ${r.message}`);
    return { totalMs: r.wall, sessionMs: r.sessionMs, fetchMs: r.fetchMs, threads: r.threads, modelBytes: r.bytes };
  }

  async generate(req: GenerateRequest): Promise<GenerateTiming> {
    const r = await withTimeout(
      this.page.evaluate(async (g) => {
        const t0 = performance.now();
        try {
          const res = await window.tinydit.generate(g);
          return { ok: true as const, wall: performance.now() - t0, modelMs: res.modelMs, totalMs: res.totalTime };
        } catch (e) {
          return { ok: false as const, message: e instanceof Error ? e.message : String(e) };
        }
      }, req),
      this.opts.callTimeoutMs,
      `${this.runtime}: generate(${JSON.stringify(req)})`,
    );
    if (!r.ok) throw new Error(`${this.runtime}: generate(${JSON.stringify(req)}) failed: ${r.message}`);
    return { wallMs: r.wall, modelMs: r.modelMs, totalMs: r.totalMs };
  }
}
