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
    out.push({ pid: p, name: st.name, rssKiB: st.rss, hwmKiB: st.hwm, pssKiB: readPss(p) });
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

/** Samples the tree every intervalMs until stop(). */
export class TreeMemorySampler {
  private timer: ReturnType<typeof setInterval> | null = null;
  private peakRss = 0;
  private peakPss: number | null = null;
  private hwm = new Map<number, { name: string; kib: number }>();
  private baseline: number | null = null;
  private seen = new Set<number>();
  private n = 0;

  constructor(
    private readonly root = process.pid,
    private readonly exclude = /^(Xvfb|node)$/,
    private readonly intervalMs = 200,
  ) {}

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

  start(): this {
    this.sampleNow();
    this.timer = setInterval(() => this.sampleNow(), this.intervalMs);
    this.timer.unref?.();
    return this;
  }

  stop(): TreeMemory {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
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
