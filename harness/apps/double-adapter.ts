/**
 * The adapter of the app double (harness/apps/double): it drives the app through its UI only, by accessible roles and
 * labels (the combobox "Breed", the sliders "Steps" and "Guidance scale", the field "Seed", the buttons "Generate" and
 * "Download", the status "Progress", the image "Generated cat", the alert), the way a QA engineer's adapter drives a
 * real app. It points the app at a model through the app's configuration (its URL query; a real app's would be its
 * build or environment). This file is also the example to copy for an adapter of one's own (docs/app-under-test.md).
 */
import type { Locator, Page } from '@playwright/test';
import { BREEDS } from '../runtimes/web/protocol.js';
import type { AppAdapter, AppControls, AppOpenOptions, AppProgress, AppRefusal, AppRun, AppSettled, Range } from './adapter.js';
import { captureDownload, fromB64 } from './capture.js';

const controls = (page: Page) => ({
  breed: page.getByRole('combobox', { name: 'Breed' }),
  steps: page.getByRole('slider', { name: 'Steps' }),
  cfg: page.getByRole('slider', { name: 'Guidance scale' }),
  seed: page.getByRole('spinbutton', { name: 'Seed' }),
  generate: page.getByRole('button', { name: 'Generate' }),
  download: page.getByRole('button', { name: 'Download' }),
  alert: page.getByRole('alert'),
});

async function range(loc: Locator): Promise<Range> {
  return loc.evaluate((el) => {
    const i = el as HTMLInputElement;
    return { min: Number(i.min), max: Number(i.max), step: Number(i.step), value: Number(i.value), disabled: i.disabled };
  });
}

/** Sets a slider (or field) as a user dragging it would (the value, then input and change events); returns the value it took. */
async function setSlider(loc: Locator, v: number): Promise<number> {
  return loc.evaluate((el, value) => {
    const i = el as HTMLInputElement;
    i.value = String(value);
    i.dispatchEvent(new Event('input', { bubbles: true }));
    i.dispatchEvent(new Event('change', { bubbles: true }));
    return Number(i.value);
  }, v);
}

async function visibleAlert(page: Page): Promise<string | null> {
  const a = controls(page).alert;
  return (await a.isVisible()) ? ((await a.textContent()) ?? '').trim() : null;
}

export function doubleAdapter(fixed: boolean): AppAdapter {
  return {
    name: fixed ? 'double-fixed' : 'double',
    description: fixed
      ? 'the app double with its habits fixed (guidance once, WebGPU falls back to wasm, download named after the breed shown), driven through its UI'
      : "the app double, with the real app's habits (guidance again on top with index -1, WebGPU with no fallback, download named after the selected breed), driven through its UI",
    drives: 'ui',
    unconditionalIndex: fixed ? 'manifest' : -1,

    url(serverURL, opts: AppOpenOptions, appUrl) {
      const u = new URL(appUrl ?? `${serverURL}/app-double/index.html`);
      const m = opts.model;
      u.searchParams.set('model', opts.brokenPrimaryUrl ?? m.url);
      u.searchParams.set('fallback', opts.brokenPrimaryUrl ? m.url : '');
      u.searchParams.set('size', String(m.imageSize));
      u.searchParams.set('ep', opts.backend === 'wasm' ? 'wasm' : 'auto');
      // one wasm thread, as the suites' bulk runs use (the real app takes hardwareConcurrency: two engines side by side
      // on two cores then fight over them); opened as a user would ('app'), the double keeps its own choice
      if (opts.backend === 'wasm') u.searchParams.set('threads', '1');
      if (fixed) {
        u.searchParams.set('fixed', '1');
        if (m.guidance === 'baked') {
          u.searchParams.set('graph', 'baked');
          u.searchParams.set('scale', String(m.bakedScale));
        } else {
          u.searchParams.set('graph', 'raw');
          u.searchParams.set('null', String(m.nullIndex));
        }
      }
      return u.href;
    },

    async open(page, serverURL, opts, appUrl) {
      await page.goto(this.url(serverURL, opts, appUrl));
    },

    async settle(page, timeoutMs): Promise<AppSettled> {
      const t0 = Date.now();
      const c = controls(page);
      await Promise.race([
        c.generate.and(page.locator(':enabled')).waitFor({ timeout: timeoutMs }),
        c.alert.waitFor({ state: 'visible', timeout: timeoutMs }),
      ]).catch(() => undefined);
      const error = await visibleAlert(page);
      const ready = await c.generate.isEnabled();
      // read what is shown now, without waiting: a line the app did not show (no backend after a failed load) is absent
      const shown = async (re: RegExp): Promise<string> => {
        const l = page.getByText(re);
        return (await l.count()) ? ((await l.first().textContent()) ?? '') : '';
      };
      const backendText = await shown(/^Backend: /);
      const statusText = await shown(/^Model ready \(/);
      return {
        ready,
        error,
        backend: /^Backend: (\w+)/.exec(backendText)?.[1] ?? null,
        modelSource: /^Model ready \((.*)\)\.$/.exec(statusText)?.[1] ?? null,
        ms: Date.now() - t0,
      };
    },

    async controls(page): Promise<AppControls> {
      const c = controls(page);
      return { steps: await range(c.steps), cfgScale: await range(c.cfg) };
    },

    async generate(page, s, timeoutMs): Promise<AppRun | AppRefusal> {
      const c = controls(page);
      const t0 = Date.now();
      await c.breed.selectOption(String(s.breedIndex));
      const steps = await setSlider(c.steps, s.steps);
      if (steps !== s.steps) return { error: `the Steps slider does not offer ${s.steps} (it took ${steps})`, visible: true };
      const cfgNow = await range(c.cfg);
      if (cfgNow.disabled && Math.abs(cfgNow.value - s.cfgScale) > 1e-9)
        return { error: `the Guidance scale slider is fixed at ${cfgNow.value}: a user cannot set ${s.cfgScale}`, visible: true };
      if (!cfgNow.disabled) {
        const cfg = await setSlider(c.cfg, s.cfgScale);
        if (Math.abs(cfg - s.cfgScale) > 1e-9)
          return { error: `the Guidance scale slider does not offer ${s.cfgScale} (it took ${cfg})`, visible: true };
      }
      // fill(), then what the field holds: with the system Firefox (over WebDriver BiDi) fill() was seen to append to the
      // number already there (42 -> 427) instead of replacing it; then the value is set as typing would leave it.
      await c.seed.fill(String(s.seed));
      if ((await c.seed.inputValue()) !== String(s.seed)) await setSlider(c.seed, s.seed);
      const seedNow = await c.seed.inputValue();
      if (seedNow !== String(s.seed)) return { error: `the Seed field does not take ${s.seed} (it holds ${seedNow})`, visible: true };
      // Watch the progress counter: each change is one progress event, with the canvas as it is then.
      await page.evaluate(() => {
        type Obs = { obs?: MutationObserver; events: unknown[] };
        const w = window as unknown as { __tinyditProgress?: Obs };
        w.__tinyditProgress?.obs?.disconnect();
        const counter = document.querySelector('[role="status"][aria-label="Progress"]');
        const canvas = document.querySelector('canvas[aria-label="Generated cat"]') as HTMLCanvasElement | null;
        if (!counter || !canvas) throw new Error('the page has no status "Progress" or no image "Generated cat"');
        const state: Obs = { events: [] };
        const start = performance.now();
        let last = start;
        state.obs = new MutationObserver(() => {
          const m = /Step (\d+) \/ (\d+)/.exec(counter.textContent ?? '');
          if (!m || m[1] === '0') return;
          const now = performance.now();
          const d = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
          let bin = '';
          for (let i = 0; i < d.length; i += 0x8000) bin += String.fromCharCode(...d.subarray(i, i + 0x8000));
          state.events.push({
            step: Number(m[1]),
            totalSteps: Number(m[2]),
            stepTime: now - last,
            totalTime: now - start,
            width: canvas.width,
            height: canvas.height,
            rgba: btoa(bin),
          });
          last = now;
        });
        state.obs.observe(counter, { childList: true, characterData: true, subtree: true });
        w.__tinyditProgress = state;
      });
      await c.generate.click();
      // Done: the counter at its last step and Generate enabled again; or a visible error.
      await page.waitForFunction(
        (n) => {
          const alert = document.querySelector('[role="alert"]') as HTMLElement | null;
          if (alert && !alert.hidden && alert.textContent) return true;
          const counter = document.querySelector('[role="status"][aria-label="Progress"]');
          const btn = [...document.querySelectorAll('button')].find((b) => b.textContent?.trim() === 'Generate');
          return counter?.textContent?.trim() === `Step ${n} / ${n}` && btn && !btn.disabled;
        },
        s.steps,
        { timeout: timeoutMs, polling: 100 },
      );
      const error = await visibleAlert(page);
      const raw = await page.evaluate(() => {
        const w = window as unknown as { __tinyditProgress?: { obs?: MutationObserver; events: unknown[] } };
        w.__tinyditProgress?.obs?.disconnect();
        const canvas = document.querySelector('canvas[aria-label="Generated cat"]') as HTMLCanvasElement;
        const d = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
        let bin = '';
        for (let i = 0; i < d.length; i += 0x8000) bin += String.fromCharCode(...d.subarray(i, i + 0x8000));
        const timing = /Done in ([\d.]+) s/.exec(document.getElementById('timing')?.textContent ?? '');
        return {
          events: (w.__tinyditProgress?.events ?? []) as Array<Omit<AppProgress, 'rgba'> & { rgba: string }>,
          width: canvas.width,
          height: canvas.height,
          rgba: btoa(bin),
          totalTime: timing ? Number(timing[1]) * 1000 : null,
        };
      });
      if (error) return { error, visible: true };
      const progress = raw.events.map((e) => ({ ...e, rgba: fromB64(e.rgba) }));
      return {
        width: raw.width,
        height: raw.height,
        rgba: fromB64(raw.rgba),
        progress,
        totalTime: raw.totalTime ?? progress[progress.length - 1]?.totalTime ?? 0,
        wallMs: Date.now() - t0,
      };
    },

    async selectBreed(page, breedIndex) {
      await controls(page).breed.selectOption({ label: BREEDS[breedIndex]! });
    },

    download(page, anchorOnly) {
      return captureDownload(page, controls(page).download, anchorOnly);
    },
  };
}
