/**
 * The app under test (env TINYDIT_APP: `reference`, the default, `double`, `double-fixed`, or an adapter module; env
 * TINYDIT_APP_URL: where it runs), driven through its adapter (harness/apps/adapter.ts; manual: docs/app-under-test.md).
 * Every record is app:engine=<e>,app=<name>,check=<c>,...:
 *  - check=defaults: the app at its own default settings (steps and guidance as its UI starts) generates every breed at
 *    the golden seed; each image is judged against the golden PNG like the generation family (helpers.ts
 *    checkGoldenImage, or the quantized profile); a failing image is attributed to a guidance scale by comparing it
 *    with images the gate samples in onnxruntime-node (harness/checks/app.ts): this is where guidance applied twice
 *    is caught and named. The app's defaults must be the bundle's sampler settings (50 steps, the golden scale).
 *  - check=progress: the first default run's progress events (helpers.ts checkProgress, the app's 5-step schedule).
 *  - check=guidance: on the shipped (baked) graph and on the raw graph, the app's guidance control at its minimum,
 *    default and maximum: an image must be made with the scale the manifest says (a baked graph: only its own scale;
 *    a raw graph: the setting), a scale the graph cannot give must be refused visibly or not offered.
 *  - check=null-index: the breed index the app sends for its unconditional call selects the model's null row in this
 *    engine's onnxruntime-web (one call with that index and one with the manifest's, compared bit for bit, on every
 *    variant); -1 is measured in every run whatever the app uses (ONNX Gather allows negative indices; whether
 *    onnxruntime-web honours them is what this records).
 *  - check=download: after a generation, another breed selected but not generated, the app's Download: the file is
 *    named after the breed shown and holds the shown pixels (helpers.ts checkDownload).
 *  - check=determinism: the same settings twice give the same image (helpers.ts checkDeterminism).
 *  - check=fallback: the app's primary model URL answers 404: the app falls back to the model or shows an error, within
 *    settleMs (two loads, from the bundle's measured speed); a silent hang fails.
 *  - check=backend: opened as a user would (the app picks its backend): the backend it reports and the WebGPU adapter
 *    the engine offers are recorded; the app must end ready or with a visible error within settleMs.
 */
import { caseId } from '../../harness/core/case-id.js';
import { tensorToRGBA } from '../../harness/core/image.js';
import type { RgbaImage } from '../../harness/core/png.js';
import { sample } from '../../harness/core/sampler.js';
import { openVariant, samplerModel } from '../../harness/runtimes/node.js';
import { BREEDS } from '../../harness/runtimes/web/protocol.js';
import { appFromEnv, type AppAdapter, type AppModel, type AppRefusal, type AppRun } from '../../harness/apps/adapter.js';
import { attributeGuidance, describeAttribution, expectedScale, guidanceCandidates } from '../../harness/checks/app.js';
import { expect, test, type BundleInfo, type EngineInfo } from './fixtures.js';
import {
  GOLDEN_SEED,
  agreement,
  attachComparison,
  attachImage,
  attachJson,
  checkDeterminism,
  checkDownload,
  checkGoldenImage,
  checkProgress,
  checkQuantizedImage,
  explain,
  judge,
  verdict as makeVerdict,
  pixelLevelsFor,
  record,
  rgbaOf,
  selectCases,
  type Judge,
  type Verdict,
} from './helpers.js';

/** The variant the app ships (env TINYDIT_APP_VARIANT; the real app ships the quantized one). */
const SHIPPED = process.env.TINYDIT_APP_VARIANT?.trim() || 'guided';
/**
 * Time an app gets to end ready or show an error after opening: two loads of the shipped model (a 404 and the
 * fallback), from the bundle's measured speed (harness/runtimes/time-bounds.ts).
 */
const settleMs = (bundle: BundleInfo): number => 2 * bundle.bounds.loadMs(bundle.engine, SHIPPED);
/** Time one generation of the shipped model may take, from the bundle's measured speed. */
const generationMs = (bundle: BundleInfo): number => bundle.bounds.testMs(bundle.engine, [{ variant: SHIPPED, steps: bundle.steps }], 0);
/** A test's time limit: `loads` loads of the shipped model and `images` generations of `steps` steps. */
const testMs = (bundle: BundleInfo, images: number, loads: number, steps = bundle.steps): number =>
  bundle.bounds.testMs(bundle.engine, [{ variant: SHIPPED, steps, images }], loads);
/** Steps of the guidance-range runs: enough for guidance to shape the image, fewer than the default for time. */
const GUIDANCE_STEPS = 20;
const GUIDANCE_BREED = BREEDS.indexOf('Bombay');
const DOWNLOAD_BREED = BREEDS.indexOf('British Shorthair');

let appOnce: Promise<{ adapter: AppAdapter; appUrl?: string }> | null = null;
const appUnderTest = () => (appOnce ??= appFromEnv());

function appModel(bundle: BundleInfo, j: Judge, serverURL: string, variant: string): AppModel {
  const o = bundle.loadOptions(variant);
  return {
    variant,
    url: new URL(o.modelUrl, serverURL + '/').href,
    guidance: o.guidance,
    ...(o.bakedScale !== undefined ? { bakedScale: o.bakedScale } : {}),
    nullIndex: o.nullIndex,
    imageSize: j.size,
    channels: j.channels,
  };
}

/**
 * How far (mean |diff| in levels) an app's image may be from Node's at the expected guidance: the quantized variant's
 * own profile (tolerance.quantized.imageMeanAbsMax), else the rounding of the trajectory tolerance (helpers.ts
 * pixelLevelsFor, the most any pixel of a state within the tolerance can differ).
 */
function imageBound(j: Judge, variant: string): { levels: number; rule: string } {
  const q = j.bundle.tolerance.quantized;
  if (j.bundle.variant(variant).quantized && q) return { levels: q.imageMeanAbsMax, rule: 'tolerance.quantized.imageMeanAbsMax' };
  const band = j.finalBand(j.trajectoryCase(GUIDANCE_BREED, GOLDEN_SEED));
  return { levels: pixelLevelsFor(band.atol), rule: `the rounding of ${band.rule}` };
}

const isRefusal = (r: AppRun | AppRefusal): r is AppRefusal => 'error' in r;

/** The image onnxruntime-node gives for this case with guidance applied once at `scale` on the raw graph (cached per worker). */
const nodeImages = new Map<string, Promise<RgbaImage>>();
function nodeImage(j: Judge, breed: number, seed: number, steps: number, scale: number): Promise<RgbaImage> {
  const key = `${breed}:${seed}:${steps}:${scale.toFixed(6)}`;
  let p = nodeImages.get(key);
  if (!p) {
    p = (async () => {
      const runner = await openVariant(j.bundle, 'raw', { threads: 1 });
      try {
        const { x } = await sample(samplerModel(runner), { breeds: [breed], seeds: [seed], steps, cfgScale: scale });
        return { width: j.size, height: j.size, data: tensorToRGBA(x, j.size) };
      } finally {
        await runner.release();
      }
    })();
    nodeImages.set(key, p);
  }
  return p;
}

async function attribution(j: Judge, model: AppModel, image: RgbaImage, breed: number, seed: number, steps: number, setting: number) {
  const cands = guidanceCandidates(model, setting);
  const withImages = await Promise.all(cands.map(async (c) => ({ ...c, image: await nodeImage(j, breed, seed, steps, c.scale) })));
  const a = attributeGuidance(image, withImages);
  return { a, text: describeAttribution(a, setting, model) };
}

function rec(
  id: string,
  v: Verdict,
  engine: EngineInfo,
  adapter: AppAdapter,
  metrics: Record<string, string | number | boolean | null> = {},
  artifacts?: string[],
) {
  record(id, { ...v, check: 'app' }, engine, {
    metrics: { app: adapter.name, appDrives: adapter.drives, ...metrics },
    ...(artifacts ? { artifacts } : {}),
  });
}

/** helpers.ts verdict() for the app family. */
const verdict = (failures: string[], ok: string, metrics: Verdict['metrics'] = {}, threshold: Verdict['threshold'] = {}): Verdict =>
  makeVerdict('app', failures, ok, metrics, threshold);

test.describe('app under test', () => {
  test('app:check=defaults', async ({ app, bundle, engineInfo, serverURL }, testInfo) => {
    test.setTimeout(testMs(bundle, BREEDS.length, 2));
    const { adapter, appUrl } = await appUnderTest();
    const j = await judge();
    const e = engineInfo.project;
    const model = appModel(bundle, j, serverURL, SHIPPED);
    const idOf = (check: string, breed?: number) =>
      caseId('app', {
        engine: e,
        app: adapter.name,
        check,
        variant: SHIPPED,
        ...(breed !== undefined ? { breed: BREEDS[breed] } : {}),
        seed: GOLDEN_SEED,
      });
    const cases = selectCases(BREEDS.map((_, b) => ({ id: idOf('defaults', b), breed: b })));
    expect(cases.length, `TINYDIT_CASE=${process.env.TINYDIT_CASE} selects no app defaults case`).toBeGreaterThan(0);

    await adapter.open(app.page, serverURL, { model, backend: 'wasm' }, appUrl);
    const settled = await adapter.settle(app.page, settleMs(bundle));
    if (!settled.ready) {
      const msg = `the app did not get ready with ${model.url}: ${settled.error ?? `no model and no visible error within ${settleMs(bundle)} ms`}`;
      for (const c of cases) rec(c.id, verdict([msg], ''), engineInfo, adapter);
      throw new Error(`${cases[0]!.id}: ${msg}`);
    }
    const controls = await adapter.controls(app.page);
    const defaults = { steps: controls.steps.value, cfgScale: controls.cfgScale.value };
    const defaultsWrong: string[] = [];
    const samplerSteps = bundle.defaultSteps;
    if (defaults.steps !== samplerSteps)
      defaultsWrong.push(`the app's default steps ${defaults.steps} are not the sampler's ${samplerSteps} (manifest sampler.defaultSteps)`);
    else if (defaults.steps !== j.steps)
      // the app is right; the bundle cannot judge it: its images are compared with the golden trajectories' last state
      defaultsWrong.push(
        `the bundle's golden trajectories have ${j.steps} steps (goldens/index.json), the app's defaults ${defaults.steps}: ` +
          `its default images have no golden to be judged against; make the bundle with trajectories at the sampler's steps (make_bundle.py without --trajectory-steps)`,
      );
    if (Math.abs(defaults.cfgScale - j.cfgScale) > 1e-9)
      defaultsWrong.push(`the app's default guidance ${defaults.cfgScale} is not the golden scale ${j.cfgScale}`);
    testInfo.annotations.push({
      type: 'app',
      description: `${adapter.name} (${adapter.description}); defaults: ${defaults.steps} steps, guidance ${defaults.cfgScale}; backend ${settled.backend}`,
    });

    let progressDone = false;
    for (const c of cases) {
      await test.step(c.id, async () => {
        const tc = j.trajectoryCase(c.breed, GOLDEN_SEED);
        const r = await adapter.generate(
          app.page,
          { breedIndex: c.breed, steps: defaults.steps, cfgScale: defaults.cfgScale, seed: GOLDEN_SEED },
          generationMs(bundle),
        );
        if (isRefusal(r)) {
          const v = verdict([`${c.id}: the app refused its own default settings: ${r.error}`], '');
          rec(c.id, v, engineInfo, adapter);
          expect.soft(v.pass, explain(c.id, v)).toBe(true);
          return;
        }
        const image = rgbaOf(r);
        const judged = model.variant === 'quantized' ? checkQuantizedImage(j, tc, image, c.id) : checkGoldenImage(j, tc, image, c.id);
        const parts = [...defaultsWrong];
        let cause: Record<string, string | number | null> = {};
        if (!judged.pass) {
          // the cause first (a summary line shows the start of the message), then the golden comparison
          const { a, text } = await attribution(j, model, image, c.breed, GOLDEN_SEED, defaults.steps, defaults.cfgScale);
          parts.push(`${c.id}: ${text}`, judged.message.replace(`${c.id}: `, ''));
          cause = { attributedScale: a.nearest?.scale ?? null, attributedAs: a.nearest?.meaning ?? 'ambiguous', separation: a.separation };
        }
        const v = verdict(
          parts,
          `${judged.message} at the app's defaults (${defaults.steps} steps, guidance ${defaults.cfgScale})`,
          { ...judged.metrics, ...cause, steps: defaults.steps, cfgScale: defaults.cfgScale, backend: settled.backend },
          judged.threshold,
        );
        const artifacts = await attachComparison(testInfo, c.id, image, judged.golden, judged.cmp.diff);
        rec(c.id, v, engineInfo, adapter, {}, artifacts);
        expect.soft(v.pass, explain(c.id, v)).toBe(true);
        if (!progressDone) {
          progressDone = true;
          const pid = caseId('app', {
            engine: e,
            app: adapter.name,
            check: 'progress',
            breed: BREEDS[c.breed],
            seed: GOLDEN_SEED,
            steps: defaults.steps,
          });
          const pv = checkProgress(r, defaults.steps, pid);
          rec(pid, pv, engineInfo, adapter);
          await attachJson(testInfo, 'progress.json', { events: r.progress.map(({ rgba: _r, ...p }) => p), verdict: pv.message });
          expect.soft(pv.pass, explain(pid, pv)).toBe(true);
        }
      });
    }
  });

  test('app:check=guidance', async ({ app, bundle, engineInfo, serverURL }, testInfo) => {
    // two page loads and six runs (each variant at three scales), and as many Node images to attribute them to
    test.setTimeout(
      testMs(bundle, 6, 4, GUIDANCE_STEPS) + bundle.bounds.workMs('node', [{ variant: 'raw', steps: GUIDANCE_STEPS, images: 6 }]),
    );
    const { adapter, appUrl } = await appUnderTest();
    const j = await judge();
    const e = engineInfo.project;
    const variants = [...new Set([SHIPPED, 'raw'])].filter((v) => j.bundle.variantNames.includes(v));
    for (const variant of variants) {
      const model = appModel(bundle, j, serverURL, variant);
      await adapter.open(app.page, serverURL, { model, backend: 'wasm' }, appUrl);
      const settled = await adapter.settle(app.page, settleMs(bundle));
      const controls = settled.ready ? await adapter.controls(app.page) : null;
      const r = controls?.cfgScale;
      const settings = r ? [...new Set([r.min, r.value, r.max].map((s) => Number(s.toFixed(6))))] : [j.cfgScale];
      for (const s of settings) {
        const id = caseId('app', {
          engine: e,
          app: adapter.name,
          check: 'guidance',
          variant,
          breed: BREEDS[GUIDANCE_BREED],
          seed: GOLDEN_SEED,
          steps: GUIDANCE_STEPS,
          scale: s,
        });
        await test.step(id, async () => {
          if (!settled.ready) {
            const v = verdict([`${id}: the app did not get ready with ${model.url}: ${settled.error ?? 'no visible error either'}`], '');
            rec(id, v, engineInfo, adapter);
            expect.soft(v.pass, explain(id, v)).toBe(true);
            return;
          }
          const want = expectedScale(model, s);
          const out = await adapter.generate(
            app.page,
            { breedIndex: GUIDANCE_BREED, steps: GUIDANCE_STEPS, cfgScale: s, seed: GOLDEN_SEED },
            generationMs(bundle),
          );
          let v: Verdict;
          if (isRefusal(out)) {
            v =
              want === null && out.visible
                ? verdict([], `refused visibly (the ${model.guidance} graph cannot give ${s}): ${out.error}`, {
                    outcome: 'refused',
                    setting: s,
                  })
                : want === null
                  ? verdict([`${id}: the app refused guidance ${s} without showing the user why: ${out.error}`], '', {
                      outcome: 'refused-silently',
                      setting: s,
                    })
                  : verdict(
                      [
                        `${id}: the app refused guidance ${s}, which this ${model.guidance === 'baked' ? 'baked' : 'raw'} graph can give: ${out.error}`,
                      ],
                      '',
                      { outcome: 'refused', setting: s },
                    );
          } else {
            const image = rgbaOf(out);
            const { a, text } = await attribution(j, model, image, GUIDANCE_BREED, GOLDEN_SEED, GUIDANCE_STEPS, s);
            const m = {
              outcome: 'image',
              setting: s,
              expectedScale: want,
              attributedScale: a.nearest?.scale ?? null,
              attributedAs: a.nearest?.meaning ?? 'ambiguous',
              separation: a.separation,
            };
            if (want === null) {
              v = verdict(
                [
                  `${id}: the app offers guidance ${s}, which the baked graph (scale ${model.bakedScale}) cannot give, and made an image instead of refusing: ${text}`,
                ],
                '',
                m,
              );
            } else if (a.nearest?.meaning !== 'expected') {
              v = verdict([`${id}: at setting ${s} the ${variant} graph should give guidance ${want}; ${text}`], '', m);
            } else {
              // nearest to the expected scale, and as near as the variant's own tolerance allows (one candidate alone is always nearest)
              const bound = imageBound(j, variant);
              const d = a.nearest.meanAbs;
              v = verdict(
                d <= bound.levels
                  ? []
                  : [
                      `${id}: the image is ${d.toFixed(3)} levels (mean) from Node's at guidance ${want}, more than ${bound.levels.toFixed(3)} (${bound.rule}); ${text}`,
                    ],
                text,
                { ...m, meanAbsToExpected: d },
                { meanAbsToExpected: bound.levels },
              );
            }
            await attachImage(testInfo, id, 'app-image', image);
          }
          rec(id, v, engineInfo, adapter);
          expect.soft(v.pass, explain(id, v)).toBe(true);
        });
      }
    }
  });

  test('app:check=null-index', async ({ app, bundle, engineInfo, serverURL }) => {
    // a session per variant created in the page, a few velocity calls each
    test.setTimeout(testMs(bundle, 3 * 4, 3, 1));
    const { adapter } = await appUnderTest();
    const j = await judge();
    const e = engineInfo.project;
    const nullIndex = j.bundle.nullIndex;
    const appIndex = adapter.unconditionalIndex === 'manifest' ? nullIndex : adapter.unconditionalIndex;
    // measured on the reference page's origin with onnxruntime-web in the page (the engine's Gather, not the app's code)
    await app.page.goto(new URL('/', serverURL + '/').href);
    const files = j.bundle.variantNames.map((v) => ({ variant: v, url: bundle.url(bundle.file(v)) }));
    const measured = await app.page.evaluate(
      async ({ files, size, channels, indices }) => {
        const ort = (await import('/ort/ort.wasm.min.mjs' as string)) as typeof import('onnxruntime-web');
        ort.env.wasm.wasmPaths = '/ort/';
        ort.env.wasm.numThreads = 1;
        const n = channels * size * size;
        const x = new Float32Array(n).map((_, i) => Math.sin(i * 0.37));
        const out: Record<string, Record<string, number[] | string>> = {};
        for (const f of files) {
          const s = await ort.InferenceSession.create(f.url, { executionProviders: ['wasm'] });
          out[f.variant] = {};
          for (const b of indices) {
            try {
              const r = await s.run({
                noise: new ort.Tensor('float32', x, [1, channels, size, size]),
                timestep: new ort.Tensor('float32', new Float32Array([0.5]), [1]),
                breed: new ort.Tensor('int64', new BigInt64Array([BigInt(b)]), [1]),
              });
              out[f.variant]![String(b)] = Array.from(r.velocity!.data as Float32Array);
            } catch (err) {
              out[f.variant]![String(b)] = String((err as Error).message ?? err);
            }
          }
          await s.release();
        }
        return out;
      },
      { files, size: j.size, channels: j.channels, indices: [...new Set([nullIndex, appIndex, -1])] },
    );
    // helpers.ts agreement() on two outputs; a call that failed (its error message) agrees with nothing
    const same = (a: number[] | string | undefined, b: number[] | string | undefined): { equal: boolean; maxAbs: number | string } => {
      if (!Array.isArray(a) || !Array.isArray(b)) return { equal: false, maxAbs: typeof a === 'string' ? a : String(b) };
      const g = agreement(Float32Array.from(a), Float32Array.from(b));
      return { equal: g.bitIdentical, maxAbs: g.maxAbs };
    };
    for (const f of files) {
      const id = caseId('app', { engine: e, app: adapter.name, check: 'null-index', variant: f.variant });
      const r = measured[f.variant]!;
      const appSame = same(r[String(appIndex)], r[String(nullIndex)]);
      const minusOne = same(r['-1'], r[String(nullIndex)]);
      const v = verdict(
        appSame.equal
          ? []
          : [
              `${id}: the app's unconditional index ${appIndex} does not select the null row ${nullIndex} in ${engineInfo.label}'s onnxruntime-web ` +
                `(velocity differs by ${appSame.maxAbs}): its "unconditional" branch is conditioned on something else, so its guidance is wrong`,
            ],
        `the app's unconditional index ${appIndex} selects the null row ${nullIndex} (bit-identical velocity)`,
        { appIndex, nullIndex, appIndexIsNull: appSame.equal, minusOneIsNull: minusOne.equal, minusOneMaxAbs: minusOne.maxAbs },
        { appIndexIsNull: true },
      );
      rec(id, v, engineInfo, adapter);
      expect.soft(v.pass, explain(id, v)).toBe(true);
    }
  });

  test('app:check=download+determinism', async ({ app, bundle, engineInfo, serverURL }, testInfo) => {
    test.setTimeout(testMs(bundle, 2, 1));
    const { adapter, appUrl } = await appUnderTest();
    const j = await judge();
    const e = engineInfo.project;
    const model = appModel(bundle, j, serverURL, SHIPPED);
    await adapter.open(app.page, serverURL, { model, backend: 'wasm' }, appUrl);
    const settled = await adapter.settle(app.page, settleMs(bundle));
    expect(settled.ready, `the app did not get ready with ${model.url}: ${settled.error ?? 'no visible error either'}`).toBe(true);
    const controls = await adapter.controls(app.page);
    const steps = controls.steps.min;
    const settings = { breedIndex: DOWNLOAD_BREED, steps, cfgScale: controls.cfgScale.value, seed: GOLDEN_SEED };
    const first = await adapter.generate(app.page, settings, generationMs(bundle));
    const second = await adapter.generate(app.page, settings, generationMs(bundle));
    const detId = caseId('app', {
      engine: e,
      app: adapter.name,
      check: 'determinism',
      breed: BREEDS[DOWNLOAD_BREED],
      seed: GOLDEN_SEED,
      steps,
    });
    if (isRefusal(first) || isRefusal(second)) {
      const v = verdict([`${detId}: generation failed: ${isRefusal(first) ? first.error : (second as AppRefusal).error}`], '');
      rec(detId, v, engineInfo, adapter);
      throw new Error(explain(detId, v));
    }
    const dv = checkDeterminism(first, second, detId);
    rec(detId, dv, engineInfo, adapter);
    expect.soft(dv.pass, explain(detId, dv)).toBe(true);

    // A user looks at another breed in the list, then downloads what is shown.
    const other = BREEDS.indexOf('Bombay');
    await adapter.selectBreed(app.page, other);
    const from = Date.now();
    const d = await adapter.download(app.page, engineInfo.kind === 'minibrowser');
    const to = Date.now();
    const id = caseId('app', { engine: e, app: adapter.name, check: 'download', breed: BREEDS[DOWNLOAD_BREED], seed: GOLDEN_SEED, steps });
    const v = checkDownload(
      d.name,
      d.bytes,
      rgbaOf(second),
      DOWNLOAD_BREED,
      { from, to },
      `${id} (${BREEDS[other]} selected, not generated)`,
    );
    rec(id, v, engineInfo, adapter, { route: d.route });
    await testInfo.attach(d.name, { body: Buffer.from(d.bytes), contentType: 'image/png' });
    expect.soft(v.pass, explain(id, v)).toBe(true);
  });

  test('app:check=fallback+backend', async ({ app, bundle, engineInfo, serverURL }) => {
    test.setTimeout(testMs(bundle, 0, 4));
    const { adapter, appUrl } = await appUnderTest();
    const j = await judge();
    const e = engineInfo.project;
    const model = appModel(bundle, j, serverURL, SHIPPED);

    const fid = caseId('app', { engine: e, app: adapter.name, check: 'fallback', variant: SHIPPED });
    const broken = new URL('/bundle/missing-primary/model.onnx', serverURL + '/').href;
    await adapter.open(app.page, serverURL, { model, brokenPrimaryUrl: broken, backend: 'wasm' }, appUrl);
    const fs = await adapter.settle(app.page, settleMs(bundle));
    const fv = verdict(
      fs.ready || fs.error
        ? []
        : [
            `${fid}: with its primary model URL answering 404 (${broken}) the app neither fell back nor showed an error within ${settleMs(bundle)} ms`,
          ],
      fs.ready
        ? `fell back to the model in ${fs.ms} ms (${fs.modelSource ?? 'source not shown'})`
        : `failed visibly in ${fs.ms} ms: ${fs.error}`,
      { outcome: fs.ready ? 'fell-back' : fs.error ? 'failed-visibly' : 'hung', ms: fs.ms, modelSource: fs.modelSource },
      { ms: settleMs(bundle) },
    );
    rec(fid, fv, engineInfo, adapter);
    expect.soft(fv.pass, explain(fid, fv)).toBe(true);

    const bid = caseId('app', { engine: e, app: adapter.name, check: 'backend', variant: SHIPPED });
    await adapter.open(app.page, serverURL, { model, backend: 'app' }, appUrl);
    const bs = await adapter.settle(app.page, settleMs(bundle));
    const gpu = await app.page.evaluate(async () => {
      const nav = navigator as unknown as {
        gpu?: { requestAdapter(): Promise<{ info?: { vendor: string; architecture: string } } | null> };
      };
      if (!nav.gpu) return 'no navigator.gpu';
      try {
        const a = await nav.gpu.requestAdapter();
        return a ? `adapter ${a.info?.vendor ?? '?'}/${a.info?.architecture ?? '?'}` : 'navigator.gpu, no adapter';
      } catch (err) {
        return `requestAdapter failed: ${(err as Error).message}`;
      }
    });
    const bv = verdict(
      bs.ready || bs.error
        ? []
        : [
            `${bid}: opened as a user would, the app neither got ready nor showed an error within ${settleMs(bundle)} ms (engine WebGPU: ${gpu})`,
          ],
      bs.ready
        ? `ready on ${bs.backend ?? 'an unreported backend'} (engine WebGPU: ${gpu})`
        : `failed visibly (engine WebGPU: ${gpu}): ${bs.error}; users of this engine cannot generate: the app does not fall back`,
      { outcome: bs.ready ? 'ready' : bs.error ? 'failed-visibly' : 'hung', backend: bs.backend, webgpu: gpu, ms: bs.ms },
    );
    rec(bid, bv, engineInfo, adapter);
    expect.soft(bv.pass, explain(bid, bv)).toBe(true);
  });
});
