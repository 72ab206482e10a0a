/**
 * The behaviour checks on an x-prediction head (manifest identity.config.prediction 'x'), on small synthetic graphs
 * written here in TypeScript: the graph returns v = (x_hat - x_t) / max(1 - t, eps) whatever its network does, so v
 * carries -x_t / (1 - t) even when the network is broken. Each check must judge x_hat there and catch the network's
 * breakage; judged on v as for a velocity head, it passes the same broken network (the blindness this guards against,
 * first seen on the 128 px production model). The thresholds themselves are calibrated on real models
 * (harness/checks/behaviour.ts); these graphs only fix the logic.
 */
import { describe, expect, it } from 'vitest';
import {
  checkDependsOnBreed,
  checkDependsOnTime,
  checkLocality,
  checkVelocityNonZero,
  LOCALITY_T_X,
  smoothPatchChange,
} from '../../harness/checks/behaviour.js';
import { X_PREDICTION_T_EPS } from '../../harness/model/bundle.js';
import type { VelocityRunner } from '../../harness/runtimes/node.js';

const SIZE = 8;
const PATCH = 4;
const C = 3;
const BREEDS = 4;
const N = C * SIZE * SIZE;
/** A colour per breed: what the network predicts where the input is noise. */
const COLOURS = [
  [0.6, -0.2, 0.1],
  [-0.5, 0.4, 0.3],
  [0.2, 0.7, -0.6],
  [-0.3, -0.6, 0.5],
];

type Network = (xt: Float32Array, t: number, breed: number) => Float32Array;

/**
 * A denoiser that knows the breed's colour: x_hat = t^2 x_t + (1 - t^2) colour, in place, pixel for pixel (it removes
 * more of the noise than x_t holds, as a trained one does).
 */
const goodNetwork =
  (colours = COLOURS): Network =>
  (xt, t, breed) =>
    xt.map((q, i) => t * t * q + (1 - t * t) * colours[breed]![Math.floor(i / (SIZE * SIZE))]!);

/** The network's output written through another pixel order (an unpatchify that disagrees with the patch embedding). */
const permuted =
  (net: Network, where: (c: number, y: number, x: number) => [number, number]): Network =>
  (xt, t, breed) => {
    const o = net(xt, t, breed);
    const out = new Float32Array(N);
    for (let c = 0; c < C; c++)
      for (let y = 0; y < SIZE; y++)
        for (let x = 0; x < SIZE; x++) {
          const [yy, xx] = where(c, y, x);
          out[c * SIZE * SIZE + yy * SIZE + xx] = o[c * SIZE * SIZE + y * SIZE + x]!;
        }
    return out;
  };

const patchTransposed = (net: Network) =>
  permuted(net, (_c, y, x) => {
    const [gy, gx, py, px] = [Math.floor(y / PATCH), Math.floor(x / PATCH), y % PATCH, x % PATCH];
    return [gy * PATCH + px, gx * PATCH + py];
  });
const gridTransposed = (net: Network) =>
  permuted(net, (_c, y, x) => {
    const [gy, gx, py, px] = [Math.floor(y / PATCH), Math.floor(x / PATCH), y % PATCH, x % PATCH];
    return [gx * PATCH + py, gy * PATCH + px];
  });

/** The graph around an x-prediction network: v = (x_hat - x_t) / max(1 - t, eps), as the export writes it. */
function xHeadGraph(net: Network, label: string): VelocityRunner {
  return {
    label,
    source: `${label} (synthetic x-prediction graph)`,
    guidance: 'none',
    nullIndex: BREEDS,
    channels: C,
    imageSize: SIZE,
    async run(x, t, breed, batch) {
      const v = new Float32Array(batch * N);
      for (let k = 0; k < batch; k++) {
        const xt = x.slice(k * N, (k + 1) * N);
        const xHat = net(xt, t[k]!, Number(breed[k]!));
        const s = Math.max(1 - t[k]!, X_PREDICTION_T_EPS);
        for (let i = 0; i < N; i++) v[k * N + i] = (xHat[i]! - xt[i]!) / s;
      }
      return v;
    },
    async release() {},
  };
}

const good = xHeadGraph(goodNetwork(), 'good');

describe('behaviour checks judge what an x-prediction head predicts', () => {
  it('nonzero: a zeroed output layer (x_hat = 0) fails; judged on v alone it passes, v = -x_t / (1 - t)', async () => {
    expect((await checkVelocityNonZero(good, BREEDS, 'x')).pass).toBe(true);
    const zero = xHeadGraph((xt) => new Float32Array(xt.length), 'zeroed output layer');
    const r = await checkVelocityNonZero(zero, BREEDS, 'x');
    expect(r.pass).toBe(false);
    expect(r.metric).toBeLessThan(1e-6);
    expect(r.message).toMatch(/predicted image x_hat .* is \(near\) zero/);
    expect((await checkVelocityNonZero(zero, BREEDS, 'velocity')).pass).toBe(true);
  });

  it('nonzero: a network that returns its input as the clean image (v = 0) fails and is named so', async () => {
    const echo = xHeadGraph((xt) => xt.slice(), 'x_hat = x_t');
    const r = await checkVelocityNonZero(echo, BREEDS, 'x');
    expect(r.pass).toBe(false);
    expect(r.message).toMatch(/returns its input as the clean image/);
  });

  it('depends-on-t: a t-blind network fails on x_hat; on v the graph division by 1 - t hides it', async () => {
    expect((await checkDependsOnTime(good, BREEDS, 0.1, 0.9, 'x')).pass).toBe(true);
    const blind = xHeadGraph((xt, _t, b) => goodNetwork()(xt, 0.5, b), 't-blind');
    expect((await checkDependsOnTime(blind, BREEDS, 0.1, 0.9, 'x')).pass).toBe(false);
    expect((await checkDependsOnTime(blind, BREEDS, 0.1, 0.9, 'velocity')).pass).toBe(true);
  });

  it('depends-on-breed: two breeds drawn alike are named, and the ratio is of x_hat, undiluted by -x_t / (1 - t)', async () => {
    const same = COLOURS.map((c, k) => (k === 3 ? COLOURS[1]! : c));
    const pair = xHeadGraph(goodNetwork(same), 'breeds 1 and 3 alike');
    const names = ['A', 'B', 'C', 'D'];
    const r = await checkDependsOnBreed(pair, BREEDS, 0.5, null, { breedNames: names, prediction: 'x' });
    expect(r.pass).toBe(false);
    expect(r.message).toMatch(/drawn alike: B ~ D:/);
    const onX = await checkDependsOnBreed(good, BREEDS, 0.5, null, { breedNames: names, prediction: 'x' });
    const onV = await checkDependsOnBreed(good, BREEDS, 0.5, null, { breedNames: names });
    expect(onX.pass).toBe(true);
    expect(onX.metric).toBeGreaterThan(onV.metric);
  });

  it('locality: near t = 1 a change in one patch comes back in place; a transposed patch or grid fails, and v cannot see either', async () => {
    const ok = await checkLocality(good, BREEDS, PATCH, { prediction: 'x' });
    expect(ok.pass, ok.message).toBe(true);
    expect(ok.detail.t).toBe(LOCALITY_T_X);
    expect(ok.metric).toBeCloseTo(1, 5);
    const inPatch = await checkLocality(xHeadGraph(patchTransposed(goodNetwork()), 'patch transposed'), BREEDS, PATCH, { prediction: 'x' });
    expect(inPatch.pass).toBe(false);
    expect(inPatch.message).toMatch(/orders the pixels of a patch differently/);
    const grid = xHeadGraph(gridTransposed(goodNetwork()), 'grid transposed');
    const moved = await checkLocality(grid, BREEDS, PATCH, { prediction: 'x' });
    expect(moved.pass).toBe(false);
    expect(moved.message).toMatch(/unpatchify puts pixels in other places/);
    // the velocity-head probe (t = 0): v = x_hat - x_t carries -dx in place whatever the network's pixel order
    expect((await checkLocality(grid, BREEDS, PATCH)).pass).toBe(true);
  });

  it('the smooth patch change is antisymmetric: transposed inside the patch it is exactly its negative', () => {
    const d = smoothPatchChange(1, PATCH, C);
    for (let c = 0; c < C; c++)
      for (let y = 0; y < PATCH; y++)
        for (let x = 0; x < PATCH; x++) expect(d[(c * PATCH + x) * PATCH + y]).toBeCloseTo(-d[(c * PATCH + y) * PATCH + x]!, 6);
    expect(Math.max(...d.map(Math.abs))).toBeGreaterThan(0.1);
  });
});
