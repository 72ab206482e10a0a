/**
 * onnxruntime-node as a benchmark runtime: the same runtime adapter (harness/runtimes/node.ts) and the same
 * sampler (harness/core/sampler.ts) the Node suites use; a generation also turns the state into RGBA at the web
 * app's progress steps, as the page's worker does, so Node and browser figures time the same work.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tensorToRGBA } from '../core/image.js';
import { openModelBytes, samplerModel, type RuntimeManifest, type VelocityRunner } from '../runtimes/node.js';
import { sample } from '../core/sampler.js';
import { isProgressStep } from '../runtimes/web/protocol.js';
import type { GenerateRequest, GenerateTiming, LoadTiming, RuntimeDriver } from './plan.js';

export class NodeDriver implements RuntimeDriver {
  readonly runtime = 'node' as const;
  private runner: VelocityRunner | null = null;
  /** RSS (MiB) right after each load, by variant. */
  readonly rssAfterLoad: Record<string, number> = {};

  /**
   * slowdownMsPerCall: a deliberately slower model (the speed gate's self-test): every model call busy-waits this
   * long on top of session.run, and the wait counts as model time, as a heavier graph's would.
   */
  constructor(
    private readonly dir: string,
    private readonly manifest: RuntimeManifest & { variants: Record<string, { file: string; guidance: string }> },
    private readonly opts: { slowdownMsPerCall?: number } = {},
  ) {}

  async load(variant: string, threads: number | null): Promise<LoadTiming> {
    const v = this.manifest.variants[variant];
    if (!v) throw new Error(`bundle ${this.dir}: no variant '${variant}' in manifest.json`);
    if (this.runner) {
      await this.runner.release();
      this.runner = null;
    }
    const n = threads ?? 1;
    const path = join(this.dir, v.file);
    const t0 = performance.now();
    const bytes = readFileSync(path);
    const t1 = performance.now();
    this.runner = await openModelBytes(bytes, this.manifest, { label: variant, source: path, guidance: v.guidance }, { threads: n });
    const t2 = performance.now();
    this.rssAfterLoad[variant] = process.memoryUsage().rss / 2 ** 20;
    return { totalMs: t2 - t0, sessionMs: t2 - t1, fetchMs: t1 - t0, threads: n, modelBytes: bytes.length };
  }

  async generate(req: GenerateRequest): Promise<GenerateTiming> {
    const runner = this.runner;
    if (!runner) throw new Error('no model loaded');
    const size = runner.imageSize;
    const model = samplerModel(runner);
    const slow = this.opts.slowdownMsPerCall ?? 0;
    if (slow > 0) {
      const call = model.call;
      model.call = async (x, t, b, n) => {
        const v = await call(x, t, b, n);
        const until = performance.now() + slow;
        while (performance.now() < until) {
          /* busy: a heavier graph holds the CPU */
        }
        return v;
      };
    }
    const t0 = performance.now();
    const res = await sample(model, {
      breeds: [req.breedIndex],
      seeds: [req.noiseSeed],
      steps: req.steps,
      cfgScale: req.cfgScale,
      onStep: (ev) => {
        if (isProgressStep(ev.step - 1, req.steps)) tensorToRGBA(ev.x, size);
      },
    });
    tensorToRGBA(res.x, size);
    const wallMs = performance.now() - t0;
    return { wallMs, modelMs: res.modelMs, totalMs: wallMs };
  }

  async close(): Promise<void> {
    if (this.runner) await this.runner.release();
    this.runner = null;
  }
}
