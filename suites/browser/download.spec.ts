/**
 * Download in each engine: after a generation, the Download button saves
 * cat_<breed lower-case, spaces as _>_<Date.now()>.png, a valid PNG whose pixels equal the shown image.
 * Chromium and Firefox: Playwright's download event and the saved file. WebKitGTK MiniBrowser (driven over
 * its inspector) gives no download events: there the test captures the anchor the page clicks (file name and
 * data URL) — the same bytes the browser would save — and says so in the report.
 * Case: download:engine=<e>,breed=British Shorthair (a breed whose name has a space).
 */
import { caseId } from '../../harness/core/case-id.js';
import { captureDownload } from '../../harness/apps/capture.js';
import { BREEDS } from '../../harness/runtimes/web/protocol.js';
import { expect, test } from './fixtures.js';
import {
  BULK_THREADS,
  GOLDEN_SEED,
  attachImage,
  checkDownload,
  checkModelLoad,
  explain,
  judge,
  record,
  rgbaOf,
  warmLoad,
} from './helpers.js';

const BREED = BREEDS.indexOf('British Shorthair');
/** Only the file matters here, not the image's quality: the smallest step count the app offers. */
const STEPS = 10;

test(`download:breed=${BREEDS[BREED]}`, async ({ app, bundle, engineInfo }, testInfo) => {
  test.setTimeout(bundle.bounds.testMs(bundle.engine, [{ variant: 'guided', steps: STEPS, images: 1 }], 1));
  const j = await judge();
  const id = caseId('download', { engine: engineInfo.project, breed: BREEDS[BREED], seed: GOLDEN_SEED, steps: STEPS });
  const opts = bundle.loadOptions('guided', { numThreads: BULK_THREADS });
  const load = checkModelLoad(await warmLoad(app, opts), opts.modelUrl, BULK_THREADS, 'guided model');
  expect(load.pass, explain('loading', load)).toBe(true);
  const run = await app.generate({ breedIndex: BREED, steps: STEPS, cfgScale: j.cfgScale, noiseSeed: GOLDEN_SEED });
  const shown = rgbaOf(run);
  // What the canvas shows, read back from the page, must be the result (the download saves the canvas).
  const canvas = await app.page.evaluate(() => {
    const c = document.getElementById('canvas') as HTMLCanvasElement;
    return Array.from(c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data);
  });
  expect(canvas.length, 'canvas size').toBe(shown.data.length);
  expect(canvas.filter((v, i) => v !== shown.data[i]).length, 'canvas pixels differ from the generated image').toBe(0);
  await expect(app.page.locator('#download')).toBeEnabled();

  const from = Date.now();
  const { name, bytes, route } = await captureDownload(app.page, app.page.locator('#download'), engineInfo.kind === 'minibrowser');
  const to = Date.now();
  const v = checkDownload(name, bytes, shown, BREED, { from, to }, id);
  record(id, v, engineInfo, { metrics: { route } });
  testInfo.annotations.push({ type: 'download', description: `${name} via ${route}` });
  await testInfo.attach(name, { body: Buffer.from(bytes), contentType: 'image/png' });
  if (v.decoded) await attachImage(testInfo, id, 'downloaded', v.decoded);
  expect(v.pass, explain(id, v)).toBe(true);

  // window.tinydit.download() (the API the app exposes) names the file the same way.
  if (engineInfo.kind !== 'minibrowser') {
    const [dl, apiName] = await Promise.all([
      app.page.waitForEvent('download', { timeout: 30_000 }),
      app.page.evaluate(() => window.tinydit.download()),
    ]);
    expect(dl.suggestedFilename()).toBe(apiName);
  }
});
