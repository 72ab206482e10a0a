/** What every adapter needs from a page: a download captured, canvas pixels read back. */
import { readFile } from 'node:fs/promises';
import type { Locator, Page } from '@playwright/test';
import type { AppDownload } from './adapter.js';

export const fromB64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'base64'));

/**
 * Clicks `button` and returns the file the page saves: Playwright's download event and the saved file, or, with
 * `anchorOnly` (WebKitGTK MiniBrowser, driven over its inspector, gives no download events), the anchor the page clicks
 * (its file name and data URL: the bytes the browser would save).
 */
export async function captureDownload(page: Page, button: Locator, anchorOnly: boolean): Promise<AppDownload> {
  if (!anchorOnly) {
    const [download] = await Promise.all([page.waitForEvent('download', { timeout: 30_000 }), button.click()]);
    const failure = await download.failure();
    if (failure) throw new Error(`download of ${download.suggestedFilename()} failed: ${failure}`);
    return {
      name: download.suggestedFilename(),
      bytes: new Uint8Array(await readFile(await download.path())),
      route: 'Playwright download event',
    };
  }
  await page.evaluate(() => {
    const w = window as unknown as { __tinyditDownload?: { name: string; href: string } };
    delete w.__tinyditDownload;
    const click = HTMLAnchorElement.prototype.click;
    HTMLAnchorElement.prototype.click = function (this: HTMLAnchorElement) {
      if (this.download) {
        w.__tinyditDownload = { name: this.download, href: this.href };
        HTMLAnchorElement.prototype.click = click;
        return;
      }
      click.call(this);
    };
  });
  await button.click();
  const got = await page.waitForFunction(
    () => (window as unknown as { __tinyditDownload?: { name: string; href: string } }).__tinyditDownload ?? null,
    undefined,
    { timeout: 30_000 },
  );
  const cap = (await got.jsonValue()) as { name: string; href: string };
  const comma = cap.href.indexOf(',');
  if (cap.href.slice(0, comma) !== 'data:image/png;base64')
    throw new Error(`the download link of ${cap.name} is not a base64 PNG data URL (${cap.href.slice(0, 40)}...)`);
  return { name: cap.name, bytes: fromB64(cap.href.slice(comma + 1)), route: 'captured anchor (no download events in MiniBrowser)' };
}
