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
  { name: 'node', kind: 'node', label: 'Node (onnxruntime-node)', ort: 'onnxruntime-node' },
  { name: 'chromium', kind: 'browser', label: 'Chromium', ort: 'onnxruntime-web' },
  { name: 'firefox', kind: 'browser', label: 'Firefox', ort: 'onnxruntime-web' },
  { name: 'webkit', kind: 'browser', label: 'WebKit', ort: 'onnxruntime-web' },
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
