/**
 * The app double's generation worker. It calls the model the way the real TinyDiT web app's worker does:
 *  - the execution provider the page chose ('webgpu' or 'wasm'); a WebGPU session that fails is an error, with no
 *    fallback (unless the page runs fixed, see below);
 *  - every step calls the graph with the breed, and, whenever cfgScale > 1, a second time with breed index -1 as
 *    the unconditional branch, mixing uncond + cfgScale * (cond - uncond) in double precision stored float32, on
 *    whatever graph it loaded: on the default export, which has guidance 1.5 baked in, guidance is applied twice.
 * Fixed (`fixed: true`): guidance is applied once. A baked graph is called once per step at its own scale (the page
 * offers no other); a raw graph gets the manifest's null index for the unconditional call.
 * Noise and pixels follow the contract (mulberry32 + Box-Muller in NCHW order; clip((x + 1) / 2 * 255)).
 */
import * as ort from 'onnxruntime-web/webgpu';
import { seededNoise } from '../../core/noise.js';
import { tensorToRGBA } from '../../core/image.js';
import type { DoubleFromWorker, DoubleToWorker, DoubleGraph } from './protocol.js';

const scope = self as unknown as DedicatedWorkerGlobalScope;
const post = (m: DoubleFromWorker, transfer: Transferable[] = []): void => scope.postMessage(m, transfer);

let session: ort.InferenceSession | null = null;
let size = 128;
let graph: DoubleGraph = { kind: 'unknown' };
let fixed = false;

function errorText(e: unknown): string {
  return e instanceof Error ? e.message || String(e) : String(e);
}

async function call(x: Float32Array, t: number, breed: number): Promise<Float32Array> {
  if (!session) throw new Error('no model loaded');
  const out = await session.run({
    noise: new ort.Tensor('float32', x, [1, 3, size, size]),
    timestep: new ort.Tensor('float32', new Float32Array([t]), [1]),
    breed: new ort.Tensor('int64', new BigInt64Array([BigInt(breed)]), [1]),
  });
  const v = out.velocity;
  if (!v) throw new Error(`the model has no output "velocity" (it has ${session.outputNames.join(', ')})`);
  return (await v.getData()) as Float32Array;
}

function mix(cond: Float32Array, uncond: Float32Array, s: number): Float32Array {
  const out = new Float32Array(cond.length);
  for (let i = 0; i < out.length; i++) out[i] = uncond[i]! + s * (cond[i]! - uncond[i]!);
  return out;
}

async function velocity(x: Float32Array, t: number, breed: number, cfgScale: number): Promise<Float32Array> {
  const cond = await call(x, t, breed);
  if (!fixed) {
    // The real app's habit: a second, unconditional call with index -1 whenever the slider is above 1.
    if (cfgScale > 1) return mix(cond, await call(x, t, -1), cfgScale);
    return cond;
  }
  if (graph.kind === 'raw' && cfgScale !== 1) return mix(cond, await call(x, t, graph.nullIndex), cfgScale);
  return cond;
}

scope.onmessage = async (ev: MessageEvent<DoubleToWorker>) => {
  const msg = ev.data;
  try {
    if (msg.type === 'load') {
      ort.env.wasm.wasmPaths = msg.ortBase;
      ort.env.wasm.numThreads = msg.numThreads;
      size = msg.size;
      graph = msg.graph;
      fixed = msg.fixed;
      const t0 = performance.now();
      session = await ort.InferenceSession.create(msg.modelUrl, { executionProviders: [msg.backend] });
      post({ type: 'loaded', id: msg.id, backend: msg.backend, ms: performance.now() - t0 });
      return;
    }
    const { breedIndex, steps, cfgScale, seed } = msg;
    const n = 3 * size * size;
    const x = seededNoise(seed, n);
    const start = performance.now();
    let last = start;
    for (let i = 0; i < steps; i++) {
      const v = await velocity(x, i / steps, breedIndex, cfgScale);
      for (let k = 0; k < n; k++) x[k] = x[k]! + (1 / steps) * v[k]!;
      if (i % 5 === 0 || i === steps - 1) {
        const now = performance.now();
        const rgba = tensorToRGBA(x, size);
        post({ type: 'progress', id: msg.id, step: i + 1, totalSteps: steps, stepTime: now - last, totalTime: now - start, rgba }, [
          rgba.buffer,
        ]);
        last = now;
      }
    }
    post({ type: 'done', id: msg.id, totalTime: performance.now() - start });
  } catch (e) {
    post({ type: 'error', id: msg.id, message: errorText(e) });
  }
};
