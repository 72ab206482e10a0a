/**
 * The bundle loader refuses bad bundles, naming the file and the field. Each case clones the bundle under
 * test into a temporary folder (symlinks to its files, so nothing is copied or changed at the source),
 * breaks exactly one thing by replacing one file, and requires loadBundle to reject it with a message that
 * contains the cause. The good bundle itself must load, and without goldens it must load as contract-only.
 */
import { caseId } from '../../harness/core/case-id.js';
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BundleError, loadBundle, type Bundle, type GoldenIndex } from '../../harness/model/bundle.js';
import { bundleDir } from '../../harness/core/config.js';
import { encodeNpy } from '../../harness/core/npy.js';
import { recordCheck } from '../../harness/core/record-check.js';

const RUNTIME = 'node';
const SOURCE = bundleDir();

let good: Bundle | null = null;
let goodError: string | null = null;
try {
  good = await loadBundle(SOURCE);
} catch (e) {
  goodError = (e as Error).message;
}

// ---------------------------------------------------------------------------------------------------------
// Cloning and breaking

const clones: string[] = [];
afterAll(() => {
  for (const d of clones) rmSync(d, { recursive: true, force: true }); // removes the links, never their targets
});

/** A copy of the bundle made of symlinks to its files (manifest.json and goldens/index.json too). */
function cloneBundle(src: string): string {
  const dst = mkdtempSync(join(tmpdir(), 'tinydit-bad-bundle-'));
  clones.push(dst);
  const walk = (rel: string): void => {
    for (const e of readdirSync(join(src, rel), { withFileTypes: true })) {
      const r = join(rel, e.name);
      if (e.isDirectory()) {
        mkdirSync(join(dst, r), { recursive: true });
        walk(r);
      } else symlinkSync(join(src, r), join(dst, r));
    }
  };
  walk('');
  return dst;
}

/** Replaces a file of a clone: the link is removed first, so the source bundle is never written. */
function replaceFile(dir: string, rel: string, data: Uint8Array | string): void {
  const p = join(dir, rel);
  if (lstatSafe(p)) unlinkSync(p);
  mkdirSync(dirname(p), { recursive: true });
  writeFileSync(p, data);
}

function lstatSafe(p: string): boolean {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

function removeFile(dir: string, rel: string): void {
  unlinkSync(join(dir, rel));
}

function readJsonFile(dir: string, rel: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(dir, rel), 'utf8')) as Record<string, unknown>;
}

/** Edits a JSON file of a clone through a callback on the parsed object. */
// biome-ignore lint/suspicious/noExplicitAny: the edits reach into arbitrary JSON on purpose (broken bundles)
function editJson(dir: string, rel: string, edit: (j: any) => void): void {
  const j = readJsonFile(dir, rel);
  edit(j);
  replaceFile(dir, rel, JSON.stringify(j, null, 1));
}

/** Edits manifest.json and writes one field as a raw JSON token (Python's json writes NaN and Infinity). */
function setRawToken(dir: string, path: string[], token: string): void {
  const j = readJsonFile(dir, 'manifest.json');
  let o = j as Record<string, unknown>;
  for (const k of path.slice(0, -1)) o = o[k] as Record<string, unknown>;
  const marker = '__RAW_TOKEN__';
  o[path[path.length - 1]!] = marker;
  replaceFile(dir, 'manifest.json', JSON.stringify(j, null, 1).replace(`"${marker}"`, token));
}

/** Replaces a variant's ONNX with other bytes, and (repin) updates the manifest's size and sha256 to match. */
function replaceVariant(dir: string, b: Bundle, variant: string, bytes: Uint8Array, repin: boolean): void {
  replaceFile(dir, b.variant(variant).file, bytes);
  if (repin) {
    editJson(dir, 'manifest.json', (m) => {
      m.variants[variant].bytes = bytes.length;
      m.variants[variant].sha256 = createHash('sha256').update(bytes).digest('hex');
    });
  }
}

// ---------------------------------------------------------------------------------------------------------
// The faults

interface Fault {
  name: string;
  /** Breaks the clone `dir` of bundle `b`. */
  breakIt: (dir: string, b: Bundle, index: GoldenIndex) => void;
  /** Text the refusal must contain (file and field). */
  expect: (b: Bundle, index: GoldenIndex) => string[];
}

const fmt = (s: number[]): string => `[${s.join(',')}]`;

const FAULTS: Fault[] = [
  { name: 'missing-manifest', breakIt: (d) => removeFile(d, 'manifest.json'), expect: () => ['manifest.json: missing'] },
  {
    name: 'manifest-not-json',
    breakIt: (d) => replaceFile(d, 'manifest.json', '{"format": "tinydit-bundle/1", '),
    expect: () => ['manifest.json: not valid JSON'],
  },
  {
    name: 'tolerance-negative',
    breakIt: (d) =>
      editJson(d, 'manifest.json', (m) => {
        m.tolerance.velocity.floorMultiple = -1;
      }),
    expect: () => ['manifest.json: tolerance.velocity.floorMultiple must be a positive finite number, got -1'],
  },
  {
    name: 'tolerance-nan',
    breakIt: (d) => setRawToken(d, ['tolerance', 'trajectory', 'absMin'], 'NaN'),
    expect: () => ['manifest.json: tolerance.trajectory.absMin must be a positive finite number, got NaN'],
  },
  {
    name: 'tolerance-infinity',
    breakIt: (d) => setRawToken(d, ['tolerance', 'velocity', 'absMin'], 'Infinity'),
    expect: () => ['manifest.json: tolerance.velocity.absMin must be a positive finite number, got Infinity'],
  },
  {
    name: 'tolerance-zero-quantized-margin',
    breakIt: (d) =>
      editJson(d, 'manifest.json', (m) => {
        m.tolerance.quantized.margin = 0;
      }),
    expect: () => ['manifest.json: tolerance.quantized.margin must be a positive finite number, got 0'],
  },
  {
    name: 'tolerance-missing',
    breakIt: (d) =>
      editJson(d, 'manifest.json', (m) => {
        delete m.tolerance;
      }),
    expect: () => ['manifest.json: tolerance must be an object, got nothing'],
  },
  {
    name: 'field-missing',
    breakIt: (d) =>
      editJson(d, 'manifest.json', (m) => {
        delete m.identity.parameters;
      }),
    expect: () => ['manifest.json: identity.parameters must be a positive integer, got nothing (the field is missing)'],
  },
  {
    name: 'field-wrong-type',
    breakIt: (d) =>
      editJson(d, 'manifest.json', (m) => {
        m.contract.inputs[1].dtype = 'float';
      }),
    expect: () => ['manifest.json: contract.inputs[1].dtype must be one of', 'got "float"'],
  },
  {
    name: 'wrong-format',
    breakIt: (d) =>
      editJson(d, 'manifest.json', (m) => {
        m.format = 'tinydit-bundle/2';
      }),
    expect: () => ['manifest.json: format must be one of "tinydit-bundle/1", got "tinydit-bundle/2"'],
  },
  {
    name: 'sha256-malformed',
    breakIt: (d, b) =>
      editJson(d, 'manifest.json', (m) => {
        m.variants[b.variantNames[0]!].sha256 = 'abc';
      }),
    expect: (b) => [`manifest.json: variants.${b.variantNames[0]}.sha256 must be a sha256 as 64 lowercase hex digits, got "abc"`],
  },
  {
    name: 'variant-outside-bundle',
    breakIt: (d, b) =>
      editJson(d, 'manifest.json', (m) => {
        m.variants[b.variantNames[0]!].file = '../elsewhere.onnx';
      }),
    expect: (b) => [
      `manifest.json: variants.${b.variantNames[0]}.file must be a relative file path inside the bundle, got "../elsewhere.onnx"`,
    ],
  },
  {
    name: 'breeds-wrong-length',
    breakIt: (d) =>
      editJson(d, 'manifest.json', (m) => {
        m.breeds.pop();
      }),
    expect: (b) => [
      `manifest.json: breeds lists ${b.manifest.breeds.length - 1} names but identity.config.num_classes is ${b.manifest.identity.config.num_classes}`,
    ],
  },
  {
    name: 'onnx-missing',
    breakIt: (d, b) => removeFile(d, b.variant(b.variantNames[1] ?? b.variantNames[0]!).file),
    expect: (b) => {
      const v = b.variantNames[1] ?? b.variantNames[0]!;
      return [`${b.variant(v).file} (manifest.json variants.${v}.file): missing`];
    },
  },
  {
    name: 'onnx-truncated',
    breakIt: (d, b) => {
      const v = b.variantNames[0]!;
      const bytes = readFileSync(b.variantPath(v));
      replaceVariant(d, b, v, bytes.subarray(0, bytes.length >> 1), false);
    },
    expect: (b) => {
      const v = b.variantNames[0]!;
      const spec = b.variant(v);
      return [
        `${spec.file}: ${spec.bytes >> 1} bytes but manifest.json variants.${v}.bytes is ${spec.bytes} (truncated?)`,
        `${spec.file}: truncated ONNX`,
      ];
    },
  },
  {
    // the manifest re-pinned to the truncated file: the ONNX structure alone must reveal the truncation
    name: 'onnx-truncated-repinned',
    breakIt: (d, b) => {
      const v = b.variantNames[0]!;
      const bytes = readFileSync(b.variantPath(v));
      replaceVariant(d, b, v, bytes.subarray(0, bytes.length - 1000), true);
    },
    expect: (b) => [`${b.variant(b.variantNames[0]!).file}: truncated ONNX`],
  },
  {
    name: 'onnx-not-onnx',
    breakIt: (d, b, idx) => replaceVariant(d, b, b.variantNames[0]!, readFileSync(b.goldenPath(idx.trajectories.cases[0]!.image)), true),
    expect: (b) => [`${b.variant(b.variantNames[0]!).file}: not an ONNX file`],
  },
  {
    name: 'onnx-sha256-mismatch',
    breakIt: (d, b) => {
      const v = b.variantNames[0]!;
      const bytes = new Uint8Array(readFileSync(b.variantPath(v)));
      const at = bytes.length - 64; // inside the last initializer's data: still a parseable ONNX, other weights
      bytes[at] = bytes[at]! ^ 0xff;
      replaceVariant(d, b, v, bytes, false);
    },
    expect: (b) => [
      `${b.variant(b.variantNames[0]!).file}: sha256`,
      `does not match manifest.json variants.${b.variantNames[0]}.sha256 ${b.variant(b.variantNames[0]!).sha256}`,
    ],
  },
  { name: 'goldens-index-missing', breakIt: (d) => removeFile(d, 'goldens/index.json'), expect: () => ['goldens/index.json: missing'] },
  {
    name: 'goldens-index-not-json',
    breakIt: (d) => replaceFile(d, 'goldens/index.json', 'not json'),
    expect: () => ['goldens/index.json: not valid JSON'],
  },
  {
    name: 'goldens-index-schema',
    breakIt: (d) =>
      editJson(d, 'goldens/index.json', (j) => {
        j.velocity.cases[0].t = 2;
      }),
    expect: () => ['goldens/index.json: velocity.cases[0].t must be a number in [0, 1], got 2'],
  },
  {
    name: 'goldens-index-names-absent-file',
    breakIt: (d) =>
      editJson(d, 'goldens/index.json', (j) => {
        j.noise[0].file = 'noise/absent.npy';
      }),
    expect: () => ['goldens/noise/absent.npy (named by goldens/index.json noise[0].file): missing'],
  },
  {
    name: 'goldens-index-variant-not-covered',
    breakIt: (d, b) =>
      editJson(d, 'goldens/index.json', (j) => {
        delete j.velocity.expectedFor[b.variantNames[b.variantNames.length - 1]!];
      }),
    expect: (b) => [`goldens/index.json: velocity.expectedFor has no entry for variant '${b.variantNames[b.variantNames.length - 1]}'`],
  },
  {
    // one seed per breed: the statistics checks cannot leave one out; refused when loaded, not an error in every engine
    name: 'stats-one-seed',
    breakIt: (d) =>
      editJson(d, 'goldens/index.json', (j) => {
        j.stats.seeds = j.stats.seeds.slice(0, 1);
      }),
    expect: () => ['goldens/index.json: stats.seeds lists 1 seed(s) per breed; the statistics checks need at least 3'],
  },
  {
    name: 'golden-missing',
    breakIt: (d, _b, idx) => removeFile(d, join('goldens', Object.values(idx.velocity.expected)[0]!)),
    expect: (_b, idx) => {
      const [k, rel] = Object.entries(idx.velocity.expected)[0]!;
      return [`goldens/${rel} (named by goldens/index.json velocity.expected.${k}): missing`];
    },
  },
  {
    name: 'golden-truncated',
    breakIt: (d, b, idx) => {
      const rel = Object.values(idx.velocity.expected)[0]!;
      const bytes = readFileSync(b.goldenPath(rel));
      replaceFile(d, join('goldens', rel), bytes.subarray(0, bytes.length - 4));
    },
    expect: (_b, idx) => [`goldens/${Object.values(idx.velocity.expected)[0]}: truncated`],
  },
  {
    name: 'golden-wrong-shape',
    breakIt: (d, b, idx) => {
      const n = idx.velocity.cases.length - 1;
      const shape = [n, b.channels, b.imageSize, b.imageSize];
      replaceFile(
        d,
        join('goldens', Object.values(idx.velocity.expected)[0]!),
        encodeNpy({ dtype: 'float32', shape, data: new Float32Array(shape.reduce((a, x) => a * x, 1)) }),
      );
    },
    expect: (b, idx) => {
      const [k, rel] = Object.entries(idx.velocity.expected)[0]!;
      const n = idx.velocity.cases.length;
      return [
        `goldens/${rel} (named by goldens/index.json velocity.expected.${k}): expected float32 ${fmt([n, b.channels, b.imageSize, b.imageSize])}, got float32 ${fmt([n - 1, b.channels, b.imageSize, b.imageSize])}`,
      ];
    },
  },
  {
    name: 'golden-wrong-dtype',
    breakIt: (d, _b, idx) => {
      const n = idx.velocity.cases.length;
      replaceFile(
        d,
        join('goldens', Object.values(idx.velocity.noiseFloor)[0]!),
        encodeNpy({ dtype: 'float32', shape: [n], data: new Float32Array(n) }),
      );
    },
    expect: (_b, idx) => {
      const [k, rel] = Object.entries(idx.velocity.noiseFloor)[0]!;
      const n = idx.velocity.cases.length;
      return [`goldens/${rel} (named by goldens/index.json velocity.noiseFloor.${k}): expected float64 [${n}], got float32 [${n}]`];
    },
  },
  {
    name: 'golden-not-npy',
    breakIt: (d, _b, idx) => replaceFile(d, join('goldens', idx.trajectories.floor), 'this is not a numpy file'),
    expect: (_b, idx) => [`goldens/${idx.trajectories.floor}: not a .npy file`],
  },
  {
    name: 'golden-png-truncated',
    breakIt: (d, b, idx) => {
      const rel = idx.trajectories.cases[0]!.image;
      const bytes = readFileSync(b.goldenPath(rel));
      replaceFile(d, join('goldens', rel), bytes.subarray(0, bytes.length - 20));
    },
    expect: (_b, idx) => [`goldens/${idx.trajectories.cases[0]!.image}: truncated PNG`],
  },
];

// ---------------------------------------------------------------------------------------------------------

describe('bundle loader', () => {
  it('the bundle under test loads', () => {
    recordCheck({
      id: 'bundle:load',
      check: 'bundle',
      runtime: RUNTIME,
      status: good ? 'pass' : 'error',
      metrics: good
        ? { level: good.level, variants: good.variantNames.join(','), velocityCases: good.index?.velocity.cases.length ?? null }
        : { bundle: SOURCE },
      message: good ? `bundle ${SOURCE} loaded (${good.level})` : (goodError ?? 'unknown error'),
    });
    expect(goodError, goodError ?? '').toBeNull();
  });

  it('without goldens/ the bundle loads as contract-only, and goldens accessors refuse with the cause', async () => {
    expect(good, goodError ?? '').not.toBeNull();
    const dir = cloneBundle(SOURCE);
    rmSync(join(dir, 'goldens'), { recursive: true });
    const b = await loadBundle(dir);
    expect(b.level).toBe('contract-only');
    expect(b.variantNames).toEqual(good!.variantNames);
    expect(() => b.velocityCases).toThrow(
      /goldens\/index\.json: missing: this is a contract-only bundle, and the velocity check needs goldens/,
    );
    await expect(loadBundle(dir, { require: 'full' })).rejects.toThrow(/goldens\/: missing: this run needs a full bundle/);
    recordCheck({
      id: 'bundle:level=contract-only',
      check: 'bundle',
      runtime: RUNTIME,
      status: 'pass',
      metrics: { level: b.level },
      message: 'a bundle without goldens/ loads as contract-only; goldens accessors and require:full refuse it',
    });
  });

  it.each(FAULTS.map((f) => [f.name, f] as const))('refuses fault=%s', async (name, fault) => {
    expect(good, goodError ?? '').not.toBeNull();
    const b = good!;
    const index = b.requireFull(`the bad-bundle case ${name}`);
    const dir = cloneBundle(SOURCE);
    fault.breakIt(dir, b, index);
    const want = fault.expect(b, index);
    let message: string | null = null;
    try {
      await loadBundle(dir);
    } catch (e) {
      if (!(e instanceof BundleError)) throw e;
      message = e.message;
    }
    const missing = message === null ? want : want.filter((w) => !message!.includes(w));
    const ok = message !== null && missing.length === 0;
    recordCheck({
      id: caseId('bundle', { fault: name }),
      check: 'bundle',
      runtime: RUNTIME,
      status: ok ? 'pass' : 'fail',
      metrics: { refused: message !== null, namesCause: missing.length === 0 },
      threshold: { mustContain: want.join(' | ') },
      message:
        message === null
          ? `loadBundle accepted a bundle with fault ${name}`
          : ok
            ? message
            : `refused, but the message lacks ${missing.map((m) => `"${m}"`).join(', ')}: ${message}`,
    });
    expect(message, `loadBundle accepted a bundle with fault ${name}`).not.toBeNull();
    expect(missing, `refusal message:\n${message}`).toEqual([]);
  });
});
