/**
 * The reference page: exposes the web app's generation API on window.tinydit and a small UI over it.
 * Generation runs in a module Web Worker (worker.ts); this file only moves messages, draws and reports.
 *
 * URL parameters:
 *   ?fault=double-guidance|breed-off-by-one|skip-progress|stall   break the page on purpose (see protocol.ts FAULTS)
 *   ?autoload=1   load a model at start-up, from ?model= (default /bundle/model.onnx), with ?guidance=,
 *                 ?scale=, ?null=, ?size=, or else the values of /bundle/manifest.json where it has them
 */
import {
  BREEDS,
  FAULTS,
  ORT_INIT_ATTEMPTS,
  ORT_INIT_TIMEOUT_ERROR,
  ORT_INIT_WATCHDOG_MS,
  downloadFileName,
  parseFaults,
  type Fault,
  type FromWorker,
  type GenerateOptions,
  type GenerateResult,
  type LoadInfo,
  type LoadOptions,
  type ProgressEvent,
  type ToWorker,
  type WorkerDone,
} from './protocol.js';

type State = 'idle' | 'loading' | 'ready' | 'generating' | 'error';

/** The first attempt's initialization limit under ?fault=init-timeout (that attempt never finishes). */
const FAULT_INIT_TIMEOUT_MS = 2_000;

/**
 * The page's limit for one worker to reach 'backend-ready' (runtime files, the model's fetch, onnxruntime-web's wasm
 * backend initialization), per attempt, whatever the caller's load timeout (which does not count the initialization).
 * Measured 2026-11-30 on the 2 shared cores (suites/browser/smoke.spec.ts, LoadInfo.initMs of 22 loads),
 * under a gate run and other work (load average 7 to 14): Chromium 6.5 to 11.1 s, Firefox 3.0 to 4.9 s, WebKit 6.9
 * to 19.3 s; at load average 4 to 7, Firefox 1.4 to 2.7 s. 3 of 14 Firefox first attempts never got ready in 45 s
 * (the known hang, docs/gate-power.md "False rejects"); each retry was ready in 3 to 5 s. So:
 * - first attempt: ORT_INIT_TIMEOUT_MS (45 s, 2.3x the slowest initialization measured, 9x Firefox's slowest): a
 *   hang is abandoned after 45 s, not after minutes;
 * - the last attempt: 120 s (6x the slowest measured), so that an initialization slowed past 45 s by the machine's
 *   load, not hung, still completes in the retry instead of failing the load.
 * (The old limit, half the caller's timeout, was 10 s for the smoke test's 20 s loads: below Chromium's 11.1 s and
 * WebKit's 15.6 to 19.3 s under load, so a page that loads and runs a model failed "a missing or corrupt model
 * fails visibly" with two initialization timeouts instead of the parse error.)
 */
const INIT_WATCHDOG_MS = ORT_INIT_WATCHDOG_MS;
/** The watchdog of an attempt (1-based): INIT_WATCHDOG_MS's entry, its last one for the later attempts. */
function initWatchdogMs(attempt: number): number {
  return INIT_WATCHDOG_MS[Math.min(attempt, INIT_WATCHDOG_MS.length) - 1]!;
}

const $ = <T extends HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`page is missing #${id}`);
  return el as T;
};

const ui = {
  error: $<HTMLDivElement>('error'),
  faults: $<HTMLDivElement>('faults'),
  status: $<HTMLDivElement>('status'),
  modelUrl: $<HTMLInputElement>('model-url'),
  guidance: $<HTMLSelectElement>('guidance'),
  bakedScale: $<HTMLInputElement>('baked-scale'),
  nullIndex: $<HTMLInputElement>('null-index'),
  imageSize: $<HTMLInputElement>('image-size'),
  loadBtn: $<HTMLButtonElement>('load'),
  breed: $<HTMLSelectElement>('breed'),
  steps: $<HTMLInputElement>('steps'),
  cfg: $<HTMLInputElement>('cfg'),
  seed: $<HTMLInputElement>('seed'),
  generateBtn: $<HTMLButtonElement>('generate'),
  downloadBtn: $<HTMLButtonElement>('download'),
  canvas: $<HTMLCanvasElement>('canvas'),
  progress: $<HTMLProgressElement>('progress'),
  progressText: $<HTMLDivElement>('progress-text'),
  breedName: $<HTMLElement>('breed-name'),
  timing: $<HTMLDivElement>('timing'),
  info: $<HTMLDivElement>('info'),
};

BREEDS.forEach((name, i) => ui.breed.add(new Option(`${i} ${name}`, String(i))));

let urlFaults: Fault[] = [];
let faultError: Error | null = null;
try {
  urlFaults = parseFaults(location.search);
} catch (err) {
  faultError = err as Error;
}
/** The active faults: the URL's, plus those of setFaults(). */
let faults: Fault[] = urlFaults;

let state: State = 'idle';
let worker: Worker | null = null;
let loadedInfo: LoadInfo | null = null;
let loadedOpts: LoadOptions | null = null;
/** What the current worker's wasm backend was initialized with (set by its first successful load). */
let workerSetup: { numThreads: number; ortBase: string } | null = null;
let shownBreed: number | null = null;
let nextId = 1;

interface Pending {
  resolve: (msg: FromWorker) => void;
  reject: (err: Error) => void;
  onProgress?: (msg: FromWorker) => void;
}
const pending = new Map<number, Pending>();

function setState(s: State): void {
  state = s;
  document.body.dataset.state = s;
  ui.loadBtn.disabled = s === 'loading' || s === 'generating';
  ui.generateBtn.disabled = s !== 'ready';
  ui.downloadBtn.disabled = s === 'generating' || shownBreed === null;
}

function showError(message: string): void {
  ui.error.textContent = message;
  ui.error.hidden = false;
}
function clearError(): void {
  ui.error.textContent = '';
  ui.error.hidden = true;
}

function fail(err: unknown, s: State): Error {
  const e = err instanceof Error ? err : new Error(String(err));
  showError(e.message);
  setState(s);
  return e;
}

function rejectAll(err: Error): void {
  for (const p of pending.values()) p.reject(err);
  pending.clear();
}

function startWorker(): Worker {
  worker?.terminate();
  rejectAll(new Error('the worker was replaced by a new load()'));
  const w = new Worker(new URL('./worker.js', import.meta.url), { type: 'module', name: 'tinydit-generation' });
  w.onmessage = (ev: MessageEvent<FromWorker>) => {
    const msg = ev.data;
    const p = pending.get(msg.id);
    if (!p) return;
    if (msg.type === 'progress' || msg.type === 'stage') {
      p.onProgress?.(msg);
      return;
    }
    pending.delete(msg.id);
    if (msg.type === 'error') p.reject(new Error(msg.message));
    else p.resolve(msg);
  };
  w.onerror = (ev: ErrorEvent) => {
    ev.preventDefault();
    const where = ev.filename ? ` (${ev.filename}:${ev.lineno})` : '';
    // The worker is unusable now (its script did not load, or it crashed): drop it and its model.
    w.terminate();
    if (worker === w) {
      worker = null;
      workerSetup = null;
      loadedInfo = null;
      loadedOpts = null;
    }
    rejectAll(
      new Error(`the generation worker failed${where}: ${ev.message || 'could not start (script missing or not a module worker?)'}`),
    );
  };
  w.onmessageerror = () => rejectAll(new Error('a message from the generation worker could not be read'));
  worker = w;
  return w;
}

function request(msg: ToWorker, transfer: Transferable[] = [], onProgress?: (m: FromWorker) => void, timeoutMs = 0): Promise<FromWorker> {
  const w = worker;
  if (!w) return Promise.reject(new Error('no worker'));
  return new Promise((resolve, reject) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const done = (): void => {
      if (timer) clearTimeout(timer);
    };
    pending.set(msg.id, {
      resolve: (m) => {
        done();
        resolve(m);
      },
      reject: (e) => {
        done();
        reject(e);
      },
      ...(onProgress ? { onProgress } : {}),
    });
    if (timeoutMs > 0) {
      timer = setTimeout(() => {
        pending.delete(msg.id);
        reject(new Error(`${msg.type} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
    }
    w.postMessage(msg, transfer);
  });
}

function checkLoadOptions(o: LoadOptions): void {
  if (!o || typeof o !== 'object') throw new Error('load() needs an options object');
  if (typeof o.modelUrl !== 'string' || !o.modelUrl) throw new Error('load(): modelUrl is required');
  if (o.guidance !== 'baked' && o.guidance !== 'none')
    throw new Error(`load(): guidance must be 'baked' or 'none', got ${String(o.guidance)}`);
  if (!Number.isInteger(o.nullIndex) || o.nullIndex < 0)
    throw new Error(`load(): nullIndex must be a non-negative integer, got ${String(o.nullIndex)}`);
  for (const k of ['imageSize', 'channels'] as const) {
    const v = o[k];
    if (v !== undefined && (!Number.isInteger(v) || v < 1))
      throw new Error(`load(): ${k} must be a positive integer when given, got ${String(v)}`);
  }
  if (o.bakedScale !== undefined && !Number.isFinite(o.bakedScale)) throw new Error('load(): bakedScale must be a number');
  if (o.numThreads !== undefined && (!Number.isInteger(o.numThreads) || o.numThreads < 1))
    throw new Error('load(): numThreads must be a positive integer');
  if (o.ortBase !== undefined && (typeof o.ortBase !== 'string' || !o.ortBase.endsWith('/')))
    throw new Error(`load(): ortBase must be a folder URL ending in /, got ${String(o.ortBase)}`);
}

async function load(opts: LoadOptions): Promise<LoadInfo> {
  clearError();
  setState('loading');
  ui.status.textContent = `Loading ${opts?.modelUrl ?? '?'} ...`;
  try {
    if (faultError) throw faultError;
    checkLoadOptions(opts);
    loadedInfo = null;
    loadedOpts = null;
    const numThreads = opts.numThreads ?? (self.crossOriginIsolated ? navigator.hardwareConcurrency || 1 : 1);
    const modelUrl = new URL(opts.modelUrl, location.href).href;
    const ortBase = new URL(opts.ortBase ?? '/ort/', location.href).href;
    // A new worker per attempt; only a timeout of onnxruntime-web's backend initialization (after the model's
    // fetch, before its parsing) is retried, once, and reported in LoadInfo: every other error fails the load at once.
    // Two clocks, so that a slow initialization on a loaded machine is never taken for a failed load:
    // - the watchdog (INIT_WATCHDOG_MS, a measured bound per attempt, above) runs until the worker's 'backend-ready' and is the
    //   only limit before it; it does not shrink with the caller's timeout;
    // - the caller's timeoutMs bounds the load's own work (runtime files, fetch, parsing, contract checks), not the
    //   backend initialization: from 'backend-ready' on it runs with what the load had left, the initialization's
    //   own time (the worker's measurement) not counted.
    const initFailures: string[] = [];
    const loadTimeoutMs = opts.timeoutMs ?? 120_000;
    let msg: FromWorker | null = null;
    // The previous load's worker is kept when its backend fits (same threads and runtime files) and it is idle:
    // onnxruntime-web's wasm is then not fetched and compiled again. Any failure below drops the worker.
    const reuse =
      worker !== null &&
      pending.size === 0 &&
      workerSetup !== null &&
      workerSetup.numThreads === numThreads &&
      workerSetup.ortBase === ortBase;
    if (!reuse) workerSetup = null;
    for (let attempt = 1; attempt <= ORT_INIT_ATTEMPTS && msg === null; attempt++) {
      const w = reuse && attempt === 1 && worker ? worker : startWorker();
      const id = nextId++;
      // The page's own timer (a worker stuck in initialization may not even run its own timers); under the
      // init-timeout fault the first attempt hangs for sure, so its timer is short: the same path, sooner.
      const limitMs = faults.includes('init-timeout') && attempt === 1 ? FAULT_INIT_TIMEOUT_MS : initWatchdogMs(attempt);
      const started = performance.now();
      const abandon = (message: string): void => {
        const p = pending.get(id);
        if (!p || worker !== w) return;
        pending.delete(id);
        w.terminate();
        p.reject(new Error(message));
      };
      const watchdog = setTimeout(
        () =>
          abandon(
            `${ORT_INIT_TIMEOUT_ERROR}: no 'backend-ready' from worker attempt ${attempt} after ${limitMs} ms ` +
              `(${numThreads} thread(s); the model had not been parsed yet)`,
          ),
        limitMs,
      );
      let loadTimer: ReturnType<typeof setTimeout> | undefined;
      const onStage = (m: FromWorker): void => {
        if (m.type !== 'stage' || m.stage !== 'backend-ready') return;
        clearTimeout(watchdog);
        const ownMs = Math.max(0, performance.now() - started - m.ms);
        loadTimer = setTimeout(
          () =>
            abandon(
              `load timed out after ${loadTimeoutMs} ms of loading ` +
                `(onnxruntime-web's backend initialization, ${m.ms.toFixed(0)} ms, not counted)`,
            ),
          Math.max(0, loadTimeoutMs - ownMs),
        );
      };
      try {
        msg = await request(
          { type: 'load', id, attempt, opts: { ...opts, modelUrl, numThreads }, ortBase, faults, ...(reuse ? { reuse: true } : {}) },
          [],
          onStage,
        );
      } catch (err) {
        const m = err instanceof Error ? err.message : String(err);
        if (!m.startsWith(ORT_INIT_TIMEOUT_ERROR) || attempt === ORT_INIT_ATTEMPTS) {
          throw new Error(initFailures.length ? `${m} (after ${initFailures.length} earlier attempt(s): ${initFailures.join('; ')})` : m);
        }
        initFailures.push(m);
        console.warn(`tinydit: ${m}; starting a new worker (attempt ${attempt + 1} of ${ORT_INIT_ATTEMPTS})`);
      } finally {
        clearTimeout(watchdog);
        clearTimeout(loadTimer);
      }
    }
    if (msg === null || msg.type !== 'loaded') throw new Error(`unexpected worker reply ${msg?.type ?? 'none'}`);
    msg.info.initFailures = initFailures;
    loadedInfo = msg.info;
    loadedOpts = opts;
    workerSetup = { numThreads, ortBase };
    ui.canvas.width = msg.info.imageSize;
    ui.canvas.height = msg.info.imageSize;
    ui.imageSize.value = String(msg.info.imageSize);
    ui.status.textContent = `Loaded ${opts.modelUrl}: wasm, ${msg.info.numThreads} thread(s), session ${msg.info.sessionMs.toFixed(0)} ms`;
    ui.info.textContent =
      `inputs: ${msg.info.inputs.map((i) => `${i.name} ${i.type ?? ''}[${(i.shape ?? []).join(',')}]`).join('; ')}\n` +
      `outputs: ${msg.info.outputNames.join(', ')}\ncrossOriginIsolated: ${msg.info.crossOriginIsolated}, ort ${msg.info.ortVersion}`;
    setState('ready');
    return msg.info;
  } catch (err) {
    worker?.terminate();
    worker = null;
    workerSetup = null;
    ui.status.textContent = 'Load failed.';
    throw fail(err, 'error');
  }
}

function draw(rgba: Uint8ClampedArray, size: number): ImageData {
  const img = new ImageData(new Uint8ClampedArray(rgba), size, size);
  if (ui.canvas.width !== size) ui.canvas.width = size;
  if (ui.canvas.height !== size) ui.canvas.height = size;
  ui.canvas.getContext('2d')?.putImageData(img, 0, 0);
  return img;
}

async function generate(opts: GenerateOptions, onProgress?: (ev: ProgressEvent) => void): Promise<GenerateResult> {
  if (state === 'generating') throw new Error('a generation is already running');
  if (!loadedInfo || !loadedOpts || !worker)
    throw fail(new Error('no model loaded: call load() first'), state === 'error' ? 'error' : 'idle');
  clearError();
  const noiseSeed = opts.noiseSeed ?? Math.floor(Math.random() * 2 ** 31);
  setState('generating');
  ui.progress.max = opts.steps;
  ui.progress.value = 0;
  ui.progressText.textContent = `0/${opts.steps}`;
  ui.breedName.textContent = BREEDS[opts.breedIndex] ?? `#${opts.breedIndex}`;
  let callbackError: unknown = null;
  try {
    const msg = await request({ type: 'generate', id: nextId++, opts: { ...opts, noiseSeed }, faults }, [], (m) => {
      if (m.type !== 'progress') return;
      const imageData = draw(m.rgba, m.size);
      ui.progress.value = m.step;
      ui.progressText.textContent = `${m.step}/${m.totalSteps} · ${m.stepTime.toFixed(0)} ms/step · ${(m.totalTime / 1000).toFixed(1)} s`;
      try {
        onProgress?.({ step: m.step, totalSteps: m.totalSteps, stepTime: m.stepTime, totalTime: m.totalTime, imageData });
      } catch (err) {
        callbackError ??= err;
      }
    });
    if (msg.type !== 'done') throw new Error(`unexpected worker reply ${msg.type}`);
    const done = msg as WorkerDone;
    const imageData = draw(done.rgba, done.size);
    shownBreed = opts.breedIndex;
    ui.progress.value = opts.steps;
    ui.timing.textContent = `${(done.totalTime / 1000).toFixed(2)} s total, ${done.avgStepTime.toFixed(1)} ms/step`;
    setState('ready');
    if (callbackError) throw callbackError;
    return {
      imageData,
      totalTime: done.totalTime,
      avgStepTime: done.avgStepTime,
      x: Array.from(done.x),
      modelMs: done.modelMs,
      breedIndex: opts.breedIndex,
      steps: opts.steps,
      cfgScale: opts.cfgScale,
      noiseSeed,
    };
  } catch (err) {
    throw fail(err, worker ? 'ready' : 'error');
  }
}

function download(): string {
  if (shownBreed === null) throw new Error('nothing to download: generate an image first');
  const name = downloadFileName(shownBreed, Date.now());
  const a = document.createElement('a');
  a.href = ui.canvas.toDataURL('image/png');
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  return name;
}

window.tinydit = {
  load,
  generate,
  download,
  get faults() {
    return faults;
  },
  setFaults(extra: Fault[]): Fault[] {
    const unknown = extra.filter((f) => !(f in FAULTS));
    if (unknown.length) throw new Error(`unknown fault(s) ${unknown.join(', ')}; known: ${Object.keys(FAULTS).join(', ')}`);
    if (state === 'generating') throw new Error('setFaults(): a generation is running');
    faults = [...new Set([...urlFaults, ...extra])];
    showFaults();
    return faults;
  },
  get state() {
    return state;
  },
};

// ---- UI wiring (for people; the suites call window.tinydit directly) ----

function num(el: HTMLInputElement, what: string): number {
  const v = Number(el.value);
  if (el.value.trim() === '' || !Number.isFinite(v)) throw new Error(`${what} must be a number`);
  return v;
}

function uiLoadOptions(): LoadOptions {
  const guidance = ui.guidance.value === 'none' ? 'none' : 'baked';
  return {
    modelUrl: ui.modelUrl.value,
    guidance,
    ...(guidance === 'baked' ? { bakedScale: num(ui.bakedScale, 'baked scale') } : {}),
    nullIndex: num(ui.nullIndex, 'null index'),
    ...(ui.imageSize.value.trim() ? { imageSize: num(ui.imageSize, 'image size') } : {}),
  };
}

ui.loadBtn.addEventListener('click', () => {
  try {
    void load(uiLoadOptions()).catch(() => undefined);
  } catch (err) {
    fail(err, state);
  }
});
ui.generateBtn.addEventListener('click', () => {
  try {
    const steps = num(ui.steps, 'steps');
    const noiseSeed = num(ui.seed, 'seed');
    // The controls keep to the web app's range; window.tinydit.generate() itself takes any positive step count.
    if (!Number.isInteger(steps) || steps < 1 || steps > 100)
      throw new Error(`steps must be an integer from 1 to 100, got ${ui.steps.value}`);
    if (!Number.isInteger(noiseSeed) || noiseSeed < 0) throw new Error(`seed must be a non-negative integer, got ${ui.seed.value}`);
    const opts = { breedIndex: Number(ui.breed.value), steps, cfgScale: num(ui.cfg, 'guidance scale'), noiseSeed };
    void generate(opts).catch(() => undefined);
  } catch (err) {
    fail(err, state);
  }
});
ui.downloadBtn.addEventListener('click', () => {
  try {
    download();
  } catch (err) {
    fail(err, state);
  }
});

if (faultError) showError(faultError.message);
function showFaults(): void {
  ui.faults.textContent = faults.length ? `FAULT INJECTION ACTIVE: ${faults.map((f) => `${f} (${FAULTS[f]})`).join('; ')}` : '';
  ui.faults.hidden = faults.length === 0;
}
showFaults();
setState('idle');

/** Reads loose manifest fields (snake_case or camelCase) to prefill the model form. */
function applyManifest(m: Record<string, unknown>): void {
  const pick = (...keys: string[]): unknown => keys.map((k) => m[k]).find((v) => v !== undefined);
  const size = pick('image_size', 'imageSize', 'img_size');
  const nul = pick('null_index', 'nullIndex', 'null_class');
  const scale = pick('cfg_scale', 'bakedScale', 'baked_scale', 'guidance_scale');
  if (typeof size === 'number') ui.imageSize.value = String(size);
  if (typeof nul === 'number') ui.nullIndex.value = String(nul);
  if (typeof scale === 'number') ui.bakedScale.value = String(scale);
}

async function autoload(): Promise<void> {
  const p = new URLSearchParams(location.search);
  if (!p.has('autoload')) return;
  try {
    const res = await fetch('/bundle/manifest.json');
    if (res.ok) applyManifest((await res.json()) as Record<string, unknown>);
  } catch {
    // no manifest: keep the form's values
  }
  const set = (el: HTMLInputElement | HTMLSelectElement, key: string): void => {
    const v = p.get(key);
    if (v !== null) el.value = v;
  };
  set(ui.modelUrl, 'model');
  set(ui.guidance, 'guidance');
  set(ui.bakedScale, 'scale');
  set(ui.nullIndex, 'null');
  set(ui.imageSize, 'size');
  try {
    await load(uiLoadOptions());
  } catch {
    // shown in #error
  }
}
void autoload();
