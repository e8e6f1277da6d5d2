/**
 * Jobs past one machine: with `--queue redis://host:port` the API puts job ids on a BullMQ queue
 * (https://docs.bullmq.io) and `styleclip worker` processes run them on any number of machines. Job inputs,
 * progress and results stay in the shared job store (a directory every machine mounts); Redis carries only ids.
 *
 * Delivery: a job is added with its id as BullMQ jobId, so a repeated add is ignored. A worker holds a lock that
 * it renews while the job runs; a worker that dies stops renewing, and after `stallMs` another worker's stalled
 * check puts the job back to wait, so it is retried rather than lost. A worker shutting down moves its unfinished
 * jobs back to wait (BullMQ `moveToWait` + `WaitingError`) without spending an attempt.
 *
 * The job store is the record: Redis may lose its data (a restart without persistence, a flush). Whenever the
 * producer (re)connects, and every RECONCILE_EVERY_MS, jobs the store holds as queued but Redis does not know are
 * added again (`reconcile`); a cancel of a queued job Redis no longer holds cancels it in the store at once.
 */
import type { Generator } from '../generator/index.js';
import { Job, Queue, WaitingError, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { InputError } from '../errors.js';
import { RequestError } from './errors.js';
import { DEFAULT_STALL_MS, queueFullError, type JobQueue, type QueueStats } from './queue.js';
import { ShutdownAbort, runEditJob } from './runner.js';
import type { EditService } from './services.js';
import type { OnePassService } from './one_pass.js';
import type { JobStore } from './store.js';

export const QUEUE_NAME = 'styleclip-edits';
/** How often a job may be found stalled (its worker gone) before it is failed rather than retried again. */
const MAX_STALLS = 3;
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

/** How long an API call waits for Redis before answering 503 (ms): a few seconds, not a hang. */
const REDIS_TIMEOUT_MS = 3000;
/** Tries, and the pause between them (ms), of the reconcile after a reconnect. */
const RECONNECT_RETRIES = 20;
const RECONNECT_RETRY_MS = 500;
/** How often the producer checks the store's queued jobs against Redis (ms). */
const RECONCILE_EVERY_MS = 30_000;
/** A queued job younger than this may still be on its way into Redis (submit in flight): reconcile leaves it (ms). */
const RECONCILE_MIN_AGE_MS = 10_000;

/** A reservation (admitted, not yet added) older than this belongs to a crashed server and stops counting (ms). */
const RESERVATION_TTL_MS = 30_000;

/**
 * Atomic admission across API servers: counts the waiting jobs (BullMQ's wait, paused, prioritized and delayed keys)
 * plus the live reservations of other servers, and reserves a slot for this job only if the total is below the
 * capacity. One Lua script runs atomically in Redis, so N servers together never exceed the limit.
 * KEYS: wait, paused, prioritized, delayed, reservations. ARGV: capacity, id, now (ms), reservation TTL (ms).
 * Returns -1 when admitted, else the number waiting.
 */
const ADMIT_SCRIPT = `
redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', tonumber(ARGV[3]) - tonumber(ARGV[4]))
local n = redis.call('LLEN', KEYS[1]) + redis.call('LLEN', KEYS[2]) + redis.call('ZCARD', KEYS[3]) + redis.call('ZCARD', KEYS[4]) + redis.call('ZCARD', KEYS[5])
if n >= tonumber(ARGV[1]) then return n end
redis.call('ZADD', KEYS[5], ARGV[3], ARGV[2])
return -1
`;

/** Rejects after `ms` with a 503 naming Redis, so no request hangs on an unreachable queue. */
function bounded<T>(p: Promise<T>, ms = REDIS_TIMEOUT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(queueDown(`no answer in ${ms} ms`)), ms);
  });
  return Promise.race([p.catch((e: unknown) => Promise.reject(e instanceof RequestError ? e : queueDown((e as Error).message))), timeout]).finally(() => clearTimeout(timer)) as Promise<T>;
}

/** ioredis / BullMQ messages in plain words (their own texts name options and internals). */
export function redisReason(message: string): string {
  const refused = /ECONNREFUSED\s*([\w.:[\]-]+)?/.exec(message);
  if (refused) return `connection refused${refused[1] ? ` at ${refused[1]}` : ''}`;
  if (/ECONNRESET|EPIPE|socket hang up/i.test(message)) return 'the connection was reset';
  if (/enableOfflineQueue|Stream isn't writeable|Connection is closed|closed/i.test(message)) return 'not connected';
  if (/ETIMEDOUT|timed? ?out|no answer/i.test(message)) return 'no answer in time';
  if (/ENOTFOUND|EAI_AGAIN/.test(message)) return 'host not found';
  if (/NOAUTH|WRONGPASS|invalid password/i.test(message)) return 'authentication failed (check the password in the redis:// URL)';
  return 'connection error';
}

const queueDown = (why: string): RequestError => new RequestError('not_ready', `the job queue (Redis) is unreachable (${redisReason(why)}); retry in a few seconds`);

/** After Redis is back, how long errors of connections still reconnecting are not a new outage (ms). */
const RECONNECT_SETTLE_MS = 3000;

/** Logs a connection's up/down transitions once each, not every failed retry (ioredis retries many times a second). */
class LinkLog {
  private down = false;
  private backAt = 0;
  constructor(private readonly meanwhile: string, private readonly log: (msg: string) => void) {}
  lost(why: string): void {
    // Errors right after the return come from the other connections of the same client still reconnecting.
    if (this.down || Date.now() - this.backAt < RECONNECT_SETTLE_MS) return;
    this.down = true;
    this.log(`Redis is unreachable (${redisReason(why)}); ${this.meanwhile}`);
  }
  back(): void {
    if (!this.down) return;
    this.down = false;
    this.backAt = Date.now();
    this.log('Redis is reachable again');
  }
}

/** The producer side used by `styleclip serve --queue`: submits, cancels, counts. */
export class RedisQueue implements JobQueue {
  private readonly queue: Queue;
  /** Our own connection for the admission script and the up/down log (BullMQ's client type hides EVAL). */
  private readonly redis: Redis;
  private readonly link: LinkLog;
  private closing = false;
  private readonly reconciler: NodeJS.Timeout;
  private reconciling?: Promise<number>;

  constructor(
    url: string,
    private readonly store: JobStore,
    private readonly capacity: number,
    private readonly log: (msg: string) => void = () => undefined,
    private readonly timing: { readonly reconcileMinAgeMs?: number; readonly reconcileEveryMs?: number } = {},
  ) {
    // No offline queue: while Redis is unreachable a command fails at once instead of being replayed on reconnect,
    // so a request that got a 503 never turns into a job later.
    const connection = { ...redisOptions(url), enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: REDIS_TIMEOUT_MS };
    this.link = new LinkLog('edits get 503 until it is back', log);
    this.queue = new Queue(QUEUE_NAME, { connection });
    this.queue.on('error', (e) => this.link.lost(e.message));
    this.redis = new Redis(connection);
    this.redis.on('error', (e) => this.link.lost(e.message));
    this.redis.on('close', () => this.closing || this.link.lost('Connection is closed'));
    this.redis.on('ready', () => {
      this.link.back();
      void this.reconcileSoon();
    });
    this.reconciler = setInterval(() => void this.reconcile().catch(() => undefined), timing.reconcileEveryMs ?? RECONCILE_EVERY_MS);
    this.reconciler.unref();
  }

  /** Adds again the queued jobs of the store that Redis does not hold (see the header); returns how many. */
  reconcile(): Promise<number> {
    this.reconciling ??= this.reconcileOnce().finally(() => (this.reconciling = undefined));
    return this.reconciling;
  }

  /**
   * Reconciles once BullMQ's own connection is back too (it reconnects on its own schedule): a few tries, RECONNECT_RETRY_MS
   * apart; what they miss the periodic check catches.
   */
  private async reconcileSoon(): Promise<void> {
    for (let attempt = 0; attempt < RECONNECT_RETRIES; attempt++) {
      try {
        await this.reconcile();
        return;
      } catch {
        await new Promise((r) => setTimeout(r, RECONNECT_RETRY_MS).unref());
      }
    }
  }

  private async reconcileOnce(): Promise<number> {
    const minAge = this.timing.reconcileMinAgeMs ?? RECONCILE_MIN_AGE_MS;
    let added = 0;
    for (const id of await this.store.list()) {
      const state = await this.store.state(id);
      if (state?.status !== 'queued' || Date.now() - Date.parse(state.updatedAt) < minAge) continue;
      if (await bounded(Job.fromId(this.queue, id))) continue;
      if (await this.store.cancelRequested(id)) {
        await this.store.writeState(id, { ...state, status: 'cancelled', updatedAt: new Date().toISOString() });
        continue;
      }
      await bounded(this.addJob(id));
      added++;
    }
    if (added) this.log(`re-queued ${added} job(s) that Redis had lost (the job store is the record)`);
    return added;
  }

  /** The one way a job id goes into Redis: its id as jobId (a repeated add is ignored), one attempt. */
  private addJob(id: string): Promise<Job> {
    return this.queue.add('edit', { id }, { jobId: id, attempts: 1, removeOnComplete: KEEP_FINISHED, removeOnFail: KEEP_FINISHED });
  }

  async submit(id: string): Promise<void> {
    const k = this.queue.keys;
    const client = this.redis;
    const reservations = `${k['']}:styleclip-reservations`;
    const waiting = (await bounded(client.eval(ADMIT_SCRIPT, 5, k.wait, k.paused, k.prioritized, k.delayed, reservations, this.capacity, id, Date.now(), RESERVATION_TTL_MS))) as number;
    if (waiting >= 0) throw queueFullError({ kind: 'redis', running: 0, waiting, capacity: this.capacity });
    try {
      await bounded(this.addJob(id));
    } finally {
      await bounded(client.zrem(reservations, id)).catch(() => undefined);
    }
  }

  async cancel(id: string): Promise<void> {
    const job = await bounded(Job.fromId(this.queue, id));
    if (!job) {
      // Redis lost it (see the header): nobody will run it, so a queued job is cancelled here and now.
      const current = await this.store.state(id);
      if (current?.status === 'queued') await this.store.writeState(id, { ...current, status: 'cancelled', updatedAt: new Date().toISOString() });
      return;
    }
    const state = await bounded(job.getState());
    if (!(WAITING_STATES as readonly string[]).includes(state)) return;
    await job.remove().catch(() => undefined);
    const current = await this.store.state(id);
    if (current) await this.store.writeState(id, { ...current, status: 'cancelled', updatedAt: new Date().toISOString() });
  }

  async stats(): Promise<QueueStats> {
    // /health answers as submissions would: both connections must be up (they reconnect on their own schedules).
    if (this.redis.status !== 'ready') throw queueDown('Connection is closed');
    const c = await bounded(this.queue.getJobCounts('active', ...WAITING_STATES));
    const waiting = WAITING_STATES.reduce((n, s) => n + (c[s] ?? 0), 0);
    return { kind: 'redis', running: c.active ?? 0, waiting, capacity: this.capacity };
  }

  async close(): Promise<void> {
    this.closing = true;
    clearInterval(this.reconciler);
    await this.reconciling?.catch(() => undefined);
    this.redis.disconnect();
    await this.queue.close();
  }
}

interface WorkerOptions {
  readonly url: string;
  readonly store: JobStore;
  readonly editor: EditService;
  /** Runs one-pass jobs (global directions, mappers). */
  readonly onePass?: OnePassService;
  /** StyleGAN-NADA domains by name (`serve --domains`) that jobs may render with. */
  readonly domains?: ReadonlyMap<string, Generator>;
  readonly concurrency: number;
  readonly stallMs?: number;
  readonly log?: (msg: string) => void;
}

interface RunningWorker {
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
        return { status: await runEditJob({ store: opts.store, editor: opts.editor, onePass: opts.onePass, domains: opts.domains, signal: both, log: opts.log }, job.data.id) };
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
  // BullMQ reports every failed retry as an error and says nothing when it is back: a watch connection of our own
  // gives the transitions, each logged once.
  const link = new LinkLog('jobs wait until it is back', opts.log ?? (() => undefined));
  worker.on('error', (e) => link.lost(e.message));
  const watch = new Redis({ ...redisOptions(opts.url), lazyConnect: true });
  watch.on('error', (e) => link.lost(e.message));
  watch.on('ready', () => link.back());
  await Promise.all([worker.waitUntilReady(), watch.connect()]);
  return {
    async close(graceMs: number): Promise<void> {
      const timer = setTimeout(() => shutdown.abort(new ShutdownAbort('worker shutting down')), graceMs);
      try {
        await worker.close();
      } finally {
        clearTimeout(timer);
        watch.disconnect();
      }
    },
  };
}
