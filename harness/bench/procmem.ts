/**
 * Peak memory of a browser's process tree, from /proc (Linux): every descendant of this Node process that is
 * not excluded (Xvfb, the X server MiniBrowser draws on, is not the engine). Sampled on a timer: the summed
 * RSS and PSS (proportional set size: shared pages split between the processes that map them, so the sum over a
 * tree does not count shared libraries twice), plus each process's own kernel-kept peak (VmHWM), which catches
 * a peak between two samples.
 */
import { readdirSync, readFileSync } from 'node:fs';

export interface ProcSample {
  pid: number;
  /** Parent pid (from the same read of /proc/<pid>/status). */
  ppid: number;
  name: string;
  rssKiB: number;
  hwmKiB: number;
  pssKiB: number | null;
}

export interface TreeMemory {
  /** Peak over the samples of the summed RSS of the tree, MiB. */
  peakRssMiB: number;
  /** Peak over the samples of the summed PSS, MiB (null where smaps_rollup is unreadable). */
  peakPssMiB: number | null;
  /** The largest per-process peak RSS (VmHWM) seen, MiB, and that process's name. */
  maxProcessHwmMiB: number;
  maxProcessName: string;
  /** Summed RSS at the first sample (the engine before any model was loaded), MiB. */
  baselineRssMiB: number;
  processes: number;
  samples: number;
}

function readProcStatus(pid: number): { name: string; ppid: number; rss: number; hwm: number } | null {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (k: string): string | undefined => new RegExp(`^${k}:\\s*(.*)$`, 'm').exec(s)?.[1];
    return {
      name: field('Name') ?? '?',
      ppid: Number(field('PPid') ?? -1),
      rss: parseInt(field('VmRSS') ?? '0', 10) || 0,
      hwm: parseInt(field('VmHWM') ?? '0', 10) || 0,
    };
  } catch {
    return null;
  }
}

function readPss(pid: number): number | null {
  try {
    const m = /^Pss:\s*(\d+)\s*kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** Descendants of root (not root itself), with their memory. */
export function treeSample(root: number, exclude: RegExp): ProcSample[] {
  let pids: number[];
  try {
    pids = readdirSync('/proc')
      .filter((d) => /^\d+$/.test(d))
      .map(Number);
  } catch {
    return [];
  }
  const info = new Map<number, NonNullable<ReturnType<typeof readProcStatus>>>();
  for (const p of pids) {
    const st = readProcStatus(p);
    if (st) info.set(p, st);
  }
  const children = new Map<number, number[]>();
  for (const [p, st] of info) {
    const list = children.get(st.ppid) ?? [];
    list.push(p);
    children.set(st.ppid, list);
  }
  const out: ProcSample[] = [];
  const queue = [...(children.get(root) ?? [])];
  while (queue.length) {
    const p = queue.shift()!;
    const st = info.get(p);
    if (!st) continue;
    queue.push(...(children.get(p) ?? []));
    if (exclude.test(st.name)) continue;
    out.push({ pid: p, ppid: st.ppid, name: st.name, rssKiB: st.rss, hwmKiB: st.hwm, pssKiB: readPss(p) });
  }
  return out;
}

export const procAvailable = (): boolean => {
  try {
    readFileSync(`/proc/${process.pid}/status`, 'utf8');
    return true;
  } catch {
    return false;
  }
};

/** A sampleNow() run at start(), then every intervalMs until stopTimer(). */
abstract class IntervalSampler {
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(protected readonly intervalMs: number) {}

  abstract sampleNow(): void;

  start(): this {
    this.sampleNow();
    this.timer = setInterval(() => this.sampleNow(), this.intervalMs);
    this.timer.unref?.();
    return this;
  }

  protected stopTimer(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}

/** Samples the tree every intervalMs until stop(). */
export class TreeMemorySampler extends IntervalSampler {
  private peakRss = 0;
  private peakPss: number | null = null;
  private hwm = new Map<number, { name: string; kib: number }>();
  private baseline: number | null = null;
  private seen = new Set<number>();
  private n = 0;

  constructor(
    private readonly root = process.pid,
    private readonly exclude = /^(Xvfb|node)$/,
    intervalMs = 200,
  ) {
    super(intervalMs);
  }

  sampleNow(): void {
    const s = treeSample(this.root, this.exclude);
    if (s.length === 0) return;
    this.n++;
    const rss = s.reduce((a, p) => a + p.rssKiB, 0);
    const pssKnown = s.every((p) => p.pssKiB !== null);
    const pss = pssKnown ? s.reduce((a, p) => a + (p.pssKiB ?? 0), 0) : null;
    if (this.baseline === null) this.baseline = rss;
    this.peakRss = Math.max(this.peakRss, rss);
    if (pss !== null) this.peakPss = Math.max(this.peakPss ?? 0, pss);
    for (const p of s) {
      this.seen.add(p.pid);
      const prev = this.hwm.get(p.pid);
      if (!prev || p.hwmKiB > prev.kib) this.hwm.set(p.pid, { name: p.name, kib: p.hwmKiB });
    }
  }

  stop(): TreeMemory {
    this.stopTimer();
    this.sampleNow();
    let max = { name: '?', kib: 0 };
    for (const v of this.hwm.values()) if (v.kib > max.kib) max = v;
    const mib = (k: number): number => k / 1024;
    return {
      peakRssMiB: mib(this.peakRss),
      peakPssMiB: this.peakPss === null ? null : mib(this.peakPss),
      maxProcessHwmMiB: mib(max.kib),
      maxProcessName: max.name,
      baselineRssMiB: mib(this.baseline ?? 0),
      processes: this.seen.size,
      samples: this.n,
    };
  }
}

// ---------------------------------------------------------------------------------------------------------
// Peak memory per runtime of a whole gate run (its verdict's `peakMemory`)

/**
 * Which runtime a process belongs to, from its command line: the first rule that matches names it, and a process
 * no rule matches belongs to its parent's runtime (a browser's renderer and GPU processes, a vitest worker's
 * threads). Order matters: Chromium with WebGPU flags is the chromium-webgpu runtime.
 */
export const RUNTIME_RULES: ReadonlyArray<{ runtime: string; exe: RegExp; cmd?: RegExp }> = [
  // the executable (argv[0]) decides, never an argument: the gate's and Playwright's own command lines name the
  // projects (--project=chromium) without being a browser
  { runtime: 'chromium-webgpu', exe: /chrom(e|ium)|headless_shell/i, cmd: /--enable-unsafe-webgpu/ },
  { runtime: 'chromium', exe: /chrom(e|ium)|headless_shell/i },
  { runtime: 'firefox', exe: /firefox/i },
  { runtime: 'webkit', exe: /webkit|MiniBrowser|pw_run/i },
  // the Node suites: vitest and its workers (node with a script under node_modules/vitest or .bin/vitest)
  { runtime: 'node', exe: /(^|\/)node$/, cmd: /[/\\]vitest([/\\]|\s|$)/ },
];

export interface RuntimeMemory {
  /** Peak over the samples of the summed RSS of the runtime's processes, MiB. */
  peakRssMiB: number;
  /** The largest per-process peak RSS (VmHWM) seen, MiB. */
  maxProcessMiB: number;
  /** Processes seen. */
  processes: number;
}

export interface RunMemory {
  format: 'tinydit-run-memory/1';
  intervalMs: number;
  samples: number;
  rules: string;
  runtimes: Record<string, RuntimeMemory>;
}

function readCmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return '';
  }
}

/** One sample: the descendants of root, each with the runtime RUNTIME_RULES gives it (null: none). */
export function runtimeSample(root: number, rules = RUNTIME_RULES): Array<ProcSample & { runtime: string | null }> {
  const procs = treeSample(root, /^$/);
  const byPid = new Map(procs.map((p) => [p.pid, p]));
  const cls = new Map<number, string | null>();
  const classify = (pid: number): string | null => {
    if (cls.has(pid)) return cls.get(pid)!;
    const argv = readCmdline(pid);
    const exe = argv.split(' ')[0] ?? '';
    const own = rules.find((r) => r.exe.test(exe) && (!r.cmd || r.cmd.test(argv)))?.runtime;
    const ppid = byPid.get(pid)?.ppid;
    const c = own ?? (ppid !== undefined && byPid.has(ppid) ? classify(ppid) : null);
    cls.set(pid, c);
    return c;
  };
  return procs.map((p) => ({ ...p, runtime: classify(p.pid) }));
}

/** Samples a run's process tree every intervalMs and keeps each runtime's peak (RUNTIME_RULES). */
export class RunMemorySampler extends IntervalSampler {
  private peak = new Map<string, number>();
  private hwm = new Map<string, number>();
  private seen = new Map<string, Set<number>>();
  private n = 0;

  constructor(
    private readonly root = process.pid,
    intervalMs = 1000,
  ) {
    super(intervalMs);
  }

  sampleNow(): void {
    const sums = new Map<string, number>();
    for (const p of runtimeSample(this.root)) {
      if (!p.runtime) continue;
      sums.set(p.runtime, (sums.get(p.runtime) ?? 0) + p.rssKiB);
      this.hwm.set(p.runtime, Math.max(this.hwm.get(p.runtime) ?? 0, p.hwmKiB));
      const s = this.seen.get(p.runtime) ?? new Set<number>();
      s.add(p.pid);
      this.seen.set(p.runtime, s);
    }
    for (const [r, kib] of sums) this.peak.set(r, Math.max(this.peak.get(r) ?? 0, kib));
    this.n++;
  }

  stop(): RunMemory {
    this.stopTimer();
    const runtimes: Record<string, RuntimeMemory> = {};
    for (const [r, kib] of [...this.peak].sort((a, b) => a[0].localeCompare(b[0])))
      runtimes[r] = { peakRssMiB: kib / 1024, maxProcessMiB: (this.hwm.get(r) ?? 0) / 1024, processes: this.seen.get(r)?.size ?? 0 };
    return {
      format: 'tinydit-run-memory/1',
      intervalMs: this.intervalMs,
      samples: this.n,
      rules: RUNTIME_RULES.map((r) => `${r.runtime}: ${r.exe.source}${r.cmd ? ` with ${r.cmd.source}` : ''}`).join('; '),
      runtimes,
    };
  }
}

/** One line per run: "node 812 MiB, chromium 1534 MiB (largest process 706), ...". */
export function describeRunMemory(m: RunMemory): string {
  const parts = Object.entries(m.runtimes).map(
    ([r, v]) => `${r} ${v.peakRssMiB.toFixed(0)} MiB (largest process ${v.maxProcessMiB.toFixed(0)})`,
  );
  return parts.length
    ? `peak RSS per runtime: ${parts.join(', ')}; ${m.samples} samples every ${m.intervalMs} ms`
    : `no runtime process seen in ${m.samples} samples`;
}
