/**
 * The gate-owned tolerance policy (harness/model/trust.ts): the bundle under test can tighten its tolerances but
 * never loosen them, and its noise floors are bounded by an analytic ceiling (K float32 ulps of each case's own
 * magnitude). Each case copies the bundle under test into a temporary folder (hard links to its files, symlinks
 * across file systems; a file is replaced by unlinking it first, so the source is never written), loosens or
 * tightens one thing, and requires loadBundle to refuse it, naming the field or file, the value and the
 * ceiling, with a structured `trust` entry, or to accept it. Cases: trust:selftest=<name>.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BundleError, loadBundle, type Bundle, type GoldenIndex } from '../../harness/model/bundle.js';
import { bundleDir, REPO_ROOT } from '../../harness/core/config.js';
import { linkTree, materialise, writeFresh } from '../../harness/mutants/materialise.js';
import { CATALOGUE } from '../../harness/mutants/catalogue.js';
import { encodeNpy, parseNpy } from '../../harness/core/npy.js';
import { recordCheck } from '../../harness/core/record-check.js';
import {
  checkFloorFile,
  checkToleranceCeilings,
  FLOAT32_ULP,
  NOISE_FLOOR_ULPS,
  noiseFloorCeiling,
  TOLERANCE_BOUNDS,
  trustRecordId,
  type TrustCheck,
  type TrustIssue,
} from '../../harness/model/trust.js';

const RUNTIME = 'node';
const FAMILY = 'trust';
const SOURCE = bundleDir();

const loaded = await loadBundle(SOURCE, { require: 'full' }).then(
  (b) => ({ bundle: b }),
  (e: Error) => ({ error: e }),
);

// ---------------------------------------------------------------------------------------------------------
// Copying and editing

const copies: string[] = [];
afterAll(() => {
  for (const d of copies) rmSync(d, { recursive: true, force: true }); // removes the links, never their targets
});

function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  copies.push(d);
  return d;
}

/** A copy of the bundle made of hard links to its files (copies across file systems): harness/mutants/materialise.ts. */
function copyBundle(src: string): string {
  const dst = tempDir('tinydit-trust-');
  linkTree(src, dst, new Set());
  return dst;
}

/** Replaces a file of a copy: the link is removed first, so the source bundle is never written. */
function replaceFile(dir: string, rel: string, data: Uint8Array | string): void {
  writeFresh(join(dir, rel), data);
}

// biome-ignore lint/suspicious/noExplicitAny: the edits reach into arbitrary JSON on purpose (broken manifests)
function editManifest(dir: string, edit: (m: any) => void): void {
  const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
  edit(m);
  replaceFile(dir, 'manifest.json', JSON.stringify(m, null, 1));
}

/** Rewrites a float64 golden (paths relative to goldens/) through a per-element function. */
function editFloor(dir: string, rel: string, f: (x: number, i: number) => number): void {
  const a = parseNpy(new Uint8Array(readFileSync(join(dir, 'goldens', rel))), rel);
  const data = Float64Array.from(a.data as Float64Array, f);
  replaceFile(dir, join('goldens', rel), encodeNpy({ dtype: 'float64', shape: a.shape, data }));
}

interface Outcome {
  error: BundleError | null;
  bundle: Bundle | null;
}

async function tryLoad(dir: string): Promise<Outcome> {
  try {
    return { error: null, bundle: await loadBundle(dir, { require: 'full' }) };
  } catch (e) {
    if (!(e instanceof BundleError)) throw e;
    return { error: e, bundle: null };
  }
}

// ---------------------------------------------------------------------------------------------------------
// The cases

interface Refusal {
  name: string;
  edit: (dir: string, b: Bundle, index: GoldenIndex) => void;
  /** Text the refusal message must contain. */
  mustContain: (b: Bundle, index: GoldenIndex) => string[];
  /** The trust entries that must be among BundleError.trust. */
  trust: (b: Bundle, index: GoldenIndex) => { check: TrustCheck; subject: string }[];
}

const guidedFloor = (i: GoldenIndex): string =>
  i.velocity.noiseFloor[i.velocity.expectedFor.guided ?? 'guided'] ?? Object.values(i.velocity.noiseFloor)[0]!;
const CEILING = (field: string): number => TOLERANCE_BOUNDS.find((b) => b.field === field)!.ceiling;

const REFUSALS: Refusal[] = [
  {
    name: 'velocity-floor-x1e4',
    edit: (d, _b, i) => editFloor(d, guidedFloor(i), (x) => x * 1e4),
    mustContain: (_b, i) => [
      `goldens/${guidedFloor(i)}: case velocity:`,
      "exceeds the gate's analytic ceiling",
      `(${NOISE_FLOOR_ULPS} float32 ulps`,
      'noise floors are float32-vs-float64 rounding, never larger',
      'reference/python/make_bundle.py',
    ],
    trust: (_b, i) => [{ check: 'noise-floor', subject: `goldens/${guidedFloor(i)}` }],
  },
  {
    name: 'trajectory-floor-x1e4',
    edit: (d, _b, i) => editFloor(d, i.trajectories.floor, (x) => x * 1e4),
    mustContain: (_b, i) => [
      `goldens/${i.trajectories.floor}: case trajectory:`,
      ' step ',
      "exceeds the gate's analytic ceiling",
      'its state magnitude max|x_',
    ],
    trust: (_b, i) => [{ check: 'noise-floor', subject: `goldens/${i.trajectories.floor}` }],
  },
  {
    name: 'velocity-floor-nan',
    edit: (d, _b, i) => editFloor(d, guidedFloor(i), (x, k) => (k === 3 ? NaN : x)),
    mustContain: (_b, i) => [`goldens/${guidedFloor(i)}: 1 floor is NaN, infinite or negative (first at index 3`],
    trust: (_b, i) => [{ check: 'noise-floor', subject: `goldens/${guidedFloor(i)}` }],
  },
  {
    name: 'trajectory-floor-negative',
    edit: (d, _b, i) => editFloor(d, i.trajectories.floor, (x, k) => (k === 10 ? -1e-6 : x)),
    mustContain: (_b, i) => [`goldens/${i.trajectories.floor}: 1 floor is NaN, infinite or negative (first at index 10`],
    trust: (_b, i) => [{ check: 'noise-floor', subject: `goldens/${i.trajectories.floor}` }],
  },
  {
    name: 'floor-multiple-1e6',
    edit: (d) =>
      editManifest(d, (m) => {
        m.tolerance.velocity.floorMultiple = 1e6;
      }),
    mustContain: () => [
      `manifest.json: tolerance.velocity.floorMultiple = 1000000 exceeds the gate's ceiling ${CEILING('tolerance.velocity.floorMultiple')} (`,
      'a bundle may only tighten',
    ],
    trust: () => [{ check: 'tolerance-ceiling', subject: 'tolerance.velocity.floorMultiple' }],
  },
  {
    name: 'trajectory-floor-multiple-loosened',
    edit: (d) =>
      editManifest(d, (m) => {
        m.tolerance.trajectory.floorMultiple = 50;
      }),
    mustContain: () => [
      `manifest.json: tolerance.trajectory.floorMultiple = 50 exceeds the gate's ceiling ${CEILING('tolerance.trajectory.floorMultiple')}`,
    ],
    trust: () => [{ check: 'tolerance-ceiling', subject: 'tolerance.trajectory.floorMultiple' }],
  },
  {
    name: 'floor-multiple-below-1',
    edit: (d) =>
      editManifest(d, (m) => {
        m.tolerance.velocity.floorMultiple = 0.5;
      }),
    mustContain: () => ["manifest.json: tolerance.velocity.floorMultiple = 0.5 is below the gate's minimum 1"],
    trust: () => [{ check: 'tolerance-ceiling', subject: 'tolerance.velocity.floorMultiple' }],
  },
  {
    name: 'velocity-absmin-loosened',
    edit: (d) =>
      editManifest(d, (m) => {
        m.tolerance.velocity.absMin = 0.01;
      }),
    mustContain: () => [
      `manifest.json: tolerance.velocity.absMin = 0.01 exceeds the gate's ceiling ${CEILING('tolerance.velocity.absMin')}`,
    ],
    trust: () => [{ check: 'tolerance-ceiling', subject: 'tolerance.velocity.absMin' }],
  },
  {
    name: 'trajectory-absmin-loosened',
    edit: (d) =>
      editManifest(d, (m) => {
        m.tolerance.trajectory.absMin = 1e-3;
      }),
    mustContain: () => [
      `manifest.json: tolerance.trajectory.absMin = 0.001 exceeds the gate's ceiling ${CEILING('tolerance.trajectory.absMin')}`,
    ],
    trust: () => [{ check: 'tolerance-ceiling', subject: 'tolerance.trajectory.absMin' }],
  },
  {
    // a consistent but loose profile: margin 10, limits = 10 x measured
    name: 'quantized-margin-loosened',
    edit: (d) =>
      editManifest(d, (m) => {
        const q = m.tolerance.quantized;
        q.margin = 10;
        q.velocityRelL2Max = 10 * q.measured.velocityRelL2Max;
        q.imageMeanAbsMax = 10 * q.measured.imageMeanAbsMax;
      }),
    mustContain: () => [
      `manifest.json: tolerance.quantized.margin = 10 exceeds the gate's ceiling ${CEILING('tolerance.quantized.margin')}`,
      `tolerance.quantized.velocityRelL2Max = `,
      `exceeds the gate's ceiling ${CEILING('tolerance.quantized.velocityRelL2Max')}`,
    ],
    trust: () => [
      { check: 'tolerance-ceiling', subject: 'tolerance.quantized.margin' },
      { check: 'tolerance-ceiling', subject: 'tolerance.quantized.velocityRelL2Max' },
    ],
  },
  {
    name: 'quantized-measured-loosened',
    edit: (d) =>
      editManifest(d, (m) => {
        const q = m.tolerance.quantized;
        q.measured.velocityRelL2Max = 0.4;
        q.measured.imageMeanAbsMax = 5;
        q.velocityRelL2Max = q.margin * 0.4;
        q.imageMeanAbsMax = q.margin * 5;
      }),
    mustContain: () => [
      `manifest.json: tolerance.quantized.measured.velocityRelL2Max = 0.4 exceeds the gate's ceiling ${CEILING('tolerance.quantized.measured.velocityRelL2Max')}`,
      `manifest.json: tolerance.quantized.measured.imageMeanAbsMax = 5 exceeds the gate's ceiling ${CEILING('tolerance.quantized.measured.imageMeanAbsMax')} uint8 levels`,
      `manifest.json: tolerance.quantized.imageMeanAbsMax = 10 exceeds the gate's ceiling ${CEILING('tolerance.quantized.imageMeanAbsMax')} uint8 levels`,
    ],
    trust: () => [
      { check: 'tolerance-ceiling', subject: 'tolerance.quantized.measured.velocityRelL2Max' },
      { check: 'tolerance-ceiling', subject: 'tolerance.quantized.measured.imageMeanAbsMax' },
      { check: 'tolerance-ceiling', subject: 'tolerance.quantized.imageMeanAbsMax' },
    ],
  },
  {
    // a small margin and a large limit, every value under its own ceiling
    name: 'quantized-limit-inconsistent',
    edit: (d) =>
      editManifest(d, (m) => {
        m.tolerance.quantized.velocityRelL2Max = 0.45;
      }),
    mustContain: (b) => {
      const q = b.tolerance.quantized!;
      return [
        `manifest.json: tolerance.quantized.velocityRelL2Max = 0.45 exceeds margin x measured = ${q.margin} x ${q.measured!.velocityRelL2Max} = ${q.margin * q.measured!.velocityRelL2Max!}`,
        'a bundle may only tighten',
      ];
    },
    trust: () => [{ check: 'tolerance-ceiling', subject: 'tolerance.quantized.velocityRelL2Max' }],
  },
  {
    // over its ceiling and inconsistent: one trust entry (one check record) for the field, naming both
    name: 'quantized-limit-over-ceiling-and-inconsistent',
    edit: (d) =>
      editManifest(d, (m) => {
        m.tolerance.quantized.velocityRelL2Max = 0.9;
      }),
    mustContain: () => [
      `manifest.json: tolerance.quantized.velocityRelL2Max = 0.9 exceeds the gate's ceiling ${CEILING('tolerance.quantized.velocityRelL2Max')}`,
      '; it also exceeds margin x measured = ',
    ],
    trust: () => [{ check: 'tolerance-ceiling', subject: 'tolerance.quantized.velocityRelL2Max' }],
  },
  {
    name: 'quantized-image-limit-inconsistent',
    edit: (d) =>
      editManifest(d, (m) => {
        m.tolerance.quantized.imageMeanAbsMax = 5;
      }),
    mustContain: () => ['manifest.json: tolerance.quantized.imageMeanAbsMax = 5 exceeds margin x measured'],
    trust: () => [{ check: 'tolerance-ceiling', subject: 'tolerance.quantized.imageMeanAbsMax' }],
  },
  {
    name: 'quantized-measured-missing',
    edit: (d) =>
      editManifest(d, (m) => {
        delete m.tolerance.quantized.measured;
      }),
    mustContain: () => [
      'manifest.json: tolerance.quantized.measured.velocityRelL2Max is missing',
      'manifest.json: tolerance.quantized.measured.imageMeanAbsMax is missing',
    ],
    trust: () => [
      { check: 'tolerance-ceiling', subject: 'tolerance.quantized.measured.velocityRelL2Max' },
      { check: 'tolerance-ceiling', subject: 'tolerance.quantized.measured.imageMeanAbsMax' },
    ],
  },
];

interface Acceptance {
  name: string;
  edit: (dir: string, b: Bundle, index: GoldenIndex) => void;
  why: string;
}

const ACCEPTANCES: Acceptance[] = [
  {
    name: 'tightened',
    why: 'every tolerance smaller, quantized limits below margin x measured, floors halved',
    edit: (d, _b, i) => {
      editManifest(d, (m) => {
        m.tolerance.velocity.floorMultiple = 5;
        m.tolerance.velocity.absMin = 5e-6;
        m.tolerance.trajectory.floorMultiple = 1;
        m.tolerance.trajectory.absMin = 2e-5;
        const q = m.tolerance.quantized;
        q.margin = 1.5;
        q.velocityRelL2Max = 1.5 * q.measured.velocityRelL2Max;
        q.imageMeanAbsMax = 1.2 * q.measured.imageMeanAbsMax;
      });
      editFloor(d, guidedFloor(i), (x) => x * 0.5);
      editFloor(d, i.trajectories.floor, (x) => x * 0.5);
    },
  },
  {
    name: 'at-the-ceilings',
    why: 'every float tolerance exactly at its ceiling (the bounds are inclusive)',
    edit: (d) =>
      editManifest(d, (m) => {
        m.tolerance.velocity.floorMultiple = CEILING('tolerance.velocity.floorMultiple');
        m.tolerance.velocity.absMin = CEILING('tolerance.velocity.absMin');
        m.tolerance.trajectory.floorMultiple = CEILING('tolerance.trajectory.floorMultiple');
        m.tolerance.trajectory.absMin = CEILING('tolerance.trajectory.absMin');
        const q = m.tolerance.quantized;
        q.margin = CEILING('tolerance.quantized.margin');
        q.velocityRelL2Max = q.margin * q.measured.velocityRelL2Max;
        q.imageMeanAbsMax = q.margin * q.measured.imageMeanAbsMax;
      }),
  },
];

// ---------------------------------------------------------------------------------------------------------

if ('error' in loaded) {
  it('trust: bundle loads', () => {
    recordCheck({
      id: `${FAMILY}:selftest=default-loads`,
      check: FAMILY,
      runtime: RUNTIME,
      status: 'error',
      metrics: {},
      message: loaded.error.message,
    });
    throw loaded.error;
  });
} else {
  const good = loaded.bundle;
  const index = good.requireFull('the trust self-tests');

  describe('the gate-owned tolerance policy', () => {
    it('trust:selftest=default-loads', async () => {
      // the bundle under test itself, and a copy of it: nothing over a ceiling
      const copy = await tryLoad(copyBundle(SOURCE));
      const problems = [...checkToleranceCeilings(good.tolerance), ...(copy.error?.trust ?? [])].map((t) => t.message);
      if (copy.error && problems.length === 0) problems.push(copy.error.message);
      recordCheck({
        id: `${FAMILY}:selftest=default-loads`,
        check: FAMILY,
        runtime: RUNTIME,
        status: problems.length ? 'fail' : 'pass',
        metrics: { level: good.level, bounds: TOLERANCE_BOUNDS.length, K: NOISE_FLOOR_ULPS },
        message:
          problems.join('; ') ||
          `${SOURCE} and a copy of it load: every tolerance within the gate's ceilings, every noise floor within ${NOISE_FLOOR_ULPS} ulps`,
      });
      expect(problems).toEqual([]);
      expect(copy.bundle?.level).toBe('full');
    });

    it.each(REFUSALS.map((r) => [r.name, r] as const))('trust:selftest=refuses-%s', async (name, r) => {
      const dir = copyBundle(SOURCE);
      r.edit(dir, good, index);
      const { error } = await tryLoad(dir);
      const want = r.mustContain(good, index);
      const wantTrust = r.trust(good, index);
      const message = error?.message ?? null;
      const missing = message === null ? want : want.filter((w) => !message.includes(w));
      const have = error?.trust ?? [];
      const missingTrust = wantTrust.filter((w) => !have.some((t) => t.check === w.check && t.subject === w.subject));
      const ids = have.map(trustRecordId);
      const duplicated = ids.filter((id, k) => ids.indexOf(id) !== k);
      const ok = message !== null && missing.length === 0 && missingTrust.length === 0 && duplicated.length === 0;
      recordCheck({
        id: `${FAMILY}:selftest=refuses-${name}`,
        check: FAMILY,
        runtime: RUNTIME,
        status: ok ? 'pass' : 'fail',
        metrics: { refused: message !== null, namesCause: missing.length === 0, trustRecords: have.map(trustRecordId).join(' ') },
        threshold: { mustContain: want.join(' | '), trust: wantTrust.map(trustRecordId).join(' ') },
        message:
          message === null
            ? `loadBundle accepted a bundle with ${name}`
            : ok
              ? message
              : `refused, but lacks ${[...missing.map((m) => `"${m}"`), ...missingTrust.map(trustRecordId)].join(', ')}` +
                `${duplicated.length ? ` (duplicated trust record ids ${duplicated.join(', ')})` : ''}: ${message}`,
      });
      expect(message, `loadBundle accepted a bundle with ${name}`).not.toBeNull();
      expect(missing, `refusal message:\n${message}`).toEqual([]);
      expect(missingTrust.map(trustRecordId), `trust entries: ${have.map(trustRecordId).join(', ')}`).toEqual([]);
      expect(duplicated, 'one trust entry per field or file').toEqual([]);
      // every trust entry is also one of the issues, so the plain message carries it
      for (const t of have) expect(error!.issues).toContain(t.message);
    });

    it.each(ACCEPTANCES.map((a) => [a.name, a] as const))('trust:selftest=accepts-%s', async (name, a) => {
      const dir = copyBundle(SOURCE);
      a.edit(dir, good, index);
      const { error, bundle } = await tryLoad(dir);
      recordCheck({
        id: `${FAMILY}:selftest=accepts-${name}`,
        check: FAMILY,
        runtime: RUNTIME,
        status: bundle ? 'pass' : 'fail',
        metrics: { accepted: bundle !== null },
        message: bundle ? `accepted: ${a.why}` : `refused a bundle that only ${a.why}: ${error!.message}`,
      });
      expect(error?.message ?? null).toBeNull();
    });

    it('trust:selftest=mutants-load', async () => {
      // mutant bundles reuse the good goldens and tolerances: the trust checks must not refuse them
      const out = tempDir('tinydit-trust-mutants-');
      const names = ['guidance-twice-manifest', 'zero-velocity'];
      const refused: string[] = [];
      for (const n of names) {
        const m = CATALOGUE.find((x) => x.name === n);
        if (!m) {
          refused.push(`${n}: not in the catalogue`);
          continue;
        }
        materialise(m, good, out, { pythonDir: join(out, '.python') });
        const { error } = await tryLoad(join(out, n));
        if (error) refused.push(`${n}: ${error.message}`);
      }
      recordCheck({
        id: `${FAMILY}:selftest=mutants-load`,
        check: FAMILY,
        runtime: RUNTIME,
        status: refused.length ? 'fail' : 'pass',
        metrics: { mutants: names.length },
        message: refused.join('; ') || `mutant bundles ${names.join(', ')} load`,
      });
      expect(refused).toEqual([]);
    });

    it('trust:selftest=docs-table', () => {
      // docs/bundle-format.md prints the gate's bounds: every field, with this ceiling and minimum, and K
      const doc = readFileSync(join(REPO_ROOT, 'docs/bundle-format.md'), 'utf8');
      const rows = new Map(
        doc
          .split('\n')
          .filter((l) => l.startsWith('| `tolerance.'))
          .map((l) => {
            const cols = l.split('|').map((c) => c.trim());
            return [cols[1]!.replace(/`/g, ''), cols] as const;
          }),
      );
      const wrong: string[] = [];
      for (const b of TOLERANCE_BOUNDS) {
        const cols = rows.get(b.field);
        if (!cols) wrong.push(`${b.field}: no row`);
        else if (Number(cols[3]) !== b.ceiling || (cols[4] === '' ? undefined : Number(cols[4])) !== b.minimum) {
          wrong.push(
            `${b.field}: the docs say ceiling ${cols[3]}, minimum ${cols[4] || 'none'}; harness/model/trust.ts says ${b.ceiling}, ${b.minimum ?? 'none'}`,
          );
        }
      }
      if (!doc.includes(`K = ${NOISE_FLOOR_ULPS} (NOISE_FLOOR_ULPS)`)) wrong.push(`the docs do not state K = ${NOISE_FLOOR_ULPS}`);
      recordCheck({
        id: `${FAMILY}:selftest=docs-table`,
        check: FAMILY,
        runtime: RUNTIME,
        status: wrong.length ? 'fail' : 'pass',
        metrics: { bounds: TOLERANCE_BOUNDS.length },
        message: wrong.join('; ') || "docs/bundle-format.md prints the gate's bounds as harness/model/trust.ts holds them",
      });
      expect(wrong).toEqual([]);
    });

    it('trust:selftest=record-ids', () => {
      const ids = [
        trustRecordId({ check: 'tolerance-ceiling', subject: 'tolerance.velocity.floorMultiple' }),
        trustRecordId({ check: 'noise-floor', subject: 'goldens/velocity/guided_floor.npy' }),
      ];
      const want = [
        'trust:check=tolerance-ceiling,field=tolerance.velocity.floorMultiple',
        'trust:check=noise-floor,file=goldens/velocity/guided_floor.npy',
      ];
      recordCheck({
        id: `${FAMILY}:selftest=record-ids`,
        check: FAMILY,
        runtime: RUNTIME,
        status: ids.join() === want.join() ? 'pass' : 'fail',
        metrics: { ids: ids.join(' ') },
      });
      expect(ids).toEqual(want);
    });

    it('trust:selftest=floor-arithmetic', () => {
      // the analytic ceiling and its edges, on synthetic floors: at the ceiling passes, just over fails, a
      // zero-magnitude case admits only a zero floor, a short file is named
      const mag = 1.9;
      const at = noiseFloorCeiling(mag);
      const cases = [
        { index: 0, caseId: 'c0', magnitude: mag, magnitudeFrom: 'x.npy' },
        { index: 1, caseId: 'c1', magnitude: 0, magnitudeFrom: 'x.npy' },
      ];
      const results: [string, TrustIssue | null, boolean][] = [
        ['at the ceiling', checkFloorFile('f.npy', Float64Array.of(at, 0), 2, cases, 'output'), false],
        ['over the ceiling', checkFloorFile('f.npy', Float64Array.of(at * 1.01, 0), 2, cases, 'output'), true],
        ['zero magnitude', checkFloorFile('f.npy', Float64Array.of(0, 1e-30), 2, cases, 'output'), true],
        ['short file', checkFloorFile('f.npy', Float64Array.of(0), 2, cases, 'output'), true],
        ['infinite floor', checkFloorFile('f.npy', Float64Array.of(Infinity, 0), 2, cases, 'output'), true],
      ];
      const wrong = results
        .filter(([, issue, refuse]) => (issue !== null) !== refuse)
        .map(([n, issue]) => `${n}: ${issue?.message ?? 'accepted'}`);
      recordCheck({
        id: `${FAMILY}:selftest=floor-arithmetic`,
        check: FAMILY,
        runtime: RUNTIME,
        status: wrong.length ? 'fail' : 'pass',
        metrics: { K: NOISE_FLOOR_ULPS, ceilingAtMagnitude1: NOISE_FLOOR_ULPS * FLOAT32_ULP },
        message: wrong.join('; ') || 'the analytic ceiling is inclusive and names short files and non-finite floors',
      });
      expect(wrong).toEqual([]);
      expect(checkFloorFile('f.npy', Float64Array.of(at * 2, 0), 2, cases, 'output')!.message).toContain(
        `f.npy: case c0 floor ${(at * 2).toExponential(2)} exceeds the gate's analytic ceiling ${at.toExponential(2)} (${NOISE_FLOOR_ULPS} float32 ulps`,
      );
    });
  });
}
