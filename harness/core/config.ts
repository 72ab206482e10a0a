/** Where the gate finds its bundle and writes its reports (environment first, then the defaults). */
import { resolve } from 'node:path';

export const REPO_ROOT = resolve(import.meta.dirname, '..', '..');

/** The bundle under test: TINYDIT_BUNDLE, else the embedded default. */
export function bundleDir(): string {
  return resolve(process.env['TINYDIT_BUNDLE'] ?? resolve(REPO_ROOT, 'fixtures/default'));
}

/** The report folder of this run: TINYDIT_REPORT_DIR, else reports/latest. */
export function reportDir(): string {
  return resolve(process.env['TINYDIT_REPORT_DIR'] ?? resolve(REPO_ROOT, 'reports/latest'));
}
