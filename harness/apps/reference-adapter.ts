/**
 * The adapter of the reference page (harness/runtimes/web), the default app under test: it drives the page through
 * its JavaScript API, window.tinydit (load, generate with an onProgress callback, download), the API the real app
 * exposes. The page has no fallback model URL (a failed load is a visible error) and runs wasm only; it takes the
 * manifest's null index and refuses, visibly, a guidance scale a baked graph does not have.
 */
import type { Page } from '@playwright/test';
import type { AppAdapter, AppControls, AppProgress, AppRefusal, AppRun, AppSettled } from './adapter.js';
import { captureDownload, fromB64 } from './capture.js';

interface PageLoadState {
  state: string;
  error: string | null;
  backend: string | null;
  modelUrl: string | null;
}

async function pageState(page: Page): Promise<PageLoadState> {
  return page.evaluate(() => {
    const w = window as unknown as { __tinyditAppLoad?: { backend?: string; modelUrl: string } };
    const el = document.getElementById('error');
    return {
      state: window.tinydit?.state ?? 'missing',
      error: el && !el.hidden ? (el.textContent ?? '') : null,
      backend: w.__tinyditAppLoad?.backend ?? null,
      modelUrl: w.__tinyditAppLoad?.modelUrl ?? null,
    };
  });
}

export const referenceAdapter: AppAdapter = {
  name: 'reference',
  description: "the project's reference page, driven through its JavaScript API (window.tinydit)",
  drives: 'api',
  unconditionalIndex: 'manifest',

  url(serverURL, _opts, appUrl) {
    return appUrl ?? `${serverURL}/`;
  },

  async open(page, serverURL, opts, appUrl) {
    await page.goto(this.url(serverURL, opts, appUrl));
    await page.waitForFunction(() => typeof window.tinydit === 'object' && window.tinydit !== null);
    const m = opts.model;
    const load = {
      modelUrl: opts.brokenPrimaryUrl ?? m.url,
      guidance: m.guidance,
      ...(m.guidance === 'baked' ? { bakedScale: m.bakedScale } : {}),
      nullIndex: m.nullIndex,
      imageSize: m.imageSize,
      channels: m.channels,
      numThreads: 1,
    };
    // started here, settled in settle(): the page's state says when it is done
    await page.evaluate((o) => {
      const w = window as unknown as { __tinyditAppLoad?: { backend?: string; modelUrl: string } };
      w.__tinyditAppLoad = { modelUrl: o.modelUrl };
      window.tinydit.load(o).then(
        (info) => {
          w.__tinyditAppLoad = { backend: info.backend, modelUrl: o.modelUrl };
        },
        () => undefined,
      );
    }, load);
  },

  async settle(page, timeoutMs): Promise<AppSettled> {
    const t0 = Date.now();
    await page
      .waitForFunction(
        () => {
          const s = window.tinydit?.state;
          const w = window as unknown as { __tinyditAppLoad?: { backend?: string } };
          return s === 'error' || (s === 'ready' && !!w.__tinyditAppLoad?.backend) || !(document.getElementById('error')?.hidden ?? true);
        },
        undefined,
        { timeout: timeoutMs, polling: 100 },
      )
      .catch(() => undefined);
    const s = await pageState(page);
    return {
      ready: s.state === 'ready' && !s.error,
      error: s.error,
      backend: s.backend,
      modelSource: s.state === 'ready' ? s.modelUrl : null,
      ms: Date.now() - t0,
    };
  },

  async controls(): Promise<AppControls> {
    // Text fields: the page takes any value and refuses, visibly, what the graph cannot do. The range offered is the
    // web app's documented one.
    return {
      steps: { min: 10, max: 100, step: 5, value: 50, disabled: false },
      cfgScale: { min: 1, max: 3, step: 0.1, value: 1.5, disabled: false },
    };
  },

  async generate(page, s, timeoutMs): Promise<AppRun | AppRefusal> {
    const t0 = Date.now();
    const raw = await page.evaluate(
      async ({ o, timeout }) => {
        const b64 = (bytes: Uint8ClampedArray): string => {
          let bin = '';
          for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
          return btoa(bin);
        };
        const progress: Array<Omit<AppProgress, 'rgba'> & { rgba: string }> = [];
        const timer = new Promise<never>((_, rej) => setTimeout(() => rej(new Error(`no result within ${timeout} ms`)), timeout));
        try {
          const r = await Promise.race([
            window.tinydit.generate(o, (ev) => {
              progress.push({
                step: ev.step,
                totalSteps: ev.totalSteps,
                stepTime: ev.stepTime,
                totalTime: ev.totalTime,
                width: ev.imageData.width,
                height: ev.imageData.height,
                rgba: b64(ev.imageData.data),
              });
            }),
            timer,
          ]);
          return {
            ok: true as const,
            width: r.imageData.width,
            height: r.imageData.height,
            rgba: b64(r.imageData.data),
            totalTime: r.totalTime,
            progress,
          };
        } catch (e) {
          const el = document.getElementById('error');
          const shown = !!el && !el.hidden && !!el.textContent;
          return { ok: false as const, visible: shown, error: shown ? (el?.textContent ?? '') : (e as Error).message };
        }
      },
      { o: { breedIndex: s.breedIndex, steps: s.steps, cfgScale: s.cfgScale, noiseSeed: s.seed }, timeout: timeoutMs },
    );
    if (!raw.ok) return { error: raw.error, visible: raw.visible };
    return {
      width: raw.width,
      height: raw.height,
      rgba: fromB64(raw.rgba),
      progress: raw.progress.map((p) => ({ ...p, rgba: fromB64(p.rgba) })),
      totalTime: raw.totalTime,
      wallMs: Date.now() - t0,
    };
  },

  async selectBreed(page, breedIndex) {
    await page.locator('#breed').selectOption(String(breedIndex));
  },

  download(page, anchorOnly) {
    return captureDownload(page, page.locator('#download'), anchorOnly);
  },
};
