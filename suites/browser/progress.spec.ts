/**
 * The progress callback of window.tinydit.generate in each engine: 1-based, strictly increasing steps,
 * exactly the web app's schedule (after 0-based step i when i % 5 === 0 or i === steps - 1: 1,6,...,46,50
 * for 50 steps), totalSteps right, times non-negative, and the last progress image equal to the result.
 * Cases are data: progress:engine=<e>,steps=<n>,breed=Bombay,seed=7. faults.spec.ts proves the same check
 * (helpers.ts checkProgress) fails on a page that drops one event.
 */
import { caseId } from '../../harness/core/case-id.js';
import { BREEDS, progressSchedule } from '../../harness/runtimes/web/protocol.js';
import { expect, test } from './fixtures.js';
import {
  BULK_THREADS,
  GOLDEN_SEED,
  attachJson,
  checkModelLoad,
  checkProgress,
  explain,
  judge,
  record,
  selectCases,
  warmLoad,
} from './helpers.js';

/** 50: the app's default; 10: the smallest the app offers; 12: the last step is not on the 5-step grid. */
const STEP_COUNTS = [50, 10, 12];
const BREED = BREEDS.indexOf('Bombay');

test(
  caseId('progress', { breed: BREEDS[BREED], seed: GOLDEN_SEED, steps: STEP_COUNTS.join('|') }),
  async ({ app, bundle, engineInfo }, testInfo) => {
    test.setTimeout(
      bundle.bounds.testMs(
        bundle.engine,
        STEP_COUNTS.map((steps) => ({ variant: 'guided', steps })),
      ),
    );
    const j = await judge();
    const e = engineInfo.project;
    const cases = selectCases(
      STEP_COUNTS.map((steps) => ({ id: caseId('progress', { engine: e, breed: BREEDS[BREED], seed: GOLDEN_SEED, steps }), steps })),
    );
    expect(cases.length, `TINYDIT_CASE=${process.env.TINYDIT_CASE} selects no progress case`).toBeGreaterThan(0);
    const opts = bundle.loadOptions('guided', { numThreads: BULK_THREADS });
    const load = checkModelLoad(await warmLoad(app, opts), opts.modelUrl, BULK_THREADS, 'guided model');
    expect(load.pass, explain('loading', load)).toBe(true);

    for (const c of cases) {
      await test.step(c.id, async () => {
        const run = await app.generate(
          { breedIndex: BREED, steps: c.steps, cfgScale: j.cfgScale, noiseSeed: GOLDEN_SEED },
          { keepProgressImages: true },
        );
        const v = checkProgress(run, c.steps, c.id);
        record(c.id, v, engineInfo, { metrics: { threads: BULK_THREADS } });
        await attachJson(testInfo, `${c.id.replace(/^progress:/, '')}.json`, {
          expected: progressSchedule(c.steps),
          events: run.progress.map(({ rgba: _rgba, ...p }) => p),
          verdict: v.message,
        });
        // The UI follows the callback: the bar ends full and the text shows steps/steps.
        await expect(app.page.locator('#progress')).toHaveJSProperty('value', c.steps);
        await expect(app.page.locator('#progress-text')).toContainText(`${c.steps}/${c.steps}`);
        expect.soft(v.pass, explain(c.id, v)).toBe(true);
      });
    }
  },
);
