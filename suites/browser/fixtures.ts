/**
 * Fixtures of the browser suites. Import `test` and `expect` from here, not from @playwright/test:
 *  - `browser` starts the project's engine (Playwright's own, or the system one of harness/runtimes/detect.ts);
 *    for WebKitGTK MiniBrowser it replaces browser/context/page (one context, one tab, shared between tests).
 *    An engine that cannot start FAILS the test with the command that installs it (never skips).
 *  - `engineInfo` (worker): engine label, executable and version; each test gets an `engine` annotation.
 *  - `app`: drives the reference page (harness/web) through window.tinydit and returns plain, serialisable
 *    results (RGBA bytes, the final state x as Float32Array, progress events).
 *  - `bundle`: the model bundle under test (env TINYDIT_BUNDLE, default fixtures/default) and load options
 *    for any of its model files (manifest.json when present, env overrides, else the graph decides the size).
 */
import { existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import {
  test as base,
  expect,
  type Browser,
  type BrowserContext,
  type BrowserType,
  type BrowserContextOptions,
  type Page,
  type TestInfo,
} from '@playwright/test';
import { engineMissingMessage, type EngineChoice } from '../../harness/runtimes/detect.js';
import { startMiniBrowser, type MiniBrowserSession } from '../../harness/runtimes/webkit.js';
import { bundleDir, REPO_ROOT } from '../../harness/core/config.js';
import { type GuidanceKind, loadBundle } from '../../harness/model/bundle.js';
import { parseFaults, type Fault, type GenerateOptions, type LoadInfo, type LoadOptions } from '../../harness/runtimes/web/protocol.js';
import { type RecordOrigin, setRecordOrigin } from '../../harness/core/record-check.js';
import type { EngineName } from '../../harness/runtimes/registry.js';
import { timeBounds, type TimeBounds } from '../../harness/runtimes/time-bounds.js';
import type { AppProgress } from '../../harness/apps/adapter.js';

export { expect };

// ---- the bundle under test ----

export interface BundleInfo {
  dir: string;
  /** The engine these load options and bounds are for. */
  engine: EngineName;
  /**
   * Time bounds from the bundle's measured speed (harness/runtimes/time-bounds.ts): a test that waits on the model
   * sets its timeout from `bounds.testMs(bundle.engine, work)`, never from a constant.
   */
  bounds: TimeBounds;
  /** Steps of a generation the suites run: the golden trajectories' (else the manifest sampler's default, else 50). */
  steps: number;
  /** The manifest sampler's default steps (else 50): what the app's own default must be. */
  defaultSteps: number;
  /** manifest.json parsed, or null when the bundle has none. */
  manifest: Record<string, unknown> | null;
  /** URL (on the test server) of a file of the bundle. */
  url(file: string): string;
  has(file: string): boolean;
  /** The model file of a variant name ('guided', 'raw', 'quantized' in manifest.variants) or a file name. */
  file(variantOrFile: string): string;
  /**
   * load() options for a variant or model file (default: the guided model.onnx), from manifest.json only:
   * guidance.scale, guidance.nullIndex, contract.imageSize/channels, variants[*].file and guidance; the load's time
   * limit (timeoutMs) from the bounds.
   */
  loadOptions(variantOrFile?: string, extra?: Partial<LoadOptions>): LoadOptions;
}

/**
 * The bundle under test through the one strict reader (harness/model/bundle.ts loadBundle): load options come from
 * the manifest only (guidance scale and null index, image size and channels, each variant's file and guidance).
 * A bundle the loader refuses fails every browser test with the loader's message; nothing is assumed.
 */
export async function readBundle(engine: EngineName, dir = bundleDir()): Promise<BundleInfo> {
  const b = await loadBundle(dir);
  const bounds = await timeBounds(dir);
  const fileOf = (name: string): string => (b.variantNames.includes(name) ? b.variant(name).file : name);
  const guidanceOf = (file: string): GuidanceKind => {
    const v = b.variantNames.map((n) => b.variant(n)).find((x) => x.file === file);
    if (!v) throw new Error(`${join(dir, 'manifest.json')}: no variant has the file ${file} (variants: ${b.variantNames.join(', ')})`);
    return v.guidance;
  };
  const urlOf = (file: string): string => `/bundle/${file.split('/').map(encodeURIComponent).join('/')}`;
  return {
    dir,
    engine,
    bounds,
    steps: b.index?.trajectories.steps ?? b.manifest.sampler?.defaultSteps ?? 50,
    defaultSteps: b.manifest.sampler?.defaultSteps ?? 50,
    manifest: b.manifest as unknown as Record<string, unknown>,
    url: urlOf,
    has: (file) => existsSync(join(dir, fileOf(file))),
    file: fileOf,
    loadOptions: (variantOrFile = 'model.onnx', extra = {}) => {
      const file = fileOf(variantOrFile);
      const g = guidanceOf(file);
      return {
        modelUrl: urlOf(file),
        guidance: g,
        ...(g === 'baked' ? { bakedScale: b.manifest.guidance.scale } : {}),
        nullIndex: b.nullIndex,
        imageSize: b.imageSize,
        channels: b.channels,
        timeoutMs: bounds.loadMs(engine, file),
        ...extra,
      };
    },
  };
}

// ---- the page driver ----

/** One progress event as the suites see it (the app adapters' type: harness/apps/adapter.ts). */
export type ProgressRecord = AppProgress;

export interface GenerationRun {
  width: number;
  height: number;
  rgba: Uint8Array;
  /** The final state [1,C,H,W]. */
  x: Float32Array;
  totalTime: number;
  avgStepTime: number;
  modelMs: number;
  noiseSeed: number;
  progress: ProgressRecord[];
  /** Wall-clock ms of the whole page.evaluate. */
  wallMs: number;
}

interface RawRun {
  width: number;
  height: number;
  rgba: string;
  x: number[];
  totalTime: number;
  avgStepTime: number;
  modelMs: number;
  noiseSeed: number;
  progress: Array<Omit<ProgressRecord, 'rgba'> & { rgba?: string }>;
}

const fromB64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'base64'));

/** Env name of the page faults injected into every page of a run (comma-separated FAULTS names). */
export const PAGE_FAULTS_ENV = 'TINYDIT_PAGE_FAULTS';

/** The faults of env TINYDIT_PAGE_FAULTS; an unknown name throws, naming the variable (never ignored). */
export function envPageFaults(env: NodeJS.ProcessEnv = process.env): Fault[] {
  const v = env[PAGE_FAULTS_ENV]?.trim();
  if (!v) return [];
  try {
    return parseFaults(`?fault=${encodeURIComponent(v)}`);
  } catch (e) {
    throw new Error(`env ${PAGE_FAULTS_ENV}=${v}: ${(e as Error).message}`);
  }
}

/** What a model load reported (the part of LoadInfo the checks read). */
export interface LoadedInfo {
  backend: string;
  numThreads: number;
  requestedThreads: number;
  initAttempts: number;
  initFailures: string[];
  /** The load ran in the page's previous worker (no new wasm compile; LoadInfo.workerReused). */
  workerReused: boolean;
}

/**
 * What the harness knows a page holds: the URL it opened and the load options of the model it loaded last (with what
 * that load reported). Kept per page, so a worker's warm page (fixture `app`) carries it from test to test.
 */
interface PageMemory {
  url: string;
  load: { key: string; info: LoadedInfo } | null;
}
const pageMemory = new WeakMap<Page, PageMemory>();

export class TinyditApp {
  constructor(
    readonly page: Page,
    readonly serverURL: string,
  ) {}

  /** The page URL open() goes to for these faults and query (env TINYDIT_PAGE_FAULTS added). */
  pageUrl(opts: { faults?: Fault[]; query?: Record<string, string> } = {}): string {
    const q = new URLSearchParams(opts.query ?? {});
    for (const f of new Set([...(opts.faults ?? []), ...envPageFaults()])) q.append('fault', f);
    const qs = q.toString();
    return this.url(`/${qs ? `?${qs}` : ''}`);
  }

  /** Remembers a successful load of `opts` on the page as it is now (attemptLoad calls it; a failed load forgets). */
  noteLoad(opts: LoadOptions, info: LoadedInfo | null): void {
    const m = pageMemory.get(this.page);
    if (!m) return;
    m.load = info ? { key: JSON.stringify(opts), info } : null;
  }

  /**
   * What the page offers a test that wants `url` with the model of `opts` (one look at the page):
   * - warm: the load info when the page is open at exactly `url` (opened by open()), has loaded exactly `opts` last,
   *   is ready and shows no error: the test may use the loaded model as it is;
   * - usable: the page is at `url`, idle or ready, with no error shown: a load may run on it.
   */
  async offers(url: string, opts: LoadOptions): Promise<{ warm: LoadedInfo | null; usable: boolean }> {
    const m = pageMemory.get(this.page);
    if (!m || m.url !== url || this.page.url() !== url) return { warm: null, usable: false };
    const live = await this.page
      .evaluate(() => ({ state: window.tinydit?.state ?? null, error: !(document.getElementById('error')?.hidden ?? true) }))
      .catch(() => null);
    if (!live || live.error) return { warm: null, usable: false };
    const warm = live.state === 'ready' && m.load?.key === JSON.stringify(opts) ? m.load.info : null;
    return { warm, usable: live.state === 'ready' || live.state === 'idle' };
  }

  /** Absolute URL on the test server (page.goto's baseURL does not apply to the MiniBrowser context). */
  url(path = '/'): string {
    return new URL(path, this.serverURL + '/').href;
  }

  /**
   * Opens the reference page, optionally with faults (?fault=...) or other query parameters. The faults of env
   * TINYDIT_PAGE_FAULTS (comma-separated; set by `npm run gate:power` for a page mutant) are added to every page:
   * a gate run with them is never an acceptance (harness/gate/verdict.ts, reason `page-faults-injected`).
   */
  async open(opts: { faults?: Fault[]; query?: Record<string, string> } = {}): Promise<void> {
    const url = this.pageUrl(opts);
    pageMemory.delete(this.page);
    await this.page.goto(url);
    await this.page.waitForFunction(() => typeof window.tinydit === 'object' && window.tinydit !== null);
    pageMemory.set(this.page, { url: this.page.url(), load: null });
  }

  /** window.tinydit.setFaults: the URL's faults plus `faults` act from the next generation on; returns those active. */
  setFaults(faults: Fault[]): Promise<Fault[]> {
    return this.page.evaluate((f) => window.tinydit.setFaults(f), faults);
  }

  load(opts: LoadOptions): Promise<LoadInfo> {
    this.noteLoad(opts, null);
    return this.page.evaluate((o) => window.tinydit.load(o), opts);
  }

  /** load() that resolves to the error message instead of throwing (for negative tests). */
  loadError(opts: LoadOptions): Promise<string | null> {
    this.noteLoad(opts, null);
    return this.page.evaluate(
      (o) =>
        window.tinydit.load(o).then(
          () => null,
          (e: unknown) => (e instanceof Error ? e.message : String(e)),
        ),
      opts,
    );
  }

  async generate(opts: GenerateOptions, { keepProgressImages = false } = {}): Promise<GenerationRun> {
    const t0 = Date.now();
    const raw = await this.page.evaluate(
      async ({ o, keep }) => {
        const b64 = (bytes: Uint8ClampedArray): string => {
          let s = '';
          for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
          return btoa(s);
        };
        const progress: RawRun['progress'] = [];
        const r = await window.tinydit.generate(o, (ev) => {
          progress.push({
            step: ev.step,
            totalSteps: ev.totalSteps,
            stepTime: ev.stepTime,
            totalTime: ev.totalTime,
            width: ev.imageData.width,
            height: ev.imageData.height,
            ...(keep ? { rgba: b64(ev.imageData.data) } : {}),
          });
        });
        const out: RawRun = {
          width: r.imageData.width,
          height: r.imageData.height,
          rgba: b64(r.imageData.data),
          x: r.x,
          totalTime: r.totalTime,
          avgStepTime: r.avgStepTime,
          modelMs: r.modelMs,
          noiseSeed: r.noiseSeed,
          progress,
        };
        return out;
      },
      { o: opts, keep: keepProgressImages },
    );
    return {
      width: raw.width,
      height: raw.height,
      rgba: fromB64(raw.rgba),
      x: Float32Array.from(raw.x),
      totalTime: raw.totalTime,
      avgStepTime: raw.avgStepTime,
      modelMs: raw.modelMs,
      noiseSeed: raw.noiseSeed,
      progress: raw.progress.map((p) => ({ ...p, ...(p.rgba ? { rgba: fromB64(p.rgba) } : {}) }) as ProgressRecord),
      wallMs: Date.now() - t0,
    };
  }

  /** generate() that resolves to the error message instead of throwing. */
  generateError(opts: GenerateOptions): Promise<string | null> {
    return this.page.evaluate(
      (o) =>
        window.tinydit.generate(o).then(
          () => null,
          (e: unknown) => (e instanceof Error ? e.message : String(e)),
        ),
      opts,
    );
  }

  /** The page's visible error text, or null when #error is hidden. */
  async visibleError(): Promise<string | null> {
    const el = this.page.locator('#error');
    return (await el.isVisible()) ? ((await el.textContent()) ?? '') : null;
  }

  userAgent(): Promise<string> {
    return this.page.evaluate(() => navigator.userAgent);
  }
}

// ---- fixtures ----

export interface EngineInfo {
  project: string;
  kind: EngineChoice['kind'];
  label: string;
  executable: string;
  /** Engine version as the engine reports it (browser.version(), or WebKitGTK's). */
  version: string;
}

export interface TinyditWorkerOptions {
  /** Set per project by playwright.config.ts. */
  tinyditEngine: EngineChoice;
  /** Origin of harness/runtimes/server.ts (also the MiniBrowser start page). */
  serverURL: string;
}
export interface TinyditWorkerFixtures extends TinyditWorkerOptions {
  engineInfo: EngineInfo;
  bundle: BundleInfo;
  /**
   * The worker's page (its own context in Chromium and Firefox; MiniBrowser's one tab): `app` drives it, so a model
   * a test loaded stays loaded for the next test that asks for the same page and model (helpers.ts warmLoad).
   */
  warmPage: Page;
}
/** No per-test options (Playwright's fixture types need the slot). */
export type TinyditTestOptions = Record<never, never>;
export interface TinyditTestFixtures extends TinyditTestOptions {
  app: TinyditApp;
  _engineAnnotation: undefined;
  _failureScreenshot: undefined;
}
/** Playwright's own context factory (a private fixture, used to keep its normal context handling). */
interface PrivateFixtures {
  _contextFactory: (options?: BrowserContextOptions) => Promise<{ context: BrowserContext; close: () => Promise<void> }>;
}

const miniBrowsers = new WeakMap<Browser, MiniBrowserSession>();

/** A browser of this test's own, when the worker's died in an earlier test that still passed (said in its report). */
async function relaunch(type: BrowserType, engine: EngineChoice, testInfo: TestInfo): Promise<Browser> {
  testInfo.annotations.push({
    type: 'browser-relaunched',
    description: `${engine.label}: the worker's browser had disconnected in an earlier test; this test ran in a new one`,
  });
  try {
    return await type.launch({ ...engine.launchOptions, ...(engine.channel ? { channel: engine.channel } : {}) });
  } catch (err) {
    throw new Error(engineMissingMessage(engine, `relaunch after the worker's browser disconnected: ${(err as Error).message}`));
  }
}

export const test = base.extend<TinyditTestFixtures & PrivateFixtures, TinyditWorkerFixtures>({
  tinyditEngine: [
    {
      project: 'chromium',
      kind: 'playwright',
      label: 'Playwright chromium',
      executable: '',
      available: true,
      installHint: '`npx playwright install chromium`',
      launchOptions: {},
    },
    { scope: 'worker', option: true },
  ],
  serverURL: ['http://127.0.0.1:8765', { scope: 'worker', option: true }],

  browser: [
    async ({ playwright, browserName, tinyditEngine, serverURL }, use) => {
      const e = tinyditEngine;
      if (!e.available) throw new Error(engineMissingMessage(e));
      if (e.kind === 'minibrowser') {
        let session: MiniBrowserSession;
        try {
          session = await startMiniBrowser({ startUrl: `${serverURL}/`, executable: e.executable, webkit: playwright.webkit });
        } catch (err) {
          throw new Error(engineMissingMessage(e, (err as Error).message));
        }
        miniBrowsers.set(session.browser, session);
        await use(session.browser);
        await session.close();
        return;
      }
      let browser: Browser;
      try {
        // Playwright's launch defaults (launchOptions, channel, headless) are applied by its _browserOptions fixture.
        browser = await playwright[browserName].launch();
      } catch (err) {
        throw new Error(engineMissingMessage(e, (err as Error).message));
      }
      await use(browser);
      await browser.close();
    },
    { scope: 'worker', timeout: 120_000 },
  ],

  engineInfo: [
    async ({ browser, tinyditEngine }, use) => {
      const mb = miniBrowsers.get(browser);
      await use({
        project: tinyditEngine.project,
        kind: tinyditEngine.kind,
        label: tinyditEngine.label,
        executable: mb?.executable ?? tinyditEngine.executable,
        version: mb ? mb.version : browser.version(),
      });
    },
    { scope: 'worker' },
  ],

  bundle: [
    async ({ tinyditEngine }, use) => {
      await use(await readBundle(tinyditEngine.project));
    },
    { scope: 'worker' },
  ],

  context: async ({ browser, _contextFactory, playwright, browserName, tinyditEngine }, use, testInfo) => {
    if (miniBrowsers.has(browser)) {
      const ctx = browser.contexts()[0];
      if (!ctx)
        throw new Error('MiniBrowser has no context (the MiniBrowser of this worker is gone: it crashed or was closed in an earlier test)');
      await use(ctx);
      return;
    }
    if (!browser.isConnected()) {
      // The worker's browser died in an earlier test that still passed (a crash the runner answers with a new worker
      // only after a failure): never hand this test a dead browser. It gets a browser of its own, said in its report.
      const fresh = await relaunch(playwright[browserName], tinyditEngine, testInfo);
      const ctx = await fresh.newContext();
      await use(ctx);
      await ctx.close().catch(() => undefined);
      await fresh.close().catch(() => undefined);
      return;
    }
    const { context, close } = await _contextFactory();
    await use(context);
    await close();
  },

  page: async ({ browser, context }, use) => {
    if (miniBrowsers.has(browser)) {
      const page = context.pages()[0];
      if (!page) throw new Error('MiniBrowser has no page');
      await use(page);
      return;
    }
    await use(await context.newPage());
  },

  warmPage: [
    async ({ browser }, use) => {
      if (miniBrowsers.has(browser)) {
        const page = browser.contexts()[0]?.pages()[0];
        if (!page) throw new Error('MiniBrowser has no page (the MiniBrowser of this worker is gone: it crashed or was closed)');
        await use(page);
        return;
      }
      const context = await browser.newContext();
      const page = await context.newPage();
      await use(page);
      await context.close().catch(() => undefined);
    },
    { scope: 'worker', timeout: 60_000 },
  ],

  // The page of `app` is the worker's. A page that closed gets a new context; a browser that died in an earlier test
  // that still passed (the runner starts a new worker only after a failure) is never handed on: this test gets a
  // browser of its own, said in its report. MiniBrowser cannot be relaunched from a test: that fails, naming it.
  app: async ({ warmPage, browser, playwright, browserName, tinyditEngine, serverURL }, use, testInfo) => {
    if (!warmPage.isClosed() && browser.isConnected()) {
      await use(new TinyditApp(warmPage, serverURL));
      return;
    }
    if (miniBrowsers.has(browser))
      throw new Error(`${testInfo.project.name}: MiniBrowser's page is gone (it crashed or was closed in an earlier test)`);
    if (browser.isConnected()) {
      testInfo.annotations.push({
        type: 'page-replaced',
        description: "the worker's page had closed in an earlier test; this test opened a new one",
      });
      const ctx = await browser.newContext();
      await use(new TinyditApp(await ctx.newPage(), serverURL));
      await ctx.close().catch(() => undefined);
      return;
    }
    const fresh = await relaunch(playwright[browserName], tinyditEngine, testInfo);
    const ctx = await fresh.newContext();
    await use(new TinyditApp(await ctx.newPage(), serverURL));
    await ctx.close().catch(() => undefined);
    await fresh.close().catch(() => undefined);
  },

  // The worker's page is not Playwright's per-test page: a failing test attaches a screenshot of it here.
  _failureScreenshot: [
    async ({ warmPage, browser }, use, testInfo) => {
      await use(undefined);
      // not after a timeout: the test's time is up, and a hung page may not answer
      if (testInfo.status === testInfo.expectedStatus || testInfo.status === 'timedOut' || miniBrowsers.has(browser)) return;
      if (warmPage.isClosed() || !browser.isConnected()) return;
      const shot = await warmPage.screenshot({ timeout: 2_000 }).catch(() => null);
      if (shot) await testInfo.attach('page-at-failure.png', { body: shot, contentType: 'image/png' });
    },
    { auto: true },
  ],

  _engineAnnotation: [
    async ({ engineInfo }, use, testInfo) => {
      testInfo.annotations.push({ type: 'engine', description: `${engineInfo.label}, version ${engineInfo.version}` });
      // every record this test writes names it (titlePath: the file, the describe blocks, the title)
      const origin: RecordOrigin = {
        runner: 'playwright',
        file: relative(REPO_ROOT, testInfo.file),
        title: testInfo.title,
        path: testInfo.titlePath.slice(1, -1),
        project: testInfo.project.name,
      };
      setRecordOrigin(() => origin);
      try {
        await use(undefined);
      } finally {
        setRecordOrigin(null);
      }
    },
    { auto: true },
  ],
});

/** Attaches engine and user agent to the report (and returns the user agent). */
export async function attachEngine(testInfo: TestInfo, app: TinyditApp, engine: EngineInfo): Promise<string> {
  const userAgent = await app.userAgent();
  await testInfo.attach('engine.json', {
    body: JSON.stringify({ ...engine, userAgent }, null, 2),
    contentType: 'application/json',
  });
  testInfo.annotations.push({ type: 'user-agent', description: userAgent });
  return userAgent;
}
