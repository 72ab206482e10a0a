/**
 * Proof that each browser check FAILS when the page or the model is broken the way it targets, using the very
 * check functions the other specs expect to pass (suites/browser/helpers.ts). Each proof also runs the check on
 * the good page (baseline): a check that rejects everything proves nothing, so a failing baseline voids it.
 * The page faults are the reference page's fault hooks (harness/runtimes/web/protocol.ts FAULTS), switched on the
 * loaded page with window.tinydit.setFaults (what ?fault=<name> in the URL does at load); the good page is checked to
 * show no fault banner, the broken one to show it.
 * - ?fault=double-guidance (the page applies guidance on top of the baked graph): the golden-trajectory and
 *   golden-image checks reject the result;
 * - ?fault=breed-off-by-one (conditions on breed + 1): the golden checks reject it, the result matches the
 *   golden of the next breed (naming the cause), and breed fidelity of the set rejects it;
 * - ?fault=skip-progress (one scheduled progress event dropped): the progress check names the missing step;
 * - a model URL that 404s: the model-load check fails with the 404 and the error the page shows to the user;
 * - corrupted copies of real results (no page fault needed): download name and pixels, determinism, thread
 *   agreement, the quantized profile and the last progress image are each rejected.
 * Cases: <check>:engine=<e>,...,proof=<fault>.
 */
import { caseId } from '../../harness/core/case-id.js';
import { encodePNG, type RgbaImage } from '../../harness/core/png.js';
import { BREEDS, downloadFileName, type Fault } from '../../harness/runtimes/web/protocol.js';
import { expect, test, type BundleInfo, type EngineInfo, type GenerationRun, type TinyditApp } from './fixtures.js';
import {
  BULK_THREADS,
  GOLDEN_SEED,
  attachComparison,
  attemptLoad,
  checkDeterminism,
  checkDownload,
  checkFidelity,
  checkFinalState,
  checkGoldenImage,
  checkLoadFailsVisibly,
  checkModelLoad,
  checkProgress,
  checkQuantizedImage,
  checkThreadAgreement,
  combine,
  explain,
  judge,
  proof,
  record,
  rgbaOf,
  type GeneratedImage,
  type Judge,
  type Verdict,
  warmLoad,
} from './helpers.js';

/** Breeds of the off-by-one golden proofs: three far apart in colour (none is the last, whose +1 is the null token). */
const OFF_BY_ONE_BREEDS = ['Abyssinian', 'Bombay', 'Siamese'].map((n) => BREEDS.indexOf(n as (typeof BREEDS)[number]));
const BOMBAY = BREEDS.indexOf('Bombay');
/** Progress proofs need only the schedule: the smallest step count the app offers. */
const PROGRESS_STEPS = 10;

async function openWith(app: TinyditApp, faults: Fault[]): Promise<void> {
  await app.open({ faults });
  await expectFaults(app, faults);
}

async function expectFaults(app: TinyditApp, faults: Fault[]): Promise<void> {
  const active = await app.page.evaluate(() => [...window.tinydit.faults]);
  expect(active, 'faults active on the page').toEqual(faults);
  if (faults.length) await expect(app.page.locator('#faults')).toContainText('FAULT INJECTION ACTIVE');
  else await expect(app.page.locator('#faults'), 'no fault banner on the good page').toBeHidden();
}

/** The page with `faults` (and no other) and the guided model loaded: the worker's page reused when it is so already. */
async function guidedWith(app: TinyditApp, bundle: BundleInfo, faults: Fault[]): Promise<void> {
  const opts = bundle.loadOptions('guided', { numThreads: BULK_THREADS });
  const v = checkModelLoad(await warmLoad(app, opts, faults), opts.modelUrl, BULK_THREADS, 'guided model');
  expect(v.pass, explain('loading', v)).toBe(true);
  await expectFaults(app, faults);
}

function goldenVerdict(j: Judge, breed: number, run: GenerationRun, label: string): Verdict {
  const tc = j.trajectoryCase(breed, GOLDEN_SEED);
  return combine('generation', [
    ['state', checkFinalState(j, tc, run.x, label)],
    ['image', checkGoldenImage(j, tc, rgbaOf(run), label)],
  ]);
}

function recordProof(id: string, v: Verdict, engine: EngineInfo): void {
  record(id, v, engine);
}

const GOLDEN_CAUSE = /leaves the golden trajectory/;

test('proof: ?fault=double-guidance fails the golden-trajectory and golden-image checks', async ({ app, bundle, engineInfo }, testInfo) => {
  // the good page's generation and the broken one's, which calls the graph twice per step
  test.setTimeout(bundle.bounds.testMs(bundle.engine, [{ variant: 'guided', steps: bundle.steps, images: 3 }], 1));
  const j = await judge();
  const e = engineInfo.project;
  const gen = { breedIndex: BOMBAY, steps: j.steps, cfgScale: j.cfgScale, noiseSeed: GOLDEN_SEED };
  const label = `breed=${BREEDS[BOMBAY]},seed=${GOLDEN_SEED}`;
  await guidedWith(app, bundle, []);
  const good = goldenVerdict(j, BOMBAY, await app.generate(gen), label);

  await guidedWith(app, bundle, ['double-guidance']);
  const run = await app.generate(gen);
  const broken = goldenVerdict(j, BOMBAY, run, label);
  const id = caseId('generation', { engine: e, variant: 'guided', breed: BREEDS[BOMBAY], seed: GOLDEN_SEED, proof: 'double-guidance' });
  const tc = j.trajectoryCase(BOMBAY, GOLDEN_SEED);
  const img = checkGoldenImage(j, tc, rgbaOf(run), label);
  await attachComparison(testInfo, id, rgbaOf(run), img.golden, img.cmp.diff);
  const p = proof('generation', 'guidance applied twice (page on top of the baked graph)', good, broken, GOLDEN_CAUSE);
  recordProof(id, p, engineInfo);
  expect(p.pass, explain(id, p)).toBe(true);
  // Both halves reject it on their own: the state and the image.
  expect(broken.metrics['state.maxAbs'] as number, 'state error under double guidance').toBeGreaterThan(
    broken.threshold['state.atol'] as number,
  );
  expect(broken.metrics['image.maxChannelDiff'] as number, 'image error under double guidance').toBeGreaterThan(
    broken.threshold['image.maxChannelDiff'] as number,
  );
});

test('proof: ?fault=breed-off-by-one fails the golden checks (matching the next breed) and breed fidelity', async ({
  app,
  bundle,
  engineInfo,
}, testInfo) => {
  test.setTimeout(
    bundle.bounds.testMs(bundle.engine, [{ variant: 'guided', steps: bundle.steps, images: OFF_BY_ONE_BREEDS.length + BREEDS.length }], 1),
  ); // the good page on a few breeds, the broken one on every breed
  const j = await judge();
  const e = engineInfo.project;
  const generate = async (breeds: number[]): Promise<Map<number, GenerationRun>> => {
    const out = new Map<number, GenerationRun>();
    for (const b of breeds) out.set(b, await app.generate({ breedIndex: b, steps: j.steps, cfgScale: j.cfgScale, noiseSeed: GOLDEN_SEED }));
    return out;
  };
  const label = (b: number): string => `breed=${BREEDS[b]},seed=${GOLDEN_SEED}`;

  await guidedWith(app, bundle, []);
  const goodRuns = await generate(OFF_BY_ONE_BREEDS);
  await guidedWith(app, bundle, ['breed-off-by-one']);
  // Every breed (as generation.spec.ts does): the fidelity check judges a set, and a small one has no power.
  const badRuns = await generate(BREEDS.map((_, b) => b));

  for (const b of OFF_BY_ONE_BREEDS) {
    const id = caseId('generation', { engine: e, variant: 'guided', breed: BREEDS[b], seed: GOLDEN_SEED, proof: 'breed-off-by-one' });
    const good = goldenVerdict(j, b, goodRuns.get(b)!, label(b));
    const broken = goldenVerdict(j, b, badRuns.get(b)!, label(b));
    // The cause, named: the broken result is the golden of the next breed.
    const next = checkFinalState(j, j.trajectoryCase(b + 1, GOLDEN_SEED), badRuns.get(b)!.x, label(b + 1));
    const p = proof(
      'generation',
      `conditioned on breed ${b + 1} (${BREEDS[b + 1]}) while showing ${BREEDS[b]}`,
      good,
      broken,
      GOLDEN_CAUSE,
    );
    const diagnosed: Verdict = {
      ...p,
      pass: p.pass && next.pass,
      metrics: { ...p.metrics, matchesGoldenOfNextBreed: next.pass, nextBreedMaxAbs: next.metrics.maxAbs ?? null },
      message: next.pass
        ? `${p.message}; the result matches the golden of ${BREEDS[b + 1]} (max ${String(next.metrics.maxAbs)})`
        : `${p.message}; but it does NOT match the golden of ${BREEDS[b + 1]} either: ${next.message.split('\n')[0]}`,
    };
    recordProof(id, diagnosed, engineInfo);
    const img = checkGoldenImage(j, j.trajectoryCase(b, GOLDEN_SEED), rgbaOf(badRuns.get(b)!), label(b));
    await attachComparison(testInfo, id, rgbaOf(badRuns.get(b)!), img.golden, img.cmp.diff);
    expect.soft(diagnosed.pass, explain(id, diagnosed)).toBe(true);
  }

  // Fidelity baseline: the golden seed-7 images, which the good page reproduces (generation.spec.ts checks that,
  // and the three good runs above confirm it here); broken: the page's 13 images under the fault.
  const goldenSet: GeneratedImage[] = BREEDS.map((_, b) => ({
    breed: b,
    seed: GOLDEN_SEED,
    label: label(b),
    image: j.goldenImage(j.trajectoryCase(b, GOLDEN_SEED)),
  }));
  const brokenSet: GeneratedImage[] = [...badRuns].map(([b, r]) => ({ breed: b, seed: GOLDEN_SEED, label: label(b), image: rgbaOf(r) }));
  const setId = caseId('fidelity', {
    engine: e,
    variant: 'guided',
    seed: GOLDEN_SEED,
    set: `${brokenSet.length}-breeds`,
    proof: 'breed-off-by-one',
  });
  const p = proof(
    'fidelity',
    'every image conditioned on the next breed',
    checkFidelity(j, goldenSet),
    checkFidelity(j, brokenSet),
    /looks like/,
  );
  recordProof(setId, p, engineInfo);
  expect.soft(p.pass, explain(setId, p)).toBe(true);
});

test('proof: ?fault=skip-progress fails the progress check, naming the missing step', async ({ app, bundle, engineInfo }) => {
  test.setTimeout(bundle.bounds.testMs(bundle.engine, [{ variant: 'guided', steps: PROGRESS_STEPS, images: 2 }], 1));
  const j = await judge();
  const id = caseId('progress', {
    engine: engineInfo.project,
    breed: BREEDS[BOMBAY],
    seed: GOLDEN_SEED,
    steps: PROGRESS_STEPS,
    proof: 'skip-progress',
  });
  const gen = { breedIndex: BOMBAY, steps: PROGRESS_STEPS, cfgScale: j.cfgScale, noiseSeed: GOLDEN_SEED };
  await guidedWith(app, bundle, []);
  const good = checkProgress(await app.generate(gen, { keepProgressImages: true }), PROGRESS_STEPS, id);
  await guidedWith(app, bundle, ['skip-progress']);
  const broken = checkProgress(await app.generate(gen, { keepProgressImages: true }), PROGRESS_STEPS, id);
  const p = proof(
    'progress',
    'one scheduled progress event not sent',
    good,
    broken,
    /missing step\(s\) 6 \(a progress event was skipped\)/,
  );
  recordProof(id, p, engineInfo);
  expect(p.pass, explain(id, p)).toBe(true);
});

test('proof: a model URL that 404s fails the model-load check with the error the page shows', async ({ app, bundle, engineInfo }) => {
  test.setTimeout(bundle.bounds.testMs(bundle.engine, [{ variant: 'guided', steps: 0, images: 0 }], 2)); // the good load, then the 404
  const id = caseId('loading', { engine: engineInfo.project, model: '/bundle/no-such-model.onnx', proof: 'http-404' });
  const good = bundle.loadOptions('guided', { numThreads: BULK_THREADS });
  await openWith(app, []);
  const baseline = checkModelLoad(await attemptLoad(app, good), good.modelUrl, BULK_THREADS, 'guided model');
  const missing = { ...good, modelUrl: '/bundle/no-such-model.onnx', timeoutMs: 20_000 };
  const attempt = await attemptLoad(app, missing);
  const broken = checkModelLoad(attempt, missing.modelUrl, BULK_THREADS, 'missing model');
  const p = proof('loading', 'the model URL answers 404', baseline, broken, /did not load: .*404.*shown to the user: ".*404/);
  recordProof(id, p, engineInfo);
  expect(p.pass, explain(id, p)).toBe(true);
  // The complementary check: the failure is visible, names the cause, and leaves the page in its error state.
  const visible = checkLoadFailsVisibly(attempt, missing.modelUrl, /404/, 'missing model');
  record(
    caseId('loading', { engine: engineInfo.project, model: '/bundle/no-such-model.onnx', expect: 'visible-error' }),
    visible,
    engineInfo,
  );
  expect(visible.pass, explain('visible error', visible)).toBe(true);
});

test('proof: corrupted copies of real results fail the download, determinism, threads, quantized and progress checks', async ({
  app,
  bundle,
  engineInfo,
}) => {
  test.setTimeout(bundle.bounds.testMs(bundle.engine, [{ variant: 'guided', steps: PROGRESS_STEPS, images: 1 }], 1));
  const j = await judge();
  const e = engineInfo.project;
  const breed = BREEDS.indexOf('British Shorthair');
  await guidedWith(app, bundle, []);
  const run = await app.generate(
    { breedIndex: breed, steps: PROGRESS_STEPS, cfgScale: j.cfgScale, noiseSeed: GOLDEN_SEED },
    { keepProgressImages: true },
  );
  const shown = rgbaOf(run);
  const ts = Date.now();
  const window = { from: ts, to: ts };
  const goodName = downloadFileName(breed, ts);
  const goodPng = encodePNG(shown);
  const proofs: Array<[string, Verdict]> = [];
  const tail = { engine: e, breed: BREEDS[breed], seed: GOLDEN_SEED };

  // download: the name with the space kept, one pixel changed, a truncated file
  const dl = checkDownload(goodName, goodPng, shown, breed, window, 'download');
  const spaced = `cat_${BREEDS[breed]!.toLowerCase()}_${ts}.png`;
  proofs.push([
    caseId('download', { ...tail, proof: 'name-keeps-space' }),
    proof(
      'download',
      "the breed's space kept in the file name",
      dl,
      checkDownload(spaced, goodPng, shown, breed, window, 'download'),
      /does not match/,
    ),
  ]);
  const altered: RgbaImage = { ...shown, data: Uint8ClampedArray.from(shown.data) };
  altered.data[0] = (altered.data[0]! + 1) % 256;
  proofs.push([
    caseId('download', { ...tail, proof: 'one-pixel-changed' }),
    proof(
      'download',
      'a saved PNG whose pixels differ from the shown image',
      dl,
      checkDownload(goodName, encodePNG(altered), shown, breed, window, 'download'),
      /differ from the shown image in 1 bytes/,
    ),
  ]);
  proofs.push([
    caseId('download', { ...tail, proof: 'truncated-png' }),
    proof(
      'download',
      'a truncated PNG',
      dl,
      checkDownload(goodName, goodPng.slice(0, goodPng.length >> 1), shown, breed, window, 'download'),
      /not a readable PNG/,
    ),
  ]);

  // determinism: one state value one float32 ulp off
  const twin: GenerationRun = { ...run, x: Float32Array.from(run.x) };
  const nudged: GenerationRun = { ...run, x: Float32Array.from(run.x) };
  const bits = new Uint32Array(nudged.x.buffer);
  bits[17] = bits[17]! + 1;
  proofs.push([
    caseId('determinism', { ...tail, proof: 'one-ulp' }),
    proof(
      'determinism',
      'one state value one ulp off',
      checkDeterminism(run, twin, 'determinism'),
      checkDeterminism(run, nudged, 'determinism'),
      /1 state values and 0 image bytes differ/,
    ),
  ]);

  // threads: one value moved by twice the tolerance
  const band = j.finalBand(j.trajectoryCase(breed, GOLDEN_SEED));
  const moved: GenerationRun = { ...run, x: Float32Array.from(run.x) };
  moved.x[5] = moved.x[5]! + 2 * band.atol;
  proofs.push([
    caseId('threads', { ...tail, proof: 'moved-2x-tolerance' }),
    proof(
      'threads',
      'a threaded run off by twice the tolerance',
      checkThreadAgreement(run, twin, band.atol, band.rule, 'threads'),
      checkThreadAgreement(run, moved, band.atol, band.rule, 'threads'),
      /several threads move the final state/,
    ),
  ]);

  // quantized profile: the float golden itself passes; the golden brightened by 3 levels does not
  const tc = j.trajectoryCase(BOMBAY, GOLDEN_SEED);
  const golden = j.goldenImage(tc);
  const bright: RgbaImage = { ...golden, data: golden.data.map((v, i) => (i % 4 === 3 ? v : Math.min(255, v + 3))) };
  const q = (img: RgbaImage): Verdict => checkQuantizedImage(j, tc, img, `variant=quantized,breed=${BREEDS[BOMBAY]},seed=${GOLDEN_SEED}`);
  proofs.push([
    caseId('generation', { engine: e, variant: 'quantized', breed: BREEDS[BOMBAY], seed: GOLDEN_SEED, proof: 'brightened-3-levels' }),
    proof('generation', 'an image 3 levels brighter than the golden', q(golden), q(bright), /tolerance\.quantized\.imageMeanAbsMax/),
  ]);

  // progress: the last progress image not the result
  const lastOff: GenerationRun = {
    ...run,
    progress: run.progress.map((p, i) =>
      i === run.progress.length - 1 && p.rgba ? { ...p, rgba: Uint8Array.from(p.rgba, (v, k) => (k === 0 ? (v + 1) % 256 : v)) } : p,
    ),
  };
  proofs.push([
    caseId('progress', { ...tail, steps: PROGRESS_STEPS, proof: 'last-image-stale' }),
    proof(
      'progress',
      'a last progress image that is not the result',
      checkProgress(run, PROGRESS_STEPS, 'progress'),
      checkProgress(lastOff, PROGRESS_STEPS, 'progress'),
      /last progress image \(step 10\) differs from the result in 1 bytes/,
    ),
  ]);
  // progress: 0-based steps
  const zeroBased: GenerationRun = { ...run, progress: run.progress.map((p) => ({ ...p, step: p.step - 1 })) };
  proofs.push([
    caseId('progress', { ...tail, steps: PROGRESS_STEPS, proof: 'zero-based-steps' }),
    proof(
      'progress',
      '0-based step numbers',
      checkProgress(run, PROGRESS_STEPS, 'progress'),
      checkProgress(zeroBased, PROGRESS_STEPS, 'progress'),
      /not the app's schedule/,
    ),
  ]);

  for (const [id, p] of proofs) {
    recordProof(id, p, engineInfo);
    expect.soft(p.pass, explain(id, p)).toBe(true);
  }
});
