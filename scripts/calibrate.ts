/**
 * Calibration table: every gate-owned threshold of the `behaviour` and `judge` families against a POPULATION of
 * models, good ones (the embedded model, a second training seed, earlier checkpoints whose samples are already
 * recognisable) and broken ones (the mutant catalogue, both forms). For each metric: each model's value, the
 * threshold, and the margin on each side (how far the worst good model and the least-broken failing model sit
 * from the threshold). The values are read from the gate's own verdicts (verdict.json of each run), so the table
 * shows exactly what the gate measured and judged.
 *
 *   npx tsx scripts/calibrate.ts --good fixture=reports/gate-power/runs/good-model,seed1=reports/calibration/runs/seed1 \
 *       --broken-dir reports/gate-power/runs --out reports/calibration --docs docs/calibration.md
 *
 * --good name=runDir,...   good models (each run folder holds verdict.json)
 * --broken name=runDir,... broken models; --broken-dir <dir>: every <dir>/<name>/verdict.json that is a catalogue
 *                          mutant (harness/mutants/catalogue.ts), both forms
 * --out <dir>              calibration.json and calibration.md (default reports/calibration)
 * --docs <file>            also write the markdown there (the committed table)
 * Exit 0 when every good model passes every listed threshold; 1 when one does not (the table says which); 2 on usage.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { REPO_ROOT } from '../harness/core/config.js';
import type { Verdict, VerdictCheck } from '../harness/gate/types.js';
import { CATALOGUE } from '../harness/mutants/catalogue.js';
import { checkKey, isAimed } from '../harness/mutants/matrix.js';

interface Model {
  name: string;
  kind: 'good' | 'broken';
  runDir: string;
  expect: string[];
  form?: string;
  description: string;
}

/** One metric of one model: the worst case over its records (variants or breeds), as value and threshold. */
interface Reading {
  value: number;
  threshold: number;
  direction: 'min' | 'max';
  pass: boolean;
  worstCase: string;
}

interface MetricDef {
  /** Check key (matrix.ts checkKey), e.g. behaviour/depends-on-breed, judge/kid. */
  key: string;
  /** What the value is. */
  what: string;
  /** Only records whose id matches (e.g. the per-breed records, not the pooled one). */
  filter?: (id: string) => boolean;
  read(c: VerdictCheck): { value: number; threshold: number; direction: 'min' | 'max' } | null;
}

const num = (x: unknown): number | null => (typeof x === 'number' && Number.isFinite(x) ? x : null);

/** behaviour records: metrics.metric against the one named threshold, direction in metrics.direction. */
const behaviour = (key: string, what: string): MetricDef => ({
  key,
  what,
  read: (c) => {
    const m = c.metrics as Record<string, unknown>;
    const t = Object.values(c.threshold ?? {})
      .map(num)
      .find((x) => x !== null);
    const v = num(m.metric);
    if (v === null || t === undefined || t === null) return null;
    return { value: v, threshold: t, direction: m.direction === 'max' ? 'max' : 'min' };
  },
});

const METRICS: MetricDef[] = [
  behaviour('behaviour/nonzero', 'velocity RMS / input RMS'),
  behaviour('behaviour/not-input', 'residual of v after removing c x'),
  behaviour('behaviour/depends-on-t', 'relative change of v between t = 0.1 and 0.9'),
  behaviour('behaviour/depends-on-breed', "breed dependence (the record's metric)"),
  behaviour('behaviour/depends-on-position', 'patch-permutation equivariance residual'),
  behaviour('behaviour/depends-on-position-flat', 'output spread on flat inputs'),
  behaviour('behaviour/locality', 'in-patch alignment of a local perturbation'),
  behaviour('behaviour/null-token', 'null row vs a breed row'),
  {
    key: 'judge/accuracy',
    what: 'top-2 accuracy of the worst breed (N = 16)',
    filter: (id) => !id.includes('breed=all'),
    read: (c) => {
      const v = num((c.metrics as Record<string, unknown>).top2),
        t = num((c.threshold as Record<string, unknown>)?.top2Min);
      return v === null || t === null ? null : { value: v, threshold: t, direction: 'min' };
    },
  },
  {
    key: 'judge/accuracy',
    what: 'pooled top-1 accuracy over every breed',
    filter: (id) => id.includes('breed=all'),
    read: (c) => {
      const v = num((c.metrics as Record<string, unknown>).top1),
        t = num((c.threshold as Record<string, unknown>)?.top1Min);
      return v === null || t === null ? null : { value: v, threshold: t, direction: 'min' };
    },
  },
  {
    key: 'judge/kid',
    what: "KID to the breed's training images, worst breed",
    read: (c) => {
      const v = num((c.metrics as Record<string, unknown>).kid),
        t = num((c.threshold as Record<string, unknown>)?.kidMax);
      return v === null || t === null ? null : { value: v, threshold: t, direction: 'max' };
    },
  },
  {
    key: 'judge/validity',
    what: "fraction of a breed's images breaking a validity limit, worst breed",
    read: (c) => {
      const m = c.metrics as Record<string, unknown>;
      const bad = num(m.badImages),
        n = num(m.n),
        t = num((c.threshold as Record<string, unknown>)?.maxBadFraction);
      return bad === null || n === null || n === 0 || t === null ? null : { value: bad / n, threshold: t, direction: 'max' };
    },
  },
];

/** The model's worst reading of a metric (the one nearest to failing, or failing most), or null when it has no record. */
function reading(v: Verdict, def: MetricDef): Reading | null {
  let worst: Reading | null = null;
  for (const c of v.checks) {
    if (c.selfTest || checkKey(c) !== def.key || (def.filter && !def.filter(c.id))) continue;
    const r = def.read(c);
    if (!r) continue;
    // ratio > 1 passes, < 1 fails, whichever the direction
    const cur: Reading = { ...r, pass: c.status === 'pass', worstCase: c.id };
    if (!worst || passRatio(cur) < passRatio(worst)) worst = cur;
  }
  return worst;
}

/** value / threshold for a 'min' metric, threshold / value for a 'max' one: > 1 on the passing side. */
const passRatio = (r: Reading): number => (r.direction === 'min' ? r.value / r.threshold : r.value <= 0 ? Infinity : r.threshold / r.value);

function parseList(s: string, kind: 'good' | 'broken'): Model[] {
  return s
    .split(',')
    .filter(Boolean)
    .map((p) => {
      const eq = p.indexOf('=');
      if (eq < 1) throw new Error(`--${kind} expects name=runDir[,name=runDir...], got '${p}'`);
      const name = p.slice(0, eq);
      const m = CATALOGUE.find((x) => x.name === name);
      return {
        name,
        kind,
        runDir: resolve(p.slice(eq + 1)),
        expect: m?.expect ?? [],
        ...(m?.form ? { form: m.form } : {}),
        description: m?.description ?? '',
      };
    });
}

function fromDir(dir: string): Model[] {
  if (!existsSync(dir)) throw new Error(`--broken-dir ${dir}: no such folder`);
  const out: Model[] = [];
  for (const name of readdirSync(dir).sort()) {
    const m = CATALOGUE.find((x) => x.name === name);
    if (!m || !existsSync(join(dir, name, 'verdict.json'))) continue;
    out.push({ name, kind: 'broken', runDir: join(dir, name), expect: m.expect, form: m.form ?? 'export', description: m.description });
  }
  return out;
}

const fmt = (x: number): string =>
  x === Infinity ? '∞' : x === 0 ? '0' : Math.abs(x) >= 100 || Math.abs(x) < 1e-3 ? x.toExponential(2) : x.toPrecision(3);

function main(argv: string[]): number {
  const o = { good: [] as Model[], broken: [] as Model[], out: join(REPO_ROOT, 'reports/calibration'), docs: '' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const val = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--good') o.good.push(...parseList(val(), 'good'));
    else if (a === '--broken') o.broken.push(...parseList(val(), 'broken'));
    else if (a === '--broken-dir') o.broken.push(...fromDir(resolve(val())));
    else if (a === '--out') o.out = resolve(val());
    else if (a === '--docs') o.docs = resolve(val());
    else throw new Error(`unknown option ${a}`);
  }
  if (o.good.length === 0) throw new Error('--good: at least one good model run is needed');
  const models = [...o.good, ...o.broken];
  const verdicts = new Map<string, Verdict>();
  for (const m of models) {
    const p = join(m.runDir, 'verdict.json');
    if (!existsSync(p)) throw new Error(`${p}: no verdict (run the gate on ${m.name} first)`);
    const v = JSON.parse(readFileSync(p, 'utf8')) as Verdict;
    if (!v.complete) throw new Error(`${p}: the gate run did not finish; rerun it`);
    verdicts.set(m.name, v);
  }
  const rows = METRICS.map((def) => {
    const values: Record<string, Reading | null> = {};
    for (const m of models) values[m.name] = reading(verdicts.get(m.name)!, def);
    const good = o.good.map((m) => values[m.name]).filter((r): r is Reading => r != null);
    const aimedBroken = o.broken.filter((m) => isAimed(def.key, m.expect));
    const failing = o.broken.map((m) => values[m.name]).filter((r): r is Reading => r != null && !r.pass);
    const threshold = good[0]?.threshold ?? failing[0]?.threshold ?? null;
    const goodMargin = good.length ? Math.min(...good.map(passRatio)) : null;
    const brokenMargin = failing.length ? Math.max(...failing.map(passRatio)) : null;
    return {
      key: def.key,
      what: def.what,
      direction: good[0]?.direction ?? failing[0]?.direction ?? 'min',
      threshold,
      goodMargin,
      brokenMargin,
      goodFailing: o.good.filter((m) => values[m.name] && !values[m.name]!.pass).map((m) => m.name),
      aimedNotFailing: aimedBroken.filter((m) => values[m.name] && values[m.name]!.pass).map((m) => m.name),
      values: Object.fromEntries(
        Object.entries(values).map(([k, r]) => [
          k,
          r && { value: r.value, threshold: r.threshold, pass: r.pass, ratio: passRatio(r), worstCase: r.worstCase },
        ]),
      ),
    };
  });
  mkdirSync(o.out, { recursive: true });
  const json = {
    format: 'tinydit-calibration/1',
    date: new Date().toISOString(),
    command: `npx tsx scripts/calibrate.ts ${argv.join(' ')}`,
    models: models.map((m) => ({
      name: m.name,
      kind: m.kind,
      form: m.form ?? null,
      runDir: relative(REPO_ROOT, m.runDir),
      bundle: verdicts.get(m.name)!.bundle?.dir ? relative(REPO_ROOT, verdicts.get(m.name)!.bundle.dir) : null,
      outcome: verdicts.get(m.name)!.outcome ?? null,
      expect: m.expect,
    })),
    metrics: rows,
  };
  writeFileSync(join(o.out, 'calibration.json'), JSON.stringify(json, null, 1) + '\n');
  const md: string[] = ['# Calibration: the gate-owned thresholds against good and broken models', ''];
  md.push(
    `Made by \`${json.command}\` on ${json.date.slice(0, 10)}. Values are the worst case of each model over its records (variants or breeds), ` +
      "as the gate measured them in that model's run (`verdict.json`). **ratio** = value / threshold for a lower bound, threshold / value for an upper bound: " +
      'above 1 passes, below 1 fails. **Good margin**: the smallest ratio over the good models (how close the worst good model comes to failing). ' +
      '**Broken margin**: the largest ratio among broken models that fail the check (how close the least-broken caught model comes to passing).',
    '',
  );
  md.push(
    'How the population is made (each command writes what the next reads; about 1.5 hours on 2 cores, most of it training):',
    '',
    '```sh',
    '# a second training seed, same recipe as the embedded model, keeping early checkpoints',
    '/usr/bin/python3 reference/python/train.py --steps 5000 --seed 1 --keep-steps 250,500,1000,2000,3000 --out reports/models/seed1/checkpoint.pt',
    '# its bundle (make_bundle.py reads the checkpoint from the bundle folder) and the full gate on it',
    'mkdir -p reports/models/seed1/bundle && cp reports/models/seed1/checkpoint.pt reports/models/seed1/bundle/',
    '/usr/bin/python3 reference/python/make_bundle.py --checkpoint reports/models/seed1/bundle/checkpoint.pt --out reports/models/seed1/bundle',
    'npm run gate -- --bundle reports/models/seed1/bundle --reports reports/calibration/runs --run-id seed1 --no-history',
    '# earlier checkpoints of that run (steps 2000, 3000): bundles with 8 statistics seeds, the Node suites',
    'mkdir -p reports/models/seed1/bundle-step3000 && cp reports/models/seed1/checkpoint.step3000.pt reports/models/seed1/bundle-step3000/checkpoint.pt',
    '/usr/bin/python3 reference/python/make_bundle.py --checkpoint reports/models/seed1/bundle-step3000/checkpoint.pt --out reports/models/seed1/bundle-step3000 --stats-seeds 8',
    'npm run gate -- --bundle reports/models/seed1/bundle-step3000 --node-only --reports reports/calibration/runs --run-id seed1-step3000 --no-history',
    '# the broken models: the catalogue, both forms (the self-consistent ones need the kept step-250/500/1000 checkpoints)',
    'npm run gate:power -- --node-only',
    '```',
    '',
  );
  md.push('Models:', '');
  for (const m of models) {
    const v = verdicts.get(m.name)!;
    const dir = v.bundle?.dir ? relative(REPO_ROOT, v.bundle.dir) || '.' : '';
    const failing = [...new Set(v.checks.filter((c) => c.status !== 'pass' && !c.selfTest).map((c) => c.id.slice(0, c.id.indexOf(':'))))];
    md.push(
      `- \`${m.name}\` (${m.kind}${m.form ? `, ${m.form} form` : ''}): ${m.description || `\`${dir}\``}; gate outcome: ${v.outcome ?? (v.accepted ? 'accepted' : 'rejected')}` +
        `${failing.length ? ` (failing: ${failing.join(', ')})` : ''}`,
    );
  }
  md.push(
    '',
    '| metric | what (worst case) | bound | threshold | good margin | broken margin | good models failing | broken models aimed at this family that pass this metric (caught by another) |',
    '|---|---|---|--:|--:|--:|---|---|',
  );
  for (const r of rows) {
    md.push(
      `| \`${r.key}\` | ${r.what} | ${r.direction === 'min' ? '>=' : '<='} | ${r.threshold === null ? '-' : fmt(r.threshold)} | ${r.goodMargin === null ? '-' : fmt(r.goodMargin)} | ` +
        `${r.brokenMargin === null ? '-' : fmt(r.brokenMargin)} | ${r.goodFailing.join(', ') || 'none'} | ${r.aimedNotFailing.join(', ') || 'none'} |`,
    );
  }
  md.push('', "## Each model's value (ratio to the threshold; a failing value in bold)", '');
  const names = models.map((m) => m.name);
  md.push(
    `| model | ${rows.map((r) => `\`${r.key}\`${r.key === 'judge/accuracy' ? (r.what.startsWith('pooled') ? ' pooled' : ' per breed') : ''}`).join(' | ')} |`,
  );
  md.push(`|---|${rows.map(() => '--:').join('|')}|`);
  for (const n of names) {
    const kind = models.find((m) => m.name === n)!.kind;
    md.push(
      `| ${kind === 'good' ? `**${n}** (good)` : `\`${n}\``} | ${rows
        .map((r) => {
          const x = r.values[n];
          if (!x) return '-';
          const s = `${fmt(x.value)} (${fmt(x.ratio)})`;
          return x.pass ? s : `**${s}**`;
        })
        .join(' | ')} |`,
    );
  }
  const text = md.join('\n') + '\n';
  writeFileSync(join(o.out, 'calibration.md'), text);
  if (o.docs) writeFileSync(o.docs, text);
  const bad = rows.filter((r) => r.goodFailing.length);
  console.log(
    `[calibrate] ${models.length} models, ${rows.length} metrics -> ${relative(REPO_ROOT, join(o.out, 'calibration.md'))}${o.docs ? ` and ${relative(REPO_ROOT, o.docs)}` : ''}`,
  );
  for (const r of bad) console.log(`[calibrate] a good model fails ${r.key} (${r.what}): ${r.goodFailing.join(', ')}`);
  return bad.length ? 1 : 0;
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (e) {
  console.error(`[calibrate] ${(e as Error).message}`);
  process.exitCode = 2;
}
