/**
 * The app double: a stand-in, written here, for the real TinyDiT web app, with the real app's habits (its worker is
 * worker.ts; its configuration comes from the URL, see protocol.ts parseDoubleConfig):
 *  - backend: WebGPU whenever navigator.gpu exists, else wasm; a WebGPU session that fails is shown as an error,
 *    with no fallback to wasm;
 *  - the model comes from a primary URL, with a local fallback path when that fails;
 *  - guidance applied on top of the graph with breed index -1 whenever the scale is above 1 (twice on a baked graph);
 *  - UI: breed selector, steps 10..100 (step 5, default 50), guidance 1.0..3.0 (step 0.1, default 1.5), seed, Generate,
 *    a progress counter every 5 steps and at the last, a canvas, Download;
 *  - the download's file name takes the breed selected when the button is clicked, not the breed shown.
 * With ?fixed=1 those habits are fixed: guidance once (a baked graph's scale is the only one offered), a failing WebGPU
 * session falls back to wasm, the download is named after the breed shown. Nothing here is exposed to scripts: the
 * suites drive it through its UI (harness/apps/double-adapter.ts).
 */
import { BREEDS } from '../../runtimes/web/protocol.js';
import { parseDoubleConfig, type DoubleFromWorker, type DoubleToWorker } from './protocol.js';

const $ = <T extends HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} missing from the page`);
  return el as T;
};
const ui = {
  error: $<HTMLDivElement>('error'),
  breed: $<HTMLSelectElement>('breed'),
  steps: $<HTMLInputElement>('steps'),
  stepsValue: $<HTMLOutputElement>('steps-value'),
  cfg: $<HTMLInputElement>('cfg'),
  cfgValue: $<HTMLOutputElement>('cfg-value'),
  seed: $<HTMLInputElement>('seed'),
  generate: $<HTMLButtonElement>('generate'),
  download: $<HTMLButtonElement>('download'),
  status: $<HTMLDivElement>('model-status'),
  backend: $<HTMLDivElement>('backend'),
  canvas: $<HTMLCanvasElement>('canvas'),
  progress: $<HTMLDivElement>('progress'),
  timing: $<HTMLDivElement>('timing'),
};

function showError(text: string): void {
  ui.error.textContent = text;
  ui.error.hidden = false;
}

const config = (() => {
  try {
    return parseDoubleConfig(location.search);
  } catch (e) {
    showError(`Bad configuration: ${(e as Error).message}`);
    throw e;
  }
})();

BREEDS.forEach((name, i) => ui.breed.add(new Option(name, String(i))));
ui.canvas.width = ui.canvas.height = config.size;
ui.steps.addEventListener('input', () => (ui.stepsValue.value = ui.steps.value));
ui.cfg.addEventListener('input', () => (ui.cfgValue.value = ui.cfg.value));
if (config.fixed && config.graph.kind === 'baked') {
  // The graph's scale is the only one it can give: offer only that one.
  ui.cfg.min = ui.cfg.max = ui.cfg.value = String(config.graph.scale);
  ui.cfg.disabled = true;
  ui.cfgValue.value = ui.cfg.value;
}

const ortBase = new URL('/ort/', location.href).href;
const numThreads =
  Number(new URLSearchParams(location.search).get('threads') ?? '') || (crossOriginIsolated ? navigator.hardwareConcurrency : 1);
let worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
let nextId = 1;
const pending = new Map<
  number,
  { resolve: (m: DoubleFromWorker) => void; reject: (e: Error) => void; onProgress?: (m: DoubleFromWorker) => void }
>();

function wire(w: Worker): void {
  w.onmessage = (ev: MessageEvent<DoubleFromWorker>) => {
    const m = ev.data;
    const p = pending.get(m.id);
    if (!p) return;
    if (m.type === 'progress') return p.onProgress?.(m);
    pending.delete(m.id);
    if (m.type === 'error') p.reject(new Error(m.message));
    else p.resolve(m);
  };
  w.onerror = (ev) => {
    for (const [id, p] of pending) {
      pending.delete(id);
      p.reject(new Error(`worker error: ${ev.message}`));
    }
  };
}
wire(worker);

type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;

function ask(msg: WithoutId<DoubleToWorker>, onProgress?: (m: DoubleFromWorker) => void): Promise<DoubleFromWorker> {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject, ...(onProgress ? { onProgress } : {}) });
    worker.postMessage({ ...msg, id } as DoubleToWorker);
  });
}

async function loadFrom(url: string, backend: 'webgpu' | 'wasm'): Promise<void> {
  await ask({
    type: 'load',
    modelUrl: new URL(url, location.href).href,
    backend,
    numThreads,
    ortBase,
    size: config.size,
    graph: config.graph,
    fixed: config.fixed,
  });
}

async function loadModel(): Promise<void> {
  const wanted: 'webgpu' | 'wasm' = config.ep === 'auto' ? ('gpu' in navigator ? 'webgpu' : 'wasm') : config.ep;
  const backends: Array<'webgpu' | 'wasm'> = config.fixed && wanted === 'webgpu' ? ['webgpu', 'wasm'] : [wanted];
  const errors: string[] = [];
  for (const backend of backends) {
    for (const url of [config.model, ...(config.fallback ? [config.fallback] : [])]) {
      try {
        await loadFrom(url, backend);
        ui.status.textContent = `Model ready (${url}).`;
        ui.backend.textContent = `Backend: ${backend}${errors.length ? ` (after: ${errors.join('; ')})` : ''}`;
        ui.backend.dataset.backend = backend;
        ui.generate.disabled = false;
        return;
      } catch (e) {
        errors.push(`${backend} ${url}: ${(e as Error).message}`);
      }
    }
    if (backend === 'webgpu' && backends.length > 1) {
      // a failed WebGPU session can leave the worker unusable: start a new one for wasm
      worker.terminate();
      worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
      wire(worker);
    }
  }
  ui.status.textContent = 'No model.';
  showError(`Failed to load the model: ${errors.join('; ')}`);
}

let shownBreed: number | null = null;

ui.generate.addEventListener('click', async () => {
  const breedIndex = Number(ui.breed.value);
  const steps = Number(ui.steps.value);
  const cfgScale = Number(ui.cfg.value);
  const seed = Number(ui.seed.value);
  ui.generate.disabled = true;
  ui.download.disabled = true;
  ui.error.hidden = true;
  ui.progress.textContent = `Step 0 / ${steps}`;
  const ctx = ui.canvas.getContext('2d');
  if (!ctx) return showError('no 2d canvas context');
  try {
    const done = await ask({ type: 'generate', breedIndex, steps, cfgScale, seed }, (m) => {
      if (m.type !== 'progress') return;
      ctx.putImageData(new ImageData(new Uint8ClampedArray(m.rgba), config.size, config.size), 0, 0);
      ui.progress.textContent = `Step ${m.step} / ${m.totalSteps}`;
    });
    if (done.type === 'done') ui.timing.textContent = `Done in ${(done.totalTime / 1000).toFixed(2)} s`;
    shownBreed = breedIndex;
    ui.download.disabled = false;
  } catch (e) {
    showError(`Generation failed: ${(e as Error).message}`);
  } finally {
    ui.generate.disabled = false;
  }
});

ui.download.addEventListener('click', () => {
  // The real app's habit: the name comes from the breed selected now, which need not be the one shown.
  const breed = config.fixed && shownBreed !== null ? shownBreed : Number(ui.breed.value);
  const name = `cat_${BREEDS[breed]!.toLowerCase().replace(/\s+/g, '_')}_${Date.now()}.png`;
  const a = document.createElement('a');
  a.href = ui.canvas.toDataURL('image/png');
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
});

void loadModel();
