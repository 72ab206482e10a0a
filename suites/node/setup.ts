/** Vitest setup (vitest.config.ts setupFiles): registers the golden matchers for every Node suite. */
import { registerGoldenMatchers } from '../../harness/core/matchers.js';

registerGoldenMatchers();
