/**
 * Judgements that only make sense against an app (suites/browser/app.spec.ts): which guidance an app's image was
 * made with, and what an app's guidance control should do on a baked and on a raw graph.
 *
 * Which guidance: the app's image is compared with images the gate samples itself in onnxruntime-node (the raw
 * variant, guidance applied once by the shared sampler) at candidate effective scales: the one the manifest says the
 * app should give, the baked scale applied again by the app (baked x s: guidance applied twice), the app's scale alone,
 * and none (1). The image is made with the candidate it is nearest to (mean |difference| in pixel levels), when that
 * candidate is clearly the nearest: the next one at least SEPARATION times farther. Candidates closer than that (a
 * breed whose images hardly change with guidance) leave the question open, which fails the check as ambiguous rather
 * than guessing.
 */
import { compareImages, type RgbaImage } from '../core/png.js';

/** How much farther the second-nearest candidate must be than the nearest for the attribution to count. */
export const SEPARATION = 3;

export interface GuidanceCandidate {
  /** What this scale would mean: 'expected', 'applied twice', 'app scale only', 'no guidance', 'baked scale'. */
  meaning: string;
  scale: number;
  image: RgbaImage;
}

export interface GuidanceAttribution {
  /** The nearest candidate when unambiguous, else null. */
  nearest: { meaning: string; scale: number; meanAbs: number } | null;
  distances: Array<{ meaning: string; scale: number; meanAbs: number }>;
  /** Distance ratio second-nearest / nearest. */
  separation: number;
}

/** Mean |a - b| over RGB in pixel levels (Infinity when the sizes differ). */
export function meanAbsLevels(a: RgbaImage, b: RgbaImage): number {
  if (a.width !== b.width || a.height !== b.height) return Infinity;
  return compareImages(a, b).meanAbsDiff;
}

/** Which candidate's scale the image was made with (candidates of equal scale are merged, the first meaning kept). */
export function attributeGuidance(image: RgbaImage, candidates: GuidanceCandidate[]): GuidanceAttribution {
  const seen = new Map<number, GuidanceCandidate>();
  for (const c of candidates) if (!seen.has(Number(c.scale.toFixed(6)))) seen.set(Number(c.scale.toFixed(6)), c);
  const distances = [...seen.values()]
    .map((c) => ({ meaning: c.meaning, scale: c.scale, meanAbs: meanAbsLevels(image, c.image) }))
    .sort((a, b) => a.meanAbs - b.meanAbs);
  const first = distances[0];
  const second = distances[1];
  const separation = first && second ? (first.meanAbs === 0 ? Infinity : second.meanAbs / first.meanAbs) : Infinity;
  return { nearest: first && separation >= SEPARATION ? first : null, distances, separation };
}

/** The effective scale an app should give at setting s: a baked graph has its own scale; a raw graph takes s. */
export function expectedScale(graph: { guidance: 'baked' | 'none'; bakedScale?: number }, s: number): number | null {
  if (graph.guidance === 'none') return s;
  if (graph.bakedScale === undefined) return null;
  // a baked graph can only give its own scale: another setting must be refused (or not offered)
  return Math.abs(s - graph.bakedScale) < 1e-9 ? graph.bakedScale : null;
}

/** The candidate effective scales for an app's image at setting s on this graph, each with what it would mean. */
export function guidanceCandidates(
  graph: { guidance: 'baked' | 'none'; bakedScale?: number },
  s: number,
): Array<{ meaning: string; scale: number }> {
  const out: Array<{ meaning: string; scale: number }> = [];
  const expected = expectedScale(graph, s);
  if (expected !== null) out.push({ meaning: 'expected', scale: expected });
  if (graph.guidance === 'baked' && graph.bakedScale !== undefined) {
    // first, so that at setting 1 (baked x 1 = baked) the image reads as "no effect", not "applied twice"
    out.push({ meaning: 'baked scale (the setting has no effect)', scale: graph.bakedScale });
    out.push({ meaning: 'applied twice', scale: graph.bakedScale * s });
  }
  out.push({ meaning: 'the setting alone', scale: s });
  out.push({ meaning: 'no guidance', scale: 1 });
  return out;
}

/** A line naming what an attribution says about the app. */
export function describeAttribution(
  a: GuidanceAttribution,
  setting: number,
  graph: { guidance: 'baked' | 'none'; bakedScale?: number },
): string {
  const list = a.distances.map((d) => `${d.scale} (${d.meaning}): ${d.meanAbs.toFixed(2)}`).join(', ');
  if (!a.nearest)
    return `the image is not clearly nearer one guidance than another (separation ${a.separation.toFixed(2)} < ${SEPARATION}; mean |diff| in levels to Node at ${list})`;
  const n = a.nearest;
  const what =
    n.meaning === 'applied twice'
      ? `guidance applied twice: the image matches scale ${n.scale} = ${graph.bakedScale} baked into the graph x ${setting} applied again by the app`
      : n.meaning === 'expected'
        ? `the image matches the expected guidance ${n.scale}`
        : `the image matches guidance ${n.scale} (${n.meaning})`;
  return `${what} (mean |diff| in levels to Node at ${list})`;
}
