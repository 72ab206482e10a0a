/**
 * Time bounds from the bundle's measured speed (harness/runtimes/time-bounds.ts): every bound that waits on a model
 * scales with what onnxruntime-node measured on that bundle, never a constant set on the 32-pixel fixture.
 * Cases: time-bounds:part=<what>.
 */
import { copyFileSync, cpSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../harness/core/config.js';
import { ENGINES, ORT_RUNTIMES, RUNTIMES } from '../../harness/runtimes/registry.js';
import {
  boundsFrom,
  ESTIMATE_MS_PER_MB,
  FIXED_TEST_MS,
  INIT_ALLOWANCE_MS,
  measureSpeed,
  profileMatches,
  SPEED_PROFILE_ENV,
  SPEED_PROFILE_FORMAT,
  slowdownOf,
  timeBounds,
  VARIANCE,
  writeSpeedProfile,
  type SpeedProfile,
} from '../../harness/runtimes/time-bounds.js';

const FIXTURE = join(REPO_ROOT, 'fixtures/default');
const manifest = JSON.parse(readFileSync(join(FIXTURE, 'manifest.json'), 'utf8')) as {
  variants: Record<string, { file: string }>;
  sampler?: { defaultSteps?: number };
};
const tmp = mkdtempSync(join(tmpdir(), 'tinydit-time-bounds-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A copy of the embedded bundle's manifest and model files (no goldens: timing reads only these). */
function bundleCopy(name: string): string {
  const dir = join(tmp, name);
  cpSync(FIXTURE, dir, { recursive: true, filter: (src) => !src.includes('goldens') && !src.endsWith('.pt') });
  return dir;
}

function profile(callMs: number, loadMs: number, extra: Partial<SpeedProfile> = {}): SpeedProfile {
  const v = (file: string, guidance: string) => ({ file, bytes: 1, mtimeMs: 0, loadMs, callMs, samplesMs: [callMs], guidance });
  return {
    format: SPEED_PROFILE_FORMAT,
    bundleDir: '/nowhere',
    measuredAt: '2026-12-02T00:00:00Z',
    cores: 2,
    loadAverage: 0,
    measureMs: 0,
    defaultSteps: 50,
    variants: { guided: v('model.onnx', 'baked'), raw: v('model_raw.onnx', 'none'), quantized: v('model_quant.onnx', 'baked') },
    ...extra,
  };
}

describe('time-bounds', () => {
  it('time-bounds:part=measured-on-the-embedded-bundle', async () => {
    const p = await measureSpeed(FIXTURE);
    expect(Object.keys(p.variants).sort()).toEqual(Object.keys(manifest.variants).sort());
    for (const [name, v] of Object.entries(p.variants)) {
      expect(v.estimated, `${name}: ${v.estimated}`).toBeUndefined();
      expect(v.samplesMs.length).toBeGreaterThan(0);
      expect(Number.isFinite(v.callMs) && v.callMs > 0, `${name} callMs ${v.callMs}`).toBe(true);
      expect(Number.isFinite(v.loadMs) && v.loadMs > 0, `${name} loadMs ${v.loadMs}`).toBe(true);
    }
    expect(p.defaultSteps).toBe(manifest.sampler?.defaultSteps ?? 50);
    expect(profileMatches(p, FIXTURE)).toBe(true);
  });

  it('time-bounds:part=a-slower-model-gets-longer-bounds', async () => {
    const good = await measureSpeed(FIXTURE);
    const extra = 10 * good.variants['guided']!.callMs;
    const slow = await measureSpeed(FIXTURE, { extraMsPerCall: extra });
    const g = boundsFrom(good);
    const s = boundsFrom(slow);
    for (const e of ENGINES) {
      const work = [{ variant: 'guided', steps: 50, images: 13 }];
      // the busy wait is at least `extra` per call: the slowed model's work bound is at least that much longer
      expect(s.workMs(e, work) - g.workMs(e, work)).toBeGreaterThanOrEqual(0.9 * 50 * 13 * extra * VARIANCE);
      expect(s.testMs(e, work)).toBeGreaterThan(g.testMs(e, work));
    }
  });

  it('time-bounds:part=every-runtime-has-a-slowdown', () => {
    for (const r of ORT_RUNTIMES) expect(slowdownOf(r), r).toBeGreaterThanOrEqual(1);
  });

  it('time-bounds:part=linear-in-the-measured-speed-and-the-engine-slowdown', () => {
    const a = boundsFrom(profile(5, 100));
    const b = boundsFrom(profile(50, 1000));
    const work = [{ variant: 'guided', steps: 50, images: 13 }];
    for (const r of RUNTIMES) {
      if (!('slowdown' in r)) continue;
      expect(a.workMs(r.name, work)).toBe(Math.ceil(50 * 13 * 5 * r.slowdown * VARIANCE));
      expect(b.workMs(r.name, work)).toBe(Math.ceil(50 * 13 * 50 * r.slowdown * VARIANCE));
    }
    // a raw graph runs both guidance branches per step; unguided, one
    expect(a.workMs('node', [{ variant: 'raw', steps: 10 }])).toBe(2 * a.workMs('node', [{ variant: 'guided', steps: 10 }]));
    expect(a.workMs('node', [{ variant: 'raw', steps: 10, guided: false }])).toBe(a.workMs('node', [{ variant: 'guided', steps: 10 }]));
    // a browser test that loads a model allows for the page's initialization watchdogs; Node's does not
    expect(a.testMs('chromium', work) - a.workMs('chromium', work) - a.loadMs('chromium', 'guided')).toBe(
      FIXED_TEST_MS + INIT_ALLOWANCE_MS,
    );
    expect(a.testMs('node', work) - a.workMs('node', work) - a.loadMs('node', 'guided')).toBe(FIXED_TEST_MS);
    expect(() => a.workMs('node', [{ variant: 'fp8', steps: 1 }])).toThrow(/no variant or file 'fp8'/);
  });

  it('time-bounds:part=covers-the-production-size-model-where-the-old-constants-did-not', () => {
    // docs/performance.md, npm run production (tinydit_128, 132 MB): Node 92.9 ms per guided step and 1020 ms to load;
    // a 50-step guided generation took 48 s in Chromium, 29 s in Firefox and 103 s in WebKit (the app's threads).
    const b = boundsFrom(profile(92.9, 1020));
    const measured: Record<string, number> = { chromium: 48_000, firefox: 29_000, webkit: 103_000 };
    for (const [e, ms] of Object.entries(measured)) {
      expect(b.workMs(e as 'chromium', [{ variant: 'guided', steps: 50 }])).toBeGreaterThan(2 * ms);
      // the old constant: 30 s per generation in generation.spec.ts, below each of these
      expect(ms).toBeGreaterThan(0.9 * 30_000);
    }
    expect(b.loadMs('webkit', 'guided')).toBeGreaterThan(2 * 10_900); // WebKit's measured load: 10.9 s
  });

  it('time-bounds:part=a-broken-variant-is-estimated-never-thrown', async () => {
    const dir = bundleCopy('broken-quantized');
    writeFileSync(join(dir, manifest.variants['quantized']!.file), 'not an onnx model');
    const p = await measureSpeed(dir);
    const q = p.variants['quantized']!;
    expect(q.estimated).toMatch(/not measured \(.*\): the slowest measured variant per byte, times its size/);
    const rates = ['guided', 'raw'].map((n) => p.variants[n]!.callMs / p.variants[n]!.bytes);
    expect(q.callMs).toBeCloseTo(Math.max(...rates) * 2 ** 20, 6); // a tiny file is timed as 1 MiB at least
    expect(p.variants['guided']!.estimated).toBeUndefined();

    const bare = join(tmp, 'no-manifest');
    cpSync(dir, bare, { recursive: true });
    rmSync(join(bare, 'manifest.json'));
    const n = await measureSpeed(bare);
    expect(Object.keys(n.variants).sort()).toEqual(
      Object.values(manifest.variants)
        .map((v) => v.file)
        .sort(),
    );
    for (const v of Object.values(n.variants)) {
      expect(v.estimated).toMatch(new RegExp(`${ESTIMATE_MS_PER_MB} ms per MB`));
      expect(v.callMs).toBeCloseTo((ESTIMATE_MS_PER_MB * Math.max(v.bytes, 2 ** 20)) / 2 ** 20, 6);
    }
  });

  it('time-bounds:part=the-gate-profile-is-used-only-for-the-files-it-timed', async () => {
    const dir = bundleCopy('env-profile');
    const p = await measureSpeed(dir);
    const doctored: SpeedProfile = {
      ...p,
      variants: Object.fromEntries(Object.entries(p.variants).map(([k, v]) => [k, { ...v, callMs: 1234 }])),
    };
    const file = join(tmp, 'speed-profile.json');
    writeSpeedProfile(doctored, file);
    const before = process.env[SPEED_PROFILE_ENV];
    process.env[SPEED_PROFILE_ENV] = file;
    try {
      expect((await timeBounds(dir)).profile.variants['guided']!.callMs).toBe(1234);
      // another bundle, and this one after a model file changed: not this profile's
      expect(profileMatches(doctored, FIXTURE)).toBe(false);
      const guided = join(dir, manifest.variants['guided']!.file);
      copyFileSync(join(FIXTURE, manifest.variants['guided']!.file), guided);
      utimesSync(guided, new Date(), new Date(Date.now() + 5000));
      expect(profileMatches(doctored, dir)).toBe(false);
      const other = bundleCopy('env-profile-other');
      expect((await timeBounds(other)).profile.variants['guided']!.callMs).not.toBe(1234);
    } finally {
      if (before === undefined) delete process.env[SPEED_PROFILE_ENV];
      else process.env[SPEED_PROFILE_ENV] = before;
    }
  });
});
