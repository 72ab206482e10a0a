/**
 * Contract and weight checks on every ONNX variant of the bundle (no goldens needed: these also judge a
 * contract-only bundle):
 * - contract: opset 17; IO names exactly noise, timestep, breed -> velocity; dtypes; shapes with the batch
 *   axis symbolic; the model's signature equals the manifest's contract; parameter count equals the
 *   manifest's identity; the graph's quantization agrees with the manifest; tinydit.* metadata agrees;
 * - weights: no NaN/Inf in any initializer; the output layer (final_layer.linear) is not all zero.
 * Each judge is a pure function of the inspected model. The mutant cases at the end feed the same judges
 * models broken the way each check targets (harness/model/onnx-edit.ts) and require a failure naming the cause;
 * they also load each mutant in onnxruntime-node to show the fault is real at run time.
 */
import { caseId } from '../../harness/core/case-id.js';
import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import {
  contractDiff,
  loadBundle,
  originContract,
  ORIGIN_INPUT_NAMES,
  ORIGIN_OPSET,
  ORIGIN_OUTPUT_NAMES,
  outputGain,
  type Bundle,
  type ContractDifference,
  type VariantSpec,
} from '../../harness/model/bundle.js';
import { bundleDir } from '../../harness/core/config.js';
import {
  fixBatchDim,
  injectNonFinite,
  renameIO,
  setInputDtype,
  setMetadata,
  setOpset,
  withInitializers,
  zeroOutputLayer,
} from '../../harness/model/onnx-edit.js';
import { seededNoise } from '../../harness/core/noise.js';
import { describeInitializer, inspectOnnx, weightSanity, type OnnxInfo, type WeightSanity } from '../../harness/model/onnx.js';
import { QUANT_HALF_STEP_SLACK, quantProvenance, type QuantProvenance } from '../../harness/model/quant-provenance.js';
import { recordCheck, type Metric } from '../../harness/core/record-check.js';

const RUNTIME = 'node';
/** Seed of the probe input fed to mutants in onnxruntime (any seed: the probe only shows the fault is live). */
const PROBE_SEED = 0;
/** Timestep of the probe input (mid-trajectory, where every part of the model contributes). */
const PROBE_T = 0.5;

// ---------------------------------------------------------------------------------------------------------
// Judges: pure functions of an inspected model, shared by the real variants and the mutants

interface Verdict {
  status: 'pass' | 'fail';
  metrics: Record<string, Metric>;
  threshold?: Record<string, Metric>;
  message: string;
}

interface Inspected {
  variant: string;
  spec: VariantSpec;
  source: string;
  bytes: Uint8Array;
  info: OnnxInfo;
  sanity: WeightSanity;
}

function inspect(variant: string, spec: VariantSpec, source: string, bytes: Uint8Array): Inspected {
  const info = inspectOnnx(bytes, source);
  return { variant, spec, source, bytes, info, sanity: weightSanity(info, bytes) };
}

function verdict(
  m: Inspected,
  diffs: ContractDifference[],
  okMessage: string,
  metrics: Record<string, Metric>,
  threshold?: Record<string, Metric>,
): Verdict {
  return diffs.length === 0
    ? { status: 'pass', metrics: { ...metrics, differences: 0 }, ...(threshold ? { threshold } : {}), message: okMessage }
    : {
        status: 'fail',
        metrics: { ...metrics, differences: diffs.length },
        ...(threshold ? { threshold } : {}),
        message: `${m.source}: ${diffs.map((d) => d.message).join('; ')}`,
      };
}

/** The ONNX contract (docs/bundle-format.md), as diffs against this model (dynamic-axis labels are not observable). */
function originDiffs(m: Inspected, bundle: Bundle): ContractDifference[] {
  const batch = bundle.manifest.contract.dynamicAxes[0] ?? 'batch';
  return contractDiff(originContract(bundle.imageSize, bundle.channels, batch), m.info, { anySymbol: true, symbolicForStatic: true });
}

/** Output dims a static contract pins but the export declares symbolic (exporter left them unresolved). */
function unresolvedOutputDims(m: Inspected): string[] {
  return m.info.outputs.flatMap((o) =>
    (o.shape ?? [])
      .slice(1)
      .filter((d): d is string => typeof d === 'string')
      .map((d) => `${o.name}:${d}`),
  );
}

const judges = {
  opset(m: Inspected, bundle: Bundle): Verdict {
    const diffs = originDiffs(m, bundle).filter((d) => d.field === 'opset');
    if (bundle.manifest.contract.opset !== ORIGIN_OPSET) {
      diffs.push({
        field: 'manifest.contract.opset',
        expected: String(ORIGIN_OPSET),
        actual: String(bundle.manifest.contract.opset),
        message: `manifest.json contract.opset is ${bundle.manifest.contract.opset}, the TinyDiT contract is opset ${ORIGIN_OPSET}`,
      });
    }
    return verdict(
      m,
      diffs,
      `opset ${m.info.opset}`,
      { opset: m.info.opset, irVersion: m.info.irVersion, opsets: JSON.stringify(m.info.opsets) },
      { opset: ORIGIN_OPSET },
    );
  },
  ioNames(m: Inspected, bundle: Bundle): Verdict {
    const diffs = originDiffs(m, bundle).filter((d) => /^(inputs|outputs)\.[^.]+$/.test(d.field));
    const io = `${m.info.inputs.map((v) => v.name).join(',')} -> ${m.info.outputs.map((v) => v.name).join(',')}`;
    return verdict(m, diffs, `IO ${io}`, { io }, { io: `${ORIGIN_INPUT_NAMES.join(',')} -> ${ORIGIN_OUTPUT_NAMES.join(',')}` });
  },
  dtypes(m: Inspected, bundle: Bundle): Verdict {
    const diffs = originDiffs(m, bundle).filter((d) => d.field.endsWith('.dtype'));
    const dtypes = [...m.info.inputs, ...m.info.outputs].map((v) => `${v.name}:${v.dtype}`).join(',');
    return verdict(m, diffs, `dtypes ${dtypes}`, { dtypes }, { dtypes: 'noise:float32,timestep:float32,breed:int64,velocity:float32' });
  },
  shapes(m: Inspected, bundle: Bundle): Verdict {
    const diffs = originDiffs(m, bundle).filter((d) => d.field.includes('.shape'));
    const shapes = [...m.info.inputs, ...m.info.outputs].map((v) => `${v.name}:[${(v.shape ?? []).join(',')}]`).join(' ');
    const unresolved = unresolvedOutputDims(m);
    const note =
      unresolved.length > 0
        ? ` (note: output dims ${unresolved.join(', ')} are declared symbolic by the exporter; their sizes are checked when the model runs)`
        : '';
    return verdict(
      m,
      diffs,
      `shapes ${shapes}${note}`,
      { shapes, unresolvedOutputDims: unresolved.join(',') || null },
      { batchAxis: 'symbolic', static: `${bundle.channels}x${bundle.imageSize}x${bundle.imageSize}` },
    );
  },
  manifestContract(m: Inspected, bundle: Bundle): Verdict {
    const diffs = contractDiff(bundle.manifest.contract, m.info);
    return verdict(m, diffs, 'the model signature equals manifest.json contract', { checkedAgainst: 'manifest.json contract' });
  },
  parameters(m: Inspected, bundle: Bundle): Verdict {
    const want = bundle.manifest.identity.parameters;
    // float variants hold every parameter as a float tensor; a quantized one holds the matrices as uint8
    const have = m.spec.quantized ? m.info.weightElements : m.info.parameterCount;
    const counted = m.spec.quantized ? 'weight elements (float + uint8, scales excluded)' : 'float initializer elements';
    const metrics = {
      parameterCount: m.info.parameterCount,
      weightElements: m.info.weightElements,
      quantizedWeightCount: m.info.quantizedWeightCount,
      expected: want,
      parametersPerBlock: JSON.stringify(m.info.parametersPerBlock),
    };
    if (have === want)
      return { status: 'pass', metrics, threshold: { parameters: want }, message: `${have} ${counted} = manifest identity.parameters` };
    return {
      status: 'fail',
      metrics,
      threshold: { parameters: want },
      message:
        `${m.source}: ${have} ${counted}, manifest.json identity.parameters says ${want} (difference ${have - want}); ` +
        `per part: ${JSON.stringify(m.info.parametersPerBlock)}; the ONNX is not an export of the manifest's checkpoint/config`,
    };
  },
  ops(m: Inspected): Verdict {
    const metrics = {
      nodes: m.info.nodes.length,
      opTypes: Object.keys(m.info.opHistogram).length,
      opHistogram: JSON.stringify(m.info.opHistogram),
      graphQuantized: m.info.quantized,
    };
    if (m.info.quantized === m.spec.quantized) {
      return {
        status: 'pass',
        metrics,
        threshold: { quantized: m.spec.quantized },
        message: `${m.info.nodes.length} nodes; quantized graph: ${m.info.quantized}, as the manifest says`,
      };
    }
    return {
      status: 'fail',
      metrics,
      threshold: { quantized: m.spec.quantized },
      message: `${m.source}: manifest.json variants.${m.variant}.quantized is ${m.spec.quantized} but the graph ${m.info.quantized ? 'has' : 'has no'} quantized weights/operators (MatMulInteger, DynamicQuantizeLinear, uint8/int8 weights)`,
    };
  },
  metadata(m: Inspected, bundle: Bundle): Verdict {
    const md = m.info.metadata;
    const id = bundle.manifest.identity;
    const expected: Record<string, string | null> = {
      'tinydit.null_index': String(bundle.nullIndex),
      'tinydit.guidance': m.spec.guidance === 'baked' ? `baked:${bundle.manifest.guidance.scale}` : 'none',
      'tinydit.weights': id.checkpoint.weights,
      'tinydit.step': id.checkpoint.step === null ? null : String(id.checkpoint.step),
      'tinydit.config': id.config.name,
    };
    const diffs: ContractDifference[] = [];
    let checked = 0;
    for (const [k, want] of Object.entries(expected)) {
      const have = md[k];
      if (have === undefined || want === null) continue; // metadata is optional; present keys must agree
      checked++;
      const same =
        k === 'tinydit.guidance' && have.startsWith('baked:') && want.startsWith('baked:')
          ? Number(have.slice(6)) === Number(want.slice(6))
          : have === want;
      if (!same)
        diffs.push({
          field: `metadata.${k}`,
          expected: want,
          actual: have,
          message: `metadata ${k}=${have} contradicts manifest.json (${want})`,
        });
    }
    if ('tinydit.quantized' in md !== m.spec.quantized && Object.keys(md).some((k) => k.startsWith('tinydit.'))) {
      checked++;
      diffs.push({
        field: 'metadata.tinydit.quantized',
        expected: String(m.spec.quantized),
        actual: md['tinydit.quantized'] ?? 'absent',
        message: `metadata tinydit.quantized is ${md['tinydit.quantized'] ?? 'absent'} but manifest.json variants.${m.variant}.quantized is ${m.spec.quantized}`,
      });
    }
    return verdict(m, diffs, `${Object.keys(md).length} metadata entries, ${checked} checked against the manifest`, {
      metadata: JSON.stringify(md),
      keysChecked: checked,
      producer: `${m.info.producer.name} ${m.info.producer.version}`,
    });
  },
  finite(m: Inspected): Verdict {
    const s = m.sanity;
    const metrics = {
      checkedTensors: s.checkedTensors,
      checkedElements: s.checkedElements,
      nonFiniteTensors: s.nonFinite.length,
      unchecked: s.unchecked.join(',') || null,
    };
    if (s.unchecked.length > 0) {
      return {
        status: 'fail',
        metrics,
        message: `${m.source}: float initializers not examined (external or unsupported storage): ${s.unchecked.join(', ')}; embed the weights in the ONNX file`,
      };
    }
    if (s.nonFinite.length === 0)
      return {
        status: 'pass',
        metrics,
        threshold: { nonFinite: 0 },
        message: `${s.checkedElements} weight elements in ${s.checkedTensors} tensors, all finite`,
      };
    return {
      status: 'fail',
      metrics,
      threshold: { nonFinite: 0 },
      message:
        `${m.source}: non-finite weights: ` +
        s.nonFinite
          .map((n) => `${describeInitializer(m.info, n.name)} has ${n.count} NaN/Inf (first at flat index ${n.firstIndex})`)
          .join('; '),
    };
  },
  outputLayer(m: Inspected): Verdict {
    const s = m.sanity;
    const metrics = {
      outputWeight: s.outputLayer.weight,
      outputBias: s.outputLayer.bias,
      outputLayerZero: s.outputLayerZero,
      outputWeightZero: s.outputWeightZero,
      allZeroTensors: s.allZero.join(',') || null,
    };
    if (s.outputLayer.weight === null) {
      return {
        status: 'fail',
        metrics,
        message: `${m.source}: cannot find the output layer (final_layer.linear weight: a MatMul/Gemm initializer fed by a node named .../final_layer/linear/...); the check cannot judge this export`,
      };
    }
    if (!s.outputWeightZero)
      return { status: 'pass', metrics, message: `output layer ${describeInitializer(m.info, s.outputLayer.weight)} is not all zero` };
    if (!s.outputLayerZero) {
      return {
        status: 'fail',
        metrics,
        message: `${m.source}: the output layer weight ${describeInitializer(m.info, s.outputLayer.weight)} is all zero: the network's prediction equals the bias whatever the input (a velocity head: the velocity; an x-prediction head: the clean image)`,
      };
    }
    return {
      status: 'fail',
      metrics,
      message:
        `${m.source}: the output layer is all zero (${[s.outputLayer.weight, s.outputLayer.bias]
          .filter((x): x is string => x !== null)
          .map((n) => describeInitializer(m.info, n))
          .join(' and ')}): ` +
        'the network predicts 0 for every input (a velocity head: velocity 0; an x-prediction head: a clean image of 0, mid-grey), as an untrained (step 0, zero-initialised) checkpoint does',
    };
  },
};

type JudgeName = keyof typeof judges;
const CONTRACT_JUDGES: JudgeName[] = ['opset', 'ioNames', 'dtypes', 'shapes', 'manifestContract', 'parameters', 'ops', 'metadata'];
const WEIGHT_JUDGES: JudgeName[] = ['finite', 'outputLayer'];
const ASPECT: Record<JudgeName, string> = {
  opset: 'opset',
  ioNames: 'io-names',
  dtypes: 'dtypes',
  shapes: 'shapes',
  manifestContract: 'manifest-contract',
  parameters: 'parameters',
  ops: 'ops',
  metadata: 'metadata',
  finite: 'finite',
  outputLayer: 'output-layer',
};
const checkOf = (j: JudgeName): string => (WEIGHT_JUDGES.includes(j) ? 'weights' : 'contract');

// ---------------------------------------------------------------------------------------------------------
// onnxruntime probe: does the (mutated) model load, and what does one call return?

interface Probe {
  loads: boolean;
  error: string | null;
  inputNames: string[];
  maxAbs: number | null;
  nonFinite: number | null;
}

async function probeInOrt(bytes: Uint8Array, bundle: Bundle): Promise<Probe> {
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  } catch (e) {
    return { loads: false, error: (e as Error).message, inputNames: [], maxAbs: null, nonFinite: null };
  }
  try {
    const S = bundle.imageSize;
    const C = bundle.channels;
    const values: Record<string, ort.Tensor> = {
      float32x4: new ort.Tensor('float32', seededNoise(PROBE_SEED, C * S * S), [1, C, S, S]),
      float32x1: new ort.Tensor('float32', Float32Array.from([PROBE_T]), [1]),
      int64x1: new ort.Tensor('int64', BigInt64Array.from([0n]), [1]),
    };
    // feed by position, so that a renamed model is probed with its own names
    const kinds = ['float32x4', 'float32x1', 'int64x1'];
    const feeds: Record<string, ort.Tensor> = {};
    session.inputNames.forEach((n, i) => {
      feeds[n] = values[kinds[i] ?? 'float32x1']!;
    });
    const out = await session.run(feeds);
    const v = out[session.outputNames[0]!]!.data as Float32Array;
    let maxAbs = 0;
    let nonFinite = 0;
    for (const x of v) {
      if (!Number.isFinite(x)) nonFinite++;
      else maxAbs = Math.max(maxAbs, Math.abs(x));
    }
    return { loads: true, error: null, inputNames: [...session.inputNames], maxAbs, nonFinite };
  } catch (e) {
    return {
      loads: true,
      error: `run failed: ${(e as Error).message}`,
      inputNames: [...session.inputNames],
      maxAbs: null,
      nonFinite: null,
    };
  } finally {
    await session.release();
  }
}

// ---------------------------------------------------------------------------------------------------------
// The bundle under test (fail closed: a bundle that does not load is one failing, recorded case)

const DIR = bundleDir();
let bundle: Bundle | null = null;
let loadError: string | null = null;
try {
  bundle = await loadBundle(DIR);
} catch (e) {
  loadError = (e as Error).message;
}

const inspected = new Map<string, Inspected>();
function variantModel(b: Bundle, variant: string): Inspected {
  let m = inspected.get(variant);
  if (!m) {
    const path = b.variantPath(variant);
    m = inspect(variant, b.variant(variant), path, readFileSync(path));
    inspected.set(variant, m);
  }
  return m;
}

function run(id: string, judge: JudgeName, m: Inspected, b: Bundle): Verdict {
  const v = judges[judge](m, b);
  recordCheck({
    id,
    check: checkOf(judge),
    runtime: RUNTIME,
    status: v.status,
    metrics: v.metrics,
    ...(v.threshold ? { threshold: v.threshold } : {}),
    message: v.message,
  });
  return v;
}

if (bundle === null) {
  describe('contract', () => {
    it('bundle loads', () => {
      recordCheck({
        id: 'contract:bundle',
        check: 'contract',
        runtime: RUNTIME,
        status: 'error',
        metrics: { bundle: DIR },
        message: loadError ?? 'unknown error',
      });
      expect.fail(loadError ?? `bundle ${DIR} did not load`);
    });
  });
} else {
  const b = bundle;
  describe.each(b.variantNames)('variant=%s', (variant) => {
    it.each([...CONTRACT_JUDGES, ...WEIGHT_JUDGES].map((j) => [ASPECT[j], j] as const))('aspect=%s', (_aspect, judge) => {
      const id = `${checkOf(judge)}:variant=${variant},aspect=${ASPECT[judge]}`;
      let v: Verdict;
      try {
        v = run(id, judge, variantModel(b, variant), b);
      } catch (e) {
        recordCheck({ id, check: checkOf(judge), runtime: RUNTIME, status: 'error', metrics: {}, message: (e as Error).message });
        throw e;
      }
      expect(v.status, v.message).toBe('pass');
    });
  });

  // -------------------------------------------------------------------------------------------------------
  // Mutants: each check must fail on the fault it targets, naming the cause

  /** The float variant with guidance baked in (the default export), else the first float one. */
  const floatVariant =
    b.variantNames.find((n) => !b.variant(n).quantized && b.variant(n).guidance === 'baked') ??
    b.variantNames.find((n) => !b.variant(n).quantized);
  const quantVariant = b.variantNames.find((n) => b.variant(n).quantized);

  interface MutantCase {
    mutant: string;
    variant: string;
    judge: JudgeName;
    make: (bytes: Uint8Array, source: string) => Uint8Array;
    /** Text the judge's failure message must contain (the cause, by name). */
    names: (base: Inspected) => string[];
    /** What onnxruntime must show for this mutant: it loads (and how the output looks), or it is refused. */
    ort: (p: Probe) => string | null;
    /** A manifest edit instead of a model edit (for judges comparing with the manifest). */
    manifest?: (bundle: Bundle) => Bundle;
  }

  const loads = (p: Probe): string | null => (p.loads && p.error === null ? null : `expected onnxruntime to load and run it: ${p.error}`);
  /**
   * A zeroed output layer makes the network's prediction 0. A velocity head then gives v = 0; an x-prediction head
   * (manifest identity.config.prediction 'x') gives x_hat = 0, so v = -x_t / max(1 - t, 0.05): its largest value is
   * the probe noise's largest divided by max(1 - t, 0.05).
   */
  const zeroedOutputVelocity = (p: Probe): string | null => {
    const loaded = loads(p);
    if (loaded) return loaded;
    const x = b.manifest.identity.config.prediction === 'x';
    const noise = seededNoise(PROBE_SEED, b.channels * b.imageSize * b.imageSize);
    const expected = x ? noise.reduce((m, v) => Math.max(m, Math.abs(v)), 0) * outputGain(b.manifest.identity.config, PROBE_T) : 0;
    const ok = p.nonFinite === 0 && p.maxAbs !== null && Math.abs(p.maxAbs - expected) <= 1e-5 * Math.max(1, expected);
    return ok
      ? null
      : `expected max|v| ${expected} (${x ? 'x-prediction: x_hat = 0, v = -x_t / (1 - t)' : 'velocity identically 0'}), got ${p.maxAbs} (${p.nonFinite} non-finite)`;
  };
  const mutants: MutantCase[] = [];
  const v0 = floatVariant;
  if (v0 !== undefined) {
    mutants.push(
      {
        mutant: 'zero-output-layer',
        variant: v0,
        judge: 'outputLayer',
        make: (x, s) => zeroOutputLayer(x, s),
        names: (m) => [m.sanity.outputLayer.weight ?? 'final_layer', 'all zero'],
        ort: zeroedOutputVelocity,
      },
      {
        mutant: 'zero-output-weight',
        variant: v0,
        judge: 'outputLayer',
        make: (x, s) => withInitializers(x, { 'final_layer.linear.weight': (d) => d.fill(0) }, s),
        names: (m) => [m.sanity.outputLayer.weight ?? 'final_layer', 'weight', 'all zero'],
        ort: loads,
      },
      {
        mutant: 'nan-weight',
        variant: v0,
        judge: 'finite',
        make: (x, s) => injectNonFinite(x, 'blocks.0.attn.qkv.weight', 5, Number.NaN, s),
        names: (m) => [m.info.initializers.find((i) => i.role === 'blocks.0.attn.qkv.weight')!.name, 'blocks.0.attn.qkv.weight', 'index 5'],
        ort: (p) => loads(p) ?? ((p.nonFinite ?? 0) > 0 ? null : 'expected non-finite velocity from a NaN weight'),
      },
      {
        mutant: 'inf-weight',
        variant: v0,
        judge: 'finite',
        make: (x, s) => injectNonFinite(x, 'final_layer.linear.bias', 0, Number.POSITIVE_INFINITY, s),
        names: () => ['final_layer.linear.bias', 'index 0'],
        ort: (p) => loads(p) ?? ((p.nonFinite ?? 0) > 0 ? null : 'expected non-finite velocity from an Inf bias'),
      },
      {
        mutant: 'rename-noise',
        variant: v0,
        judge: 'ioNames',
        make: (x, s) => renameIO(x, { noise: 'x' }, s),
        names: () => ["input 'noise' is missing", "input 'x'"],
        ort: (p) =>
          loads(p) ??
          (p.inputNames.includes('x') && !p.inputNames.includes('noise')
            ? null
            : `expected input names to show 'x', got ${p.inputNames.join(',')}`),
      },
      {
        mutant: 'rename-noise',
        variant: v0,
        judge: 'manifestContract',
        make: (x, s) => renameIO(x, { noise: 'x' }, s),
        names: () => ["input 'noise' is missing", "input 'x'"],
        ort: loads,
      },
      {
        mutant: 'rename-velocity',
        variant: v0,
        judge: 'ioNames',
        make: (x, s) => renameIO(x, { velocity: 'out' }, s),
        names: () => ["output 'velocity' is missing", "output 'out'"],
        ort: loads,
      },
      {
        mutant: 'breed-int32',
        variant: v0,
        judge: 'dtypes',
        make: (x, s) => setInputDtype(x, 'breed', 'int32', s),
        names: () => ["input 'breed' is int32", 'int64'],
        // the graph still consumes int64: onnxruntime refuses the model at load time
        ort: (p) => (p.loads ? 'expected onnxruntime to refuse an int32 breed input feeding int64 ops' : null),
      },
      {
        mutant: 'fixed-batch',
        variant: v0,
        judge: 'shapes',
        make: (x, s) => fixBatchDim(x, 1, b.manifest.contract.dynamicAxes[0] ?? 'batch', s),
        names: () => ["input 'noise' dim 0 is fixed at 1"],
        ort: loads,
      },
      {
        mutant: 'opset-16',
        variant: v0,
        judge: 'opset',
        make: (x, s) => setOpset(x, ORIGIN_OPSET - 1, s),
        names: () => [`opset ${ORIGIN_OPSET - 1}`, `${ORIGIN_OPSET}`],
        ort: loads,
      },
      {
        mutant: 'metadata-null-index',
        variant: v0,
        judge: 'metadata',
        make: (x, s) => setMetadata(x, 'tinydit.null_index', String(b.nullIndex - 1), s),
        names: () => [`tinydit.null_index=${b.nullIndex - 1}`],
        ort: loads,
      },
      {
        mutant: 'quantized-flag',
        variant: v0,
        judge: 'ops',
        make: (x) => x,
        names: (m) => [`variants.${m.variant}.quantized is true`, 'has no quantized'],
        ort: loads,
        manifest: (bb) => withVariantSpec(bb, v0, { quantized: true }),
      },
      {
        mutant: 'parameters-off-by-one',
        variant: v0,
        judge: 'parameters',
        make: (x) => x,
        names: () => [`identity.parameters says ${b.manifest.identity.parameters + 1}`, 'difference -1'],
        ort: loads,
        manifest: (bb) =>
          withManifest(bb, { ...bb.manifest, identity: { ...bb.manifest.identity, parameters: bb.manifest.identity.parameters + 1 } }),
      },
    );
  }
  if (quantVariant !== undefined) {
    mutants.push({
      mutant: 'zero-output-layer',
      variant: quantVariant,
      judge: 'outputLayer',
      make: (x, s) => zeroOutputLayer(x, s),
      names: (m) => [m.sanity.outputLayer.weight ?? 'final_layer', 'all zero'],
      ort: zeroedOutputVelocity,
    });
  }

  /** The same bundle object with another manifest (a manifest that disagrees with its model). */
  function withManifest(bb: Bundle, manifest: Bundle['manifest']): Bundle {
    return Object.assign(Object.create(Object.getPrototypeOf(bb) as object) as Bundle, bb, { manifest });
  }
  function withVariantSpec(bb: Bundle, variant: string, patch: Partial<VariantSpec>): Bundle {
    return withManifest(bb, { ...bb.manifest, variants: { ...bb.manifest.variants, [variant]: { ...bb.variant(variant), ...patch } } });
  }

  describe('the ONNX reader refuses damaged files, naming the file and the damage', () => {
    const cases: [string, (x: Uint8Array) => Uint8Array, RegExp][] = [
      ['empty', () => new Uint8Array(0), /: not an ONNX file: the file is empty/],
      [
        'truncated',
        (x) => x.subarray(0, x.length >> 1),
        /: truncated ONNX: field 7 of ModelProto at byte \d+ declares \d+ bytes but only \d+ remain in the file/,
      ],
      ['tail-cut', (x) => x.subarray(0, x.length - 3), /: truncated ONNX/],
      ['not-onnx', () => new TextEncoder().encode('{"format": "tinydit-bundle/1"}\n'), /: not an ONNX file/],
    ];
    it.each(cases)('fault=%s', (fault, damage, pattern) => {
      const base = variantModel(b, floatVariant ?? b.variantNames[0]!);
      const source = `${base.source} [${fault}]`;
      let message = '';
      try {
        inspectOnnx(damage(base.bytes), source);
      } catch (e) {
        message = (e as Error).message;
      }
      const ok = message.startsWith(source) && pattern.test(message);
      recordCheck({
        id: `contract:reader,fault=${fault}`,
        check: 'contract',
        runtime: RUNTIME,
        status: ok ? 'pass' : 'fail',
        metrics: { refused: message !== '' },
        threshold: { mustMatch: pattern.source },
        message: message || `inspectOnnx accepted a ${fault} file`,
      });
      expect(message, `inspectOnnx accepted a ${fault} file`).not.toBe('');
      expect(message.startsWith(source), message).toBe(true);
      expect(message).toMatch(pattern);
    });
  });

  describe('mutants: each check fails on the fault it targets', () => {
    it('the bundle has a float variant to mutate', () => {
      expect(floatVariant, `bundle ${b.dir} has no float (non-quantized) variant; the mutant proofs need one`).toBeDefined();
    });

    it.each(mutants.map((c) => [`aspect=${ASPECT[c.judge]},mutant=${c.mutant},variant=${c.variant}`, c] as const))(
      '%s',
      async (_name, c) => {
        const id = `${checkOf(c.judge)}:variant=${c.variant},aspect=${ASPECT[c.judge]},mutant=${c.mutant}`;
        const base = variantModel(b, c.variant);
        const source = `${base.source} [mutant ${c.mutant}]`;
        let bytes: Uint8Array;
        try {
          bytes = c.make(base.bytes, base.source);
        } catch (e) {
          const message = `cannot build mutant '${c.mutant}' from ${base.source} (the variant itself breaks the contract?): ${(e as Error).message}`;
          recordCheck({ id, check: checkOf(c.judge), runtime: RUNTIME, status: 'error', metrics: { mutant: c.mutant }, message });
          throw new Error(message);
        }
        const spec = c.manifest ? c.manifest(b).variant(c.variant) : base.spec;
        const mutated = inspect(c.variant, spec, source, bytes);
        const judged = judges[c.judge](mutated, c.manifest ? c.manifest(b) : b);
        const missing = c.names(base).filter((n) => !judged.message.includes(n));
        const probe = await probeInOrt(bytes, b);
        const ortProblem = c.ort(probe);
        const caught = judged.status === 'fail' && missing.length === 0;
        const metrics: Record<string, Metric> = {
          mutant: c.mutant,
          judgeStatus: judged.status,
          caught,
          loadsInOrt: probe.loads,
          ortMaxAbs: probe.maxAbs,
          ortNonFinite: probe.nonFinite,
          ortInputs: probe.inputNames.join(',') || null,
        };
        const message = !caught
          ? `the ${ASPECT[c.judge]} check did not reject mutant '${c.mutant}'${missing.length ? ` with a message naming ${missing.map((n) => `"${n}"`).join(', ')}` : ''}: ${judged.status}: ${judged.message}`
          : (ortProblem ?? `rejected: ${judged.message}`);
        recordCheck({
          id,
          check: checkOf(c.judge),
          runtime: RUNTIME,
          status: caught && ortProblem === null ? 'pass' : 'fail',
          metrics,
          message,
        });
        expect(judged.status, `mutant ${c.mutant} passed the ${ASPECT[c.judge]} check: ${judged.message}`).toBe('fail');
        expect(missing, `the failure message does not name the cause: ${judged.message}`).toEqual([]);
        expect(ortProblem, `onnxruntime probe of mutant ${c.mutant}`).toBeNull();
      },
    );
  });

  // -------------------------------------------------------------------------------------------------------
  // Provenance of each quantized variant (harness/model/quant-provenance.ts): its weights are its quantizedFrom
  // variant's, quantized (every dequantized weight within half a quantization step; untouched tensors equal).

  const provenanceVerdict = (q: Inspected, from: Inspected, what: string): Verdict & { p: QuantProvenance } => {
    const p = quantProvenance(q, from);
    const metrics: Record<string, Metric> = {
      quantizedTensors: p.quantizedTensors.length,
      unmatched: p.unmatched.length,
      elementsChecked: p.elementsChecked,
      elementsBeyondHalfStep: p.elementsBeyond,
      worstHalfSteps: p.worstHalfSteps,
      worstTensor: p.worstTensor,
      sharedTensorsCompared: p.sharedCompared,
      sharedTensorsDiffering: p.sharedDiffering.length,
    };
    const threshold = { worstHalfSteps: QUANT_HALF_STEP_SLACK, sharedTensorsDiffering: 0 };
    const problems: string[] = [];
    if (p.quantizedTensors.length === 0) problems.push('no quantized weight (MatMulInteger <node>_q<k>_mmi) found to compare');
    if (p.unmatched.length)
      problems.push(`${p.unmatched.length} quantized node(s) without their float weight in ${what}: ${p.unmatched.slice(0, 3).join('; ')}`);
    if (p.elementsBeyond > 0) {
      const worst = [...p.quantizedTensors]
        .sort((x, y) => y.beyond - x.beyond)
        .slice(0, 3)
        .map((t) => `${t.weight} (${t.beyond}/${t.elements}, worst ${t.worstHalfSteps.toFixed(2)} half-steps)`);
      problems.push(
        `${p.elementsBeyond} of ${p.elementsChecked} dequantized weights lie beyond half a quantization step of ${what}'s float weights (worst ${p.worstHalfSteps.toFixed(2)} half-steps in ${p.worstTensor}; allowed ${QUANT_HALF_STEP_SLACK}): quantized from other weights? ${worst.join(', ')}`,
      );
    }
    if (p.sharedDiffering.length)
      problems.push(`${p.sharedDiffering.length} unquantized tensor(s) differ from ${what}'s: ${p.sharedDiffering.slice(0, 5).join(', ')}`);
    return problems.length
      ? { status: 'fail', metrics, threshold, message: `${q.source}: ${problems.join('; ')}`, p }
      : {
          status: 'pass',
          metrics,
          threshold,
          p,
          message: `${q.source}: all ${p.quantizedTensors.length} quantized weights (${p.elementsChecked} elements) within ${p.worstHalfSteps.toFixed(3)} half-steps of ${what}; ${p.sharedCompared} unquantized tensors identical`,
        };
  };

  const quantized = b.variantNames.filter((n) => b.variant(n).quantized);
  describe.each(quantized)('variant=%s (quantized): made from its quantizedFrom variant', (variant) => {
    const id = caseId('weights', { variant, aspect: 'quantized-from' });
    it('aspect=quantized-from', () => {
      const from = b.variant(variant).quantizedFrom;
      if (from === undefined) {
        const message = `${DIR}/manifest.json: variants.${variant} is quantized but names no quantizedFrom variant: its provenance cannot be checked (add "quantizedFrom": "<float variant>")`;
        recordCheck({ id, check: 'weights', runtime: RUNTIME, status: 'fail', metrics: {}, message });
        expect.fail(message);
      }
      const v = provenanceVerdict(variantModel(b, variant), variantModel(b, from), `variant ${from} (${b.variant(from).file})`);
      recordCheck({
        id,
        check: 'weights',
        runtime: RUNTIME,
        status: v.status,
        metrics: v.metrics,
        threshold: v.threshold!,
        message: v.message,
      });
      expect(v.status, v.message).toBe('pass');
    });

    // Proofs: the same check on the same quantized file, against float weights that are not its source.
    const from = b.variant(variant).quantizedFrom;
    const proofs: Array<[string, (x: Uint8Array, src: string) => Uint8Array]> = [
      // another checkpoint's weights (raw instead of EMA, another export): every float weight x (1 + 1e-3 n)
      [
        'float-weights-noise-1e-3',
        (x, src) => {
          const info = inspectOnnx(x, src);
          const noise = seededNoise(
            11,
            info.initializers.reduce((k, i) => k + (i.dtype === 'float32' ? i.count : 0), 0),
          );
          let k = 0;
          const edits = Object.fromEntries(
            info.initializers
              .filter((i) => i.dtype === 'float32' && i.count >= 2)
              .map((i) => [
                i.name,
                (d: Float32Array) => {
                  for (let j = 0; j < d.length; j++) d[j] = d[j]! * (1 + 1e-3 * noise[k++ % noise.length]!);
                },
              ]),
          );
          return withInitializers(x, edits, src);
        },
      ],
      // a single weight moved by one quantization step: the check sees one element
      [
        'one-weight-one-step',
        (x, src) => {
          const q = variantModel(b, variant);
          const t = quantProvenance(q, variantModel(b, from!)).quantizedTensors[0]!;
          const name = inspectOnnx(x, src).nodes.find((n) => n.name === t.node)!.inputs[1]!;
          return withInitializers(
            x,
            {
              [name]: (d: Float32Array) => {
                d[0] = d[0]! + t.scale;
              },
            },
            src,
          );
        },
      ],
    ];
    it.each(from === undefined ? [] : proofs)('aspect=quantized-from,mutant=%s', (mutant, make) => {
      const base = variantModel(b, from!);
      const source = `${base.source} [mutant ${mutant}]`;
      const broken = inspect(from!, base.spec, source, make(base.bytes, base.source));
      const v = provenanceVerdict(variantModel(b, variant), broken, `${source}`);
      const caught = v.status === 'fail';
      recordCheck({
        id: caseId('weights', { variant, aspect: 'quantized-from', mutant }),
        check: 'weights',
        runtime: RUNTIME,
        status: caught ? 'pass' : 'fail',
        metrics: { ...v.metrics, caught },
        message: caught
          ? `rejected: ${v.message}`
          : `the quantized-from check passed a quantized model against float weights it was not made from (${mutant}): ${v.message}`,
      });
      expect(caught, v.message).toBe(true);
      if (mutant === 'one-weight-one-step') expect(v.p.elementsBeyond, v.message).toBe(1);
    });
  });
}
