/**
 * Threads and determinism in each engine (guided model, Bombay, seed 7, 50 steps, cfg 1.5):
 * - loading: backend and thread count are reported by load() and shown in the page's status line, for one
 *   thread and for several (wasm threads need the page to be cross-origin isolated);
 * - determinism: the same seed twice in one engine gives a bit-identical state and image (one thread, and
 *   several threads);
 * - threads: several threads agree with one thread within the trajectory tolerance at the last step
 *   (manifest tolerance.trajectory, the same band that ties each run to the golden), and whether they are
 *   bit-identical is recorded; the several-thread run is also held to the golden trajectory.
 * Cases: loading:engine=<e>,threads=<n>; determinism:engine=<e>,threads=<n>,...; threads:engine=<e>,threads=1-vs-<n>,...
 */
import { caseId } from '../../harness/core/case-id.js';
import { BREEDS } from '../../harness/runtimes/web/protocol.js';
import { attachEngine, expect, test } from './fixtures.js';
import {
  BULK_THREADS,
  GOLDEN_SEED,
  attemptLoad,
  checkDeterminism,
  checkFinalState,
  checkModelLoad,
  checkThreadAgreement,
  explain,
  judge,
  record,
  warmLoad,
} from './helpers.js';

const BREED = BREEDS.indexOf('Bombay');
/** Several threads: at least 2, at most 4 (more than the cores only adds hand-off cost). */
const MAX_THREADS = 4;

test(`threads+determinism:breed=${BREEDS[BREED]},seed=${GOLDEN_SEED}`, async ({ app, bundle, engineInfo }, testInfo) => {
  // two loads (1 thread and several) and two generations each; several threads on a busy machine are the slow ones
  test.setTimeout(bundle.bounds.testMs(bundle.engine, [{ variant: 'guided', steps: bundle.steps, images: 4 }], 2));
  const j = await judge();
  const e = engineInfo.project;
  const tc = j.trajectoryCase(BREED, GOLDEN_SEED);
  const band = j.finalBand(tc);
  const gen = { breedIndex: BREED, steps: j.steps, cfgScale: j.cfgScale, noiseSeed: GOLDEN_SEED };
  const tail = { engine: e, breed: BREEDS[BREED], seed: GOLDEN_SEED, steps: j.steps };
  // One thread first (the worker's page reused when it holds that model), then several on the same page.
  const bulk = bundle.loadOptions('guided', { numThreads: BULK_THREADS });
  const bulkLoad = await warmLoad(app, bulk);
  await attachEngine(testInfo, app, engineInfo);
  const cores = await app.page.evaluate(() => navigator.hardwareConcurrency || 1);
  const several = Math.max(2, Math.min(MAX_THREADS, cores));

  const runs: Record<number, Awaited<ReturnType<typeof app.generate>>> = {};
  for (const threads of [BULK_THREADS, several]) {
    await test.step(caseId('loading', { engine: e, threads }), async () => {
      const opts = bundle.loadOptions('guided', { numThreads: threads });
      const attempt = threads === BULK_THREADS ? bulkLoad : await attemptLoad(app, opts);
      const v = checkModelLoad(attempt, opts.modelUrl, threads, `guided model, ${threads} thread(s)`);
      // One thread's load is recorded by generation.spec.ts (same id); this spec records the several-thread load.
      if (threads !== BULK_THREADS)
        record(caseId('loading', { engine: e, variant: 'guided', threads }), v, engineInfo, { metrics: { hardwareConcurrency: cores } });
      expect(v.pass, explain(caseId('loading', { engine: e, threads }), v)).toBe(true);
    });
    const determinismId = caseId('determinism', { ...tail, threads });
    await test.step(determinismId, async () => {
      const a = await app.generate(gen);
      const b = await app.generate(gen);
      runs[threads] = a;
      const id = determinismId;
      const v = checkDeterminism(a, b, id);
      record(id, v, engineInfo, { metrics: { msFirst: a.totalTime, msSecond: b.totalTime } });
      testInfo.annotations.push({ type: `${threads} thread(s)`, description: `${(a.totalTime / j.steps).toFixed(1)} ms/step` });
      expect.soft(v.pass, explain(id, v)).toBe(true);
    });
  }

  const threadsId = caseId('threads', { ...tail, threads: `${BULK_THREADS}-vs-${several}` });
  await test.step(threadsId, async () => {
    const one = runs[BULK_THREADS]!;
    const many = runs[several]!;
    const id = threadsId;
    const v = checkThreadAgreement(one, many, band.atol, band.rule, id);
    const golden = checkFinalState(j, tc, many.x, caseId('threads', { ...tail, threads: several }));
    record(id, v, engineInfo, {
      metrics: {
        msPerStepOne: one.totalTime / j.steps,
        msPerStepMany: many.totalTime / j.steps,
        goldenMaxAbsMany: golden.metrics.maxAbs ?? null,
      },
    });
    testInfo.annotations.push({ type: 'threads', description: `${BULK_THREADS} vs ${several}: ${v.message}` });
    expect.soft(v.pass, explain(id, v)).toBe(true);
    expect.soft(golden.pass, explain(`${id} against the golden`, golden)).toBe(true);
  });
});
