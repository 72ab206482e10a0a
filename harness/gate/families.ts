/**
 * The check families, defined once, in the pipeline's order: what each judges, where it runs, which suite
 * writes its records, and at which bundle levels the gate requires it. The verdict (a required family with no
 * record is a reason), the contract-only run (which suites need no goldens), the kill matrix's columns and
 * docs/where-things-go.md read this table.
 *
 * Adding a family: one entry here plus the suite that records it (and, when it has thresholds, the module that
 * judges it). A family only the harness's own tests write (gate, server, robustness, report-page) is `harness`:
 * it never enters a model's verdict.
 */
/** The levels of a bundle the gate judges: a full bundle, or one without goldens. */
export type Level = 'full' | 'contract-only';

export type FamilyWhere = 'node' | 'browser' | 'python' | 'gate' | 'harness';

export interface CheckFamily {
  family: string;
  /** Where its records come from (a 'python' family is run by a Node suite that starts the Python checker). */
  where: FamilyWhere;
  /** The suite files that record it ('' for records the gate writes itself). */
  suites: readonly string[];
  /** Bundle levels at which a run without one of its records is incomplete; [] = optional (recorded when run). */
  required: readonly Level[];
  /** Its suites can judge a bundle without goldens (a contract-only run runs only these). */
  contractOnly?: boolean;
  /** What it judges, in a line. */
  about: string;
}

const FULL: readonly Level[] = ['full'];
const ALWAYS: readonly Level[] = ['contract-only', 'full'];

export const FAMILIES: readonly CheckFamily[] = [
  {
    family: 'bundle',
    where: 'harness',
    suites: ['suites/harness/bundle.test.ts'],
    required: [],
    about: 'the bundle loader refuses broken bundles',
  },
  {
    family: 'trust',
    where: 'node',
    suites: ['suites/node/trust.test.ts'],
    required: FULL,
    about: 'the bundle cannot loosen the gate (tolerance ceilings, noise floors)',
  },
  {
    family: 'provenance',
    where: 'python',
    suites: ['suites/node/provenance.test.ts'],
    required: FULL,
    about: 'the goldens follow from the checkpoint',
  },
  {
    family: 'contract',
    where: 'node',
    suites: ['suites/node/contract.test.ts'],
    required: ALWAYS,
    contractOnly: true,
    about: 'ONNX inputs, outputs, ops and metadata are the contract',
  },
  {
    family: 'weights',
    where: 'node',
    suites: ['suites/node/contract.test.ts'],
    required: ALWAYS,
    contractOnly: true,
    about: 'weights finite, output layer live, quantized from the float weights',
  },
  {
    family: 'behaviour',
    where: 'node',
    suites: ['suites/node/behaviour.test.ts'],
    required: ALWAYS,
    contractOnly: true,
    about: 'goldens-free behaviour: depends on breed, t, position; guidance once; locality',
  },
  {
    family: 'noise',
    where: 'node',
    suites: ['suites/node/noise.test.ts'],
    required: FULL,
    about: 'the seeded noise is the web app generator',
  },
  {
    family: 'velocity',
    where: 'node',
    suites: ['suites/node/velocity.test.ts'],
    required: FULL,
    about: 'one model call against the PyTorch goldens',
  },
  {
    family: 'trajectory',
    where: 'node',
    suites: ['suites/node/trajectory.test.ts'],
    required: FULL,
    about: 'a full sampling run against the PyTorch trajectories',
  },
  {
    family: 'judge',
    where: 'node',
    suites: ['suites/node/judge.test.ts', 'suites/browser/generation.spec.ts'],
    required: FULL,
    about: "the gate's pinned judge on the gate's own images, against the training data",
  },
  { family: 'image', where: 'node', suites: ['suites/node/images.test.ts'], required: FULL, about: 'final images against the golden PNGs' },
  {
    family: 'stats',
    where: 'node',
    suites: ['suites/node/images.test.ts'],
    required: FULL,
    about: 'image statistics within the reference distribution',
  },
  {
    family: 'fidelity',
    where: 'node',
    suites: ['suites/node/images.test.ts', 'suites/browser/faults.spec.ts'],
    required: [],
    about: 'breed fidelity of a set of images',
  },
  {
    family: 'diversity',
    where: 'node',
    suites: ['suites/node/images.test.ts'],
    required: [],
    about: 'images of a breed vary as the training data does',
  },
  { family: 'speed', where: 'gate', suites: [], required: [], about: 'the manifest speed budget (bench --budget-only), when stated' },
  {
    family: 'loading',
    where: 'browser',
    suites: ['suites/browser/generation.spec.ts', 'suites/browser/threads.spec.ts', 'suites/browser/webgpu.spec.ts'],
    required: FULL,
    about: 'each engine loads each variant (WebGPU: the adapter it ran on)',
  },
  {
    family: 'generation',
    where: 'browser',
    suites: ['suites/browser/generation.spec.ts', 'suites/browser/webgpu.spec.ts'],
    required: FULL,
    about: 'per-breed generation in each engine against the goldens (WebGPU: its own profile and plan)',
  },
  {
    family: 'app',
    where: 'browser',
    suites: ['suites/browser/app.spec.ts'],
    required: FULL,
    about: 'the app under test (TINYDIT_APP): default settings, guidance range, null index, download, fallback, backend',
  },
  {
    family: 'progress',
    where: 'browser',
    suites: ['suites/browser/progress.spec.ts'],
    required: [],
    about: 'the progress events the app shows',
  },
  {
    family: 'download',
    where: 'browser',
    suites: ['suites/browser/download.spec.ts'],
    required: [],
    about: 'the downloaded PNG: name and content',
  },
  {
    family: 'determinism',
    where: 'browser',
    suites: ['suites/browser/threads.spec.ts'],
    required: [],
    about: 'the same request twice gives the same image',
  },
  { family: 'threads', where: 'browser', suites: ['suites/browser/threads.spec.ts'], required: [], about: 'one thread and several agree' },
  {
    family: 'report-page',
    where: 'harness',
    suites: ['suites/harness/browser/report-page.spec.ts'],
    required: [],
    about: 'the report page renders',
  },
  { family: 'gate', where: 'harness', suites: ['suites/harness/gate.test.ts'], required: [], about: 'the verdict logic' },
  { family: 'server', where: 'harness', suites: ['suites/harness/server.test.ts'], required: [], about: 'the static server' },
  {
    family: 'robustness',
    where: 'harness',
    suites: ['suites/harness/robustness.test.ts', 'suites/harness/browser/robustness.spec.ts'],
    required: [],
    about: 'crashes, hangs, full disks',
  },
  { family: 'verdict', where: 'gate', suites: [], required: [], about: "the verdict's own reasons (synthetic)" },
  { family: 'test', where: 'gate', suites: [], required: [], about: 'a runner test without a record (synthetic)' },
];

/** Family names in the pipeline's order. */
export const FAMILY_ORDER: readonly string[] = FAMILIES.map((f) => f.family);

/** Rank of a family (or `family/check` key) in the pipeline's order; unknown ones last. */
export function familyRank(key: string): number {
  const i = FAMILY_ORDER.indexOf(key.split('/')[0]!);
  return i < 0 ? FAMILY_ORDER.length : i;
}

export interface FamilyExpectation {
  family: string;
  where: 'node' | 'browser';
  levels: Level[];
  /** The suite files that record it: a browser family is expected of the engines that run one of them. */
  suites?: readonly string[];
}

/**
 * Families whose absence means a suite did not run or did not record. Browser families are expected once per
 * selected engine. A contract-only bundle (no goldens) is judged only by the families required at that level.
 */
export const EXPECTED_FAMILIES: FamilyExpectation[] = FAMILIES.filter((f) => f.required.length > 0).map((f) => ({
  family: f.family,
  where: f.where === 'browser' ? 'browser' : 'node',
  levels: [...f.required],
  suites: f.suites,
}));

/** Suites that can judge a contract-only bundle (they need no goldens/); the gate runs only these at that level. */
export const CONTRACT_ONLY_SUITES = {
  node: [...new Set(FAMILIES.filter((f) => f.contractOnly).flatMap((f) => f.suites))],
  // the browser smoke test records no family of its own: it proves a page loads the model at all
  browser: ['suites/browser/smoke.spec.ts'],
};
