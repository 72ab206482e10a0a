/**
 * The app under test: the contract an adapter fulfils so that the browser suites' app checks (suites/browser/app.spec.ts)
 * can drive a web app, and the registry of the adapters that ship here. docs/app-under-test.md is the manual.
 *
 * An adapter knows how to reach its app (a URL), how to point it at a model file, how to set breed, steps, guidance
 * scale and seed, start a generation, observe its progress, read its final pixels and trigger its download, through
 * the app's JavaScript API or through its UI (accessible roles and labels). It returns plain data; it judges nothing.
 *
 * Which app: env TINYDIT_APP (a registered name, or a path to a module whose default export is an AppAdapter; default
 * `reference`, the project's reference page) and TINYDIT_APP_URL (where the app is served; default: the adapter's own
 * page on the test server).
 */
import { existsSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Page } from '@playwright/test';
import { REPO_ROOT } from '../core/config.js';

/** The model the app is to run: a file of the bundle under test, served by the test server, with what the manifest says of it. */
export interface AppModel {
  /** The bundle's variant name (manifest.variants key). */
  variant: string;
  /** Absolute URL of the model file on the test server. */
  url: string;
  guidance: 'baked' | 'none';
  /** The scale baked into the graph (guidance 'baked'). */
  bakedScale?: number;
  nullIndex: number;
  imageSize: number;
  channels: number;
}

export interface AppOpenOptions {
  model: AppModel;
  /**
   * The app's primary model URL, for the fallback check: a URL the test server answers 404. When given, `model.url` is
   * offered as the fallback (apps with no fallback path simply fail, which the check wants visible).
   */
  brokenPrimaryUrl?: string;
  /**
   * 'app': the app chooses its backend as it would for a user; 'wasm': ask for the wasm backend where the app allows it
   * (the generation checks judge guidance and numbers, not WebGPU; the backend check uses 'app').
   */
  backend?: 'app' | 'wasm';
}

/** What the app shows once it has settled after opening: a model ready, or a visible error. */
export interface AppSettled {
  ready: boolean;
  /** The app's visible error text, or null. */
  error: string | null;
  /** The backend the app reports ('webgpu', 'wasm'), or null when it does not say. */
  backend: string | null;
  /** Where the model came from, when the app says (for the fallback check). */
  modelSource: string | null;
  ms: number;
}

export interface Range {
  min: number;
  max: number;
  step: number;
  value: number;
  /** The control is disabled (the app offers only its value). */
  disabled: boolean;
}

/** The app's generation controls as its UI offers them. */
export interface AppControls {
  steps: Range;
  cfgScale: Range;
}

export interface AppSettings {
  breedIndex: number;
  steps: number;
  cfgScale: number;
  seed: number;
}

export interface AppProgress {
  /** 1-based step the app reports. */
  step: number;
  totalSteps: number;
  /** ms since the previous event (or the start) and since the start, as observed or as the app reports them. */
  stepTime: number;
  totalTime: number;
  width: number;
  height: number;
  /** The image shown with this event. */
  rgba?: Uint8Array;
}

export interface AppRun {
  width: number;
  height: number;
  /** The final image the app shows, RGBA. */
  rgba: Uint8Array;
  progress: AppProgress[];
  totalTime: number;
  wallMs: number;
}

/** A generation that ended in a visible error (a refused setting, a failed session) rather than an image. */
export interface AppRefusal {
  error: string;
  /** The user sees it: an error the page shows, or a control that does not offer the setting. */
  visible: boolean;
}

export interface AppDownload {
  name: string;
  bytes: Uint8Array;
  /** How the file was captured (Playwright's download event, or the anchor the page clicked). */
  route: string;
}

export interface AppAdapter {
  /** Registry name (TINYDIT_APP). */
  name: string;
  /** One line: what app this is and how the adapter drives it. */
  description: string;
  drives: 'api' | 'ui';
  /**
   * The breed index the app sends for its unconditional (null) call, as read in its source: a number, or 'manifest'
   * when it takes the manifest's null index. The app checks measure, in each engine, that it selects the null row.
   */
  unconditionalIndex: number | 'manifest';
  /** The page URL for these options (`appUrl`: TINYDIT_APP_URL, or undefined for the adapter's own default). */
  url(serverURL: string, opts: AppOpenOptions, appUrl?: string): string;
  /** Opens the app at url(...) and points it at the model (via API or its configuration). */
  open(page: Page, serverURL: string, opts: AppOpenOptions, appUrl?: string): Promise<void>;
  /** Waits until the app has a model ready or shows an error (at most timeoutMs: then ready false, error null). */
  settle(page: Page, timeoutMs: number): Promise<AppSettled>;
  controls(page: Page): Promise<AppControls>;
  /** One generation with these settings: the image and progress, or the app's visible error. */
  generate(page: Page, s: AppSettings, timeoutMs: number): Promise<AppRun | AppRefusal>;
  /** Selects a breed in the UI without generating (a user looking at the list after a generation). */
  selectBreed(page: Page, breedIndex: number): Promise<void>;
  /** Triggers the app's download of what it shows and returns the file. `anchorOnly`: no download events (MiniBrowser). */
  download(page: Page, anchorOnly: boolean): Promise<AppDownload>;
}

export const APP_ENV = 'TINYDIT_APP';
export const APP_URL_ENV = 'TINYDIT_APP_URL';

const BUILTIN: Record<string, () => Promise<AppAdapter>> = {
  reference: async () => (await import('./reference-adapter.js')).referenceAdapter,
  double: async () => (await import('./double-adapter.js')).doubleAdapter(false),
  'double-fixed': async () => (await import('./double-adapter.js')).doubleAdapter(true),
};
export const APP_NAMES = Object.keys(BUILTIN);

export function isAppAdapter(x: unknown): x is AppAdapter {
  const a = x as Partial<AppAdapter> | null;
  return (
    !!a &&
    typeof a.name === 'string' &&
    (a.unconditionalIndex === 'manifest' || typeof a.unconditionalIndex === 'number') &&
    ['url', 'open', 'settle', 'controls', 'generate', 'selectBreed', 'download'].every(
      (k) => typeof (a as Record<string, unknown>)[k] === 'function',
    )
  );
}

/** The adapter named by env TINYDIT_APP (default reference); a bad name or module throws, naming the variable and the fix. */
export async function appFromEnv(env: NodeJS.ProcessEnv = process.env): Promise<{ adapter: AppAdapter; appUrl?: string }> {
  const name = env[APP_ENV]?.trim() || 'reference';
  const appUrl = env[APP_URL_ENV]?.trim() || undefined;
  const builtin = BUILTIN[name];
  if (builtin) return { adapter: await builtin(), ...(appUrl ? { appUrl } : {}) };
  const path = isAbsolute(name) ? name : resolve(REPO_ROOT, name);
  if (!existsSync(path))
    throw new Error(
      `env ${APP_ENV}=${name}: neither a registered app (${APP_NAMES.join(', ')}) nor an adapter module (${path} does not exist); see docs/app-under-test.md`,
    );
  const mod = (await import(pathToFileURL(path).href)) as { default?: unknown };
  if (!isAppAdapter(mod.default))
    throw new Error(
      `env ${APP_ENV}=${name}: ${path} has no default export that is an AppAdapter (docs/app-under-test.md lists its members)`,
    );
  return { adapter: mod.default, ...(appUrl ? { appUrl } : {}) };
}
