import { defineConfig } from 'vitest/config';

/**
 * `npx vitest run`: every Node suite. suites/node/ judges the model (the gate runs only these: see
 * harness/gate/vitest.gate.config.ts); suites/harness/ tests the gate's own machinery (CLI, verdict, server,
 * loader, robustness, speed plumbing) and runs in `npm test` (`npm run test:harness`), never inside a verdict.
 */
export const MODEL_SUITES = ['suites/node/**/*.test.ts'];
export const HARNESS_SUITES = ['suites/harness/**/*.test.ts'];

export default defineConfig({
  test: {
    include: [...MODEL_SUITES, ...HARNESS_SUITES],
    setupFiles: ['suites/node/setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // 2 cores: two workers; each onnxruntime session runs single-threaded inside the suites
    maxWorkers: 2,
    reporters: ['default', ['junit', { outputFile: 'reports/junit-node.xml' }], ['json', { outputFile: 'reports/vitest.json' }]],
  },
});
