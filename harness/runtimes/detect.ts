/**
 * Which browser each Playwright project runs: Playwright's own build when it is installed (what QA machines
 * with internet have), otherwise the Debian system engines that scripts/setup.sh installs (chromium,
 * firefox-esr over WebDriver BiDi, WebKitGTK MiniBrowser). An engine found nowhere is still returned, with
 * `available: false` and the install command: the fixtures then FAIL its tests with that message.
 *
 * Env: TINYDIT_ENGINES=auto|playwright|system (default auto), TINYDIT_CHROMIUM, TINYDIT_FIREFOX,
 * TINYDIT_MINIBROWSER (paths of system engines).
 */
import { existsSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserType, chromium, firefox, type LaunchOptions, webkit } from '@playwright/test';
import { MINIBROWSER_CANDIDATES, MINIBROWSER_INSTALL_HINT, findMiniBrowser, findXvfb } from './webkit.js';
import { backendOf, browserOf, type EngineName } from './registry.js';

/** Typed by the registry: an engine whose `browser` has no launcher here does not compile. */
const LAUNCHERS: Record<ReturnType<typeof browserOf>, BrowserType> = { chromium, firefox, webkit };
/** Playwright's launcher of an engine (the registry's `browser` of it). */
export function playwrightType(engine: EngineName): BrowserType {
  return LAUNCHERS[browserOf(engine)];
}

/**
 * Chromium flags of an engine whose model calls run on WebGPU. Env TINYDIT_WEBGPU_ADAPTER: `swiftshader` (default:
 * Chromium's software Vulkan adapter, which every machine has, GPU or not) or `hardware` (whatever adapter Chromium
 * picks: a real GPU where there is one). The adapter a run used is recorded in its loading check and its verdict.
 * WebGPU needs a secure context: the page is served from http://127.0.0.1.
 */
export function webgpuArgs(env: NodeJS.ProcessEnv = process.env): string[] {
  const adapter = (env.TINYDIT_WEBGPU_ADAPTER ?? 'swiftshader').trim() || 'swiftshader';
  if (adapter !== 'swiftshader' && adapter !== 'hardware')
    throw new Error(`env TINYDIT_WEBGPU_ADAPTER=${adapter}: expected swiftshader (the default) or hardware`);
  return ['--enable-unsafe-webgpu', '--enable-features=Vulkan', ...(adapter === 'swiftshader' ? ['--use-webgpu-adapter=swiftshader'] : [])];
}
const extraArgs = (project: EngineName): string[] => (backendOf(project) === 'webgpu' ? webgpuArgs() : []);

/** A Playwright project: one per engine of the registry. */
export type ProjectName = EngineName;
export type EngineKind = 'playwright' | 'system-chromium' | 'system-firefox' | 'minibrowser';

export interface EngineChoice {
  project: ProjectName;
  kind: EngineKind;
  /** Human-readable, e.g. "system Chromium (/usr/bin/chromium)". */
  label: string;
  executable: string;
  available: boolean;
  /** Why it is not available. */
  problem?: string;
  /** How to install it. */
  installHint: string;
  /** launchOptions for Playwright's launch (not used for MiniBrowser). */
  launchOptions: LaunchOptions;
  /** Playwright channel, e.g. 'moz-firefox' for stock Firefox over BiDi. */
  channel?: string;
}

export const SYSTEM_CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

const HINTS: Record<ReturnType<typeof browserOf>, string> = {
  chromium:
    "install Playwright's Chromium (`npx playwright install --with-deps chromium`) or Debian's (`apt-get update && apt-get install -y chromium`)",
  firefox:
    "install Playwright's Firefox (`npx playwright install --with-deps firefox`) or Debian's (`apt-get update && apt-get install -y firefox-esr`)",
  webkit: MINIBROWSER_INSTALL_HINT,
};

function playwrightExecutable(project: ProjectName): string | undefined {
  const type = playwrightType(project);
  try {
    const p = type.executablePath();
    return p && existsSync(p) ? p : undefined;
  } catch {
    return undefined;
  }
}

function firstExisting(paths: string[]): string | undefined {
  return paths.find((p) => existsSync(p));
}

/** Firefox refuses a HOME owned by another user: give it a private one then. */
function firefoxEnv(): Record<string, string> | undefined {
  const home = process.env.HOME;
  const uid = typeof process.getuid === 'function' ? process.getuid() : undefined;
  let ok = false;
  try {
    ok = !!home && (uid === undefined || statSync(home).uid === uid);
  } catch {
    ok = false;
  }
  if (ok) return undefined;
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  env.HOME = mkdtempSync(join(tmpdir(), 'tinydit-firefox-home-'));
  return env;
}

export function chooseEngine(project: ProjectName): EngineChoice {
  const mode = (process.env.TINYDIT_ENGINES ?? 'auto').toLowerCase();
  if (!['auto', 'playwright', 'system'].includes(mode)) throw new Error(`TINYDIT_ENGINES must be auto, playwright or system, got ${mode}`);
  const own = mode === 'system' ? undefined : playwrightExecutable(project);
  if (own || mode === 'playwright') {
    const exe = own ?? playwrightType(project).executablePath();
    return {
      project,
      kind: 'playwright',
      label: `Playwright ${project}`,
      executable: exe,
      available: !!own,
      ...(own ? {} : { problem: `Playwright's ${project} is not installed at ${exe}` }),
      installHint: `\`npx playwright install --with-deps ${browserOf(project)}\``,
      launchOptions: extraArgs(project).length ? { args: extraArgs(project) } : {},
    };
  }
  if (browserOf(project) === 'chromium') {
    const exe = process.env.TINYDIT_CHROMIUM ?? firstExisting(['/usr/bin/chromium', '/usr/bin/chromium-browser']) ?? '/usr/bin/chromium';
    return {
      project,
      kind: 'system-chromium',
      label: `system Chromium (${exe})${backendOf(project) === 'webgpu' ? ', WebGPU' : ''}`,
      executable: exe,
      available: existsSync(exe),
      ...(existsSync(exe) ? {} : { problem: `no Chromium at ${exe} and Playwright's Chromium is not installed` }),
      installHint: HINTS.chromium,
      launchOptions: { executablePath: exe, args: [...SYSTEM_CHROMIUM_ARGS, ...extraArgs(project)] },
    };
  }
  if (browserOf(project) === 'firefox') {
    const exe = process.env.TINYDIT_FIREFOX ?? firstExisting(['/usr/bin/firefox-esr', '/usr/bin/firefox']) ?? '/usr/bin/firefox-esr';
    const env = existsSync(exe) ? firefoxEnv() : undefined;
    return {
      project,
      kind: 'system-firefox',
      label: `system Firefox over WebDriver BiDi (${exe})`,
      executable: exe,
      available: existsSync(exe),
      ...(existsSync(exe) ? {} : { problem: `no Firefox at ${exe} and Playwright's Firefox is not installed` }),
      installHint: HINTS.firefox,
      channel: 'moz-firefox',
      launchOptions: { executablePath: exe, ...(env ? { env } : {}) },
    };
  }
  const exe = findMiniBrowser() ?? MINIBROWSER_CANDIDATES[0]!;
  const xvfb = findXvfb();
  const problems = [
    ...(existsSync(exe)
      ? []
      : [
          process.env.TINYDIT_MINIBROWSER
            ? `no WebKitGTK MiniBrowser at ${exe} (TINYDIT_MINIBROWSER)`
            : `no WebKitGTK MiniBrowser (looked at ${MINIBROWSER_CANDIDATES.join(', ')})`,
        ]),
    ...(xvfb ? [] : ['no Xvfb']),
  ];
  return {
    project,
    kind: 'minibrowser',
    label: `system WebKitGTK MiniBrowser (${exe})`,
    executable: exe,
    available: problems.length === 0,
    ...(problems.length ? { problem: `${problems.join(' and ')}, and Playwright's WebKit is not installed` } : {}),
    installHint: HINTS.webkit,
    launchOptions: {},
  };
}

/** The message a test fails with when its engine cannot run. */
export function engineMissingMessage(e: EngineChoice, cause?: string): string {
  return `${e.project}: ${e.label} cannot start: ${cause ?? e.problem ?? 'unknown reason'}.\nTo fix it, ${e.installHint}.`;
}
