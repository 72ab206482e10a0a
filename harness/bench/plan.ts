/**
 * What the benchmark measures, as data, and the one loop that measures it in any runtime. A runtime is a
 * RuntimeDriver (onnxruntime-node in a child process, or the reference page in a browser engine through
 * window.tinydit); every figure is timed inside that runtime with performance.now().
 *
 * Per runtime configuration (a runtime and a thread count), per model variant:
 *  - load: session creation (and fetch/read), repeated;
 *  - step: per-step latency = time inside session.run per sampler step, from repeated short generations after
 *    warm-up (one sample per generation: its session.run time / its steps), at batch 1 and at the guided batch:
 *    the baked graph is called with batch 1 (it runs conditional and null branches, batch 2, inside), the raw
 *    graph with cfg 1 is called with batch 1, with cfg != 1 with batch 2 (guidance applied in TypeScript);
 *  - generation: a full generation per breed at the default steps (one image at a time, as the web app does),
 *    wall time of each image; the 13-breed total is their sum.
 */
import { summarize, type Summary } from './stats.js';
import { WASM_ENGINES, type OrtRuntime } from '../runtimes/registry.js';

export type RuntimeName = OrtRuntime;
export const BROWSER_RUNTIMES: readonly RuntimeName[] = WASM_ENGINES;

export interface StepCase {
  variant: string;
  cfgScale: number;
  /** Batch of each model call the sampler makes (1 for a baked graph, 2 for a raw graph with guidance). */
  batch: number;
  /** The batch the graph computes inside (2 for a baked graph: conditional + null branch). */
  graphBatch: number;
}

export interface BenchPlan {
  stepCases: StepCase[];
  /** Sampler steps of each per-step measurement run. */
  stepsPerRun: number;
  /** Unmeasured runs per step case before measuring. */
  warmup: number;
  /** Measured runs per step case. */
  repeats: number;
  /** Variants whose full generation is measured. */
  fullVariants: string[];
  fullSteps: number;
  /** Breeds generated one after another (the 13-breed generation). */
  fullBreeds: number[];
  /** The bundle's guidance scale (what a baked graph has inside). */
  cfgScale: number;
  /** Session creations per variant (the last one is used for the other measurements). */
  loadRepeats: number;
  /** Noise seed of every generation. */
  seed: number;
}

export interface LoadTiming {
  /** Read/fetch plus session creation, ms. */
  totalMs: number;
  sessionMs: number;
  /** Node: reading the file; browsers: fetching it. */
  fetchMs: number;
  /** Threads the session actually uses. */
  threads: number;
  modelBytes: number;
}

export interface GenerateTiming {
  /** Wall time of the generation as its caller sees it, ms. */
  wallMs: number;
  /** Time inside session.run, ms. */
  modelMs: number;
  /** The runtime's own total (browser: the worker's totalTime), ms. */
  totalMs: number;
}

export interface GenerateRequest {
  breedIndex: number;
  steps: number;
  cfgScale: number;
  noiseSeed: number;
}

export interface RuntimeDriver {
  runtime: RuntimeName;
  /** threads: a number, or null for the runtime's default (the web app: all cores when cross-origin isolated). */
  load(variant: string, threads: number | null): Promise<LoadTiming>;
  generate(req: GenerateRequest): Promise<GenerateTiming>;
}

export type FigureKind = 'load' | 'step' | 'generation';

export interface Figure {
  /** Query-like, stable: step:runtime=chromium,threads=2,variant=raw,batch=2 */
  id: string;
  kind: FigureKind;
  runtime: RuntimeName;
  /** Threads the session used (as the runtime reports it). */
  threads: number;
  /** What was asked: a number, or 'default' (the web app's choice). */
  requestedThreads: number | 'default';
  variant: string;
  batch?: number;
  graphBatch?: number;
  cfgScale?: number;
  steps?: number;
  unit: 'ms';
  what: string;
  samples: number[];
  summary: Summary;
  /** Secondary figures of the same runs (session-only time, wall per step, worker total, 13-breed total). */
  extra?: Record<string, number>;
  /** Median of this figure / median of the matching Node figure measured in the same run. */
  ratioToNode?: { nodeId: string; ratio: number };
}

export interface ConfigError {
  runtime: RuntimeName;
  requestedThreads: number | 'default';
  variant: string | null;
  stage: string;
  message: string;
}

export interface ConfigResult {
  runtime: RuntimeName;
  requestedThreads: number | 'default';
  figures: Figure[];
  errors: ConfigError[];
}

const threadKey = (t: number | 'default', actual: number): string => (t === 'default' ? `default(${actual})` : String(t));

export function figureId(
  kind: FigureKind,
  runtime: RuntimeName,
  requested: number | 'default',
  actual: number,
  variant: string,
  more: Record<string, string | number> = {},
): string {
  const tail = Object.entries(more)
    .map(([k, v]) => `,${k}=${v}`)
    .join('');
  return `${kind}:runtime=${runtime},threads=${threadKey(requested, actual)},variant=${variant}${tail}`;
}

/** The step cases a manifest implies: every baked variant at batch 1, every raw variant at batch 1 and 2. */
export function stepCasesFor(variants: Record<string, { guidance: string }>, scale: number): StepCase[] {
  const out: StepCase[] = [];
  for (const [name, v] of Object.entries(variants)) {
    if (v.guidance === 'baked') out.push({ variant: name, cfgScale: scale, batch: 1, graphBatch: 2 });
    else {
      out.push({ variant: name, cfgScale: 1, batch: 1, graphBatch: 1 });
      out.push({ variant: name, cfgScale: scale, batch: 2, graphBatch: 2 });
    }
  }
  return out;
}

export function describeStepCase(c: StepCase): string {
  if (c.batch === 1 && c.graphBatch === 2) return `${c.variant}, batch 1 (graph runs 2: guidance baked)`;
  if (c.batch === 2) return `${c.variant}, batch 2 (guidance in TypeScript)`;
  return `${c.variant}, batch 1 (no guidance)`;
}

/** Variants the plan touches, in a stable order (manifest order of first use). */
export function planVariants(plan: BenchPlan): string[] {
  const seen: string[] = [];
  for (const v of [...plan.stepCases.map((c) => c.variant), ...plan.fullVariants]) if (!seen.includes(v)) seen.push(v);
  return seen;
}

function errMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Runs the plan on one driver at one thread setting. A variant that fails (load refused, out of memory, a
 * timeout) is an error of this configuration with the message; the other variants still run.
 */
export async function runPlan(
  driver: RuntimeDriver,
  plan: BenchPlan,
  threads: number | null,
  log: (line: string) => void = () => undefined,
): Promise<ConfigResult> {
  const requested: number | 'default' = threads ?? 'default';
  const rt = driver.runtime;
  const figures: Figure[] = [];
  const errors: ConfigError[] = [];
  for (const variant of planVariants(plan)) {
    let stage = 'load';
    try {
      const loads: LoadTiming[] = [];
      for (let k = 0; k < plan.loadRepeats; k++) loads.push(await driver.load(variant, threads));
      const last = loads[loads.length - 1]!;
      const actual = last.threads;
      figures.push({
        id: figureId('load', rt, requested, actual, variant),
        kind: 'load',
        runtime: rt,
        threads: actual,
        requestedThreads: requested,
        variant,
        unit: 'ms',
        what: `${variant}: read/fetch + session creation`,
        samples: loads.map((l) => l.totalMs),
        summary: summarize(
          loads.map((l) => l.totalMs),
          `load ${rt} ${variant}`,
        ),
        extra: {
          sessionMsMedian: summarize(loads.map((l) => l.sessionMs)).median,
          fetchMsMedian: summarize(loads.map((l) => l.fetchMs)).median,
          modelBytes: last.modelBytes,
        },
      });
      log(
        `  ${rt} threads=${threadKey(requested, actual)} ${variant}: load ${last.totalMs.toFixed(0)} ms (session ${last.sessionMs.toFixed(0)} ms)`,
      );

      const cases = plan.stepCases.filter((c) => c.variant === variant);
      for (const c of cases) {
        stage = `step batch=${c.batch}`;
        const req = { breedIndex: 3, steps: plan.stepsPerRun, cfgScale: c.cfgScale, noiseSeed: plan.seed };
        for (let w = 0; w < plan.warmup; w++) await driver.generate(req);
        const runs: GenerateTiming[] = [];
        for (let r = 0; r < plan.repeats; r++) runs.push(await driver.generate(req));
        const perStep = runs.map((g) => g.modelMs / plan.stepsPerRun);
        const fig: Figure = {
          id: figureId('step', rt, requested, actual, variant, { batch: c.batch }),
          kind: 'step',
          runtime: rt,
          threads: actual,
          requestedThreads: requested,
          variant,
          batch: c.batch,
          graphBatch: c.graphBatch,
          cfgScale: c.cfgScale,
          steps: plan.stepsPerRun,
          unit: 'ms',
          what: `per step, ${describeStepCase(c)}`,
          samples: perStep,
          summary: summarize(perStep, `step ${rt} ${variant} batch ${c.batch}`),
          extra: { wallPerStepMedian: summarize(runs.map((g) => g.wallMs / plan.stepsPerRun)).median },
        };
        figures.push(fig);
        log(
          `  ${rt} threads=${threadKey(requested, actual)} ${variant} batch ${c.batch}: ${fig.summary.median.toFixed(2)} ms/step (IQR ${fig.summary.iqr.toFixed(2)})`,
        );
      }

      if (plan.fullVariants.includes(variant)) {
        stage = 'generation';
        const runs: GenerateTiming[] = [];
        for (const b of plan.fullBreeds) {
          runs.push(await driver.generate({ breedIndex: b, steps: plan.fullSteps, cfgScale: plan.cfgScale, noiseSeed: plan.seed }));
        }
        const walls = runs.map((g) => g.wallMs);
        const fig: Figure = {
          id: figureId('generation', rt, requested, actual, variant, { steps: plan.fullSteps }),
          kind: 'generation',
          runtime: rt,
          threads: actual,
          requestedThreads: requested,
          variant,
          cfgScale: plan.cfgScale,
          steps: plan.fullSteps,
          unit: 'ms',
          what: `one image at ${plan.fullSteps} steps (${plan.fullBreeds.length} breeds, one after another)`,
          samples: walls,
          summary: summarize(walls, `generation ${rt} ${variant}`),
          extra: {
            breeds: plan.fullBreeds.length,
            totalAllBreedsMs: walls.reduce((a, b) => a + b, 0),
            modelMsMedian: summarize(runs.map((g) => g.modelMs)).median,
            runtimeTotalMsMedian: summarize(runs.map((g) => g.totalMs)).median,
          },
        };
        figures.push(fig);
        log(
          `  ${rt} threads=${threadKey(requested, actual)} ${variant}: ${plan.fullBreeds.length} images x ${plan.fullSteps} steps, ` +
            `${fig.summary.median.toFixed(0)} ms each (total ${fig.extra!.totalAllBreedsMs!.toFixed(0)} ms)`,
        );
      }
    } catch (e) {
      const message = errMessage(e);
      errors.push({ runtime: rt, requestedThreads: requested, variant, stage, message });
      log(`  ${rt} threads=${String(requested)} ${variant}: FAILED at ${stage}: ${message.split('\n')[0]}`);
    }
  }
  return { runtime: rt, requestedThreads: requested, figures, errors };
}

/** For a browser figure, the Node figure it is compared with: same kind, variant, batch and steps, same threads (else 1). */
export function nodeCounterpart(f: Figure, nodeFigures: Figure[]): Figure | undefined {
  const same = nodeFigures.filter((n) => n.kind === f.kind && n.variant === f.variant && n.batch === f.batch && n.steps === f.steps);
  return same.find((n) => n.threads === f.threads) ?? same.find((n) => n.threads === 1);
}

export function attachRatios(figures: Figure[]): void {
  const node = figures.filter((f) => f.runtime === 'node');
  for (const f of figures) {
    if (f.runtime === 'node') continue;
    const n = nodeCounterpart(f, node);
    if (n && n.summary.median > 0) f.ratioToNode = { nodeId: n.id, ratio: f.summary.median / n.summary.median };
  }
}
