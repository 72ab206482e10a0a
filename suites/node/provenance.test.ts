/**
 * Provenance inside the gate: the bundle's goldens must follow from the checkpoint it ships. Everything else the
 * gate judges is measured against the goldens; this suite is what makes them evidence rather than claims.
 *
 * - The bundle ships its checkpoint (manifest identity.checkpoint.file) and Python with torch is available:
 *   reference/python/check_provenance.py re-derives every part from the checkpoint (velocity in PyTorch, the
 *   re-exported ONNX against the goldens and the shipped files, every trajectory, a sample of the statistics
 *   images, the quantized profile, the noise floors, the checkpoint's sha256) and appends one record per part to
 *   <report>/checks.jsonl (family provenance, runtime python). Each expected part is a test here that fails when
 *   its record failed or is missing (a missing one is recorded as an error naming the cause).
 * - No checkpoint in the bundle: provenance:part=checkpoint fails ("its goldens are unverified"), unless
 *   TINYDIT_TRUST_GOLDENS=1 (the gate's --trust-goldens), which passes it as trusted-by-flag, not verified.
 * - Checkpoint but no Python/torch: an error record naming the install command.
 *
 * Proofs (self-tests): a copy of the embedded default bundle (hard links; the two edited goldens are new files)
 * with one velocity golden and one trajectory golden moved far beyond tolerance; check_provenance.py
 * --parts velocity,trajectory must fail exactly those parts. They judge the checker, so they run on the bundle
 * whose goldens are known to follow (fixtures/default), whichever bundle is under test.
 *
 * Environment: TINYDIT_PYTHON (default /usr/bin/python3), TINYDIT_TRUST_GOLDENS=1.
 */
import { caseId } from '../../harness/core/case-id.js';
import { spawn, spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  closeSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadBundle, type Bundle } from '../../harness/model/bundle.js';
import { REPO_ROOT, bundleDir, reportDir } from '../../harness/core/config.js';
import { encodeNpy, parseNpy } from '../../harness/core/npy.js';
import { currentRecordOrigin, recordCheck, type CheckRecord } from '../../harness/core/record-check.js';
import { toleranceBand } from '../../harness/core/compare.js';

const CHECK = 'provenance';
const RUNTIME = 'python';
const PYTHON = process.env['TINYDIT_PYTHON'] ?? '/usr/bin/python3';
const SCRIPT = join(REPO_ROOT, 'reference/python/check_provenance.py');
/** check_provenance.py takes ~35 s alone on 2 cores (fixtures/default); inside a loaded gate run several times that. */
const RUN_TIMEOUT_MS = 15 * 60_000;
const INSTALL =
  'install it with `bash scripts/setup.sh` (Debian: apt-get install python3-torch python3-onnx python3-numpy python3-pil), or point TINYDIT_PYTHON at a Python that has torch, onnx and numpy';
const FLOAT_VARIANTS = ['guided', 'raw'];
/** The proofs move one element of a golden this many times its own tolerance. */
const PROOF_FACTOR = 100;

const loaded = await loadBundle(bundleDir(), { require: 'full' }).then(
  (b) => ({ bundle: b }),
  (e: Error) => ({ error: e }),
);

interface PyRun {
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  seconds: number;
  stdout: string;
  stderr: string;
  spawnError?: string;
  /** The provenance records the run appended, by id. */
  records: Map<string, CheckRecord>;
}

/** The describe block whose tests, one per case id, judge the checker's records. */
const RECORDS_BLOCK = 'provenance: the goldens follow from the checkpoint';

/**
 * The checker's environment. Its records name the test that judges each of them (check_provenance.py record_origin):
 * the test of RECORDS_BLOCK titled by the record's id (title null), or, for a proof's run, the test running now.
 */
function childEnv(perRecord: boolean): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, OMP_WAIT_POLICY: 'PASSIVE', PYTHONUNBUFFERED: '1' };
  const origin = perRecord
    ? { runner: 'vitest', file: relative(REPO_ROOT, fileURLToPath(import.meta.url)), title: null, path: [RECORDS_BLOCK] }
    : currentRecordOrigin();
  if (origin) env.TINYDIT_RECORD_ORIGIN = JSON.stringify(origin);
  else delete env.TINYDIT_RECORD_ORIGIN;
  return env;
}

/** Runs check_provenance.py; its records are read back from `recordsFile` (from `offset` on: other suites append too). */
async function runProvenance(bundle: string, recordsFile: string, extra: string[] = []): Promise<PyRun> {
  mkdirSync(join(recordsFile, '..'), { recursive: true });
  const offset = existsSync(recordsFile) ? statSync(recordsFile).size : 0;
  const t0 = Date.now();
  const res = await new Promise<Omit<PyRun, 'records' | 'seconds'>>((done) => {
    const child = spawn(PYTHON, [SCRIPT, '--bundle', bundle, '--records', recordsFile, ...extra], {
      cwd: REPO_ROOT,
      env: childEnv(extra.length === 0),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '',
      stderr = '',
      timedOut = false;
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, RUN_TIMEOUT_MS);
    child.on('error', (e) => {
      clearTimeout(timer);
      done({ exitCode: null, signal: null, timedOut, stdout, stderr, spawnError: e.message });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      done({ exitCode: code, signal, timedOut, stdout, stderr });
    });
  });
  const records = new Map<string, CheckRecord>();
  if (existsSync(recordsFile)) {
    const fd = openSync(recordsFile, 'r');
    try {
      const size = statSync(recordsFile).size;
      const buf = Buffer.alloc(Math.max(0, size - offset));
      readSync(fd, buf, 0, buf.length, offset);
      for (const line of buf.toString('utf8').split('\n')) {
        if (!line.trim()) continue;
        try {
          const r = JSON.parse(line) as CheckRecord;
          if (r.check === CHECK && r.runtime === RUNTIME && typeof r.id === 'string') records.set(r.id, r);
        } catch {
          /* another suite's line, or a torn one: not ours */
        }
      }
    } finally {
      closeSync(fd);
    }
  }
  return { ...res, seconds: (Date.now() - t0) / 1000, records };
}

function tail(s: string, n = 1500): string {
  const t = s.trim();
  return t.length > n ? `...${t.slice(-n)}` : t;
}

/** Why a run produced no record for a part: how the process ended and what it said. */
function runCause(r: PyRun): string {
  if (r.spawnError) return `${PYTHON} could not be started (${r.spawnError}); ${INSTALL}`;
  if (r.timedOut)
    return `check_provenance.py ran past ${RUN_TIMEOUT_MS / 60_000} min and was killed; output: ${tail(r.stdout + r.stderr, 600)}`;
  const others = [...r.records.values()].filter((x) => x.status !== 'pass').map((x) => `${x.id}: ${x.status}: ${x.message ?? ''}`);
  return (
    `check_provenance.py exited ${r.exitCode ?? `by signal ${r.signal}`} after ${r.seconds.toFixed(0)} s without this part's record` +
    (others.length ? `; its non-passing records: ${others.slice(0, 3).join(' | ')}` : '') +
    (r.stderr.trim() ? `; stderr: ${tail(r.stderr)}` : '')
  );
}

/** The records check_provenance.py writes for this bundle (its PART list, with the bundle's variants and seeds). */
function expectedIds(b: Bundle): string[] {
  const idx = b.requireFull('the provenance check');
  const variants = FLOAT_VARIANTS.filter((v) => v in idx.velocity.expected);
  const seeds = [...new Set(idx.trajectories.cases.map((c) => c.seed))];
  return [
    'provenance:part=checkpoint',
    ...variants.map((v) => caseId('provenance', { part: 'velocity', variant: v })),
    ...seeds.map((s) => caseId('provenance', { part: 'trajectory', seed: s })),
    'provenance:part=stats',
    ...variants.map((v) => caseId('provenance', { part: 'noise-floor', variant: v })),
    'provenance:part=noise-floor,set=trajectory',
    ...variants.map((v) => caseId('provenance', { part: 'export', variant: v })),
    ...variants.map((v) => caseId('provenance', { part: 'onnx-agreement', variant: v })),
    'provenance:part=quantized-profile',
  ];
}

function pythonProblem(): string | null {
  const r = spawnSync(PYTHON, ['-c', 'import torch, onnx, numpy'], {
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, OMP_WAIT_POLICY: 'PASSIVE' },
  });
  if (r.error) return `${PYTHON} cannot be run (${r.error.message})`;
  if (r.status !== 0) return `${PYTHON} -c "import torch, onnx, numpy" failed: ${tail(r.stderr || r.stdout, 400)}`;
  return null;
}

// ---------------------------------------------------------------------------------------------------------
// Proof bundles: a copy of a bundle with some goldens moved beyond tolerance

/** Hard-links every file of `src` into a new temp folder (copies across file systems); edited files are written new. */
function linkedCopy(src: string): string {
  const dst = mkdtempSync(join(tmpdir(), 'tinydit-provenance-proof-'));
  const walk = (rel: string): void => {
    for (const e of readdirSync(join(src, rel), { withFileTypes: true })) {
      const r = rel ? join(rel, e.name) : e.name;
      if (e.isDirectory()) {
        mkdirSync(join(dst, r), { recursive: true });
        walk(r);
      } else if (e.isFile()) {
        try {
          linkSync(join(src, r), join(dst, r));
        } catch {
          copyFileSync(join(src, r), join(dst, r));
        }
      }
    }
  };
  walk('');
  return dst;
}

/** Replaces goldens/<rel> in the copy (never writing through the hard link) with element `at` moved by `delta`. */
function perturbGolden(copy: string, rel: string, at: number, delta: number): void {
  const path = join(copy, 'goldens', rel);
  const arr = parseNpy(readFileSync(path), path);
  if (!(arr.data instanceof Float32Array)) throw new Error(`${path}: expected float32, got ${arr.dtype}`);
  arr.data[at] = arr.data[at]! + delta;
  const bytes = encodeNpy(arr);
  rmSync(path);
  writeFileSync(path, bytes);
}

function tolerance(floor: number, rule: { floorMultiple: number; absMin: number }): number {
  return toleranceBand(rule, floor);
}

// ---------------------------------------------------------------------------------------------------------

if ('error' in loaded) {
  it('provenance:bundle', () => {
    recordCheck({ id: 'provenance:bundle', check: CHECK, runtime: 'node', status: 'error', metrics: {}, message: loaded.error.message });
    throw loaded.error;
  });
} else {
  const bundle = loaded.bundle;
  const ckName = bundle.manifest.identity.checkpoint.file;
  const ckPath = ckName ? join(bundle.dir, ckName) : null;
  const hasCheckpoint = ckPath !== null && existsSync(ckPath) && statSync(ckPath).isFile();

  if (!hasCheckpoint) {
    const id = 'provenance:part=checkpoint';
    it(id, () => {
      const trusted = process.env['TINYDIT_TRUST_GOLDENS'] === '1';
      const why = ckName
        ? `manifest identity.checkpoint.file names ${ckName}, which is not in ${bundle.dir}`
        : 'manifest identity.checkpoint.file is null';
      const message = trusted
        ? `the bundle ships no checkpoint (${why}): its goldens were TRUSTED by flag (--trust-goldens / TINYDIT_TRUST_GOLDENS=1), not verified`
        : `the bundle ships no checkpoint: its goldens are unverified; ship the checkpoint, or pass --trust-goldens to the gate to accept unverified goldens (recorded in the verdict) (${why})`;
      recordCheck({
        id,
        check: CHECK,
        runtime: 'node',
        status: trusted ? 'pass' : 'fail',
        metrics: trusted ? { trustedByFlag: true, verified: false } : { trustedByFlag: false, verified: false },
        threshold: { checkpointShipped: true },
        message,
      });
      expect({ pass: trusted, message }).toPassCheck(id);
    });
  } else {
    const noPython = pythonProblem();
    if (noPython) {
      const id = 'provenance:part=checkpoint';
      it(id, () => {
        const message = `the bundle ships ${ckName}, but the provenance check cannot run: ${noPython}; ${INSTALL}`;
        recordCheck({ id, check: CHECK, runtime: 'node', status: 'error', metrics: { python: PYTHON }, message });
        expect({ pass: false, message }).toPassCheck(id);
      });
    } else {
      describe(RECORDS_BLOCK, () => {
        const ids = expectedIds(bundle);
        let run: PyRun | null = null;
        beforeAll(async () => {
          run = await runProvenance(bundle.dir, join(reportDir(), 'checks.jsonl'));
        }, RUN_TIMEOUT_MS + 60_000);

        for (const id of ids) {
          it(id, () => {
            const r = run!.records.get(id);
            if (!r) {
              const message = `no record from check_provenance.py for this part: ${runCause(run!)}`;
              recordCheck({ id, check: CHECK, runtime: 'node', status: 'error', metrics: { exitCode: run!.exitCode }, message });
              expect({ pass: false, message }).toPassCheck(id);
              return;
            }
            expect({ pass: r.status === 'pass', message: `${r.status}: ${r.message ?? ''}` }).toPassCheck(id);
          });
        }

        it('provenance:run', () => {
          const r = run!;
          const unexpected = [...r.records.keys()].filter((k) => !ids.includes(k));
          const allPass = ids.every((k) => r.records.get(k)?.status === 'pass');
          // exit 0 exactly when every record passed; records nobody expected mean the two sides disagree on the parts
          const ok = !r.spawnError && !r.timedOut && (r.exitCode === 0) === allPass && unexpected.length === 0;
          const message = ok
            ? `check_provenance.py: ${r.records.size} records in ${r.seconds.toFixed(1)} s, exit ${r.exitCode}`
            : `check_provenance.py run is inconsistent: exit ${r.exitCode}, ${allPass ? 'every' : 'not every'} expected record passed` +
              (unexpected.length
                ? `, unexpected record(s) ${unexpected.join(', ')} (the suite's list of parts and the script's differ)`
                : '') +
              `; ${runCause(r)}`;
          recordCheck({
            id: 'provenance:run',
            check: CHECK,
            runtime: 'node',
            status: ok ? 'pass' : 'error',
            metrics: { exitCode: r.exitCode, seconds: r.seconds, records: r.records.size, expected: ids.length },
            message,
          });
          expect({ pass: ok, message }).toPassCheck('provenance:run');
        });
      });

      describe('provenance catches goldens that do not follow from the checkpoint', () => {
        let proof: { run: PyRun; velocityCase: string; trajectoryFile: string; trajectorySeed: number; seeds: number[] } | null = null;
        let setupError: Error | null = null;
        beforeAll(async () => {
          try {
            const fixture = await loadBundle(join(REPO_ROOT, 'fixtures/default'), { require: 'full', verifyHashes: false });
            const idx = fixture.requireFull('the provenance proofs');
            const copy = linkedCopy(fixture.dir);
            try {
              const tol = fixture.tolerance;
              const per = fixture.channels * fixture.imageSize * fixture.imageSize;
              // velocity: one element of the middle case of goldens/velocity/guided.npy
              const vc = idx.velocity.cases[Math.floor(idx.velocity.cases.length / 2)]!;
              const vFloor = fixture.readGolden(idx.velocity.noiseFloor['guided']!).data as Float64Array;
              perturbGolden(
                copy,
                idx.velocity.expected['guided']!,
                vc.row * per + 17,
                PROOF_FACTOR * tolerance(vFloor[vc.row]!, tol.velocity),
              );
              // trajectory: one element of the final state of the first case of the first seed
              const tc = idx.trajectories.cases[0]!;
              const tFloor = fixture.readGolden(idx.trajectories.floor);
              const steps = tFloor.shape[1]!;
              const last = (tFloor.data as Float64Array)[tc.floorRow * steps + steps - 1]!;
              perturbGolden(copy, tc.file, (steps - 1) * per + 5, PROOF_FACTOR * tolerance(last, tol.trajectory));
              const run = await runProvenance(copy, join(copy, 'proof-checks.jsonl'), ['--parts', 'velocity,trajectory']);
              proof = {
                run,
                velocityCase: vc.id,
                trajectoryFile: tc.file,
                trajectorySeed: tc.seed,
                seeds: [...new Set(idx.trajectories.cases.map((c) => c.seed))],
              };
            } finally {
              rmSync(copy, { recursive: true, force: true });
            }
          } catch (e) {
            setupError = e as Error;
          }
        }, RUN_TIMEOUT_MS + 60_000);

        const judge = (
          id: string,
          verdict: () => { caught: boolean; message: string; metrics: Record<string, number | string | boolean | null> },
        ): void => {
          if (setupError || !proof) {
            const message = `the proof could not be set up: ${setupError?.message ?? 'no run'}`;
            recordCheck({ id, check: CHECK, runtime: 'node', status: 'error', metrics: {}, message });
            expect({ pass: false, message }).toPassCheck(id);
            return;
          }
          const v = verdict();
          recordCheck({
            id,
            check: CHECK,
            runtime: 'node',
            status: v.caught ? 'pass' : 'fail',
            metrics: { ...v.metrics, seconds: proof.run.seconds },
            threshold: { perturbationTimesTolerance: PROOF_FACTOR },
            message: v.caught ? `caught as expected: ${v.message}` : `NOT caught: ${v.message}; ${runCause(proof.run)}`,
          });
          expect({ pass: v.caught, message: v.message }).toPassCheck(id);
        };
        const status = (id: string): string => proof!.run.records.get(id)?.status ?? 'missing';

        it('provenance:proof=velocity-golden-perturbed', () => {
          judge('provenance:proof=velocity-golden-perturbed', () => {
            const p = proof!;
            const guided = p.run.records.get('provenance:part=velocity,variant=guided');
            const names = !!guided?.message?.includes('velocity/guided.npy') && !!guided.message.includes(p.velocityCase);
            const caught = guided?.status === 'fail' && names && status('provenance:part=velocity,variant=raw') === 'pass';
            return {
              caught,
              message:
                `goldens/velocity/guided.npy moved by ${PROOF_FACTOR}x its tolerance at ${p.velocityCase}: velocity guided ` +
                `${guided?.status ?? 'missing'}${names ? ' naming the file and case' : ' (the message does not name the file and case)'}, ` +
                `velocity raw ${status('provenance:part=velocity,variant=raw')}`,
              metrics: { guided: guided?.status ?? 'missing', raw: status('provenance:part=velocity,variant=raw'), namesCase: names },
            };
          });
        });

        it('provenance:proof=trajectory-golden-perturbed', () => {
          judge('provenance:proof=trajectory-golden-perturbed', () => {
            const p = proof!;
            const hit = p.run.records.get(caseId('provenance', { part: 'trajectory', seed: p.trajectorySeed }));
            const names = !!hit?.message?.includes(p.trajectoryFile);
            const others = p.seeds
              .filter((s) => s !== p.trajectorySeed)
              .map((s) => `seed ${s} ${status(caseId('provenance', { part: 'trajectory', seed: s }))}`);
            const caught = hit?.status === 'fail' && names && others.every((o) => o.endsWith(' pass'));
            return {
              caught,
              message:
                `goldens/${p.trajectoryFile} moved by ${PROOF_FACTOR}x its tolerance at the last step: trajectory seed ` +
                `${p.trajectorySeed} ${hit?.status ?? 'missing'}${names ? ' naming the file' : ' (the message does not name the file)'}` +
                (others.length ? `, ${others.join(', ')}` : ''),
              metrics: {
                perturbedSeed: hit?.status ?? 'missing',
                otherSeedsPass: others.every((o) => o.endsWith(' pass')),
                namesFile: names,
              },
            };
          });
        });
      });
    }
  }
}
