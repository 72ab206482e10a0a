/**
 * Smoke test of the browser infrastructure, in each engine: the reference page is served cross-origin
 * isolated, loads the bundle's model with onnxruntime-web (wasm, threads), generates one image, fails
 * visibly (not by hanging) on a missing or corrupt model, and the server refuses path traversal.
 * Model file: env TINYDIT_SMOKE_MODEL (default model.onnx) in the bundle (env TINYDIT_BUNDLE).
 */
import { connect } from 'node:net';
import { ORT_INIT_TIMEOUT_ERROR, ORT_INIT_TIMEOUT_MS, progressSchedule } from '../../harness/runtimes/web/protocol.js';
import { attachEngine, expect, test } from './fixtures.js';

const MODEL = process.env.TINYDIT_SMOKE_MODEL ?? 'model.onnx';
/**
 * The load-failure test's limit: two loads of 20 s of their own, the second one after the backend initialization's
 * watchdogs (harness/runtimes/web/main.ts INIT_WATCHDOG_MS: ORT_INIT_TIMEOUT_MS, then 120 s for the retry), and margin.
 */
const SMOKE_LOAD_FAILURE_TEST_MS = 2 * 20_000 + ORT_INIT_TIMEOUT_MS + 120_000 + 30_000;

test.describe('smoke', () => {
  test('page is cross-origin isolated, loads the model, generates breed 3', async ({ app, bundle, engineInfo }, testInfo) => {
    test.setTimeout(bundle.bounds.testMs(bundle.engine, [{ variant: 'guided', steps: 6, images: 1 }], 1)); // one load, one 6-step generation
    expect(bundle.has(MODEL), `model ${MODEL} missing in bundle ${bundle.dir} (set TINYDIT_BUNDLE)`).toBe(true);
    await app.open();
    const ua = await attachEngine(testInfo, app, engineInfo);
    expect(ua.length).toBeGreaterThan(0);
    expect(await app.page.evaluate(() => self.crossOriginIsolated)).toBe(true);
    await expect(app.page.locator('#canvas')).toBeVisible();

    const opts = bundle.loadOptions(MODEL);
    const info = await app.load(opts);
    await testInfo.attach('load.json', { body: JSON.stringify(info, null, 2), contentType: 'application/json' });
    testInfo.annotations.push({
      type: 'load',
      description:
        `wasm, ${info.numThreads} thread(s), session ${info.sessionMs.toFixed(0)} ms, fetch ${info.fetchMs.toFixed(0)} ms, ` +
        `backend init ${info.initMs.toFixed(0)} ms (attempt ${info.initAttempts})`,
    });
    expect(info.backend).toBe('wasm');
    expect(info.crossOriginIsolated).toBe(true);
    expect(info.sharedArrayBuffer).toBe(true);
    expect(info.numThreads).toBe(info.requestedThreads);
    if (info.hardwareConcurrency > 1)
      expect(info.numThreads, 'wasm threads should be on in a cross-origin isolated page').toBeGreaterThan(1);
    expect(info.inputNames.sort()).toEqual(['breed', 'noise', 'timestep']);
    expect(info.outputNames).toEqual(['velocity']);
    await expect(app.page.locator('body')).toHaveAttribute('data-state', 'ready');

    const steps = 6;
    const cfgScale = opts.guidance === 'baked' ? (opts.bakedScale ?? 1.5) : 1.5;
    const run = await app.generate({ breedIndex: 3, steps, cfgScale, noiseSeed: 42 });
    testInfo.annotations.push({
      type: 'generate',
      description: `${steps} steps in ${run.totalTime.toFixed(0)} ms (${run.avgStepTime.toFixed(1)} ms/step)`,
    });
    const size = info.imageSize;
    expect(run.width).toBe(size);
    expect(run.height).toBe(size);
    expect(run.rgba.length).toBe(size * size * 4);
    expect(run.x.length).toBe(info.channels * size * size);
    expect(run.x.every(Number.isFinite), 'final state has non-finite values').toBe(true);
    for (let i = 3; i < run.rgba.length; i += 4) if (run.rgba[i] !== 255) throw new Error(`alpha ${run.rgba[i]} at pixel ${(i - 3) / 4}`);
    expect(run.progress.map((p) => p.step)).toEqual(progressSchedule(steps));
    expect(run.progress.every((p) => p.totalSteps === steps && p.width === size && p.height === size)).toBe(true);
    expect(run.noiseSeed).toBe(42);
    expect(run.totalTime).toBeGreaterThan(0);
    await expect(app.page.locator('#breed-name')).toHaveText('Bombay');
    expect(await app.visibleError()).toBeNull();
  });

  test('a missing or corrupt model fails visibly, without hanging', async ({ app, bundle }) => {
    // The page's timeoutMs bounds the load's own work, not onnxruntime-web's backend initialization, which has its
    // own watchdog (harness/runtimes/web/main.ts INIT_WATCHDOG_MS, one retry): on a loaded machine a slow initialization
    // (measured up to 11.1 s in Chromium, 19.3 s in WebKit on the 2 shared cores) must not turn into a load failure.
    test.setTimeout(SMOKE_LOAD_FAILURE_TEST_MS);
    await app.open();
    const t0 = Date.now();
    const missing = await app.loadError({ ...bundle.loadOptions(MODEL), modelUrl: '/bundle/no-such-model.onnx', timeoutMs: 20_000 });
    const missingMs = Date.now() - t0;
    expect(missing).toMatch(/404/);
    // a 404 fails at the fetch, before any backend initialization: at once, never through a timer
    expect(missingMs, `the 404 took ${missingMs} ms`).toBeLessThan(20_000);
    await expect(app.page.locator('#error')).toBeVisible();
    await expect(app.page.locator('#error')).toContainText('404');
    await expect(app.page.locator('body')).toHaveAttribute('data-state', 'error');

    // Any served file that is not ONNX: the page's own HTML. It is fetched, the backend initializes, and parsing fails.
    const corrupt = await app.loadError({ ...bundle.loadOptions(MODEL), modelUrl: '/index.html', timeoutMs: 20_000 });
    // A backend that never initialized (in both attempts) says nothing about the file: name it as what it is. (An
    // abandoned first attempt, retried, is fine: the message then ends with "after 1 earlier attempt(s): ...".)
    expect(
      (corrupt ?? '').startsWith(ORT_INIT_TIMEOUT_ERROR),
      "onnxruntime-web's backend did not initialize in this engine " + `(an engine/machine problem, not the model): ${String(corrupt)}`,
    ).toBe(false);
    expect(corrupt).toMatch(/could not load the model/);
    await expect(app.page.locator('#error')).toContainText('could not load the model');
  });

  test('the server sends isolation headers and refuses traversal', async ({ request, serverURL }) => {
    const page = await request.get('/');
    expect(page.status()).toBe(200);
    expect(page.headers()['cross-origin-opener-policy']).toBe('same-origin');
    expect(page.headers()['cross-origin-embedder-policy']).toBe('require-corp');
    const wasm = await request.head('/ort/ort-wasm-simd-threaded.wasm');
    expect(wasm.status()).toBe(200);
    expect(wasm.headers()['content-type']).toBe('application/wasm');

    // Through a URL parser (the request fixture normalises dot segments; encoded separators survive).
    for (const path of [
      '/bundle/..%2f..%2fpackage.json',
      '/ort/..%2F..%2F..%2Fpackage.json',
      '/bundle/%2e%2e/%2e%2e/package.json',
      '/package.json',
      '/node_modules/onnxruntime-web/package.json',
      '/bundle/..%5c..%5cpackage.json',
    ]) {
      const res = await request.get(path);
      expect([403, 404], `${path} -> ${res.status()}`).toContain(res.status());
      expect(await res.text()).not.toContain('tinydit-gate');
    }
    // Raw request targets, as a client that does not normalise would send them.
    const { hostname, port } = new URL(serverURL);
    for (const target of [
      '/bundle/../../package.json',
      '/ort/../../../package.json',
      '/bundle/%2e%2e/%2e%2e/package.json',
      '/bundle/..\\..\\package.json',
    ]) {
      const status = await new Promise<number>((ok, fail) => {
        const sock = connect(Number(port), hostname, () =>
          sock.write(`GET ${target} HTTP/1.1\r\nHost: ${hostname}\r\nConnection: close\r\n\r\n`),
        );
        let data = '';
        sock.on('data', (d: Buffer) => {
          data += d.toString();
        });
        sock.on('end', () => ok(Number(/^HTTP\/1\.1 (\d+)/.exec(data)?.[1] ?? 0)));
        sock.on('error', fail);
      });
      expect([400, 403, 404], `raw ${target} -> ${status}`).toContain(status);
    }
  });
});
