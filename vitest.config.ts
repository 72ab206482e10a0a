import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['suites/node/**/*.test.ts'],
    setupFiles: ['suites/node/setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // 2 cores: two workers; each onnxruntime session runs single-threaded inside the suites
    maxWorkers: 2,
    reporters: ['default', ['junit', { outputFile: 'reports/junit-node.xml' }], ['json', { outputFile: 'reports/vitest.json' }]],
  },
});
