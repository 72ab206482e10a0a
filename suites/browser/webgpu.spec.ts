/**
 * The WebGPU runtime: Chromium with onnxruntime-web's WebGPU execution provider, the backend the real web app picks
 * whenever navigator.gpu exists. Runs only in the `chromium-webgpu` project (harness/runtimes/registry.ts); judged by
 * its own profile (harness/checks/webgpu.ts: measured, margin, gate-owned ceiling), never by the bundle's CPU tolerances.
 *
 * On a machine without a GPU, Chromium's adapter is SwiftShader (software Vulkan): about 2 s per 32 px sample on two
 * cores, a hundred times wasm. So the gate runs a plan sized to it, and the nightly runs the full plan
 * (env TINYDIT_WEBGPU_PLAN=full):
 *  - loading:engine=<e>,variant=guided - the session is on WebGPU; the adapter (vendor, architecture, device) recorded;
 *  - velocity:engine=<e>,variant=guided,t=<t>,batch=14 - one batch-14 call (every breed and the null token) against
 *    the PyTorch goldens, per sample relative L2 <= velocityRelL2Max; also its agreement with onnxruntime-node on
 *    the same inputs. Gate: t = 0.5 and 1; full: every t of the goldens;
 *  - generation:engine=<e>,variant=guided,mode=teacher-forced,breed=<b>,seed=7 - every breed: the velocity at the
 *    golden trajectory's own states (steps 0, 25 and 49 of 50: noise, half-way, the last call), one batch of all
 *    breeds per step, against onnxruntime-node's on the same inputs (<= velocityRelL2Max);
 *  - generation:engine=<e>,variant=guided,breed=<b>,seed=7 - a free 50-step generation (the shared sampler, every model
 *    call on WebGPU): final state against the golden trajectory's last state (stateRelL2Max), image against the
 *    golden PNG (imageMeanAbsMax levels), agreement with onnxruntime-node (node.maxAbs, in the agreement matrix).
 *    Gate: Bombay (the breed the real app's guidance bug was seen on); full: every breed;
 *  - velocity:...,proof=half-precision - the profile rejects a model whose float weights were rounded to float16 (the
 *    mildest weight fault the CPU runtimes catch), run on WebGPU the same way: the profile is not so wide that a
 *    broken model passes it.
 * A machine or browser without a WebGPU adapter fails the loading test with the flags and the fix (an environment
 * fault: the verdict is inconclusive, never an acceptance).
 * The sampler runs in the test process, each model call a round trip to the page (the wasm engines run the same
 * sampler inside the page; what differs here is the execution provider, which is what this runtime judges).
 */
import { readFileSync } from 'node:fs';
import type { Page, TestInfo } from '@playwright/test';
import { caseId } from '../../harness/core/case-id.js';
import { tensorToRGBA } from '../../harness/core/image.js';
import type { RgbaImage } from '../../harness/core/png.js';
import { sample, timeGrid, type SamplerModel } from '../../harness/core/sampler.js';
import { halfRoundTrip } from '../../harness/mutants/edits.js';
import { openVariant, type VelocityRunner } from '../../harness/runtimes/node.js';
import { WEBGPU_PROFILE, imageAgainstGolden, relL2PerSample, withinLimit, type ProfileJudgement } from '../../harness/checks/webgpu.js';
import { backendOf, isEngine } from '../../harness/runtimes/registry.js';
import { expect, test, type BundleInfo, type EngineInfo } from './fixtures.js';
import {
  GOLDEN_SEED,
  agreement,
  attachComparison,
  attachJson,
  explain,
  judge,
  nodeFinalState,
  proof,
  record,
  recordErrors,
  selectCases,
  verdict,
  type Judge,
  type Verdict,
} from './helpers.js';

type Plan = 'gate' | 'full';
function plan(): Plan {
  const v = (process.env.TINYDIT_WEBGPU_PLAN ?? 'gate').trim() || 'gate';
  if (v !== 'gate' && v !== 'full') throw new Error(`env TINYDIT_WEBGPU_PLAN=${v}: expected gate (the default) or full`);
  return v;
}
const P = WEBGPU_PROFILE;
const VARIANT = 'guided';
const BOMBAY = 'Bombay';
/**
 * A test's time limit from the bundle's measured speed (harness/runtimes/time-bounds.ts): `loads` sessions and
 * `samples` images of `steps` WebGPU steps, plus the same work in onnxruntime-node (the suite's second opinion).
 */
function limitMs(bundle: BundleInfo, samples: number, steps: number, loads = 1): number {
  const work = [{ variant: VARIANT, steps, images: samples }];
  return bundle.bounds.testMs(bundle.engine, work, loads) + bundle.bounds.workMs('node', work);
}

/** The gate's velocity batches: t = 0 is judged per breed by the teacher-forced step 0 already. */
const GATE_T = [0.5, 1];
/** Teacher-forced steps (0-based calls of the 50-step sampler). */
const TEACHER_STEPS = [0, 25, 49];

// Not serial: a failed check must not keep the others from running (each test reopens the session if its worker was
// restarted after a failure).

// ---- the WebGPU session in the page ----

interface AdapterInfo {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
}
interface OpenedSession {
  adapter: AdapterInfo;
  sessionMs: number;
  ortVersion: string;
}

/** Creates an onnxruntime-web session on the WebGPU EP only (no fallback) in the page, under `key`. */
async function openWebgpu(page: Page, key: string, modelUrl: string): Promise<OpenedSession> {
  return page.evaluate(
    `(async () => {
      ${PROBE_JS}
      if (!navigator.gpu) throw new Error('no WebGPU: navigator.gpu is undefined: this browser exposes no WebGPU (Chromium needs --enable-unsafe-webgpu and a secure context)');
      const a = await navigator.gpu.requestAdapter();
      if (!a) throw new Error('no WebGPU: navigator.gpu.requestAdapter() returned null: no WebGPU adapter (flags --enable-unsafe-webgpu --enable-features=Vulkan, and --use-webgpu-adapter=swiftshader without a GPU)');
      const w = (window.__tinyditWebgpu ??= { sessions: {} });
      w.ort ??= await import('/ort/ort.webgpu.min.mjs');
      const ort = w.ort;
      ort.env.wasm.wasmPaths = '/ort/';
      ort.env.wasm.numThreads = 1;
      const t0 = performance.now();
      if (w.sessions[${JSON.stringify(key)}]) await w.sessions[${JSON.stringify(key)}].release();
      // the WebGPU EP alone: a WebGPU that cannot run the model is an error here, never a silent wasm fallback
      w.sessions[${JSON.stringify(key)}] = await ort.InferenceSession.create(${JSON.stringify(modelUrl)}, { executionProviders: ['webgpu'] });
      probe('c', t0);
      if (!ort.env.webgpu.device) throw new Error('the session was created but onnxruntime-web holds no WebGPU device');
      const i = a.info ?? {};
      return {
        adapter: { vendor: i.vendor ?? '', architecture: i.architecture ?? '', device: i.device ?? '', description: i.description ?? '' },
        sessionMs: performance.now() - t0,
        ortVersion: ort.env.versions?.web ?? 'unknown',
      };
    })()`,
  );
}

/**
 * Under `npm run bench -- overhead` (env TINYDIT_ORT_PROBE_DIR), each WebGPU session creation and run is reported to the
 * test server the way the instrumented page worker reports its own (harness/bench/ort-web-probe.ts), so that WebGPU
 * inference counts as inference and not as the harness's overhead. In the page: `probe(kind, t0)`.
 */
const PROBE_JS = process.env.TINYDIT_ORT_PROBE_DIR
  ? `const probe = (kind, t0) => void fetch('/?__probe=' + encodeURIComponent(kind + '|webgpu|' + (performance.timeOrigin + t0).toFixed(3) + '|' + (performance.now() - t0).toFixed(3)), { method: 'HEAD', cache: 'no-store' }).catch(() => undefined);`
  : 'const probe = () => undefined;';

/** Numbers for a page.evaluate source string: NaN and the infinities as strings (JSON has neither), read back with Number. */
const jsonNumbers = (a: ArrayLike<number>): string => JSON.stringify(Array.from(a, (v) => (Number.isFinite(v) ? v : String(v))));

/** One model call on the page's WebGPU session `key`: x [B,C,S,S], t [B], breed [B] -> velocity. */
async function runWebgpu(
  page: Page,
  key: string,
  x: Float32Array,
  t: Float32Array,
  breed: BigInt64Array,
  batch: number,
  shape: { channels: number; size: number },
) {
  const out = (await page.evaluate(
    `(async () => {
      ${PROBE_JS}
      const w = window.__tinyditWebgpu;
      const ort = w.ort;
      const s = w.sessions[${JSON.stringify(key)}];
      const B = ${batch};
      const t0 = performance.now();
      const o = await s.run({
        noise: new ort.Tensor('float32', Float32Array.from(${jsonNumbers(x)}, Number), [B, ${shape.channels}, ${shape.size}, ${shape.size}]),
        timestep: new ort.Tensor('float32', Float32Array.from(${jsonNumbers(t)}, Number), [B]),
        breed: new ort.Tensor('int64', BigInt64Array.from(${JSON.stringify(Array.from(breed, Number))}.map(BigInt)), [B]),
      });
      const out = Array.from(await o.velocity.getData());
      probe('r', t0);
      return out;
    })()`,
  )) as number[];
  return Float32Array.from(out);
}

function webgpuModel(page: Page, key: string, j: Judge): SamplerModel {
  const o = j.bundle.manifest;
  return {
    call: (x, t, breed, batch) => runWebgpu(page, key, x, t, breed, batch, { channels: j.channels, size: j.size }),
    guidance: 'baked',
    bakedScale: o.guidance.scale,
    nullIndex: j.bundle.nullIndex,
    channels: j.channels,
    imageSize: j.size,
  };
}

/** The velocity goldens' inputs and the guided variant's expected outputs (files named by goldens/index.json). */
function velocityInputs(j: Judge) {
  const index = j.bundle.requireFull('the WebGPU velocity checks');
  const f = index.velocity;
  const expectedFile = f.expected[f.expectedFor[VARIANT] ?? VARIANT];
  if (!expectedFile)
    throw new Error(`${j.bundle.dir}/goldens/index.json: velocity.expected has no entry for ${VARIANT}; rebuild the bundle`);
  return {
    x: j.bundle.readGolden(f.inputs.noise).data as Float32Array,
    t: j.bundle.readGolden(f.inputs.timestep).data as Float32Array,
    br: j.bundle.readGolden(f.inputs.breed).data as BigInt64Array,
    expected: j.bundle.readGolden(expectedFile).data as Float32Array,
  };
}

function requireWebgpuEngine(e: EngineInfo): void {
  if (!isEngine(e.project) || backendOf(e.project) !== 'webgpu')
    throw new Error(`webgpu.spec.ts runs in a WebGPU engine of harness/runtimes/registry.ts, not in project ${e.project}`);
}

/** The cases of a test (env TINYDIT_CASE applied) and the page's WebGPU session; a session that fails marks every case errored. */
async function startCases<T extends { id: string }>(
  app: { page: Page; open(): Promise<void> },
  bundle: BundleInfo,
  engineInfo: EngineInfo,
  family: string,
  all: T[],
): Promise<{ cases: T[]; session: OpenedSession }> {
  const cases = selectCases(all);
  expect(cases.length, `no ${family} case selected (TINYDIT_CASE?)`).toBeGreaterThan(0);
  try {
    return { cases, session: await ensureSession(app, bundle) };
  } catch (err) {
    throw recordErrors(
      cases.map((c) => c.id),
      family,
      engineInfo,
      err,
      'WebGPU session',
    );
  }
}

/** Records a judged case and keeps its failure for the test's final expect. */
function judged(failures: string[], id: string, v: Verdict, engineInfo: EngineInfo, artifacts?: string[]): void {
  record(id, v, engineInfo, artifacts ? { artifacts } : {});
  if (!v.pass) failures.push(explain(id, v));
}

const describeJudgement = (what: string, jd: ProfileJudgement, names: (i: number) => string): string =>
  `${what}: worst relative L2 ${jd.worst.toExponential(3)} (${names(jd.worstAt)}) ${jd.pass ? '<=' : 'exceeds'} the WebGPU profile's ${jd.limit.toExponential(3)}`;

// ---- the tests ----

let node: VelocityRunner | null = null;
const nodeRunner = async (j: Judge): Promise<VelocityRunner> => (node ??= await openVariant(j.bundle, VARIANT, { threads: 1 }));
test.afterAll(async () => {
  await node?.release();
  node = null;
});

let opened: OpenedSession | null = null;

async function ensureSession(app: { page: Page; open(): Promise<void> }, bundle: BundleInfo): Promise<OpenedSession> {
  // the worker's page may have been replaced since (a relaunched browser): the session must be in this page
  const alive = opened && (await app.page.evaluate('!!window.__tinyditWebgpu?.sessions?.good').catch(() => false));
  if (opened && alive) return opened;
  await app.open();
  opened = await openWebgpu(app.page, 'good', bundle.loadOptions(VARIANT).modelUrl);
  return opened;
}

test('loading:variant=guided (WebGPU execution provider, adapter recorded)', async ({ app, bundle, engineInfo }, testInfo) => {
  requireWebgpuEngine(engineInfo);
  test.setTimeout(limitMs(bundle, 0, 0, 1));
  const id = caseId('loading', { engine: engineInfo.project, variant: VARIANT });
  opened = null;
  let s: OpenedSession;
  try {
    s = await ensureSession(app, bundle);
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    // no adapter: the machine or the browser cannot run WebGPU at all. An environment fault: no record of the model
    // (the verdict is then inconclusive: this test failed and the WebGPU families are missing), and the fix.
    if (/no WebGPU: /.test(msg))
      throw new Error(
        `${id}: ${engineInfo.label}: ${msg}. This is the machine or the browser, not the model: run on a Chromium that exposes WebGPU ` +
          '(the chromium-webgpu project launches it with --enable-unsafe-webgpu --enable-features=Vulkan, plus --use-webgpu-adapter=swiftshader unless env TINYDIT_WEBGPU_ADAPTER=hardware), or leave the engine out with --browsers (a narrowed run)',
      );
    // an adapter, and still no session: the model does not run on the app's default backend
    const v = verdict('loading', [`${id}: the model did not load on WebGPU: ${msg}`], '', { backend: 'webgpu', plan: plan() });
    record(id, v, engineInfo);
    throw new Error(explain(id, v));
  }
  const v = verdict(
    'loading',
    [],
    `${VARIANT} loaded on WebGPU (${s.adapter.vendor} ${s.adapter.architecture}${s.adapter.description ? `, ${s.adapter.description}` : ''}) in ${s.sessionMs.toFixed(0)} ms`,
    {
      backend: 'webgpu',
      'adapter.vendor': s.adapter.vendor,
      'adapter.architecture': s.adapter.architecture,
      'adapter.device': s.adapter.device,
      'adapter.description': s.adapter.description,
      sessionMs: s.sessionMs,
      ortVersion: s.ortVersion,
      plan: plan(),
    },
  );
  record(id, v, engineInfo);
  await attachJson(testInfo, 'webgpu-adapter.json', s);
});

test('velocity:variant=guided (batch-14 calls against the PyTorch goldens and onnxruntime-node)', async ({ app, bundle, engineInfo }) => {
  requireWebgpuEngine(engineInfo);
  const j = await judge();
  const b = j.bundle;
  const per = j.channels * j.size * j.size;
  const inputs = velocityInputs(j);
  const { x, t, br } = inputs;
  const expected = inputs.expected;
  const batches = b.velocityBatches.filter((bt) => plan() === 'full' || GATE_T.includes(t[bt.rows[0]!]!));
  test.setTimeout(
    limitMs(
      bundle,
      batches.reduce((n, bt) => n + bt.rows.length, 0),
      1,
    ),
  );
  const { cases, session: s } = await startCases(
    app,
    bundle,
    engineInfo,
    'velocity',
    batches.map((bt) => ({
      ...bt,
      id: caseId('velocity', { engine: engineInfo.project, variant: VARIANT, t: t[bt.rows[0]!]!, batch: bt.rows.length }),
    })),
  );
  const runner = await nodeRunner(j);
  const failures: string[] = [];
  for (const c of cases) {
    await test.step(c.id, async () => {
      const rows = c.rows;
      const slice = (a: Float32Array) => Float32Array.from(rows.flatMap((r) => Array.from(a.subarray(r * per, (r + 1) * per))));
      const xs = slice(x);
      const ts = Float32Array.from(rows.map((r) => t[r]!));
      const bs = BigInt64Array.from(rows.map((r) => br[r]!));
      const t0 = Date.now();
      const v = await runWebgpu(app.page, 'good', xs, ts, bs, rows.length, { channels: j.channels, size: j.size });
      const ms = Date.now() - t0;
      const golden = slice(expected);
      const vsGolden = withinLimit(relL2PerSample(v, golden, per), P.velocityRelL2Max);
      const vNode = await runner.run(xs, ts, bs, rows.length);
      const vsNode = relL2PerSample(v, vNode, per);
      const name = (i: number) => `${b.breedName(Number(bs[i]!))} at t=${ts[i]}`;
      const v1 = verdict(
        'velocity',
        vsGolden.pass ? [] : [describeJudgement(`${c.id}: WebGPU against the PyTorch golden`, vsGolden, name)],
        describeJudgement('WebGPU against the PyTorch golden', vsGolden, name),
        {
          'relL2.max': vsGolden.worst,
          'relL2.median': [...vsGolden.values].sort((a, z) => a - z)[vsGolden.values.length >> 1]!,
          maxAbs: agreement(v, golden).maxAbs,
          'node.relL2.max': Math.max(...vsNode),
          'node.maxAbs': agreement(v, vNode).maxAbs,
          msPerCall: ms,
          samples: rows.length,
          adapter: `${s.adapter.vendor} ${s.adapter.architecture}`,
        },
        { 'relL2.max': P.velocityRelL2Max },
      );
      judged(failures, c.id, v1, engineInfo);
    });
  }
  expect(failures, failures.join('\n')).toEqual([]);
});

test('generation:variant=guided,mode=teacher-forced (every breed, at the golden trajectory states)', async ({
  app,
  bundle,
  engineInfo,
}) => {
  requireWebgpuEngine(engineInfo);
  const j = await judge();
  const per = j.channels * j.size * j.size;
  const grid = timeGrid(j.steps);
  const breeds = j.breeds.map((_, i) => i);
  test.setTimeout(limitMs(bundle, breeds.length * TEACHER_STEPS.length, 1));
  const { cases } = await startCases(
    app,
    bundle,
    engineInfo,
    'generation',
    breeds.map((bi) => ({
      breed: bi,
      id: caseId('generation', {
        engine: engineInfo.project,
        variant: VARIANT,
        mode: 'teacher-forced',
        breed: j.breeds[bi]!,
        seed: GOLDEN_SEED,
      }),
    })),
  );
  const runner = await nodeRunner(j);
  const steps = TEACHER_STEPS.filter((s) => s < j.steps);
  const worst = new Map<number, { rel: number; step: number }>();
  for (const step of steps) {
    await test.step(`teacher-forced step ${step} of ${j.steps} (t=${grid[step]}), ${cases.length} breeds in one batch`, async () => {
      const xs = new Float32Array(cases.length * per);
      cases.forEach((c, k) => {
        const traj = j.bundle.readGolden(j.trajectoryCase(c.breed, GOLDEN_SEED).file).data as Float32Array;
        xs.set(traj.subarray(step * per, (step + 1) * per), k * per);
      });
      const ts = new Float32Array(cases.length).fill(grid[step]!);
      const bs = BigInt64Array.from(cases.map((c) => BigInt(c.breed)));
      const v = await runWebgpu(app.page, 'good', xs, ts, bs, cases.length, { channels: j.channels, size: j.size });
      const vNode = await runner.run(xs, ts, bs, cases.length);
      relL2PerSample(v, vNode, per).forEach((rel, k) => {
        const w = worst.get(k);
        if (!w || !(rel <= w.rel)) worst.set(k, { rel: Number.isNaN(rel) ? Infinity : rel, step });
      });
    });
  }
  const failures: string[] = [];
  cases.forEach((c, k) => {
    const w = worst.get(k)!;
    const jd = withinLimit([w.rel], P.velocityRelL2Max);
    const what = `${j.breeds[c.breed]} at the golden states of steps ${steps.join(', ')}: WebGPU against onnxruntime-node`;
    const v = verdict(
      'generation',
      jd.pass ? [] : [`${describeJudgement(what, jd, () => `step ${w.step}`)}`],
      describeJudgement(what, jd, () => `step ${w.step}`),
      {
        'node.relL2.max': w.rel,
        worstStep: w.step,
        steps: steps.join(','),
      },
      { 'node.relL2.max': P.velocityRelL2Max },
    );
    judged(failures, c.id, v, engineInfo);
  });
  expect(failures, failures.join('\n')).toEqual([]);
});

test('generation:variant=guided (free 50-step generation against the golden trajectory and image)', async ({
  app,
  bundle,
  engineInfo,
}, testInfo) => {
  requireWebgpuEngine(engineInfo);
  const j = await judge();
  const breeds = plan() === 'full' ? j.breeds.map((_, i) => i) : [j.breeds.indexOf(BOMBAY)];
  test.setTimeout(limitMs(bundle, breeds.length, j.steps));
  const { cases } = await startCases(
    app,
    bundle,
    engineInfo,
    'generation',
    breeds.map((bi) => ({
      breed: bi,
      id: caseId('generation', { engine: engineInfo.project, variant: VARIANT, breed: j.breeds[bi]!, seed: GOLDEN_SEED }),
    })),
  );
  const model = webgpuModel(app.page, 'good', j);
  const failures: string[] = [];
  for (const c of cases) {
    await test.step(c.id, async () => {
      const t0 = Date.now();
      const run = await sample(model, { breeds: [c.breed], seeds: [GOLDEN_SEED], steps: j.steps, cfgScale: j.cfgScale });
      const ms = Date.now() - t0;
      const v = await judgeFree(j, c.breed, run.x, c.id, testInfo, ms);
      judged(failures, c.id, v.verdict, engineInfo, v.artifacts);
    });
  }
  expect(failures, failures.join('\n')).toEqual([]);
});

async function judgeFree(j: Judge, breed: number, x: Float32Array, id: string, testInfo: TestInfo, ms: number) {
  const tc = j.trajectoryCase(breed, GOLDEN_SEED);
  const golden = j.goldenFinal(tc);
  const state = withinLimit(relL2PerSample(x, golden, x.length), P.stateRelL2Max);
  const image: RgbaImage = { width: j.size, height: j.size, data: tensorToRGBA(x, j.size) };
  const img = imageAgainstGolden(image, j.goldenImage(tc));
  const nodeX = await nodeFinalState(j, VARIANT, breed, GOLDEN_SEED);
  const failures: string[] = [];
  if (!state.pass)
    failures.push(
      `${id}: the final state leaves the golden trajectory: relative L2 ${state.worst.toExponential(3)} exceeds the WebGPU profile's ${state.limit.toExponential(3)}`,
    );
  if (!img.pass)
    failures.push(
      `${id}: the image differs from goldens/${tc.image} by ${img.cmp.meanAbsDiff.toFixed(3)} levels on average (up to ${img.cmp.maxChannelDiff}), over the WebGPU profile's ${img.limit}`,
    );
  const artifacts = await attachComparison(testInfo, id, image, j.goldenImage(tc), img.cmp.diff);
  const v: Verdict = verdict(
    'generation',
    failures,
    `final state relative L2 ${state.worst.toExponential(3)} (<= ${state.limit}), image ${img.cmp.meanAbsDiff.toFixed(3)} levels from the golden on average (<= ${img.limit})`,
    {
      'state.relL2': state.worst,
      'state.maxAbs': agreement(x, golden).maxAbs,
      'image.meanAbsDiff': img.cmp.meanAbsDiff,
      'image.maxChannelDiff': img.cmp.maxChannelDiff,
      'node.maxAbs': agreement(x, nodeX).maxAbs,
      'node.relL2': relL2PerSample(x, nodeX, x.length)[0]!,
      ms,
    },
    { 'state.relL2': P.stateRelL2Max, 'image.meanAbsDiff': P.imageMeanAbsMax },
  );
  return { verdict: v, artifacts };
}

test('proof: the WebGPU profile rejects the model with float16-rounded weights', async ({ app, bundle, engineInfo }) => {
  requireWebgpuEngine(engineInfo);
  // the good model and the half-precision one: a session each, a few calls
  test.setTimeout(limitMs(bundle, 4, 1, 2));
  const j = await judge();
  const b = j.bundle;
  const per = j.channels * j.size * j.size;
  const breed = j.breeds.indexOf(BOMBAY);
  const vc = b.velocityCases.find((c) => c.breed === breed && c.t === 0.5);
  if (!vc) throw new Error(`${b.dir}/goldens/index.json has no velocity case for ${BOMBAY} at t=0.5; rebuild the bundle`);
  const id = caseId('velocity', { engine: engineInfo.project, variant: VARIANT, breed: BOMBAY, t: 0.5, batch: 1, proof: 'half-precision' });
  const inputs = velocityInputs(j);
  const x = inputs.x.slice(vc.row * per, (vc.row + 1) * per);
  const golden = inputs.expected.slice(vc.row * per, (vc.row + 1) * per);
  const t = new Float32Array([vc.t]);
  const br = new BigInt64Array([BigInt(breed)]);
  await ensureSession(app, bundle);
  const judgeCall = (v: Float32Array): Verdict => {
    const jd = withinLimit(relL2PerSample(v, golden, per), P.velocityRelL2Max);
    return verdict(
      'velocity',
      jd.pass ? [] : [describeJudgement('WebGPU against the PyTorch golden', jd, () => vc.id)],
      'within the profile',
      {
        'relL2.max': jd.worst,
      },
      { 'relL2.max': P.velocityRelL2Max },
    );
  };
  const baseline = judgeCall(await runWebgpu(app.page, 'good', x, t, br, 1, { channels: j.channels, size: j.size }));
  // the broken model: every float weight of the guided graph rounded to float16, served to the page from memory
  const source = b.variantPath(VARIANT);
  const bytes = halfRoundTrip(new Uint8Array(readFileSync(source)), source);
  const url = app.url('/proof/half-precision.onnx');
  await app.page.route(url, (route) => route.fulfill({ status: 200, body: Buffer.from(bytes), contentType: 'application/octet-stream' }));
  await openWebgpu(app.page, 'half', url);
  const broken = judgeCall(await runWebgpu(app.page, 'half', x, t, br, 1, { channels: j.channels, size: j.size }));
  const p = proof(
    'velocity',
    'every float weight rounded to float16 (the half-precision mutant)',
    baseline,
    broken,
    /exceeds the WebGPU profile/,
  );
  record(id, p, engineInfo);
  expect(p.pass, explain(id, p)).toBe(true);
});
