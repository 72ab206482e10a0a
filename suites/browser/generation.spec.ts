/**
 * Generation in each engine, per breed, at the golden seed (7), the app's default 50 steps and cfg 1.5:
 * - guided (guidance baked in the graph), every breed: the final state x within the bundle's trajectory
 *   tolerance of the golden PyTorch trajectory's last state (onnxruntime-node is judged against the same golden
 *   by suites/node/trajectory.test.ts, so browser and Node agree through it), the shown image equal to the
 *   golden PNG up to the rounding of that tolerance (pixelmatch, diff saved), the validity gates and the
 *   per-breed reference distribution (harness/checks/stats.ts), and breed fidelity of the set (harness/checks/fidelity.ts);
 * - raw (guidance applied in the page by the shared sampler), one breed: the same golden trajectory;
 * - quantized, every breed: its own profile (tolerance.quantized.imageMeanAbsMax against the float golden
 *   images) and the validity gates.
 * Each case also reports its agreement with onnxruntime-node on the same case (node.maxAbs, node.bitIdentical:
 * metrics, not a gate; Node is held to the same golden by the Node suites).
 * Every variant's images are then scored by the gate's judge (the breed classifier trained on the training data,
 * harness/checks/yardstick.ts, run in onnxruntime-node in this process): judge:engine=<e>,variant=<v>,seed=7,set=<n>-breeds
 * (helpers.ts checkJudge: agreement with the judge's verdict on the same case's golden image, pooled top-2 accuracy
 * at the judge family's rule), with a captioned grid of its verdicts; on the guided images, its proofs
 * (...,proof=channels-swapped|pixel-range-halved|breeds-rolled) transform the images already generated.
 * Cases are data; each is recorded as generation:engine=<e>,variant=<v>,breed=<name>,seed=7 (checks.jsonl) and
 * shown as a step of its variant's test with generated, golden and diff images attached.
 * One page load and one model load per variant; 13 generations in a loop (WebKit has one tab anyway).
 * Rerun one case: TINYDIT_CASE='variant=guided,breed=Bombay' npx playwright test generation --project=chromium
 */
import { caseId, caseIdWith } from '../../harness/core/case-id.js';
import type { TestInfo } from '@playwright/test';
import { composeGrid, type RgbaImage } from '../../harness/core/png.js';
import { rangeHalvedPixel, redBlueSwapped } from '../../harness/core/image.js';
import { BREEDS } from '../../harness/runtimes/web/protocol.js';
import { attachEngine, expect, test, type EngineInfo } from './fixtures.js';
import {
  BULK_THREADS,
  GOLDEN_SEED,
  agreement,
  attachComparison,
  attachImage,
  attachJson,
  checkDistribution,
  checkFidelity,
  checkFinalState,
  checkGoldenImage,
  checkJudge,
  checkModelLoad,
  checkQuantizedImage,
  checkValidity,
  combine,
  explain,
  judge,
  judgeSheet,
  nodeFinalState,
  pixelLevelsFor,
  proof,
  record,
  recordErrors,
  rgbaOf,
  selectCases,
  yardstickJudge,
  type GeneratedImage,
  type Judge,
  type JudgeCase,
  type JudgedImage,
  type Verdict,
  type YardstickJudge,
  warmLoad,
} from './helpers.js';

type Judging = 'golden' | 'quantized-profile';

interface VariantPlan {
  variant: 'guided' | 'raw' | 'quantized';
  /** Breed indices generated. */
  breeds: number[];
  judging: Judging;
  /** Set-level checks (distribution, fidelity) over the generated images. */
  setChecks: boolean;
  /** Run the judge check's proofs on this variant's images (JUDGE_PROOFS). */
  judgeProofs: boolean;
}

const ALL_BREEDS = BREEDS.map((_, i) => i);
/** Bombay: dark, the breed the original web app's double-guidance bug was first seen on. */
const RAW_BREEDS = [BREEDS.indexOf('Bombay')];

const PLANS: VariantPlan[] = [
  { variant: 'guided', breeds: ALL_BREEDS, judging: 'golden', setChecks: true, judgeProofs: true },
  { variant: 'raw', breeds: RAW_BREEDS, judging: 'golden', setChecks: false, judgeProofs: false },
  { variant: 'quantized', breeds: ALL_BREEDS, judging: 'quantized-profile', setChecks: false, judgeProofs: false },
];

/** Every colour value of an RGBA image mapped by f, alpha kept. */
const mapPixels = (img: RgbaImage, f: (v: number) => number): RgbaImage => ({
  ...img,
  data: img.data.map((v, i) => (i % 4 === 3 ? v : f(v))),
});

/**
 * Proofs of the judge check: the variant's images, broken after the fact (no extra generation), scored through the
 * same checkJudge. Channels swapped and the range halved change what every image shows (agreement); rolled breeds
 * leave every image intact but each under the wrong breed, which the pooled top-2 rule must catch by itself.
 */
const JUDGE_PROOFS: Array<{ name: string; cause: string; names: RegExp; apply: (cases: JudgeCase[]) => JudgeCase[] }> = [
  {
    name: 'channels-swapped',
    cause: 'the images shown in BGR (red and blue exchanged)',
    names: /the judge disagrees with its verdict on the reference/,
    apply: (cs) => cs.map((c) => ({ ...c, image: { ...c.image, data: redBlueSwapped(c.image.data, 4) } })),
  },
  {
    name: 'pixel-range-halved',
    cause: 'the pixel range halved about mid-grey (the state x / 2, as the pixel-range-halved mutant draws)',
    names: /the judge disagrees with its verdict on the reference/,
    apply: (cs) => cs.map((c) => ({ ...c, image: mapPixels(c.image, rangeHalvedPixel) })),
  },
  {
    name: 'breeds-rolled',
    cause: 'each breed shown the image generated for the next (what ?fault=breed-off-by-one shows)',
    names: /pooled top-2 [\d.]+ \(\d+ of \d+\) < /,
    apply: (cs) => cs.map((c, i) => ({ ...c, image: cs[(i + 1) % cs.length]!.image, finite: cs[(i + 1) % cs.length]!.finite })),
  },
];

/**
 * judge:engine=<e>,variant=<v>,seed=7,set=<n>-breeds: the gate's judge on the images this variant generated (helpers.ts
 * checkJudge), its grid of verdicts attached and saved; then, on request, its proofs, each a step titled with its id.
 * A judge that cannot load records every id as 'error' with the file and the fix.
 */
async function judgeVariant(j: Judge, plan: VariantPlan, cases: JudgeCase[], engineInfo: EngineInfo, testInfo: TestInfo): Promise<void> {
  const e = engineInfo.project;
  const id = caseId('judge', { engine: e, variant: plan.variant, seed: GOLDEN_SEED, set: `${cases.length}-breeds` });
  const proofs = plan.judgeProofs ? JUDGE_PROOFS.map((p) => ({ ...p, id: caseIdWith(id, { proof: p.name }) })) : [];
  const judged = await test.step(id, async () => {
    let yj: YardstickJudge;
    let good: Verdict & { images: JudgedImage[] };
    try {
      if (cases.length === 0) throw new Error(`no image of variant ${plan.variant} was generated in ${e} (see the generation records)`);
      yj = await yardstickJudge(j);
      good = await checkJudge(yj, cases);
    } catch (err) {
      const e2 = recordErrors(
        [id, ...proofs.map((p) => p.id)],
        'judge',
        engineInfo,
        err,
        'judging the browser images with the yardstick judge',
      );
      expect.soft(false, `${id}: did not run: ${e2.message}`).toBe(true);
      return null;
    }
    const sheet = judgeSheet(yj.y, cases, good.images, [`${e} ${plan.variant}`, plan.judging === 'golden' ? 'golden' : 'float golden']);
    const grid = await attachImage(testInfo, id, 'judge', sheet, 1);
    await attachJson(testInfo, `judge-${plan.variant}.json`, {
      id,
      dataset: yj.y.id,
      message: good.message,
      metrics: good.metrics,
      threshold: good.threshold,
      legend: 'frames: green = asked breed first, amber = second, red = later or non-finite, magenta = disagrees with the reference',
      images: good.images,
    });
    record(id, good, engineInfo, { artifacts: [grid] });
    expect.soft(good.pass, explain(id, good)).toBe(true);
    return { yj, good };
  });
  if (!judged) return;
  for (const p of proofs) {
    await test.step(p.id, async () => {
      let broken: Verdict;
      try {
        broken = await checkJudge(judged.yj, p.apply(cases));
      } catch (err) {
        const e2 = recordErrors([p.id], 'judge', engineInfo, err, `judging the images broken by ${p.name}`);
        expect.soft(false, `${p.id}: did not run: ${e2.message}`).toBe(true);
        return;
      }
      const v = proof('judge', p.cause, judged.good, broken, p.names);
      record(p.id, v, engineInfo);
      expect.soft(v.pass, explain(p.id, v)).toBe(true);
    });
  }
}

for (const plan of PLANS) {
  test(`generation:variant=${plan.variant},seed=${GOLDEN_SEED} (${plan.breeds.length} breed${plan.breeds.length > 1 ? 's' : ''})`, async ({
    app,
    bundle,
    engineInfo,
  }, testInfo) => {
    // from the bundle's measured speed: every breed's generation, plus the judge's proofs on the same images
    const work = [{ variant: plan.variant, steps: bundle.steps, images: plan.breeds.length }];
    // and each case once in onnxruntime-node, for the agreement matrix, when no earlier engine sampled it
    test.setTimeout(bundle.bounds.testMs(bundle.engine, work) + bundle.bounds.workMs('node', work));
    const e = engineInfo.project;
    const cases = selectCases(
      plan.breeds.map((b) => ({
        id: caseId('generation', { engine: e, variant: plan.variant, breed: BREEDS[b], seed: GOLDEN_SEED }),
        breed: b,
        name: BREEDS[b]!,
      })),
    );
    expect(cases.length, `TINYDIT_CASE=${process.env.TINYDIT_CASE} selects no case of ${plan.variant}`).toBeGreaterThan(0);
    const ids = cases.map((c) => c.id);

    // Bundle, page and model first: when any fails, every case is recorded as 'error' (did not run), with the cause.
    const j = await judge().catch((err: unknown) => {
      throw recordErrors(ids, 'generation', engineInfo, err, 'loading the bundle');
    });
    expect(j.breeds, `${j.bundle.dir}/manifest.json breeds must be the web app's list, in its order`).toEqual([...BREEDS]);
    const opts = bundle.loadOptions(plan.variant, { numThreads: BULK_THREADS });
    expect(opts.guidance, `variant ${plan.variant}: guidance mode from the manifest`).toBe(plan.variant === 'raw' ? 'none' : 'baked');
    let load: Awaited<ReturnType<typeof warmLoad>>;
    try {
      load = await warmLoad(app, opts);
      await attachEngine(testInfo, app, engineInfo);
    } catch (err) {
      throw recordErrors(ids, 'generation', engineInfo, err, 'opening the reference page');
    }
    const loadVerdict = checkModelLoad(load, opts.modelUrl, BULK_THREADS, `${plan.variant} model`);
    record(caseId('loading', { engine: e, variant: plan.variant, threads: BULK_THREADS }), loadVerdict, engineInfo, {
      metrics: { reusedLoad: load.reused },
    });
    if (!loadVerdict.pass) recordErrors(ids, 'generation', engineInfo, new Error(loadVerdict.message), `loading ${opts.modelUrl}`);
    expect(loadVerdict.pass, explain(caseId('loading', { engine: e, variant: plan.variant }), loadVerdict)).toBe(true);

    const generated: GeneratedImage[] = [];
    const judgeCases: JudgeCase[] = [];
    const tiles: { gen: RgbaImage; golden: RgbaImage; diff: RgbaImage }[] = [];
    const timings: Record<string, number> = {};
    for (const c of cases) {
      await test.step(c.id, async () => {
        let tc: ReturnType<typeof j.trajectoryCase>;
        let run: Awaited<ReturnType<typeof app.generate>>;
        try {
          tc = j.trajectoryCase(c.breed, GOLDEN_SEED);
          run = await app.generate({ breedIndex: c.breed, steps: j.steps, cfgScale: j.cfgScale, noiseSeed: GOLDEN_SEED });
        } catch (err) {
          // Recorded as 'error' and failed softly, so that the remaining breeds still run and are recorded.
          const e2 = recordErrors([c.id], 'generation', engineInfo, err, 'generating');
          expect.soft(false, `${c.id}: did not run: ${e2.message}`).toBe(true);
          return;
        }
        timings[c.name] = run.totalTime;
        const image = rgbaOf(run);
        const label = `breed=${c.name},seed=${GOLDEN_SEED}`;
        const parts: Array<[string, Verdict]> = [];
        let cmp: { cmp: { diff: RgbaImage }; golden: RgbaImage };
        if (plan.judging === 'golden') {
          const state = checkFinalState(j, tc, run.x, label);
          const img = checkGoldenImage(j, tc, image, label);
          parts.push(['state', state], ['image', img]);
          cmp = img;
        } else {
          const q = checkQuantizedImage(j, tc, image, label);
          parts.push(['profile', q]);
          cmp = q;
        }
        parts.push(['validity', checkValidity(j, image, run.x, label)]);
        const v = combine('generation', parts);
        const node = agreement(run.x, await nodeFinalState(j, plan.variant, c.breed, GOLDEN_SEED));
        v.metrics['node.maxAbs'] = node.maxAbs;
        v.metrics['node.bitIdentical'] = node.bitIdentical;
        const artifacts = await attachComparison(testInfo, c.id, image, cmp.golden, cmp.cmp.diff);
        record(c.id, v, engineInfo, {
          artifacts,
          metrics: {
            totalMs: run.totalTime,
            avgStepMs: run.avgStepTime,
            modelMs: run.modelMs,
            threads: BULK_THREADS,
            steps: j.steps,
            cfgScale: j.cfgScale,
          },
        });
        generated.push({ breed: c.breed, seed: GOLDEN_SEED, label, image });
        judgeCases.push({
          breed: c.breed,
          label,
          image,
          finite: run.x.every(Number.isFinite),
          reference: cmp.golden,
          referenceName: `goldens/${tc.image}`,
          allowedLevels: plan.judging === 'golden' ? pixelLevelsFor(j.finalBand(tc).atol) : null,
        });
        tiles.push({ gen: image, golden: cmp.golden, diff: cmp.cmp.diff });
        expect.soft(v.pass, explain(c.id, v)).toBe(true);
      });
    }

    if (tiles.length > 1) {
      const grid = composeGrid([...tiles.map((t) => t.gen), ...tiles.map((t) => t.golden), ...tiles.map((t) => t.diff)], 3, tiles.length, {
        scale: 3,
        gap: 2,
      });
      await attachImage(
        testInfo,
        caseId('generation', { engine: e, variant: plan.variant, seed: GOLDEN_SEED }),
        'grid (generated, golden, diff)',
        grid,
        1,
      );
    }
    await attachJson(testInfo, 'timings-ms.json', timings);

    if (plan.setChecks) {
      const set = { engine: e, variant: plan.variant, seed: GOLDEN_SEED, set: `${generated.length}-breeds` };
      const distId = caseId('generation', { ...set, check: 'distribution' });
      const fidId = caseId('generation', { ...set, check: 'fidelity' });
      await test.step(caseId('generation', { ...set, check: 'distribution+fidelity' }), async () => {
        const dist = checkDistribution(j, generated);
        const fid = checkFidelity(j, generated);
        record(distId, dist, engineInfo);
        record(fidId, fid, engineInfo);
        await attachJson(testInfo, 'fidelity.json', {
          accuracy: fid.evaluation.accuracy,
          predictions: fid.evaluation.predictions.map((p) => ({ ...p, predictedName: BREEDS[p.predicted] ?? 'null' })),
        });
        expect.soft(dist.pass, explain(distId, dist)).toBe(true);
        expect.soft(fid.pass, explain(fidId, fid)).toBe(true);
      });
    }

    await judgeVariant(j, plan, judgeCases, engineInfo, testInfo);
  });
}
