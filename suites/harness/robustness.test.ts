/**
 * Robustness: every bad input fails closed with a clear message, and nothing is lost. Each case breaks one
 * thing on purpose and requires the gate (or the sampler under it) to fail, naming the cause; the cases are
 * self-tests of the harness, recorded as robustness:fault=<what> (pass = the fault was caught and named).
 *
 * 1. Bad bundles through the gate (runGate, the library behind `npm run gate`, and once the command itself):
 *    missing manifest, a schema failure, an ONNX whose sha256 disagrees, a truncated ONNX, a goldens index
 *    naming an absent file: exit 1, level 'refused' before anything runs, accepted false, the message names the
 *    file. (Every other bad bundle is refused by the same loader: suites/harness/bundle.test.ts.)
 * 2. Bad runs:
 *    a. a model whose velocity goes NaN/Infinity mid-trajectory (a wrapper injecting it at one step for one
 *       breed, and an ONNX with one breed's embedding row set to NaN): the sampler names the first step and the
 *       breed, the other breeds stay on their golden trajectories;
 *    b. a browser killed mid-generation and a page that hangs (suites/harness/browser/robustness.spec.ts fixtures,
 *       through the gate with two engines): both are named in the verdict, the hang is stopped by its own time
 *       limit, every other test (the other engine's, and the same engine's next one) ran; not accepted;
 *    d. an engine that is not installed (TINYDIT_FIREFOX pointing nowhere): the gate names it with the install
 *       command, not accepted;
 *    e. no room for the reports: a report folder on a full tmpfs (where this machine lets us mount one) and a
 *       history file on /dev/full (anywhere): exit 1, "the report folder is out of space", never a pass.
 *    (c, the wasm runtime unreachable, is suites/harness/browser/robustness.spec.ts; f, Ctrl-C, is
 *    suites/harness/gate.test.ts gate:selftest=cli-interrupt-leaves-an-incomplete-verdict-and-the-partial-results.)
 * 4. Determinism and replay: a broken bundle's verdict records seeds, engine versions, thread counts and the
 *    environment, and the replay command it prints for a failed check reruns that check, which fails the same way.
 */
import { caseId, caseIdWith } from '../../harness/core/case-id.js';
import { spawn, spawnSync } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadBundle, type Bundle, type GoldenIndex } from '../../harness/model/bundle.js';
import { REPO_ROOT, bundleDir } from '../../harness/core/config.js';
import { chooseEngine } from '../../harness/runtimes/detect.js';
import { runGate } from '../../harness/gate/gate.js';
import { readRecords } from '../../harness/gate/records.js';
import { readPlaywrightReport } from '../../harness/gate/runners.js';
import type { Verdict } from '../../harness/gate/types.js';
import { withInitializers } from '../../harness/model/onnx-edit.js';
import { encodeNpy } from '../../harness/core/npy.js';
import { recordCheck, type Metric } from '../../harness/core/record-check.js';
import { openModelBytes, openVariant, samplerModel } from '../../harness/runtimes/node.js';
import { SamplerError, sample, type SamplerModel } from '../../harness/core/sampler.js';
import { toleranceBand } from '../../harness/core/compare.js';

const RUNTIME = 'node';
const SOURCE = bundleDir();
const loaded = await loadBundle(SOURCE, { require: 'full' }).then(
  (b) => ({ bundle: b }),
  (e: Error) => ({ error: e }),
);

/** Records the self-test and asserts it (the assertion's message names the case and what was seen). */
function selftest(fault: string, ok: boolean, message: string, metrics: Record<string, Metric> = {}): void {
  const id = caseIdWith(`robustness:fault=${fault}`, {});
  recordCheck({ id, check: 'robustness', runtime: RUNTIME, status: ok ? 'pass' : 'fail', metrics, message });
  expect(ok, `${id}: ${message}`).toBe(true);
}

// ---------------------------------------------------------------------------------------------------------
// Temporary folders, bundle clones, gate runs

const temps: string[] = [];
afterAll(() => {
  for (const d of temps) rmSync(d, { recursive: true, force: true }); // clones hold links, never their targets
});
function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  temps.push(d);
  return d;
}

/** A copy of the bundle made of symlinks to its files: breaking one file replaces its link, never the source. */
function cloneBundle(src: string): string {
  const dst = tempDir('tinydit-robust-bundle-');
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

function replaceFile(dir: string, rel: string, data: Uint8Array | string): void {
  const p = join(dir, rel);
  try {
    lstatSync(p);
    unlinkSync(p);
  } catch {
    /* absent */
  }
  mkdirSync(dirname(p), { recursive: true });
  writeFileSync(p, data);
}

// biome-ignore lint/suspicious/noExplicitAny: the edits reach into arbitrary JSON on purpose (broken bundles)
function editJson(dir: string, rel: string, edit: (j: any) => void): void {
  const j = JSON.parse(readFileSync(join(dir, rel), 'utf8')) as unknown;
  edit(j);
  replaceFile(dir, rel, JSON.stringify(j, null, 1));
}

/** A gate run of these cases (no browser) ends in seconds; past this it is stopped (under the tests' own limits). */
const GATE_RUN_LIMIT_MS = 50_000;
/** Time the gate gets to stop its children after SIGTERM (its own grace is 10 s, harness/gate/process.ts). */
const GATE_STOP_GRACE_MS = 15_000;

interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
  runDir: string | null;
  verdict: Verdict | null;
  ms: number;
}

/** Runs a gate command line (argv after `npm run gate --`), into a temporary reports folder unless --reports is given. */
function runGateCli(args: string[], env: NodeJS.ProcessEnv = {}, opts: { npm?: boolean; timeoutMs?: number } = {}): Promise<CliRun> {
  const reports = args.includes('--reports') ? args[args.indexOf('--reports') + 1]! : tempDir('tinydit-robust-reports-');
  const full = [...args, ...(args.includes('--reports') ? [] : ['--reports', reports]), '--no-history', '--no-screenshot'].filter(
    (a, _i, all) => !(a === '--no-history' && all.includes('--history')),
  );
  const [cmd, argv] = opts.npm
    ? ['npm', ['run', '--silent', 'gate', '--', ...full]]
    : [process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'scripts/gate.ts'), ...full]];
  const t0 = Date.now();
  const limit = opts.timeoutMs ?? GATE_RUN_LIMIT_MS;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd as string, argv as string[], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    // past its time: SIGTERM (the gate then stops its own suites and browsers), SIGKILL if it is still there
    const timer = setTimeout(() => {
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), GATE_STOP_GRACE_MS).unref();
      reject(new Error(`gate ${full.join(' ')}: still running after ${limit} ms`));
    }, limit);
    child.stdout.on('data', (b: Buffer) => {
      stdout += b.toString();
    });
    child.stderr.on('data', (b: Buffer) => {
      stderr += b.toString();
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      const runs = existsSync(reports) ? readdirSync(reports).filter((f) => !f.endsWith('.jsonl') && f !== 'filler') : [];
      const runDir = runs[0] ? join(reports, runs[0]) : null;
      let verdict: Verdict | null = null;
      try {
        verdict = runDir ? (JSON.parse(readFileSync(join(runDir, 'verdict.json'), 'utf8')) as Verdict) : null;
      } catch {
        /* none, or cut off */
      }
      resolve({ code, stdout, stderr, runDir, verdict, ms: Date.now() - t0 });
    });
  });
}

const brief = (v: Verdict | null): string =>
  JSON.stringify(
    v && {
      accepted: v.accepted,
      complete: v.complete,
      level: v.level,
      reasons: v.reasons.map((r) => `${r.code}: ${r.message.slice(0, 300)}`),
    },
  );

if ('error' in loaded) {
  it('robustness: bundle loads', () => {
    recordCheck({
      id: 'robustness:bundle',
      check: 'robustness',
      runtime: RUNTIME,
      status: 'error',
      metrics: {},
      message: loaded.error.message,
    });
    throw loaded.error;
  });
} else {
  const bundle: Bundle = loaded.bundle;
  const index: GoldenIndex = bundle.requireFull('the robustness suite');
  const guided = index.trajectories.variant;
  /** The golden trajectories' first seed (7 in fixtures/default): the broken noise file of the replay case. */
  const spec0Seed = index.trajectories.cases[0]!.seed;

  // -------------------------------------------------------------------------------------------------------
  // 1. Bad bundles through the gate

  interface BadBundle {
    fault: string;
    breakIt: (dir: string) => void;
    names: string[];
  }
  const raw = bundle.variantNames.find((v) => v !== guided) ?? guided;
  const absentCase = 3;
  const BAD_BUNDLES: BadBundle[] = [
    { fault: 'bundle-missing-manifest', breakIt: (d) => unlinkSync(join(d, 'manifest.json')), names: ['manifest.json: missing'] },
    {
      fault: 'bundle-schema',
      breakIt: (d) =>
        editJson(d, 'manifest.json', (m) => {
          delete m.identity.parameters;
        }),
      names: ['manifest.json: identity.parameters must be a positive integer, got nothing (the field is missing)'],
    },
    {
      fault: 'bundle-onnx-sha256-mismatch',
      breakIt: (d) => {
        const bytes = new Uint8Array(readFileSync(bundle.variantPath(guided)));
        bytes[bytes.length - 64]! ^= 0xff; // inside the last initializer: same length, still parseable
        replaceFile(d, bundle.variant(guided).file, bytes);
      },
      names: [`${bundle.variant(guided).file}: sha256`, `does not match manifest.json variants.${guided}.sha256`],
    },
    {
      fault: 'bundle-onnx-truncated',
      breakIt: (d) => {
        const b = readFileSync(bundle.variantPath(raw));
        replaceFile(d, bundle.variant(raw).file, b.subarray(0, b.length >> 1));
      },
      names: [
        `${bundle.variant(raw).file}: ${bundle.variant(raw).bytes >> 1} bytes but manifest.json variants.${raw}.bytes is ${bundle.variant(raw).bytes} (truncated?)`,
      ],
    },
    {
      fault: 'bundle-goldens-index-names-absent-file',
      breakIt: (d) =>
        editJson(d, 'goldens/index.json', (j) => {
          j.trajectories.cases[absentCase].file = 'trajectories/absent.npy';
        }),
      names: [`goldens/trajectories/absent.npy (named by goldens/index.json trajectories.cases[${absentCase}].file): missing`],
    },
  ];

  describe('1. a bad bundle is refused by the gate before anything runs, naming the file', () => {
    it.each(BAD_BUNDLES.map((b) => [b.fault, b] as const))('robustness:fault=%s', async (_f, bad) => {
      const dir = cloneBundle(SOURCE);
      bad.breakIt(dir);
      const reports = tempDir('tinydit-robust-reports-');
      const r = await runGate({
        bundle: dir,
        reportsRoot: reports,
        node: true,
        browsers: [],
        allowNarrow: true,
        failOnDrift: false,
        history: null,
        nodeTimeoutMs: 60_000,
        browserTimeoutMs: 60_000,
        screenshot: false,
        verbose: false,
        commandLine: `npm run gate -- --bundle ${dir} --node-only --allow-narrow`,
      });
      const v = r.verdict;
      const onDisk = JSON.parse(readFileSync(join(r.runDir, 'verdict.json'), 'utf8')) as Verdict;
      const refusal = v.reasons.find((x) => x.code === 'bundle-refused')?.message ?? '';
      const missing = bad.names.filter((n) => !refusal.includes(n));
      const ok =
        r.exitCode === 1 && !v.accepted && !onDisk.accepted && v.level === 'refused' && v.processes.length === 0 && missing.length === 0;
      selftest(
        bad.fault,
        ok,
        `exit ${r.exitCode}; verdict ${brief(v)}; on disk accepted=${onDisk.accepted}; suites started: ${v.processes.length}` +
          (missing.length ? `; the refusal lacks ${missing.map((m) => JSON.stringify(m)).join(', ')}` : ''),
        { exitCode: r.exitCode, accepted: v.accepted, level: v.level, namesFile: missing.length === 0 },
      );
    });

    it('robustness:fault=bundle-onnx-sha256-mismatch,via=npm-run-gate', async () => {
      const bad = BAD_BUNDLES.find((b) => b.fault === 'bundle-onnx-sha256-mismatch')!;
      const dir = cloneBundle(SOURCE);
      bad.breakIt(dir);
      const r = await runGateCli(['--bundle', dir, '--node-only', '--allow-narrow'], {}, { npm: true });
      const said = bad.names.every((n) => r.stdout.includes(n));
      selftest(
        'bundle-onnx-sha256-mismatch,via=npm-run-gate',
        r.code === 1 && r.verdict?.accepted === false && r.verdict.level === 'refused' && said && r.stdout.includes('NOT ACCEPTED'),
        `exit ${r.code}; stdout names the file: ${said}; verdict ${brief(r.verdict)}`,
        { exitCode: r.code },
      );
    }, 60_000);
  });

  // -------------------------------------------------------------------------------------------------------
  // 2a. NaN / Infinity mid-trajectory

  describe('2a. a velocity that goes NaN or Infinity mid-trajectory is reported with its first step and breed', () => {
    const spec = index.trajectories;
    const seed = spec.cases[0]!.seed;
    const breedIdx = (name: string): number => {
      const i = bundle.manifest.breeds.indexOf(name);
      if (i < 0) throw new Error(`manifest.json breeds has no ${name}`);
      return i;
    };
    const [clean, nanBreed, infBreed] = [breedIdx('Abyssinian'), breedIdx('Bombay'), breedIdx('Siamese')];
    /** Steps (1-based) at which the wrapper injects: mid-trajectory, and apart so each report is told apart. */
    const NAN_STEP = Math.round(spec.steps * 0.46);
    const INF_STEP = Math.round(spec.steps * 0.8);
    const perImage = bundle.channels * bundle.imageSize * bundle.imageSize;
    const cases = [clean, nanBreed, infBreed].map((b) => {
      const c = spec.cases.find((x) => x.seed === seed && x.breed === b);
      if (!c) throw new Error(`goldens/index.json has no trajectory case for seed ${seed}, breed ${b}`);
      return c;
    });

    /** The guided model, with NaN written into Bombay's velocity at NAN_STEP and +Infinity into Siamese's at INF_STEP. */
    const injecting = (m: SamplerModel): SamplerModel => {
      let step = 0;
      return {
        ...m,
        call: async (x, t, breed, batch) => {
          const v = Float32Array.from(await m.call(x, t, breed, batch));
          step++;
          for (let k = 0; k < batch; k++) {
            if (Number(breed[k]) === nanBreed && step === NAN_STEP) v.fill(Number.NaN, k * perImage + 100, k * perImage + 105);
            if (Number(breed[k]) === infBreed && step === INF_STEP) v[k * perImage + 7] = Number.POSITIVE_INFINITY;
          }
          return v;
        },
      };
    };

    it('robustness:fault=nan-and-inf-velocity-mid-trajectory', async () => {
      const runner = await openVariant(bundle, spec.variant);
      try {
        const req = { breeds: cases.map((c) => c.breed), seeds: cases.map((c) => c.seed), steps: spec.steps, cfgScale: spec.cfgScale };
        const res = await sample(injecting(samplerModel(runner)), { ...req, keepTrajectory: true });
        // first state outside the golden band per case (the trajectory check's rule: max(floorMultiple * floor_s, absMin))
        const floor = bundle.readGolden(spec.floor).data as Float64Array;
        const policy = bundle.tolerance.trajectory;
        const firstLeave = cases.map((c, k) => {
          const golden = bundle.readGolden(c.file).data as Float32Array;
          for (let s = 0; s <= spec.steps; s++) {
            const band = toleranceBand(policy, floor[c.floorRow * (spec.steps + 1) + s]!);
            for (let i = 0; i < perImage; i++)
              if (!(Math.abs(res.trajectory[s]![k * perImage + i]! - golden[s * perImage + i]!) <= band)) return s;
          }
          return null;
        });
        const nf = res.nonFinite;
        const got = nf.map((n) => `${bundle.breedName(n.breed)}@${n.step}:${n.firstValue}x${n.count}`).join(', ');
        const ok =
          nf.length === 2 &&
          nf[0]!.breed === nanBreed &&
          nf[0]!.step === NAN_STEP &&
          nf[0]!.firstValue === 'NaN' &&
          nf[0]!.count === 5 &&
          nf[0]!.firstIndex === 100 &&
          nf[1]!.breed === infBreed &&
          nf[1]!.step === INF_STEP &&
          nf[1]!.firstValue === 'Infinity' &&
          nf[1]!.firstIndex === 7 &&
          firstLeave[0] === null &&
          firstLeave[1] === NAN_STEP &&
          firstLeave[2] === INF_STEP;

        // fail-fast mode: the first one stops the run, naming step and breed
        let thrown = '';
        try {
          await sample(injecting(samplerModel(runner)), { ...req, onNonFinite: 'throw', breedName: (b) => bundle.breedName(b) });
        } catch (e) {
          if (!(e instanceof SamplerError)) throw e;
          thrown = e.message;
        }
        const names =
          thrown.includes(`step ${NAN_STEP} of ${spec.steps}`) &&
          thrown.includes(`breed ${bundle.breedName(nanBreed)}`) &&
          thrown.includes('NaN');
        selftest(
          `nan-and-inf-velocity-mid-trajectory,breed=${bundle.breedName(nanBreed)}+${bundle.breedName(infBreed)},seed=${seed}`,
          ok && names,
          `reported: [${got}] (injected ${bundle.breedName(nanBreed)}@${NAN_STEP}:NaNx5, ${bundle.breedName(infBreed)}@${INF_STEP}:Infinity); ` +
            `first state off the golden band: ${cases.map((c, k) => `${bundle.breedName(c.breed)} ${firstLeave[k] ?? 'never'}`).join(', ')}; fail-fast: "${thrown}"`,
          { reported: nf.length, nanStep: nf[0]?.step ?? null, infStep: nf[1]?.step ?? null, cleanLeaves: firstLeave[0] ?? null },
        );
      } finally {
        await runner.release();
      }
    });

    it('robustness:fault=nan-breed-embedding-onnx', async () => {
      // a real graph that emits NaN for one breed only: that breed's embedding row set to NaN
      const bytes = withInitializers(
        readFileSync(bundle.variantPath(spec.variant)),
        {
          'breed_embedder.embedding.weight': (d, dims) => {
            const w = dims[1]!;
            d.fill(Number.NaN, nanBreed * w, (nanBreed + 1) * w);
          },
        },
        bundle.variantPath(spec.variant),
      );
      const runner = await openModelBytes(bytes, bundle.manifest, {
        label: 'nan-row',
        source: `${spec.variant} with breed ${nanBreed}'s embedding row NaN`,
        guidance: bundle.variant(spec.variant).guidance,
      });
      try {
        /** Two steps are enough: the row is read at the first call. */
        const steps = 2;
        const res = await sample(samplerModel(runner), { breeds: [clean, nanBreed], seeds: [seed, seed], steps, cfgScale: spec.cfgScale });
        const nf = res.nonFinite;
        const cleanFinite = res.x.subarray(0, perImage).every(Number.isFinite);
        const ok = nf.length === 1 && nf[0]!.breed === nanBreed && nf[0]!.step === 1 && nf[0]!.count === perImage && cleanFinite;
        selftest(
          `nan-breed-embedding-onnx,breed=${bundle.breedName(nanBreed)},seed=${seed}`,
          ok,
          `reported: ${JSON.stringify(nf)}; ${bundle.breedName(clean)} in the same batch finite: ${cleanFinite}`,
          { reported: nf.length, step: nf[0]?.step ?? null },
        );
      } finally {
        await runner.release();
      }
    });
  });

  // -------------------------------------------------------------------------------------------------------
  // 2d, 2e. An engine that is not installed; no room for the reports

  describe('2d. an engine that is not installed fails its project with the install command', () => {
    it('robustness:engine=firefox,fault=engine-not-installed', async () => {
      const missing = '/nonexistent/tinydit-robustness/firefox-esr';
      const r = await runGateCli(
        [
          '--bundle',
          SOURCE,
          '--browser-only',
          '--browsers',
          'firefox',
          '--browser-suites',
          'suites/browser/smoke.spec.ts',
          '--allow-narrow',
        ],
        { TINYDIT_ENGINES: 'system', TINYDIT_FIREFOX: missing },
      );
      const v = r.verdict;
      const reason = v?.reasons.find((x) => x.code === 'engine-not-started')?.message ?? '';
      const pw = v?.processes.find((p) => p.name === 'playwright');
      // an engine that did not start says nothing about the model: inconclusive (exit 5), never rejected
      const ok =
        r.code === 5 &&
        v?.outcome === 'inconclusive' &&
        v.accepted === false &&
        v.complete &&
        reason.includes('firefox') &&
        reason.includes(missing) &&
        /To fix it, .*(apt-get install -y firefox-esr|npx playwright install)/.test(reason) &&
        !!pw &&
        !pw.timedOut &&
        pw.signal === null;
      selftest(
        'engine-not-installed,engine=firefox',
        ok,
        `exit ${r.code} after ${r.ms} ms; verdict ${brief(v)}; playwright ${JSON.stringify(pw)}`,
        { exitCode: r.code, ms: r.ms },
      );
    }, 120_000);
  });

  describe('2e. a report folder without room fails the gate, saying so', () => {
    const fixture = 'harness/gate/fixtures/metric.fixture.ts';
    const OUT_OF_SPACE = /the report folder is out of space: writing \S+ failed with ENOSPC/;

    it('robustness:fault=no-room,where=history-on-dev-full', async () => {
      // /dev/full answers every write with ENOSPC: the gate's last write (the history line) meets a full disk
      const r = await runGateCli(
        ['--bundle', SOURCE, '--node-only', '--node-suites', fixture, '--allow-narrow', '--history', '/dev/full'],
        { TINYDIT_GATE_FIXTURE: fixture },
      );
      // the suites passed and the verdict was written before the history: it must have been turned into a refusal
      const ok =
        r.code === 5 &&
        OUT_OF_SPACE.test(r.stderr) &&
        r.stderr.includes('/dev/full') &&
        r.stdout.includes('NOT ACCEPTED') &&
        !r.stdout.includes('\nACCEPTED') &&
        r.verdict?.accepted === false &&
        r.verdict.outcome === 'inconclusive' &&
        r.verdict.reasons[0]?.code === 'report-unwritable';
      selftest(
        'no-room,where=history-on-dev-full',
        ok,
        `exit ${r.code}; stderr: ${r.stderr
          .split('\n')
          .filter((l) => l.startsWith('gate:'))
          .join(' | ')}; ` + `verdict on disk: ${brief(r.verdict)}`,
        { exitCode: r.code },
      );
    }, 60_000);

    /** Room left on the small filesystem: the provisional verdict and one log fit (tmpfs allocates 4 KiB pages), nothing after them. */
    const ROOM_LEFT_BYTES = 8 * 1024;
    /** Size of that filesystem: a few pages. */
    const TMPFS_SIZE = '64k';
    const mountTmpfs = (at: string): boolean =>
      spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${TMPFS_SIZE}`, 'tmpfs', at], { stdio: 'ignore' }).status === 0;
    // A real full disk needs a filesystem we may fill (root can mount a small tmpfs; probed once, mounted again in the
    // test and always unmounted there). The /dev/full case above runs everywhere.
    const probe = join(tmpdir(), `tinydit-robust-probe-${process.pid}`);
    let mountable = false;
    if (process.platform === 'linux' && typeof process.getuid === 'function' && process.getuid() === 0) {
      mkdirSync(probe, { recursive: true });
      mountable = mountTmpfs(probe) && spawnSync('umount', [probe], { stdio: 'ignore' }).status === 0;
      rmSync(probe, { recursive: true, force: true });
    }
    if (mountable) {
      it('robustness:fault=no-room,where=report-folder-on-full-tmpfs', async () => {
        const mountPoint = tempDir('tinydit-robust-full-');
        if (!mountTmpfs(mountPoint)) throw new Error(`mount -t tmpfs on ${mountPoint} failed, though it worked a moment ago`);
        try {
          const free = (): number => {
            const st = spawnSync('df', ['-B1', '--output=avail', mountPoint], { encoding: 'utf8' });
            return Number(st.stdout.trim().split('\n')[1]);
          };
          writeFileSync(join(mountPoint, 'filler'), new Uint8Array(Math.max(0, free() - ROOM_LEFT_BYTES)));
          const r = await runGateCli(
            ['--bundle', SOURCE, '--node-only', '--node-suites', fixture, '--allow-narrow', '--reports', mountPoint],
            { TINYDIT_GATE_FIXTURE: fixture },
          );
          const ok =
            r.code === 5 &&
            OUT_OF_SPACE.test(r.stderr) &&
            r.stderr.includes(mountPoint) &&
            (r.verdict === null || r.verdict.accepted === false);
          selftest(
            'no-room,where=report-folder-on-full-tmpfs',
            ok,
            `exit ${r.code}; stderr: ${r.stderr
              .split('\n')
              .filter((l) => l.startsWith('gate:'))
              .join(' | ')}; verdict left on disk: ${brief(r.verdict)}`,
            { exitCode: r.code, verdictOnDisk: r.verdict !== null },
          );
        } finally {
          spawnSync('umount', [mountPoint], { stdio: 'ignore' });
        }
      }, 60_000);
    }
  });

  // -------------------------------------------------------------------------------------------------------
  // 2b. A browser killed mid-test and a hung page, through the gate with two engines

  describe('2b. a crashed browser and a hung page: named, bounded, and the run goes on', () => {
    /** The hang fixture's time limit: room for a page open, a model load and one step on a busy 2-core box. */
    const HANG_LIMIT_MS = 10_000;
    /** How far past its limit a stopped test may end (Playwright's teardown of the page and context). */
    const STOP_GRACE_MS = 10_000;
    const faultEngine = 'chromium';
    const other = (['firefox', 'webkit'] as const).find((p) => chooseEngine(p).available);

    it('robustness:fault=browser-crash+page-hang', async () => {
      if (!chooseEngine(faultEngine).available || !other) {
        throw new Error(
          `this check needs ${faultEngine} and one more engine: ${[faultEngine, 'firefox', 'webkit'].map((p) => `${p} ${chooseEngine(p as 'chromium').available ? 'found' : 'missing'}`).join(', ')}`,
        );
      }
      const r = await runGateCli(
        [
          '--bundle',
          SOURCE,
          '--browser-only',
          '--browsers',
          `${faultEngine},${other}`,
          '--browser-suites',
          'suites/harness/browser/robustness.spec.ts',
          '--grep',
          'robustness-fixture',
          '--allow-narrow',
          '--timeout-browser',
          '4',
        ],
        { TINYDIT_BROWSER_FIXTURE: 'faults', TINYDIT_FAULT_ENGINE: faultEngine, TINYDIT_FIXTURE_HANG_MS: String(HANG_LIMIT_MS) },
        { timeoutMs: 290_000 },
      );
      const v = r.verdict;
      const pw = r.runDir ? readPlaywrightReport(join(r.runDir, 'playwright.json'), REPO_ROOT) : null;
      const status = (project: string, title: string): string =>
        pw?.tests.find((t) => t.project === project && t.title === title)?.status ?? 'absent';
      const hang = pw?.tests.find((t) => t.project === faultEngine && t.title === 'robustness-fixture:fault=page-hang');
      const crashed = v?.reasons.find((x) => x.code === 'engine-crashed')?.message ?? '';
      const timedOut = v?.reasons.find((x) => x.code === 'test-timeout')?.message ?? '';
      const proc = v?.processes.find((p) => p.name === 'playwright');
      const fixtures = [
        'robustness-fixture:fault=browser-crash',
        'robustness-fixture:fault=page-hang',
        'robustness-fixture:after-faults',
        'robustness-fixture:fault=browser-killed-after-pass',
      ];
      const seen = [faultEngine, other].flatMap((p) =>
        fixtures.map((t) => `${p} ${t.replace('robustness-fixture:', '')}: ${status(p, t)}`),
      );
      // a crashed engine and a hung page are the environment's faults: inconclusive (exit 5), never rejected
      const ok =
        r.code === 5 &&
        v?.complete === true &&
        v.accepted === false &&
        v.outcome === 'inconclusive' &&
        crashed.includes(`${faultEngine} suites/harness/browser/robustness.spec.ts "robustness-fixture:fault=browser-crash"`) &&
        timedOut.includes(`${faultEngine} suites/harness/browser/robustness.spec.ts "robustness-fixture:fault=page-hang"`) &&
        status(faultEngine, fixtures[0]!) === 'failed' &&
        status(faultEngine, fixtures[1]!) === 'timedOut' &&
        status(faultEngine, fixtures[2]!) === 'passed' &&
        status(faultEngine, fixtures[3]!) === 'passed' &&
        fixtures.every((t) => status(other, t) === 'passed') &&
        !!hang &&
        hang.durationMs <= HANG_LIMIT_MS + STOP_GRACE_MS &&
        !!proc &&
        !proc.timedOut &&
        proc.signal === null &&
        v.engines.some((e) => e.runtime === faultEngine && e.version !== 'unknown') &&
        v.engines.some((e) => e.runtime === other);
      selftest(
        `browser-crash+page-hang,engines=${faultEngine}+${other}`,
        ok,
        `exit ${r.code} after ${r.ms} ms; tests: ${seen.join('; ')}; hang stopped after ${hang?.durationMs} ms (limit ${HANG_LIMIT_MS}); ` +
          `playwright process ${JSON.stringify(proc && { exit: proc.exitCode, signal: proc.signal, timedOut: proc.timedOut })}; verdict ${brief(v)}`,
        { exitCode: r.code, ms: r.ms, hangMs: hang?.durationMs ?? null },
      );
    }, 300_000);
  });

  // -------------------------------------------------------------------------------------------------------
  // 4. Determinism and replay

  describe('4. a failure is replayed exactly by the command its verdict prints', () => {
    it('robustness:fault=replay-of-a-broken-bundle', async () => {
      // the broken bundle: one golden noise file off by 0.5 everywhere (same shape and dtype: the loader accepts it)
      // (not the first noise case: the suite's own mutant proofs run on that one and should still hold)
      const target =
        index.noise.slice(1).find((n) => n.seed === spec0Seed && n.shape[2] === bundle.imageSize) ?? index.noise[index.noise.length - 1]!;
      const dir = cloneBundle(SOURCE);
      const g = bundle.readGolden(target.file);
      replaceFile(
        dir,
        join('goldens', target.file),
        encodeNpy({ dtype: 'float32', shape: g.shape, data: (g.data as Float32Array).map((x) => x + 0.5) }),
      );
      const r = await runGateCli(['--bundle', dir, '--node-only', '--node-suites', 'suites/node/noise.test.ts', '--allow-narrow']);
      const v = r.verdict;
      const failedId = caseId('noise', { seed: target.seed, shape: target.shape.join('x') });
      const check = v?.checks.find((c) => c.id === failedId);
      const command = v?.replay.failed[failedId] ?? '';

      // determinism: seeds, engine versions, thread counts and environment are in the verdict
      const det = v?.determinism;
      const ortNode = v?.engines.find((e) => e.name === 'onnxruntime-node');
      const recorded =
        !!det &&
        det.seeds.includes(target.seed) &&
        (det.threads.node ?? []).length > 0 &&
        !!ortNode &&
        /^\d+\.\d+/.test(ortNode.version) &&
        v.engines.some((e) => e.name === 'Node.js') &&
        det.env.TINYDIT_BUNDLE === dir;

      // replay: the printed command, run as printed, from the repository root
      const started = new Date().toISOString();
      const replay = spawnSync('bash', ['-c', command], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 90_000 });
      const replayDir = /TINYDIT_REPORT_DIR=(\S+)/.exec(command)?.[1] ?? '';
      // its own output names the case and the same message; the shared replay folder holds the same record (others may replay there too)
      const said = `${replay.stdout}\n${replay.stderr}`.replace(/\x1b\[[0-9;]*m/g, '').includes(`${failedId}: FAIL: ${check?.message}`);
      const again = readRecords(join(REPO_ROOT, replayDir, 'checks.jsonl')).records.filter(
        (x) => x.id === failedId && (x.time ?? '') >= started,
      );
      const same =
        said &&
        again.length >= 1 &&
        again.every(
          (x) => x.status === check?.status && x.message === check.message && JSON.stringify(x.metrics) === JSON.stringify(check.metrics),
        );
      const ok =
        r.code === 1 &&
        v?.accepted === false &&
        check?.status === 'fail' &&
        command.includes(`TINYDIT_BUNDLE=${dir}`) &&
        command.includes('suites/node/noise.test.ts') &&
        replay.status !== 0 &&
        same &&
        recorded;
      selftest(
        'replay-of-a-broken-bundle',
        ok,
        `gate exit ${r.code}; failed check ${failedId}: ${check?.status} "${check?.message.slice(0, 160)}"; replay: ${command}; replay exit ${replay.status}, output names it: ${said}, ` +
          `its record: ${again.map((x) => `${x.status} "${x.message.slice(0, 160)}"`).join(' | ') || 'none'}; determinism: seeds [${det?.seeds.join(',')}], ` +
          `threads ${JSON.stringify(det?.threads)}, engines ${v?.engines.map((e) => `${e.name} ${e.version}`).join(', ')}`,
        { exitCode: r.code, replayExit: replay.status, sameFailure: same, determinismRecorded: recorded },
      );
    }, 120_000);
  });
}
