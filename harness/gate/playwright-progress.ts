/**
 * Playwright reporter for the gate's progress line (scripts/gate.ts adds it to --reporter): one
 * `@@tinydit-progress {json}` line on stdout per test and per test.step (the browser suites run each breed as
 * a step), with the project (engine) and the count done of the total.
 */
import { relative } from 'node:path';
import type { FullConfig, Reporter, Suite, TestCase, TestError, TestResult, TestStep } from '@playwright/test/reporter';
import { formatProgressEvent, type ProgressEvent } from './progress.js';

export default class GateProgressReporter implements Reporter {
  private total = 0;
  private done = 0;
  private failed = 0;

  private emit(e: Omit<ProgressEvent, 'runner'>): void {
    process.stdout.write(
      formatProgressEvent({ runner: 'playwright', total: this.total, done: this.done, failed: this.failed, ...e }) + '\n',
    );
  }

  private where(test: TestCase): { file: string; title: string; project: string } {
    return { file: relative(process.cwd(), test.location.file), title: test.title, project: test.parent.project()?.name ?? '' };
  }

  onBegin(_config: FullConfig, suite: Suite): void {
    this.total = suite.allTests().length;
    this.emit({ event: 'start' });
  }

  onTestBegin(test: TestCase): void {
    this.emit({ event: 'test', ...this.where(test) });
  }

  onStepBegin(test: TestCase, _result: TestResult, step: TestStep): void {
    if (step.category === 'test.step') this.emit({ event: 'step', ...this.where(test), step: step.title });
  }

  onTestEnd(test: TestCase, result: TestResult): void {
    this.done++;
    if (result.status !== 'passed' && result.status !== 'skipped') this.failed++;
    this.emit({ event: 'result', ...this.where(test), status: result.status });
  }

  onError(error: TestError): void {
    this.emit({ event: 'error', message: (error.message ?? '').split('\n')[0] ?? '' });
  }

  printsToStdio(): boolean {
    return false;
  }
}
