/**
 * The speed gate: a bundle's manifest may state a latency budget (manifest.budget, harness/model/bundle.ts
 * SpeedBudget; docs/performance.md). The benchmark's full-generation figures are judged against it, one check
 * record per budgeted runtime (check 'speed'), each carrying the machine and the Node baseline measured in the
 * same run: an absolute time means nothing without them.
 *
 * Pass: the median wall time of one full generation (over the breeds generated) is within the budget. A
 * budgeted runtime the benchmark did not measure (engine missing, load failed) is an error, never a pass. With
 * `npm run bench -- --runtimes ...` only those budgeted runtimes are judged; the gate passes the runtimes of its
 * scope and its verdict requires a speed record for each budgeted runtime in that scope (harness/gate/verdict.ts).
 */
import { caseId } from '../core/case-id.js';
import type { SpeedBudget } from '../model/bundle.js';
import { recordCheck, type CheckRecord, type Metric } from '../core/record-check.js';
import type { MachineInfo } from './machine.js';
import type { ConfigError, Figure, RuntimeName } from './plan.js';

export interface ResolvedBudget {
  limits: Partial<Record<RuntimeName, number>>;
  steps: number;
  variant: string;
  /** Browser threads asked for (null: the web app's default); Node uses this or 1. */
  threads: number | null;
  reason: string | null;
}

export function resolveBudget(budget: SpeedBudget | undefined, variants: string[], defaultSteps: number): ResolvedBudget | null {
  if (!budget) return null;
  const variant = budget.variant ?? (variants.includes('quantized') ? 'quantized' : 'guided');
  return {
    limits: budget.fullGenerationMs as Partial<Record<RuntimeName, number>>,
    steps: budget.steps ?? defaultSteps,
    variant,
    threads: budget.threads ?? null,
    reason: budget.reason ?? null,
  };
}

export interface BudgetJudgement {
  id: string;
  runtime: RuntimeName;
  status: 'pass' | 'fail' | 'error';
  budgetMs: number;
  figure: Figure | null;
  nodeBaseline: Figure | null;
  message: string;
}

/** The generation figure the budget reads for a runtime: its variant and steps, and its thread setting. */
export function budgetFigure(b: ResolvedBudget, runtime: RuntimeName, figures: Figure[]): Figure | null {
  const gen = figures.filter((f) => f.kind === 'generation' && f.runtime === runtime && f.variant === b.variant && f.steps === b.steps);
  if (runtime === 'node') return gen.find((f) => f.threads === (b.threads ?? 1)) ?? null;
  if (b.threads === null) return gen.find((f) => f.requestedThreads === 'default') ?? null;
  return gen.find((f) => f.requestedThreads === b.threads) ?? null;
}

export function budgetCaseId(b: ResolvedBudget, runtime: RuntimeName): string {
  return caseId('speed', {
    runtime,
    variant: b.variant,
    steps: b.steps,
    threads: b.threads ?? (runtime === 'node' ? 1 : 'default'),
  });
}

export function judgeBudget(b: ResolvedBudget, figures: Figure[], errors: ConfigError[] = []): BudgetJudgement[] {
  const nodeBaseline =
    figures.find(
      (f) => f.kind === 'generation' && f.runtime === 'node' && f.variant === b.variant && f.steps === b.steps && f.threads === 1,
    ) ?? null;
  const out: BudgetJudgement[] = [];
  for (const [rt, limit] of Object.entries(b.limits) as Array<[RuntimeName, number]>) {
    const id = budgetCaseId(b, rt);
    const fig = budgetFigure(b, rt, figures);
    if (!fig) {
      const why = errors.filter((e) => e.runtime === rt).map((e) => `${e.variant ?? 'engine'} at ${e.stage}: ${e.message.split('\n')[0]}`);
      out.push({
        id,
        runtime: rt,
        status: 'error',
        budgetMs: limit,
        figure: null,
        nodeBaseline,
        message:
          `${id}: no full-generation figure for ${rt} (${b.variant}, ${b.steps} steps, threads ${b.threads ?? 'default'}): ` +
          (why.length ? why.join('; ') : `the benchmark did not measure ${rt}; run npm run bench with that runtime`),
      });
      continue;
    }
    const m = fig.summary.median;
    const base = nodeBaseline ? `; Node (1 thread) ${nodeBaseline.summary.median.toFixed(0)} ms on the same machine` : '';
    const pass = m <= limit;
    out.push({
      id,
      runtime: rt,
      status: pass ? 'pass' : 'fail',
      budgetMs: limit,
      figure: fig,
      nodeBaseline,
      message: pass
        ? `${rt}: one ${b.variant} generation at ${b.steps} steps takes ${m.toFixed(0)} ms (median of ${fig.summary.n}, IQR ${fig.summary.iqr.toFixed(0)}), within the budget of ${limit} ms${base}`
        : `${rt}: one ${b.variant} generation at ${b.steps} steps takes ${m.toFixed(0)} ms (median of ${fig.summary.n}, IQR ${fig.summary.iqr.toFixed(0)}), ` +
          `${(m / limit).toFixed(2)}x the budget of ${limit} ms (manifest budget.fullGenerationMs.${rt})${base}`,
    });
  }
  return out;
}

/** Check records of the judgements; self-test ids (mutant=...) invert: 'pass' means the slow model was caught. */
export function budgetRecords(
  judgements: BudgetJudgement[],
  machine: MachineInfo,
  opts: { selfTest?: string; engineVersions?: Record<string, string> } = {},
): CheckRecord[] {
  return judgements.map((j) => {
    const f = j.figure;
    const metrics: Record<string, Metric> = {
      fullGenerationMsMedian: f ? f.summary.median : null,
      fullGenerationMsIqr: f ? f.summary.iqr : null,
      fullGenerationMsMin: f ? f.summary.min : null,
      fullGenerationMsMax: f ? f.summary.max : null,
      samples: f ? f.summary.n : 0,
      threads: f ? f.threads : null,
      variant: f ? f.variant : null,
      steps: f ? (f.steps ?? null) : null,
      budgetRatio: f ? f.summary.median / j.budgetMs : null,
      nodeBaselineMsMedian: j.nodeBaseline ? j.nodeBaseline.summary.median : null,
      nodeBaselineId: j.nodeBaseline ? j.nodeBaseline.id : null,
      ratioToNode: f && j.nodeBaseline ? f.summary.median / j.nodeBaseline.summary.median : null,
      cpuModel: machine.cpuModel,
      cores: machine.cores,
      os: machine.os,
      loadAverage1m: machine.loadAverageStart[0] ?? null,
      node: machine.node,
      ...(opts.engineVersions?.[j.runtime] ? { engine: j.runtime, engineVersion: opts.engineVersions[j.runtime]! } : {}),
    };
    if (opts.selfTest) {
      const caught = j.status === 'fail';
      return {
        id: `${j.id},mutant=${opts.selfTest}`,
        check: 'speed-mutant',
        runtime: j.runtime,
        status: caught ? 'pass' : 'fail',
        metrics,
        threshold: { fullGenerationMs: j.budgetMs },
        message: caught
          ? `rejected as expected: ${j.message}`
          : `the budget check PASSED a slowed model: it cannot see a slowdown (${j.message})`,
      };
    }
    return {
      id: j.id,
      check: 'speed',
      runtime: j.runtime,
      status: j.status,
      metrics,
      threshold: { fullGenerationMs: j.budgetMs },
      message: j.message,
    };
  });
}

export function writeBudgetRecords(records: CheckRecord[], dir?: string): void {
  for (const r of records) recordCheck(r, dir);
}
