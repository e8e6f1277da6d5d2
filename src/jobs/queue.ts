/**
 * The job queue seen by the API, and its embedded in-process implementation (the default without `--queue`).
 * The queue is bounded: at most `concurrency` jobs run and at most `capacity` wait; a submission beyond that is
 * refused with a 429 so memory and latency stay bounded under load. Jobs live in the store, so after a restart
 * `recover()` re-queues whatever was waiting or was interrupted.
 */
import type { Generator } from '../generator/index.js';
import { RequestError, QueueFullError } from './errors.js';
import { JobCancelled, ShutdownAbort, runEditJob } from './runner.js';
import type { EditService } from './services.js';
import type { OnePassService } from './one_pass.js';
import type { JobStore } from './store.js';

/** Default lock duration / stalled-check interval of Redis workers (ms): BullMQ's own default (worker-options.d.ts). */
export const DEFAULT_STALL_MS = 30_000;

/** Jobs allowed to wait by default: a few minutes of work at StyleCLIP's 300 steps on one CPU machine. */
export const DEFAULT_QUEUE_CAPACITY = 16;
/** Seconds a refused client is told to wait (Retry-After): about one short edit. */
const RETRY_AFTER_SECONDS = 5;

export interface QueueStats {
  readonly kind: 'local' | 'redis';
  readonly running: number;
  readonly waiting: number;
  readonly capacity: number;
  /** Jobs run at once by this process (local queue only; Redis workers set their own). */
  readonly concurrency?: number;
}

export interface JobQueue {
  /** Queues a job already in the store; throws `QueueFullError` when there is no room. */
  submit(id: string): Promise<void>;
  /** Stops a waiting or running job (the store's cancel marker is already set by the caller). */
  cancel(id: string): Promise<void>;
  stats(): Promise<QueueStats>;
  /** Takes no more jobs; running ones get `graceMs` to finish, then are checkpointed back to 'queued'. */
  close(graceMs: number): Promise<void>;
}

/** No room: every slot runs and `capacity` jobs already wait. */
function isFull(s: QueueStats): boolean {
  return s.running >= (s.concurrency ?? 0) && s.waiting >= s.capacity;
}

export function queueFullError(s: QueueStats): QueueFullError {
  return new QueueFullError(
    `the edit queue is full (${s.running} running, ${s.waiting} waiting, capacity ${s.capacity}); retry later`,
    RETRY_AFTER_SECONDS,
  );
}

interface LocalQueueOptions {
  readonly store: JobStore;
  readonly editor: EditService;
  /** Runs one-pass jobs (global directions, mappers). */
  readonly onePass?: OnePassService;
  /** StyleGAN-NADA domains by name (`serve --domains`) that jobs may render with. */
  readonly domains?: ReadonlyMap<string, Generator>;
  readonly concurrency: number;
  readonly capacity: number;
  readonly log?: (msg: string) => void;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms).unref());

/** Time kept at the end of a shutdown for aborted jobs to checkpoint themselves (ms). */
const CHECKPOINT_RESERVE_MS = 500;

/** Puts a job back to 'queued' (history cleared), as a job aborted for shutdown does itself. */
async function checkpoint(store: JobStore, id: string): Promise<void> {
  const state = await store.state(id);
  if (state && state.status !== 'running') return;
  await store.clearHistory(id);
  if (state) await store.writeState(id, { ...state, status: 'queued', step: 0, previewStep: undefined, updatedAt: new Date().toISOString() });
}

export class LocalQueue implements JobQueue {
  private readonly waiting: string[] = [];
  private readonly running = new Map<string, { controller: AbortController; done: Promise<void> }>();
  private closing = false;

  constructor(private readonly opts: LocalQueueOptions) {
    if (!Number.isInteger(opts.concurrency) || opts.concurrency < 1) throw new RangeError('concurrency must be >= 1');
    if (!Number.isInteger(opts.capacity) || opts.capacity < 0) throw new RangeError('capacity must be >= 0');
  }

  /** Re-queues stored jobs that were waiting or running when the process stopped; returns how many. */
  async recover(): Promise<number> {
    let n = 0;
    for (const id of await this.opts.store.list()) {
      const state = await this.opts.store.state(id);
      if (state && (state.status === 'queued' || state.status === 'running') && !this.running.has(id)) {
        if (!this.waiting.includes(id)) this.waiting.push(id);
        n++;
      }
    }
    this.pump();
    return n;
  }

  async submit(id: string): Promise<void> {
    if (this.closing) throw new RequestError('not_ready', 'the server is shutting down; retry on another instance');
    const stats = this.statsNow();
    if (isFull(stats)) throw queueFullError(stats);
    this.waiting.push(id);
    this.pump();
  }

  async cancel(id: string): Promise<void> {
    const i = this.waiting.indexOf(id);
    if (i >= 0) {
      this.waiting.splice(i, 1);
      const state = await this.opts.store.state(id);
      if (state) await this.opts.store.writeState(id, { ...state, status: 'cancelled', updatedAt: new Date().toISOString() });
      return;
    }
    this.running.get(id)?.controller.abort(new JobCancelled(`job ${id} was cancelled`));
  }

  async stats(): Promise<QueueStats> {
    return this.statsNow();
  }

  private statsNow(): QueueStats {
    return {
      kind: 'local',
      running: this.running.size,
      waiting: this.waiting.length,
      capacity: this.opts.capacity,
      concurrency: this.opts.concurrency,
    };
  }

  /**
   * Stops taking jobs; running ones get the grace period to finish. `graceMs` bounds the whole close: at
   * `graceMs - reserve` running jobs are aborted (they checkpoint at their next step), and any still running at
   * `graceMs` are checkpointed here (back to 'queued', run again on restart) without waiting for their step.
   */
  async close(graceMs: number): Promise<void> {
    this.closing = true;
    this.waiting.length = 0;
    const all = (): Promise<unknown> => Promise.all([...this.running.values()].map((r) => r.done));
    const reserve = Math.min(CHECKPOINT_RESERVE_MS, graceMs / 4);
    await Promise.race([all(), sleep(graceMs - reserve)]);
    for (const r of this.running.values()) r.controller.abort(new ShutdownAbort('shutting down'));
    await Promise.race([all(), sleep(reserve)]);
    for (const id of this.running.keys()) await checkpoint(this.opts.store, id);
  }

  /** Resolves once no job runs any more (after `close`, the jobs it aborted finish their step and checkpoint). */
  async idle(): Promise<void> {
    await Promise.all([...this.running.values()].map((r) => r.done));
  }

  /** Starts waiting jobs while there are free slots. */
  private pump(): void {
    while (!this.closing && this.running.size < this.opts.concurrency && this.waiting.length > 0) {
      const id = this.waiting.shift() as string;
      const controller = new AbortController();
      const { store, editor, onePass, domains, log } = this.opts;
      const done = runEditJob({ store, editor, onePass, domains, signal: controller.signal, log }, id)
        .then(() => undefined)
        .catch((e: unknown) => {
          if (!(e instanceof ShutdownAbort)) log?.(`job ${id}: ${(e as Error)?.stack ?? String(e)}`);
        })
        .finally(() => {
          this.running.delete(id);
          this.pump();
        });
      this.running.set(id, { controller, done });
    }
  }
}
