/**
 * Comparing a benchmark with earlier ones (--baseline bench.json, repeatable). A figure is a slowdown when its
 * median is above the baselines' median by more than the run-to-run spread:
 *   spread = max(range of the baseline medians (two or more baselines), MIN_SLOWDOWN_REL x baseline when there
 *                is only one, the interquartile range of this run, the largest interquartile range of the baselines).
 * Timings from a busy machine (1-minute load average above the core count, in this run or a baseline) are
 * compared but marked: a slowdown there may be the load, not the model. A baseline from another CPU is compared
 * too, but said to be indicative only.
 */
import type { Figure } from './plan.js';
import type { MachineInfo } from './machine.js';

/**
 * Run-to-run band with a single baseline, as a fraction of it: a conventional band for CPU timings on a dedicated
 * machine, not measured on one. Measured here (2 shared cores, load ~11): two back-to-back Node runs moved
 * per-step medians by -28% to +86%, which no band covers (hence the busy mark). Two or more baselines replace this
 * band with their own measured range.
 */
export const MIN_SLOWDOWN_REL = 0.1;

export interface BaselineComparison {
  id: string;
  /** Median of the baselines' medians. */
  baselineMedian: number;
  baselineMedians: number[];
  currentMedian: number;
  /** current / baseline */
  ratio: number;
  /** The spread the change is measured against, ms. */
  spread: number;
  spreadBasis: 'baseline-range' | 'default-band' | 'iqr';
  slowdown: boolean;
  faster: boolean;
}

export interface BaselineReport {
  files: string[];
  sameMachine: boolean;
  machineNote: string | null;
  /** Set when this run or a baseline ran with the 1-minute load above the core count. */
  busyNote: string | null;
  compared: BaselineComparison[];
  slowdowns: string[];
  /** Figures of the baselines this run did not measure. */
  missing: string[];
}

export interface BenchLike {
  machine?: MachineInfo;
  figures?: Figure[];
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

const busy = (m: MachineInfo | undefined): boolean => !!m && (m.loadAverageStart[0] ?? 0) > m.cores;

export function compareWithBaseline(
  files: string[],
  current: { machine: MachineInfo; figures: Figure[] },
  baselines: BenchLike[],
): BaselineReport {
  const compared: BaselineComparison[] = [];
  for (const f of current.figures) {
    const base = baselines.map((b) => (b.figures ?? []).find((g) => g.id === f.id)).filter((g): g is Figure => !!g);
    if (base.length === 0) continue;
    const medians = base.map((g) => g.summary.median);
    const ref = median(medians);
    const runToRun = medians.length >= 2 ? Math.max(...medians) - Math.min(...medians) : MIN_SLOWDOWN_REL * ref;
    const iqr = Math.max(f.summary.iqr, ...base.map((g) => g.summary.iqr));
    const spread = Math.max(runToRun, iqr);
    const basis = iqr >= runToRun ? 'iqr' : medians.length >= 2 ? 'baseline-range' : 'default-band';
    const delta = f.summary.median - ref;
    compared.push({
      id: f.id,
      baselineMedian: ref,
      baselineMedians: medians,
      currentMedian: f.summary.median,
      ratio: f.summary.median / ref,
      spread,
      spreadBasis: basis,
      slowdown: delta > spread,
      faster: -delta > spread,
    });
  }
  const cm = current.machine;
  const others = baselines.map((b) => b.machine);
  const sameMachine = others.every((bm) => !!bm && bm.cpuModel === cm.cpuModel && bm.cores === cm.cores);
  const busyRuns = [
    busy(cm) ? `this run (load ${cm.loadAverageStart[0]} on ${cm.cores} cores)` : null,
    ...others.map((bm, i) => (busy(bm) ? `${files[i]} (load ${bm!.loadAverageStart[0]} on ${bm!.cores} cores)` : null)),
  ].filter(Boolean);
  const curIds = new Set(current.figures.map((f) => f.id));
  const baseIds = new Set(baselines.flatMap((b) => (b.figures ?? []).map((f) => f.id)));
  return {
    files,
    sameMachine,
    machineNote: sameMachine
      ? null
      : `a baseline was measured on ${others.map((bm) => (bm ? `${bm.cpuModel}, ${bm.cores} cores` : 'an unrecorded machine')).join('; ')}, this run on ` +
        `${cm.cpuModel}, ${cm.cores} cores: the comparison is indicative only`,
    busyNote: busyRuns.length
      ? `the machine was busy in ${busyRuns.join(', ')}: a slowdown flagged here may be that load, not the model`
      : null,
    compared,
    slowdowns: compared.filter((c) => c.slowdown).map((c) => c.id),
    missing: [...baseIds].filter((id) => !curIds.has(id)),
  };
}
