/**
 * Vitest setup (vitest.config.ts setupFiles): registers the golden matchers for every Node suite, and tells the
 * record writer which test is running, so every record names the test that wrote it (the gate's replay then
 * needs no guessing).
 */
import { relative } from 'node:path';
import { expect } from 'vitest';
import { REPO_ROOT } from '../../harness/core/config.js';
import { registerGoldenMatchers } from '../../harness/core/matchers.js';
import { setRecordOrigin } from '../../harness/core/record-check.js';

registerGoldenMatchers();

setRecordOrigin(() => {
  const s = expect.getState();
  if (!s.currentTestName || !s.testPath) return null;
  // vitest names a test by its describe blocks and its title, joined with ' > '
  const parts = s.currentTestName.split(' > ');
  return { runner: 'vitest', file: relative(REPO_ROOT, s.testPath), title: parts[parts.length - 1]!, path: parts.slice(0, -1) };
});
