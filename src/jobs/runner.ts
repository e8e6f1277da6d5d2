/**
 * Runs one stored edit job to its end, wherever it runs: the in-process queue, a BullMQ worker on another machine,
 * or `styleclip batch`. Its `JobRecorder` (recorder.ts) records progress in the store (throttled) and writes all
 * results before the state turns 'done'; cancellation requested through the store (a DELETE on any API replica)
 * reaches the worker.
 *
 * An abort whose reason is a `ShutdownAbort` checkpoints the job: its state goes back to 'queued' (history cleared)
 * so it runs again from the start after a restart or on another worker, and the `ShutdownAbort` is rethrown.
 * Re-running from the start, rather than from the last latent, keeps a seeded edit deterministic: Adam's moments
 * and the learning-rate ramp are not part of the editor's progress events.
 */
import type { Generator } from '../generator/index.js';
import { hostname } from 'node:os';
import { readNpy } from '../io/tensors/npy.js';
import { Cancelled, InputError } from '../errors.js';
import type { EditProgress, EditStart } from '../edit/types.js';
import { JobRecorder } from './recorder.js';
import type { EditService } from './services.js';
import type { OnePassService } from './one_pass.js';
import { TERMINAL, jobSteps, type JobRequest, type JobState, type JobStatus, type JobStore } from './store.js';

/** How often a running job checks the store's cancel marker (ms): the latency of a cross-machine DELETE. */
const CANCEL_POLL_MS = 250;

/** Abort reason: the user cancelled the job. */
export class JobCancelled extends Cancelled {
  override name = 'JobCancelled';
}

/** Abort reason: the process is shutting down; the job is put back in the queue. */
export class ShutdownAbort extends Cancelled {
  override name = 'ShutdownAbort';
}

interface RunContext {
  readonly store: JobStore;
  readonly editor: EditService;
  /** Runs jobs of the one-pass methods (global directions, mappers); without it such a job fails with a clear error. */
  readonly onePass?: OnePassService;
  /** StyleGAN-NADA domains by name (`serve --domains`) that jobs may render with. */
  readonly domains?: ReadonlyMap<string, Generator>;
  /** Aborted with a `ShutdownAbort` (checkpoint) or `JobCancelled` reason. */
  readonly signal?: AbortSignal;
  /** Called with every progress event, after it is recorded (the batch progress bar uses it). */
  readonly onProgress?: (p: EditProgress) => void;
  readonly log?: (msg: string) => void;
}

const WORKER_NAME = `${hostname()}:${process.pid}`;

function startOf(store: JobStore, req: JobRequest): Promise<EditStart> | EditStart {
  switch (req.start.kind) {
    case 'seed':
      return { kind: 'seed', seed: req.start.seed, truncation: req.start.truncation };
    case 'image':
      return { kind: 'image', path: store.path(req.id, 'start.png'), projectSteps: req.start.projectSteps, refineSteps: req.start.refineSteps, iterations: req.start.iterations, inversion: req.start.inversion, faceIndex: req.start.faceIndex };
    case 'w+':
      return readNpy(store.path(req.id, 'start.npy')).then((latent) => ({ kind: 'w+', latent }));
  }
}

/** The job's domain generator; a name this process did not load is the job's failure, named. */
function domainOf(ctx: RunContext, req: JobRequest): Generator | undefined {
  if (req.domain === undefined) return undefined;
  const g = ctx.domains?.get(req.domain);
  if (!g) throw new InputError(`domain '${req.domain}' is not loaded in this process: start it with --domains ${req.domain}=G.pt`);
  return g;
}

function onePassOf(ctx: RunContext): OnePassService {
  if (!ctx.onePass) throw new InputError('this process runs no one-pass methods (global directions, mappers): give the runner a OnePassService');
  return ctx.onePass;
}

/** Runs job `id`; returns its final status. Jobs already finished are left alone (a retried delivery is a no-op). */
export async function runEditJob(ctx: RunContext, id: string): Promise<JobStatus> {
  const { store, editor } = ctx;
  const [req, prev] = await Promise.all([store.request(id), store.state(id)]);
  if (!req || !prev) throw new Error(`job ${id} is not in the store at ${store.root}`);
  if (TERMINAL.has(prev.status)) return prev.status;
  const state: JobState = {
    ...prev,
    status: 'running',
    step: 0,
    previewStep: undefined,
    beforeReady: undefined,
    projection: undefined,
    error: undefined,
    attempts: prev.attempts + 1,
    worker: WORKER_NAME,
    updatedAt: new Date().toISOString(),
  };
  const rec = new JobRecorder(store, id, state, ctx.log);

  const { controller, release } = jobAbort(ctx, id);
  const onProgress = (p: EditProgress): void => {
    rec.onProgress(p);
    ctx.onProgress?.(p);
  };

  try {
    if (await store.cancelRequested(id)) throw new JobCancelled(`job ${id} was cancelled before it started`);
    await rec.resetHistory();
    await rec.save({});
    const start = await startOf(store, req);
    const call = { signal: controller.signal, hooks: { onProgress, onProjectProgress: rec.onProjectProgress }, domain: domainOf(ctx, req) };
    const result = req.method ? await onePassOf(ctx).edit(req.method, start, call) : await editor.edit(start, req.options, call);
    await rec.writeResults(result);
    await rec.save({ status: 'done', step: jobSteps(req) });
    return 'done';
  } catch (e) {
    await rec.settled();
    const reason: unknown = controller.signal.aborted ? controller.signal.reason : e;
    if (reason instanceof ShutdownAbort) {
      await rec.resetHistory();
      await rec.save({ status: 'queued', step: 0, previewStep: undefined });
      throw reason;
    }
    if (reason instanceof JobCancelled || (await store.cancelRequested(id))) {
      await rec.save({ status: 'cancelled' });
      return 'cancelled';
    }
    const user = e instanceof InputError;
    if (!user) ctx.log?.(`job ${id} failed: ${(e as Error)?.stack ?? String(e)}`);
    const message = user ? (e as Error).message : 'internal error while editing; the worker log has the details';
    await rec.save({ status: 'failed', error: { code: user ? 'invalid_input' : 'internal', message } });
    return 'failed';
  } finally {
    release();
  }
}

/** An abort controller fired by the caller's signal (shutdown) or by a cancel marker in the store (DELETE anywhere). */
function jobAbort(ctx: RunContext, id: string): { controller: AbortController; release: () => void } {
  const controller = new AbortController();
  const onOuterAbort = (): void => controller.abort(ctx.signal?.reason);
  ctx.signal?.addEventListener('abort', onOuterAbort, { once: true });
  if (ctx.signal?.aborted) onOuterAbort();
  const watcher = setInterval(() => {
    void ctx.store.cancelRequested(id).then((yes) => yes && controller.abort(new JobCancelled(`job ${id} was cancelled`)));
  }, CANCEL_POLL_MS);
  watcher.unref();
  return {
    controller,
    release: () => {
      clearInterval(watcher);
      ctx.signal?.removeEventListener('abort', onOuterAbort);
    },
  };
}
