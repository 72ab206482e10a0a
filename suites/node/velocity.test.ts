/**
 * Single-call velocity conformance: onnxruntime-node on every golden velocity case and every variant of the
 * bundle, one call per case (batch 1) and one call per batch group (all rows of one t together).
 * Float variants: a case passes when max|ort - torch_f32| <= max(floorMultiple * floor, absMin) with that
 * case's own noise floor (manifest tolerance.velocity). The quantized variant has its own profile: relative
 * L2 per case <= tolerance.quantized.velocityRelL2Max (measured when the bundle was made, with a margin).
 * Each check is also run on a broken model to show that it fails.
 */
import { caseId, caseIdWith } from '../../harness/core/case-id.js';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBundle, outputGain, type Bundle } from '../../harness/model/bundle.js';
import {
  comparisonMetrics,
  compareTensors,
  formatComparison,
  type CompareOptions,
  type ComparisonStats,
  toleranceBand,
} from '../../harness/core/compare.js';
import { bundleDir } from '../../harness/core/config.js';
import { withInitializers, zeroOutputLayer } from '../../harness/model/onnx-edit.js';
import { recordCheck, type Metric } from '../../harness/core/record-check.js';
import { openModelBytes, openVariant, type VelocityRunner } from '../../harness/runtimes/node.js';

const RUNTIME = 'node';
const AXES = ['breed', 'channel', 'y', 'x'];

const loaded = await loadBundle(bundleDir(), { require: 'full' }).then(
  (b) => ({ bundle: b }),
  (e: Error) => ({ error: e }),
);

/** One velocity case as data: which variant, which golden rows (1 row, or a batch group), its stable id. */
interface VelocityCaseSpec {
  id: string;
  variant: string;
  rows: number[];
}

interface VelocityGoldens {
  x: Float32Array;
  t: Float32Array;
  breed: BigInt64Array;
  perImage: number;
  expected: Map<string, Float32Array>;
  floor: Map<string, Float64Array>;
}

function loadGoldens(bundle: Bundle): VelocityGoldens {
  const idx = bundle.requireFull('the velocity check').velocity;
  const x = bundle.readGolden(idx.inputs.noise);
  const t = bundle.readGolden(idx.inputs.timestep);
  const b = bundle.readGolden(idx.inputs.breed);
  const expected = new Map<string, Float32Array>();
  const floor = new Map<string, Float64Array>();
  for (const variant of bundle.variantNames) {
    const g = bundle.velocityGoldens(variant);
    expected.set(variant, bundle.readGolden(g.expected).data as Float32Array);
    floor.set(variant, bundle.readGolden(g.noiseFloor).data as Float64Array);
  }
  return {
    x: x.data as Float32Array,
    t: t.data as Float32Array,
    breed: b.data as BigInt64Array,
    perImage: bundle.channels * bundle.imageSize * bundle.imageSize,
    expected,
    floor,
  };
}

function gather<T extends Float32Array | BigInt64Array>(src: T, rows: number[], per: number): T {
  const out = new (src.constructor as new (n: number) => T)(rows.length * per);
  rows.forEach((r, i) => out.set(src.subarray(r * per, (r + 1) * per) as never, i * per));
  return out;
}

/** The cases of a variant: every golden case alone, then every batch group; ids carry the variant. */
function casesOf(bundle: Bundle, variant: string): VelocityCaseSpec[] {
  const tag = (id: string) => caseIdWith(id, { variant });
  return [
    ...bundle.velocityCases.map((c) => ({ id: tag(c.id), variant, rows: [c.row] })),
    ...bundle.velocityBatches.map((b) => ({ id: tag(b.id), variant, rows: b.rows })),
  ];
}

interface Judgement {
  expected: Float32Array;
  /** Comparison options under the bundle's policy for the variant (for compareTensors / toMatchGolden). */
  options: CompareOptions;
  threshold: Record<string, Metric>;
}

/** The golden rows and the tolerance a variant is judged by on them (float policy, or the quantized profile). */
function judgement(bundle: Bundle, g: VelocityGoldens, variant: string, rows: number[]): Judgement {
  const spec = bundle.variant(variant);
  const expected = gather(g.expected.get(variant)!, rows, g.perImage);
  const floors = rows.map((r) => g.floor.get(variant)![r]!);
  const labels = rows.map((r) => `${bundle.breedName(Number(g.breed[r]!))}@t=${g.t[r]}`);
  const shape = [rows.length, bundle.channels, bundle.imageSize, bundle.imageSize];
  if (spec.quantized) {
    const q = bundle.tolerance.quantized;
    if (!q) throw new Error(`${bundle.dir}/manifest.json: variant '${variant}' is quantized but tolerance.quantized is missing`);
    return {
      expected,
      options: { shape, axes: AXES, labels, relL2Max: q.velocityRelL2Max, floor: floors },
      threshold: { velocityRelL2Max: q.velocityRelL2Max, margin: q.margin, measuredRelL2Max: q.measured?.['velocityRelL2Max'] ?? null },
    };
  }
  const policy = bundle.tolerance.velocity;
  const atol = floors.map((f) => toleranceBand(policy, f));
  return {
    expected,
    options: { shape, axes: AXES, labels, atol, floor: floors },
    threshold: { floorMultiple: policy.floorMultiple, absMin: policy.absMin, atolMin: Math.min(...atol), atolMax: Math.max(...atol) },
  };
}

function judge(bundle: Bundle, g: VelocityGoldens, variant: string, rows: number[], actual: Float32Array): ComparisonStats {
  const j = judgement(bundle, g, variant, rows);
  return compareTensors(actual, j.expected, j.options);
}

async function runRows(r: VelocityRunner, g: VelocityGoldens, rows: number[]): Promise<Float32Array> {
  return r.run(
    gather(g.x, rows, g.perImage),
    Float32Array.from(rows, (i) => g.t[i]!),
    gather(g.breed, rows, 1),
    rows.length,
  );
}

if ('error' in loaded) {
  it('velocity: bundle loads', () => {
    recordCheck({
      id: 'velocity:bundle',
      check: 'velocity',
      runtime: RUNTIME,
      status: 'error',
      metrics: {},
      message: loaded.error.message,
    });
    throw loaded.error;
  });
} else {
  const bundle = loaded.bundle;
  const goldens = loadGoldens(bundle);

  describe.each(bundle.variantNames)('velocity of variant %s', (variant) => {
    let runner: VelocityRunner | undefined;
    let openError: Error | undefined;
    beforeAll(async () => {
      try {
        runner = await openVariant(bundle, variant);
      } catch (e) {
        openError = e as Error;
      }
    });
    afterAll(async () => {
      await runner?.release();
    });

    for (const c of casesOf(bundle, variant))
      it(c.id, async () => {
        let actual: Float32Array;
        try {
          if (!runner) throw openError ?? new Error(`variant '${variant}' was not opened`);
          actual = await runRows(runner, goldens, c.rows);
        } catch (e) {
          recordCheck({ id: c.id, check: 'velocity', runtime: RUNTIME, status: 'error', metrics: {}, message: (e as Error).message });
          throw e;
        }
        const { expected, options, threshold } = judgement(bundle, goldens, variant, c.rows);
        const floors = c.rows.map((r) => goldens.floor.get(variant)![r]!);
        const { atol, ...rest } = options;
        expect(actual).toMatchGolden(expected, {
          ...rest,
          ...(atol !== undefined ? { tolerance: atol } : {}),
          caseId: c.id,
          context: { variant, model: bundle.variantPath(variant), batch: c.rows.length },
          onStats: (stats) =>
            recordCheck({
              id: c.id,
              check: 'velocity',
              runtime: RUNTIME,
              status: stats.pass ? 'pass' : 'fail',
              metrics: { ...comparisonMetrics(stats), batch: c.rows.length, floorMax: Math.max(...floors) },
              threshold,
              message: stats.pass
                ? `max|diff| ${stats.abs.max.toExponential(3)}, rel L2 ${stats.relL2.toExponential(3)}`
                : formatComparison(stats, c.id),
            }),
        });
      });
  });

  // Proof that the check fails: a model whose output is off by more than any case's tolerance must be
  // rejected, with the place it is off named. Float: 10x the largest tolerance added to one output bias
  // (a slightly different weight set, e.g. raw instead of EMA weights); quantized: a zeroed output layer.
  describe('the velocity check rejects a broken model', () => {
    const guidedName = bundle.variantNames.find((v) => !bundle.variant(v).quantized);
    const quantName = bundle.variantNames.find((v) => bundle.variant(v).quantized);
    const batch = bundle.velocityBatches[bundle.velocityBatches.length - 1];

    it('velocity:mutant=output-bias-shifted', async () => {
      if (!guidedName || !batch) throw new Error(`${bundle.dir}: needs a float variant and a batch group to build the mutant`);
      const policy = bundle.tolerance.velocity;
      const floor = goldens.floor.get(guidedName)!;
      const largest = Math.max(...Array.from(floor, (f) => toleranceBand(policy, f)));
      const shift = 10 * largest;
      const bytes = withInitializers(readFileSync(bundle.variantPath(guidedName)), {
        'final_layer.linear.bias': (d) => {
          d[0]! += shift;
        },
      });
      const r = await openModelBytes(bytes, bundle.manifest, {
        label: 'mutant',
        source: `${guidedName} with final_layer.linear.bias[0] += ${shift}`,
        guidance: bundle.variant(guidedName).guidance,
      });
      const actual = await runRows(r, goldens, batch.rows);
      await r.release();
      const stats = judge(bundle, goldens, guidedName, batch.rows, actual);
      recordCheck({
        id: caseId('velocity', { mutant: 'output-bias-shifted', variant: guidedName }),
        check: 'velocity-mutant',
        runtime: RUNTIME,
        status: stats.pass ? 'fail' : 'pass',
        metrics: { ...comparisonMetrics(stats), shift },
        threshold: judgement(bundle, goldens, guidedName, batch.rows).threshold,
        message: stats.pass
          ? 'the velocity check PASSED a model with a shifted output bias'
          : `rejected as expected:\n${formatComparison(stats, 'mutant')}`,
      });
      expect(stats).not.toPassComparison('velocity:mutant=output-bias-shifted');
      // the matcher's failure message names how far off and where: breed, t, channel and pixel
      const j = judgement(bundle, goldens, guidedName, batch.rows);
      expect(() => expect(actual).toMatchGolden(j.expected, { ...j.options, tolerance: j.options.atol!, caseId: 'mutant' })).toThrow(
        /worst at breed=[^@\n]+@t=[\d.]+ channel=0 y=\d+ x=\d+[\s\S]*min passing atol/,
      );
      // every row is off by the shift at the pixels bias[0] feeds (channel 0, pixel (0,0) of each patch); an
      // x-prediction head (manifest identity.config.prediction 'x') predicts the image, and the graph divides by
      // max(1 - t, 0.05) on the way to the velocity, so there the largest offset is at the largest t
      expect(stats.perCase.every((pc) => !pc.pass)).toBe(true);
      expect(stats.worst.named['channel']).toBe(0);
      const gain = Math.max(...batch.rows.map((i) => outputGain(bundle.manifest.identity.config, goldens.t[i]!)));
      expect(Math.abs(stats.abs.max - shift * gain)).toBeLessThan(0.1 * shift * gain);
    });

    it('velocity:mutant=quantized-output-layer-zeroed', async () => {
      if (!quantName || !batch)
        throw new Error(`${bundle.dir}: no quantized variant in the manifest; the quantized profile cannot be proven`);
      const bytes = zeroOutputLayer(readFileSync(bundle.variantPath(quantName)), quantName);
      const r = await openModelBytes(bytes, bundle.manifest, {
        label: 'mutant',
        source: `${quantName} with a zeroed output layer`,
        guidance: bundle.variant(quantName).guidance,
      });
      const actual = await runRows(r, goldens, batch.rows);
      const stats = judge(bundle, goldens, quantName, batch.rows, actual);
      await r.release();
      recordCheck({
        id: caseId('velocity', { mutant: 'output-layer-zeroed', variant: quantName }),
        check: 'velocity-mutant',
        runtime: RUNTIME,
        status: stats.pass ? 'fail' : 'pass',
        metrics: comparisonMetrics(stats),
        threshold: judgement(bundle, goldens, quantName, batch.rows).threshold,
        message: stats.pass ? 'the quantized profile PASSED a zero-velocity model' : `rejected as expected: rel L2 ${stats.relL2}`,
      });
      expect(stats).not.toPassComparison('velocity:mutant=quantized-output-layer-zeroed');
      if (bundle.manifest.identity.config.prediction === 'x') {
        // an x-prediction head predicts x_hat = 0, and the graph turns that into v = -x_t / max(1 - t, eps)
        const x = gather(goldens.x, batch.rows, goldens.perImage);
        let worst = 0;
        batch.rows.forEach((row, k) => {
          const gain = outputGain(bundle.manifest.identity.config, goldens.t[row]!);
          for (let i = k * goldens.perImage; i < (k + 1) * goldens.perImage; i++)
            worst = Math.max(worst, Math.abs(actual[i]! + x[i]! * gain));
        });
        expect(worst).toBeLessThan(1e-3);
      } else expect(stats.relL2).toBeCloseTo(1, 6);
    });
  });
}
