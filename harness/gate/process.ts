/**
 * Child processes of a gate run (vitest, Playwright, merge-reports): each in its own process group so a
 * timeout or Ctrl-C ends it with everything it started, its output kept in a log file, its progress lines
 * passed on, and its end described (exit code, signal, timed out, interrupted) for the verdict.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { cpus, freemem, hostname, loadavg, platform, release, arch, totalmem } from 'node:os';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createServer } from 'node:net';
import type { EngineVersion, ProcessOutcome } from './types.js';
import { RUNTIMES } from '../runtimes/registry.js';

/** Grace between SIGTERM and SIGKILL when a child must stop. */
const KILL_GRACE_MS = 10_000;

const running = new Set<{ child: ChildProcess; interrupt: () => void }>();

export interface ChildOptions {
  name: string;
  command: string;
  args: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  log: string;
  timeoutMs: number;
  /** Called with each stdout line (progress lines included). */
  onLine?: (line: string) => void;
  /** Echo the child's output (besides the log) to this stream. */
  echo?: NodeJS.WritableStream;
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      /* already gone */
    }
  }
}

export function runChild(o: ChildOptions): Promise<ProcessOutcome> {
  const started = Date.now();
  const shown = [o.command, ...o.args].join(' ');
  try {
    mkdirSync(dirname(o.log), { recursive: true });
  } catch (e) {
    const why = `its log folder ${dirname(o.log)} could not be created (${(e as Error).message})`;
    return Promise.resolve({
      name: o.name,
      command: shown,
      exitCode: null,
      signal: null,
      timedOut: false,
      interrupted: false,
      spawnError: why,
      logError: why,
      durationMs: 0,
      log: o.log,
    });
  }
  const log = createWriteStream(o.log);
  // A log that cannot be written (disk full) must not crash the gate: the run goes on and the verdict says so.
  let logError: string | undefined;
  log.on('error', (e: Error) => {
    logError ??= e.message;
  });
  log.write(`$ ${shown}\n`);
  return new Promise((resolve) => {
    let timedOut = false;
    let interrupted = false;
    let settled = false;
    let child: ChildProcess;
    try {
      child = spawn(o.command, o.args, { cwd: o.cwd, env: o.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      log.end();
      resolve({
        name: o.name,
        command: shown,
        exitCode: null,
        signal: null,
        timedOut: false,
        interrupted: false,
        spawnError: (e as Error).message,
        durationMs: 0,
        log: o.log,
      });
      return;
    }
    // SIGINT first (what Ctrl-C sends: runners then stop their browsers and web server themselves), then SIGTERM,
    // then SIGKILL for whatever is left of the group
    const stop = (): void => {
      killGroup(child, 'SIGINT');
      setTimeout(() => {
        if (!settled) killGroup(child, 'SIGTERM');
      }, KILL_GRACE_MS / 2).unref();
      setTimeout(() => {
        if (!settled) killGroup(child, 'SIGKILL');
      }, KILL_GRACE_MS).unref();
    };
    const entry = {
      child,
      interrupt: () => {
        interrupted = true;
        stop();
      },
    };
    running.add(entry);
    const timer = setTimeout(() => {
      timedOut = true;
      log.write(`\n[gate] ${o.name}: time limit of ${o.timeoutMs / 1000} s reached: killing it\n`);
      stop();
    }, o.timeoutMs);
    let pending = '';
    child.stdout!.on('data', (buf: Buffer) => {
      const text = pending + buf.toString('utf8');
      const lines = text.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        o.onLine?.(line);
        if (!line.startsWith('@@tinydit-progress ')) {
          log.write(line + '\n');
          o.echo?.write(line + '\n');
        }
      }
    });
    child.stderr!.on('data', (buf: Buffer) => {
      log.write(buf);
      o.echo?.write(buf);
    });
    const finish = (exitCode: number | null, signal: NodeJS.Signals | null, spawnError?: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      running.delete(entry);
      if (pending) {
        o.onLine?.(pending);
        log.write(pending + '\n');
      }
      log.end(
        `\n[gate] ${o.name} ended: exit ${exitCode} signal ${signal}${timedOut ? ' (timed out)' : ''}${interrupted ? ' (interrupted)' : ''}\n`,
      );
      resolve({
        name: o.name,
        command: shown,
        exitCode,
        signal,
        timedOut,
        interrupted,
        durationMs: Date.now() - started,
        log: o.log,
        ...(spawnError ? { spawnError } : {}),
        ...(logError ? { logError } : {}),
      });
    };
    child.on('error', (e) => finish(null, null, e.message));
    child.on('close', (code, signal) => finish(code, signal));
  });
}

/** Stops every running child (Ctrl-C, SIGTERM of the gate). */
export function interruptChildren(): void {
  for (const r of running) r.interrupt();
}

export function childrenRunning(): number {
  return running.size;
}

/** A free TCP port on loopback for this run's static server (others may be running theirs). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export function machineInfo(): Record<string, unknown> {
  const c = cpus();
  return {
    hostname: hostname(),
    platform: platform(),
    release: release(),
    arch: arch(),
    cpus: c.length,
    cpuModel: c[0]?.model ?? 'unknown',
    totalMemMB: Math.round(totalmem() / 2 ** 20),
    freeMemMB: Math.round(freemem() / 2 ** 20),
    loadAverage: loadavg().map((x) => Math.round(x * 100) / 100),
    node: process.version,
  };
}

function packageVersion(root: string, name: string): string | null {
  const p = join(root, 'node_modules', name, 'package.json');
  if (!existsSync(p)) return null;
  try {
    return (JSON.parse(readFileSync(p, 'utf8')) as { version?: string }).version ?? null;
  } catch {
    return null;
  }
}

/** Versions of what runs the model: onnxruntime-node and -web, the test runners, PyTorch (from the manifest). */
export function packageVersions(root: string, manifest: unknown): EngineVersion[] {
  const out: EngineVersion[] = [{ runtime: 'node', name: 'Node.js', version: process.version, source: 'process.version' }];
  const pkgs: Array<[string, string]> = [
    ...RUNTIMES.flatMap((r): Array<[string, string]> => (r.ort ? [[r.name, r.ort]] : [])),
    ['gate', '@playwright/test'],
    ['gate', 'vitest'],
  ];
  for (const [runtime, name] of pkgs) {
    const v = packageVersion(root, name);
    if (v) out.push({ runtime, name, version: v, source: `node_modules/${name}/package.json` });
  }
  const prov = (manifest as { provenance?: Record<string, unknown> } | null)?.provenance;
  for (const k of ['torch', 'onnx', 'python', 'numpy']) {
    const v = prov?.[k];
    if (typeof v === 'string')
      out.push({ runtime: 'python', name: k === 'torch' ? 'PyTorch' : k, version: v, source: 'manifest.json provenance' });
  }
  return out;
}
