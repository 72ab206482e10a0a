/**
 * The progress line of a gate run: which suite and check is running, on which engine, how many of how many.
 * The runners report through two tiny reporters (vitest-progress.ts, playwright-progress.ts) that print one
 * `@@tinydit-progress {json}` line per event on stdout; the gate parses those lines and draws one status line
 * (redrawn in place on a terminal, in a CI log a line only when something changes: the phase, an engine, the next tenth of a runner's tests).
 */
export const PROGRESS_PREFIX = '@@tinydit-progress ';

export interface ProgressEvent {
  runner: 'vitest' | 'playwright';
  event: 'start' | 'collected' | 'test' | 'step' | 'result' | 'end' | 'error';
  /** Tests known so far (vitest learns them file by file) and in total when known. */
  total?: number;
  done?: number;
  failed?: number;
  files?: number;
  filesDone?: number;
  file?: string;
  title?: string;
  project?: string;
  step?: string;
  status?: string;
  message?: string;
}

export function formatProgressEvent(e: ProgressEvent): string {
  return PROGRESS_PREFIX + JSON.stringify(e);
}

export function parseProgressLine(line: string): ProgressEvent | null {
  const i = line.indexOf(PROGRESS_PREFIX);
  if (i < 0) return null;
  try {
    return JSON.parse(line.slice(i + PROGRESS_PREFIX.length)) as ProgressEvent;
  } catch {
    return null;
  }
}

interface RunnerState {
  total: number;
  done: number;
  failed: number;
  files?: number;
  filesDone?: number;
  current: string;
  project: string;
  step: string;
}

const shortFile = (f: string | undefined): string => (f ?? '').split('/').pop() ?? '';

/** Keeps the state of the run and renders it as one line. */
export class ProgressLine {
  private state = new Map<string, RunnerState>();
  private phase = '';
  private started = Date.now();
  private lastText = '';
  private readonly tty: boolean;

  constructor(private readonly out: NodeJS.WriteStream = process.stderr) {
    this.tty = !!out.isTTY && process.env.CI === undefined;
  }

  setPhase(phase: string): void {
    this.phase = phase;
    this.render(true);
  }

  update(e: ProgressEvent): void {
    const s = this.state.get(e.runner) ?? { total: 0, done: 0, failed: 0, current: '', project: '', step: '' };
    if (e.total !== undefined) s.total = e.total;
    if (e.done !== undefined) s.done = e.done;
    if (e.failed !== undefined) s.failed = e.failed;
    if (e.files !== undefined) s.files = e.files;
    if (e.filesDone !== undefined) s.filesDone = e.filesDone;
    if (e.event === 'test') {
      s.current = `${shortFile(e.file)} > ${e.title ?? ''}`;
      s.project = e.project ?? s.project;
      s.step = '';
    }
    if (e.event === 'step') s.step = e.step ?? '';
    this.state.set(e.runner, s);
    const failure = e.event === 'result' && e.status !== undefined && !['passed', 'pass', 'skipped'].includes(e.status);
    if (failure) this.printAbove(`  ✗ ${e.project ?? ''} ${shortFile(e.file)} > ${e.title ?? ''} (${e.status})`);
    this.render(false);
  }

  text(): string {
    const secs = Math.round((Date.now() - this.started) / 1000);
    const clock = `${String(Math.floor(secs / 60)).padStart(2, '0')}:${String(secs % 60).padStart(2, '0')}`;
    const parts = [...this.state.entries()].map(([runner, s]) => {
      const engine = runner === 'playwright' ? s.project || 'browser' : 'node';
      const files = s.files !== undefined ? ` files ${s.filesDone ?? 0}/${s.files}` : '';
      const fail = s.failed ? ` ✗${s.failed}` : '';
      const what = s.step ? `${s.current} > ${s.step}` : s.current;
      return `${runner}[${engine}] ${s.done}/${s.total || '?'}${fail}${files} ${what}`;
    });
    return `[gate ${clock}] ${this.phase}${parts.length ? ' | ' + parts[parts.length - 1] : ''}`;
  }

  private render(force: boolean): void {
    const t = this.text();
    if (this.tty) {
      const cols = this.out.columns ?? 120;
      this.out.write(`\r\u001b[K${t.length > cols - 1 ? t.slice(0, cols - 2) + '…' : t}`);
      return;
    }
    // Not a terminal (CI logs): a line only when something changes: the phase, a runner's engine, or a runner
    // crossing the next tenth of its tests. Never a line every few seconds.
    const key = this.milestone();
    if (force ? t !== this.lastText : key !== this.lastKey) {
      this.out.write(t + '\n');
      this.lastText = t;
    }
    this.lastKey = key;
  }
  private lastKey = '';

  /** What a CI log line is printed for: the phase, each runner's engine and tenth of its tests done. */
  private milestone(): string {
    const runners = [...this.state.entries()].map(
      ([runner, s]) => `${runner}:${s.project}:${s.total ? Math.floor((10 * s.done) / s.total) : 0}`,
    );
    return [this.phase, ...runners].join('|');
  }
  /** A line that stays (a failure), printed above the progress line. */
  printAbove(line: string): void {
    if (this.tty) this.out.write(`\r\u001b[K${line}\n`);
    else this.out.write(line + '\n');
    this.render(true);
  }

  finish(): void {
    if (this.tty) this.out.write('\r\u001b[K');
  }
}
