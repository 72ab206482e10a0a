/**
 * Measures how large a bundle's float32-vs-float64 noise floors are in float32 ulps of their own case's
 * magnitude: ratio = floor / (2^-23 x max|out|), per velocity case (out = velocity.expected.<variant> row)
 * and per trajectory state (out = the golden state x_s of that trajectory). harness/model/trust.ts bounds this ratio
 * by NOISE_FLOOR_ULPS; this script is how that constant's measured numbers were obtained.
 *
 *   npx tsx scripts/measure-floors.ts [bundle]        (default: TINYDIT_BUNDLE or fixtures/default)
 */
import { loadBundle } from '../harness/model/bundle.js';
import { bundleDir } from '../harness/core/config.js';
import { FLOAT32_ULP, maxAbsPerRow, NOISE_FLOOR_ULPS } from '../harness/model/trust.js';

interface Ratio {
  ratio: number;
  where: string;
  floor: number;
  magnitude: number;
}

function summary(file: string, rs: Ratio[]): void {
  const sorted = [...rs].sort((a, b) => a.ratio - b.ratio);
  const q = (p: number): number => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!.ratio;
  const worst = sorted[sorted.length - 1]!;
  process.stdout.write(
    `${file}: ${rs.length} entries, ratio floor/(2^-23 max|out|): min ${sorted[0]!.ratio.toFixed(2)}, ` +
      `median ${q(0.5).toFixed(2)}, p99 ${q(0.99).toFixed(2)}, max ${worst.ratio.toFixed(2)} at ${worst.where} ` +
      `(floor ${worst.floor.toExponential(3)}, magnitude ${worst.magnitude.toPrecision(4)}); ` +
      `K = ${NOISE_FLOOR_ULPS} is ${(NOISE_FLOOR_ULPS / worst.ratio).toFixed(1)}x the worst\n`,
  );
}

const b = await loadBundle(process.argv[2] ?? bundleDir(), { verifyHashes: false, require: 'full' });
const index = b.requireFull('measure-floors');
const v = index.velocity;
for (const [k, rel] of Object.entries(v.noiseFloor)) {
  const floor = b.readGolden(rel).data as Float64Array;
  const mags = maxAbsPerRow(b.readGolden(v.expected[k]!).data as Float32Array, v.cases.length);
  summary(
    `goldens/${rel}`,
    v.cases.map((c) => ({
      ratio: floor[c.row]! / (FLOAT32_ULP * mags[c.row]!),
      where: c.id,
      floor: floor[c.row]!,
      magnitude: mags[c.row]!,
    })),
  );
}
const t = index.trajectories;
const S = t.steps + 1;
const floor = b.readGolden(t.floor).data as Float64Array;
const rs: Ratio[] = [];
let zero = 0;
for (const c of t.cases) {
  const mags = maxAbsPerRow(b.readGolden(c.file).data as Float32Array, S);
  for (let s = 0; s < S; s++) {
    const f = floor[c.floorRow * S + s]!;
    if (f === 0) zero++;
    rs.push({ ratio: f / (FLOAT32_ULP * mags[s]!), where: `${c.id} step ${s}`, floor: f, magnitude: mags[s]! });
  }
}
summary(`goldens/${t.floor}`, rs);
process.stdout.write(`goldens/${t.floor}: ${zero} states with floor 0 (x_0, the shared noise)\n`);
