/**
 * Behavioural checks (harness/checks/behaviour.ts): no goldens, any ONNX with the TinyDiT contract. Each variant of
 * the bundle must pass every check; each check must fail on a mutant of the good model built the way the
 * real project broke (README, "What the gate checks"), with a message that names the cause.
 * Guidance-once compares each float baked variant with the raw graph; the quantized variant is derived from
 * the guided one (quantizedFrom) and its uint8 error (~1e-2) is far above that check's float bound, so its
 * guidance is judged through its velocity profile against the guided goldens (velocity.test.ts).
 */
import { caseId } from '../../harness/core/case-id.js';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkDependsOnBreed,
  checkDependsOnPosition,
  checkDependsOnPositionFlat,
  checkDependsOnTime,
  checkGuidanceOnce,
  checkLocality,
  checkNotInputProportional,
  checkNullTokenDistinct,
  checkVelocityNonZero,
  type BehaviourResult,
} from '../../harness/checks/behaviour.js';
import { loadBundle } from '../../harness/model/bundle.js';
import { escapeRegex } from '../../harness/gate/replay.js';
import { bundleDir } from '../../harness/core/config.js';
import { BREED_EMBEDDING, breedEmbeddingRows, inspectOnnx } from '../../harness/model/onnx.js';
import {
  breedEmbeddingTensor,
  breedRowCopied,
  breedRowsUntrained,
  injectNonFinite,
  posEmbedTensor,
  timestepMlpTensors,
  withInitializerRows,
  withInitializers,
  zeroOutputLayer,
} from '../../harness/model/onnx-edit.js';
import { nullIndexConstant, withScalarConstant, withUnpatchifyPerm } from '../../harness/mutants/graph.js';
import { echoInput } from '../../harness/mutants/edits.js';
import { geometryOf } from '../../harness/mutants/materialise.js';
import { recordCheck } from '../../harness/core/record-check.js';
import { openModelBytes, openVariant, type VelocityRunner } from '../../harness/runtimes/node.js';

const RUNTIME = 'node';
/** Seed of the breeds-untrained mutant's rows (harness/model/onnx-edit.ts breedRowsUntrained; the draw MIN_BREED_PAIR_DISTANCE names first). */
const UNTRAINED_SEED = 4242;

const loaded = await loadBundle(bundleDir()).then(
  (b) => ({ bundle: b }),
  (e: Error) => ({ error: e }),
);

// ---------------------------------------------------------------------------------------------------------
// Mutants (weight edits of a good model through harness/model/onnx-edit.ts)

/** ORIGIN 3: every breed embedding row (null included) equal to row 0: a breed-blind model. */
function breedRowsEqual(bytes: Uint8Array, source: string): Uint8Array {
  const t = breedEmbeddingTensor(inspectOnnx(bytes, source));
  return withInitializers(
    bytes,
    {
      [t.name]: (d, dims) => {
        for (let r = 1; r < dims[0]!; r++) d.copyWithin(r * dims[1]!, 0, dims[1]!);
      },
    },
    source,
  );
}

/** An old export's layout: the null row is a copy of 'Other' (null = 12 with 13 rows). */
function nullRowIsOther(bytes: Uint8Array, nullIndex: number, other: number, source: string): Uint8Array {
  const t = breedEmbeddingTensor(inspectOnnx(bytes, source));
  return withInitializers(
    bytes,
    {
      [t.name]: (d, dims) => {
        d.copyWithin(nullIndex * dims[1]!, other * dims[1]!, (other + 1) * dims[1]!);
      },
    },
    source,
  );
}

/** ORIGIN 4: no position embedding: the model becomes exactly patch-permutation-equivariant. */
function posEmbedZeroed(bytes: Uint8Array, source: string): Uint8Array {
  return withInitializers(
    bytes,
    {
      [posEmbedTensor(inspectOnnx(bytes, source)).name]: (d) => {
        d.fill(0);
      },
    },
    source,
  );
}

/** ORIGIN 5: the timestep MLP's input weights zeroed: the time embedding is a constant, the model t-blind. */
function timestepInputZeroed(bytes: Uint8Array, source: string): Uint8Array {
  const first = timestepMlpTensors(inspectOnnx(bytes, source))[0]!;
  return withInitializers(
    bytes,
    {
      [first.name]: (d) => {
        d.fill(0);
      },
    },
    source,
  );
}

/**
 * Unpatchify permutations other than the export's (0,5,1,3,2,4: (B,n,n,p,p,C) -> (B,C,n,p,n,p)), each a pixel
 * permutation of the output: the real project's transposed unpatchify (grid and patch axes exchanged), a patch
 * transposed inside itself (the patch embedding reads (py,px), the unpatchify writes (px,py)), and the patch grid
 * transposed (patch (gy,gx) written at (gx,gy)).
 */
const UNPATCHIFY = {
  scrambled: [0, 5, 3, 1, 4, 2],
  patchTransposed: [0, 5, 1, 4, 2, 3],
  gridTransposed: [0, 5, 2, 3, 1, 4],
};

/**
 * The older export layout: a breed table of num_classes rows (no null row), Other (12) as the baked graph's null
 * class; the manifest still says null = 13. Rows cut in the ONNX itself (harness/model/onnx-edit.ts withInitializerRows).
 */
function olderExport13Rows(bytes: Uint8Array, nullIndex: number, baked: boolean, source: string): Uint8Array {
  const b = baked ? withScalarConstant(bytes, nullIndexConstant(bytes, nullIndex, source), nullIndex - 1) : bytes;
  return withInitializerRows(b, BREED_EMBEDDING, nullIndex, source);
}

/** The breed rows of an ONNX (its breed embedding's first dimension), read before running; null when it has none. */
function rowsOf(bytes: Uint8Array, source: string): number | null {
  return breedEmbeddingRows(inspectOnnx(bytes, source));
}

// ---------------------------------------------------------------------------------------------------------

/** Runs a check; one that cannot run is recorded as an error (never silently missing) and fails. */
async function runOrRecord(id: string, check: string, run: () => Promise<BehaviourResult>): Promise<BehaviourResult> {
  try {
    return await run();
  } catch (e) {
    recordCheck({ id, check, runtime: RUNTIME, status: 'error', metrics: {}, message: (e as Error).message });
    throw e;
  }
}

function record(id: string, r: BehaviourResult, variant: string, expectFail = false): void {
  const ok = expectFail ? !r.pass : r.pass;
  recordCheck({
    id,
    check: expectFail ? 'behaviour-mutant' : 'behaviour',
    runtime: RUNTIME,
    status: ok ? 'pass' : 'fail',
    metrics: { metric: r.metric, direction: r.direction, variant, ...r.detail },
    threshold: { [r.thresholdName]: r.threshold },
    message: expectFail
      ? r.pass
        ? `the check PASSED the mutant: it cannot see this fault (${r.message})`
        : `rejected as expected: ${r.message}`
      : r.message,
  });
}

if ('error' in loaded) {
  it('behaviour: bundle loads', () => {
    recordCheck({
      id: 'behaviour:bundle',
      check: 'behaviour',
      runtime: RUNTIME,
      status: 'error',
      metrics: {},
      message: loaded.error.message,
    });
    throw loaded.error;
  });
} else {
  const bundle = loaded.bundle;
  const m = bundle.manifest;
  const breedCount = m.breeds.length;
  const patch = m.identity.config.patch_size;
  /** What the network predicts: the checks judge an x-prediction head's x_hat where its v carries the graph's -x_t / (1 - t). */
  const prediction = m.identity.config.prediction;
  const { scale, nullIndex } = m.guidance;
  const otherIndex = breedCount - 1;
  const rawName = bundle.variantNames.find((v) => bundle.variant(v).guidance === 'none' && !bundle.variant(v).quantized);
  const bakedFloat = bundle.variantNames.filter((v) => bundle.variant(v).guidance === 'baked' && !bundle.variant(v).quantized);
  const requireRaw = (check: string): string => {
    if (rawName) return rawName;
    throw new Error(
      `${bundle.dir}/manifest.json has no raw (guidance 'none') float variant: the ${check} check needs model_raw.onnx; export it with --no-cfg`,
    );
  };
  /** Breed embedding rows of each variant, read from its ONNX: an index beyond them is a named failure, not a Gather error. */
  const breedRows = new Map<string, number | null>(
    bundle.variantNames.map((v) => {
      try {
        return [v, rowsOf(readFileSync(bundle.variantPath(v)), bundle.variantPath(v))];
      } catch {
        return [v, null];
      }
    }),
  );
  const rowsOfVariant = (v: string | undefined): number | null => (v === undefined ? null : (breedRows.get(v) ?? null));
  /** depends-on-breed names the closest pair by the manifest's breeds and judges a quantized variant by its own line. */
  const breedOpts = (v: string) => ({ breedNames: m.breeds, quantized: bundle.variant(v).quantized, prediction });
  const runners = new Map<string, VelocityRunner>();
  const runner = (v: string): VelocityRunner => {
    const r = runners.get(v);
    if (!r) throw openErrors.get(v) ?? new Error(`variant '${v}' is not in the bundle`);
    return r;
  };
  const openErrors = new Map<string, Error>();
  beforeAll(async () => {
    for (const v of bundle.variantNames) {
      try {
        runners.set(v, await openVariant(bundle, v));
      } catch (e) {
        openErrors.set(v, e as Error);
      }
    }
  });
  afterAll(async () => {
    for (const r of runners.values()) await r.release();
  });

  /** The checks every model must pass, as data: name -> how to run it on one runner. */
  const singleModelChecks: { check: string; run: (r: VelocityRunner, v: string) => Promise<BehaviourResult> }[] = [
    { check: 'nonzero', run: (r) => checkVelocityNonZero(r, breedCount, prediction) },
    { check: 'not-input', run: (r) => checkNotInputProportional(r, breedCount) },
    { check: 'depends-on-t', run: (r) => checkDependsOnTime(r, breedCount, 0.1, 0.9, prediction) },
    { check: 'depends-on-breed', run: (r, v) => checkDependsOnBreed(r, breedCount, 0.5, rowsOfVariant(v), breedOpts(v)) },
    { check: 'depends-on-position', run: (r) => checkDependsOnPosition(r, breedCount, patch) },
    { check: 'depends-on-position-flat', run: (r) => checkDependsOnPositionFlat(r, breedCount, patch) },
    { check: 'locality', run: (r) => checkLocality(r, breedCount, patch, { prediction }) },
  ];

  describe('behaviour of every variant', () => {
    for (const v of bundle.variantNames) {
      for (const c of singleModelChecks) {
        const id = caseId('behaviour', { check: c.check, variant: v });
        it(id, async () => {
          const r = await runOrRecord(id, 'behaviour', () => c.run(runner(v), v));
          record(id, r, v);
          expect(r).toPassCheck(id);
        });
      }
    }
    for (const v of bakedFloat) {
      const id = caseId('behaviour', { check: 'guidance-once', variant: v });
      it(id, async () => {
        const r = await runOrRecord(id, 'behaviour', async () =>
          checkGuidanceOnce(runner(v), runner(requireRaw('guidance-once')), scale, nullIndex, breedCount, rowsOfVariant(rawName)),
        );
        record(id, r, v);
        expect(r).toPassCheck(id);
      });
    }
    const nullId = caseId('behaviour', { check: 'null-token', variant: rawName ?? 'raw' });
    it(nullId, async () => {
      const r = await runOrRecord(nullId, 'behaviour', async () =>
        checkNullTokenDistinct(runner(requireRaw('null-token')), nullIndex, otherIndex, rowsOfVariant(rawName)),
      );
      record(nullId, r, rawName ?? 'raw');
      expect(r).toPassCheck(nullId);
    });
  });

  describe('each behaviour check fails on the mutant it targets', () => {
    const base = bakedFloat[0] ?? bundle.variantNames[0]!;
    const open = async (bytes: Uint8Array, label: string, guidance: string) =>
      openModelBytes(bytes, m, { label, source: `${label} (mutant of ${bundle.variantPath(base)})`, guidance });
    const baseBytes = () => readFileSync(bundle.variantPath(base));
    const g = bundle.variant(base).guidance;
    const unpatchify = (bytes: Uint8Array, perm: number[]) => withUnpatchifyPerm(bytes, perm, bundle.variantPath(base));
    const posZero = (bytes: Uint8Array) => posEmbedZeroed(bytes, base);
    const quantizedName = bundle.variantNames.find((v) => bundle.variant(v).quantized);
    /** Every breed row but 0 and 1 (and the null row, wherever the manifest puts it) re-drawn as at init. */
    const untrainedRows = Array.from({ length: breedCount }, (_, k) => k).filter((k) => k >= 2 && k !== nullIndex);
    /** Siamese's row made a copy of Bombay's (rows 10 and 3 here); the first two breeds for a bundle without them. */
    const pairEqual = ['Bombay', 'Siamese'].every((b) => m.breeds.includes(b))
      ? [m.breeds.indexOf('Bombay'), m.breeds.indexOf('Siamese')].sort((a, b) => a - b)
      : [0, 1];
    const older = (variant: string) => {
      const bytes = olderExport13Rows(
        readFileSync(bundle.variantPath(variant)),
        nullIndex,
        bundle.variant(variant).guidance === 'baked',
        variant,
      );
      return { bytes, rows: rowsOf(bytes, `${variant} (13 rows)`) };
    };

    /** Mutants as data: its name, how it is made, the check it must fail and a word the failure must name. */
    const mutants: { mutant: string; check: string; cause: RegExp; run: () => Promise<BehaviourResult> }[] = [
      {
        mutant: 'output-layer-zeroed',
        check: 'nonzero',
        cause: /zero/,
        run: async () =>
          checkVelocityNonZero(
            await open(zeroOutputLayer(baseBytes(), base), 'output-layer-zeroed', bundle.variant(base).guidance),
            breedCount,
            prediction,
          ),
      },
      {
        // fail closed: one NaN weight poisons the output; the check must say so rather than compare NaN
        mutant: 'nan-in-pos-embed',
        check: 'nonzero',
        cause: /NaN\/Inf/,
        run: async () =>
          checkVelocityNonZero(
            await open(injectNonFinite(baseBytes(), 'pos_embed', 0, Number.NaN, base), 'nan-in-pos-embed', bundle.variant(base).guidance),
            breedCount,
            prediction,
          ),
      },
      {
        mutant: 'echo-input',
        check: 'not-input',
        cause: /returns its input/,
        run: async () =>
          checkNotInputProportional(
            await open(echoInput(baseBytes(), geometryOf(bundle), base), 'echo-input', bundle.variant(base).guidance),
            breedCount,
          ),
      },
      {
        mutant: 't-mlp-input-zeroed',
        check: 'depends-on-t',
        cause: /t-blind/,
        run: async () =>
          checkDependsOnTime(
            await open(timestepInputZeroed(baseBytes(), base), 't-mlp-input-zeroed', bundle.variant(base).guidance),
            breedCount,
            0.1,
            0.9,
            prediction,
          ),
      },
      {
        mutant: 'breed-rows-equal',
        check: 'depends-on-breed',
        cause: /breed-blind/,
        run: async () =>
          checkDependsOnBreed(
            await open(breedRowsEqual(baseBytes(), base), 'breed-rows-equal', bundle.variant(base).guidance),
            breedCount,
            0.5,
            null,
            breedOpts(base),
          ),
      },
      // as shipped: only labels 0 and 1 trained, every other breed row still at its init; an average over the breeds passed it
      ...[...new Set([base, ...(quantizedName ? [quantizedName] : [])])].map((v) => ({
        mutant: v === base ? 'breeds-untrained' : `breeds-untrained-${v}`,
        check: 'depends-on-breed',
        // on a weak model the untrained rows and the model's own near pairs can join every breed into one group
        cause: /drawn alike: .*labels never reached training|every breed gets \(nearly\) the same .*labels did not reach training/,
        run: async () =>
          checkDependsOnBreed(
            await open(
              breedRowsUntrained(readFileSync(bundle.variantPath(v)), untrainedRows, UNTRAINED_SEED, v),
              `breeds-untrained (${v})`,
              bundle.variant(v).guidance,
            ),
            breedCount,
            0.5,
            null,
            breedOpts(v),
          ),
      })),
      {
        mutant: 'breed-pair-equal',
        check: 'depends-on-breed',
        // the pair made equal must be named in one group; a weaker model may draw other breeds alike as well
        cause: new RegExp(
          `drawn alike: (?:[^:;]*; )*(?:[^:;]* ~ )?${pairEqual.map((k) => escapeRegex(m.breeds[k]!)).join(' ~ (?:[^:;]* ~ )?')}(?: ~ [^:;]*)?[;:]`,
        ),
        run: async () =>
          checkDependsOnBreed(
            await open(breedRowCopied(baseBytes(), pairEqual[0]!, pairEqual[1]!, base), 'breed-pair-equal', g),
            breedCount,
            0.5,
            null,
            breedOpts(base),
          ),
      },
      {
        mutant: 'pos-embed-zeroed',
        check: 'depends-on-position',
        cause: /permutation-equivariant/,
        run: async () =>
          checkDependsOnPosition(
            await open(posEmbedZeroed(baseBytes(), base), 'pos-embed-zeroed', bundle.variant(base).guidance),
            breedCount,
            patch,
          ),
      },
      {
        // a graph with guidance applied twice behaves as scale s^2 against a manifest saying s; equivalently here
        mutant: 'guidance-applied-twice',
        check: 'guidance-once',
        cause: /applied twice/,
        run: async () => checkGuidanceOnce(runner(base), runner(requireRaw('guidance-once')), scale * scale, nullIndex, breedCount),
      },
      {
        // the file said to have guidance baked in is the raw graph: the app would never apply guidance
        mutant: 'baked-variant-is-raw',
        check: 'guidance-once',
        cause: /guidance scale/,
        run: async () =>
          checkGuidanceOnce(runner(requireRaw('guidance-once')), runner(requireRaw('guidance-once')), scale, nullIndex, breedCount),
      },
      // ORIGIN 4 as it shipped: no position embedding, a transposed unpatchify, or both at once. depends-on-position
      // passes the combined form (its pixel-space equivariance is broken by the unpatchify); these two do not need it.
      {
        mutant: 'position-blind',
        check: 'depends-on-position-flat',
        cause: /no working position embedding/,
        run: async () => checkDependsOnPositionFlat(await open(posZero(baseBytes()), 'position-blind', g), breedCount, patch),
      },
      {
        mutant: 'unpatchify-scrambled',
        check: 'locality',
        cause: /unpatchify puts pixels in other places/,
        run: async () =>
          checkLocality(await open(unpatchify(baseBytes(), UNPATCHIFY.scrambled), 'unpatchify-scrambled', g), breedCount, patch, {
            prediction,
          }),
      },
      {
        mutant: 'position-blind-and-unpatchify-scrambled',
        check: 'locality',
        cause: /unpatchify puts pixels in other places/,
        run: async () =>
          checkLocality(
            await open(unpatchify(posZero(baseBytes()), UNPATCHIFY.scrambled), 'position-blind-and-unpatchify-scrambled', g),
            breedCount,
            patch,
            { prediction },
          ),
      },
      {
        mutant: 'position-blind-and-unpatchify-scrambled',
        check: 'depends-on-position-flat',
        cause: /no working position embedding/,
        run: async () =>
          checkDependsOnPositionFlat(
            await open(unpatchify(posZero(baseBytes()), UNPATCHIFY.scrambled), 'position-blind-and-unpatchify-scrambled', g),
            breedCount,
            patch,
          ),
      },
      {
        mutant: 'unpatchify-patch-transposed',
        check: 'locality',
        cause: /orders the pixels of a patch differently/,
        run: async () =>
          checkLocality(
            await open(unpatchify(baseBytes(), UNPATCHIFY.patchTransposed), 'unpatchify-patch-transposed', g),
            breedCount,
            patch,
            { prediction },
          ),
      },
      {
        mutant: 'unpatchify-grid-transposed',
        check: 'locality',
        cause: /unpatchify puts pixels in other places/,
        run: async () =>
          checkLocality(
            await open(unpatchify(baseBytes(), UNPATCHIFY.gridTransposed), 'unpatchify-grid-transposed', g),
            breedCount,
            patch,
            { prediction },
          ),
      },
      {
        mutant: 'position-blind-and-patch-transposed',
        check: 'depends-on-position-flat',
        cause: /no working position embedding/,
        run: async () =>
          checkDependsOnPositionFlat(
            await open(unpatchify(posZero(baseBytes()), UNPATCHIFY.patchTransposed), 'position-blind-and-patch-transposed', g),
            breedCount,
            patch,
          ),
      },
      // the older export (13 rows, no null row) under a manifest that says null = 13: named before any model call
      {
        mutant: 'older-export-13-rows',
        check: 'null-token',
        cause: /the graph has 13 breed rows; the manifest's null index 13 is out of range: an export of the older layout/,
        run: async () => {
          const raw = older(requireRaw('null-token'));
          return checkNullTokenDistinct(await open(raw.bytes, 'older-export-13-rows', 'none'), nullIndex, otherIndex, raw.rows);
        },
      },
      {
        mutant: 'older-export-13-rows',
        check: 'guidance-once',
        cause: /the graph has 13 breed rows; the manifest's null index 13 is out of range: an export of the older layout/,
        run: async () => {
          const raw = older(requireRaw('guidance-once'));
          const baked = older(base);
          return checkGuidanceOnce(
            await open(baked.bytes, 'older-export-13-rows', g),
            await open(raw.bytes, 'older-export-13-rows (raw)', 'none'),
            scale,
            nullIndex,
            breedCount,
            raw.rows,
          );
        },
      },
      {
        mutant: 'null-row-equals-other',
        check: 'null-token',
        cause: /null row is not a separate/,
        run: async () => {
          const raw = requireRaw('null-token');
          const bytes = nullRowIsOther(readFileSync(bundle.variantPath(raw)), nullIndex, otherIndex, raw);
          return checkNullTokenDistinct(await open(bytes, 'null-row-equals-other', 'none'), nullIndex, otherIndex);
        },
      },
    ];

    for (const mu of mutants) {
      const id = caseId('behaviour', { check: mu.check, mutant: mu.mutant });
      it(id, async () => {
        const r = await runOrRecord(id, 'behaviour-mutant', mu.run);
        record(id, r, mu.mutant, true);
        expect(r.check).toBe(mu.check);
        expect(r).not.toPassCheck(id);
        expect(r.message).toMatch(mu.cause);
      });
    }
  });
}
