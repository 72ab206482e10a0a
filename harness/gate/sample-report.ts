/**
 * A synthetic run folder with everything the summary page can show (13 breeds' images per engine, saved
 * final states, trajectory error curves, per-breed statistics, one failing engine, the judge's evidence), for the
 * page's own tests (suites/harness/gate.test.ts, suites/harness/browser/report-page.spec.ts). Clearly labelled as a sample on the page:
 * its model name is 'synthetic sample (not a model)'.
 */
import { caseId } from '../core/case-id.js';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeNpy } from '../core/npy.js';
import { captionedRows, composeGrid, encodePNG, upscale, type RgbaImage } from '../core/png.js';
import { JUDGE_EVIDENCE, judgeSection } from './judge.js';
import type { GateRecord, Scope, Verdict } from './types.js';
import { EXPECTED_FAMILIES, computeVerdict } from './verdict.js';
import type { RunnerTest } from './types.js';
import { ENGINES } from '../runtimes/registry.js';

export const SAMPLE_BREEDS = [
  'Abyssinian',
  'Bengal',
  'Birman',
  'Bombay',
  'British Shorthair',
  'Egyptian Mau',
  'Maine Coon',
  'Persian',
  'Ragdoll',
  'Russian Blue',
  'Siamese',
  'Sphynx',
  'Other',
];
const SIZE = 8;
const SCALE = 4;

function tile(seed: number, flip: boolean): Uint8Array {
  return encodePNG(tileImage(seed, flip));
}

function tileImage(seed: number, flip: boolean): RgbaImage {
  const w = SIZE * SCALE;
  const data = new Uint8ClampedArray(w * w * 4);
  for (let y = 0; y < w; y++)
    for (let x = 0; x < w; x++) {
      const cx = Math.floor(x / SCALE);
      const cy = Math.floor(y / SCALE);
      const o = (y * w + x) * 4;
      const v = (cx * 37 + cy * 61 + seed * 53) % 256;
      data[o] = flip ? 255 - v : v;
      data[o + 1] = (v * 3 + seed * 29) % 256;
      data[o + 2] = (255 - v + seed * 17) % 256;
      data[o + 3] = 255;
    }
  return { width: w, height: w, data };
}

function diffTile(bad: boolean): Uint8Array {
  const w = SIZE * SCALE;
  const data = new Uint8ClampedArray(w * w * 4).fill(255);
  if (bad)
    for (let i = 0; i < w * w; i += 3) {
      data[i * 4 + 1] = 0;
      data[i * 4 + 2] = 0;
    }
  return encodePNG({ width: w, height: w, data });
}

/** Seeds per breed of the sample judge evidence. */
const JUDGE_N = 4;
/** The sample judge's mistakes: [breed asked, seed index, breed judged, rank of the breed asked]. */
const JUDGE_MISTAKES: Array<[number, number, number, number]> = [
  [8, 0, 7, 3],
  [8, 1, 7, 3],
  [8, 3, 2, 4],
  [10, 2, 5, 2],
  [12, 1, 3, 2],
];

/**
 * The judge family's evidence as suites/node/judge.test.ts writes it (images/judge/guided.json, the grid of every
 * image and the sheet of the misjudged ones), for a sample judge that takes Ragdoll for Persian (failing its
 * accuracy and KID), one Siamese for Egyptian Mau and one Other for Bombay, and finds one invalid Sphynx image.
 */
export function writeSampleJudge(dir: string): void {
  const K = SAMPLE_BREEDS.length;
  const mistake = (b: number, k: number): [number, number, number, number] | undefined =>
    JUDGE_MISTAKES.find((m) => m[0] === b && m[1] === k);
  const images = Array.from({ length: K * JUDGE_N }, (_, i) => {
    const b = Math.floor(i / JUDGE_N);
    const k = i % JUDGE_N;
    const m = mistake(b, k);
    return {
      i,
      asked: SAMPLE_BREEDS[b]!,
      judged: SAMPLE_BREEDS[m ? m[2] : b]!,
      rank: m ? m[3] : 1,
      seed: 2_000_000 + k,
      validity: b === 11 && k === 0 ? ['saturation 0.720 > 0.582'] : [],
    };
  });
  const confusion = SAMPLE_BREEDS.map((_, b) =>
    SAMPLE_BREEDS.map((_, j) => images.filter((im) => im.asked === SAMPLE_BREEDS[b] && im.judged === SAMPLE_BREEDS[j]).length),
  );
  const perBreed = SAMPLE_BREEDS.map((name, b) => {
    const mine = images.filter((im) => im.asked === name);
    const top1 = mine.filter((im) => im.rank === 1).length / JUDGE_N;
    const top2 = mine.filter((im) => im.rank <= 2).length / JUDGE_N;
    const kid = b === 8 ? 7.1 : 0.2 + b / 10;
    const validityBad = mine.filter((im) => im.validity.length > 0).length;
    return {
      breed: b,
      name,
      n: JUDGE_N,
      top1,
      top2,
      kid,
      validityBad,
      accuracyPass: top2 >= 0.3,
      kidPass: kid <= 6.29,
      validityPass: validityBad <= JUDGE_N / 8,
      top2Min: 0.3,
      kidMax: 6.29,
      kidBandP99: 0.1 + b / 100,
    };
  });
  const frame = (img: RgbaImage, colour: [number, number, number]): RgbaImage => {
    const data = img.data.slice();
    for (let y = 0; y < img.height; y++)
      for (let x = 0; x < img.width; x++)
        if (x < 2 || y < 2 || x >= img.width - 2 || y >= img.height - 2) data.set([...colour, 255], (y * img.width + x) * 4);
    return { ...img, data };
  };
  const tileOf = (im: (typeof images)[number]): RgbaImage => {
    const t = upscale(tileImage(im.i, false), 3); // like the suite's evidence: 3x, so captions fit under a tile
    return im.validity.length ? frame(t, [255, 0, 255]) : im.asked !== im.judged ? frame(t, [255, 0, 0]) : t;
  };
  const folder = join(dir, 'images', 'judge_model-guided');
  mkdirSync(folder, { recursive: true });
  mkdirSync(join(dir, 'images', 'judge'), { recursive: true });
  writeFileSync(join(folder, 'grid.png'), encodePNG(composeGrid(images.map(tileOf), K, JUDGE_N, { gap: 2 })));
  const rows = SAMPLE_BREEDS.map((name) => {
    const wrong = images.filter((im) => im.asked === name && im.judged !== name);
    return {
      label: `${name} ${wrong.length}/${JUDGE_N} wrong`,
      tiles: wrong.map((im) => ({ image: tileOf(im), caption: [`> ${im.judged}`, `seed ${im.seed}`] })),
    };
  }).filter((r) => r.tiles.length > 0);
  writeFileSync(join(folder, 'misjudged.png'), encodePNG(captionedRows(rows)));
  const pooledTop1 = images.filter((im) => im.rank === 1).length / images.length;
  writeFileSync(
    join(dir, JUDGE_EVIDENCE),
    JSON.stringify(
      {
        dataset: 'tinydit-procedural-32-v1',
        model: 'guided',
        n: JUDGE_N,
        seeds: `2000000..${2_000_000 + JUDGE_N - 1} per breed`,
        sampleMs: 1,
        nonFinite: 0,
        pooledTop1,
        pooledMin: 0.402,
        breeds: SAMPLE_BREEDS,
        confusion,
        confusionLayout: 'confusion[asked][judged], breeds in manifest order',
        perBreed,
        gridImage: 'images/judge_model-guided/grid.png',
        misjudgedImage: 'images/judge_model-guided/misjudged.png',
        misjudged: images.filter((im) => im.asked !== im.judged),
        images,
      },
      null,
      1,
    ),
  );
}

/** Writes the sample run into `dir` and returns its verdict (not accepted: WebKit's states are off). */
export function writeSampleRun(dir: string): Verdict {
  mkdirSync(dir, { recursive: true });
  const records: GateRecord[] = [];
  const vitest: RunnerTest[] = [];
  const playwright: RunnerTest[] = [];
  const rec = (id: string, runtime: string, over: Partial<GateRecord> = {}): GateRecord => {
    const r: GateRecord = {
      id,
      check: id.slice(0, id.indexOf(':')),
      runtime,
      status: 'pass',
      metrics: {},
      threshold: {},
      message: 'pass',
      artifacts: [],
      ...over,
    };
    records.push(r);
    if (runtime === 'node')
      vitest.push({
        runner: 'vitest',
        file: `suites/node/${r.check}.test.ts`,
        title: id,
        path: [],
        project: 'node',
        status: r.status === 'pass' ? 'passed' : 'failed',
        steps: [],
        errors: [],
        durationMs: 1,
      });
    return r;
  };
  const evidence = (id: string, k: number, bad: boolean): string[] => {
    const folder = `images/${id
      .replace(/[:,]/g, '_')
      .replace(/=/g, '-')
      .replace(/[^A-Za-z0-9._-]+/g, '-')}`;
    mkdirSync(join(dir, folder), { recursive: true });
    writeFileSync(join(dir, folder, 'generated.png'), tile(k, bad));
    writeFileSync(join(dir, folder, 'golden.png'), tile(k, false));
    writeFileSync(join(dir, folder, 'diff.png'), diffTile(bad));
    return ['generated', 'golden', 'diff'].map((n) => `${folder}/${n}.png`);
  };
  for (const f of EXPECTED_FAMILIES.filter((e) => e.where === 'node' && !['image', 'stats', 'trajectory'].includes(e.family))) {
    rec(`${f.family}:variant=guided,case=1`, 'node', { metrics: { maxAbs: 2e-6, worstRatio: 0.1 } });
  }
  const trajectoryRuns = [{ variant: 'guided', mode: 'free', cases: [] as unknown[] }];
  SAMPLE_BREEDS.forEach((breed, b) => {
    const state = Float32Array.from({ length: 3 * SIZE * SIZE }, (_, i) => Math.sin(i + b));
    rec(caseId('image', { breed, seed: 7, steps: 'final' }), 'node', {
      metrics: { diffPixels: 0, maxChannelDiff: 0 },
      artifacts: evidence(caseId('image', { breed }), b, false),
    });
    rec(caseId('trajectory', { variant: 'guided', mode: 'free', breed, seed: 7, steps: 50 }), 'node', {
      metrics: { finalMaxAbs: 4e-7 + b * 1e-8, worstRatio: 0.01 },
      threshold: { finalBand: 5e-5 },
    });
    rec(`stats:distribution,breed=${breed},seed=7`, 'node', {
      metrics: { 'z.meanR': (b - 6) / 4, 'z.saturation': b === 11 ? 3.2 : 1 + b / 10, 'z.highFrequency': -0.5 },
      threshold: { 'absZ.meanR': 4, 'absZ.saturation': 3.6, 'absZ.highFrequency': 4.9 },
    });
    const band = Array.from({ length: 51 }, () => 5e-5);
    trajectoryRuns[0]!.cases.push({
      id: caseId('trajectory', { breed }),
      breedName: breed,
      seed: 7,
      band,
      maxAbs: band.map((_, s) => (s === 0 ? 0 : 1e-7 * (1 + s / 20) * (1 + b / 13))),
    });
    for (const [e, engine] of ['node', ...ENGINES].entries()) {
      const off = engine === 'webkit' ? 0.02 : 0;
      mkdirSync(join(dir, 'states', engine), { recursive: true });
      writeFileSync(
        join(dir, 'states', engine, `seed7_breed${b}.npy`),
        encodeNpy({ dtype: 'float32', shape: [1, 3, SIZE, SIZE], data: state.map((x) => x + off + e * 1e-7) }),
      );
      if (engine === 'node') continue;
      const id = caseId('generation', { engine, variant: 'guided', breed, seed: 7 });
      const bad = engine === 'webkit';
      rec(id, engine, {
        status: bad ? 'fail' : 'pass',
        metrics: {
          'state.maxAbs': off + 3e-7,
          'state.worstRatio': (off + 3e-7) / 5e-5,
          engine: `sample ${engine}`,
          engineVersion: '0',
          threads: 1,
        },
        threshold: { 'state.atol': 5e-5 },
        message: bad ? `state: leaves the golden trajectory: max|diff| ${off} > atol 5e-5 (sample failure)` : 'pass',
        artifacts: evidence(id, b, bad),
      });
    }
  });
  for (const e of ENGINES) {
    rec(caseId('loading', { engine: e, variant: 'guided', threads: 1 }), e);
    playwright.push({
      runner: 'playwright',
      file: 'suites/browser/generation.spec.ts',
      title: 'generation:variant=guided,seed=7 (13 breeds)',
      path: [],
      project: e,
      status: e === 'webkit' ? 'failed' : 'passed',
      steps: records.filter((r) => r.runtime === e).map((r) => r.id),
      errors: [],
      durationMs: 1,
      engine: `sample ${e}, version 0`,
    });
  }
  rec('velocity:variant=guided,mutant=output-layer-zeroed', 'node', { check: 'velocity-mutant', message: 'rejected as expected' });
  writeFileSync(join(dir, 'trajectory-errors.json'), JSON.stringify({ runs: trajectoryRuns }));
  writeFileSync(join(dir, 'checks.jsonl'), records.map((r) => JSON.stringify(r)).join('\n') + '\n');
  const scope: Scope = { full: true, node: true, browsers: [...ENGINES], narrowed: [], allowNarrow: false };
  const v = computeVerdict({
    runId: 'sample',
    startedAt: '2026-01-01T00:00:00Z',
    finishedAt: '2026-01-01T00:05:00Z',
    interrupted: false,
    level: 'full',
    scope,
    bundle: {
      dir: '(sample)',
      modelFile: 'model.onnx',
      modelSha256: '0'.repeat(64),
      manifestSha256: '0'.repeat(64),
      manifest: { name: 'synthetic sample (not a model)', breeds: SAMPLE_BREEDS, contract: { imageSize: SIZE } },
    },
    bundleArg: 'fixtures/default',
    records,
    recordProblems: [],
    vitest: { runner: 'vitest', report: 'vitest.json', tests: vitest, fileErrors: [], globalErrors: [], projects: ['node'], success: true },
    playwright: {
      runner: 'playwright',
      report: 'playwright.json',
      tests: playwright,
      fileErrors: [],
      globalErrors: [],
      projects: [...ENGINES],
      success: false,
    },
    processes: [],
    machine: { hostname: 'sample', platform: 'linux', cpus: 2, node: process.version },
    packages: [],
    env: {},
    files: { verdict: 'verdict.json', page: 'index.html' },
    runCommand: 'npm run gate',
  });
  writeSampleJudge(dir);
  v.judge = judgeSection(dir, { scope, level: 'full', mode: 'gate', refused: false, records });
  writeFileSync(join(dir, 'verdict.json'), JSON.stringify(v, null, 1));
  return v;
}
