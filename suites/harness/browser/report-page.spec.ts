/**
 * The gate's summary page (harness/gate/report.ts) renders in a browser: the verdict, the failed checks, the
 * image grid with every image decoded, the judge's images, the cross-runtime agreement matrix, and the Chart.js charts, offline
 * (the page is opened from a file or set as content; no request leaves the page). In Chromium a screenshot
 * from the top of the page to the end of the image grid is saved as <reportDir>/report-page-<run|sample>.png
 * and attached.
 * Page: env TINYDIT_REPORT_PAGE (a gate run's index.html; scripts/gate.ts sets it after writing the page),
 * else a synthetic sample run (harness/gate/sample-report.ts) rendered into the report folder.
 * Case: report-page:selftest=render,engine=<e>,page=<run|sample>.
 */
import { caseId } from '../../../harness/core/case-id.js';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { reportDir } from '../../../harness/core/config.js';
import { renderReport } from '../../../harness/gate/report.js';
import { writeSampleRun } from '../../../harness/gate/sample-report.js';
import type { Verdict } from '../../../harness/gate/types.js';
import { recordCheck } from '../../../harness/core/record-check.js';
import { expect, test } from '../../browser/fixtures.js';

/** Image artifacts (generated/golden/diff PNGs of judged records with a breed) the page of a run must show. */
function expectedImages(page: string): number | null {
  try {
    const v = JSON.parse(readFileSync(join(dirname(page), 'verdict.json'), 'utf8')) as Verdict;
    return v.checks
      .filter(
        (c) => !c.selfTest && c.source === 'record' && /(^|[:,])breed=/.test(c.id) && c.artifacts.some((a) => a.endsWith('/generated.png')),
      )
      .reduce(
        (n, c) => n + c.artifacts.filter((a) => /\/(generated|golden|diff)\.png$/.test(a) && existsSync(join(dirname(page), a))).length,
        0,
      );
  } catch {
    return null;
  }
}

/** The judge sheets (grid, misjudged) the page of a run must show, from its verdict's judge section (0 when absent or missing). */
function expectedJudgeSheets(page: string): number | null {
  try {
    const j = (JSON.parse(readFileSync(join(dirname(page), 'verdict.json'), 'utf8')) as Verdict).judge;
    return j?.state === 'present' ? (j.images.grid ? 1 : 0) + (j.images.misjudged && j.images.misjudged !== 'none' ? 1 : 0) : 0;
  } catch {
    return null;
  }
}

test('report-page:selftest=render', async ({ page, engineInfo }, testInfo) => {
  const given = process.env.TINYDIT_REPORT_PAGE;
  const kind = given ? 'run' : 'sample';
  const id = caseId('report-page', { selftest: 'render', engine: engineInfo.project, page: kind });
  let file: string;
  if (given) {
    if (!existsSync(given))
      throw new Error(`TINYDIT_REPORT_PAGE=${given}: no such page; run npm run gate first or unset it for the sample page`);
    file = given;
  } else {
    const dir = join(reportDir(), 'report-page-sample');
    const v = writeSampleRun(dir);
    file = join(dir, 'index.html');
    writeFileSync(file, renderReport(v, dir));
  }
  const requests: string[] = [];
  page.on('request', (r) => {
    if (!r.url().startsWith('data:') && !r.url().startsWith('file:') && r.url() !== 'about:blank') requests.push(r.url());
  });
  const failures: string[] = [];
  try {
    // Chromium opens the file itself (what a person does); the other engines get the same HTML as content.
    if (engineInfo.project === 'chromium') await page.goto(pathToFileURL(file).href);
    else await page.setContent(readFileSync(file, 'utf8'));
    await expect(page.locator('#verdict-title')).toHaveText(/ACCEPTED/);
    const images = page.locator('#images table.grid img');
    const imageCount = await images.count();
    const expected = expectedImages(file);
    if (expected === null)
      failures.push(`${dirname(file)}/verdict.json is missing or unreadable: cannot tell which images the page must show`);
    else if (imageCount !== expected)
      failures.push(`the grid shows ${imageCount} images, the run's records have ${expected} image artifacts`);
    if (expected === 0 && !(await page.locator('#images').textContent())?.includes('No image evidence'))
      failures.push('a run without images must say so in the image section');
    const undecoded = await images.evaluateAll(
      (els) => els.filter((e) => !(e as HTMLImageElement).complete || (e as HTMLImageElement).naturalWidth === 0).length,
    );
    if (undecoded > 0) failures.push(`${undecoded} of ${imageCount} grid images did not decode`);
    const sheets = page.locator('#judge img.judge-sheet');
    const sheetCount = await sheets.count();
    const expectedSheets = expectedJudgeSheets(file);
    if (expectedSheets !== null && sheetCount !== expectedSheets)
      failures.push(`the judge section shows ${sheetCount} images, the verdict's judge section names ${expectedSheets}`);
    const undecodedSheets = await sheets.evaluateAll(
      (els) => els.filter((e) => !(e as HTMLImageElement).complete || (e as HTMLImageElement).naturalWidth === 0).length,
    );
    if (undecodedSheets > 0) failures.push(`${undecodedSheets} of ${sheetCount} judge images did not decode`);
    const matrix = page.locator('#agreement-matrix');
    await expect(matrix).toBeVisible();
    const header = (await matrix.locator('thead').textContent()) ?? '';
    for (const r of ['PyTorch', 'Node', 'Chromium', 'Firefox', 'WebKit'])
      if (!header.includes(r)) failures.push(`the agreement matrix has no ${r} column`);
    const canvases = await page.locator('canvas').count();
    const charts = Number(await page.locator('body').getAttribute('data-charts'));
    if (canvases > 0 && charts !== canvases) failures.push(`${charts} charts drawn for ${canvases} canvases (Chart.js failed?)`);
    if (requests.length) failures.push(`the page made network requests (not offline): ${requests.slice(0, 3).join(', ')}`);
    let screenshot: string | null = null;
    if (engineInfo.project === 'chromium') {
      // from the verdict down to the end of the image grid: verdict, failed checks, agreement matrix, images
      const box = await page.locator('#images').boundingBox();
      const width = page.viewportSize()?.width ?? 1280;
      screenshot = join(reportDir(), `report-page-${kind}.png`);
      mkdirSync(dirname(screenshot), { recursive: true });
      await page.screenshot({
        path: screenshot,
        fullPage: true,
        clip: { x: 0, y: 0, width, height: Math.ceil((box?.y ?? 0) + (box?.height ?? 800)) },
      });
      await testInfo.attach(`report-page-${kind}.png`, { path: screenshot, contentType: 'image/png' });
    }
    recordCheck({
      id,
      check: 'report-page',
      runtime: engineInfo.project,
      status: failures.length ? 'fail' : 'pass',
      metrics: {
        page: file,
        images: imageCount,
        judgeImages: sheetCount,
        canvases,
        charts,
        engine: engineInfo.label,
        engineVersion: engineInfo.version,
      },
      message: failures.length
        ? failures.join('; ')
        : `verdict, ${imageCount} images, ${sheetCount} judge images, agreement matrix and ${charts} charts rendered offline`,
      ...(screenshot ? { artifacts: [`report-page-${kind}.png`] } : {}),
    });
  } catch (e) {
    recordCheck({
      id,
      check: 'report-page',
      runtime: engineInfo.project,
      status: 'error',
      metrics: { page: file },
      message: `the page did not render: ${(e as Error).message.split('\n')[0]}`,
    });
    throw e;
  }
  expect(failures, `${id}: ${failures.join('; ')}`).toEqual([]);
});
