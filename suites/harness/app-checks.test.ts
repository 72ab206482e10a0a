/**
 * The app checks' judgement (harness/checks/app.ts) on made-up images: which guidance an image is attributed to, when
 * the attribution is refused as ambiguous, and what a baked or raw graph should give at a setting. The checks
 * themselves are shown failing on a real broken app by the mutant guidance-twice-app (npm run gate:power).
 */
import { describe, expect, it } from 'vitest';
import type { RgbaImage } from '../../harness/core/png.js';
import { attributeGuidance, describeAttribution, expectedScale, guidanceCandidates, SEPARATION } from '../../harness/checks/app.js';

/** A 4x4 image of one grey level. */
const grey = (v: number): RgbaImage => ({ width: 4, height: 4, data: new Uint8ClampedArray(64).map((_, i) => (i % 4 === 3 ? 255 : v)) });
const baked = { guidance: 'baked' as const, bakedScale: 1.5 };
const raw = { guidance: 'none' as const };

describe('app checks: guidance attribution', () => {
  it('app-checks:part=expected-scale', () => {
    expect(expectedScale(baked, 1.5)).toBe(1.5);
    // a baked graph cannot give another scale: the app must refuse it (null: no image is right)
    expect(expectedScale(baked, 1)).toBeNull();
    expect(expectedScale(baked, 3)).toBeNull();
    expect(expectedScale(raw, 2.2)).toBe(2.2);
  });

  it('app-checks:part=candidates', () => {
    // at setting 1 on a baked graph, baked x 1 = baked: it must read as "no effect", not "applied twice"
    const at1 = guidanceCandidates(baked, 1);
    expect(at1[0]).toEqual({ meaning: 'baked scale (the setting has no effect)', scale: 1.5 });
    expect(guidanceCandidates(baked, 1.5).map((c) => c.scale)).toEqual([1.5, 1.5, 2.25, 1.5, 1]);
    expect(guidanceCandidates(raw, 3).map((c) => c.meaning)).toEqual(['expected', 'the setting alone', 'no guidance']);
  });

  it('app-checks:part=attribution', () => {
    const cands = (s: number) => guidanceCandidates(baked, s).map((c) => ({ ...c, image: grey(100 + 10 * c.scale) }));
    // an image made at 2.25 (baked x 1.5): attributed to "applied twice", and the text says so
    const twice = attributeGuidance(grey(122.5), cands(1.5));
    expect(twice.nearest?.meaning).toBe('applied twice');
    expect(describeAttribution(twice, 1.5, baked)).toMatch(/^guidance applied twice: the image matches scale 2.25 = 1.5 baked/);
    // the expected one
    expect(attributeGuidance(grey(115), cands(1.5)).nearest?.meaning).toBe('expected');
    // halfway between 1.5 and 2.25: not clearly nearer either, so no attribution (the check then fails as ambiguous)
    const mid = attributeGuidance(grey(119), cands(1.5));
    expect(mid.separation).toBeLessThan(SEPARATION);
    expect(mid.nearest).toBeNull();
    expect(describeAttribution(mid, 1.5, baked)).toMatch(/not clearly nearer/);
    // an image of another size is infinitely far from every candidate
    const odd = attributeGuidance({ width: 2, height: 2, data: new Uint8ClampedArray(16) }, cands(1.5));
    expect(odd.distances.every((d) => d.meanAbs === Infinity)).toBe(true);
  });
});
