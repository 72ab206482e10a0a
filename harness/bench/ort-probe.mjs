/**
 * Inference-time probe for measuring the gate's own overhead (harness/bench/overhead.ts). Loaded into every Node
 * process of a gate run with NODE_OPTIONS="--import <this file>"; inert unless TINYDIT_ORT_PROBE_DIR is set.
 *  - onnxruntime-node: wraps InferenceSession.run and InferenceSession.create of onnxruntime-common (the class
 *    onnxruntime-node re-exports) and records each call as [start epoch ms, duration ms];
 *  - the static server of the browser suites (harness/runtimes/server.ts, any http.createServer in fact): answers
 *    `?__probe=` requests (sent by the instrumented page worker, harness/bench/ort-web-probe.ts, once per
 *    session.run / session creation) with 204 and records them; serves the instrumented /worker.js from
 *    TINYDIT_ORT_PROBE_WORKER instead of the built one. No project file is changed.
 * Each process writes <dir>/proc-<pid>.json every second while it has news, and at exit.
 * Plain JavaScript: it runs before any loader (tsx) is in place.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { join } from 'node:path';

const dir = process.env.TINYDIT_ORT_PROBE_DIR;
if (dir) {
  const now = () => performance.timeOrigin + performance.now();
  const data = {
    pid: process.pid,
    argv: process.argv.slice(1, 4),
    node: { runs: [], creates: [] },
    browser: { runs: [], creates: [] },
    workerServed: 0,
    errors: [],
  };
  let dirty = false;
  const flush = () => {
    if (!dirty) return;
    dirty = false;
    try {
      // written aside and renamed: the analysis may read while a process is still flushing
      const file = join(dir, `proc-${process.pid}.json`);
      writeFileSync(`${file}.tmp`, JSON.stringify(data));
      renameSync(`${file}.tmp`, file);
    } catch {
      /* the folder vanished: nothing to report to */
    }
  };
  setInterval(flush, 1000).unref();
  process.on('exit', () => {
    dirty = true;
    flush();
  });

  // ---- onnxruntime-node (through onnxruntime-common's InferenceSession) ----
  try {
    const req = createRequire(join(process.cwd(), 'package.json'));
    const nodePkg = req.resolve('onnxruntime-node');
    const common = createRequire(nodePkg)('onnxruntime-common');
    const IS = common.InferenceSession;
    if (IS && !IS.__tinyditProbe) {
      const run = IS.prototype.run;
      IS.prototype.run = async function probedRun(...a) {
        const t0 = now();
        try {
          return await run.apply(this, a);
        } finally {
          data.node.runs.push([t0, now() - t0]);
          dirty = true;
        }
      };
      const create = IS.create;
      IS.create = async function probedCreate(...a) {
        const t0 = now();
        try {
          return await create.apply(this, a);
        } finally {
          data.node.creates.push([t0, now() - t0]);
          dirty = true;
        }
      };
      IS.__tinyditProbe = true;
    }
  } catch (e) {
    // no onnxruntime-node here (a process that never runs a model): nothing to wrap
    data.errors.push(`onnxruntime-node not wrapped: ${e?.message}`);
  }

  // ---- the page's probe requests and the instrumented worker ----
  const workerFile = process.env.TINYDIT_ORT_PROBE_WORKER;
  const HEADERS = {
    'Cross-Origin-Opener-Policy': 'same-origin',
    'Cross-Origin-Embedder-Policy': 'require-corp',
    'Cross-Origin-Resource-Policy': 'same-origin',
    'Cache-Control': 'no-store',
  };
  const original = http.createServer;
  http.createServer = function probedCreateServer(...args) {
    const i = args.findIndex((a) => typeof a === 'function');
    if (i < 0) return original.apply(this, args);
    const handler = args[i];
    args[i] = (req, res) => {
      const url = req.url || '';
      const q = url.indexOf('__probe=');
      if (q >= 0) {
        for (const item of decodeURIComponent(url.slice(q + 8)).split(';')) {
          const [kind, worker, start, dur] = item.split('|');
          const rec = [Number(start), Number(dur), worker];
          if (kind === 'r') data.browser.runs.push(rec);
          else if (kind === 'c') data.browser.creates.push(rec);
        }
        dirty = true;
        res.writeHead(204, HEADERS);
        res.end();
        return;
      }
      if (workerFile && (url === '/worker.js' || url.startsWith('/worker.js?'))) {
        const body = readFileSync(workerFile);
        data.workerServed++;
        dirty = true;
        res.writeHead(200, { ...HEADERS, 'Content-Type': 'text/javascript; charset=utf-8', 'Content-Length': body.length });
        res.end(req.method === 'HEAD' ? undefined : body);
        return;
      }
      return handler(req, res);
    };
    return original.apply(this, args);
  };
  syncBuiltinESMExports();
}
