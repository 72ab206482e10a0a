/**
 * Image checks on the bundle under test (no model run: the PyTorch goldens are judged, and broken versions of
 * them prove that each check rejects the fault it targets).
 * - image: each golden trajectory's final state, converted to pixels, is identical to its golden PNG;
 * - stats: hard validity gates (finite, not constant, no frame, saturation, clipping, pixel noise) and the
 *   distribution of features against the per-breed reference statistics (z-scores);
 * - fidelity: a classifier fitted on the reference images recognises the breed of held-out images;
 * - diversity: different seeds of one breed give different images.
 * Every limit comes from the bundle's reference set (goldens/stats/images.npy) at run time, or from a named
 * constant below that says where its number came from.
 */
import { caseId } from '../../harness/core/case-id.js';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { bundleDir, reportDir } from '../../harness/core/config.js';
import {
  classify,
  combineEvaluations,
  deriveDiversityLimits,
  deriveFidelityLimits,
  diversity,
  evaluateFidelity,
  fidelityFeatures,
  fitBreedClassifier,
  leaveOneOut,
  MIN_REFERENCE_ACCURACY,
  pixelDistance,
  referenceFeatures,
  relabelPredictions,
  type FidelityPrediction,
  type BreedClassifier,
  type DiversityLimit,
  type FidelityEvaluation,
  type FidelityLimits,
  type LabelledImage,
} from '../../harness/checks/fidelity.js';
import { tensorToRGBA } from '../../harness/core/image.js';
import type { CheckOutcome } from '../../harness/core/matchers.js';
import { parseNpy } from '../../harness/core/npy.js';
import {
  compareImages,
  composeGrid,
  decodePNG,
  encodePNG,
  readPNG,
  saveComparison,
  saveEvidence,
  type RgbaImage,
} from '../../harness/core/png.js';
import { recordCheck, type Metric } from '../../harness/core/record-check.js';
import { seededNoise } from '../../harness/core/noise.js';
import { loadBundle } from '../../harness/model/bundle.js';
import {
  colourHistogram,
  deriveDistributionLimits,
  deriveValidityLimits,
  distributionCheck,
  frameScore,
  HELD_OUT_FOLDS,
  heldOutReferenceImages,
  imageFeatures,
  imageToTensor,
  overallStd,
  referenceSetFromNpy,
  referenceStatistics,
  rgbaImage,
  toRGBA,
  validityGates,
  type DistributionImage,
  type DistributionLimits,
  type GateName,
  type PixelImage,
  type ReferenceSet,
  type ReferenceStatistics,
  type ValidityLimits,
  type ValidityResult,
} from '../../harness/checks/stats.js';

// ---------------------------------------------------------------------------------------------------------
// Named constants (the only limits not derived from the bundle at run time)

/**
 * Smallest per-breed mean pairwise distance (8-bit levels) among the procedural training images of one breed
 * (make_dataset(32, seed=5): Sphynx 37.7, the least varied breed). A reference model whose images of a breed
 * vary less than DIVERSITY_ANCHOR_FRACTION of this has (partly) collapsed: its own diversity limits are void.
 */
const TRAINING_SET_MIN_MEAN_PAIRWISE = 37.7;
/** A quarter of the training set's variety: the reference model may be less varied than its data, not 4x less. */
const DIVERSITY_ANCHOR_FRACTION = 0.25;

const RUNTIME = 'node';
/** Seeds per breed shown in the reference grid of the report. */
const REFERENCE_GRID_SEEDS = 8;

// ---------------------------------------------------------------------------------------------------------
// Bundle loading (fail closed: a missing file names itself and the fix)

const BUNDLE = bundleDir();

function bundleFile(rel: string): string {
  const p = join(BUNDLE, rel);
  if (!existsSync(p)) {
    throw new Error(
      `${p}: missing from the bundle ${BUNDLE}; rebuild it with reference/python/make_bundle.py ` +
        '(or point TINYDIT_BUNDLE at a complete bundle)',
    );
  }
  return p;
}

function readFloat32(rel: string, shape: number[]): Float32Array {
  const p = bundleFile(rel);
  const arr = parseNpy(readFileSync(p), p);
  if (arr.dtype !== 'float32' || arr.shape.join(',') !== shape.join(',')) {
    throw new Error(`${p}: expected float32 [${shape.join(',')}], got ${arr.dtype} [${arr.shape.join(',')}]; rebuild the bundle`);
  }
  return arr.data as Float32Array;
}

/** One golden image: its trajectory's first and final states and its golden PNG. */
interface GoldenImage {
  breed: number;
  name: string;
  seed: number;
  /** x_0 (the seeded initial noise), x_{N-1} and x_N, each [3,S,S]. */
  initial: Float32Array;
  beforeLast: Float32Array;
  final: Float32Array;
  pngPath: string;
}

interface Context {
  size: number;
  breeds: string[];
  goldens: GoldenImage[];
  ref: ReferenceSet;
  validity: ValidityLimits;
  refStats: ReferenceStatistics;
  distribution: DistributionLimits;
  classifier: BreedClassifier;
  loo: FidelityEvaluation & { ranks: number[] };
  fidelity: FidelityLimits;
  diversity: DiversityLimit[];
}

/** Everything the image families judge by, read through the one strict bundle reader (harness/model/bundle.ts). */
async function loadContext(): Promise<Context> {
  const bundle = await loadBundle(BUNDLE);
  const manifest = bundle.manifest;
  const index = bundle.requireFull('the image, statistics and fidelity checks');
  const indexPath = join(BUNDLE, 'goldens/index.json');
  if (!index.trajectories.cases.length) throw new Error(`${indexPath}: no trajectories.cases; rebuild the bundle's goldens`);
  const size = manifest.contract.imageSize;
  const breeds = manifest.breeds;
  const steps = index.trajectories.steps;
  const per = 3 * size * size;
  const goldens = index.trajectories.cases.map((c) => {
    const traj = readFloat32(join('goldens', c.file), [steps + 1, 3, size, size]);
    return {
      breed: c.breed,
      name: breeds[c.breed] ?? String(c.breed),
      seed: c.seed,
      initial: traj.slice(0, per),
      beforeLast: traj.slice((steps - 1) * per, steps * per),
      final: traj.slice(steps * per),
      pngPath: bundleFile(join('goldens', c.image)),
    };
  });
  const statsPath = bundleFile(join('goldens', index.stats.images));
  const ref = referenceSetFromNpy(parseNpy(readFileSync(statsPath), statsPath), breeds, index.stats.seeds, statsPath);
  const refStats = referenceStatistics(ref);
  const feats = referenceFeatures(ref);
  const loo = leaveOneOut(feats, breeds, ref.seeds);
  return {
    size,
    breeds,
    goldens,
    ref,
    validity: deriveValidityLimits(ref),
    refStats,
    distribution: deriveDistributionLimits(refStats, ref),
    classifier: fitBreedClassifier(feats, breeds),
    loo,
    fidelity: deriveFidelityLimits(loo),
    diversity: deriveDiversityLimits(ref),
  };
}

// ---------------------------------------------------------------------------------------------------------
// Broken inputs, each the kind of fault one check targets (applied to a state [3,S,S] before pixel conversion)

type StateEdit = (x: Float32Array, size: number) => Float32Array;
const halveRange: StateEdit = (x) => x.map((v) => v * 0.5);
const shiftRange: StateEdit = (x) => x.map((v) => v + 0.5);
const swapRB: StateEdit = (x, size) => {
  const n = size * size;
  const out = Float32Array.from(x);
  out.set(x.subarray(2 * n, 3 * n), 0);
  out.set(x.subarray(0, n), 2 * n);
  return out;
};
const blackFrame: StateEdit = (x, size) => {
  const out = Float32Array.from(x);
  for (let c = 0; c < 3; c++) {
    for (let k = 0; k < size; k++) {
      out[c * size * size + k] = -1; // top row
      out[c * size * size + (size - 1) * size + k] = -1; // bottom row
      out[c * size * size + k * size] = -1; // left column
      out[c * size * size + k * size + size - 1] = -1; // right column
    }
  }
  return out;
};

function toRgba(x: Float32Array, size: number): RgbaImage {
  return { width: size, height: size, data: tensorToRGBA(x, size) };
}
function pixels(x: Float32Array, size: number): PixelImage {
  return rgbaImage(tensorToRGBA(x, size), size, size);
}

// ---------------------------------------------------------------------------------------------------------
// Recording

function caseLabel(g: GoldenImage): string {
  return `breed=${g.name},seed=${g.seed}`;
}

function gateMetrics(r: ValidityResult): Record<string, Metric> {
  const m: Record<string, Metric> = {};
  for (const g of r.gates) m[g.gate] = g.value;
  return m;
}
function gateThresholds(limits: ValidityLimits): Record<string, Metric> {
  const t: Record<string, Metric> = {};
  for (const l of limits.limits) t[`${l.gate}.${l.kind}`] = l.limit;
  return t;
}

/**
 * A proof case passes when the check accepts the good input (baseline) and rejects the broken one for the
 * targeted cause. A failing baseline voids the proof: rejecting everything proves nothing.
 */
function recordProof(
  id: string,
  check: string,
  baseline: CheckOutcome,
  rejected: boolean,
  cause: string,
  message: string,
  metrics: Record<string, Metric>,
  threshold?: Record<string, Metric>,
  artifacts?: string[],
): CheckOutcome {
  const pass = baseline.pass && rejected;
  const outcome = {
    pass,
    message: !baseline.pass
      ? `void: the check already fails on the good input (${baseline.message.slice(0, 300)}), so rejecting ${cause} proves nothing`
      : rejected
        ? `rejected as expected: ${message}`
        : `NOT rejected: the check accepted an input broken by ${cause}: ${message}`,
  };
  recordCheck({
    id,
    check,
    runtime: RUNTIME,
    status: pass ? 'pass' : 'fail',
    metrics: { ...metrics, proof: cause, baselinePass: baseline.pass, rejected },
    threshold,
    message: outcome.message,
    artifacts,
  });
  return outcome;
}

function writeReportJson(name: string, value: unknown): string {
  const p = join(reportDir(), 'images', name);
  mkdirSync(join(reportDir(), 'images'), { recursive: true });
  writeFileSync(p, JSON.stringify(value, null, 1));
  return relative(reportDir(), p);
}

// ---------------------------------------------------------------------------------------------------------

let ctx: Context;
let loadError: Error | null = null;

beforeAll(async () => {
  try {
    ctx = await loadContext();
  } catch (e) {
    loadError = e as Error;
    recordCheck({
      id: caseId('image', { bundle: BUNDLE }),
      check: 'image',
      runtime: RUNTIME,
      status: 'error',
      metrics: {},
      message: loadError.message,
    });
  }
});

function context(): Context {
  if (loadError) throw loadError;
  return ctx;
}

describe('image: golden trajectories end in their golden PNGs', () => {
  it('every final state converts to a pixel-identical golden PNG', () => {
    const c = context();
    const failures: string[] = [];
    for (const g of c.goldens) {
      const id = `image:${caseLabel(g)},steps=final`;
      const generated = toRgba(g.final, c.size);
      const golden = readPNG(g.pngPath);
      const cmp = compareImages(generated, golden);
      const artifacts = saveComparison(id, generated, golden, cmp.diff);
      const message = cmp.identical
        ? 'pixel-identical'
        : `${cmp.exactDiffPixels} pixels differ (pixelmatch ${cmp.diffPixels}), max channel diff ${cmp.maxChannelDiff} at ` +
          `(${cmp.worst?.x},${cmp.worst?.y}) channel ${cmp.worst?.channel}: generated ${cmp.worst?.generated}, golden ${cmp.worst?.golden} ` +
          `(${g.pngPath}); the pixel conversion or the trajectory file disagrees with the producer`;
      recordCheck({
        id,
        check: 'image',
        runtime: RUNTIME,
        status: cmp.identical ? 'pass' : 'fail',
        metrics: {
          diffPixels: cmp.diffPixels,
          exactDiffPixels: cmp.exactDiffPixels,
          maxChannelDiff: cmp.maxChannelDiff,
          meanAbsDiff: cmp.meanAbsDiff,
        },
        threshold: { diffPixels: 0, exactDiffPixels: 0 },
        message,
        artifacts,
      });
      if (!cmp.identical) failures.push(`${id}: ${message}`);
    }
    const grid = composeGrid(
      c.goldens.map((g) => readPNG(g.pngPath)),
      Math.ceil(c.goldens.length / c.breeds.length),
      c.breeds.length,
      { scale: 3, gap: 2 },
    );
    saveEvidence('image:goldens', 'grid', grid, 1);
    expect({ pass: failures.length === 0, message: failures.join('\n') }).toPassCheck('image:goldens');
  });

  it('proof: a state one Euler step short, or truncating instead of rounding, is not pixel-identical', () => {
    const c = context();
    const g = c.goldens[0]!;
    const golden = readPNG(g.pngPath);
    const good = compareImages(toRgba(g.final, c.size), golden);
    const baseline = { pass: good.identical, message: `the good final state differs from its golden in ${good.exactDiffPixels} pixels` };
    const short = compareImages(toRgba(g.beforeLast, c.size), golden);
    const truncated = toRgba(g.final, c.size);
    for (let i = 0; i < truncated.data.length; i += 4) {
      for (let ch = 0; ch < 3; ch++)
        truncated.data[i + ch] = Math.max(0, Math.min(255, Math.floor(((g.final[ch * c.size * c.size + i / 4]! + 1) / 2) * 255)));
    }
    const trunc = compareImages(truncated, golden);
    const o1 = recordProof(
      `image:${caseLabel(g)},proof=one-step-short`,
      'image',
      baseline,
      !short.identical,
      'a sampler one step short (x_{N-1})',
      `${short.exactDiffPixels} pixels differ, max ${short.maxChannelDiff}`,
      { exactDiffPixels: short.exactDiffPixels, maxChannelDiff: short.maxChannelDiff },
      { exactDiffPixels: 0 },
      saveComparison(`image:${caseLabel(g)},proof=one-step-short`, toRgba(g.beforeLast, c.size), golden, short.diff),
    );
    const o2 = recordProof(
      `image:${caseLabel(g)},proof=truncating-conversion`,
      'image',
      baseline,
      !trunc.identical,
      'floor() instead of round() in the pixel conversion',
      `${trunc.exactDiffPixels} pixels differ, max ${trunc.maxChannelDiff}`,
      { exactDiffPixels: trunc.exactDiffPixels, maxChannelDiff: trunc.maxChannelDiff },
      { exactDiffPixels: 0 },
      saveComparison(`image:${caseLabel(g)},proof=truncating-conversion`, truncated, golden, trunc.diff),
    );
    expect(o1).toPassCheck(`image:${caseLabel(g)},proof=one-step-short`);
    expect(o2).toPassCheck(`image:${caseLabel(g)},proof=truncating-conversion`);
  });
});

describe('stats: validity gates', () => {
  it('limits derive from the reference set: every reference extreme is on the good side of its anchor', () => {
    const c = context();
    const bad = c.validity.limits.filter((l) => !l.derived);
    for (const l of c.validity.limits) {
      recordCheck({
        id: caseId('stats', { limit: l.gate }),
        check: 'stats',
        runtime: RUNTIME,
        status: l.derived ? 'pass' : 'fail',
        metrics: {
          referenceExtreme: l.referenceExtreme,
          anchor: l.anchor,
          limit: l.limit,
          references: c.validity.referenceCount,
          noiseImages: c.validity.noiseCount,
        },
        threshold: { [`${l.gate}.${l.kind}`]: l.limit },
        message: l.derivation,
      });
    }
    expect({ pass: bad.length === 0, message: bad.map((l) => `${l.gate}: ${l.derivation}`).join('\n') }).toPassCheck('stats:limits');
  });

  it('every golden image passes every gate', () => {
    const c = context();
    const failures: string[] = [];
    for (const g of c.goldens) {
      const id = `stats:gates,${caseLabel(g)}`;
      const r = validityGates(pixels(g.final, c.size), c.validity, g.final);
      recordCheck({
        id,
        check: 'stats',
        runtime: RUNTIME,
        status: r.pass ? 'pass' : 'fail',
        metrics: gateMetrics(r),
        threshold: gateThresholds(c.validity),
        message: r.pass ? 'all gates pass' : r.failures.join('; '),
      });
      if (!r.pass) failures.push(`${id}: ${r.failures.join('; ')}`);
    }
    expect({ pass: failures.length === 0, message: failures.join('\n') }).toPassCheck('stats:gates,set=goldens');
  });

  const proofs: Array<{ name: string; gates: GateName[]; cause: string; make: (g: GoldenImage, size: number) => Float32Array }> = [
    // the anchor of the noise gates: each of the three must reject it on its own
    {
      name: 'pure-noise',
      gates: ['highFrequency', 'saturation', 'clipping'],
      cause: 'a zero-velocity model (x0 = x1 training bug): the sampler returns its input noise',
      make: (g) => g.initial,
    },
    { name: 'all-black', gates: ['notConstant'], cause: 'an all-black output', make: (g) => new Float32Array(g.final.length).fill(-1) },
    {
      name: 'constant-grey',
      gates: ['notConstant'],
      cause: 'a constant output (velocity exactly cancels)',
      make: (g) => new Float32Array(g.final.length).fill(0),
    },
    { name: 'black-frame', gates: ['noFrame'], cause: 'a black frame (padding / unpatchify bug)', make: (g, s) => blackFrame(g.final, s) },
    {
      name: 'range-x10',
      gates: ['clipping'],
      cause: 'values ten times too large (a diverging sampler)',
      make: (g) => g.final.map((v) => v * 10),
    },
    {
      name: 'nan',
      gates: ['finite'],
      cause: 'a NaN in the state',
      make: (g) => {
        const x = Float32Array.from(g.final);
        x[17] = NaN;
        return x;
      },
    },
  ];
  for (const p of proofs) {
    it(`proof: ${p.name} fails the ${p.gates.join(', ')} gate${p.gates.length > 1 ? 's' : ''} on every golden image`, () => {
      const c = context();
      const id = caseId('stats', { gate: p.gates.join('+'), set: 'goldens', proof: p.name });
      const goodFailures = c.goldens.flatMap((g) =>
        validityGates(pixels(g.final, c.size), c.validity, g.final).failures.map((f) => `${caseLabel(g)}: ${f}`),
      );
      const missed: string[] = [];
      const worst: Record<string, number> = {};
      for (const g of c.goldens) {
        const x = p.make(g, c.size);
        const r = validityGates(pixels(x, c.size), c.validity, x);
        for (const gate of p.gates) {
          const hit = r.gates.find((gr) => gr.gate === gate);
          if (!hit || hit.pass)
            missed.push(`${caseLabel(g)}: ${gate} ${hit ? `${hit.value.toFixed(4)} vs limit ${hit.limit.toFixed(4)}` : 'not evaluated'}`);
          // the broken value nearest its limit, to show the margin
          if (hit)
            worst[gate] = hit.kind === 'max' ? Math.min(worst[gate] ?? Infinity, hit.value) : Math.max(worst[gate] ?? -Infinity, hit.value);
        }
      }
      const o = recordProof(
        id,
        'stats',
        { pass: goodFailures.length === 0, message: goodFailures.slice(0, 3).join('; ') },
        missed.length === 0,
        p.cause,
        missed.length === 0
          ? `all ${c.goldens.length} broken images rejected by ${p.gates.join(', ')}`
          : `${missed.length} misses: ${missed.slice(0, 4).join('; ')}`,
        {
          images: c.goldens.length,
          misses: missed.length,
          ...Object.fromEntries(Object.entries(worst).map(([k, v]) => [`nearest.${k}`, v])),
        },
        gateThresholds(c.validity),
        [saveEvidence(id, 'example', toRgba(p.make(c.goldens[0]!, c.size), c.size))],
      );
      expect(o).toPassCheck(id);
    });
  }
});

describe('stats: distribution against the per-breed reference', () => {
  function goldenSet(c: Context, edit: StateEdit | null): DistributionImage[] {
    return c.goldens.map((g) => ({
      breed: g.breed,
      seed: g.seed,
      label: caseLabel(g),
      features: imageFeatures(pixels(edit ? edit(g.final, c.size) : g.final, c.size)),
    }));
  }
  function check(c: Context, edit: StateEdit | null): ReturnType<typeof distributionCheck> {
    return distributionCheck(goldenSet(c, edit), c.refStats, c.distribution);
  }
  /**
   * The goldens plus every reference seed held out by fold: a set of many seeds. Images of one seed share
   * their background, so two golden seeds alone leave a set mean too uncertain to show a moderate range fault.
   */
  function wideCheck(c: Context, edit: StateEdit | null): ReturnType<typeof distributionCheck> {
    const heldOut = heldOutReferenceImages(c.ref, edit ? (img) => pixels(edit(imageToTensor(img), c.size), c.size) : undefined);
    return distributionCheck([...goldenSet(c, edit), ...heldOut], c.refStats, c.distribution);
  }

  it("golden images (held-out seeds) are within their breeds' reference distribution", () => {
    const c = context();
    const r = check(c, null);
    for (const im of r.images) {
      recordCheck({
        id: `stats:distribution,${im.label}`,
        check: 'stats',
        runtime: RUNTIME,
        status: im.pass ? 'pass' : 'fail',
        metrics: {
          worstFeature: im.worstFeature,
          worstZ: im.worstZ,
          ...Object.fromEntries(Object.entries(im.z).map(([k, v]) => [`z.${k}`, v])),
        },
        threshold: Object.fromEntries(Object.entries(c.distribution.imageZLimit).map(([k, v]) => [`absZ.${k}`, v])),
        message: c.distribution.derivation,
      });
    }
    const worstShift = r.shifts.reduce((a, s) => (Math.abs(s.meanZ) / s.limit > Math.abs(a.meanZ) / a.limit ? s : a));
    recordCheck({
      id: 'stats:distribution,set=goldens',
      check: 'stats',
      runtime: RUNTIME,
      status: r.pass ? 'pass' : 'fail',
      metrics: {
        images: r.images.length,
        seeds: r.seedGroups,
        worstShiftFeature: worstShift.feature,
        worstShiftMeanZ: worstShift.meanZ,
        ...Object.fromEntries(r.shifts.map((s) => [`meanZ.${s.feature}`, s.meanZ])),
      },
      threshold: Object.fromEntries(r.shifts.map((sh) => [`shift.${sh.feature}`, sh.limit])),
      message: r.pass ? c.distribution.derivation : r.failures.join('; '),
    });
    expect({ pass: r.pass, message: r.failures.join('\n') }).toPassCheck('stats:distribution,set=goldens');
  });

  // the control of the proofs below: held-out reference folds average to z ~ 0 by construction, so this set
  // adds power (34 seeds instead of 2) for broken inputs rather than testing the bundle again
  it('control: golden images with the held-out reference seeds (fold by fold) are within the reference distribution', () => {
    const c = context();
    const r = wideCheck(c, null);
    const worstShift = r.shifts.reduce((a, s) => (Math.abs(s.meanZ) / s.limit > Math.abs(a.meanZ) / a.limit ? s : a));
    const id = 'stats:distribution,set=goldens+held-out-reference';
    recordCheck({
      id,
      check: 'stats',
      runtime: RUNTIME,
      status: r.pass ? 'pass' : 'fail',
      metrics: {
        images: r.images.length,
        seeds: r.seedGroups,
        folds: HELD_OUT_FOLDS,
        imagesOutside: r.images.filter((i) => !i.pass).length,
        worstShiftFeature: worstShift.feature,
        worstShiftMeanZ: worstShift.meanZ,
      },
      threshold: Object.fromEntries(r.shifts.map((sh) => [`shift.${sh.feature}`, sh.limit])),
      message: r.pass ? c.distribution.derivation : r.failures.slice(0, 6).join('; '),
    });
    expect({ pass: r.pass, message: r.failures.slice(0, 10).join('\n') }).toPassCheck(id);
  });

  const proofs: Array<{ name: string; cause: string; edit: StateEdit }> = [
    { name: 'range-halved', cause: 'pixel range halved (x * 0.5 before conversion)', edit: halveRange },
    { name: 'range-shifted', cause: 'pixel range shifted (x + 0.5 before conversion)', edit: shiftRange },
  ];
  for (const p of proofs) {
    it(`proof: ${p.name} fails the distribution check (goldens + held-out reference seeds)`, () => {
      const c = context();
      const id = `stats:distribution,set=goldens+held-out-reference,proof=${p.name}`;
      const good = wideCheck(c, null);
      const r = wideCheck(c, p.edit);
      // the goldens alone (two seeds): recorded to show how much the small set sees
      const small = check(c, p.edit);
      const worst = r.shifts.reduce((a, s) => (Math.abs(s.meanZ) / s.limit > Math.abs(a.meanZ) / a.limit ? s : a));
      const o = recordProof(
        id,
        'stats',
        { pass: good.pass, message: good.failures.slice(0, 4).join('; ') },
        !r.pass,
        p.cause,
        r.failures.slice(0, 4).join('; ') || 'distribution accepted',
        {
          failures: r.failures.length,
          seeds: r.seedGroups,
          worstShiftFeature: worst.feature,
          worstShiftMeanZ: worst.meanZ,
          goldensAloneRejected: !small.pass,
        },
        { [`shift.${worst.feature}`]: worst.limit },
        [saveEvidence(id, 'example', toRgba(p.edit(c.goldens[0]!.final, c.size), c.size))],
      );
      expect(o).toPassCheck(id);
    });
  }

  it('proof: an RGB/BGR channel swap is caught by the distribution or the fidelity check', () => {
    const c = context();
    const id = 'stats:distribution,set=goldens+held-out-reference,proof=channel-swap';
    const goodDist = wideCheck(c, null);
    const goodFid = fidelityVerdict(c, evaluateFidelity(c.classifier, goldenItems(c), c.fidelity.rankLimit));
    const r = wideCheck(c, swapRB);
    const f = evaluateFidelity(c.classifier, goldenItems(c, swapRB), c.fidelity.rankLimit);
    const fid = fidelityVerdict(c, f);
    // a check counts only where it accepts the good images
    const baseline = {
      pass: goodDist.pass || goodFid.pass,
      message: `distribution: ${goodDist.failures.join('; ')}; fidelity: ${goodFid.message}`,
    };
    const caught = (goodDist.pass && !r.pass) || (goodFid.pass && !fid.pass);
    const o = recordProof(
      id,
      'stats',
      baseline,
      caught,
      'red and blue channels swapped (BGR)',
      `distribution: ${r.pass ? 'accepted' : r.failures.slice(0, 3).join('; ')}; fidelity: ${fid.pass ? 'accepted' : fid.message}`,
      { distributionRejected: goodDist.pass && !r.pass, fidelityRejected: goodFid.pass && !fid.pass, fidelityAccuracy: f.accuracy },
      { minAccuracy: c.fidelity.minAccuracy(f.n) },
      [saveEvidence(id, 'example', toRgba(swapRB(c.goldens[0]!.final, c.size), c.size))],
    );
    expect(o).toPassCheck(id);
  });
});

function goldenItems(c: Context, edit?: StateEdit): LabelledImage[] {
  return c.goldens.map((g) => ({ image: pixels(edit ? edit(g.final, c.size) : g.final, c.size), breed: g.breed, label: caseLabel(g) }));
}

/** Accuracy and per-breed verdict of a labelled set; void (failing) when the reference set does not separate breeds. */
function fidelityVerdict(c: Context, e: FidelityEvaluation): CheckOutcome {
  if (!(c.loo.accuracy >= MIN_REFERENCE_ACCURACY)) {
    return {
      pass: false,
      message: `no valid classifier: the reference set's leave-one-out accuracy ${c.loo.accuracy.toFixed(3)} < ${MIN_REFERENCE_ACCURACY.toFixed(3)} (breed-blind reference model)`,
    };
  }
  const minAcc = c.fidelity.minAccuracy(e.n);
  const msgs: string[] = [];
  if (!(e.accuracy >= minAcc)) msgs.push(`accuracy ${e.accuracy.toFixed(3)} < ${minAcc.toFixed(3)} (${c.fidelity.derivation})`);
  for (const b of e.perBreed) {
    if (b.n > 0 && b.topRankCount * 2 < b.n) {
      msgs.push(
        `${b.name}: ${b.topRankCount} of ${b.n} images rank ${b.name} within ${c.fidelity.rankLimit} (mostly classified as ${b.predictedAs})`,
      );
    }
  }
  return { pass: msgs.length === 0, message: msgs.join('; ') };
}

describe('fidelity: the breed asked for is the breed drawn', () => {
  it(`the reference set is breed-distinguishable (leave-one-out accuracy >= ${MIN_REFERENCE_ACCURACY.toFixed(3)})`, () => {
    const c = context();
    const pass = c.loo.accuracy >= MIN_REFERENCE_ACCURACY;
    const confusion = writeReportJson('fidelity-reference-confusion.json', {
      breeds: c.breeds,
      confusion: c.loo.confusion,
      perBreed: c.loo.perBreed,
    });
    // the reference images as the classifier sees them: one row per breed, the first REFERENCE_GRID_SEEDS seeds
    const cols = Math.min(REFERENCE_GRID_SEEDS, c.ref.seeds.length);
    const tiles = c.ref.images.flatMap((row) => row.slice(0, cols).map((im) => ({ width: im.width, height: im.height, data: toRGBA(im) })));
    const grid = saveEvidence('fidelity:set=reference', 'grid', composeGrid(tiles, c.breeds.length, cols, { scale: 3, gap: 2 }), 1);
    recordCheck({
      id: 'fidelity:set=reference,method=leave-one-out',
      check: 'fidelity',
      runtime: RUNTIME,
      status: pass ? 'pass' : 'fail',
      metrics: {
        accuracy: c.loo.accuracy,
        n: c.loo.n,
        rankLimit: c.fidelity.rankLimit,
        ...Object.fromEntries(c.loo.perBreed.map((b) => [`recall.${b.name}`, b.recall])),
      },
      threshold: { minAccuracy: MIN_REFERENCE_ACCURACY },
      message: pass
        ? `leave-one-out accuracy ${c.loo.accuracy.toFixed(3)} over ${c.loo.n} reference images`
        : `leave-one-out accuracy ${c.loo.accuracy.toFixed(3)} < ${MIN_REFERENCE_ACCURACY.toFixed(3)}: the reference model's own samples do not show their breed ` +
          '(a breed-blind generator: labels never reached training, or an undertrained checkpoint); retrain before judging exports',
      artifacts: [confusion, grid],
    });
    expect({
      pass,
      message: `leave-one-out accuracy ${c.loo.accuracy.toFixed(3)} < ${MIN_REFERENCE_ACCURACY.toFixed(3)}; per breed: ${c.loo.perBreed.map((b) => `${b.name} ${b.recall.toFixed(2)}`).join(', ')}`,
    }).toPassCheck('fidelity:set=reference,method=leave-one-out');
  });

  it('golden images (held-out seeds 7, 42) are recognised as their breed', () => {
    const c = context();
    const e = evaluateFidelity(c.classifier, goldenItems(c), c.fidelity.rankLimit);
    const v = fidelityVerdict(c, e);
    for (const b of e.perBreed) {
      const ok = b.topRankCount * 2 >= b.n;
      recordCheck({
        id: caseId('fidelity', { breed: b.name, set: 'goldens' }),
        check: 'fidelity',
        runtime: RUNTIME,
        status: ok ? 'pass' : 'fail',
        metrics: {
          n: b.n,
          correct: b.correct,
          withinRank: b.topRankCount,
          predictedAs: b.predictedAs,
          ranks: e.predictions
            .filter((p) => p.breed === b.breed)
            .map((p) => p.rank)
            .join(' '),
        },
        threshold: { rankLimit: c.fidelity.rankLimit, minWithinRank: Math.ceil(b.n / 2) },
        message: ok ? `${b.correct}/${b.n} classified ${b.name}` : `${b.name} images look like ${b.predictedAs}`,
      });
    }
    const confusion = writeReportJson('fidelity-goldens-confusion.json', {
      breeds: c.breeds,
      confusion: e.confusion,
      predictions: e.predictions,
    });
    recordCheck({
      id: 'fidelity:set=goldens',
      check: 'fidelity',
      runtime: RUNTIME,
      status: v.pass ? 'pass' : 'fail',
      metrics: { accuracy: e.accuracy, n: e.n, referenceAccuracy: c.fidelity.referenceAccuracy },
      threshold: { minAccuracy: c.fidelity.minAccuracy(e.n), rankLimit: c.fidelity.rankLimit },
      message: v.pass ? c.fidelity.derivation : v.message,
      artifacts: [confusion],
    });
    expect(v).toPassCheck('fidelity:set=goldens');
  });

  /**
   * Goldens plus every reference image as classified with itself left out (leave-one-out): 34 images per breed
   * instead of 2, for the proofs. `goldenLabel` / `referenceLabels` say which breed each image was asked for.
   */
  function wideFidelity(c: Context, goldens: FidelityEvaluation, referenceLabels: (p: FidelityPrediction) => number[]): FidelityEvaluation {
    const refPreds = c.loo.predictions.flatMap((p) => referenceLabels(p).map((breed) => ({ ...p, breed })));
    const ref = relabelPredictions(refPreds, (p) => p.breed, c.breeds, c.fidelity.rankLimit);
    return combineEvaluations([goldens, ref], c.breeds, c.fidelity.rankLimit);
  }

  // the control of the proofs below (the leave-one-out part reproduces the reference accuracy by construction)
  it('control: goldens with the leave-one-out reference images are recognised as their breed', () => {
    const c = context();
    const e = wideFidelity(c, evaluateFidelity(c.classifier, goldenItems(c), c.fidelity.rankLimit), (p) => [p.breed]);
    const v = fidelityVerdict(c, e);
    const id = 'fidelity:set=goldens+leave-one-out-reference';
    recordCheck({
      id,
      check: 'fidelity',
      runtime: RUNTIME,
      status: v.pass ? 'pass' : 'fail',
      metrics: { accuracy: e.accuracy, n: e.n },
      threshold: { minAccuracy: c.fidelity.minAccuracy(e.n), rankLimit: c.fidelity.rankLimit },
      message: v.pass ? c.fidelity.derivation : v.message,
    });
    expect(v).toPassCheck(id);
  });

  it('proof: a breed swap (Bombay images labelled Siamese and back) is caught', () => {
    const c = context();
    const [a, b] = [c.breeds.indexOf('Bombay'), c.breeds.indexOf('Siamese')];
    const swap = (k: number): number => (k === a ? b : k === b ? a : k);
    const goldens = evaluateFidelity(c.classifier, goldenItems(c), c.fidelity.rankLimit);
    const good = fidelityVerdict(
      c,
      wideFidelity(c, goldens, (p) => [p.breed]),
    );
    const swappedGoldens = evaluateFidelity(
      c.classifier,
      goldenItems(c).map((it) => ({ ...it, breed: swap(it.breed) })),
      c.fidelity.rankLimit,
    );
    const e = wideFidelity(c, swappedGoldens, (p) => [swap(p.breed)]);
    const v = fidelityVerdict(c, e);
    const named = v.message.includes('Bombay:') || v.message.includes('Siamese:');
    const small = fidelityVerdict(c, swappedGoldens);
    const id = 'fidelity:set=goldens+leave-one-out-reference,proof=breed-swap-Bombay-Siamese';
    const perBreed = (name: string): string => {
      const r = e.perBreed.find((x) => x.name === name)!;
      return `${r.topRankCount}/${r.n}`;
    };
    const o = recordProof(
      id,
      'fidelity',
      good,
      !v.pass && named,
      'breed labels 3 and 10 swapped',
      v.message || 'accepted',
      {
        accuracy: e.accuracy,
        n: e.n,
        bombayWithinRank: perBreed('Bombay'),
        siameseWithinRank: perBreed('Siamese'),
        goldensAloneRejected: !small.pass,
      },
      { minAccuracy: c.fidelity.minAccuracy(e.n), rankLimit: c.fidelity.rankLimit },
    );
    expect(o).toPassCheck(id);
  });

  it('proof: a breed-blind generator (every label drawn as Abyssinian) is caught', () => {
    const c = context();
    const bySeed = new Map(c.goldens.filter((g) => g.breed === 0).map((g) => [g.seed, g]));
    const blindGoldens = evaluateFidelity(
      c.classifier,
      c.goldens.map((g) => ({ image: pixels(bySeed.get(g.seed)!.final, c.size), breed: g.breed, label: caseLabel(g) })),
      c.fidelity.rankLimit,
    );
    const good = fidelityVerdict(
      c,
      wideFidelity(c, evaluateFidelity(c.classifier, goldenItems(c), c.fidelity.rankLimit), (p) => [p.breed]),
    );
    // each Abyssinian reference image stands for every breed asked for at its seed
    const e = wideFidelity(c, blindGoldens, (p) => (p.breed === 0 ? c.breeds.map((_, k) => k) : []));
    const v = fidelityVerdict(c, e);
    const small = fidelityVerdict(c, blindGoldens);
    const id = 'fidelity:set=goldens+leave-one-out-reference,proof=breed-blind';
    const o = recordProof(
      id,
      'fidelity',
      good,
      !v.pass,
      'breed labels ignored (the ORIGIN #3 loader bug)',
      v.message.slice(0, 400) || 'accepted',
      { accuracy: e.accuracy, n: e.n, goldensAloneRejected: !small.pass },
      { minAccuracy: c.fidelity.minAccuracy(e.n) },
    );
    expect(o).toPassCheck(id);
  });
});

describe('diversity: seeds of one breed give different images', () => {
  it('the reference model is not collapsed (per-breed mean pairwise distance vs the training set)', () => {
    const c = context();
    const anchor = DIVERSITY_ANCHOR_FRACTION * TRAINING_SET_MIN_MEAN_PAIRWISE;
    const bad = c.diversity.filter((d) => !(d.referenceMean >= anchor));
    for (const d of c.diversity) {
      recordCheck({
        id: caseId('diversity', { breed: d.name, set: 'reference' }),
        check: 'diversity',
        runtime: RUNTIME,
        status: d.referenceMean >= anchor ? 'pass' : 'fail',
        metrics: { meanPairwise: d.referenceMean, minPairwise: d.referenceMin },
        threshold: { minMeanPairwise: anchor },
        message: `${DIVERSITY_ANCHOR_FRACTION} x the training set's least varied breed (${TRAINING_SET_MIN_MEAN_PAIRWISE} levels)`,
      });
    }
    expect({
      pass: bad.length === 0,
      message: bad
        .map((d) => `${d.name}: reference mean pairwise ${d.referenceMean.toFixed(2)} < ${anchor.toFixed(2)} (collapsed reference model)`)
        .join('; '),
    }).toPassCheck('diversity:set=reference');
  });

  function breedDiversity(
    c: Context,
    images: (g: GoldenImage) => Float32Array,
  ): Array<{ name: string; value: number; limit: number; pass: boolean; seeds: string }> {
    return c.diversity.map((lim) => {
      const mine = c.goldens.filter((g) => g.breed === lim.breed);
      const d = diversity(mine.map((g) => pixels(images(g), c.size)));
      return {
        name: lim.name,
        value: d.meanPairwise,
        limit: lim.limit,
        pass: mine.length >= 2 && d.meanPairwise >= lim.limit,
        seeds: mine.map((g) => g.seed).join('+'),
      };
    });
  }

  it('golden images of each breed differ across seeds', () => {
    const c = context();
    const rows = breedDiversity(c, (g) => g.final);
    for (const r of rows) {
      recordCheck({
        id: caseId('diversity', { breed: r.name, seeds: r.seeds }),
        check: 'diversity',
        runtime: RUNTIME,
        status: r.pass ? 'pass' : 'fail',
        metrics: { meanPairwise: r.value },
        threshold: { minMeanPairwise: r.limit },
        message: c.diversity.find((d) => d.name === r.name)!.derivation,
      });
    }
    const bad = rows.filter((r) => !r.pass);
    expect({
      pass: bad.length === 0,
      message: bad
        .map((r) => `${r.name}: mean pairwise ${r.value.toFixed(2)} < ${r.limit.toFixed(2)} (seeds ${r.seeds} give near-identical images)`)
        .join('; '),
    }).toPassCheck('diversity:set=goldens');
  });

  it('proof: a collapsed generator (the same image for every seed) fails', () => {
    const c = context();
    const firstOfBreed = new Map<number, GoldenImage>();
    for (const g of c.goldens) if (!firstOfBreed.has(g.breed)) firstOfBreed.set(g.breed, g);
    const good = breedDiversity(c, (g) => g.final).filter((r) => !r.pass);
    const rows = breedDiversity(c, (g) => firstOfBreed.get(g.breed)!.final);
    const caught = rows.filter((r) => !r.pass).length;
    const id = 'diversity:set=goldens,proof=collapsed';
    const o = recordProof(
      id,
      'diversity',
      { pass: good.length === 0, message: good.map((r) => r.name).join(', ') + ' already fail' },
      caught === rows.length,
      'a generator that ignores its noise seed',
      `${caught} of ${rows.length} breeds rejected`,
      { breedsRejected: caught, breeds: rows.length },
    );
    expect(o).toPassCheck(id);
  });
});

// ---------------------------------------------------------------------------------------------------------
// The machinery itself, on synthetic images (independent of the bundle)

describe('machinery: png, stats and fidelity on synthetic images', () => {
  const S = 16;
  const solid = (r: number, g: number, b: number): RgbaImage => {
    const data = new Uint8ClampedArray(S * S * 4);
    for (let i = 0; i < S * S; i++) data.set([r, g, b, 255], i * 4);
    return { width: S, height: S, data };
  };
  /** A smooth diagonal gradient: no pixel noise. */
  const gradient = (): RgbaImage => {
    const img = solid(0, 0, 0);
    for (let y = 0; y < S; y++)
      for (let x = 0; x < S; x++) img.data.set([40 + 8 * x, 60 + 6 * y, 100 + (4 * (x + y)) / 2, 255], (y * S + x) * 4);
    return img;
  };
  const px = (img: RgbaImage): PixelImage => rgbaImage(img.data, img.width, img.height);

  it('PNG encode/decode round-trips RGBA bytes exactly', () => {
    const img = gradient();
    img.data[7] = 128; // a non-opaque alpha survives too
    const back = decodePNG(encodePNG(img));
    expect(back.width).toBe(S);
    expect(Array.from(back.data)).toEqual(Array.from(img.data));
  });

  it('a missing PNG fails with the path and the fix', () => {
    expect(() => readPNG('/nonexistent/golden.png')).toThrow(/nonexistent\/golden.png: missing.*make_bundle/);
  });

  it('compareImages counts every differing pixel and locates the largest difference', () => {
    const a = gradient();
    const b = gradient();
    b.data[(3 * S + 5) * 4 + 1] = b.data[(3 * S + 5) * 4 + 1]! + 1;
    expect(compareImages(a, a).identical).toBe(true);
    const cmp = compareImages(b, a);
    expect(cmp.identical).toBe(false);
    expect(cmp.exactDiffPixels).toBe(1);
    expect(cmp.maxChannelDiff).toBe(1);
    expect(cmp.worst).toMatchObject({ x: 5, y: 3, channel: 1 });
  });

  it('composeGrid places tiles row-major with integer upscale and gaps', () => {
    const grid = composeGrid([solid(255, 0, 0), solid(0, 255, 0), solid(0, 0, 255)], 2, 2, {
      scale: 2,
      gap: 1,
      background: [9, 9, 9, 255],
    });
    expect([grid.width, grid.height]).toEqual([2 * 2 * S + 1, 2 * 2 * S + 1]);
    const at = (x: number, y: number): number[] => Array.from(grid.data.subarray((y * grid.width + x) * 4, (y * grid.width + x) * 4 + 4));
    expect(at(0, 0)).toEqual([255, 0, 0, 255]);
    expect(at(2 * S + 1, 0)).toEqual([0, 255, 0, 255]);
    expect(at(0, 2 * S + 1)).toEqual([0, 0, 255, 255]);
    expect(at(2 * S + 1, 2 * S + 1)).toEqual([9, 9, 9, 255]); // missing tile
    expect(at(2 * S, 0)).toEqual([9, 9, 9, 255]); // gap
  });

  it('highFrequency is ~1 for seeded noise and small for a smooth image; constant images score 0 std', () => {
    const noise = imageFeatures(pixels(seededNoise(3, 3 * 32 * 32), 32));
    const smooth = imageFeatures(px(gradient()));
    expect(noise.highFrequency).toBeGreaterThan(0.9);
    expect(smooth.highFrequency).toBeLessThan(0.1);
    expect(overallStd(px(solid(12, 12, 12)))).toBe(0);
  });

  it('frameScore sees a uniformly black or white border line, not a mixed one', () => {
    const img = gradient();
    expect(frameScore(px(img))).toBeLessThan(0.5);
    for (let x = 0; x < S; x++) img.data.set([255, 255, 255, 255], x * 4); // white top row
    expect(frameScore(px(img))).toBe(1);
    for (let x = 0; x < S; x += 2) img.data.set([0, 0, 0, 255], x * 4); // half black, half white
    expect(frameScore(px(img))).toBe(0.5);
  });

  it('saturation and clipping: grey is unsaturated, pure red is saturated and clipped', () => {
    const grey = imageFeatures(px(solid(100, 100, 100)));
    const red = imageFeatures(px(solid(255, 0, 0)));
    expect([grey.saturation, grey.clippedFraction]).toEqual([0, 0]);
    expect([red.saturation, red.clippedFraction]).toEqual([1, 1]);
  });

  it('colour histograms sum to 1 and the fidelity classifier separates distinct colours', () => {
    const h = colourHistogram(px(gradient()), 4);
    expect(h.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    const jitter = (img: RgbaImage, k: number): PixelImage =>
      px({ ...img, data: img.data.map((v, i) => (i % 4 === 3 ? v : Math.max(0, Math.min(255, v + ((i * 7 + k * 13) % 21) - 10)))) });
    const groups = [solid(200, 60, 40), solid(40, 60, 200), solid(30, 30, 30)].map((base) =>
      [0, 1, 2, 3].map((k) => fidelityFeatures(jitter(base, k))),
    );
    const clf = fitBreedClassifier(groups, ['red', 'blue', 'black']);
    expect(leaveOneOut(groups, ['red', 'blue', 'black']).accuracy).toBe(1);
    expect(classify(clf, fidelityFeatures(jitter(solid(190, 70, 50), 9))).predicted).toBe(0);
  });

  it('diversity is 0 for identical images and the mean absolute level difference otherwise', () => {
    const a = px(solid(10, 20, 30));
    const b = px(solid(20, 20, 40));
    expect(diversity([a, a, a]).meanPairwise).toBe(0);
    expect(pixelDistance(a, b)).toBeCloseTo(20 / 3, 12);
  });
});
