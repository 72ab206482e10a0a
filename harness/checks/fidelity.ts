/**
 * Breed fidelity and diversity of generated images. Pure (no Node imports): the browser page bundles it too.
 *
 * Fidelity: a nearest-centroid classifier on a centre-weighted colour histogram, fitted on the bundle's
 * reference images (the PyTorch model's own samples, goldens/stats/images.npy). A generator that draws the
 * asked-for breed produces images the classifier recognises; a breed-blind or breed-swapped one does not.
 * Diversity: images of one breed from different seeds must differ; a collapsed generator gives one image.
 */
import { colourHistogram, type PixelImage, type ReferenceSet } from './stats.js';

/**
 * Leave-one-out breed accuracy the reference set itself must reach for the fidelity classifier to mean
 * anything (chance is 1/13 = 0.077). Measured leave-one-out on 13 breeds x 32 seeds: the trained
 * fixtures/default bundle (tinydit-fixture32-default, step 5000, EMA) 0.656; the same run at step 2500 0.440;
 * the provisional step-500 bundle (breed-blind samples, 8 seeds) 0.000; the procedural training set
 * make_dataset(32, seed=5) 0.938. The limit is half the trained measurement (4x chance): a model that lost
 * half its breed signal, or never had it, fails.
 */
export const TRAINED_REFERENCE_ACCURACY = 0.656;
export const MIN_REFERENCE_ACCURACY = TRAINED_REFERENCE_ACCURACY / 2;

/** Levels per channel of the joint RGB histogram: 4 (64 bins). Leave-one-out on the procedural training set
 * (make_dataset(32, seed=5), 32 per breed): 3 levels 0.70, 4 levels 0.93, 5 levels 0.96 but 125 dims for as few as 8 seeds. */
export const HISTOGRAM_LEVELS = 4;
/** Gaussian centre weighting, sigma as a fraction of the width: the animal sits near the centre, the background
 * (random colours) at the edges. 0.2 measured best of 0.15/0.2/0.25 on the training set (0.94/0.93/0.92). */
export const CENTRE_SIGMA = 0.2;
/** Each histogram bin is scaled by its pooled within-breed spread, floored at this fraction of the median spread
 * of the bins in use, so that a bin (almost) empty in every reference image cannot dominate (unscaled bins:
 * 0.67 leave-one-out on the training set, scaled: 0.93). */
export const SCALE_FLOOR_FRACTION = 0.5;

export class FidelityError extends Error {}

/** The classifier's feature vector: sqrt of the centre-weighted joint RGB histogram (Hellinger embedding). */
export function fidelityFeatures(img: PixelImage): Float64Array {
  const w = img.width;
  const h = img.height;
  const s2 = 2 * (CENTRE_SIGMA * w) ** 2;
  const weight = (x: number, y: number): number => Math.exp(-(((x + 0.5 - w / 2) ** 2 + (y + 0.5 - h / 2) ** 2) / s2));
  return colourHistogram(img, HISTOGRAM_LEVELS, weight).map(Math.sqrt);
}

export interface BreedClassifier {
  breeds: string[];
  /** Mean feature vector per breed. */
  centroids: Float64Array[];
  /** Per-dimension scale (pooled within-breed std, floored). */
  scale: Float64Array;
  /** Reference images per breed it was fitted on. */
  counts: number[];
}

function mean(vs: Float64Array[], d: number): Float64Array {
  const m = new Float64Array(d);
  for (const v of vs) for (let i = 0; i < d; i++) m[i]! += v[i]! / vs.length;
  return m;
}

/** Fits the classifier on feature vectors grouped by breed ([breed][k]). */
export function fitBreedClassifier(features: Float64Array[][], breeds: string[]): BreedClassifier {
  if (features.length !== breeds.length) throw new FidelityError(`${features.length} feature groups for ${breeds.length} breeds`);
  const d = features[0]?.[0]?.length ?? 0;
  features.forEach((g, b) => {
    if (g.length < 2) throw new FidelityError(`breed ${breeds[b]} has ${g.length} reference images; the classifier needs at least 2`);
  });
  const centroids = features.map((g) => mean(g, d));
  const ss = new Float64Array(d);
  let dof = 0;
  features.forEach((g, b) => {
    for (const v of g) for (let i = 0; i < d; i++) ss[i]! += (v[i]! - centroids[b]![i]!) ** 2;
    dof += g.length - 1;
  });
  const sd = ss.map((v) => Math.sqrt(v / dof));
  const used = Array.from(sd)
    .filter((v) => v > 0)
    .sort((a, b) => a - b);
  const median = used[Math.floor(used.length / 2)] ?? 0;
  const floor = SCALE_FLOOR_FRACTION * median;
  if (!(floor > 0))
    throw new FidelityError('reference images have no colour spread at all (every histogram identical): a collapsed reference model');
  const scale = sd.map((v) => Math.max(v, floor));
  return { breeds, centroids, scale, counts: features.map((g) => g.length) };
}

export interface Classification {
  predicted: number;
  /** Scaled squared distance to each breed centroid. */
  distances: number[];
}

export function classify(clf: BreedClassifier, x: Float64Array): Classification {
  const distances = clf.centroids.map((c) => {
    let s = 0;
    for (let i = 0; i < c.length; i++) s += ((x[i]! - c[i]!) / clf.scale[i]!) ** 2;
    return s;
  });
  let predicted = 0;
  distances.forEach((d, b) => {
    if (d < distances[predicted]!) predicted = b;
  });
  return { predicted, distances };
}

/** 1-based rank of `breed` among the centroids, nearest first (1 = predicted). */
export function labelRank(c: Classification, breed: number): number {
  const d = c.distances[breed]!;
  return 1 + c.distances.filter((v) => v < d).length;
}

export interface FidelityPrediction {
  label: string;
  /** The breed asked for (the label judged). */
  breed: number;
  predicted: number;
  /** 1-based rank of `breed` among the centroids. */
  rank: number;
  correct: boolean;
  /** Distance to every centroid (lets a prediction be re-judged under another label). */
  distances: number[];
}

export interface BreedFidelity {
  breed: number;
  name: string;
  n: number;
  correct: number;
  recall: number;
  topRankCount: number;
  predictedAs: string;
}

export interface FidelityEvaluation {
  accuracy: number;
  n: number;
  /** confusion[true][predicted]. */
  confusion: number[][];
  perBreed: BreedFidelity[];
  predictions: FidelityPrediction[];
}

function summariseFidelity(preds: FidelityPrediction[], breeds: string[], rankLimit: number): FidelityEvaluation {
  const nb = breeds.length;
  const confusion = Array.from({ length: nb }, () => new Array<number>(nb).fill(0));
  for (const p of preds) confusion[p.breed]![p.predicted]!++;
  const perBreed = breeds.map((name, b) => {
    const mine = preds.filter((p) => p.breed === b);
    const correct = mine.filter((p) => p.correct).length;
    const row = confusion[b]!;
    const top = row.indexOf(Math.max(...row));
    return {
      breed: b,
      name,
      n: mine.length,
      correct,
      recall: mine.length ? correct / mine.length : NaN,
      topRankCount: mine.filter((p) => p.rank <= rankLimit).length,
      predictedAs: mine.length ? (breeds[top] ?? String(top)) : '',
    };
  });
  const correct = preds.filter((p) => p.correct).length;
  return { accuracy: preds.length ? correct / preds.length : NaN, n: preds.length, confusion, perBreed, predictions: preds };
}

/** Leave-one-out on the reference set: each image classified by a classifier fitted without it. */
export function leaveOneOut(features: Float64Array[][], breeds: string[], seeds?: number[]): FidelityEvaluation & { ranks: number[] } {
  const preds: FidelityPrediction[] = [];
  features.forEach((g, b) =>
    g.forEach((x, k) => {
      const held = features.map((gg, bb) => (bb === b ? gg.filter((_, j) => j !== k) : gg));
      const c = classify(fitBreedClassifier(held, breeds), x);
      const rank = labelRank(c, b);
      preds.push({
        label: `breed=${breeds[b]},seed=${seeds?.[k] ?? k}`,
        breed: b,
        predicted: c.predicted,
        rank,
        correct: c.predicted === b,
        distances: c.distances,
      });
    }),
  );
  return { ...summariseFidelity(preds, breeds, 1), ranks: preds.map((p) => p.rank) };
}

export interface LabelledImage {
  image: PixelImage;
  breed: number;
  label: string;
}

/** Classifies labelled (generated) images; `rankLimit` sets topRankCount (images whose label ranks <= it). */
export function evaluateFidelity(clf: BreedClassifier, items: LabelledImage[], rankLimit = 1): FidelityEvaluation {
  const preds = items.map((it) => {
    const c = classify(clf, fidelityFeatures(it.image));
    const rank = labelRank(c, it.breed);
    return { label: it.label, breed: it.breed, predicted: c.predicted, rank, correct: c.predicted === it.breed, distances: c.distances };
  });
  return summariseFidelity(preds, clf.breeds, rankLimit);
}

/**
 * Re-judges predictions under other labels (e.g. a generator that draws breed 3 when asked for 10): `relabel`
 * gives the breed each image was asked for. Image content and distances are unchanged.
 */
export function relabelPredictions(
  preds: FidelityPrediction[],
  relabel: (p: FidelityPrediction) => number,
  breeds: string[],
  rankLimit: number,
): FidelityEvaluation {
  const out = preds.map((p) => {
    const breed = relabel(p);
    const d = p.distances[breed]!;
    return { ...p, breed, rank: 1 + p.distances.filter((v) => v < d).length, correct: p.predicted === breed };
  });
  return summariseFidelity(out, breeds, rankLimit);
}

/** Joins evaluations of disjoint image sets (e.g. generated images and held-out reference images). */
export function combineEvaluations(parts: FidelityEvaluation[], breeds: string[], rankLimit: number): FidelityEvaluation {
  return summariseFidelity(
    parts.flatMap((p) => p.predictions),
    breeds,
    rankLimit,
  );
}

export function referenceFeatures(ref: ReferenceSet): Float64Array[][] {
  return ref.images.map((row) => row.map(fidelityFeatures));
}

// ---------------------------------------------------------------------------------------------------------
// Fidelity limits

/**
 * Sigmas below the reference leave-one-out accuracy that a generated set's accuracy may fall (binomial
 * standard error at the generated set's size): 3 sigmas keeps a good model's false-alarm rate near 0.1 %.
 */
export const ACCURACY_SIGMAS = 3;
/** Fraction of leave-one-out reference images whose own breed must rank within the derived rank limit. */
export const RANK_COVERAGE = 0.99;

export interface FidelityLimits {
  /** Leave-one-out accuracy of the reference set. */
  referenceAccuracy: number;
  /** Rank within which RANK_COVERAGE of leave-one-out reference labels fall. */
  rankLimit: number;
  /** Minimum accuracy for a generated set of n images: referenceAccuracy - ACCURACY_SIGMAS * sqrt(p (1-p) / n). */
  minAccuracy: (n: number) => number;
  derivation: string;
}

export function deriveFidelityLimits(loo: FidelityEvaluation & { ranks: number[] }): FidelityLimits {
  const p = loo.accuracy;
  const sorted = [...loo.ranks].sort((a, b) => a - b);
  const rankLimit = sorted[Math.min(sorted.length - 1, Math.ceil(RANK_COVERAGE * sorted.length) - 1)] ?? 1;
  return {
    referenceAccuracy: p,
    rankLimit,
    minAccuracy: (n: number) => p - ACCURACY_SIGMAS * Math.sqrt((p * (1 - p)) / Math.max(1, n)),
    derivation:
      `accuracy >= leave-one-out reference accuracy ${p.toFixed(3)} - ${ACCURACY_SIGMAS} binomial sigmas at the set size; ` +
      `per breed: at least half its images rank their breed within ${rankLimit} (covers ${RANK_COVERAGE * 100} % of ${loo.ranks.length} leave-one-out reference images)`,
  };
}

// ---------------------------------------------------------------------------------------------------------
// Diversity

/** Mean absolute RGB difference of two images of equal size, in 8-bit levels (0..255). */
export function pixelDistance(a: PixelImage, b: PixelImage): number {
  if (a.width !== b.width || a.height !== b.height)
    throw new FidelityError(`image sizes differ: ${a.width}x${a.height} vs ${b.width}x${b.height}`);
  const n = a.width * a.height;
  let s = 0;
  for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) s += Math.abs(a.data[i * a.channels + c]! - b.data[i * b.channels + c]!);
  return s / (3 * n);
}

export interface Diversity {
  n: number;
  pairs: number;
  meanPairwise: number;
  minPairwise: number;
  closestPair: [number, number];
}

/** Pairwise pixel distances among one breed's images from different seeds. */
export function diversity(images: PixelImage[]): Diversity {
  let sum = 0;
  let pairs = 0;
  let min = Infinity;
  let closest: [number, number] = [-1, -1];
  for (let i = 0; i < images.length; i++) {
    for (let j = i + 1; j < images.length; j++) {
      const d = pixelDistance(images[i]!, images[j]!);
      sum += d;
      pairs++;
      if (d < min) {
        min = d;
        closest = [i, j];
      }
    }
  }
  return { n: images.length, pairs, meanPairwise: pairs ? sum / pairs : NaN, minPairwise: pairs ? min : NaN, closestPair: closest };
}

/** A generated breed's mean pairwise distance must reach this fraction of the closest pair its reference images show. */
export const DIVERSITY_FRACTION = 0.5;

export interface DiversityLimit {
  breed: number;
  name: string;
  limit: number;
  referenceMin: number;
  referenceMean: number;
  derivation: string;
}

/** Per breed: DIVERSITY_FRACTION x the smallest pairwise distance among its reference images (different seeds). */
export function deriveDiversityLimits(ref: ReferenceSet): DiversityLimit[] {
  return ref.images.map((row, b) => {
    const d = diversity(row);
    return {
      breed: b,
      name: ref.breeds[b] ?? String(b),
      limit: DIVERSITY_FRACTION * d.minPairwise,
      referenceMin: d.minPairwise,
      referenceMean: d.meanPairwise,
      derivation: `${DIVERSITY_FRACTION} x the closest of ${d.pairs} reference pairs (${d.minPairwise.toFixed(2)} levels) of ${ref.breeds[b]}`,
    };
  });
}
