/**
 * The reference page's generation worker: onnxruntime-web (wasm backend only, files from /ort/) running the
 * TinyDiT graph under the shared sampler (harness/core/sampler.ts), noise (harness/core/noise.ts, through the sampler)
 * and pixel conversion (harness/core/image.ts). Bundled by harness/runtimes/web/build.ts into dist/worker.js.
 * One model per worker: the page starts a fresh worker for every load(), so the thread count can change.
 */
import * as ort from 'onnxruntime-web/wasm';
import { sample, type SamplerModel } from '../../core/sampler.js';
import { tensorToRGBA } from '../../core/image.js';
import {
  ORT_RUNTIME_FILES,
  ORT_WARMUP_MODEL_B64,
  isProgressStep,
  type Fault,
  type FromWorker,
  type LoadInfo,
  type TensorInfo,
  type ToWorker,
  type WorkerGenerate,
  type WorkerLoad,
} from './protocol.js';

interface Loaded {
  session: ort.InferenceSession;
  model: SamplerModel;
  faults: Set<Fault>;
  imageSize: number;
  nullIndex: number;
}

let loaded: Loaded | null = null;
let busy = false;

const scope = self as unknown as DedicatedWorkerGlobalScope;

function post(msg: FromWorker, transfer: Transferable[] = []): void {
  scope.postMessage(msg, transfer);
}

function message(err: unknown): string {
  if (err instanceof Error) return err.message || String(err);
  if (typeof err === 'number') return `onnxruntime-web error code ${err}`;
  return String(err);
}

function tensorInfo(names: readonly string[], meta: readonly ort.InferenceSession.ValueMetadata[] | undefined): TensorInfo[] {
  return names.map((name, i) => {
    const m = meta?.[i];
    if (m?.isTensor) return { name, type: m.type, shape: [...m.shape] };
    return { name };
  });
}

/** The sampler's model call over the ort-web session: inputs noise/timestep/breed, output velocity. */
function sessionCall(session: ort.InferenceSession, channels: number, size: number): SamplerModel['call'] {
  return async (x, t, breed, batch) => {
    const feeds: Record<string, ort.Tensor> = {
      noise: new ort.Tensor('float32', x, [batch, channels, size, size]),
      timestep: new ort.Tensor('float32', t, [batch]),
      breed: new ort.Tensor('int64', breed, [batch]),
    };
    const out = await session.run(feeds);
    const v = out.velocity;
    if (!v) throw new Error(`the model has no output "velocity" (outputs: ${session.outputNames.join(', ')})`);
    if (v.type !== 'float32') throw new Error(`output velocity is ${v.type}, expected float32`);
    const data = v.data as Float32Array;
    if (data.length !== x.length)
      throw new Error(`output velocity has ${data.length} values, expected ${x.length} ([${v.dims.join(',')}])`);
    return data;
  };
}

/**
 * onnxruntime-web fetches its wasm runtime only when the first session is created, and then reports a missing
 * file as "no available backend": ask for the files first, so the error names the URL, the HTTP status and the fix.
 */
async function checkRuntimeFiles(ortBase: string): Promise<void> {
  for (const f of ORT_RUNTIME_FILES) {
    const url = new URL(f, ortBase).href;
    let res: Response;
    try {
      res = await fetch(url, { method: 'HEAD', credentials: 'same-origin' });
    } catch (err) {
      throw new Error(
        `onnxruntime-web's wasm runtime could not be fetched from ${url}: ${message(err)} (the static server serves it under /ort/)`,
      );
    }
    if (!res.ok) {
      throw new Error(
        `onnxruntime-web's wasm runtime is missing: ${url} answered HTTP ${res.status}` +
          ' (the static server serves node_modules/onnxruntime-web/dist under /ort/: run npm install, or fix the ortBase given to load())',
      );
    }
  }
}

/** Milliseconds of this worker's wasm backend initialization (its first load). */
let workerInitMs: number | null = null;

async function load(msg: WorkerLoad): Promise<LoadInfo> {
  const { opts, faults } = msg;
  const reuse = msg.reuse === true && workerInitMs !== null;
  if (reuse) {
    if (loaded) {
      const old = loaded.session;
      loaded = null;
      await old.release();
    }
  } else {
    ort.env.wasm.wasmPaths = msg.ortBase;
    ort.env.wasm.numThreads = opts.numThreads;
    ort.env.wasm.proxy = false;
  }

  await checkRuntimeFiles(msg.ortBase);

  const t0 = performance.now();
  let res: Response;
  try {
    res = await fetch(opts.modelUrl, { credentials: 'same-origin' });
  } catch (err) {
    throw new Error(`could not fetch the model ${opts.modelUrl}: ${message(err)}`);
  }
  if (!res.ok) throw new Error(`could not fetch the model ${opts.modelUrl}: HTTP ${res.status} ${res.statusText}`.trim());
  const bytes = new Uint8Array(await res.arrayBuffer());
  const fetchMs = performance.now() - t0;
  if (bytes.length === 0) throw new Error(`the model ${opts.modelUrl} is empty (0 bytes)`);

  // Initialize the wasm backend with a one-node model before the model is parsed, so that a hang there (seen in
  // Firefox) is told apart from the model: the page's timer retries only when 'backend-ready' never came. (After the
  // fetch: a missing model still fails at once, as in the web app.)
  // (A reused worker's backend is up already: nothing to initialize, and no first initialization to hang.)
  const tInit = performance.now();
  if (!reuse) {
    // FAULT init-timeout: the first attempt's initialization never finishes
    if (faults.includes('init-timeout') && msg.attempt === 1) await new Promise<never>(() => undefined);
    try {
      const warm = await ort.InferenceSession.create(
        Uint8Array.from(atob(ORT_WARMUP_MODEL_B64), (c) => c.charCodeAt(0)),
        { executionProviders: ['wasm'] },
      );
      await warm.release();
    } catch (err) {
      throw new Error(
        `onnxruntime-web could not initialize its wasm backend (${opts.numThreads} thread(s)) before parsing the model: ${message(err)}`,
      );
    }
    workerInitMs = performance.now() - tInit;
  }
  const initMs = workerInitMs ?? performance.now() - tInit;
  post({ type: 'stage', id: msg.id, stage: 'backend-ready', ms: reuse ? 0 : initMs });

  const t1 = performance.now();
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
  } catch (err) {
    throw new Error(
      `onnxruntime-web could not load the model ${opts.modelUrl} (${bytes.length} bytes; corrupt or not ONNX?): ${message(err)}`,
    );
  }
  const sessionMs = performance.now() - t1;

  const inputs = tensorInfo(session.inputNames, session.inputMetadata);
  const outputs = tensorInfo(session.outputNames, session.outputMetadata);
  const missing = ['noise', 'timestep', 'breed'].filter((n) => !session.inputNames.includes(n));
  if (missing.length || !session.outputNames.includes('velocity')) {
    await session.release();
    throw new Error(
      `the model does not follow the contract (inputs noise, timestep, breed; output velocity): ` +
        `it has inputs [${session.inputNames.join(', ')}] and outputs [${session.outputNames.join(', ')}]`,
    );
  }
  const noiseShape = inputs.find((i) => i.name === 'noise')?.shape;
  const dim = (k: number): number | undefined => {
    const d = noiseShape?.length === 4 ? noiseShape[k] : undefined;
    return typeof d === 'number' && d > 0 ? d : undefined;
  };
  const graphChannels = dim(1);
  const graphSize = dim(2) !== undefined && dim(2) === dim(3) ? dim(2) : undefined;
  const channels = opts.channels ?? graphChannels;
  const imageSize = opts.imageSize ?? graphSize;
  if (channels === undefined || imageSize === undefined) {
    await session.release();
    throw new Error(
      `load() was not given ${channels === undefined ? 'channels' : 'imageSize'} and the graph's noise input ` +
        `shape [${(noiseShape ?? []).join(',')}] does not fix it`,
    );
  }
  if ((graphChannels !== undefined && graphChannels !== channels) || (graphSize !== undefined && graphSize !== imageSize)) {
    await session.release();
    throw new Error(
      `the model's noise input is [${(noiseShape ?? []).join(',')}] but load() was told channels ${channels}, image size ${imageSize}`,
    );
  }

  const faultSet = new Set(faults);
  const base: SamplerModel = {
    call: sessionCall(session, channels, imageSize),
    guidance: opts.guidance,
    nullIndex: opts.nullIndex,
    channels,
    imageSize,
    ...(opts.bakedScale !== undefined ? { bakedScale: opts.bakedScale } : {}),
  };
  faultyModel(base, faultSet); // a fault that cannot apply to this graph fails the load, as it did before setFaults()
  loaded = { session, model: base, faults: faultSet, imageSize, nullIndex: opts.nullIndex };
  const actualThreads = ort.env.wasm.numThreads ?? 1;
  return {
    backend: 'wasm',
    imageSize,
    channels,
    numThreads: actualThreads,
    requestedThreads: opts.numThreads,
    crossOriginIsolated: scope.crossOriginIsolated === true,
    sharedArrayBuffer: typeof SharedArrayBuffer !== 'undefined',
    hardwareConcurrency: navigator.hardwareConcurrency ?? 1,
    sessionMs,
    fetchMs,
    modelBytes: bytes.length,
    inputNames: [...session.inputNames],
    outputNames: [...session.outputNames],
    inputs,
    outputs,
    ortVersion: ort.env.versions.web ?? ort.env.versions.common ?? 'unknown',
    faults: [...faultSet],
    initMs,
    initAttempts: msg.attempt,
    initFailures: [],
    workerReused: reuse,
  };
}

/** The model as the page's faults make it behave (double-guidance: the baked graph treated as raw). */
function faultyModel(base: SamplerModel, faults: Set<Fault>): SamplerModel {
  if (!faults.has('double-guidance')) return base;
  // FAULT: treat the baked graph as raw, so the sampler calls it with breed and null breed and combines them:
  // guidance applied twice, like the web app that shipped.
  if (base.guidance !== 'baked') throw new Error('fault double-guidance needs a graph with guidance baked in (guidance: "baked")');
  const model: SamplerModel = { ...base, guidance: 'none' };
  delete model.bakedScale;
  return model;
}

async function generate(msg: WorkerGenerate): Promise<void> {
  if (!loaded) throw new Error('no model loaded: call load() first');
  const { imageSize, nullIndex } = loaded;
  // the faults active when the page asked (its URL's, plus setFaults()); the load's when the page sent none
  const faults = new Set<Fault>(Array.isArray(msg.faults) ? msg.faults : loaded.faults);
  const model = faultyModel(loaded.model, faults);
  const { breedIndex, steps, cfgScale, noiseSeed } = msg.opts;
  if (!Number.isInteger(breedIndex) || breedIndex < 0 || breedIndex > nullIndex) {
    throw new Error(`breedIndex must be an integer in 0..${nullIndex}, got ${breedIndex}`);
  }
  if (!Number.isInteger(steps) || steps < 1) throw new Error(`steps must be a positive integer, got ${steps}`);
  if (!Number.isFinite(cfgScale)) throw new Error(`cfgScale must be a finite number, got ${cfgScale}`);

  // FAULT: condition on the next breed while the page shows the requested one.
  const conditioned = faults.has('breed-off-by-one') ? breedIndex + 1 : breedIndex;
  // FAULT: drop one scheduled progress event (the second, or the only one).
  let scheduledSeen = 0;
  const scheduledTotal = Array.from({ length: steps }, (_, i) => i).filter((i) => isProgressStep(i, steps)).length;
  const skipOrdinal = faults.has('skip-progress') ? (scheduledTotal >= 2 ? 2 : 1) : -1;

  const start = performance.now();
  let last = start;
  const result = await sample(model, {
    breeds: [conditioned],
    seeds: [noiseSeed],
    steps,
    cfgScale,
    onStep: (ev) => {
      const now = performance.now();
      const stepTime = now - last;
      const totalTime = now - start;
      last = now;
      const i = ev.step - 1;
      if (!isProgressStep(i, steps)) return;
      scheduledSeen++;
      if (scheduledSeen === skipOrdinal) return;
      const rgba = tensorToRGBA(ev.x, imageSize);
      post({ type: 'progress', id: msg.id, step: ev.step, totalSteps: steps, stepTime, totalTime, rgba, size: imageSize }, [rgba.buffer]);
      // FAULT: hang after the first progress event; the sampler awaits this promise forever.
      if (faults.has('stall')) return new Promise<void>(() => undefined);
    },
  });
  const totalTime = performance.now() - start;
  const rgba = tensorToRGBA(result.x, imageSize);
  const x = Float32Array.from(result.x);
  post({ type: 'done', id: msg.id, rgba, size: imageSize, x, totalTime, avgStepTime: totalTime / steps, modelMs: result.modelMs }, [
    rgba.buffer,
    x.buffer,
  ]);
}

scope.onmessage = (ev: MessageEvent<ToWorker>) => {
  const msg = ev.data;
  void (async () => {
    try {
      if (msg.type === 'load') {
        if (loaded && msg.reuse !== true)
          throw new Error('this worker already holds a model: only a load() that reuses the worker may replace it');
        post({ type: 'loaded', id: msg.id, info: await load(msg) });
      } else if (msg.type === 'generate') {
        if (busy) throw new Error('a generation is already running');
        busy = true;
        try {
          await generate(msg);
        } finally {
          busy = false;
        }
      }
    } catch (err) {
      post({ type: 'error', id: msg.id, message: message(err) });
    }
  })();
};
