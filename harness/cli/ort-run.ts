/**
 * Runs one ONNX model once with onnxruntime-node on .npy inputs and writes its first output as .npy.
 * Used by the Python producer (export --verify) so that the export is checked by the runtime the gate uses.
 *   tsx harness/cli/ort-run.ts --model m.onnx --input noise=a.npy --input timestep=b.npy --input breed=c.npy --out v.npy
 */
import { readFileSync, writeFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { encodeNpy, parseNpy, type NpyArray } from '../core/npy.js';

function arg(name: string, all = false): string[] {
  const out: string[] = [];
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) if (argv[i] === `--${name}` && argv[i + 1] !== undefined) out.push(argv[++i]!);
  if (!all && out.length > 1) throw new Error(`--${name} given twice`);
  return out;
}

const model = arg('model')[0];
const outPath = arg('out')[0];
if (!model || !outPath) {
  console.error('usage: tsx harness/cli/ort-run.ts --model M.onnx --input NAME=FILE.npy ... --out OUT.npy [--threads N]');
  process.exit(2);
}
const threads = Number(arg('threads')[0] ?? '1');
const feeds: Record<string, ort.Tensor> = {};
for (const spec of arg('input', true)) {
  const [name, file] = spec.split('=') as [string, string];
  const arr = parseNpy(readFileSync(file), file);
  feeds[name] = new ort.Tensor(arr.dtype as 'float32', arr.data as Float32Array, arr.shape);
}
const session = await ort.InferenceSession.create(model, { intraOpNumThreads: threads, interOpNumThreads: 1 });
const result = await session.run(feeds);
const first = result[session.outputNames[0]!]!;
const out: NpyArray = { dtype: 'float32', shape: [...first.dims], data: first.data as Float32Array };
writeFileSync(outPath, encodeNpy(out));
