/** Messages between the app double's page (app.ts) and its worker (worker.ts), and its URL configuration. */

/** What the fixed double knows of its graph (from the bundle's manifest): the real app knows nothing of it. */
export type DoubleGraph = { kind: 'unknown' } | { kind: 'baked'; scale: number } | { kind: 'raw'; nullIndex: number };

export interface DoubleLoad {
  type: 'load';
  id: number;
  modelUrl: string;
  backend: 'webgpu' | 'wasm';
  numThreads: number;
  ortBase: string;
  size: number;
  graph: DoubleGraph;
  fixed: boolean;
}
export interface DoubleGenerate {
  type: 'generate';
  id: number;
  breedIndex: number;
  steps: number;
  cfgScale: number;
  seed: number;
}
export type DoubleToWorker = DoubleLoad | DoubleGenerate;

export type DoubleFromWorker =
  | { type: 'loaded'; id: number; backend: string; ms: number }
  | { type: 'progress'; id: number; step: number; totalSteps: number; stepTime: number; totalTime: number; rgba: Uint8ClampedArray }
  | { type: 'done'; id: number; totalTime: number }
  | { type: 'error'; id: number; message: string };

/**
 * The double's configuration, from its URL (a real app has these compiled in; the double takes them from the query so
 * that one build serves every case):
 *   model=URL      primary model URL (the real app's CDN URL; default /models/tinydit.onnx, which this server does not have)
 *   fallback=URL   local fallback path (default /bundle/model.onnx)
 *   size=N         image side (the real app hard-codes 128; default 128)
 *   ep=auto|wasm|webgpu  backend (auto, the real app's rule: webgpu whenever navigator.gpu exists)
 *   threads=N      wasm threads (default: the real app's rule, hardwareConcurrency when cross-origin isolated, else 1)
 *   fixed=1        the fixed double: guidance once, WebGPU failure falls back to wasm, download named after the breed shown
 *   graph=baked|raw, scale=S, null=N   what the fixed double knows of its graph (from the manifest)
 */
export interface DoubleConfig {
  model: string;
  fallback: string | null;
  size: number;
  ep: 'auto' | 'wasm' | 'webgpu';
  fixed: boolean;
  graph: DoubleGraph;
}

export function parseDoubleConfig(search: string): DoubleConfig {
  const q = new URLSearchParams(search);
  const num = (name: string, dflt: number): number => {
    const v = q.get(name);
    if (v === null || v === '') return dflt;
    const n = Number(v);
    if (!Number.isFinite(n)) throw new Error(`?${name}=${v}: not a number`);
    return n;
  };
  const ep = q.get('ep') ?? 'auto';
  if (ep !== 'auto' && ep !== 'wasm' && ep !== 'webgpu') throw new Error(`?ep=${ep}: expected auto, wasm or webgpu`);
  const kind = q.get('graph');
  const graph: DoubleGraph =
    kind === 'baked'
      ? { kind: 'baked', scale: num('scale', NaN) }
      : kind === 'raw'
        ? { kind: 'raw', nullIndex: num('null', NaN) }
        : { kind: 'unknown' };
  const fallback = q.get('fallback');
  return {
    model: q.get('model') ?? '/models/tinydit.onnx',
    fallback: fallback === '' ? null : (fallback ?? '/bundle/model.onnx'),
    size: num('size', 128),
    ep,
    fixed: q.get('fixed') === '1',
    graph,
  };
}
