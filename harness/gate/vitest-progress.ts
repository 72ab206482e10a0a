/**
 * vitest reporter for the gate's progress line (scripts/gate.ts passes it with --reporter): one
 * `@@tinydit-progress {json}` line on stdout per file collected, test started and test finished.
 */
import { relative } from 'node:path';
import type { Reporter, TestCase, TestModule, TestSpecification } from 'vitest/node';
import { formatProgressEvent, type ProgressEvent } from './progress.js';

export default class GateProgressReporter implements Reporter {
  private files = 0;
  private filesDone = 0;
  private total = 0;
  private done = 0;
  private failed = 0;

  private emit(e: Omit<ProgressEvent, 'runner'>): void {
    process.stdout.write(
      formatProgressEvent({
        runner: 'vitest',
        total: this.total,
        done: this.done,
        failed: this.failed,
        files: this.files,
        filesDone: this.filesDone,
        ...e,
      }) + '\n',
    );
  }

  onTestRunStart(specifications: ReadonlyArray<TestSpecification>): void {
    this.files = specifications.length;
    this.emit({ event: 'start' });
  }

  onTestModuleCollected(m: TestModule): void {
    this.total += [...m.children.allTests()].length;
    this.emit({ event: 'collected', file: relative(process.cwd(), m.moduleId) });
  }

  onTestCaseReady(t: TestCase): void {
    this.emit({ event: 'test', file: relative(process.cwd(), t.module.moduleId), title: t.name, project: 'node' });
  }

  onTestCaseResult(t: TestCase): void {
    this.done++;
    const state = t.result().state;
    if (state === 'failed') this.failed++;
    this.emit({
      event: 'result',
      file: relative(process.cwd(), t.module.moduleId),
      title: t.name,
      project: 'node',
      status: state === 'failed' ? 'failed' : state === 'passed' ? 'passed' : state,
    });
  }

  onTestModuleEnd(): void {
    this.filesDone++;
    this.emit({ event: 'collected' });
  }

  onTestRunEnd(): void {
    this.emit({ event: 'end' });
  }
}
