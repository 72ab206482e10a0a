/**
 * The runtimes the gate knows, defined once: where the model runs (PyTorch as the reference, onnxruntime-node,
 * and each browser engine with onnxruntime-web), in the order every table, matrix and report lists them.
 *
 * Adding a browser engine is one entry here plus its launcher and detection in harness/runtimes/detect.ts (which
 * Playwright browser type launches it, which executable, which launch options) and its Debian package. Every
 * list of engines (Playwright projects, the gate's --browsers default, the agreement matrix, the report's
 * columns, the benchmark, the speed budget's keys) is derived from this table.
 *
 * No imports: the browser page bundle and every Node module may read it.
 */
export const RUNTIMES = [
  { name: 'python', kind: 'reference', label: 'PyTorch', ort: null },
  // slowdown: the worst per-call slowdown measured against onnxruntime-node at 1 thread on the same model (npm run
  // bench and npm run production, 32 and 128 pixels, 1 thread and the app's default; docs/time-bounds.md). Every time
  // bound that waits on a model scales with it (harness/runtimes/time-bounds.ts).
  { name: 'node', kind: 'node', label: 'Node (onnxruntime-node)', ort: 'onnxruntime-node', slowdown: 1 },
  {
    name: 'chromium',
    kind: 'browser',
    label: 'Chromium',
    ort: 'onnxruntime-web',
    browser: 'chromium',
    backend: 'wasm',
    suites: null,
    slowdown: 20,
  },
  {
    name: 'firefox',
    kind: 'browser',
    label: 'Firefox',
    ort: 'onnxruntime-web',
    browser: 'firefox',
    backend: 'wasm',
    suites: null,
    slowdown: 12,
  },
  {
    name: 'webkit',
    kind: 'browser',
    label: 'WebKit',
    ort: 'onnxruntime-web',
    browser: 'webkit',
    backend: 'wasm',
    suites: null,
    slowdown: 23,
  },
  // Chromium again, its model calls on onnxruntime-web's WebGPU execution provider (the real app's default backend in
  // Chromium): a runtime of its own, with its own tolerance profile (harness/checks/webgpu.ts) and its own suite.
  {
    name: 'chromium-webgpu',
    kind: 'browser',
    label: 'Chromium WebGPU',
    ort: 'onnxruntime-web',
    browser: 'chromium',
    backend: 'webgpu',
    suites: ['suites/browser/webgpu.spec.ts'],
    // SwiftShader, WebGPU on the CPU: 80 to 95 s for a 50-step 32-pixel generation, 21 to 27 s for a 14-sample
    // velocity batch, against Node's 0.4 s and 14 x 5 ms (docs/webgpu.md)
    slowdown: 400,
  },
] as const;

type Entry = (typeof RUNTIMES)[number];
/** Every runtime, the PyTorch reference included. */
export type AnyRuntime = Entry['name'];
/** A browser engine: a Playwright project, a column of the agreement matrix, a --browsers value. */
export type EngineName = Extract<Entry, { kind: 'browser' }>['name'];
/** A runtime that runs the ONNX model from TypeScript: onnxruntime-node or an engine. */
export type OrtRuntime = Extract<Entry, { kind: 'node' | 'browser' }>['name'];

/** All runtime names, in display order. */
export const RUNTIME_NAMES: readonly AnyRuntime[] = RUNTIMES.map((r) => r.name);
/** The browser engines, in run and display order. */
export const ENGINES: readonly EngineName[] = RUNTIMES.filter((r): r is Extract<Entry, { kind: 'browser' }> => r.kind === 'browser').map(
  (r) => r.name,
);
/** onnxruntime-node and the engines: what the benchmark and the speed budget measure. */
export const ORT_RUNTIMES: readonly OrtRuntime[] = RUNTIMES.filter(
  (r): r is Extract<Entry, { kind: 'node' | 'browser' }> => r.kind === 'node' || r.kind === 'browser',
).map((r) => r.name);

type BrowserEntry = Extract<Entry, { kind: 'browser' }>;
const browserEntry = (engine: EngineName): BrowserEntry => RUNTIMES.find((r): r is BrowserEntry => r.name === engine)!;

/** The Playwright browser type that launches an engine (several engines may share one browser). */
export function browserOf(engine: EngineName): BrowserEntry['browser'] {
  return browserEntry(engine).browser;
}
/** onnxruntime-web's execution provider for an engine's model calls. */
export function backendOf(engine: EngineName): BrowserEntry['backend'] {
  return browserEntry(engine).backend;
}
/** The engines whose model calls run on onnxruntime-web's wasm backend (the reference page's, and the benchmark's). */
export const WASM_ENGINES: readonly EngineName[] = ENGINES.filter((e) => backendOf(e) === 'wasm');
/**
 * onnxruntime-node and the wasm engines: the runtimes the reference page and the benchmark measure (speed, memory,
 * the manifest's speed budget). The WebGPU runtime is judged by its own suite, which records its time per call.
 */
export const BENCH_RUNTIMES: readonly OrtRuntime[] = ORT_RUNTIMES.filter((r) => !isEngine(r) || backendOf(r) === 'wasm');
/** Spec files that belong to one engine only (its `suites`): no other engine runs them. */
export const RESERVED_SUITES: readonly string[] = RUNTIMES.flatMap((r) => ('suites' in r && r.suites ? [...r.suites] : []));
/** The suite files an engine runs alone (registry `suites`), or null: every browser suite no engine reserves. */
export function engineSuites(engine: EngineName): readonly string[] | null {
  return browserEntry(engine).suites;
}
/**
 * Whether an engine runs a suite file: an engine with `suites` runs only those; the others run every browser suite
 * that no engine reserves.
 */
export function engineRuns(engine: EngineName, suite: string): boolean {
  const own = browserEntry(engine).suites as readonly string[] | null;
  const path = suite.replace(/^\.\//, '');
  // a folder: the engine runs something in it
  if (!/\.[cm]?[jt]s$/.test(path)) {
    const dir = path.endsWith('/') ? path : `${path}/`;
    return own ? own.some((s) => s.startsWith(dir)) : true;
  }
  return own ? own.includes(path) : !RESERVED_SUITES.includes(path);
}

/** A person's name for a runtime (the name itself for one the registry does not know). */
export const RUNTIME_LABEL: Readonly<Record<string, string>> = Object.fromEntries(RUNTIMES.map((r) => [r.name, r.label]));

export function isEngine(name: string): name is EngineName {
  return (ENGINES as readonly string[]).includes(name);
}

/** Display rank of a runtime (unknown ones last). */
export function runtimeRank(name: string): number {
  const i = (RUNTIME_NAMES as readonly string[]).indexOf(name);
  return i < 0 ? RUNTIME_NAMES.length : i;
}
