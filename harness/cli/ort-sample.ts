/**
 * Runs the shared TypeScript sampler (harness/core/sampler.ts) with onnxruntime-node and writes the final states
 * as .npy [B,3,H,W]. The Python producer uses it to measure the quantized variant's image-level error with
 * the exact sampler that Node and the browsers run.
 *   tsx harness/cli/ort-sample.ts --model M.onnx --guidance baked|none --scale 1.5 --null 13 --size 32 \
 *       --breeds 0,1,2 --seeds 7,7,7 --steps 50 --out x.npy
 */
import { writeFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { encodeNpy } from '../core/npy.js';
import { sample, type GuidanceMode, type SamplerModel } from '../core/sampler.js';

const argv = process.argv.slice(2);
function opt(name: string): string {
  const i = argv.indexOf(`--${name}`);
  if (i < 0 || argv[i + 1] === undefined) throw new Error(`missing --${name}`);
  return argv[i + 1]!;
}
const list = (s: string) => s.split(',').map(Number);
const size = Number(opt('size'));
const session = await ort.InferenceSession.create(opt('model'), { intraOpNumThreads: 2, interOpNumThreads: 1 });
const model: SamplerModel = {
  guidance: opt('guidance') as GuidanceMode,
  bakedScale: Number(opt('scale')),
  nullIndex: Number(opt('null')),
  channels: 3,
  imageSize: size,
  call: async (x, t, breed, batch) => {
    const out = await session.run({
      noise: new ort.Tensor('float32', x, [batch, 3, size, size]),
      timestep: new ort.Tensor('float32', t, [batch]),
      breed: new ort.Tensor('int64', breed, [batch]),
    });
    return out['velocity']!.data as Float32Array;
  },
};
const breeds = list(opt('breeds'));
const res = await sample(model, { breeds, seeds: list(opt('seeds')), steps: Number(opt('steps')), cfgScale: Number(opt('scale')) });
writeFileSync(opt('out'), encodeNpy({ dtype: 'float32', shape: [breeds.length, 3, size, size], data: res.x }));
