/**
 * Browser suites in three engines: suites/browser/ judges the model (the gate runs only these), suites/harness/browser/
 * tests the gate's own machinery (loading robustness, the report page; `npm run test:harness`). Each project uses Playwright's own browser when it is
 * installed, else the Debian system engine scripts/setup.sh installs (see harness/runtimes/detect.ts); an engine
 * that cannot start fails its tests with the command that installs it.
 *
 *   npm run build:web && npx playwright test                  (all three engines)
 *   npx playwright test --project=firefox suites/browser/smoke.spec.ts
 * Env: TINYDIT_BUNDLE (model bundle dir, default fixtures/default), TINYDIT_PORT (default 8765), TINYDIT_BROWSER_WORKERS (default 2),
 *      TINYDIT_ENGINES=auto|playwright|system, TINYDIT_REUSE_SERVER=1 (reuse a server already on the port).
 */
import { defineConfig, type ReporterDescription } from '@playwright/test';
import { chooseEngine, playwrightType, type ProjectName } from './harness/runtimes/detect.js';
import { installFirefoxBidiShim } from './harness/runtimes/firefox-shim.js';
import type { TinyditTestOptions, TinyditWorkerOptions } from './suites/browser/fixtures.js';
import { ENGINES, RESERVED_SUITES, engineSuites } from './harness/runtimes/registry.js';

/** Playwright workers: env TINYDIT_BROWSER_WORKERS (a positive integer), default 2. */
function browserWorkers(): number {
  const v = process.env.TINYDIT_BROWSER_WORKERS;
  if (v === undefined || v === '') return 2;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`env TINYDIT_BROWSER_WORKERS=${v}: expected a positive integer`);
  return n;
}

const PORT = Number(process.env.TINYDIT_PORT ?? 8765);
const SERVER_URL = `http://127.0.0.1:${PORT}`;

const engines = Object.fromEntries(ENGINES.map((p) => [p, chooseEngine(p)])) as Record<ProjectName, ReturnType<typeof chooseEngine>>;

// Stock Firefox ESR lacks one BiDi command Playwright sends for each context: answer it locally.
// (This file is loaded by the runner and by every worker process, so the shim is in place wherever Firefox runs.)
if (engines.firefox.kind === 'system-firefox') installFirefoxBidiShim();

const sharding = process.argv.some((a) => a === '--shard' || a.startsWith('--shard='));
const reporter: ReporterDescription[] = [
  ['list'],
  ['html', { open: 'never', outputFolder: 'reports/playwright-html' }],
  ['json', { outputFile: 'reports/playwright.json' }],
  ['junit', { outputFile: 'reports/junit-browser.xml' }],
  ...(sharding ? [['blob', { outputDir: 'blob-report' }] as ReporterDescription] : []),
];

/** Spec files as Playwright matches them (against absolute paths). */
const globs = (suites: readonly string[]): string[] => suites.map((s) => `**/${s}`);

function project(name: ProjectName) {
  const e = engines[name];
  const minibrowser = e.kind === 'minibrowser';
  // an engine with suites of its own (registry `suites`) runs only those; the others run every spec but those
  const suites = engineSuites(name);
  return {
    name,
    ...(suites ? { testMatch: globs(suites) } : RESERVED_SUITES.length ? { testIgnore: globs(RESERVED_SUITES) } : {}),
    use: {
      // the Playwright browser type that launches this engine (an engine's name need not be one)
      browserName: playwrightType(name).name() as 'chromium' | 'firefox' | 'webkit',
      tinyditEngine: e,
      ...(e.channel ? { channel: e.channel } : {}),
      launchOptions: e.launchOptions,
      // MiniBrowser over the remote inspector: no tracing or screenshots through that connection.
      ...(minibrowser ? { trace: 'off' as const, screenshot: 'off' as const, video: 'off' as const } : {}),
    },
  };
}

export default defineConfig<TinyditTestOptions, TinyditWorkerOptions>({
  testDir: 'suites',
  testMatch: '**/*.spec.ts',
  outputDir: 'test-results',
  fullyParallel: false,
  // Two workers (TINYDIT_BROWSER_WORKERS): each engine's generations run single-threaded, so two browsers fill two
  // cores (the gate runs the Node suites beside them). Test files are the unit: a file's tests share one worker.
  workers: browserWorkers(),
  forbidOnly: !!process.env.CI,
  retries: 0,
  timeout: 180_000,
  expect: { timeout: 15_000 },
  reporter,
  use: {
    baseURL: SERVER_URL,
    serverURL: SERVER_URL,
    actionTimeout: 15_000,
    navigationTimeout: 30_000,
    trace: 'off',
    screenshot: 'only-on-failure',
    video: 'off',
  },
  // Engines with suites of their own first: the WebGPU suite is one long file (minutes on SwiftShader); started first,
  // it runs on one worker beside the other engines' files instead of after them. (Display order stays the registry's.)
  projects: [...ENGINES].sort((a, b) => Number(engineSuites(b) !== null) - Number(engineSuites(a) !== null)).map(project),
  webServer: {
    command: `node --import tsx harness/runtimes/server.ts --port ${PORT}`,
    url: `${SERVER_URL}/`,
    reuseExistingServer: process.env.TINYDIT_REUSE_SERVER === '1',
    timeout: 60_000,
    stdout: 'ignore',
    stderr: 'pipe',
  },
});
