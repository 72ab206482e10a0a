/**
 * Custom Vitest matchers: a failure prints the comparison statistics and where the worst element sits
 * (breed, step, channel, pixel), so the reader knows how far off, where, and how far to move.
 * Registered once by suites/node/setup.ts (vitest setupFiles).
 */
import { expect } from 'vitest';
import { compareTensors, formatComparison, type CompareOptions, type ComparisonStats, type Numeric } from './compare.js';

export interface GoldenOptions extends Omit<CompareOptions, 'atol'> {
  /** Absolute tolerance (one, or per first-axis index), e.g. from the bundle's tolerance policy; may be omitted when relL2Max is given. */
  tolerance?: number | Numeric;
  /** The case's stable id, printed first in a failure. */
  caseId: string;
  /** Extra context printed in a failure (variant, step, file, fix). */
  context?: Record<string, string | number>;
  /** Receives the statistics (to record the case) before the verdict. */
  onStats?: (stats: ComparisonStats) => void;
}

/** Anything with a verdict and a message that says why (behaviour checks, ulp comparisons). */
export interface CheckOutcome {
  pass: boolean;
  message: string;
}

interface GoldenMatchers<R = unknown> {
  /** Compares a tensor with its golden under a tolerance; failure prints the statistics block. */
  toMatchGolden(expected: Numeric, options: GoldenOptions): R;
  /** Passes when a precomputed comparison passed; failure prints its statistics block. */
  toPassComparison(caseId: string): R;
  /** Passes when a check outcome passed; failure prints its message. */
  toPassCheck(caseId: string): R;
}

declare module 'vitest' {
  // biome-ignore lint/suspicious/noExplicitAny: vitest declares Matchers<T = any>; a merged declaration must repeat it
  interface Matchers<T = any> extends GoldenMatchers<T> {}
}

function contextLines(ctx: Record<string, string | number> | undefined): string {
  if (!ctx) return '';
  return Object.entries(ctx)
    .map(([k, v]) => `\n  ${k}: ${v}`)
    .join('');
}

export function registerGoldenMatchers(): void {
  expect.extend({
    toMatchGolden(received: Numeric, expected: Numeric, options: GoldenOptions) {
      const { tolerance, caseId, context, onStats, ...rest } = options;
      const stats = compareTensors(received, expected, { ...rest, ...(tolerance !== undefined ? { atol: tolerance } : {}) });
      onStats?.(stats);
      return {
        pass: stats.pass,
        message: () =>
          `${caseId}${this.isNot ? ' (expected NOT to match)' : ''}${contextLines(context)}\n${formatComparison(stats, caseId)}`,
      };
    },
    toPassComparison(received: ComparisonStats, caseId: string) {
      return {
        pass: received.pass,
        message: () => `${caseId}\n${formatComparison(received, caseId)}`,
      };
    },
    toPassCheck(received: CheckOutcome, caseId: string) {
      return {
        pass: received.pass,
        message: () => `${caseId}: ${this.isNot ? 'expected to FAIL but passed' : 'FAIL'}: ${received.message}`,
      };
    },
  });
}
