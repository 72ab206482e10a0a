/** The ONNX contract of TinyDiT and the comparison of a graph's inputs and outputs with it. */
import type { Dim, OnnxInfo, ValueInfo } from './onnx.js';
import type { Contract, TensorSpec } from './bundle.js';

// ---------------------------------------------------------------------------------------------------------
// Contract comparison

/** The contract every TinyDiT export must meet (docs/bundle-format.md), for a given image size and channel count. */
export const ORIGIN_OPSET = 17;
export const ORIGIN_INPUT_NAMES = ['noise', 'timestep', 'breed'] as const;
export const ORIGIN_OUTPUT_NAMES = ['velocity'] as const;

export function originContract(imageSize: number, channels: number, batch = 'batch'): Contract {
  return {
    opset: ORIGIN_OPSET,
    inputs: [
      { name: 'noise', dtype: 'float32', shape: [batch, channels, imageSize, imageSize] },
      { name: 'timestep', dtype: 'float32', shape: [batch] },
      { name: 'breed', dtype: 'int64', shape: [batch] },
    ],
    outputs: [{ name: 'velocity', dtype: 'float32', shape: [batch, channels, imageSize, imageSize] }],
    imageSize,
    channels,
    dynamicAxes: [batch],
  };
}

export interface ContractDifference {
  /** Where: `opset`, `inputs.noise.dtype`, `outputs.velocity.shape[0]`, `inputs.order`, ... */
  field: string;
  expected: string;
  actual: string;
  message: string;
}

export interface ContractDiffOptions {
  /**
   * Accept any symbolic name for a dynamic axis (its label is not observable by a caller). Default false:
   * the label must match. A symbolic dim of the contract that is not in its dynamicAxes (an exporter's
   * unresolved label such as 'Addvelocity_dim_1') is never pinned: any size or label matches it.
   */
  anySymbol?: boolean;
  /** Accept a symbolic dim where the contract has a number (an exporter that left a static dim unresolved). */
  symbolicForStatic?: boolean;
}

export function fmtDims(s: readonly Dim[] | null): string {
  return s === null ? 'no shape' : `[${s.map((d) => (typeof d === 'string' ? `'${d}'` : String(d))).join(',')}]`;
}

export function diffTensors(
  kind: 'inputs' | 'outputs',
  want: TensorSpec[],
  have: ValueInfo[],
  dynamicAxes: string[],
  opts: ContractDiffOptions,
  out: ContractDifference[],
): void {
  const haveNames = have.map((v) => v.name);
  const wantNames = want.map((v) => v.name);
  const single = kind === 'inputs' ? 'input' : 'output';
  for (const w of want) {
    const h = have.find((v) => v.name === w.name);
    if (!h) {
      out.push({
        field: `${kind}.${w.name}`,
        expected: `${single} '${w.name}'`,
        actual: `absent (model ${kind}: ${haveNames.join(', ') || 'none'})`,
        message: `${single} '${w.name}' is missing from the model (model ${kind}: ${haveNames.join(', ') || 'none'})`,
      });
      continue;
    }
    if (h.dtype !== w.dtype) {
      out.push({
        field: `${kind}.${w.name}.dtype`,
        expected: w.dtype,
        actual: String(h.dtype),
        message: `${single} '${w.name}' is ${h.dtype ?? 'not a tensor'}, the contract says ${w.dtype}`,
      });
    }
    const hs = h.shape;
    if (hs === null || hs.length !== w.shape.length) {
      out.push({
        field: `${kind}.${w.name}.shape`,
        expected: fmtDims(w.shape),
        actual: fmtDims(hs),
        message: `${single} '${w.name}' has shape ${fmtDims(hs)}, the contract says ${fmtDims(w.shape)} (rank ${w.shape.length})`,
      });
      continue;
    }
    w.shape.forEach((wd, i) => {
      const hd = hs[i]!;
      const field = `${kind}.${w.name}.shape[${i}]`;
      if (typeof wd === 'string' && !dynamicAxes.includes(wd)) {
        // a symbolic label outside dynamicAxes: a dim the exporter left unresolved; the contract does not pin it
        return;
      }
      if (typeof wd === 'string') {
        if (typeof hd !== 'string' || hd === '?') {
          out.push({
            field,
            expected: `symbolic '${wd}'`,
            actual: String(hd),
            message: `${single} '${w.name}' dim ${i} is fixed at ${hd}, the contract makes it the dynamic axis '${wd}'`,
          });
        } else if (hd !== wd && !opts.anySymbol) {
          out.push({
            field,
            expected: `'${wd}'`,
            actual: `'${hd}'`,
            message: `${single} '${w.name}' dim ${i} is named '${hd}', the contract says '${wd}'`,
          });
        }
      } else if (hd !== wd && !(opts.symbolicForStatic && typeof hd === 'string')) {
        out.push({
          field,
          expected: String(wd),
          actual: typeof hd === 'string' ? `symbolic '${hd}'` : String(hd),
          message: `${single} '${w.name}' dim ${i} is ${typeof hd === 'string' ? `symbolic '${hd}'` : hd}, the contract says ${wd}`,
        });
      }
    });
  }
  for (const h of have) {
    if (!wantNames.includes(h.name)) {
      out.push({
        field: `${kind}.${h.name}`,
        expected: 'absent',
        actual: `${single} '${h.name}'`,
        message: `the model has an ${single} '${h.name}' that the contract does not name (contract ${kind}: ${wantNames.join(', ')})`,
      });
    }
  }
  const sameSet = want.length === have.length && wantNames.every((n) => haveNames.includes(n));
  if (sameSet && wantNames.some((n, i) => haveNames[i] !== n)) {
    out.push({
      field: `${kind}.order`,
      expected: wantNames.join(','),
      actual: haveNames.join(','),
      message: `model ${kind} are ordered ${haveNames.join(', ')}, the contract orders them ${wantNames.join(', ')}`,
    });
  }
}

/** Every disagreement between a contract (the manifest's, or originContract()) and an inspected model. */
export function contractDiff(contract: Contract, info: OnnxInfo, opts: ContractDiffOptions = {}): ContractDifference[] {
  const out: ContractDifference[] = [];
  if (info.opset !== contract.opset) {
    out.push({
      field: 'opset',
      expected: String(contract.opset),
      actual: String(info.opset),
      message: `the model imports opset ${info.opset ?? 'none'} of the default domain, the contract says ${contract.opset}`,
    });
  }
  diffTensors('inputs', contract.inputs, info.inputs, contract.dynamicAxes, opts, out);
  diffTensors('outputs', contract.outputs, info.outputs, contract.dynamicAxes, opts, out);
  return out;
}
