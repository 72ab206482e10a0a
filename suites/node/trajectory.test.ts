/**
 * Full-trajectory conformance: the shared TypeScript sampler (harness/core/sampler.ts) driving onnxruntime-node
 * must follow every golden PyTorch trajectory x_0..x_N within a per-step band max(floorMultiple * floor_s,
 * absMin) (manifest tolerance.trajectory, floor_s = that trajectory's float32-vs-float64 spread at step s).
 * Runs, each one sampler call over all golden cases at once:
 * - free: the sampler's own states (the error of every call, carried and grown over the steps);
 * - teacher: the golden x_i fed at every step, x_i + dt v(x_i) compared with x_{i+1} (one call's error);
 * - the raw graph with guidance applied once in TypeScript: must land on the same golden trajectory.
 * Per-case error-vs-step arrays go to <reportDir>/trajectory-errors.json for charts.
 */
import { caseId, caseIdWith } from '../../harness/core/case-id.js';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBundle, type Bundle, type TrajectoryCase } from '../../harness/model/bundle.js';
import { compareTensors, formatComparison, toleranceBand } from '../../harness/core/compare.js';
import { bundleDir, reportDir } from '../../harness/core/config.js';
import { withInitializers } from '../../harness/model/onnx-edit.js';
import { recordCheck } from '../../harness/core/record-check.js';
import { openModelBytes, openVariant, samplerModel, type VelocityRunner } from '../../harness/runtimes/node.js';
import { sample } from '../../harness/core/sampler.js';

const RUNTIME = 'node';
const ERRORS_FILE = 'trajectory-errors.json';

const loaded = await loadBundle(bundleDir(), { require: 'full' }).then(
  (b) => ({ bundle: b }),
  (e: Error) => ({ error: e }),
);

type Mode = 'free' | 'teacher';
/** One sampler run as data: which variant drives it and how. */
interface TrajectoryRun {
  variant: string;
  mode: Mode;
}

interface CaseErrors {
  id: string;
  seed: number;
  breed: number;
  breedName: string;
  /** Allowed error per state (index = step; teacher runs: the state the one-step prediction lands on). */
  band: number[];
  /** max |ts - golden| per state; entry s is state x_s (teacher runs: entry 0 is null, no prediction lands on x_0). */
  maxAbs: (number | null)[];
  /** First step whose error is outside the band, null when none. */
  firstLeave: number | null;
  /** Largest error / band over the steps. */
  worstRatio: number;
}

interface RunErrors extends TrajectoryRun {
  modelMs: number;
  cases: CaseErrors[];
}

function maxAbsDiff(a: Float32Array, b: Float32Array, aOff: number, bOff: number, n: number): number {
  let m = 0;
  for (let i = 0; i < n; i++) {
    const d = Math.abs(a[aOff + i]! - b[bOff + i]!);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

if ('error' in loaded) {
  it('trajectory: bundle loads', () => {
    recordCheck({
      id: 'trajectory:bundle',
      check: 'trajectory',
      runtime: RUNTIME,
      status: 'error',
      metrics: {},
      message: loaded.error.message,
    });
    throw loaded.error;
  });
} else {
  const bundle: Bundle = loaded.bundle;
  const spec = bundle.requireFull('the trajectory check').trajectories;
  const steps = spec.steps;
  const policy = bundle.tolerance.trajectory;
  const perImage = bundle.channels * bundle.imageSize * bundle.imageSize;
  const cases: TrajectoryCase[] = spec.cases;
  const floor = bundle.readGolden(spec.floor).data as Float64Array;
  // golden states, per case [N+1, C, H, W]
  const golden = cases.map((c) => bundle.readGolden(c.file).data as Float32Array);
  const bands = cases.map((c) => Array.from({ length: steps + 1 }, (_, s) => toleranceBand(policy, floor[c.floorRow * (steps + 1) + s]!)));
  /** x_s of every case as one batch [B, C, H, W]. */
  const goldenBatch = (s: number): Float32Array => {
    const out = new Float32Array(cases.length * perImage);
    golden.forEach((g, k) => out.set(g.subarray(s * perImage, (s + 1) * perImage), k * perImage));
    return out;
  };
  const rawName = bundle.variantNames.find((v) => bundle.variant(v).guidance === 'none' && !bundle.variant(v).quantized);
  const runs: TrajectoryRun[] = [
    { variant: spec.variant, mode: 'free' },
    { variant: spec.variant, mode: 'teacher' },
    { variant: rawName ?? '(no raw variant)', mode: 'free' },
  ];
  const runId = (r: TrajectoryRun) => `variant=${r.variant},mode=${r.mode}`;
  const runCaseId = (r: TrajectoryRun, c: TrajectoryCase) => caseIdWith(c.id, { variant: r.variant, mode: r.mode });
  const report: RunErrors[] = [];

  /** Runs the shared sampler over every golden case at once and measures each case's error per step. */
  async function runTrajectories(
    runner: VelocityRunner,
    run: TrajectoryRun,
    subset = cases.map((_, k) => k),
  ): Promise<{ errors: RunErrors; states: (Float32Array | null)[] }> {
    const pick = (batch: Float32Array): Float32Array => {
      if (subset.length === cases.length) return batch;
      const out = new Float32Array(subset.length * perImage);
      subset.forEach((k, i) => out.set(batch.subarray(k * perImage, (k + 1) * perImage), i * perImage));
      return out;
    };
    const res = await sample(samplerModel(runner), {
      breeds: subset.map((k) => cases[k]!.breed),
      seeds: subset.map((k) => cases[k]!.seed),
      steps,
      cfgScale: spec.cfgScale,
      keepTrajectory: run.mode === 'free',
      ...(run.mode === 'teacher' ? { teacher: (i: number) => pick(goldenBatch(i)) } : {}),
    });
    const states = run.mode === 'free' ? res.trajectory : [null, ...res.oneStep];
    const out: CaseErrors[] = subset.map((k, i) => {
      const c = cases[k]!;
      const maxAbs = states.map((st, s) => (st === null ? null : maxAbsDiff(st, golden[k]!, i * perImage, s * perImage, perImage)));
      let firstLeave: number | null = null;
      let worstRatio = 0;
      maxAbs.forEach((e, s) => {
        if (e === null) return;
        const ratio = e / bands[k]![s]!;
        if (!(ratio <= worstRatio)) worstRatio = Number.isNaN(ratio) ? Infinity : ratio;
        if (firstLeave === null && !(e <= bands[k]![s]!)) firstLeave = s;
      });
      return {
        id: runCaseId(run, c),
        seed: c.seed,
        breed: c.breed,
        breedName: bundle.breedName(c.breed),
        band: bands[k]!,
        maxAbs,
        firstLeave,
        worstRatio,
      };
    });
    return { errors: { ...run, modelMs: res.modelMs, cases: out }, states };
  }

  afterAll(() => {
    const dir = reportDir();
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, ERRORS_FILE),
      JSON.stringify(
        {
          bundle: bundle.dir,
          name: bundle.manifest.name,
          steps,
          cfgScale: spec.cfgScale,
          policy,
          note:
            'maxAbs[s] = max |TS sampler state - golden x_s| (teacher: one-step prediction from golden x_{s-1}); band[s] = max(floorMultiple * floor_s, absMin); ' +
            'growth = free-run final error / largest one-call (teacher) error of the same variant',
          runs: report,
          growth: report
            .filter((r) => r.mode === 'free')
            .flatMap((free) => {
              const teacher = report.find((r) => r.mode === 'teacher' && r.variant === free.variant);
              return free.cases.map((c, k) => {
                const oneCall = teacher ? Math.max(...teacher.cases[k]!.maxAbs.filter((v): v is number => v !== null)) : null;
                const final = c.maxAbs[steps]!;
                return {
                  id: c.id,
                  finalError: final,
                  oneCallMax: oneCall,
                  growth: oneCall ? final / oneCall : null,
                  firstLeave: c.firstLeave,
                };
              });
            }),
        },
        (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v),
      ),
    );
  });

  for (const run of runs) {
    describe(`trajectories ${runId(run)}`, () => {
      let result: RunErrors | undefined;
      let states: (Float32Array | null)[] = [];
      let failure: Error | undefined;
      beforeAll(async () => {
        let runner: VelocityRunner | undefined;
        try {
          if (run.variant === '(no raw variant)') {
            throw new Error(
              `${bundle.dir}/manifest.json has no float variant with guidance 'none' (model_raw.onnx): guidance applied in TypeScript cannot be checked; export it with --no-cfg`,
            );
          }
          runner = await openVariant(bundle, run.variant);
          ({ errors: result, states } = await runTrajectories(runner, run));
          report.push(result);
        } catch (e) {
          failure = e as Error;
        } finally {
          await runner?.release();
        }
      });

      cases.forEach((c, k) =>
        it(runCaseId(run, c), () => {
          const id = runCaseId(run, c);
          if (!result) {
            const message = `the sampler run failed: ${failure?.message ?? 'unknown error'}`;
            recordCheck({ id, check: 'trajectory', runtime: RUNTIME, status: 'error', metrics: {}, message });
            throw new Error(message);
          }
          const e = result.cases[k]!;
          const finalErr = e.maxAbs[steps]!;
          const pass = e.firstLeave === null;
          let message: string;
          if (pass) {
            message = `within the band at all ${steps} steps; final max|diff| ${finalErr.toExponential(3)} (band ${e.band[steps]!.toExponential(3)}), worst ${e.worstRatio.toFixed(3)}x band`;
          } else {
            // statistics of the first state that left the band, located by breed, step, channel and pixel
            const s = e.firstLeave!;
            const st = compareTensors(
              states[s]!.subarray(k * perImage, (k + 1) * perImage),
              golden[k]!.subarray(s * perImage, (s + 1) * perImage),
              {
                shape: [1, bundle.channels, bundle.imageSize, bundle.imageSize],
                axes: ['breed', 'channel', 'y', 'x'],
                labels: [`${e.breedName} step=${s}`],
                atol: e.band[s]!,
              },
            );
            message =
              `leaves the band first at step ${s} of ${steps} (${run.mode === 'teacher' ? 'one call from golden x_' + (s - 1) : 'free run'}); ` +
              `worst ${e.worstRatio.toFixed(2)}x band; final max|diff| ${finalErr.toExponential(3)}\n${formatComparison(st, `state x_${s}`)}`;
          }
          recordCheck({
            id,
            check: 'trajectory',
            runtime: RUNTIME,
            status: pass ? 'pass' : 'fail',
            metrics: {
              firstLeave: e.firstLeave,
              worstRatio: e.worstRatio,
              finalMaxAbs: finalErr,
              maxAbsOverSteps: Math.max(...e.maxAbs.filter((v): v is number => v !== null)),
              mode: run.mode,
              variant: run.variant,
            },
            threshold: { floorMultiple: policy.floorMultiple, absMin: policy.absMin, finalBand: e.band[steps]! },
            message,
            artifacts: [ERRORS_FILE],
          });
          expect({ pass, message }).toPassCheck(id);
        }),
      );
    });
  }

  // Proof that the check fails: a velocity off by a constant whose accumulated effect is 10x the widest band
  // of the case must leave the band, and the report must say at which step.
  describe('the trajectory check rejects a broken model', () => {
    it('trajectory:mutant=output-bias-shifted', async () => {
      const k = 0;
      const c = cases[k]!;
      const shift = 10 * Math.max(...bands[k]!);
      const bytes = withInitializers(readFileSync(bundle.variantPath(spec.variant)), {
        'final_layer.linear.bias': (d) => {
          d[0]! += shift;
        },
      });
      const r = await openModelBytes(bytes, bundle.manifest, {
        label: 'mutant',
        source: `${spec.variant} with final_layer.linear.bias[0] += ${shift}`,
        guidance: bundle.variant(spec.variant).guidance,
      });
      const res = await runTrajectories(r, { variant: spec.variant, mode: 'free' }, [k]);
      await r.release();
      const e = res.errors.cases[0]!;
      recordCheck({
        id: caseId('trajectory', { mutant: 'output-bias-shifted', breed: bundle.breedName(c.breed), seed: c.seed }),
        check: 'trajectory-mutant',
        runtime: RUNTIME,
        status: e.firstLeave === null ? 'fail' : 'pass',
        metrics: { firstLeave: e.firstLeave, worstRatio: e.worstRatio, shift },
        threshold: { floorMultiple: policy.floorMultiple, absMin: policy.absMin },
        message:
          e.firstLeave === null
            ? 'the trajectory check PASSED a model with a shifted output bias'
            : `rejected as expected: leaves the band at step ${e.firstLeave}`,
      });
      expect(e.firstLeave).not.toBeNull();
      expect(e.firstLeave!).toBeGreaterThan(0); // x_0 is the shared seeded noise: identical
      expect(e.worstRatio).toBeGreaterThan(1);
    });
  });
}
