/**
 * reports/<run>/index.html: the page a person opens after a gate run. Self-contained and offline: inline CSS
 * and JS, Chart.js inlined from node_modules, every image a data: URI (evidence PNGs are decoded and stored at
 * the model's own resolution, shown pixelated). Sections, in reading order:
 *   verdict (and every reason), failed checks with their messages and replay commands, drift against the
 *   baseline, the cross-runtime agreement matrix (agreement.ts), per engine the 13 breeds' generated images
 *   beside goldens and diffs (records' artifacts named generated.png, golden.png, diff.png), the judge's view
 *   (verdict.judge: per-breed accuracy and KID against the training data, the confusion matrix, the grid of judged
 *   images and the sheet of the misjudged ones, or an explicit 'missing'), error-versus-step
 *   curves of the trajectories (trajectory-errors*.json), per-breed statistics against their reference range
 *   (records with z.<f> + absZ.<f>, or <f> + <f>.max/.min), the trend of the main metrics over the history,
 *   engines and machine, self-tests, every check, and the runners' own reports.
 * Nothing here decides anything: it shows verdict.json and the files of the run folder.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../core/config.js';
import { decodePNG, encodePNG, type RgbaImage } from '../core/png.js';
import { agreementMatrix, RUNTIME_LABEL, type AgreementMatrix } from './agreement.js';
import { isMainMetric, type HistoryEntry } from './metrics.js';
import { idParams, num } from './records.js';
import type { JudgeView, Verdict, VerdictCheck } from './types.js';
import { runtimeRank } from '../runtimes/registry.js';

export interface ReportOptions {
  /** Earlier runs (history.jsonl entries), oldest first, this run last when it entered the history. */
  history?: HistoryEntry[];
  /** Chart.js UMD source; default node_modules/chart.js/dist/chart.umd.js. */
  chartJs?: string;
}

const esc = (s: unknown): string =>
  String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

export function fmtNum(v: unknown): string {
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) return String(v);
    if (Number.isInteger(v) && Math.abs(v) < 1e7) return String(v);
    const a = Math.abs(v);
    return a !== 0 && (a < 1e-3 || a >= 1e5)
      ? v.toExponential(2)
      : v
          .toFixed(a < 1 ? 4 : 3)
          .replace(/0+$/, '')
          .replace(/\.$/, '');
  }
  return String(v);
}

function chartJsSource(explicit?: string): string {
  if (explicit !== undefined) return explicit;
  const p = join(REPO_ROOT, 'node_modules/chart.js/dist/chart.umd.js');
  return existsSync(p) ? readFileSync(p, 'utf8') : '/* chart.js not installed: charts are not drawn */';
}

/** Safe to put inside <script>: no closing tags, no U+2028. */
function jsonForScript(v: unknown): string {
  return JSON.stringify(v, (_k, x) => (typeof x === 'number' && !Number.isFinite(x) ? null : x))
    .replace(/</g, '\\u003c')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

// ---------------------------------------------------------------------------------------------------------
// Evidence images

/** Reads an evidence PNG and returns it as a data: URI at the model's resolution (evidence is upscaled). */
function evidenceUri(runDir: string, rel: string, imageSize: number | null, cache: Map<string, string | null>): string | null {
  if (cache.has(rel)) return cache.get(rel)!;
  const path = join(runDir, rel);
  let uri: string | null = null;
  if (existsSync(path)) {
    try {
      const bytes = readFileSync(path);
      let img: RgbaImage = decodePNG(bytes, path);
      const f = imageSize && img.width % imageSize === 0 && img.width / imageSize > 1 ? img.width / imageSize : 1;
      if (f > 1 && img.height % f === 0) {
        const w = img.width / f;
        const h = img.height / f;
        const data = new Uint8ClampedArray(w * h * 4);
        for (let y = 0; y < h; y++)
          for (let x = 0; x < w; x++)
            data.set(img.data.subarray((y * f * img.width + x * f) * 4, (y * f * img.width + x * f) * 4 + 4), (y * w + x) * 4);
        img = { width: w, height: h, data };
        uri = `data:image/png;base64,${Buffer.from(encodePNG(img)).toString('base64')}`;
      } else {
        uri = `data:image/png;base64,${bytes.toString('base64')}`;
      }
    } catch {
      uri = null;
    }
  }
  cache.set(rel, uri);
  return uri;
}

interface ImageCase {
  id: string;
  breed: string;
  seed: string;
  status: string;
  gen?: string;
  golden?: string;
  diff?: string;
  message: string;
}

function imageGroups(checks: VerdictCheck[]): Map<string, ImageCase[]> {
  const groups = new Map<string, ImageCase[]>();
  const rank = (r: string): number => {
    return runtimeRank(r);
  };
  checks = [...checks].sort((a, b) => rank(a.runtime) - rank(b.runtime));
  for (const c of checks) {
    if (c.selfTest || c.source !== 'record' || c.artifacts.length === 0) continue;
    const find = (n: string): string | undefined => c.artifacts.find((a) => a.endsWith(`/${n}.png`) || a === `${n}.png`);
    const gen = find('generated');
    if (!gen) continue;
    const p = idParams(c.id);
    if (p.breed === undefined) continue;
    const label = `${RUNTIME_LABEL[c.runtime] ?? c.runtime} · ${c.check}${p.variant ? ` · ${p.variant}` : ''}${p.steps && p.steps !== 'final' ? ` · ${p.steps} steps` : ''}`;
    const list = groups.get(label) ?? [];
    const golden = find('golden');
    const diff = find('diff');
    list.push({
      id: c.id,
      breed: p.breed,
      seed: p.seed ?? '',
      status: c.status,
      gen,
      ...(golden ? { golden } : {}),
      ...(diff ? { diff } : {}),
      message: c.message,
    });
    groups.set(label, list);
  }
  return groups;
}

function renderImages(v: Verdict, runDir: string, breeds: string[], imageSize: number | null): string {
  const groups = imageGroups(v.checks);
  if (groups.size === 0) return '<p class="na">No image evidence in this run (no record with generated/golden/diff PNG artifacts).</p>';
  const cache = new Map<string, string | null>();
  const order = (b: string): number => {
    const i = breeds.indexOf(b);
    return i < 0 ? 999 : i;
  };
  const out: string[] = [];
  for (const [label, cases] of groups) {
    // one seed per grid row set: the first seed of the group (the suites' golden seed), others below
    const seeds = [...new Set(cases.map((c) => c.seed))];
    for (const seed of seeds) {
      const row = cases.filter((c) => c.seed === seed).sort((a, b) => order(a.breed) - order(b.breed));
      const cell = (c: ImageCase, which: 'gen' | 'golden' | 'diff'): string => {
        const rel = c[which];
        if (!rel) return '<td class="na">—</td>';
        const uri = evidenceUri(runDir, rel, imageSize, cache);
        return uri
          ? `<td><img src="${uri}" alt="${esc(`${which} ${c.breed}`)}" title="${esc(`${c.id}\n${rel}`)}"></td>`
          : `<td class="bad" title="${esc(rel)}">missing</td>`;
      };
      out.push(`<h3>${esc(label)}${seed ? ` · seed ${esc(seed)}` : ''} <span class="muted">(${row.filter((c) => c.status === 'pass').length}/${row.length} pass)</span></h3>
<div class="scroll"><table class="grid" style="width:${80 + 72 * row.length}px"><thead><tr><th></th>${row.map((c) => `<th class="${c.status === 'pass' ? 'ok' : 'bad'}" title="${esc(c.message)}">${esc(c.breed)}</th>`).join('')}</tr></thead><tbody>
<tr><th>generated</th>${row.map((c) => cell(c, 'gen')).join('')}</tr>
<tr><th>golden</th>${row.map((c) => cell(c, 'golden')).join('')}</tr>
<tr><th>diff</th>${row.map((c) => cell(c, 'diff')).join('')}</tr></tbody></table></div>`);
    }
  }
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------------------------
// The judge's view (verdict.judge: harness/gate/judge.ts)

export const JUDGE_EXPLAINED =
  "The judge is a small breed classifier the gate trained on the model's training data and pins by sha256 " +
  '(a yardstick of the dataset, never of the bundle); it scores images the gate samples itself from the guided ONNX: per breed, whether ' +
  "the breed asked for is its first or second choice (top-2), how far the set is from that breed's training images (KID; limit: the " +
  "wrong-breed floor, the closest another breed's real images come) and whether the images look like images at all (validity).";

function judgeBreedTable(j: JudgeView): string {
  const cls = (pass: boolean): string => (pass ? 'ok' : 'bad');
  const rows = j.perBreed
    .map(
      (b) =>
        `<tr><th class="${b.pass ? '' : 'bad'}">${esc(b.breed)}</th><td>${esc(fmtNum(b.top1))}</td>` +
        `<td class="${cls(b.accuracyPass)}" title="${esc(`top-2 ${b.top2} ${b.accuracyPass ? '>=' : '<'} ${b.top2Limit}`)}">${esc(fmtNum(b.top2))}</td><td>${esc(fmtNum(b.top2Limit))}</td>` +
        `<td class="${cls(b.kidPass)}" title="${esc(`KID ${b.kid ?? 'not finite'} ${b.kidPass ? '<=' : 'not <='} ${b.kidFloor}`)}">${b.kid === null ? 'not finite' : esc(fmtNum(b.kid))}</td><td>${esc(fmtNum(b.kidFloor))}</td>` +
        `<td>${esc(fmtNum(b.kidBandP99))}</td><td>${b.kid === null ? '—' : `${esc(fmtNum(b.kid / b.kidBandP99))}×`}</td>` +
        `<td class="${cls(b.validityPass)}">${b.validityBad}/${b.n}</td><td class="${cls(b.pass)}">${b.pass ? 'pass' : 'FAIL'}</td></tr>`,
    )
    .join('\n');
  const p = j.pooled;
  return `<table class="stats judge-breeds" id="judge-breeds"><thead><tr><th>breed asked for</th><th>top-1</th><th>top-2</th><th>top-2 limit (≥)</th><th>KID</th><th>KID limit (≤ floor)</th><th>band p99</th><th>KID / p99</th><th>invalid images</th><th>checks</th></tr></thead><tbody>
${rows}
<tr><th class="${p.pass ? '' : 'bad'}">all breeds (pooled top-1)</th><td class="${cls(p.pass)}">${esc(fmtNum(p.top1))}</td><td colspan="7" class="muted">limit ≥ ${esc(fmtNum(p.limit))} over ${p.images} images</td><td class="${cls(p.pass)}">${p.pass ? 'pass' : 'FAIL'}</td></tr></tbody></table>`;
}

/** confusion[asked][judged] as a table: cells shaded by their share of the row, the diagonal green, the rest red. */
function judgeConfusion(j: JudgeView): string {
  const { breeds, counts } = j.confusion;
  const head = breeds.map((b) => `<th class="vert" title="${esc(`judged ${b}`)}"><span>${esc(b)}</span></th>`).join('');
  const rows = counts
    .map((row, a) => {
      const total = row.reduce((s, x) => s + x, 0);
      const cells = row
        .map((c, k) => {
          const diag = a === k;
          const share = total > 0 ? c / total : 0;
          const alpha = c > 0 ? 0.12 + 0.83 * share : 0;
          const style =
            c > 0
              ? ` style="background:rgba(${diag ? '31,122,61' : '179,38,30'},${alpha.toFixed(3)})${alpha > 0.55 ? ';color:#fff' : ''}"`
              : '';
          return `<td class="${diag ? 'diag' : ''}${c === 0 ? ' zero' : ''}"${style} title="${esc(`asked ${breeds[a]}, judged ${breeds[k]}: ${c} of ${total}`)}">${c === 0 ? '' : c}</td>`;
        })
        .join('');
      return `<tr><th>${esc(breeds[a])}</th>${cells}<td class="muted">${total}</td></tr>`;
    })
    .join('\n');
  return `<table class="confusion" id="judge-confusion"><thead><tr><th>asked ↓ · judged →</th>${head}<th class="vert"><span>images</span></th></tr></thead><tbody>
${rows}</tbody></table>
<p class="muted">Rows: the breed asked for; columns: the breed the judge chose (its first choice); each cell the number of images, shaded by
its share of the row: green on the diagonal (recognised), red off it (taken for another breed); empty: none.</p>`;
}

function renderJudge(v: Verdict, runDir: string): string {
  const j = v.judge;
  const intro = `<p class="muted" id="judge-what">${esc(JUDGE_EXPLAINED)}</p>`;
  if (!j)
    return `${intro}<p class="na">No judge section in this verdict (a gate older than it, or a verdict computed without its run folder).</p>`;
  if (j.state === 'missing') return `${intro}<p class="bad" id="judge-missing">The judge's evidence is missing: ${esc(j.problem)}</p>`;
  if (j.state === 'not-run')
    return `${intro}<p class="na" id="judge-not-run">The judge family was not in this run's scope (${esc(j.why)}): nothing was judged against the training data.</p>`;
  const cache = new Map<string, string | null>();
  const sheet = (rel: string | null, alt: string, id: string): string => {
    const uri = rel ? evidenceUri(runDir, rel, null, cache) : null;
    return uri
      ? `<img class="judge-sheet" id="${id}" src="${uri}" alt="${esc(alt)}" title="${esc(rel)}">`
      : `<p class="bad">${esc(alt)}: ${esc(rel ?? 'the file')} is missing or unreadable</p>`;
  };
  const passing = j.perBreed.filter((b) => b.pass).length;
  const misjudged =
    j.images.misjudged === 'none'
      ? '<p class="ok" id="judge-none-misjudged">The judge assigned every image to the breed asked for: no misjudged image.</p>'
      : `${sheet(j.images.misjudged, 'the misjudged images', 'judge-misjudged')}
<p class="muted">One row per breed asked for, its name first; each image captioned with the breed the judge chose (&gt;) and its seed.</p>
<details><summary>${j.misjudged.length} misjudged images</summary><table class="checks" id="judge-misjudged-list"><thead><tr><th>asked for</th><th>judged as</th><th>seed</th><th>rank of the breed asked for</th></tr></thead><tbody>
${j.misjudged.map((m) => `<tr><td>${esc(m.asked)}</td><td>${esc(m.judged)}</td><td>${esc(m.seed ?? '?')}</td><td>${esc(m.rank ?? '?')}</td></tr>`).join('\n')}</tbody></table></details>`;
  return `${intro}
<p id="judge-summary"><b class="${j.allPass ? 'ok' : 'bad'}">${j.allPass ? 'Every judge check passes' : 'Judge checks fail'}</b> by the evidence's numbers: ${passing}/${j.perBreed.length} breeds pass accuracy, KID and validity;
pooled top-1 ${esc(fmtNum(j.pooled.top1))} (limit ${esc(fmtNum(j.pooled.limit))}); ${j.misjudged.length} of ${j.pooled.images} images misjudged. N = ${j.n} per breed (seeds ${esc(j.seeds || '?')}),
yardstick <code>${esc(j.dataset ?? 'unknown')}</code>, evidence <code>${esc(j.source)}</code>. The <code>judge</code> records among the checks decide; this shows what they saw.</p>
${j.problems.map((p) => `<p class="warn">${esc(p)}</p>`).join('\n')}
<h3>Per breed</h3><div class="scroll">${judgeBreedTable(j)}</div>
<h3>Confusion matrix</h3><div class="scroll">${judgeConfusion(j)}</div>
<h3>Every judged image</h3><div class="scroll">${sheet(j.images.grid, 'the judged images', 'judge-grid')}</div>
<p class="muted">Rows: breeds in the manifest's order; columns: seeds. Red frame: the judge took the image for another breed; magenta: it breaks a validity limit.</p>
<h3>The images the judge got wrong</h3><div class="scroll">${misjudged}</div>`;
}

// ---------------------------------------------------------------------------------------------------------
// Agreement matrix

function renderMatrix(m: AgreementMatrix): string {
  const head = m.runtimes.map((r) => `<th class="${r === m.oddOneOut ? 'odd' : ''}">${esc(RUNTIME_LABEL[r] ?? r)}</th>`).join('');
  const rows = m.runtimes
    .map((a) => {
      const cells = m.runtimes
        .map((b) => {
          const c = m.cells[a]?.[b];
          if (a === b) return '<td class="self">—</td>';
          if (!c || c.value === null) return `<td class="na" title="${esc(c?.basis ?? 'n/a')}">n/a</td>`;
          const cls = c.ratio === null ? (c.value === 0 ? 'ok' : 'neutral') : c.ratio > 1 ? 'bad' : c.ratio > 0.5 ? 'warn' : 'ok';
          const odd = a === m.oddOneOut || b === m.oddOneOut ? ' odd' : '';
          return `<td class="${cls}${odd}" title="${esc(`${c.basis}; ${c.cases} case(s)${c.worstCase ? `; worst ${c.worstCase}` : ''}`)}">${esc(fmtNum(c.value))}${c.ratio !== null ? `<br><small>${esc(fmtNum(c.ratio))}× ${c.ownProfile ? 'its profile' : 'tol'}</small>` : ''}<br><small>n=${c.cases}</small></td>`;
        })
        .join('');
      return `<tr><th class="${a === m.oddOneOut ? 'odd' : ''}">${esc(RUNTIME_LABEL[a] ?? a)}</th>${cells}</tr>`;
    })
    .join('\n');
  return `<table class="matrix" id="agreement-matrix"><thead><tr><th>max |Δx<sub>N</sub>|</th>${head}</tr></thead><tbody>${rows}</tbody></table>
<p class="muted">Each cell: the largest difference of the final state x<sub>N</sub> between the two runtimes over the seeds and breeds both ran
(n = cases), and for PyTorch pairs that error as a multiple of its tolerance (WebGPU: its relative error as a multiple of its own profile, harness/checks/webgpu.ts). Runtime pairs come from records that
compare two runtimes' final states (<code>&lt;runtime&gt;.maxAbs</code>, e.g. the browser suites' <code>node.maxAbs</code>) or from saved
final states (<code>states/&lt;runtime&gt;/seed&lt;S&gt;_breed&lt;B&gt;.npy</code>); without either the cell says n/a.
${m.oddOneOut ? `<b class="bad">Odd one out: ${esc(RUNTIME_LABEL[m.oddOneOut] ?? m.oddOneOut)}</b>` : 'No runtime stands out.'}</p>`;
}

// ---------------------------------------------------------------------------------------------------------
// Trajectory curves

interface TrajectoryChart {
  title: string;
  steps: number;
  series: Array<{ label: string; data: Array<number | null>; band?: boolean }>;
}

/** trajectory-errors*.json at the top of the run folder (suites write them there; sub-folders are other runs' samples). */
function trajectoryFiles(runDir: string): string[] {
  if (!existsSync(runDir)) return [];
  return readdirSync(runDir)
    .filter((f) => /^trajectory-errors.*\.json$/.test(f) && statSync(join(runDir, f)).isFile())
    .sort();
}

function trajectoryCharts(runDir: string): { charts: TrajectoryChart[]; problems: string[] } {
  const charts: TrajectoryChart[] = [];
  const problems: string[] = [];
  for (const rel of trajectoryFiles(runDir)) {
    let j: {
      runs?: Array<{
        variant?: string;
        mode?: string;
        runtime?: string;
        cases?: Array<{
          id?: string;
          breedName?: string;
          seed?: number;
          band?: Array<number | string>;
          maxAbs?: Array<number | string | null>;
        }>;
      }>;
    };
    try {
      j = JSON.parse(readFileSync(join(runDir, rel), 'utf8'));
    } catch (e) {
      problems.push(`${rel}: unreadable (${(e as Error).message})`);
      continue;
    }
    for (const run of j.runs ?? []) {
      const cases = run.cases ?? [];
      if (!cases.length) continue;
      const steps = Math.max(...cases.map((c) => (c.maxAbs ?? []).length)) - 1;
      const toNum = (x: unknown): number | null =>
        typeof x === 'number' && Number.isFinite(x) && x > 0 ? x : typeof x === 'string' && /inf/i.test(x) ? 1e9 : null;
      const series: TrajectoryChart['series'] = cases.map((c) => ({
        label: `${c.breedName ?? ''} seed ${c.seed ?? ''}`,
        data: (c.maxAbs ?? []).map(toNum),
      }));
      // the strictest band of the cases at each step
      const band = Array.from({ length: steps + 1 }, (_, s) => {
        const b = cases.map((c) => toNum(c.band?.[s])).filter((x): x is number => x !== null);
        return b.length ? Math.min(...b) : null;
      });
      series.push({ label: 'tolerance band (strictest case)', data: band, band: true });
      charts.push({
        title: `${rel} · ${run.runtime ?? 'node'} · variant=${run.variant ?? '?'} · mode=${run.mode ?? '?'} (${cases.length} cases)`,
        steps,
        series,
      });
    }
  }
  return { charts, problems };
}

// ---------------------------------------------------------------------------------------------------------
// Per-breed statistics

interface StatTable {
  title: string;
  features: string[];
  rows: Array<{
    id: string;
    label: string;
    status: string;
    cells: Record<string, { v: number | null; lo: number | null; hi: number | null }>;
  }>;
}

function statTables(checks: VerdictCheck[], breeds: string[]): StatTable[] {
  const tables = new Map<string, StatTable>();
  const order = (b: string): number => {
    const i = breeds.indexOf(b);
    return i < 0 ? 999 : i;
  };
  for (const c of checks) {
    if (c.selfTest || c.source !== 'record') continue;
    const p = idParams(c.id);
    if (p.breed === undefined) continue;
    const zCells: StatTable['rows'][number]['cells'] = {};
    const gCells: StatTable['rows'][number]['cells'] = {};
    for (const [k, m] of Object.entries(c.metrics)) {
      const v = num(m);
      if (k.startsWith('z.')) {
        const lim = num(c.threshold[`absZ.${k.slice(2)}`]);
        if (lim !== null) zCells[k.slice(2)] = { v, lo: -lim, hi: lim };
        continue;
      }
      const lo = num(c.threshold[`${k}.min`]);
      const hi = num(c.threshold[`${k}.max`]);
      if (lo !== null || hi !== null) gCells[k] = { v, lo, hi };
    }
    for (const [kind, cells] of [
      ['reference z-scores (|z| ≤ limit)', zCells],
      ['validity gates', gCells],
    ] as const) {
      if (Object.keys(cells).length === 0) continue;
      const title = `${RUNTIME_LABEL[c.runtime] ?? c.runtime} · ${c.check}${p.variant ? ` · ${p.variant}` : ''} · ${kind}`;
      const t = tables.get(title) ?? { title, features: [], rows: [] };
      for (const f of Object.keys(cells)) if (!t.features.includes(f)) t.features.push(f);
      t.rows.push({ id: c.id, label: `${p.breed}${p.seed ? ` · seed ${p.seed}` : ''}`, status: c.status, cells });
      tables.set(title, t);
    }
  }
  for (const t of tables.values())
    t.rows.sort((a, b) => order(a.label.split(' · ')[0]!) - order(b.label.split(' · ')[0]!) || a.label.localeCompare(b.label));
  return [...tables.values()];
}

/** How much of its allowed range a value uses: 1 at a limit, above 1 outside (for min-only limits: limit / value). */
export function rangeUse(v: number, lo: number | null, hi: number | null): number {
  if ((lo !== null && v < lo) || (hi !== null && v > hi)) {
    const past = Math.max(
      hi !== null && hi !== 0 && v > hi ? v / hi : 0,
      lo !== null && lo !== 0 && v < lo ? (lo > 0 ? lo / Math.max(v, 1e-300) : v / lo) : 0,
    );
    return Math.max(past, 1 + 1e-9);
  }
  let u = 0;
  if (hi !== null && hi > 0 && v > 0) u = Math.max(u, v / hi);
  if (lo !== null && lo < 0 && v < 0) u = Math.max(u, v / lo);
  if (lo !== null && lo > 0) u = Math.max(u, lo / v);
  return u;
}

function renderStatTable(t: StatTable): string {
  const cell = (x: { v: number | null; lo: number | null; hi: number | null } | undefined): string => {
    if (!x) return '<td class="na">—</td>';
    if (x.v === null) return '<td class="bad">non-finite</td>';
    const use = rangeUse(x.v, x.lo, x.hi);
    const cls = use > 1 ? 'bad' : use > 0.75 ? 'warn' : 'ok';
    const range = `[${x.lo === null ? '−∞' : fmtNum(x.lo)}, ${x.hi === null ? '∞' : fmtNum(x.hi)}]`;
    return `<td class="${cls}" title="${esc(`${fmtNum(x.v)} in ${range}`)}">${esc(fmtNum(x.v))}</td>`;
  };
  return `<h3>${esc(t.title)}</h3><div class="scroll"><table class="stats"><thead><tr><th>case</th>${t.features.map((f) => `<th>${esc(f)}</th>`).join('')}</tr>
<tr class="muted"><th>range</th>${t.features
    .map((f) => {
      const ex = t.rows.find((r) => r.cells[f])?.cells[f];
      const same = t.rows.every((r) => !r.cells[f] || (r.cells[f]!.lo === ex?.lo && r.cells[f]!.hi === ex?.hi));
      return `<th>${ex && same ? esc(`[${ex.lo === null ? '−∞' : fmtNum(ex.lo)}, ${ex.hi === null ? '∞' : fmtNum(ex.hi)}]`) : 'per case'}</th>`;
    })
    .join('')}</tr></thead>
<tbody>${t.rows.map((r) => `<tr><th class="${r.status === 'pass' ? '' : 'bad'}" title="${esc(r.id)}">${esc(r.label)}</th>${t.features.map((f) => cell(r.cells[f])).join('')}</tr>`).join('\n')}</tbody></table></div>`;
}

// ---------------------------------------------------------------------------------------------------------
// Checks

function metricLine(c: VerdictCheck, max = 8): string {
  const m = Object.entries(c.metrics)
    .filter(([, v]) => typeof v === 'number' || typeof v === 'string')
    .slice(0, max);
  const t = Object.entries(c.threshold).slice(0, max);
  return `${m.map(([k, v]) => `<span class="kv">${esc(k)}=${esc(fmtNum(v))}</span>`).join(' ')}${t.length ? `<br><span class="muted">thresholds: ${t.map(([k, v]) => `${esc(k)}=${esc(fmtNum(v))}`).join(', ')}</span>` : ''}`;
}

function renderFailed(v: Verdict): string {
  const failed = v.checks.filter((c) => c.status !== 'pass');
  if (failed.length === 0) return '<p class="ok">No failed check.</p>';
  return `<table class="checks failed-checks"><colgroup><col class="c1"><col class="c2"><col class="c3"><col class="c4"></colgroup><thead><tr><th>check</th><th>status</th><th>message</th><th>replay</th></tr></thead><tbody>
${failed
  .map(
    (
      c,
    ) => `<tr class="${c.status}"><td><code>${esc(c.id)}</code><br><span class="muted">${esc(c.check)} · ${esc(c.runtime)}${c.selfTest ? ' · self-test' : ''}${c.source === 'runner' ? ' · test result without a record' : ''}</span></td>
<td class="bad">${esc(c.status)}</td><td><pre>${esc(c.message.slice(0, 3000))}</pre><div class="metrics">${metricLine(c)}</div></td>
<td>${c.replay ? `<pre class="cmd">${esc(c.replay.command)}</pre><button class="copy">copy</button>${c.replay.exact ? '' : '<br><small class="muted">selects the test group, not the single case</small>'}` : ''}</td></tr>`,
  )
  .join('\n')}
</tbody></table>`;
}

function renderAllChecks(v: Verdict): string {
  const families = new Map<string, VerdictCheck[]>();
  for (const c of v.checks) {
    if (c.selfTest) continue;
    const k = `${c.check} · ${c.runtime}`;
    families.set(k, [...(families.get(k) ?? []), c]);
  }
  return [...families]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, cs]) => {
      const bad = cs.filter((c) => c.status !== 'pass').length;
      return `<details${bad ? ' open' : ''}><summary><b>${esc(k)}</b> — ${cs.length - bad}/${cs.length} pass</summary>
<table class="checks"><tbody>${cs.map((c) => `<tr class="${c.status}" data-id="${esc(c.id)}"><td class="${c.status === 'pass' ? 'ok' : 'bad'}">${esc(c.status)}</td><td><code>${esc(c.id)}</code><div class="metrics">${metricLine(c, 6)}</div></td><td class="msg">${esc(c.message.slice(0, 400))}</td></tr>`).join('\n')}</tbody></table></details>`;
    })
    .join('\n');
}

function renderSelfTests(v: Verdict): string {
  const st = v.checks.filter((c) => c.selfTest);
  if (st.length === 0) return '<p class="na">No self-test records in this run.</p>';
  const bad = st.filter((c) => c.status !== 'pass');
  return `<p>${st.length - bad.length}/${st.length} self-tests caught the model or page broken on purpose (a self-test's <i>pass</i> means the check FAILED the broken input, as it must).</p>
<details${bad.length ? ' open' : ''}><summary>self-tests</summary><table class="checks"><tbody>${st.map((c) => `<tr class="${c.status}"><td class="${c.status === 'pass' ? 'ok' : 'bad'}">${esc(c.status)}</td><td><code>${esc(c.id)}</code></td><td class="msg">${esc(c.message.slice(0, 300))}</td></tr>`).join('\n')}</tbody></table></details>`;
}

function renderDrift(v: Verdict): string {
  const d = v.driftReport;
  if (!d)
    return '<p class="na">No baseline given (<code>--baseline &lt;run dir | verdict.json | history.jsonl&gt;</code>): nothing compared.</p>';
  const head = `<p>Baseline <code>${esc(d.baseline.source)}</code>${d.baseline.runId ? ` (run ${esc(d.baseline.runId)})` : ''}; ${d.compared} key metric(s) compared, ${d.drift.length} drifted.</p>`;
  const rows = d.drift
    .map(
      (x) =>
        `<tr><td><code>${esc(x.key)}</code></td><td>${esc(fmtNum(x.baseline))}</td><td class="${x.direction === 'up' ? 'warn' : ''}">${esc(fmtNum(x.current))}</td><td>${esc(fmtNum(x.change))}</td><td>${esc(fmtNum(x.band))} <small class="muted">${esc(x.basis)}${x.points ? `, ${x.points} runs` : ''}</small></td><td class="${x.stillPassing ? 'ok' : x.stillPassing === false ? 'bad' : 'na'}">${x.stillPassing === null ? '?' : x.stillPassing ? 'yes' : 'no'}</td></tr>`,
    )
    .join('\n');
  const table = d.drift.length
    ? `<table class="checks" id="drift"><thead><tr><th>metric</th><th>baseline</th><th>this run</th><th>change</th><th>allowed (band)</th><th>checks still pass</th></tr></thead><tbody>${rows}</tbody></table>`
    : '<p class="ok">No drift: every compared metric is within its run-to-run band.</p>';
  const missing = d.missing.length
    ? `<p class="warn">Metrics the baseline had and this run lacks: ${d.missing.map((m) => `<code>${esc(m)}</code>`).join(', ')}</p>`
    : '';
  return head + table + missing;
}

// ---------------------------------------------------------------------------------------------------------
// The page

const CSS = `
*{box-sizing:border-box}body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{padding:18px 24px;color:#fff}header.accepted{background:#1f7a3d}header.rejected{background:#b3261e}header.incomplete{background:#9a6700}header.screened,header.narrowed{background:#3d5a80}header.inconclusive{background:#5f5f6e}
header h1{margin:0 0 4px;font-size:26px}header .sub{opacity:.92}main{padding:8px 24px 40px;max-width:1800px}
section{background:#fff;border:1px solid #dde1e7;border-radius:8px;padding:12px 16px;margin:14px 0}section>h2{margin:0 0 8px;font-size:18px}
h3{font-size:15px;margin:14px 0 6px}code,pre{font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}pre{white-space:pre-wrap;margin:0;max-height:18em;overflow:auto}
table{border-collapse:collapse}td,th{border:1px solid #e3e6eb;padding:3px 6px;vertical-align:top;text-align:left}
.ok{color:#1f7a3d}.bad{color:#b3261e;font-weight:600}.warn{color:#9a6700}.na{color:#8a8f98}.muted{color:#6b7280}
td.ok,th.ok{background:#e8f5ec}td.bad,th.bad{background:#fde8e7}td.warn{background:#fff4d6}td.na{background:#f3f4f6}td.neutral{background:#eef2ff}
.matrix td{text-align:center;min-width:110px}.matrix .odd{outline:2px solid #b3261e}.matrix td.self{background:#f3f4f6;color:#9ca3af}
.grid{table-layout:fixed}.grid img{width:64px;height:64px;image-rendering:pixelated;display:block}.grid th{font-size:11px;width:70px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}.grid th:first-child{width:74px}.grid td{padding:2px;width:70px}
.scroll{overflow-x:auto}.stats td{font-size:12px;text-align:right;white-space:nowrap}.stats th{font-size:11px}
.kv{display:inline-block;margin-right:6px;font-size:11px;color:#374151}.metrics{margin-top:4px}
.checks td.msg{font-size:12px;max-width:600px}.cmd{background:#111827;color:#e5e7eb;padding:6px;border-radius:4px;max-width:560px;word-break:break-all}
table.failed-checks{width:100%;table-layout:fixed}table.failed-checks col.c1{width:26%}table.failed-checks col.c2{width:6%}table.failed-checks col.c4{width:30%}
table.failed-checks code{word-break:break-all}
button.copy{font-size:11px;margin-top:3px}.reasons li{margin:2px 0}.badge{display:inline-block;padding:1px 8px;border-radius:10px;background:rgba(255,255,255,.2);margin-right:6px}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(520px,1fr));gap:14px}.chartbox{height:320px;position:relative}
dl.kv2{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:0}dl.kv2 dt{color:#6b7280}dl.kv2 dd{margin:0}
nav a{margin-right:12px}.scrollbox{max-height:520px;overflow:auto}
.judge-breeds td.ok,.judge-breeds td.bad{font-weight:600}img.judge-sheet{display:block;max-width:none;image-rendering:pixelated}
table.confusion td{text-align:center;min-width:30px;font-size:12px}table.confusion td.diag{outline:2px solid #1f7a3d;outline-offset:-2px;font-weight:600}
table.confusion td.zero{background:#fafafa}table.confusion th{font-size:11px;white-space:nowrap}table.confusion th.vert{vertical-align:bottom;padding:4px 2px}
table.confusion th.vert span{writing-mode:vertical-rl;transform:rotate(180deg);display:inline-block}`;

const SCRIPT = `
(function(){
  document.querySelectorAll('button.copy').forEach(function(b){b.addEventListener('click',function(){
    var t=b.previousElementSibling&&b.previousElementSibling.textContent||'';
    if(navigator.clipboard)navigator.clipboard.writeText(t).then(function(){b.textContent='copied'},function(){b.textContent='select and copy'});});});
  var f=document.getElementById('filter');if(f)f.addEventListener('input',function(){var q=f.value.toLowerCase();
    document.querySelectorAll('#all-checks tr[data-id]').forEach(function(r){r.style.display=r.getAttribute('data-id').toLowerCase().indexOf(q)>=0?'':'none'});});
  var data=JSON.parse(document.getElementById('chart-data').textContent);
  window.__charts=[];
  if(typeof Chart==='undefined'){document.querySelectorAll('.chartbox').forEach(function(b){b.textContent='Chart.js missing: charts not drawn'});return;}
  Chart.defaults.animation=false;Chart.defaults.font.size=11;
  function expTick(v){var x=Number(v);if(!(x>0))return '';var e=Math.floor(Math.log10(x)),m=x/Math.pow(10,e);return (Math.abs(m-1)<1e-9||Math.abs(m-2)<1e-9||Math.abs(m-5)<1e-9)?x.toExponential(0):'';}
  var palette=['#1f77b4','#ff7f0e','#2ca02c','#d62728','#9467bd','#8c564b','#e377c2','#7f7f7f','#bcbd22','#17becf','#393b79','#637939','#8c6d31','#843c39'];
  data.trajectories.forEach(function(c,i){var el=document.getElementById('traj-'+i);if(!el)return;
    var labels=[];for(var s=0;s<=c.steps;s++)labels.push(s);
    window.__charts.push(new Chart(el,{type:'line',data:{labels:labels,datasets:c.series.map(function(s,k){return{label:s.label,data:s.data,borderColor:s.band?'#000':palette[k%palette.length],
      borderDash:s.band?[6,4]:[],borderWidth:s.band?2:1,pointRadius:0,spanGaps:true,fill:false}})},
      options:{responsive:true,maintainAspectRatio:false,plugins:{legend:{display:false},title:{display:true,text:c.title}},
      scales:{x:{title:{display:true,text:'step'}},y:{type:'logarithmic',ticks:{callback:expTick},title:{display:true,text:'max |x_ts - x_golden|'}}}}}));});
  data.trend.forEach(function(t,i){var el=document.getElementById('trend-'+i);if(!el)return;
    window.__charts.push(new Chart(el,{type:'line',data:{labels:data.trendLabels,datasets:t.series.map(function(s,k){return{label:s.label,data:s.data,borderColor:palette[k%palette.length],pointRadius:2,spanGaps:true,fill:false}})},
      options:{responsive:true,maintainAspectRatio:false,plugins:{title:{display:true,text:t.title},legend:{position:'bottom',labels:{boxWidth:10}}},
      scales:{y:t.log?{type:'logarithmic',ticks:{callback:expTick}}:{type:'linear'}}}}));});
  data.breedBars.forEach(function(b,i){var el=document.getElementById('breed-bar-'+i);if(!el)return;
    window.__charts.push(new Chart(el,{type:'bar',data:{labels:b.labels,datasets:[{label:'worst |value| / limit',data:b.data,backgroundColor:b.data.map(function(x){return x>1?'#d62728':x>0.75?'#e0a100':'#2ca02c'})}]},
      options:{responsive:true,maintainAspectRatio:false,plugins:{title:{display:true,text:b.title},legend:{display:false}},scales:{y:{beginAtZero:true,suggestedMax:1.2}}}}));});
  document.body.setAttribute('data-charts',String(window.__charts.length));
})();`;

function trendData(history: HistoryEntry[]): {
  labels: string[];
  charts: Array<{ title: string; log: boolean; series: Array<{ label: string; data: Array<number | null> }> }>;
} {
  const entries = history.slice(-60);
  const keys = [...new Set(entries.flatMap((e) => Object.keys(e.metrics)))].filter(isMainMetric).sort();
  const ratio = keys.filter((k) => !k.includes(':accuracy:'));
  const acc = keys.filter((k) => k.includes(':accuracy:'));
  const series = (ks: string[]): Array<{ label: string; data: Array<number | null> }> =>
    ks.map((k) => ({ label: k, data: entries.map((e) => (typeof e.metrics[k] === 'number' ? e.metrics[k]! : null)) }));
  const charts = [];
  if (ratio.length) charts.push({ title: 'worst error / tolerance per check group (log)', log: true, series: series(ratio) });
  if (acc.length) charts.push({ title: 'breed accuracy (worst group)', log: false, series: series(acc) });
  return { labels: entries.map((e) => `${e.runId.slice(0, 15)}${e.modelSha256 ? ' ' + e.modelSha256.slice(0, 6) : ''}`), charts };
}

function breedBars(tables: StatTable[]): Array<{ title: string; labels: string[]; data: number[] }> {
  return tables.map((t) => ({
    title: `${t.title}: the feature closest to its limit, per case (1 = at the limit)`,
    labels: t.rows.map((r) => r.label),
    data: t.rows.map((r) => Math.max(0, ...Object.values(r.cells).map((c) => (c.v === null ? 2 : Math.min(rangeUse(c.v, c.lo, c.hi), 2))))),
  }));
}

export function renderReport(v: Verdict, runDir: string, opts: ReportOptions = {}): string {
  const manifest = (v.bundle.manifest ?? {}) as {
    name?: string;
    breeds?: string[];
    contract?: { imageSize?: number };
    trained?: boolean;
    identity?: { checkpoint?: { step?: number } };
  };
  const breeds = Array.isArray(manifest.breeds) ? manifest.breeds : [];
  const imageSize = typeof manifest.contract?.imageSize === 'number' ? manifest.contract.imageSize : null;
  // verdicts of older gates carry no outcome: accepted or not
  const outcome = v.outcome ?? (v.accepted ? 'accepted' : 'rejected');
  const state = !v.complete
    ? 'incomplete'
    : outcome === 'accepted'
      ? 'accepted'
      : outcome === 'screened'
        ? 'screened'
        : outcome === 'passed-narrowed'
          ? 'narrowed'
          : outcome === 'inconclusive'
            ? 'inconclusive'
            : 'rejected';
  const title =
    state === 'accepted'
      ? 'ACCEPTED'
      : state === 'incomplete'
        ? 'INCOMPLETE — NOT ACCEPTED'
        : state === 'screened'
          ? 'SCREENED — NOT A RELEASE DECISION, NOT ACCEPTED'
          : state === 'narrowed'
            ? 'PASSED IN A NARROWED SCOPE — NOT ACCEPTED'
            : state === 'inconclusive'
              ? 'INCONCLUSIVE — THE HARNESS COULD NOT JUDGE, NOT ACCEPTED'
              : 'REJECTED — NOT ACCEPTED';
  const goldens = v.goldens
    ? `goldens: ${v.goldens.state}${v.goldens.provenance.total ? ` (provenance ${v.goldens.provenance.passed}/${v.goldens.provenance.total})` : ''}`
    : 'goldens: not recorded';
  const matrix = agreementMatrix(v.checks, runDir, breeds);
  const traj = trajectoryCharts(runDir);
  const stats = statTables(v.checks, breeds);
  const trend = trendData(opts.history ?? []);
  const bars = breedBars(stats.filter((t) => t.rows.length > 1));
  const judged = v.checks.filter((c) => !c.selfTest);
  const judgedPass = judged.filter((c) => c.status === 'pass').length;
  const link = (k: string, label: string): string =>
    v.files[k] ? `<a href="${esc(v.files[k])}">${esc(label)}</a>` : `<span class="na">${esc(label)} (not written)</span>`;
  const engines = v.engines
    .map(
      (e) =>
        `<tr><td>${esc(RUNTIME_LABEL[e.runtime] ?? e.runtime)}</td><td>${esc(e.name)}</td><td>${esc(e.version)}</td><td class="muted">${esc(e.source)}</td></tr>`,
    )
    .join('');
  const threads =
    Object.entries(v.determinism.threads)
      .map(([r, t]) => `${esc(r)}: ${t.join(', ')}`)
      .join('; ') || 'not recorded';

  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${esc(title)} · ${esc(manifest.name ?? 'model')} · gate ${esc(v.runId)}</title><style>${CSS}</style></head>
<body data-verdict="${state}">
<header class="${state}" id="verdict"><h1 id="verdict-title">${esc(title)}</h1>
<div class="sub"><span class="badge">outcome: ${esc(outcome)}</span><span class="badge">mode: ${esc(v.mode ?? 'gate')}</span><span class="badge">level: ${esc(v.level)}</span><span class="badge">${esc(goldens)}</span><span class="badge">scope: ${v.scope.full ? 'full gate' : esc(`narrowed (${v.scope.narrowed.join('; ')})`)}</span>${v.scope.plan ? `<span class="badge" title="${esc(v.scope.plan.leftOut.join('\n'))}">the gate's ${v.scope.plan.imageSize} px plan: ${esc(v.scope.plan.browserSuites.join(', '))} in ${esc(v.scope.plan.browsers.join(', '))}; left out: ${esc(v.scope.plan.leftOut.map((l) => l.split(':')[0]).join('; '))}</span>` : ''}${v.scope.app ? `<span class="badge">app under test: ${esc(v.scope.app.name)}${v.scope.app.url ? ` at ${esc(v.scope.app.url)}` : ''}</span>` : ''}
<span class="badge">${judgedPass}/${judged.length} checks pass</span><span class="badge">${v.counts.selfTests - v.counts.selfTestsFailed}/${v.counts.selfTests} self-tests</span></div>
<div class="sub">model <b>${esc(manifest.name ?? '?')}</b> · sha256 <code>${esc(v.bundle.modelSha256 ?? 'unknown')}</code> · bundle <code>${esc(v.bundle.dir)}</code> · digest <code>${esc(v.bundle.digest ?? 'not recorded')}</code> (${v.bundle.files?.length ?? 0} files)</div>
<div class="sub">run <code>${esc(v.runId)}</code> · ${esc(v.startedAt)} → ${esc(v.finishedAt ?? 'not finished')} · ${esc(String(v.machine.hostname ?? ''))} (${esc(String(v.machine.platform ?? ''))}, ${esc(String(v.machine.cpus ?? '?'))} CPUs, Node ${esc(String(v.machine.node ?? ''))})</div>
${v.reason ? `<div class="sub"><b>${esc(v.reason)}</b></div>` : ''}
${v.rerun ? `<div class="sub" id="rerun">${esc(v.rerun.why)}: <code>${esc(v.rerun.command)}</code></div>` : ''}
</header>
<main>
<nav><a href="#failed">failed</a><a href="#agreement">agreement</a><a href="#images">images</a><a href="#judge">judge</a><a href="#drift-section">drift</a><a href="#trajectories">trajectories</a><a href="#statistics">statistics</a><a href="#trend">trend</a><a href="#engines">engines</a><a href="#self-tests">self-tests</a><a href="#all">all checks</a><a href="#files">reports</a></nav>
${v.reasons.length ? `<section id="reasons"><h2>Why ${state === 'accepted' ? '(notes)' : 'not accepted'}</h2><ul class="reasons">${v.reasons.map((r) => `<li><code>${esc(r.code)}</code> ${esc(r.message)}</li>`).join('')}</ul></section>` : ''}
<section id="failed"><h2>Failed checks (${v.failed.length})</h2><div class="scrollbox">${renderFailed(v)}</div></section>
<section id="agreement"><h2>Cross-runtime agreement</h2>${renderMatrix(matrix)}</section>
<section id="images"><h2>Generated images beside goldens and diffs</h2>${renderImages(v, runDir, breeds, imageSize)}</section>
<section id="judge"><h2>Judge (training-data yardstick)</h2>${renderJudge(v, runDir)}</section>
<section id="drift-section"><h2>Drift against the baseline (${v.drift.length})</h2>${renderDrift(v)}</section>
<section id="trajectories"><h2>Trajectory error versus step</h2>${traj.charts.length ? `<div class="charts">${traj.charts.map((_, i) => `<div class="chartbox"><canvas id="traj-${i}"></canvas></div>`).join('')}</div><p class="muted">Each line: one golden case (seed, breed); dashed: the tolerance band max(floorMultiple · floor<sub>s</sub>, absMin) of the strictest case.</p>` : '<p class="na">No trajectory-errors*.json in this run.</p>'}${traj.problems.map((p) => `<p class="bad">${esc(p)}</p>`).join('')}</section>
<section id="statistics"><h2>Per-breed statistics against the reference range</h2>${bars.length ? `<div class="charts">${bars.map((_, i) => `<div class="chartbox"><canvas id="breed-bar-${i}"></canvas></div>`).join('')}</div>` : ''}${stats.length ? stats.map(renderStatTable).join('\n') : '<p class="na">No per-breed statistics records in this run.</p>'}</section>
<section id="trend"><h2>Trend over recorded runs (${(opts.history ?? []).length})</h2>${trend.charts.length && (opts.history ?? []).length > 1 ? `<div class="charts">${trend.charts.map((_, i) => `<div class="chartbox"><canvas id="trend-${i}"></canvas></div>`).join('')}</div>` : `<p class="na">${(opts.history ?? []).length <= 1 ? 'Fewer than two runs in the history: no trend yet.' : 'No main metric in the history.'}</p>`}</section>
<section id="engines"><h2>Engines, determinism, machine</h2>
<table class="checks"><thead><tr><th>runtime</th><th>engine</th><th>version</th><th>from</th></tr></thead><tbody>${engines}</tbody></table>
<dl class="kv2" style="margin-top:8px"><dt>seeds</dt><dd>${esc(v.determinism.seeds.join(', ') || 'none recorded')}</dd><dt>threads</dt><dd>${threads}</dd>
<dt>environment</dt><dd><code>${esc(
    Object.entries(v.determinism.env)
      .map(([k, x]) => `${k}=${x}`)
      .join(' ') || '(none)',
  )}</code></dd>
<dt>machine</dt><dd><code>${esc(JSON.stringify(v.machine))}</code></dd>
<dt>peak memory</dt><dd>${v.peakMemory ? `${esc(v.peakMemory.summary)} (<a href="${esc(v.peakMemory.file)}">${esc(v.peakMemory.file)}</a>)` : '<span class="na">not recorded</span>'}</dd>
<dt>time limits from</dt><dd>${v.timeBounds ? `${esc(v.timeBounds.summary)} (<a href="${esc(v.timeBounds.file)}">${esc(v.timeBounds.file)}</a>; docs/time-bounds.md)` : '<span class="na">not recorded</span>'}</dd>
<dt>rerun</dt><dd><pre class="cmd">${esc(v.replay.run)}</pre></dd>
<dt>processes</dt><dd>${v.processes.map((p) => `${esc(p.name)}: exit ${esc(p.exitCode)}${p.signal ? ` signal ${esc(p.signal)}` : ''}${p.timedOut ? ' TIMED OUT' : ''}${p.interrupted ? ' interrupted' : ''}, ${(p.durationMs / 1000).toFixed(1)} s, log <a href="${esc(p.log.startsWith(runDir) ? p.log.slice(runDir.length + 1) : p.log)}">${esc(p.log.split('/').pop())}</a>`).join('<br>') || 'none'}</dd></dl></section>
<section id="self-tests"><h2>Self-tests (gate health)</h2>${renderSelfTests(v)}</section>
<section id="all"><h2>All checks (${judged.length})</h2><input id="filter" placeholder="filter by id" size="50"><div id="all-checks">${renderAllChecks(v)}</div></section>
<section id="files"><h2>Reports of the runners</h2><p>${link('playwrightHtml', 'Playwright HTML report')} · ${link('playwrightJson', 'playwright.json')} · ${link('junitBrowser', 'junit-browser.xml')} · ${link('vitestJson', 'vitest.json')} · ${link('junitNode', 'junit-node.xml')} · ${link('checks', 'checks.jsonl')} · ${link('verdict', 'verdict.json')}</p></section>
</main>
<script id="chart-data" type="application/json">${jsonForScript({ trajectories: traj.charts, trend: trend.charts, trendLabels: trend.labels, breedBars: bars })}</script>
<script>${chartJsSource(opts.chartJs).replace(/<\/script/gi, '<\\/script')}</script>
<script>${SCRIPT}</script>
</body></html>
`;
}
