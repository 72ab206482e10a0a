/**
 * The WebGPU tolerance profile (harness/checks/webgpu.ts) is consistent and bounded: its limits are at most margin x
 * what was measured and at most the gate's ceiling, and the ceiling is what it claims to be, below the error of the
 * mildest broken model the CPU runtimes catch. That claim is measured here, in onnxruntime-node, on the embedded
 * bundle: the half-precision mutant (every float weight rounded to float16) gives per-sample velocity errors and
 * final-state errors at least twice the ceiling's. Cases: webgpu-profile:part=<what>.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { WEBGPU_CEILING, WEBGPU_PROFILE, profileProblems, relL2PerSample, withinLimit } from '../../harness/checks/webgpu.js';
import { sample } from '../../harness/core/sampler.js';
import { loadBundle } from '../../harness/model/bundle.js';
import { halfRoundTrip } from '../../harness/mutants/edits.js';
import { openModelBytes, samplerModel } from '../../harness/runtimes/node.js';
import { REPO_ROOT } from '../../harness/core/config.js';

describe('WebGPU profile', () => {
  it('webgpu-profile:part=consistent', () => {
    expect(profileProblems(WEBGPU_PROFILE)).toEqual([]);
  });

  it('webgpu-profile:part=refuses-loosened', () => {
    // the check must see a loosened profile, or its silence above proves nothing
    const loose = { ...WEBGPU_PROFILE, velocityRelL2Max: WEBGPU_PROFILE.velocityRelL2Max * 10 };
    expect(profileProblems(loose).join('; ')).toMatch(/velocityRelL2Max .* exceeds the gate's ceiling/);
    expect(profileProblems({ ...WEBGPU_PROFILE, margin: 10 }).join('; ')).toMatch(/margin 10 outside/);
    const overMeasured = { ...WEBGPU_PROFILE, measured: { ...WEBGPU_PROFILE.measured, stateRelL2: WEBGPU_PROFILE.stateRelL2Max / 10 } };
    expect(profileProblems(overMeasured).join('; ')).toMatch(/stateRelL2Max .* exceeds margin x measured/);
  });

  it('webgpu-profile:part=nan-fails', () => {
    expect(withinLimit([1e-6, Number.NaN], 1).pass).toBe(false);
    expect(withinLimit([], 1).pass).toBe(false);
    expect(relL2PerSample([1, Number.NaN], [1, 1], 2)[0]).toBeNaN();
  });

  it('webgpu-profile:part=ceiling-below-half-precision', async () => {
    const b = await loadBundle(join(REPO_ROOT, 'fixtures/default'), { require: 'full' });
    const index = b.requireFull('the WebGPU profile test');
    const per = b.channels * b.imageSize * b.imageSize;
    const source = b.variantPath('guided');
    const half = halfRoundTrip(new Uint8Array(readFileSync(source)), source);
    const runner = await openModelBytes(half, b.manifest, { label: 'half-precision', source, guidance: b.variant('guided').guidance });
    try {
      const f = index.velocity;
      const x = b.readGolden(f.inputs.noise).data as Float32Array;
      const t = b.readGolden(f.inputs.timestep).data as Float32Array;
      const br = b.readGolden(f.inputs.breed).data as BigInt64Array;
      const expected = b.readGolden(f.expected[f.expectedFor.guided ?? 'guided']!).data as Float32Array;
      const v = await runner.run(x, t, br, t.length);
      const velocity = Math.min(...relL2PerSample(v, expected, per));
      expect(velocity, `half-precision: smallest per-sample velocity error ${velocity}`).toBeGreaterThanOrEqual(
        2 * WEBGPU_CEILING.velocityRelL2Max,
      );

      const cases = b.trajectoryCases.filter((c) => c.seed === 7);
      const steps = index.trajectories.steps;
      const run = await sample(samplerModel(runner), {
        breeds: cases.map((c) => c.breed),
        seeds: cases.map((c) => c.seed),
        steps,
        cfgScale: index.trajectories.cfgScale,
      });
      const golden = new Float32Array(cases.length * per);
      cases.forEach((c, k) => {
        const traj = b.readGolden(c.file).data as Float32Array;
        golden.set(traj.subarray(steps * per, (steps + 1) * per), k * per);
      });
      const state = Math.min(...relL2PerSample(run.x, golden, per));
      expect(state, `half-precision: smallest final-state error ${state}`).toBeGreaterThanOrEqual(2 * WEBGPU_CEILING.stateRelL2Max);
    } finally {
      await runner.release();
    }
  }, 120_000);
});
