/**
 * The judge's plan per image size (harness/checks/yardstick.ts JUDGE_PLANS) and the x-prediction head's output gain
 * (harness/model/bundle.ts outputGain): the parts of the 128 px profile that are plain rules.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../harness/core/config.js';
import { rangeHalvedPixel, redBlueSwapped } from '../../harness/core/image.js';
import { JUDGE_PLANS, JUDGE_SEEDS_PER_BREED, judgePlan, loadYardstick, PINNED_YARDSTICKS } from '../../harness/checks/yardstick.js';
import { outputGain, X_PREDICTION_T_EPS, type ModelConfig } from '../../harness/model/bundle.js';

const CONFIG: ModelConfig = {
  name: 't',
  image_size: 128,
  patch_size: 16,
  embed_dim: 384,
  depth: 12,
  num_heads: 6,
  mlp_ratio: 4,
  num_classes: 13,
  in_channels: 3,
};

describe('the judge plan per image size', () => {
  it('32 px keeps the full plan; a size without an entry gets it too, never a smaller one', () => {
    expect(judgePlan(32)).toEqual(JUDGE_PLANS[32]);
    expect(judgePlan(32).seedsPerBreed).toBe(JUDGE_SEEDS_PER_BREED);
    expect(judgePlan(32).imageProofs).toEqual([]);
    expect(judgePlan(64)).toBe(JUDGE_PLANS[32]);
  });
  it('128 px samples 8 per breed and proves three breakages by image; every size it plans has a pinned yardstick', () => {
    const p = judgePlan(128);
    expect(p.seedsPerBreed).toBe(8);
    expect([...p.imageProofs].sort()).toEqual(['breeds-rolled', 'channels-swapped', 'pixel-range-halved']);
    for (const size of Object.keys(JUDGE_PLANS).map(Number)) {
      const ids = Object.keys(PINNED_YARDSTICKS).filter((id) => loadYardstick(id).imageSize === size);
      expect(ids.length, `no pinned yardstick judges ${size} px`).toBeGreaterThan(0);
    }
  });
});

describe('outputGain: how an offset of the network output reaches the velocity', () => {
  it('1 for a velocity head (prediction absent or velocity); 1 / max(1 - t, eps) for an x head', () => {
    expect(outputGain(CONFIG, 0.5)).toBe(1);
    expect(outputGain({ ...CONFIG, prediction: 'velocity' }, 0.9)).toBe(1);
    expect(outputGain({ ...CONFIG, prediction: 'x' }, 0)).toBe(1);
    expect(outputGain({ ...CONFIG, prediction: 'x' }, 0.5)).toBe(2);
    expect(outputGain({ ...CONFIG, prediction: 'x' }, 1)).toBeCloseTo(1 / X_PREDICTION_T_EPS, 12);
  });
  it('the floor on 1 - t is the one the exporting model uses (reference/python/tinydit/model.py PREDICTION_T_EPS)', () => {
    const py = readFileSync(join(REPO_ROOT, 'reference/python/tinydit/model.py'), 'utf8');
    const m = /^PREDICTION_T_EPS\s*=\s*([0-9.eE+-]+)\s*$/m.exec(py);
    expect(m, 'model.py no longer defines PREDICTION_T_EPS at top level').not.toBeNull();
    expect(Number(m![1])).toBe(X_PREDICTION_T_EPS);
  });
});

describe('the image breakages the judge proofs apply (harness/core/image.ts)', () => {
  it('red and blue exchange in RGB and in RGBA (alpha kept); the range halves about mid-grey', () => {
    expect([...redBlueSwapped(Uint8Array.from([1, 2, 3, 4, 5, 6]), 3)]).toEqual([3, 2, 1, 6, 5, 4]);
    expect([...redBlueSwapped(Uint8ClampedArray.from([1, 2, 3, 255, 4, 5, 6, 128]), 4)]).toEqual([3, 2, 1, 255, 6, 5, 4, 128]);
    expect([0, 128, 255].map(rangeHalvedPixel)).toEqual([64, 128, 191]);
  });
});
