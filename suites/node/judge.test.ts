/**
 * judge: the gate measures the model's images against its TRAINING DATA with a judge the gate pins
 * (harness/checks/yardstick.ts, docs/yardstick.md), on images the gate samples itself. The image families before it
 * (stats, fidelity, diversity) compare samples with more samples of the same model, so a checkpoint broken
 * with regenerated goldens agrees with itself; this family's yardstick belongs to the dataset, not the bundle.
 *
 * - judge:check=yardstick: the bundle names its training dataset (manifest training.dataset), the gate has a pinned
 *   yardstick for it, every file matches its sha256, it judges the manifest's breeds at the contract's image size,
 *   and in onnxruntime-node it reproduces its own probe outputs (the TypeScript statistics reproduce Python's);
 * - per breed, on N images sampled from the guided variant (50 steps, seeds 2000000+k; N from the judge's plan for the
 *   image size, harness/checks/yardstick.ts judgePlan: 16 at 32 px, 8 at 128 px):
 *   judge:check=accuracy (top-2), judge:check=kid (against the training reference features), judge:check=validity
 *   (noise, saturation, clipping, contrast against the training quantiles); judge:check=accuracy,breed=all (pooled top-1);
 * - proofs: broken models built in memory from the bundle under test (output layer weakened, pixel range halved,
 *   channels swapped, breed rows rolled) each fail at least one judge check at the plan's proof seeds per breed,
 *   while the good model passes every check on the same seeds (where the plan says so, a proof transforms the good
 *   model's images instead of sampling a broken model); the yardstick loader refuses a tampered file, a bundle
 *   with no dataset and a dataset the gate does not know.
 */
import { caseId } from '../../harness/core/case-id.js';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadBundle, type Bundle } from '../../harness/model/bundle.js';
import { readManifestLenient } from '../../harness/model/bundle-files.js';
import { bundleDir, reportDir } from '../../harness/core/config.js';
import { channelsSwapped, outputAffine } from '../../harness/mutants/edits.js';
import { breedEmbeddingTensor, withInitializers } from '../../harness/model/onnx-edit.js';
import { inspectOnnx } from '../../harness/model/onnx.js';
import {
  captionedRows,
  composeGrid,
  FRAME,
  framed,
  safeName,
  saveEvidence,
  upscale,
  type CaptionedRow,
  type RgbaImage,
} from '../../harness/core/png.js';
import { recordCheck, type Metric } from '../../harness/core/record-check.js';
import { openModelBytes, samplerModel } from '../../harness/runtimes/node.js';
import { timeBounds } from '../../harness/runtimes/time-bounds.js';
import { BREEDS } from '../../harness/runtimes/web/protocol.js';
import { sample } from '../../harness/core/sampler.js';
import { imageFeatures, noiseAnchorFeatures, rgbImage, tensorToImage } from '../../harness/checks/stats.js';
import { rangeHalvedPixel, redBlueSwapped } from '../../harness/core/image.js';
import {
  deriveJudgeLimits,
  evaluateJudge,
  featureRows,
  JUDGE_SEED_BASE,
  judgePlan,
  judgeInputFromHWC,
  kid,
  kidYY,
  loadYardstick,
  openJudge,
  PINNED_YARDSTICKS,
  trainingDatasetOf,
  VALIDITY_MAX_BAD_FRACTION,
  YARDSTICK_ROOT,
  yardstickForBundle,
  YardstickError,
  type JudgeEvaluation,
  type JudgeLimits,
  type JudgeOutput,
  type JudgeRunner,
  type ValidityAnchor,
  type Yardstick,
} from '../../harness/checks/yardstick.js';

const RUNTIME = 'node';
const BUNDLE = bundleDir();
/**
 * The judge's plan for this bundle's image size (yardstick.ts JUDGE_PLANS). At 32 px, seeds per breed of each proof
 * 8 (13 x 8 = 104 images per broken model, ~10 s each): at 8 every check is still meaningful (top-2 accuracy >=
 * 0.146, pooled >= 0.40 over 104 images, the KID floor and validity limits at n = 8) and the four proofs cost twice
 * the main sample instead of four times. A manifest that cannot be read gets the 32 px plan; context() then reports
 * why the bundle cannot be judged.
 */
const PLAN = judgePlan(manifestImageSize(BUNDLE));
const SEEDS_PER_BREED = PLAN.seedsPerBreed;
const PROOF_SEEDS = PLAN.proofSeeds;
/** Probe agreement of onnxruntime-node now with onnxruntime-node when the yardstick was made (float32 logits/features). */
const PROBE_ATOL = 1e-4;
/** The TypeScript validity features and KID against Python's float64 values: same formulas, different summation order. */
const STATS_RTOL = 1e-9;
/** The yardstick test runs the gate's own judge on its probes: its time does not depend on the bundle. */
const YARDSTICK_MS = 900_000;
/**
 * Time limits of the tests that sample images, from the bundle's measured speed (harness/runtimes/time-bounds.ts):
 * the good model's sample, and a proof's broken sample (the good sample too when the proof runs alone).
 */
const BOUNDS = await timeBounds(BUNDLE);
const sampleMs = (images: number): number => BOUNDS.testMs('node', [{ variant: 'guided', steps: BOUNDS.profile.defaultSteps, images }], 1);
const GOOD_SAMPLE_MS = sampleMs(BREEDS.length * SEEDS_PER_BREED);
const PROOF_MS = sampleMs(BREEDS.length * (SEEDS_PER_BREED + PROOF_SEEDS));

/** The bundle's image size, read leniently (a broken manifest is the bundle loader's to report): 32 when unknown. */
function manifestImageSize(dir: string): number {
  const size = (readManifestLenient(dir).manifest?.['contract'] as { imageSize?: unknown } | undefined)?.imageSize;
  return typeof size === 'number' ? size : 32;
}

// ---------------------------------------------------------------------------------------------------------
// Context: the bundle, its yardstick, the judge (each step's failure is kept and reported by the check it stops)

interface Ctx {
  bundle: Bundle;
  y: Yardstick;
  judge: JudgeRunner;
  guided: Uint8Array;
  guidedSource: string;
  guidance: string;
  refRows: Float64Array[][];
  refYY: number[];
  noise: ValidityAnchor[];
}

let ctxPromise: Promise<Ctx> | null = null;
function context(): Promise<Ctx> {
  ctxPromise ??= (async () => {
    const bundle = await loadBundle(BUNDLE);
    const y = yardstickForBundle(bundle.manifest, bundle.imageSize, join(BUNDLE, 'manifest.json'));
    const variant = bundle.manifest.variants['guided'];
    if (!variant)
      throw new YardstickError(
        'invalid',
        `${join(BUNDLE, 'manifest.json')}: no 'guided' variant to sample (has ${bundle.variantNames.join(', ')})`,
      );
    const guidedSource = bundle.variantPath('guided');
    const judge = await openJudge(y);
    const refRows = y.breeds.map((_, b) => featureRows(y.refFeatures, b));
    const noise = noiseAnchorFeatures(y.imageSize).map(toAnchor);
    return {
      bundle,
      y,
      judge,
      guided: readFileSync(guidedSource),
      guidedSource,
      guidance: variant.guidance,
      refRows,
      refYY: refRows.map((r) => kidYY(r)),
      noise,
    };
  })();
  return ctxPromise;
}

function toAnchor(f: ReturnType<typeof imageFeatures>): ValidityAnchor {
  return { highFrequency: f.highFrequency, saturation: f.saturation, contrast: f.lumaHigh - f.lumaLow, clippedFraction: f.clippedFraction };
}

// ---------------------------------------------------------------------------------------------------------
// Generation: every breed, n seeds, batched across breeds (13 images per call: the fastest batch on 1 core)

interface Generated {
  label: string;
  n: number;
  /** uint8 RGB [K * n, S, S, 3], image i = b * n + k. */
  u8: Uint8Array;
  asked: number[];
  features: ValidityAnchor[];
  /** Judge outputs on all images (same order). */
  out: JudgeOutput;
  sampleMs: number;
  nonFinite: number;
}

async function generate(c: Ctx, bytes: Uint8Array, label: string, n: number): Promise<Generated> {
  const S = c.y.imageSize;
  const K = c.y.breeds.length;
  const per = S * S * 3;
  const runner = await openModelBytes(
    bytes,
    c.bundle.manifest,
    { label, source: `${label} (${c.guidedSource})`, guidance: c.guidance },
    { threads: 1 },
  );
  const u8 = new Uint8Array(K * n * per);
  const bad = new Set<number>();
  const t0 = performance.now();
  try {
    const breeds = Array.from({ length: K }, (_, b) => b);
    for (let k = 0; k < n; k++) {
      const res = await sample(samplerModel(runner), {
        breeds,
        seeds: breeds.map(() => JUDGE_SEED_BASE + k),
        steps: c.bundle.manifest.sampler?.defaultSteps ?? 50,
        cfgScale: c.bundle.manifest.guidance.scale,
      });
      for (const nf of res.nonFinite) bad.add(nf.breed * n + k);
      for (let b = 0; b < K; b++) u8.set(tensorToImage(res.x, S, b).data, (b * n + k) * per); // the manifest's toUint8
    }
  } finally {
    await runner.release();
  }
  const asked = Array.from({ length: K * n }, (_, i) => Math.floor(i / n));
  return scored(c, label, n, u8, asked, bad, performance.now() - t0);
}

/** Validity features and the judge's outputs of K * n images (image i asked for breed asked[i]). */
async function scored(
  c: Ctx,
  label: string,
  n: number,
  u8: Uint8Array,
  asked: number[],
  bad: Set<number>,
  sampleMs: number,
): Promise<Generated> {
  const S = c.y.imageSize;
  const per = S * S * 3;
  const features = asked.map((_, i) => {
    const f = toAnchor(imageFeatures(rgbImage(u8.subarray(i * per, (i + 1) * per), S, S)));
    return bad.has(i) ? { ...f, highFrequency: NaN } : f; // a non-finite state is never a valid image
  });
  const out = await c.judge.run(judgeInputFromHWC(u8, asked.length, S), asked.length);
  return { label, n, u8, asked, features, out, sampleMs, nonFinite: bad.size };
}

/** The first n seeds of each breed of a larger generated set (same images, judged at the limits for n). */
function firstSeeds(g: Generated, n: number, c: Ctx): Generated {
  const K = c.y.breeds.length;
  const S = c.y.imageSize;
  const per = S * S * 3;
  const idx = Array.from({ length: K * n }, (_, i) => Math.floor(i / n) * g.n + (i % n));
  const u8 = new Uint8Array(K * n * per);
  idx.forEach((j, i) => u8.set(g.u8.subarray(j * per, (j + 1) * per), i * per));
  const Fd = g.out.featureDim;
  const logits = new Float32Array(K * n * K);
  const features = new Float32Array(K * n * Fd);
  idx.forEach((j, i) => {
    logits.set(g.out.logits.subarray(j * K, (j + 1) * K), i * K);
    features.set(g.out.features.subarray(j * Fd, (j + 1) * Fd), i * Fd);
  });
  return {
    label: g.label,
    n,
    u8,
    asked: idx.map((j) => g.asked[j]!),
    features: idx.map((j) => g.features[j]!),
    out: { ...g.out, logits, features, n: K * n },
    sampleMs: g.sampleMs,
    nonFinite: g.nonFinite,
  };
}

let goodPromise: Promise<Generated> | null = null;
function goodImages(c: Ctx): Promise<Generated> {
  goodPromise ??= generate(c, c.guided, 'guided', SEEDS_PER_BREED);
  return goodPromise;
}

function judged(c: Ctx, g: Generated): { limits: JudgeLimits; ev: JudgeEvaluation } {
  const limits = deriveJudgeLimits(c.y, g.n, c.noise);
  return { limits, ev: evaluateJudge(c.y, limits, g.out, g.asked, g.features, c.refRows, c.refYY) };
}

function failedChecks(ev: JudgeEvaluation): string[] {
  const out: string[] = [];
  if (!ev.pooledPass) out.push(`accuracy,breed=all (${ev.pooledTop1.toFixed(3)})`);
  for (const r of ev.perBreed) {
    if (!r.accuracyPass) out.push(`accuracy,breed=${r.name}`);
    if (!r.kidPass) out.push(`kid,breed=${r.name}`);
    if (!r.validityPass) out.push(`validity,breed=${r.name}`);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Evidence

function writeReportJson(name: string, value: unknown): string {
  const dir = join(reportDir(), 'images', 'judge');
  mkdirSync(dir, { recursive: true });
  const p = join(dir, name);
  writeFileSync(p, JSON.stringify(value, null, 1));
  return relative(reportDir(), p);
}

/** Upscale of the evidence tiles (32 px images at 3x: the grid of 208 stays a readable size; 128 px at 1x). */
const tileScale = (size: number): number => Math.max(1, Math.round(96 / size));

/** Image i upscaled, framed red when the judge assigns it to another breed, magenta when it breaks a validity limit. */
function evidenceTile(c: Ctx, g: Generated, ev: JudgeEvaluation, i: number): RgbaImage {
  const S = c.y.imageSize;
  const rgba = new Uint8ClampedArray(S * S * 4);
  for (let p = 0; p < S * S; p++) {
    rgba.set(g.u8.subarray(i * S * S * 3 + p * 3, i * S * S * 3 + p * 3 + 3), p * 4);
    rgba[p * 4 + 3] = 255;
  }
  const t = upscale({ width: S, height: S, data: rgba }, tileScale(S));
  const v = ev.images[i]!;
  const colour = v.validityFailures.length > 0 ? FRAME.magenta : v.predicted !== v.breed ? FRAME.red : null;
  return colour ? framed(t, colour) : t;
}

/** Rows = breeds, columns = seeds; a red frame marks an image the judge assigns to another breed, magenta one failing validity. */
function evidenceGrid(c: Ctx, g: Generated, ev: JudgeEvaluation, caseName: string): string {
  const tiles = Array.from({ length: c.y.breeds.length * g.n }, (_, i) => evidenceTile(c, g, ev, i));
  return saveEvidence(caseName, 'grid', composeGrid(tiles, c.y.breeds.length, g.n, { gap: 2 }), 1);
}

/** The seed image i of a generated set was sampled with (image i = breed * n + k, seed JUDGE_SEED_BASE + k). */
const seedOf = (g: Generated, i: number): number => JUDGE_SEED_BASE + (i % g.n);

/**
 * The images the judge assigned to another breed, alone: one row per breed asked for (manifest order) that has any,
 * its name first, then each such image (framed like the grid) captioned with the breed the judge chose and its seed.
 * Null, and no file (a stale one from an earlier run in the same folder is removed), when it got every image right.
 */
function misjudgedSheet(c: Ctx, g: Generated, ev: JudgeEvaluation, caseName: string): string | null {
  const rows: CaptionedRow[] = c.y.breeds
    .map((name, b) => {
      const wrong = ev.images.map((v, i) => ({ v, i })).filter(({ v }) => v.breed === b && v.predicted !== b);
      return {
        label: `${name} ${wrong.length}/${g.n} wrong`,
        tiles: wrong.map(({ v, i }) => ({
          image: evidenceTile(c, g, ev, i),
          caption: [`> ${c.y.breeds[v.predicted]}`, `seed ${seedOf(g, i)}`],
        })),
      };
    })
    .filter((r) => r.tiles.length > 0);
  if (rows.length === 0) {
    rmSync(join(reportDir(), 'images', safeName(caseName), 'misjudged.png'), { force: true });
    return null;
  }
  return saveEvidence(caseName, 'misjudged', captionedRows(rows), 1);
}

/** The evidence JSON (images/judge/<name>.json); `images` names the guided model's PNGs, 'none' for a sheet not written. */
function summaryOf(
  c: Ctx,
  g: Generated,
  limits: JudgeLimits,
  ev: JudgeEvaluation,
  images?: { grid: string; misjudged: string | null },
): unknown {
  const verdicts = ev.images.map((v, i) => ({
    i,
    asked: c.y.breeds[v.breed],
    judged: c.y.breeds[v.predicted],
    rank: v.rank,
    seed: seedOf(g, i),
    validity: v.validityFailures,
  }));
  return {
    dataset: c.y.id,
    model: g.label,
    n: g.n,
    seeds: `${JUDGE_SEED_BASE}..${JUDGE_SEED_BASE + g.n - 1} per breed`,
    sampleMs: Math.round(g.sampleMs),
    nonFinite: g.nonFinite,
    pooledTop1: ev.pooledTop1,
    pooledMin: limits.pooledMin,
    breeds: c.y.breeds,
    confusion: ev.confusion,
    confusionLayout: 'confusion[asked][judged], breeds in manifest order; grid.png rows = breeds in this order, columns = seeds',
    perBreed: ev.perBreed.map((r) => {
      const l = limits.perBreed[r.breed]!;
      return {
        ...r,
        top2Min: l.top2Min,
        kidMax: l.kidMax,
        kidBandP99: l.kidBandP99,
        validityLimits: l.validity.map((v) => ({ feature: v.feature, kind: v.kind, limit: v.limit })),
      };
    }),
    ...(images ? { gridImage: images.grid, misjudgedImage: images.misjudged ?? 'none' } : {}),
    misjudged: verdicts.filter((v) => v.asked !== v.judged),
    images: verdicts,
  };
}

function recordProof(
  id: string,
  baseline: JudgeEvaluation,
  broken: JudgeEvaluation | null,
  cause: string,
  metrics: Record<string, Metric>,
  artifacts: string[],
  error?: string,
): { pass: boolean; message: string } {
  const baseFails = failedChecks(baseline);
  const brokenFails = broken ? failedChecks(broken) : [];
  const pass = baseFails.length === 0 && brokenFails.length > 0;
  const message =
    baseFails.length > 0
      ? `void: the good model already fails ${baseFails.join(', ')} on the same seeds, so rejecting ${cause} proves nothing`
      : error
        ? `the broken model could not be judged: ${error}`
        : brokenFails.length > 0
          ? `rejected as expected (${cause}): ${brokenFails.length} failing checks: ${brokenFails.slice(0, 12).join(', ')}${brokenFails.length > 12 ? ', ...' : ''}`
          : `NOT rejected: every judge check accepted a model broken by ${cause}`;
  recordCheck({
    id,
    check: 'judge',
    runtime: RUNTIME,
    status: pass ? 'pass' : 'fail',
    metrics: { ...metrics, proof: cause, baselinePass: baseFails.length === 0, failingChecks: brokenFails.length },
    message,
    artifacts,
  });
  return { pass, message };
}

/** A case that cannot run because the bundle or its yardstick did not load: recorded as 'error', never as a pass. */
function yardstickFailure(id: string): (e: unknown) => never {
  return (e) => {
    const msg = `not run: the bundle or its yardstick did not load (see judge:check=yardstick): ${e instanceof Error ? e.message : String(e)}`;
    recordCheck({ id, check: 'judge', runtime: RUNTIME, status: 'error', metrics: {}, message: msg });
    throw new Error(msg);
  };
}

// ---------------------------------------------------------------------------------------------------------

describe('judge: the gate samples the bundle and measures its images against the training data', () => {
  it(
    'judge:check=yardstick: the bundle names its training dataset; the pinned yardstick loads and reproduces itself',
    async () => {
      let c: Ctx;
      try {
        c = await context();
      } catch (e) {
        const code = e instanceof YardstickError ? e.code : 'error';
        recordCheck({
          id: 'judge:check=yardstick',
          check: 'judge',
          runtime: RUNTIME,
          status: 'fail',
          metrics: { code, bundle: BUNDLE },
          message: `${(e as Error).message}${code === 'no-dataset' || code === 'unknown-dataset' ? ' (a bundle whose images cannot be measured against its training data is not accepted)' : ''}`,
        });
        throw e;
      }
      const { y } = c;
      const P = y.probeImages.shape[0]!;
      const out = await c.judge.run(judgeInputFromHWC(y.probeImages.data as Uint8Array, P, y.imageSize), P);
      const maxDiff = (a: Float32Array, b: Float32Array): number => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);
      const logitsDiff = maxDiff(out.logits, y.probeLogits.data as Float32Array);
      const featuresDiff = maxDiff(out.features, y.probeFeatures.data as Float32Array);
      const S = y.imageSize;
      const pv = y.probeValidity.data as Float64Array;
      const names = y.json.validity.features;
      let validityRel = 0;
      for (let i = 0; i < P; i++) {
        const f = toAnchor(imageFeatures(rgbImage((y.probeImages.data as Uint8Array).subarray(i * S * S * 3, (i + 1) * S * S * 3), S, S)));
        names.forEach((nm, j) => {
          const want = pv[i * names.length + j]!;
          validityRel = Math.max(validityRel, Math.abs(f[nm as keyof ValidityAnchor] - want) / Math.max(1e-12, Math.abs(want), 1));
        });
      }
      let kidRel = 0;
      for (const p of y.json.kid.probes) {
        const b = y.breeds.indexOf(p.breed);
        const x = featureRows(y.nullFeatures, b).filter((_, r) => p.nullRows.includes(r));
        kidRel = Math.max(kidRel, Math.abs(kid(x, c.refRows[b]!, c.refYY[b]) - p.kid) / Math.max(1e-12, Math.abs(p.kid)));
      }
      const usable = y.json.quality?.usable === true;
      const pass = usable && logitsDiff <= PROBE_ATOL && featuresDiff <= PROBE_ATOL && validityRel <= STATS_RTOL && kidRel <= STATS_RTOL;
      const acc = y.json.heldOutAccuracy;
      const message = pass
        ? `yardstick '${y.id}' (sha256 ${y.sha256.slice(0, 12)}..., pinned) for the bundle's training.dataset: judge of ${y.json.judge.parameters} parameters, ` +
          `held-out accuracy ${acc.overall.toFixed(4)} on ${acc.n} training images never used to train it; onnxruntime-node reproduces its ${P} probe outputs ` +
          `(logits ${logitsDiff.toExponential(2)}, features ${featuresDiff.toExponential(2)} <= ${PROBE_ATOL}); TypeScript validity features and KID reproduce Python's (rel ${Math.max(validityRel, kidRel).toExponential(2)} <= ${STATS_RTOL})`
        : !usable
          ? `the yardstick '${y.id}' is not usable as a gate yardstick (yardstick.json quality: ${(y.json.quality?.problems ?? ['no quality verdict']).slice(0, 5).join('; ')}); remake it with more data or epochs`
          : `the yardstick '${y.id}' does not reproduce itself here: logits ${logitsDiff}, features ${featuresDiff} (<= ${PROBE_ATOL}), validity rel ${validityRel}, KID rel ${kidRel} (<= ${STATS_RTOL}); ` +
            'the judge or the statistics of this gate differ from those the yardstick was made with';
      recordCheck({
        id: 'judge:check=yardstick',
        check: 'judge',
        runtime: RUNTIME,
        status: pass ? 'pass' : 'fail',
        metrics: {
          dataset: y.id,
          sha256: y.sha256,
          usable,
          heldOutAccuracy: acc.overall,
          heldOutImages: acc.n,
          judgeParameters: y.json.judge.parameters,
          probeLogitsMaxAbs: logitsDiff,
          probeFeaturesMaxAbs: featuresDiff,
          validityMaxRel: validityRel,
          kidMaxRel: kidRel,
          recipeSeconds: y.json.recipe.seconds['total'] ?? null,
        },
        threshold: { probeAtol: PROBE_ATOL, statsRtol: STATS_RTOL, pinnedSha256: PINNED_YARDSTICKS[y.id] ?? null },
        message,
      });
      expect({ pass, message }).toPassCheck('judge:check=yardstick');
    },
    YARDSTICK_MS,
  );

  it(
    `the good model: ${SEEDS_PER_BREED} images per breed, judged for accuracy, KID and validity against the training data`,
    async () => {
      const c = await context().catch(yardstickFailure('judge:model=guided'));
      const g = await goodImages(c);
      const { limits, ev } = judged(c, g);
      const grid = evidenceGrid(c, g, ev, 'judge:model=guided');
      const misjudged = misjudgedSheet(c, g, ev, 'judge:model=guided');
      const json = writeReportJson('guided.json', summaryOf(c, g, limits, ev, { grid, misjudged }));
      const artifacts = [grid, json, ...(misjudged ? [misjudged] : [])];
      const failures: string[] = [];
      for (const r of ev.perBreed) {
        const l = limits.perBreed[r.breed]!;
        const predicted = Object.entries(r.predictedAs)
          .sort((a, b) => b[1] - a[1])
          .map(([k, v]) => `${k} ${v}`)
          .join(', ');
        const accId = caseId('judge', { check: 'accuracy', breed: r.name });
        const accMsg =
          `${r.name}: top-2 ${r.top2.toFixed(3)} (top-1 ${r.top1.toFixed(3)}, held-out top-1 ${l.heldOutTop1.toFixed(3)}) over ${r.n} images, judged as ${predicted}; ` +
          `${r.accuracyPass ? 'passes' : 'FAILS'}: ${l.top2Reason}`;
        recordCheck({
          id: accId,
          check: 'judge',
          runtime: RUNTIME,
          status: r.accuracyPass ? 'pass' : 'fail',
          metrics: {
            top1: r.top1,
            top2: r.top2,
            meanProbability: r.meanProbability,
            n: r.n,
            heldOutTop1: l.heldOutTop1,
            heldOutTop2: l.heldOutTop2,
            predictedAs: predicted,
          },
          threshold: { top2Min: l.top2Min },
          message: accMsg,
          artifacts,
        });
        if (!r.accuracyPass) failures.push(`${accId}: ${accMsg}`);
        const kidId = caseId('judge', { check: 'kid', breed: r.name });
        const kidMsg =
          `${r.name}: KID ${r.kid.toFixed(4)} against its training reference (${(r.kid / l.kidBandP99).toFixed(1)}x the split-half band p99 ${l.kidBandP99.toFixed(4)}; ` +
          `nearest reference ${r.nearestBreed} at ${r.nearestKid.toFixed(3)}); ${r.kidPass ? 'passes' : 'FAILS'}: ${l.kidReason}`;
        recordCheck({
          id: kidId,
          check: 'judge',
          runtime: RUNTIME,
          status: r.kidPass ? 'pass' : 'fail',
          metrics: {
            kid: r.kid,
            bandP99: l.kidBandP99,
            bandMean: l.kidBandMean,
            kidOverBandP99: r.kid / l.kidBandP99,
            nearestBreed: r.nearestBreed,
            nearestKid: r.nearestKid,
            n: r.n,
          },
          threshold: { kidMax: l.kidMax },
          message: kidMsg,
          artifacts,
        });
        if (!r.kidPass) failures.push(`${kidId}: ${kidMsg}`);
        const valId = caseId('judge', { check: 'validity', breed: r.name });
        const lim = Object.fromEntries(l.validity.map((v) => [`${v.feature}.${v.kind}`, v.limit]));
        const valMsg =
          `${r.name}: ${r.validityBad} of ${r.n} images break a validity limit (at most ${Math.floor(VALIDITY_MAX_BAD_FRACTION * r.n)} may)` +
          `${r.validityWorst.length ? ` e.g. ${r.validityWorst.join(' | ')}` : ''}; medians hf ${r.validityMedians.highFrequency.toFixed(3)}, saturation ${r.validityMedians.saturation.toFixed(3)}, ` +
          `contrast ${r.validityMedians.contrast.toFixed(1)}, clipped ${r.validityMedians.clippedFraction.toFixed(3)}; limits: ${l.validity.map((v) => `${v.feature} ${v.kind} ${v.limit.toFixed(3)} (${v.reason})`).join('; ')}`;
        recordCheck({
          id: valId,
          check: 'judge',
          runtime: RUNTIME,
          status: r.validityPass ? 'pass' : 'fail',
          metrics: {
            badImages: r.validityBad,
            n: r.n,
            ...Object.fromEntries(Object.entries(r.validityMedians).map(([k, v]) => [`median.${k}`, v])),
          },
          threshold: { ...lim, maxBadFraction: VALIDITY_MAX_BAD_FRACTION },
          message: valMsg,
          artifacts,
        });
        if (!r.validityPass) failures.push(`${valId}: ${valMsg}`);
      }
      const pooledMsg = `top-1 ${ev.pooledTop1.toFixed(3)} over ${g.asked.length} images (sampled in ${(g.sampleMs / 1000).toFixed(1)} s); ${ev.pooledPass ? 'passes' : 'FAILS'}: ${limits.pooledReason}`;
      recordCheck({
        id: 'judge:check=accuracy,breed=all',
        check: 'judge',
        runtime: RUNTIME,
        status: ev.pooledPass ? 'pass' : 'fail',
        metrics: {
          top1: ev.pooledTop1,
          n: g.asked.length,
          heldOutTop1: limits.pooledHeldOut,
          sampleMs: g.sampleMs,
          msPerImage: g.sampleMs / g.asked.length,
        },
        threshold: { top1Min: limits.pooledMin },
        message: pooledMsg,
        artifacts,
      });
      if (!ev.pooledPass) failures.push(`judge:check=accuracy,breed=all: ${pooledMsg}`);
      expect({ pass: failures.length === 0, message: failures.join('\n') }).toPassCheck('judge:model=guided');
    },
    GOOD_SAMPLE_MS,
  );
});

// ---------------------------------------------------------------------------------------------------------
// Proofs: broken models built in memory from the bundle under test

type Breaker = (bytes: Uint8Array, c: Ctx) => Uint8Array;

/** Every breed embedding row b takes row b + 1 (mod the breed count; the null row is kept): asking for b draws b + 1. */
const rollBreedRows: Breaker = (bytes, c) => {
  const source = c.guidedSource;
  const t = breedEmbeddingTensor(inspectOnnx(bytes, source));
  const K = c.y.breeds.length;
  return withInitializers(
    bytes,
    {
      [t.name]: (d, dims) => {
        const w = dims[1]!;
        const copy = d.slice();
        for (let b = 0; b < K; b++) d.set(copy.subarray(((b + 1) % K) * w, (((b + 1) % K) + 1) * w), b * w);
      },
    },
    source,
  );
};

/** Each pixel of K * n HWC RGB images mapped (value, channel, the image data, index). */
/**
 * The breakage as the image shows it, for plans that prove by image (JudgePlan.imageProofs): what the model broken
 * by `build` draws, applied to the good model's images (image i = b * n + k, asked for breed b).
 */
const IMAGE_PROOFS: Record<string, (g: Generated, K: number) => { u8: Uint8Array; from: (i: number) => number }> = {
  'pixel-range-halved': (g) => ({ u8: g.u8.map(rangeHalvedPixel), from: (i) => i }),
  'channels-swapped': (g) => ({ u8: redBlueSwapped(g.u8, 3), from: (i) => i }),
  // every breed shown the images drawn for the next one
  'breeds-rolled': (g, K) => {
    const per = g.u8.length / (K * g.n);
    const out = new Uint8Array(g.u8.length);
    for (let b = 0; b < K; b++) out.set(g.u8.subarray(((b + 1) % K) * g.n * per, (((b + 1) % K) + 1) * g.n * per), b * g.n * per);
    return { u8: out, from: (i) => (i + g.n) % (K * g.n) };
  },
};

const PROOFS: Array<{ name: string; cause: string; build: Breaker }> = [
  {
    name: 'output-weakened',
    cause: 'the output layer weakened to 0.3x (weight and bias): the sampler stops far short of an image',
    build: (b, c) => outputAffine(b, 0.3, 0, c.guidedSource),
  },
  {
    name: 'pixel-range-halved',
    cause: 'the output layer x0.5 (the pixel-range-halved mutant)',
    build: (b, c) => outputAffine(b, 0.5, 0, c.guidedSource),
  },
  {
    name: 'channels-swapped',
    cause: 'the model works in BGR (patch-embedding input and output channels swapped)',
    build: (b, c) => {
      const cfg = c.bundle.manifest.identity.config;
      return channelsSwapped(
        b,
        { patchSize: cfg.patch_size, channels: cfg.in_channels, embedDim: cfg.embed_dim, depth: cfg.depth },
        c.guidedSource,
      );
    },
  },
  { name: 'breeds-rolled', cause: 'breed embedding rows rolled by one: asking for each breed draws the next', build: rollBreedRows },
];

describe(`judge proofs: broken models from the bundle under test fail a judge check (${PROOF_SEEDS} seeds per breed)`, () => {
  for (const p of PROOFS) {
    const byImage = PLAN.imageProofs.includes(p.name);
    it(
      caseId('judge', { proof: p.name }),
      async () => {
        const c = await context().catch(yardstickFailure(caseId('judge', { proof: p.name })));
        const good = firstSeeds(await goodImages(c), PROOF_SEEDS, c);
        const base = judged(c, good);
        let broken: Generated | null = null;
        let error: string | undefined;
        try {
          if (byImage) {
            const image = IMAGE_PROOFS[p.name];
            if (!image) throw new Error(`judge plan '${PLAN.why}' proves ${p.name} by image, and IMAGE_PROOFS has no such proof`);
            const shown = image(good, c.y.breeds.length);
            // an image whose state was non-finite stays so wherever the breakage puts it
            const bad = new Set(good.asked.map((_, i) => i).filter((i) => Number.isNaN(good.features[shown.from(i)]!.highFrequency)));
            broken = await scored(c, `${p.name} (by image)`, PROOF_SEEDS, shown.u8, good.asked, bad, 0);
          } else {
            broken = await generate(c, p.build(c.guided, c), p.name, PROOF_SEEDS);
          }
        } catch (e) {
          error = (e as Error).message;
        }
        const id = caseId('judge', { proof: p.name });
        const ev = broken ? judged(c, broken) : null;
        const artifacts =
          broken && ev
            ? [evidenceGrid(c, broken, ev.ev, id), writeReportJson(`proof-${p.name}.json`, summaryOf(c, broken, ev.limits, ev.ev))]
            : [];
        const count = (f: (r: JudgeEvaluation['perBreed'][number]) => boolean, e: JudgeEvaluation | undefined): number =>
          e ? e.perBreed.filter(f).length : -1;
        const metrics: Record<string, Metric> = {
          n: PROOF_SEEDS,
          goodPooledTop1: base.ev.pooledTop1,
          brokenPooledTop1: ev?.ev.pooledTop1 ?? null,
          pooledMin: base.limits.pooledMin,
          brokenAccuracyFails: count((r) => !r.accuracyPass, ev?.ev),
          brokenKidFails: count((r) => !r.kidPass, ev?.ev),
          brokenValidityFails: count((r) => !r.validityPass, ev?.ev),
          brokenMedianKid: ev ? [...ev.ev.perBreed.map((r) => r.kid)].sort((a, b) => a - b)[ev.ev.perBreed.length >> 1]! : null,
          goodMedianKid: [...base.ev.perBreed.map((r) => r.kid)].sort((a, b) => a - b)[base.ev.perBreed.length >> 1]!,
          brokenSampleMs: broken?.sampleMs ?? null,
        };
        const cause = byImage ? `${p.cause}, shown on the good model's images (${PLAN.why})` : p.cause;
        const o = recordProof(id, base.ev, ev?.ev ?? null, cause, metrics, artifacts, error);
        expect(o).toPassCheck(id);
      },
      PROOF_MS,
    );
  }
});

describe('judge proofs: the yardstick loader refuses what the gate did not pin', () => {
  const ID = Object.keys(PINNED_YARDSTICKS)[0]!;
  const refuses = (id: string, f: () => unknown, code: string, cause: string): void => {
    let err: unknown = null;
    try {
      f();
    } catch (e) {
      err = e;
    }
    const pass = err instanceof YardstickError && err.code === code;
    const message = pass
      ? `refused as expected (${cause}): ${(err as Error).message.slice(0, 400)}`
      : `NOT refused with '${code}' (${cause}): ${err ? (err as Error).message : 'loaded without error'}`;
    recordCheck({
      id,
      check: 'judge',
      runtime: RUNTIME,
      status: pass ? 'pass' : 'fail',
      metrics: { proof: cause, code: err instanceof YardstickError ? err.code : null },
      message,
    });
    expect({ pass, message }).toPassCheck(id);
  };

  it('judge:proof=yardstick-tampered: a changed file or yardstick.json is refused by sha256', () => {
    const dir = mkdtempSync(join(tmpdir(), 'judge-yardstick-'));
    try {
      cpSync(join(YARDSTICK_ROOT, ID), join(dir, ID), { recursive: true });
      expect(loadYardstick(ID, { root: dir }).id).toBe(ID); // the untouched copy loads: the refusals below are the tampering's
      const f = join(dir, ID, 'ref_features.npy');
      const bytes = readFileSync(f);
      bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0x01;
      writeFileSync(f, bytes);
      refuses(
        caseId('judge', { file: 'ref_features.npy', proof: 'yardstick-tampered' }),
        () => loadYardstick(ID, { root: dir }),
        'sha256-mismatch',
        'one bit of the reference features flipped',
      );
      const j = join(dir, ID, 'yardstick.json');
      writeFileSync(j, readFileSync(j, 'utf8').replace('"kid": {', '"kid": { "tampered": true,'));
      refuses(
        caseId('judge', { file: 'yardstick.json', proof: 'yardstick-tampered' }),
        () => loadYardstick(ID, { root: dir }),
        'sha256-mismatch',
        'yardstick.json edited (its bands could be loosened)',
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('judge:proof=no-dataset and judge:proof=unknown-dataset: a bundle that names no dataset, or one without a yardstick, cannot be judged', () => {
    refuses('judge:proof=no-dataset', () => trainingDatasetOf({}), 'no-dataset', 'a manifest without training.dataset');
    refuses(
      'judge:proof=unknown-dataset',
      () => loadYardstick('oxford-pets-128-v0'),
      'unknown-dataset',
      'a dataset id the gate has no pinned yardstick for',
    );
  });
});
