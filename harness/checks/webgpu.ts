/**
 * The WebGPU runtime's tolerance profile and its judgements (suites/browser/webgpu.spec.ts).
 *
 * onnxruntime-web's WebGPU execution provider computes in float32 like wasm, but with other kernels (tiled matmuls,
 * another reduction order, fused attention): its velocity differs from PyTorch's far more than the bundle's own
 * noise floor (the float32-vs-float64 spread) allows, about 100 times the difference onnxruntime-node or wasm shows.
 * The bundle's velocity and trajectory tolerances, which the CPU runtimes meet, would reject it; loosening them for
 * every runtime would blind the gate. So WebGPU has a profile of its own, the way the quantized variant has:
 *
 *  - measured: the worst error the WebGPU runtime showed on the embedded model (the command and conditions below);
 *  - margin: limits = margin x measured, so a driver or kernel change of the same order still passes;
 *  - a ceiling the gate owns, below the error of the mildest broken model the CPU runtimes catch (every float weight
 *    rounded to float16: the half-precision mutant). A profile over its ceiling is refused by the harness's own test
 *    (suites/harness/webgpu-profile.test.ts), which also measures that mutant in onnxruntime-node on the embedded
 *    bundle, so the ceiling's claim is checked, not assumed.
 *
 * Nothing in the bundle can move this profile: Python cannot run WebGPU, so a bundle has no measurement of it to offer.
 * The measures are relative (error norm / reference norm per sample), so they carry over to a larger model, whose
 * values are larger; a model on which WebGPU is genuinely worse fails here first and says by how much.
 */
import type { RgbaImage } from '../core/png.js';
import { compareImages } from '../core/png.js';

export interface WebgpuProfile {
  /** What the profile was derived from. */
  measured: {
    /** Worst relative L2 of one sample's velocity against the PyTorch golden (70 velocity cases, every breed and t). */
    velocityRelL2: number;
    /** Worst relative L2 of a free 50-step generation's final state against the golden trajectory's last state. */
    stateRelL2: number;
    /** Worst mean |image - golden PNG| in uint8 levels over those generations. */
    imageMeanAbs: number;
    how: string;
  };
  margin: number;
  velocityRelL2Max: number;
  stateRelL2Max: number;
  imageMeanAbsMax: number;
}

/** The gate's bounds on any WebGPU profile (the reasons are in the header and in docs/webgpu.md). */
export const WEBGPU_CEILING = {
  margin: 3,
  /** Half the smallest per-sample velocity error of the half-precision mutant (2.66e-4 on the embedded model). */
  velocityRelL2Max: 1.3e-4,
  /** Half the smallest final-state error of the half-precision mutant over the golden breeds (5.1e-4). */
  stateRelL2Max: 2.5e-4,
  /** A quarter of a level on average: float32 kernels, not a different image. */
  imageMeanAbsMax: 0.25,
} as const;

/**
 * Measured 2026-12-02 with `TINYDIT_WEBGPU_PLAN=full npx playwright test --project=chromium-webgpu` on the embedded
 * bundle (Debian Chromium, onnxruntime-web 1.30.0, adapter google / swiftshader; 2-core machine, another job running):
 * 65 velocity samples against PyTorch (worst 5.09e-5), 39 teacher-forced samples against onnxruntime-node (worst
 * 6.69e-5), 13 free 50-step generations (worst final state 7.87e-5, worst image 0.00358 levels: at most 1 level on
 * 11 of 3,072 values). Limits: margin x measured, the velocity one held at its ceiling (2 x 6.69e-5 = 1.34e-4 > 1.3e-4).
 */
export const WEBGPU_PROFILE: WebgpuProfile = {
  measured: {
    velocityRelL2: 6.69e-5,
    stateRelL2: 7.87e-5,
    imageMeanAbs: 0.00358,
    how: 'TINYDIT_WEBGPU_PLAN=full npx playwright test --project=chromium-webgpu, embedded bundle, SwiftShader, 2026-12-02',
  },
  margin: 2,
  velocityRelL2Max: 1.3e-4,
  stateRelL2Max: 1.57e-4,
  imageMeanAbsMax: 0.0071,
};

/** Problems of a profile against its ceiling and its own measurement (empty: a profile the gate may use). */
export function profileProblems(p: WebgpuProfile, ceiling = WEBGPU_CEILING): string[] {
  const out: string[] = [];
  if (!(p.margin >= 1 && p.margin <= ceiling.margin)) out.push(`margin ${p.margin} outside [1, ${ceiling.margin}]`);
  const pairs: Array<[keyof typeof ceiling & keyof WebgpuProfile, keyof WebgpuProfile['measured']]> = [
    ['velocityRelL2Max', 'velocityRelL2'],
    ['stateRelL2Max', 'stateRelL2'],
    ['imageMeanAbsMax', 'imageMeanAbs'],
  ];
  for (const [limit, measured] of pairs) {
    const v = p[limit] as number;
    const m = p.measured[measured] as number;
    if (!(v > 0) || !Number.isFinite(v)) out.push(`${limit} ${v} is not a positive number`);
    if (v > ceiling[limit]) out.push(`${limit} ${v} exceeds the gate's ceiling ${ceiling[limit]}`);
    if (v > p.margin * m * (1 + 1e-9)) out.push(`${limit} ${v} exceeds margin x measured = ${p.margin} x ${m}`);
  }
  return out;
}

/** Relative L2 of each sample: |a - b| / |b| over consecutive blocks of `per` values. */
export function relL2PerSample(actual: ArrayLike<number>, expected: ArrayLike<number>, per: number): number[] {
  if (actual.length !== expected.length || per <= 0 || expected.length % per !== 0)
    throw new Error(`relL2PerSample: ${actual.length} values against ${expected.length} in samples of ${per}`);
  const out: number[] = [];
  for (let s = 0; s < expected.length / per; s++) {
    let e2 = 0;
    let n2 = 0;
    for (let k = s * per; k < (s + 1) * per; k++) {
      const a = actual[k]!;
      const b = expected[k]!;
      e2 += (a - b) * (a - b);
      n2 += b * b;
    }
    // NaN in the output gives NaN: never a pass (the comparisons below are written so that NaN fails)
    out.push(Math.sqrt(e2) / Math.max(Math.sqrt(n2), 1e-12));
  }
  return out;
}

export interface ProfileJudgement {
  pass: boolean;
  /** The worst value measured, its limit and what it is. */
  worst: number;
  limit: number;
  /** Index of the worst sample. */
  worstAt: number;
  values: number[];
}

/** Every value must be at most the limit (NaN fails). */
export function withinLimit(values: number[], limit: number): ProfileJudgement {
  let worst = -Infinity;
  let worstAt = -1;
  values.forEach((v, i) => {
    const x = Number.isNaN(v) ? Infinity : v;
    if (x > worst) {
      worst = x;
      worstAt = i;
    }
  });
  return { pass: values.length > 0 && worst <= limit, worst, limit, worstAt, values };
}

/** The image against its golden PNG under the profile: mean |difference| in levels. */
export function imageAgainstGolden(image: RgbaImage, golden: RgbaImage, profile = WEBGPU_PROFILE) {
  const cmp = compareImages(image, golden);
  return { cmp, pass: cmp.meanAbsDiff <= profile.imageMeanAbsMax, limit: profile.imageMeanAbsMax };
}
