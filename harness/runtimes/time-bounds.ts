/**
 * Time bounds derived from the bundle's measured speed.
 *
 * A bound that waits on a model (a browser generation, a model load, a test that samples images) is not a constant
 * set on the 32-pixel fixture: a 128-pixel model is ten times slower per step, and a constant that is generous for
 * one is a false timeout for the other. Instead:
 *
 * 1. **Measure** (`measureSpeed`): each variant of the bundle is opened in onnxruntime-node at 1 thread (the load
 *    time) and called 1 + MEASURED_CALLS times at batch 1 (the first call is a warm-up; the step time is the median
 *    of the rest). A guided variant's batch-1 call is one sampler step (the graph runs both guidance branches);
 *    a raw variant's is one branch. `npm run gate` measures once, before its runners start, writes
 *    `<run>/speed-profile.json` and hands it to every runner (env TINYDIT_SPEED_PROFILE); a suite run on its own
 *    measures in its own process, once.
 * 2. **Derive** (`boundsFrom`): the bound of some work on a runtime is what Node took for it, times the runtime's
 *    worst measured slowdown against Node (registry `slowdown`), times VARIANCE (this machine's run-to-run spread
 *    under load), plus a fixed part for what does not scale with the model (opening a page, the page's watchdogs on
 *    onnxruntime-web's initialization, writing evidence).
 *
 * A variant onnxruntime-node cannot open or call (a broken model under test: its own suites say so) is estimated
 * from the measured variants, scaled by file size, or, when none could be measured, from its size alone
 * (ESTIMATE_MS_PER_MB, far slower than any model measured here). The profile says which figures are estimates and
 * why. Timing never fails a run: judging the model is the suites' work.
 *
 * The constants and the measurements they come from: docs/time-bounds.md.
 */
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { readManifestLenient } from '../model/bundle-files.js';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { openModelBytes } from './node.js';
import { summarize } from '../bench/stats.js';
import { isEngine, RUNTIMES, type OrtRuntime } from './registry.js';
import { ORT_INIT_WATCHDOG_MS } from './web/protocol.js';

export const SPEED_PROFILE_ENV = 'TINYDIT_SPEED_PROFILE';
export const SPEED_PROFILE_FORMAT = 'tinydit-speed/1';
/** Timed calls per variant after the warm-up call. */
export const MEASURED_CALLS = 5;
/**
 * Every bound is this many times the expected time. The speed is measured once, at the start, and the suites then
 * share two cores: in one full gate run (fresh clone, another job at the lowest priority beside it) the judge's good
 * sample took 17.9 ms per image-step and one of its proofs 20.9 ms, against 3.28 ms per call measured at that run's
 * start (x5.5 and x6.4); the same Node configuration measured 4.6 ms and 17.8 ms per step at two loads (x3.9,
 * docs/performance.md). 2.5 times the worst: 16.
 */
export const VARIANCE = 16;
/** What a test's bound adds for what does not scale with the model: a page, a wasm compile, evidence files. */
export const FIXED_TEST_MS = 60_000;
/** What a load's bound adds: fetching onnxruntime-web's runtime files and the page's own work. */
export const FIXED_LOAD_MS = 30_000;
/**
 * What a browser test's bound adds when it loads a model: the page's watchdogs on onnxruntime-web's backend
 * initialization (a first attempt, then one retry), which a load's own time limit does not count.
 */
export const INIT_ALLOWANCE_MS = ORT_INIT_WATCHDOG_MS.reduce((a, b) => a + b, 0);
/**
 * Step time assumed per MB of model file when no variant could be measured: 10 ms/MB. The fixture measures about
 * 1.6 ms/MB (8 ms, 5 MB) and the 128-pixel model 0.7 ms/MB (93 ms, 132 MB) in Node here.
 */
export const ESTIMATE_MS_PER_MB = 10;

export interface VariantSpeed {
  file: string;
  bytes: number;
  /** File modification time when measured: a changed file is measured again. */
  mtimeMs: number;
  /** Read + session creation in onnxruntime-node at 1 thread, ms. */
  loadMs: number;
  /** One batch-1 call, ms (median of MEASURED_CALLS after a warm-up). */
  callMs: number;
  /** The timed calls. */
  samplesMs: number[];
  /** Guidance mode from the manifest: 'baked' (one call is a guided step) or 'none' (a guided step is two). */
  guidance: string;
  /** Set when the figures are an estimate, with why the variant could not be measured. */
  estimated?: string;
}

export interface SpeedProfile {
  format: typeof SPEED_PROFILE_FORMAT;
  bundleDir: string;
  measuredAt: string;
  cores: number;
  /** 1-minute load average when measured. */
  loadAverage: number;
  /** Wall time of the measurement, ms. */
  measureMs: number;
  /** Steps of a default generation (manifest sampler.defaultSteps, else 50). */
  defaultSteps: number;
  variants: Record<string, VariantSpeed>;
}

interface RawVariant {
  file: string;
  guidance: string;
}

function readVariants(dir: string): { manifest: Record<string, unknown> | null; variants: Record<string, RawVariant>; why?: string } {
  const { manifest, why } = readManifestLenient(dir);
  if (manifest) {
    const raw = (manifest['variants'] ?? {}) as Record<string, Partial<RawVariant>>;
    const variants: Record<string, RawVariant> = {};
    for (const [name, v] of Object.entries(raw)) {
      if (typeof v?.file === 'string') variants[name] = { file: v.file, guidance: typeof v.guidance === 'string' ? v.guidance : 'baked' };
    }
    return { manifest, variants };
  }
  // no readable manifest: time every ONNX file of the bundle by size (the suites report the manifest)
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.onnx')) : [];
  return { manifest: null, variants: Object.fromEntries(files.map((f) => [f, { file: f, guidance: 'baked' }])), why };
}

export interface MeasureOptions {
  /** Test hook: extra busy-wait per model call, ms (a model made slower on purpose). */
  extraMsPerCall?: number;
}

/** Measures every variant of the bundle in onnxruntime-node at 1 thread. Never throws for a broken model. */
export async function measureSpeed(dir: string, opts: MeasureOptions = {}): Promise<SpeedProfile> {
  const root = resolve(dir);
  const t0 = performance.now();
  const { manifest, variants, why } = readVariants(root);
  const contract = (manifest?.['contract'] ?? {}) as { imageSize?: number; channels?: number };
  const measured: Record<string, VariantSpeed> = {};
  const failed: Record<string, { file: string; bytes: number; mtimeMs: number; guidance: string; why: string }> = {};
  for (const [name, v] of Object.entries(variants)) {
    const path = join(root, v.file);
    let bytes = 0;
    let mtimeMs = 0;
    try {
      const st = statSync(path);
      bytes = st.size;
      mtimeMs = st.mtimeMs;
      if (!manifest) throw new Error(why ?? 'no manifest');
      const l0 = performance.now();
      const runner = await openModelBytes(
        readFileSync(path),
        manifest as never,
        { label: name, source: path, guidance: v.guidance },
        { threads: 1 },
      );
      const loadMs = performance.now() - l0;
      try {
        const C = contract.channels ?? 3;
        const S = contract.imageSize ?? 32;
        const x = new Float32Array(C * S * S).map((_, i) => Math.sin(i) * 0.5);
        const samplesMs: number[] = [];
        for (let k = 0; k <= MEASURED_CALLS; k++) {
          const c0 = performance.now();
          await runner.run(x, Float32Array.of(0.5), BigInt64Array.of(0n), 1);
          if (opts.extraMsPerCall) {
            const until = performance.now() + opts.extraMsPerCall;
            while (performance.now() < until);
          }
          if (k > 0) samplesMs.push(performance.now() - c0);
        }
        measured[name] = {
          file: v.file,
          bytes,
          mtimeMs,
          loadMs,
          callMs: summarize(samplesMs, `${path}: call times`).median,
          samplesMs,
          guidance: v.guidance,
        };
      } finally {
        await runner.release();
      }
    } catch (e) {
      failed[name] = { file: v.file, bytes, mtimeMs, guidance: v.guidance, why: (e as Error).message.split('\n')[0]!.slice(0, 300) };
    }
  }
  // Unmeasurable variants: the slowest measured rate per byte times their size, else the size rate.
  const ok = Object.values(measured);
  const callPerByte = ok.length ? Math.max(...ok.map((m) => m.callMs / Math.max(1, m.bytes))) : ESTIMATE_MS_PER_MB / 2 ** 20;
  const loadPerByte = ok.length ? Math.max(...ok.map((m) => m.loadMs / Math.max(1, m.bytes))) : ESTIMATE_MS_PER_MB / 2 ** 20;
  for (const [name, f] of Object.entries(failed)) {
    const size = Math.max(f.bytes, 2 ** 20);
    measured[name] = {
      file: f.file,
      bytes: f.bytes,
      mtimeMs: f.mtimeMs,
      loadMs: loadPerByte * size,
      callMs: callPerByte * size,
      samplesMs: [],
      guidance: f.guidance,
      estimated: `not measured (${f.why}): ${ok.length ? 'the slowest measured variant per byte' : `${ESTIMATE_MS_PER_MB} ms per MB`}, times its size`,
    };
  }
  return {
    format: SPEED_PROFILE_FORMAT,
    bundleDir: root,
    measuredAt: new Date().toISOString(),
    cores: cpus().length,
    loadAverage: loadavg()[0]!,
    measureMs: performance.now() - t0,
    defaultSteps: Number((manifest?.['sampler'] as { defaultSteps?: unknown } | undefined)?.defaultSteps) || 50,
    variants: measured,
  };
}

/** Whether a profile was measured on this bundle's files as they are now. */
export function profileMatches(p: SpeedProfile, dir: string): boolean {
  if (p.format !== SPEED_PROFILE_FORMAT || p.bundleDir !== resolve(dir)) return false;
  const { variants } = readVariants(resolve(dir));
  const names = Object.keys(variants);
  if (names.length !== Object.keys(p.variants).length) return false;
  return names.every((n) => {
    const m = p.variants[n];
    const path = join(resolve(dir), variants[n]!.file);
    if (!m || m.file !== variants[n]!.file) return false;
    if (!existsSync(path)) return m.bytes === 0;
    const st = statSync(path);
    return st.size === m.bytes && st.mtimeMs === m.mtimeMs;
  });
}

export function writeSpeedProfile(p: SpeedProfile, path: string): void {
  writeFileSync(path, `${JSON.stringify(p, null, 2)}\n`);
}

/** Slowdown of a runtime's model calls against onnxruntime-node at 1 thread (registry `slowdown`). */
export function slowdownOf(runtime: OrtRuntime): number {
  const e = RUNTIMES.find((r) => r.name === runtime);
  if (!e || !('slowdown' in e)) throw new Error(`harness/runtimes/registry.ts: runtime '${runtime}' has no slowdown`);
  return e.slowdown;
}

/** Some model work of a test: `images` images of `steps` sampler steps each (guided unless `guided` is false). */
export interface Work {
  variant: string;
  /** Sampler steps per image (a velocity call without sampling: 1). */
  steps: number;
  /** Images (or velocity samples). Default 1. */
  images?: number;
  /** Whether a raw ('none') variant runs both guidance branches per step (cfg > 1). Default true. */
  guided?: boolean;
}

export interface TimeBounds {
  profile: SpeedProfile;
  /** Bound of the model work alone on a runtime, ms. */
  workMs(runtime: OrtRuntime, work: Work[]): number;
  /** Bound of one model load on a runtime, ms. */
  loadMs(runtime: OrtRuntime, variant: string): number;
  /** Bound of a test: FIXED_TEST_MS + `loads` loads of the first work item's variant + the work. */
  testMs(runtime: OrtRuntime, work: Work[], loads?: number): number;
}

export function boundsFrom(profile: SpeedProfile): TimeBounds {
  const speedOf = (variant: string): VariantSpeed => {
    const v = profile.variants[variant] ?? Object.values(profile.variants).find((x) => x.file === variant);
    if (!v) {
      throw new Error(
        `speed profile of ${profile.bundleDir}: no variant or file '${variant}' (has: ${Object.keys(profile.variants).join(', ')}); ` +
          'the bundle changed after it was timed: rerun',
      );
    }
    return v;
  };
  const workMs = (runtime: OrtRuntime, work: Work[]): number =>
    work.reduce((sum, w) => {
      const v = speedOf(w.variant);
      const branches = v.guidance === 'none' && w.guided !== false ? 2 : 1;
      return sum + w.steps * (w.images ?? 1) * branches * v.callMs * slowdownOf(runtime) * VARIANCE;
    }, 0);
  const loadMs = (runtime: OrtRuntime, variant: string): number =>
    Math.ceil(FIXED_LOAD_MS + speedOf(variant).loadMs * slowdownOf(runtime) * VARIANCE);
  return {
    profile,
    workMs: (runtime, work) => Math.ceil(workMs(runtime, work)),
    loadMs,
    testMs: (runtime, work, loads = 1) => {
      const loading = work.length && loads ? loads * loadMs(runtime, work[0]!.variant) + (isEngine(runtime) ? INIT_ALLOWANCE_MS : 0) : 0;
      return Math.ceil(FIXED_TEST_MS + loading + workMs(runtime, work));
    },
  };
}

const cache = new Map<string, Promise<TimeBounds>>();

/**
 * The time bounds of a bundle: from TINYDIT_SPEED_PROFILE when that file was measured on this bundle's files as they
 * are now, else measured in this process (once per bundle).
 */
export function timeBounds(dir: string): Promise<TimeBounds> {
  const root = resolve(dir);
  let p = cache.get(root);
  if (!p) {
    p = (async () => {
      const file = process.env[SPEED_PROFILE_ENV];
      if (file && existsSync(file)) {
        try {
          const prof = JSON.parse(readFileSync(file, 'utf8')) as SpeedProfile;
          if (profileMatches(prof, root)) return boundsFrom(prof);
        } catch {
          // unreadable: measure below
        }
      }
      return boundsFrom(await measureSpeed(root));
    })();
    cache.set(root, p);
  }
  return p;
}

/** One line for logs: each variant's call and load time. */
export function describeProfile(p: SpeedProfile): string {
  const parts = Object.entries(p.variants).map(
    ([n, v]) => `${n} ${v.callMs.toFixed(1)} ms/call, load ${Math.round(v.loadMs)} ms${v.estimated ? ' (estimated)' : ''}`,
  );
  return `onnxruntime-node, 1 thread: ${parts.join('; ')} (load average ${p.loadAverage.toFixed(1)})`;
}
