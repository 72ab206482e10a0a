/**
 * The benchmark as text tables: one column per runtime configuration (runtime x threads), one row per figure;
 * each cell is the median with its interquartile range, and for browsers the ratio to Node measured in the
 * same run. Also used for docs/performance.md (markdown).
 */
import type { BenchReport } from './run.js';
import type { Figure, RuntimeName } from './plan.js';
import { fmtMs } from './stats.js';
import { BENCH_RUNTIMES } from '../runtimes/registry.js';

interface Column {
  key: string;
  runtime: RuntimeName;
  requested: number | 'default';
  label: string;
}

function columns(figures: Figure[]): Column[] {
  const order: readonly RuntimeName[] = BENCH_RUNTIMES;
  const seen = new Map<string, Column>();
  for (const f of figures) {
    const key = `${f.runtime}|${f.requestedThreads}`;
    if (seen.has(key)) continue;
    const t = f.requestedThreads === 'default' ? `${f.threads}t (app default)` : `${f.threads}t`;
    seen.set(key, { key, runtime: f.runtime, requested: f.requestedThreads, label: `${f.runtime} ${t}` });
  }
  return [...seen.values()].sort(
    (a, b) =>
      order.indexOf(a.runtime) - order.indexOf(b.runtime) ||
      (a.requested === 'default' ? 1 : 0) - (b.requested === 'default' ? 1 : 0) ||
      Number(a.requested) - Number(b.requested),
  );
}

interface Row {
  label: string;
  pick: (f: Figure) => boolean;
  value?: (f: Figure) => number;
}

function cell(f: Figure | undefined, row: Row): string {
  if (!f) return '-';
  if (row.value) return fmtMs(row.value(f));
  let s = `${fmtMs(f.summary.median)} ±${fmtMs(f.summary.iqr / 2).replace(/ ms$/, '')}`;
  if (f.ratioToNode) s += ` (x${f.ratioToNode.ratio.toFixed(2)})`;
  return s;
}

function rowsFor(figures: Figure[]): Array<{ title: string; rows: Row[] }> {
  const variants = [...new Set(figures.map((f) => f.variant))];
  const stepRows: Row[] = [];
  const stepKeys = new Map<string, Figure>();
  for (const f of figures) if (f.kind === 'step') stepKeys.set(`${f.variant}|${f.batch}`, f);
  for (const f of stepKeys.values()) {
    const what =
      f.graphBatch === 2 && f.batch === 1
        ? 'batch 1, graph runs 2 (baked guidance)'
        : f.batch === 2
          ? 'batch 2 (guidance in TS)'
          : 'batch 1 (no guidance)';
    stepRows.push({ label: `${f.variant}, ${what}`, pick: (g) => g.kind === 'step' && g.variant === f.variant && g.batch === f.batch });
  }
  const gen = figures.filter((f) => f.kind === 'generation');
  const genVariants = [...new Set(gen.map((f) => f.variant))];
  const steps = gen[0]?.steps;
  const breeds = gen[0]?.extra?.['breeds'];
  const genRows: Row[] = [];
  for (const v of genVariants) {
    genRows.push({ label: `${v}: one image`, pick: (g) => g.kind === 'generation' && g.variant === v });
    if ((breeds ?? 1) > 1)
      genRows.push({
        label: `${v}: all ${breeds} breeds, one after another`,
        pick: (g) => g.kind === 'generation' && g.variant === v,
        value: (g) => g.extra?.['totalAllBreedsMs'] ?? NaN,
      });
  }
  const loadRows: Row[] = variants
    .filter((v) => figures.some((f) => f.kind === 'load' && f.variant === v))
    .map((v) => ({ label: `${v}`, pick: (g: Figure) => g.kind === 'load' && g.variant === v }));
  return [
    { title: 'Per-step latency (time in session.run per sampler step), median ±IQR/2 (x ratio to Node)', rows: stepRows },
    { title: `Full generation at ${steps} steps, wall time, median ±IQR/2 (x ratio to Node)`, rows: genRows },
    { title: 'Model load (read or fetch + session creation), median ±IQR/2', rows: loadRows },
  ];
}

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

export function textTables(report: BenchReport): string {
  const cols = columns(report.figures);
  const out: string[] = [];
  for (const section of rowsFor(report.figures)) {
    if (!section.rows.length) continue;
    const header = ['', ...cols.map((c) => c.label)];
    const lines = section.rows.map((r) => [
      r.label,
      ...cols.map((c) =>
        cell(
          report.figures.find((f) => `${f.runtime}|${f.requestedThreads}` === c.key && r.pick(f)),
          r,
        ),
      ),
    ]);
    const widths = header.map((_, i) => Math.max(header[i]!.length, ...lines.map((l) => l[i]!.length)));
    out.push(section.title);
    out.push(header.map((h, i) => pad(h, widths[i]!)).join('  '));
    for (const l of lines) out.push(l.map((x, i) => pad(x, widths[i]!)).join('  '));
    out.push('');
  }
  if (report.memory.length) {
    out.push('Peak memory, MiB (Node: maxRSS of its process; browsers: summed RSS/PSS of the engine process tree, largest single process)');
    for (const m of report.memory) out.push(`  ${m.label}: ${m.text}`);
    out.push('');
  }
  return out.join('\n');
}

export function markdownTables(report: BenchReport): string {
  const cols = columns(report.figures);
  const out: string[] = [];
  for (const section of rowsFor(report.figures)) {
    if (!section.rows.length) continue;
    out.push(`**${section.title}**`, '');
    out.push(`| | ${cols.map((c) => c.label).join(' | ')} |`);
    out.push(`|---|${cols.map(() => '---').join('|')}|`);
    for (const r of section.rows) {
      out.push(
        `| ${r.label} | ${cols
          .map((c) =>
            cell(
              report.figures.find((f) => `${f.runtime}|${f.requestedThreads}` === c.key && r.pick(f)),
              r,
            ),
          )
          .join(' | ')} |`,
      );
    }
    out.push('');
  }
  if (report.memory.length) {
    out.push('**Peak memory (MiB)**', '', '| process | peak |', '|---|---|');
    for (const m of report.memory) out.push(`| ${m.label} | ${m.text} |`);
    out.push('');
  }
  return out.join('\n');
}
