/**
 * A one-line progress bar for long commands: redrawn in place on a TTY (step, a bar, a status text, ETA), silent
 * otherwise so logs and pipes stay clean.
 */
const BAR_WIDTH = 24;

function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

export class ProgressBar {
  private readonly start = performance.now();
  private drawn = false;

  constructor(
    private readonly stream: NodeJS.WritableStream & { isTTY?: boolean },
    private readonly total: number,
    private readonly enabled = stream.isTTY === true,
  ) {}

  /** Redraws the bar after `done` of `total` units with `status` (e.g. the current loss). */
  update(done: number, status = ''): void {
    if (!this.enabled) return;
    const frac = Math.min(1, done / this.total);
    const filled = Math.round(frac * BAR_WIDTH);
    const elapsed = (performance.now() - this.start) / 1000;
    const eta = done > 0 ? (elapsed / done) * (this.total - done) : NaN;
    const bar = '#'.repeat(filled) + '-'.repeat(BAR_WIDTH - filled);
    this.stream.write(`\r[${bar}] ${done}/${this.total} ${status} eta ${formatDuration(eta)}\x1b[K`);
    this.drawn = true;
  }

  /** Ends the line so later output starts on a fresh one. */
  finish(): void {
    if (this.drawn) this.stream.write('\n');
    this.drawn = false;
  }
}

/** Whether long phases draw progress: on a TTY, unless --quiet (pipes and logs stay clean). */
export const showsProgress = (stream: { isTTY?: boolean }, quiet: boolean): boolean => !quiet && stream.isTTY === true;

/** A one-line note of what a long start-up is doing (loading models), where progress is shown. */
export function statusLine(stream: NodeJS.WritableStream & { isTTY?: boolean }, quiet: boolean, text: string): void {
  if (showsProgress(stream, quiet)) stream.write(`styleclip: ${text}\n`);
}

/** The `onProjectProgress` hook of a photo start as a bar of `total` steps; `done()` ends its line. */
export function projectionBar(stream: NodeJS.WritableStream & { isTTY?: boolean }, total: number, enabled: boolean): { onProjectProgress(p: { step: number; mse: number }): void; done(): void } {
  const bar = new ProgressBar(stream, total, enabled);
  return { onProjectProgress: (p) => bar.update(p.step, `projecting: mse ${p.mse.toFixed(4)}`), done: () => bar.finish() };
}
