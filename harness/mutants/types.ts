/**
 * A mutant: a broken model bundle made from the good one, with the check(s) aimed at its fault. The catalogue
 * (catalogue.ts) is a list of these; scripts/make-mutants.ts materialises them as bundles, scripts/gate-power.ts
 * runs the gate on each, suites/node/mutants.test.ts runs the cheap ones through their aimed checks in CI.
 */
import type { Bundle, Manifest } from '../model/bundle.js';
import type { Fault } from '../runtimes/web/protocol.js';
import type { ModelGeometry } from './edits.js';

/**
 * Where the mutant's fault shows: 'node' (the Node suites catch it), 'browser' (only a browser run can: a page
 * fault), 'both' (aimed checks in both runtimes: Node conformance and the browser's image checks).
 */
export type MutantKind = 'node' | 'browser' | 'both';

/**
 * A check key: the record's check family, then its sub-check when the case id names one (`check=` or
 * `aspect=`): `behaviour/depends-on-breed`, `contract/io-names`, `weights/finite`, `velocity`, `trajectory`,
 * `generation`, `stats/distribution`. `bundle` stands for a bundle the gate refused before running anything.
 * `verdict/<code>` keys come from the verdict itself, not from a record (harness/mutants/matrix.ts
 * verdictKeys): `verdict/goldens-missing`, `verdict/goldens-unverified`, `verdict/narrowed-by-env`.
 */
export type CheckKey = string;

export interface BuildContext {
  /** The good bundle the mutant is made from. */
  bundle: Bundle;
  geometry: ModelGeometry;
  /** The good bytes of a variant (a fresh copy each call). */
  variantBytes(variant: string): Uint8Array;
  /** The good bytes of a file under goldens/ (path relative to goldens/, as goldens/index.json names it; a fresh copy). */
  goldenBytes(rel: string): Uint8Array;
  /** A file made by reference/python/make_mutants.py (<mutant>/<file>); throws with the command when absent. */
  pythonFile(mutant: string, file: string): Uint8Array;
  /** Every file under <mutant>/<under> of the Python output, as paths relative to it (sorted); throws with the command when absent. */
  pythonFiles(mutant: string, under: string): string[];
}

export interface MutantBuild {
  /** Replaced ONNX bytes per variant name; variants not listed keep the good file. */
  models: Record<string, Uint8Array>;
  /** Manifest edits beyond the sha256 and size of the replaced files (which are always updated). */
  manifest?: (m: Manifest) => void;
  /** Page faults (?fault=...) the browser suites must run with (protocol.ts FAULTS). */
  pageFaults?: Fault[];
  /**
   * Goldens edits: `remove` ships the bundle without goldens/ (a contract-only bundle); `replace` gives whole new
   * files, by path relative to goldens/ (as goldens/index.json names them). Files not listed keep the good bytes.
   */
  goldens?: { remove?: boolean; replace?: Record<string, Uint8Array> };
  /** Other whole files replaced or added, by path in the bundle (never manifest.json, the models or goldens/: use the fields above). */
  files?: Record<string, Uint8Array>;
  /** Environment variables the gate runs with (gate-power sets them for the mutant's gate run; mutant.json records them). */
  env?: Record<string, string>;
}

export interface Mutant {
  /** Stable id: the folder name under reports/mutants/ and the row of the kill matrix. */
  name: string;
  /** One line: what is broken. */
  description: string;
  /** The real project's shipped failures it reproduces (the numbers of the README's checks table), if any. */
  origin?: number[];
  kind: MutantKind;
  /** The checks aimed at this fault: the gate must reject the mutant through at least one of them. */
  expect: CheckKey[];
  /** Runs in suites/node/mutants.test.ts on every CI run (its aimed Node check is cheap and needs no Python). */
  cheap: boolean;
  /** reference/python/make_mutants.py mutants it needs (their folders under the Python output). */
  python?: string[];
  /**
   * 'self-consistent': the broken CHECKPOINT ships with everything make_bundle.py made from it (models, goldens,
   * tolerances), so every comparison with the bundle's own references passes by construction; absent: the
   * export form (a broken model next to the good checkpoint's goldens). The kill matrix has a column per form.
   */
  form?: 'self-consistent';
  /** The fault, shared by a mutant's export form and its self-consistent form (one kill-matrix row); default: the name. */
  fault?: string;
  build(ctx: BuildContext): MutantBuild;
}
