/**
 * What a running job leaves in the store: its state (throttled to STATE_FLUSH_MS: SSE clients poll it), its loss
 * history (appended, never rewritten), the before image at the first step, the newest preview frame (older waiting
 * ones are dropped), and at the end the result files. Every write is queued in order; `settled()` waits for them.
 */
import { encodeNpy } from '../io/tensors/npy.js';
import { sideBySide } from '../io/images/frames.js';
import type { RgbFrame } from '../io/images/image.js';
import type { EditProgress, ProjectionProgress } from '../edit/types.js';
import { encodePng } from './images.js';
import type { OnePassOutcome } from './one_pass.js';
import type { EditResult } from '../edit/optimize/types.js';
import type { JobState, JobStore, LossPoint } from './store.js';

/** Progress reaches state.json at most this often (ms): SSE clients poll it; more often only costs disk writes. */
const STATE_FLUSH_MS = 250;

const lossPoint = (p: EditProgress): LossPoint => ({
  step: p.step,
  lr: p.lr,
  loss: p.loss,
  clipLoss: p.clipLoss,
  l2Loss: p.l2Loss,
  idLoss: p.idLoss,
});

export class JobRecorder {
  /** Loss points not yet appended to the history file. */
  private pending: LossPoint[] = [];
  private writes: Promise<void> = Promise.resolve();
  private lastFlush = 0;
  private latestPreview: { frame: RgbFrame; step: number } | undefined;

  constructor(
    private readonly store: JobStore,
    private readonly id: string,
    private state: JobState,
    private readonly log?: (msg: string) => void,
  ) {}

  get beforeReady(): boolean {
    return this.state.beforeReady === true;
  }

  /** Merges `next` into the state and queues the history points seen so far and the state write. */
  save(next: Partial<JobState>): Promise<void> {
    this.state = { ...this.state, ...next, updatedAt: new Date().toISOString() };
    const snapshot = this.state;
    const points = this.pending;
    this.pending = [];
    this.writes = this.writes
      .then(() => this.store.appendHistory(this.id, points))
      .then(() => this.store.writeState(this.id, snapshot))
      .catch((e) => this.log?.(`job ${this.id}: ${(e as Error).message}`));
    return this.writes;
  }

  /** Drops unwritten history and clears the history file (a job put back in the queue starts over). */
  async resetHistory(): Promise<void> {
    this.pending = [];
    await this.store.clearHistory(this.id);
  }

  readonly onProgress = (p: EditProgress): void => {
    this.pending.push(lossPoint(p));
    if (p.before) {
      const frame = p.before;
      this.queue(async () => this.store.writeFile(this.id, 'before.png', await encodePng(frame)));
      void this.save({ beforeReady: true });
    }
    if (p.preview) {
      // Only the newest frame matters: while one is being written, a newer one replaces the waiting one, so a job
      // with a preview every step never queues frames faster than they are written.
      const queued = this.latestPreview !== undefined;
      this.latestPreview = { frame: p.preview, step: p.step };
      if (!queued) {
        this.queue(async () => {
          const { frame, step } = this.latestPreview!;
          this.latestPreview = undefined;
          await this.store.writeFile(this.id, 'preview.png', await encodePng(frame, true));
          void this.save({ step, previewStep: step });
        });
      }
      this.lastFlush = Date.now();
    } else if (Date.now() - this.lastFlush >= STATE_FLUSH_MS || p.step === p.steps) {
      void this.save({ step: p.step });
      this.lastFlush = Date.now();
    }
  };

  readonly onProjectProgress = (p: ProjectionProgress): void => {
    if (Date.now() - this.lastFlush < STATE_FLUSH_MS && p.step !== p.steps) return;
    void this.save({ projection: { step: p.step, steps: p.steps, loss: p.loss, mse: p.mse } });
    this.lastFlush = Date.now();
  };

  /** Writes the result files (before, result, compare, latent, the pasted-back photo). */
  async writeResults(result: EditResult | OnePassOutcome): Promise<void> {
    await this.settled();
    if (!this.beforeReady) await this.store.writeFile(this.id, 'before.png', await encodePng(result.before));
    await this.store.writeFile(this.id, 'result.png', await encodePng(result.after));
    await this.store.writeFile(this.id, 'compare.png', await encodePng(sideBySide([result.before, result.after])));
    await this.store.writeFile(this.id, 'latent.npy', encodeNpy(result.latent));
    if (result.photo) await this.store.writeFile(this.id, 'photo.png', await encodePng(result.photo.pasted));
  }

  /** Resolves when every queued write is done. */
  settled(): Promise<void> {
    return this.writes;
  }

  private queue(write: () => Promise<void>): void {
    this.writes = this.writes.then(write);
  }
}
