/**
 * Jobs past one machine: with `--queue redis://host:port` the API puts job ids on a BullMQ queue
 * (https://docs.bullmq.io) and `styleclip worker` processes run them on any number of machines. Job inputs,
 * progress and results stay in the shared job store (a directory every machine mounts); Redis carries only ids.
 *
 * Delivery: a job is added with its id as BullMQ jobId, so a repeated add is ignored. A worker holds a lock that
 * it renews while the job runs; a worker that dies stops renewing, and after `stallMs` another worker's stalled
 * check puts the job back to wait, so it is retried rather than lost. A worker shutting down moves its unfinished
 * jobs back to wait (BullMQ `moveToWait` + `WaitingError`) without spending an attempt.
 */
import { Job, Queue, WaitingError, Worker } from 'bullmq';
import { InputError } from '../errors.js';
import { isFull, queueFullError, type JobQueue, type QueueStats } from './queue.js';
import { ShutdownAbort, runEditJob } from './runner.js';
import type { EditService } from './services.js';
import type { JobStore } from './store.js';

export const QUEUE_NAME = 'styleclip-edits';
/** Default lock duration / stalled-check interval (ms): BullMQ's own default (worker-options.d.ts). */
export const DEFAULT_STALL_MS = 30_000;
/** How often a job may be found stalled (its worker gone) before it is failed rather than retried again. */
export const MAX_STALLS = 3;
/** Keep this many finished BullMQ job records in Redis (results live in the store either way). */
const KEEP_FINISHED = 1000;
const WAITING_STATES = ['waiting', 'delayed', 'prioritized'] as const;

/** ioredis options from a `redis://[user:password@]host[:port][/db]` (or `rediss://` for TLS) URL. */
export function redisOptions(url: string): { host: string; port: number; username?: string; password?: string; db?: number; tls?: object; maxRetriesPerRequest: null } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new InputError(`--queue ${url}: not a URL; use redis://host:port`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new InputError(`--queue ${url}: use a redis:// or rediss:// URL`);
  const db = u.pathname.length > 1 ? Number(u.pathname.slice(1)) : undefined;
  if (db !== undefined && !(Number.isInteger(db) && db >= 0)) throw new InputError(`--queue ${url}: the database must be a number`);
  return {
    host: u.hostname || '127.0.0.1',
    port: u.port ? Number(u.port) : 6379,
    username: u.username ? decodeURIComponent(u.username) : undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    db,
    tls: u.protocol === 'rediss:' ? {} : undefined,
    /** Required by BullMQ for its blocking connections (docs: "Connections"). */
    maxRetriesPerRequest: null,
  };
}

/** The producer side used by `styleclip serve --queue`: submits, cancels, counts. */
export class RedisQueue implements JobQueue {
  private readonly queue: Queue;

  constructor(
    url: string,
    private readonly store: JobStore,
    private readonly capacity: number,
  ) {
    this.queue = new Queue(QUEUE_NAME, { connection: redisOptions(url) });
  }

  async submit(id: string): Promise<void> {
    const stats = await this.stats();
    if (isFull(stats)) throw queueFullError(stats);
    await this.queue.add(
      'edit',
      { id },
      { jobId: id, attempts: 1, removeOnComplete: KEEP_FINISHED, removeOnFail: KEEP_FINISHED },
    );
  }

  async cancel(id: string): Promise<void> {
    const job = await Job.fromId(this.queue, id);
    if (!job) return;
    const state = await job.getState();
    if (!(WAITING_STATES as readonly string[]).includes(state)) return;
    await job.remove().catch(() => undefined);
    const current = await this.store.state(id);
    if (current) await this.store.writeState(id, { ...current, status: 'cancelled', updatedAt: new Date().toISOString() });
  }

  async stats(): Promise<QueueStats> {
    const c = await this.queue.getJobCounts('active', ...WAITING_STATES);
    const waiting = WAITING_STATES.reduce((n, s) => n + (c[s] ?? 0), 0);
    return { kind: 'redis', running: c.active ?? 0, waiting, capacity: this.capacity };
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}

export interface WorkerOptions {
  readonly url: string;
  readonly store: JobStore;
  readonly editor: EditService;
  readonly concurrency: number;
  readonly stallMs?: number;
  readonly log?: (msg: string) => void;
}

export interface RunningWorker {
  /** Stops taking jobs; running ones get `graceMs` to finish, then go back to the queue. */
  close(graceMs: number): Promise<void>;
}

/** Starts a BullMQ worker that runs edit jobs from the shared store. */
export async function startWorker(opts: WorkerOptions): Promise<RunningWorker> {
  const shutdown = new AbortController();
  const stallMs = opts.stallMs ?? DEFAULT_STALL_MS;
  const worker = new Worker<{ id: string }>(
    QUEUE_NAME,
    async (job, token, signal) => {
      const both = signal ? AbortSignal.any([signal, shutdown.signal]) : shutdown.signal;
      try {
        return { status: await runEditJob({ store: opts.store, editor: opts.editor, signal: both, log: opts.log }, job.data.id) };
      } catch (e) {
        if (!(e instanceof ShutdownAbort)) throw e;
        await job.moveToWait(token);
        throw new WaitingError();
      }
    },
    {
      connection: redisOptions(opts.url),
      concurrency: opts.concurrency,
      lockDuration: stallMs,
      stalledInterval: stallMs,
      maxStalledCount: MAX_STALLS,
    },
  );
  worker.on('error', (e) => opts.log?.(`worker: ${e.message}`));
  await worker.waitUntilReady();
  return {
    async close(graceMs: number): Promise<void> {
      const timer = setTimeout(() => shutdown.abort(new ShutdownAbort('worker shutting down')), graceMs);
      try {
        await worker.close();
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
