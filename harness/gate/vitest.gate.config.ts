/**
 * vitest config of a gate run: the project's vitest.config.ts with the reporters pointed into the run folder
 * (TINYDIT_REPORT_DIR) and the gate's progress reporter added. Reporter options in a config win over
 * --outputFile on the command line, hence a config of its own rather than flags.
 */
import { join } from 'node:path';
import { defineConfig, type ViteUserConfig } from 'vitest/config';
import base, { MODEL_SUITES } from '../../vitest.config.js';
import { REPO_ROOT } from '../core/config.js';

const runDir = process.env.TINYDIT_REPORT_DIR;
if (!runDir) throw new Error('harness/gate/vitest.gate.config.ts: TINYDIT_REPORT_DIR is not set (this config is for scripts/gate.ts)');

const b = base as ViteUserConfig;
/** The gate's own tests point this at a fixture (harness/gate/fixtures/*.fixture.ts); never set in real runs. */
const fixture = process.env.TINYDIT_GATE_FIXTURE;
export default defineConfig({
  ...b,
  root: REPO_ROOT,
  test: {
    ...b.test,
    // the model's suites only: the harness's own tests (suites/harness) are not part of a model's verdict
    include: fixture ? fixture.split(',') : MODEL_SUITES,
    reporters: [
      'default',
      ['junit', { outputFile: join(runDir, 'junit-node.xml') }],
      ['json', { outputFile: join(runDir, 'vitest.json') }],
      join(REPO_ROOT, 'harness/gate/vitest-progress.ts'),
    ],
  },
});
