/**
 * The mutant catalogue: one entry per broken model, each with the checks aimed at it. Open-ended: add an entry
 * and `npm run make-mutants` builds it, `npm run gate:power` puts it in the kill matrix, and (when `cheap`)
 * suites/node/mutants.test.ts runs it in CI. Mutants change the model (and, where said, the manifest's claims);
 * the goldens stay the good model's, as when a broken export is shipped next to the checkpoint it claims to be.
 */
import { fixBatchDim, injectNonFinite, renameIO, setInputDtype, zeroOutputLayer } from '../mutate.js';
import {
  breedRowsEqual, channelsSwapped, echoInput, halfRoundTrip, outputAffine, posEmbedZeroed, relativeNoise, swapBreedRows,
  timestepInputZeroed,
} from './edits.js';
import { guidanceScaleConstant, nullIndexConstant, timestepScaleConstant, withScalarConstant, withUnpatchifyPerm } from './graph.js';
import type { BuildContext, Mutant, MutantBuild } from './types.js';

/** Applies one edit to each listed variant (default: every variant of the bundle). */
function variants(ctx: BuildContext, edit: (bytes: Uint8Array, source: string, variant: string) => Uint8Array,
  which: (variant: string) => boolean = () => true): MutantBuild {
  const models: Record<string, Uint8Array> = {};
  for (const v of ctx.bundle.variantNames) {
    if (!which(v)) continue;
    models[v] = edit(ctx.variantBytes(v), ctx.bundle.variantPath(v), v);
  }
  if (Object.keys(models).length === 0) throw new Error(`${ctx.bundle.dir}: no variant to mutate`);
  return { models };
}

const isFloat = (ctx: BuildContext) => (v: string): boolean => !ctx.bundle.variant(v).quantized;
const isBaked = (ctx: BuildContext) => (v: string): boolean => ctx.bundle.variant(v).guidance === 'baked';
/** The default export: float, guidance baked in. */
const guidedName = (ctx: BuildContext): string => {
  const v = ctx.bundle.variantNames.find((n) => !ctx.bundle.variant(n).quantized && ctx.bundle.variant(n).guidance === 'baked');
  if (!v) throw new Error(`${ctx.bundle.dir}/manifest.json: no float variant with guidance baked in`);
  return v;
};
const rawName = (ctx: BuildContext): string => {
  const v = ctx.bundle.variantNames.find((n) => !ctx.bundle.variant(n).quantized && ctx.bundle.variant(n).guidance === 'none');
  if (!v) throw new Error(`${ctx.bundle.dir}/manifest.json: no float variant without guidance (--no-cfg export)`);
  return v;
};
const breedIndex = (ctx: BuildContext, name: string): number => {
  const i = ctx.bundle.manifest.breeds.indexOf(name);
  if (i < 0) throw new Error(`${ctx.bundle.dir}/manifest.json: no breed '${name}'`);
  return i;
};

/** Python re-exports: each listed file of reference/python/make_mutants.py's <mutant>/ replaces the variant of that file name. */
function python(ctx: BuildContext, mutant: string, files: string[]): MutantBuild {
  const models: Record<string, Uint8Array> = {};
  for (const f of files) {
    const v = ctx.bundle.variantNames.find((n) => ctx.bundle.variant(n).file === f);
    if (!v) throw new Error(`${ctx.bundle.dir}/manifest.json: no variant stored as ${f} (for Python mutant ${mutant})`);
    models[v] = ctx.pythonFile(mutant, f);
  }
  return { models };
}

export const CATALOGUE: Mutant[] = [
  // ---- ORIGIN 1 and 2: no velocity, or the input handed back ----
  {
    name: 'zero-velocity', origin: [1, 2], kind: 'node', cheap: true,
    description: 'output layer zeroed in every variant (a step-0 checkpoint): velocity 0, sampling returns the input noise',
    expect: ['weights/output-layer', 'behaviour/nonzero'],
    build: (ctx) => variants(ctx, (b, s) => zeroOutputLayer(b, s)),
  },
  {
    name: 'output-equals-input', origin: [1], kind: 'node', cheap: true,
    description: 'the float graphs return their input (v = x, whatever t and breed), as a model trained on a degenerate target',
    expect: ['behaviour/not-input'],
    build: (ctx) => variants(ctx, (b, s) => echoInput(b, ctx.geometry, s), isFloat(ctx)),
  },
  // ---- ORIGIN 3: breeds ----
  {
    name: 'breed-blind', origin: [3], kind: 'node', cheap: true,
    description: 'every breed embedding row (null included) equal to row 0 in every variant: the breed input is ignored',
    expect: ['behaviour/depends-on-breed'],
    build: (ctx) => variants(ctx, (b, s) => breedRowsEqual(b, s)),
  },
  {
    name: 'breeds-swapped', origin: [3], kind: 'node', cheap: true,
    description: 'embedding rows of Bombay and Siamese exchanged in every variant: asking for one draws the other',
    expect: ['velocity', 'trajectory'],
    build: (ctx) => variants(ctx, (b, s) => swapBreedRows(b, breedIndex(ctx, 'Bombay'), breedIndex(ctx, 'Siamese'), s)),
  },
  // ---- ORIGIN 5: time ----
  {
    name: 't-blind', origin: [5], kind: 'node', cheap: true,
    description: 'timestep MLP input weights zeroed in every variant: the time embedding is a constant',
    expect: ['behaviour/depends-on-t'],
    build: (ctx) => variants(ctx, (b, s) => timestepInputZeroed(b, s)),
  },
  {
    name: 't-unscaled', origin: [5], kind: 'node', cheap: true,
    description: 'the timestep reaches the sinusoid unscaled (t, not t*1000) in every variant',
    expect: ['behaviour/depends-on-t', 'velocity'],
    build: (ctx) => variants(ctx, (b, s) => withScalarConstant(b, timestepScaleConstant(b, s), 1)),
  },
  // ---- ORIGIN 4: space ----
  {
    name: 'position-blind', origin: [4], kind: 'node', cheap: true,
    description: 'position embedding zeroed in every variant: the model is exactly patch-permutation-equivariant',
    expect: ['behaviour/depends-on-position'],
    build: (ctx) => variants(ctx, (b, s) => posEmbedZeroed(b, s)),
  },
  {
    name: 'unpatchify-scrambled', origin: [4], kind: 'node', cheap: true,
    description: 'unpatchify transposes grid and patch axes (perm 0,5,3,1,4,2 for 0,5,1,3,2,4) in every variant: pixels land in the wrong places',
    expect: ['velocity', 'trajectory'],
    build: (ctx) => variants(ctx, (b, s) => withUnpatchifyPerm(b, [0, 5, 3, 1, 4, 2], s)),
  },
  // ---- ORIGIN 6: guidance ----
  {
    name: 'guidance-scale-squared', origin: [6], kind: 'node', cheap: true,
    description: 'baked graphs apply guidance 2.25 (1.5 applied twice) while the manifest says 1.5',
    expect: ['behaviour/guidance-once', 'velocity'],
    build: (ctx) => {
      const s = ctx.bundle.manifest.guidance.scale;
      return variants(ctx, (b, src) => withScalarConstant(b, guidanceScaleConstant(b, s, src), s * s), isBaked(ctx));
    },
  },
  {
    name: 'guidance-twice-manifest', origin: [6], kind: 'node', cheap: true,
    description: 'the manifest calls the baked guided graph raw (guidance none): an app that trusts it applies guidance on top of the baked one',
    expect: ['trajectory', 'contract/metadata'],
    build: (ctx) => {
      const g = guidedName(ctx);
      return { models: {}, manifest: (m) => { m.variants[g]!.guidance = 'none'; } };
    },
  },
  {
    name: 'guidance-twice-page', origin: [6], kind: 'browser', cheap: false,
    description: 'the good model, and a page that applies guidance again on top of the baked graph (?fault=double-guidance)',
    expect: ['generation'],
    build: () => ({ models: {}, pageFaults: ['double-guidance'] }),
  },
  {
    name: 'null-index-other', kind: 'node', cheap: true,
    description: 'baked graphs use breed 12 (Other) as the unconditional class instead of the null token 13',
    expect: ['behaviour/guidance-once', 'velocity'],
    build: (ctx) => {
      const n = ctx.bundle.nullIndex;
      return variants(ctx, (b, s) => withScalarConstant(b, nullIndexConstant(b, n, s), n - 1), isBaked(ctx));
    },
  },
  {
    name: 'older-export-13-rows', kind: 'node', cheap: false, python: ['older-export-13-rows'],
    description: 're-export of an older layout: 13 embedding rows, Other (12) as the null class, in every variant',
    expect: ['contract/parameters', 'contract/metadata', 'behaviour/null-token', 'velocity'],
    build: (ctx) => python(ctx, 'older-export-13-rows', ['model.onnx', 'model_raw.onnx', 'model_quant.onnx']),
  },
  // ---- ORIGIN 7: interface and weights ----
  {
    name: 'input-renamed', origin: [7], kind: 'node', cheap: true,
    description: "input 'noise' renamed 'x' in every variant (the app's names no longer match)",
    expect: ['contract/io-names'],
    build: (ctx) => variants(ctx, (b, s) => renameIO(b, { noise: 'x' }, s)),
  },
  {
    name: 'output-renamed', origin: [7], kind: 'node', cheap: true,
    description: "output 'velocity' renamed 'out' in every variant",
    expect: ['contract/io-names'],
    build: (ctx) => variants(ctx, (b, s) => renameIO(b, { velocity: 'out' }, s)),
  },
  {
    name: 'breed-int32', kind: 'node', cheap: true,
    description: "input 'breed' declared int32 instead of int64 in every variant (onnxruntime refuses the graph)",
    expect: ['contract/dtypes'],
    build: (ctx) => variants(ctx, (b, s) => setInputDtype(b, 'breed', 'int32', s)),
  },
  {
    name: 'fixed-batch', kind: 'node', cheap: true,
    description: 'batch axis fixed at 1 in every variant (exported without dynamic axes)',
    expect: ['contract/shapes'],
    build: (ctx) => variants(ctx, (b, s) => fixBatchDim(b, 1, ctx.bundle.manifest.contract.dynamicAxes[0] ?? 'batch', s)),
  },
  {
    name: 'raw-weights', origin: [7], kind: 'node', cheap: false, python: ['raw-weights'],
    description: 'every variant re-exported from model_state_dict (raw, not EMA, weights) while labelled EMA',
    expect: ['velocity', 'trajectory'],
    build: (ctx) => python(ctx, 'raw-weights', ['model.onnx', 'model_raw.onnx', 'model_quant.onnx']),
  },
  // ---- numerics of the weights ----
  {
    name: 'nan-weight', kind: 'node', cheap: true,
    description: 'one NaN in blocks.0.attn.qkv.weight (flat index 5) of the guided graph',
    expect: ['weights/finite'],
    build: (ctx) => variants(ctx, (b, s) => injectNonFinite(b, 'blocks.0.attn.qkv.weight', 5, Number.NaN, s), (v) => v === guidedName(ctx)),
  },
  {
    name: 'inf-weight', kind: 'node', cheap: true,
    description: 'one +Inf in final_layer.linear.bias (index 0) of the raw graph',
    expect: ['weights/finite'],
    build: (ctx) => variants(ctx, (b, s) => injectNonFinite(b, 'final_layer.linear.bias', 0, Number.POSITIVE_INFINITY, s), (v) => v === rawName(ctx)),
  },
  {
    name: 'half-precision', kind: 'node', cheap: true,
    description: 'every float weight tensor rounded to float16 and back, in every variant',
    expect: ['velocity'],
    build: (ctx) => variants(ctx, (b, s) => halfRoundTrip(b, s)),
  },
  {
    name: 'weights-noise-1e-3', kind: 'node', cheap: true,
    description: 'float weights x (1 + 1e-3 n), n seeded standard normal, in the float variants (the drift of another export)',
    expect: ['velocity', 'trajectory'],
    build: (ctx) => variants(ctx, (b, s) => relativeNoise(b, 1e-3, 20_261_128, s), isFloat(ctx)),
  },
  {
    // Its velocity stays inside the quantized profile (worst case 0.64 of velocityRelL2Max), so Node conformance
    // does not see it; the provenance check (dequantized weights within half a step of the quantizedFrom variant's,
    // harness/quant-provenance.ts) does, and the browsers' quantized generation (6.9 levels off the goldens, profile 1.15)
    name: 'quantized-from-raw-weights', kind: 'both', cheap: false, python: ['quantized-from-raw-weights'],
    description: 'the quantized variant quantized from a guided export of the raw (non-EMA) weights, not from the guided variant',
    expect: ['weights/quantized-from', 'generation'],
    build: (ctx) => python(ctx, 'quantized-from-raw-weights', ['model_quant.onnx']),
  },
  // ---- pixels ----
  {
    name: 'pixel-range-halved', kind: 'both', cheap: true,
    description: 'output layer weight and bias x0.5 in every variant: the velocity and so the image range are halved',
    expect: ['velocity', 'trajectory', 'generation'],
    build: (ctx) => variants(ctx, (b, s) => outputAffine(b, 0.5, 0, s)),
  },
  {
    name: 'pixel-range-shifted', kind: 'both', cheap: true,
    description: 'output layer bias + 0.5 in every variant: every image shifted by +0.5 (64 levels brighter)',
    expect: ['velocity', 'trajectory', 'generation'],
    build: (ctx) => variants(ctx, (b, s) => outputAffine(b, 1, 0.5, s)),
  },
  {
    name: 'channels-swapped', kind: 'both', cheap: true,
    description: 'the model works in BGR (patch-embedding input and output-layer channels swapped) in every variant',
    expect: ['velocity', 'trajectory', 'generation'],
    build: (ctx) => variants(ctx, (b, s) => channelsSwapped(b, ctx.geometry, s)),
  },
];

export function mutantByName(name: string): Mutant {
  const m = CATALOGUE.find((x) => x.name === name);
  if (!m) throw new Error(`no mutant '${name}' in harness/mutants/catalogue.ts (known: ${CATALOGUE.map((x) => x.name).join(', ')})`);
  return m;
}
