/**
 * onnxruntime-web with every session creation and session.run reported to the server as a `?__probe=` request
 * (kind|worker|start epoch ms|duration ms), for measuring the gate's overhead (harness/bench/overhead.ts). The
 * instrumented page worker is built from harness/runtimes/web/worker.ts with its 'onnxruntime-web/wasm' import pointed
 * here; everything else of onnxruntime-web is re-exported unchanged. Never part of the shipped page.
 */
import * as real from 'onnxruntime-web/wasm';

export * from 'onnxruntime-web/wasm';

const WORKER = Math.random().toString(36).slice(2, 8);

function report(kind: 'r' | 'c', t0: number, duration: number): void {
  const item = `${kind}|${WORKER}|${(performance.timeOrigin + t0).toFixed(3)}|${duration.toFixed(3)}`;
  // fire and forget: a lost report undercounts inference, so the overhead is overstated, never understated
  void fetch(`/?__probe=${encodeURIComponent(item)}`, { method: 'HEAD', cache: 'no-store' }).catch(() => undefined);
}

type Create = typeof real.InferenceSession.create;

async function create(...args: Parameters<Create>): Promise<real.InferenceSession> {
  const t0 = performance.now();
  const session = await (real.InferenceSession.create as (...a: unknown[]) => Promise<real.InferenceSession>)(...args);
  report('c', t0, performance.now() - t0);
  const run = session.run.bind(session) as (...a: unknown[]) => ReturnType<real.InferenceSession['run']>;
  (session as { run: unknown }).run = async (...a: unknown[]) => {
    const t1 = performance.now();
    try {
      return await run(...a);
    } finally {
      report('r', t1, performance.now() - t1);
    }
  };
  return session;
}

export const InferenceSession = { create } as unknown as typeof real.InferenceSession;
