/**
 * Shared by the reference page (main.ts), its worker (worker.ts) and the browser suites (Node side):
 * the generation API's types, the web app's constants (breed names, progress schedule, download name),
 * the page<->worker messages and the fault hooks. No DOM or Node APIs at module level.
 */

/** Breed index -> name, as the web app lists them (12 "Other" is a class, the null token comes after). */
export const BREEDS = [
  'Abyssinian',
  'Bengal',
  'Birman',
  'Bombay',
  'British Shorthair',
  'Egyptian Mau',
  'Maine Coon',
  'Persian',
  'Ragdoll',
  'Russian Blue',
  'Siamese',
  'Sphynx',
  'Other',
] as const;

export function breedName(index: number): string {
  const name = BREEDS[index];
  if (name === undefined) throw new RangeError(`no breed with index ${index}`);
  return name;
}

/** The web app's download name: cat_<breed lower-case, whitespace runs as _>_<Date.now()>.png */
export function downloadFileName(breedIndex: number, timestamp: number = Date.now()): string {
  return `cat_${breedName(breedIndex).toLowerCase().replace(/\s+/g, '_')}_${timestamp}.png`;
}
export const DOWNLOAD_NAME_RE = /^cat_([a-z_]+)_(\d{10,})\.png$/;

/** The web app reports progress after 0-based step i when i % 5 === 0 or i is the last step. */
export function isProgressStep(i: number, steps: number): boolean {
  return i % 5 === 0 || i === steps - 1;
}

/** The 1-based steps at which onProgress fires for a run of `steps` steps: 1, 6, 11, ..., steps. */
export function progressSchedule(steps: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < steps; i++) if (isProgressStep(i, steps)) out.push(i + 1);
  return out;
}

/**
 * Fault hooks, for proving that browser checks fail on a broken page. Enabled only through the page URL
 * (?fault=name, repeatable or comma-separated); the page shows a banner while any is active.
 */
export const FAULTS = {
  /** Apply guidance again in the page on top of a graph that has it baked in (the web app's real bug). */
  'double-guidance': 'guidance applied in the page on top of the baked graph (graph called with breed and null breed)',
  /** Condition on breedIndex + 1 while showing breedIndex. */
  'breed-off-by-one': 'the model is conditioned on breedIndex + 1',
  /** Drop one scheduled progress event (the second one, or the only one). */
  'skip-progress': 'one scheduled progress event is not sent',
  /** The worker stops answering after the first progress event: generate() never settles (a hung page). */
  stall: 'generation stops after its first progress event and never finishes',
  /** The first worker's onnxruntime-web initialization never finishes (a hang): load() must start a new worker and retry. */
  'init-timeout': "the first initialization of onnxruntime-web's wasm backend hangs",
} as const;
export type Fault = keyof typeof FAULTS;

export function parseFaults(search: string): Fault[] {
  const params = new URLSearchParams(search);
  const names = params
    .getAll('fault')
    .flatMap((v) => v.split(','))
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = names.filter((n) => !(n in FAULTS));
  if (unknown.length) throw new Error(`unknown fault(s) ${unknown.join(', ')}; known: ${Object.keys(FAULTS).join(', ')}`);
  return [...new Set(names)] as Fault[];
}

export interface LoadOptions {
  /** URL of the .onnx file, e.g. /bundle/model.onnx */
  modelUrl: string;
  /** 'baked': the graph returns guided velocity (default export); 'none': raw velocity (--no-cfg export). */
  guidance: 'baked' | 'none';
  /** For a baked graph: the scale inside it (from the manifest). */
  bakedScale?: number;
  /** The null (unconditional) breed index, from the manifest. */
  nullIndex: number;
  /** Image side in pixels; when absent, read from the graph's static noise input shape [B,C,H,W]. */
  imageSize?: number;
  /** Colour channels (3); when absent, read from the graph. */
  channels?: number;
  /** wasm threads; default: navigator.hardwareConcurrency when crossOriginIsolated, else 1 (as the web app). */
  numThreads?: number;
  /** Reject if loading takes longer (default 120000 ms). */
  timeoutMs?: number;
  /** Where onnxruntime-web's wasm runtime files are served (default /ort/, the static server's root for them). */
  ortBase?: string;
}

/** The runtime files the worker's onnxruntime-web build (wasm, extern binaries) loads from ortBase. */
export const ORT_RUNTIME_FILES = ['ort-wasm-simd-threaded.mjs', 'ort-wasm-simd-threaded.wasm'] as const;

export interface TensorInfo {
  name: string;
  type?: string;
  shape?: Array<number | string>;
}

export interface LoadInfo {
  backend: 'wasm';
  /** The image side and channels in use (given, or read from the graph). */
  imageSize: number;
  channels: number;
  /** Threads onnxruntime-web actually uses (it falls back to 1 without SharedArrayBuffer). */
  numThreads: number;
  /** Threads that were asked for. */
  requestedThreads: number;
  crossOriginIsolated: boolean;
  sharedArrayBuffer: boolean;
  hardwareConcurrency: number;
  /** Milliseconds to create the session from the fetched bytes. */
  sessionMs: number;
  /** Milliseconds to fetch the model. */
  fetchMs: number;
  modelBytes: number;
  inputNames: string[];
  outputNames: string[];
  inputs: TensorInfo[];
  outputs: TensorInfo[];
  ortVersion: string;
  faults: Fault[];
  /** Milliseconds onnxruntime-web's wasm backend initialization took in the worker that loaded (not in sessionMs). */
  initMs: number;
  /** Workers started for this load: 1, or 2 when the first one's wasm backend initialization timed out. */
  initAttempts: number;
  /** Why earlier attempts were abandoned (the initialization timeout message of each), empty when none was. */
  initFailures: string[];
  /**
   * The load ran in the worker of the page's previous load (same thread count and runtime files): onnxruntime-web's
   * wasm was not compiled again; the previous model's session was released first. initMs is then that of the
   * worker's own first initialization.
   */
  workerReused: boolean;
}

/**
 * Time allowed to onnxruntime-web's wasm backend initialization, which the worker runs on its own after fetching the
 * model and before parsing it (a one-node Identity model: the .mjs import, the 14 MiB wasm compile, the start of the
 * thread pool). A whole load took 1 to 6 s on the 2-core machine under load (docs/performance.md); Firefox ESR 153
 * was seen to hang there for good, after importing the .mjs and before fetching the .wasm (docs/gate-power.md,
 * "False rejects"). The page's own timer (the worker's thread may be the one that is stuck; at most half the load's
 * timeout) then abandons that worker and initializes in a new one, once; reported in LoadInfo (initAttempts, initFailures).
 */
export const ORT_INIT_TIMEOUT_MS = 45_000;
/** The page's initialization watchdog per attempt: the first ORT_INIT_TIMEOUT_MS, the retry 120 s (main.ts says why). */
export const ORT_INIT_WATCHDOG_MS = [ORT_INIT_TIMEOUT_MS, 120_000] as const;
/** A valid one-node ONNX model (Identity, float32 [1], opset 17): initializes the backend without the model under test. */
export const ORT_WARMUP_MODEL_B64 =
  'CAgSDHRpbnlkaXQtZ2F0ZTo8ChAKAXgSAXkiCElkZW50aXR5EgZ3YXJtdXBaDwoBeBIKCggIARIECgIIAWIPCgF5EgoKCAgBEgQKAggBQgQKABAR';
/** Workers load() starts at most for one load when initialization times out. */
export const ORT_INIT_ATTEMPTS = 2;
/** Prefix of the worker's error for an initialization timeout (the only error load() retries). */
export const ORT_INIT_TIMEOUT_ERROR = 'onnxruntime-web initialization timed out';

export interface GenerateOptions {
  breedIndex: number;
  steps: number;
  cfgScale: number;
  /** Seed of the initial noise; a random one (reported back) when absent, as the web app does. */
  noiseSeed?: number;
}

export interface ProgressEvent {
  /** 1-based step just completed. */
  step: number;
  totalSteps: number;
  /** Wall-clock ms since the previous step ended (or since the start). */
  stepTime: number;
  /** Wall-clock ms since generation started. */
  totalTime: number;
  imageData: ImageData;
}

export interface GenerateResult {
  imageData: ImageData;
  totalTime: number;
  avgStepTime: number;
  /** The final state x (float32 [1,C,H,W]) as a plain number array (exact: every float32 is a double). */
  x: number[];
  /** Milliseconds spent inside session.run. */
  modelMs: number;
  breedIndex: number;
  steps: number;
  cfgScale: number;
  noiseSeed: number;
}

// ---- page <-> worker messages ----

export interface WorkerLoad {
  type: 'load';
  id: number;
  /** 1-based attempt of this load (a new worker per attempt). */
  attempt: number;
  opts: LoadOptions & { numThreads: number };
  /** Absolute URL prefix of onnxruntime-web's dist files (ends with /). */
  ortBase: string;
  faults: Fault[];
  /** The worker loaded a model before (its wasm backend is up): release that model first and skip the initialization. */
  reuse?: boolean;
}
export interface WorkerGenerate {
  type: 'generate';
  id: number;
  opts: GenerateOptions & { noiseSeed: number };
  /** The faults active for this generation (the page's at the time of the call). */
  faults: Fault[];
}
export type ToWorker = WorkerLoad | WorkerGenerate;

export interface WorkerLoaded {
  type: 'loaded';
  id: number;
  info: LoadInfo;
}
/** A load's progress: 'backend-ready' once onnxruntime-web's wasm backend is initialized (before the model is read). */
export interface WorkerStage {
  type: 'stage';
  id: number;
  stage: 'backend-ready';
  ms: number;
}
export interface WorkerProgress {
  type: 'progress';
  id: number;
  step: number;
  totalSteps: number;
  stepTime: number;
  totalTime: number;
  /** RGBA bytes of the current state, size*size*4. */
  rgba: Uint8ClampedArray;
  size: number;
}
export interface WorkerDone {
  type: 'done';
  id: number;
  rgba: Uint8ClampedArray;
  size: number;
  x: Float32Array;
  totalTime: number;
  avgStepTime: number;
  modelMs: number;
}
export interface WorkerError {
  type: 'error';
  id: number;
  message: string;
}
export type FromWorker = WorkerLoaded | WorkerStage | WorkerProgress | WorkerDone | WorkerError;

declare global {
  interface Window {
    tinydit: TinyditApi;
  }
}

/** The API the page exposes on window.tinydit. */
export interface TinyditApi {
  load(opts: LoadOptions): Promise<LoadInfo>;
  generate(opts: GenerateOptions, onProgress?: (ev: ProgressEvent) => void): Promise<GenerateResult>;
  /** Saves the shown canvas as PNG; returns the file name. */
  download(): string;
  /** The faults active on this page: those of its URL, plus those set by setFaults(). */
  readonly faults: readonly Fault[];
  /**
   * Test hook: the faults active from the next generate() on are the URL's plus these (an empty list: the URL's
   * only), shown in the page's banner like the URL's. Load-time faults (init-timeout) act only through the URL.
   * Returns the faults now active. For proofs that reuse a loaded page instead of opening a new one.
   */
  setFaults(faults: Fault[]): Fault[];
  /** 'idle' | 'loading' | 'ready' | 'generating' | 'error' */
  readonly state: string;
}
