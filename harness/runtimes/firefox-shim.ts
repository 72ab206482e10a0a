/**
 * Stock Firefox (ESR 153) over WebDriver BiDi lacks `emulation.setMediaFeaturesOverride`, which Playwright
 * sends for every new context and page; each newContext() then fails with
 * `Protocol error (emulation.setMediaFeaturesOverride): unknown command`.
 * This shim wraps `send` of playwright-core's server WebSocket transport (the one the BiDi connection uses)
 * and answers that single command locally with an empty success. No node_modules file is edited.
 * Consequence: page.emulateMedia / colorScheme options have no effect in that Firefox.
 * Installed from playwright.config.ts only when the system Firefox is used (not Playwright's own Firefox).
 */
import { createRequire } from 'node:module';

const SHIMMED_METHODS = new Set(['emulation.setMediaFeaturesOverride']);
const MARK = Symbol.for('tinydit.firefoxBidiShim');

interface Transport {
  send(message: { id?: number; method?: string }): void;
  onmessage?: (message: unknown) => void;
}
interface TransportClass {
  prototype: Transport & { [MARK]?: boolean };
}

/** Installs the shim in this process (idempotent). Returns false if playwright-core's layout is unexpected. */
export function installFirefoxBidiShim(): boolean {
  const require = createRequire(import.meta.url);
  let transportClass: TransportClass | undefined;
  try {
    // The same module instance @playwright/test uses (it requires 'playwright-core/lib/coreBundle' too).
    const core = require('playwright-core/lib/coreBundle') as { server?: { WebSocketTransport?: TransportClass } };
    transportClass = core.server?.WebSocketTransport;
  } catch {
    transportClass = undefined;
  }
  if (!transportClass || typeof transportClass.prototype.send !== 'function') return false;
  const proto = transportClass.prototype;
  if (proto[MARK]) return true;
  const originalSend = proto.send;
  proto.send = function send(this: Transport, message) {
    if (message && typeof message.method === 'string' && SHIMMED_METHODS.has(message.method) && typeof message.id === 'number') {
      const id = message.id;
      // Answer asynchronously, as a real reply would arrive.
      setImmediate(() => this.onmessage?.call(null, { type: 'success', id, result: {} }));
      return;
    }
    originalSend.call(this, message);
  };
  proto[MARK] = true;
  return true;
}
