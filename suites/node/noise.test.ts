/**
 * Seeded noise: the TypeScript generator (harness/core/noise.ts, the web app's mulberry32 + Box-Muller) must
 * reproduce every golden noise file of the bundle bit for bit, or within 1 float32 ulp (Math.log/cos/sin
 * may round differently across engines). Any element beyond that fails; the count of differing elements
 * is recorded either way.
 */
import { caseId } from '../../harness/core/case-id.js';
import { describe, expect, it } from 'vitest';
import { loadBundle, type Bundle, type NoiseCase } from '../../harness/model/bundle.js';
import { compareUlp, type UlpStats } from '../../harness/core/compare.js';
import { bundleDir } from '../../harness/core/config.js';
import { seededNoise } from '../../harness/core/noise.js';
import { recordCheck } from '../../harness/core/record-check.js';

const RUNTIME = 'node';
/** Largest float32 distance allowed: libm differences in log/cos/sin round the last bit at most. */
const MAX_NOISE_ULP = 1;

const loaded = await loadBundle(bundleDir(), { require: 'full' }).then(
  (b) => ({ bundle: b }),
  (e: Error) => ({ error: e }),
);

function noiseId(c: NoiseCase): string {
  return caseId('noise', { seed: c.seed, shape: c.shape.join('x') });
}

function ulpMessage(s: UlpStats, what: string): string {
  return (
    `${what}: ${s.differing} of ${s.count} elements differ from the golden, ${s.beyond} by more than ${s.allowedUlp} ulp ` +
    `(max ${s.maxUlp} ulp${s.firstBeyond >= 0 ? `, first at flat index ${s.firstBeyond}` : ''})`
  );
}

function judge(bundle: Bundle, c: NoiseCase, generate: (seed: number, n: number) => Float32Array): UlpStats {
  const golden = bundle.readGolden(c.file);
  if (golden.dtype !== 'float32') throw new Error(`goldens/${c.file}: ${golden.dtype}, expected float32`);
  const n = c.shape.reduce((a, b) => a * b, 1);
  return compareUlp(generate(c.seed, n), golden.data as Float32Array, MAX_NOISE_ULP);
}

if ('error' in loaded) {
  it('noise: bundle loads', () => {
    recordCheck({ id: 'noise:bundle', check: 'noise', runtime: RUNTIME, status: 'error', metrics: {}, message: loaded.error.message });
    throw loaded.error;
  });
} else {
  const bundle = loaded.bundle;
  const cases = bundle.noiseCases.map((c) => ({ ...c, id: noiseId(c) }));

  describe('seeded noise equals the golden noise files', () => {
    it('the bundle has noise cases', () => {
      expect(cases.length, `goldens/index.json of ${bundle.dir} lists no noise files; regenerate with make_bundle.py`).toBeGreaterThan(0);
    });

    for (const c of cases)
      it(c.id, () => {
        const s = judge(bundle, c, seededNoise);
        const message = ulpMessage(s, `seededNoise(${c.seed}) vs goldens/${c.file}`);
        recordCheck({
          id: c.id,
          check: 'noise',
          runtime: RUNTIME,
          status: s.pass ? 'pass' : 'fail',
          metrics: { count: s.count, differing: s.differing, beyond: s.beyond, maxUlp: s.maxUlp, bitExact: s.differing === 0 },
          threshold: { MAX_NOISE_ULP },
          message,
        });
        expect({ pass: s.pass, message }).toPassCheck(c.id);
      });
  });

  describe('the noise check rejects a wrong generator', () => {
    const first = cases[0];
    // Two faults a port of the generator makes: an off-by-one seed, and cos/sin swapped within a pair.
    const mutants: { name: string; generate: (seed: number, n: number) => Float32Array }[] = [
      { name: 'seed-off-by-one', generate: (seed, n) => seededNoise((seed + 1) >>> 0, n) },
      {
        name: 'cos-sin-swapped',
        generate: (seed, n) => {
          const x = seededNoise(seed, n);
          for (let i = 0; i + 1 < n; i += 2) [x[i], x[i + 1]] = [x[i + 1]!, x[i]!];
          return x;
        },
      },
    ];
    it.each(mutants)('noise:mutant=$name', (m) => {
      if (!first) throw new Error('no noise case to mutate');
      const s = judge(bundle, first, m.generate);
      const message = ulpMessage(s, `${m.name} generator vs goldens/${first.file}`);
      recordCheck({
        id: caseId('noise', { mutant: m.name, seed: first.seed }),
        check: 'noise-mutant',
        runtime: RUNTIME,
        status: s.pass ? 'fail' : 'pass',
        metrics: { beyond: s.beyond, maxUlp: s.maxUlp },
        threshold: { MAX_NOISE_ULP },
        message: s.pass ? `the noise check PASSED a ${m.name} generator: it cannot detect that fault` : `rejected as expected: ${message}`,
      });
      expect({ pass: s.pass, message }).not.toPassCheck(caseId('noise', { mutant: m.name }));
      expect(s.beyond).toBeGreaterThan(s.count / 2);
    });

    // The ulp rule itself: every 7th element moved by 1 ulp is tolerated (and counted); by 2 ulp it fails.
    it.each([
      { ulps: 1, pass: true },
      { ulps: 2, pass: false },
    ])('noise:mutant=last-bits-$ulps-ulp', ({ ulps, pass }) => {
      if (!first) throw new Error('no noise case to mutate');
      const bits = new Int32Array(1);
      const f = new Float32Array(bits.buffer);
      const s = judge(bundle, first, (seed, n) => {
        const x = seededNoise(seed, n);
        for (let i = 0; i < n; i += 7) {
          f[0] = x[i]!;
          bits[0]! += x[i]! >= 0 ? ulps : -ulps;
          x[i] = f[0]!;
        }
        return x;
      });
      expect(s.differing).toBe(Math.ceil(s.count / 7));
      expect(s.maxUlp).toBe(ulps);
      expect(s.pass).toBe(pass);
    });
  });
}
