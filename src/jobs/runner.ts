/**
 * Runs one stored edit job to its end, wherever it runs: the in-process queue, a BullMQ worker on another machine,
 * or `styleclip batch`. It records progress in the store (throttled), honours cancellation requested through the
 * store (so a DELETE on any API replica reaches the worker) and writes all results before the state turns 'done'.
 *
 * An abort whose reason is a `ShutdownAbort` checkpoints the job: its state goes back to 'queued' (history cleared)
 * so it runs again from the start after a restart or on another worker, and the `ShutdownAbort` is rethrown.
 * Re-running from the start, rather than from the last latent, keeps a seeded edit deterministic: Adam's moments
 * and the learning-rate ramp are not part of the editor's progress events.
 */
import { hostname } from 'node:os';
import { encodeNpy, readNpy } from '../io/tensors/npy.js';
import { InputError } from '../errors.js';
import type { EditProgress, EditStart, ProjectionProgress } from '../edit/types.js';
import type { RgbFrame } from '../io/images/image.js';
import { encodePng } from './images.js';
import { sideBySide } from '../io/images/frames.js';
import type { EditService } from './services.js';
import type { OnePassService } from './one_pass.js';
import { TERMINAL, jobSteps, type JobRequest, type JobState, type JobStatus, type JobStore, type LossPoint } from './store.js';

/** Progress reaches state.json at most this often (ms): SSE clients poll it; more often only costs disk writes. */
export const STATE_FLUSH_MS = 250;
/** How often a running job checks the store's cancel marker (ms): the latency of a cross-machine DELETE. */
export const CANCEL_POLL_MS = 250;

/** Abort reason: the user cancelled the job. */
export class JobCancelled extends Error {
  override name = 'JobCancelled';
}

/** Abort reason: the process is shutting down; the job is put back in the queue. */
export class ShutdownAbort extends Error {
  override name = 'ShutdownAbort';
}

export interface RunContext {
  readonly store: JobStore;
  readonly editor: EditService;
  /** Runs jobs of the one-pass methods (global directions, mappers); without it such a job fails with a clear error. */
  readonly onePass?: OnePassService;
  /** Aborted with a `ShutdownAbort` (checkpoint) or `JobCancelled` reason. */
  readonly signal?: AbortSignal;
  /** Called with every progress event, after it is recorded (the batch progress bar uses it). */
  readonly onProgress?: (p: EditProgress) => void;
  readonly log?: (msg: string) => void;
}

export const WORKER_NAME = `${hostname()}:${process.pid}`;

function startOf(store: JobStore, req: JobRequest): Promise<EditStart> | EditStart {
  switch (req.start.kind) {
    case 'seed':
      return { kind: 'seed', seed: req.start.seed, truncation: req.start.truncation };
    case 'image':
      return { kind: 'image', path: store.path(req.id, 'start.png'), projectSteps: req.start.projectSteps, refineSteps: req.start.refineSteps, faceIndex: req.start.faceIndex };
    case 'w+':
      return readNpy(store.path(req.id, 'start.npy')).then((latent) => ({ kind: 'w+', latent }));
  }
}

function onePassOf(ctx: RunContext): OnePassService {
  if (!ctx.onePass) throw new InputError('this process runs no one-pass methods (global directions, mappers): give the runner a OnePassService');
  return ctx.onePass;
}

const lossPoint = (p: EditProgress): LossPoint => ({
  step: p.step,
  lr: p.lr,
  loss: p.loss,
  clipLoss: p.clipLoss,
  l2Loss: p.l2Loss,
  idLoss: p.idLoss,
});

/** Runs job `id`; returns its final status. Jobs already finished are left alone (a retried delivery is a no-op). */
export async function runEditJob(ctx: RunContext, id: string): Promise<JobStatus> {
  const { store, editor } = ctx;
  const [req, prev] = await Promise.all([store.request(id), store.state(id)]);
  if (!req || !prev) throw new Error(`job ${id} is not in the store at ${store.root}`);
  if (TERMINAL.has(prev.status)) return prev.status;
  let state: JobState = {
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
  /** Loss points not yet appended to the history file. */
  let pending: LossPoint[] = [];
  let writes: Promise<void> = Promise.resolve();
  const save = (next: Partial<JobState>): Promise<void> => {
    state = { ...state, ...next, updatedAt: new Date().toISOString() };
    const snapshot = state;
    const points = pending;
    pending = [];
    writes = writes
      .then(() => store.appendHistory(id, points))
      .then(() => store.writeState(id, snapshot))
      .catch((e) => ctx.log?.(`job ${id}: ${(e as Error).message}`));
    return writes;
  };

  const controller = new AbortController();
  const onOuterAbort = (): void => controller.abort(ctx.signal?.reason);
  ctx.signal?.addEventListener('abort', onOuterAbort, { once: true });
  if (ctx.signal?.aborted) onOuterAbort();
  const watcher = setInterval(() => {
    void store.cancelRequested(id).then((yes) => yes && controller.abort(new JobCancelled(`job ${id} was cancelled`)));
  }, CANCEL_POLL_MS);
  watcher.unref();

  let lastFlush = 0;
  let latestPreview: { frame: RgbFrame; step: number } | undefined;
  const onProgress = (p: EditProgress): void => {
    pending.push(lossPoint(p));
    if (p.before) {
      const frame = p.before;
      writes = writes.then(async () => store.writeFile(id, 'before.png', await encodePng(frame)));
      void save({ beforeReady: true });
    }
    if (p.preview) {
      // Only the newest frame matters: while one is being written, a newer one replaces the waiting one, so a job
      // with a preview every step never queues frames faster than they are written.
      const queued = latestPreview !== undefined;
      latestPreview = { frame: p.preview, step: p.step };
      if (!queued) {
        writes = writes.then(async () => {
          const { frame, step } = latestPreview!;
          latestPreview = undefined;
          await store.writeFile(id, 'preview.png', await encodePng(frame, true));
          void save({ step, previewStep: step });
        });
      }
      lastFlush = Date.now();
    } else if (Date.now() - lastFlush >= STATE_FLUSH_MS || p.step === p.steps) {
      void save({ step: p.step });
      lastFlush = Date.now();
    }
    ctx.onProgress?.(p);
  };

  try {
    if (await store.cancelRequested(id)) throw new JobCancelled(`job ${id} was cancelled before it started`);
    await store.clearHistory(id);
    await save({});
    const onProjectProgress = (p: ProjectionProgress): void => {
      if (Date.now() - lastFlush < STATE_FLUSH_MS && p.step !== p.steps) return;
      void save({ projection: { step: p.step, steps: p.steps, loss: p.loss, mse: p.mse } });
      lastFlush = Date.now();
    };
    const start = await startOf(store, req);
    const call = { signal: controller.signal, hooks: { onProgress, onProjectProgress } };
    const result = req.method ? await onePassOf(ctx).edit(req.method, start, call) : await editor.edit(start, req.options, call);
    await writes;
    if (!state.beforeReady) await store.writeFile(id, 'before.png', await encodePng(result.before));
    await store.writeFile(id, 'result.png', await encodePng(result.after));
    await store.writeFile(id, 'compare.png', await encodePng(sideBySide([result.before, result.after])));
    await store.writeFile(id, 'latent.npy', encodeNpy(result.latent));
    if (result.photo) await store.writeFile(id, 'photo.png', await encodePng(result.photo.pasted));
    await save({ status: 'done', step: jobSteps(req) });
    return 'done';
  } catch (e) {
    await writes;
    const reason: unknown = controller.signal.aborted ? controller.signal.reason : e;
    if (reason instanceof ShutdownAbort) {
      pending = [];
      await store.clearHistory(id);
      await save({ status: 'queued', step: 0, previewStep: undefined });
      throw reason;
    }
    if (reason instanceof JobCancelled || (await store.cancelRequested(id))) {
      await save({ status: 'cancelled' });
      return 'cancelled';
    }
    const user = e instanceof InputError;
    if (!user) ctx.log?.(`job ${id} failed: ${(e as Error)?.stack ?? String(e)}`);
    const message = user ? (e as Error).message : 'internal error while editing; the worker log has the details';
    await save({ status: 'failed', error: { code: user ? 'invalid_input' : 'internal', message } });
    return 'failed';
  } finally {
    clearInterval(watcher);
    ctx.signal?.removeEventListener('abort', onOuterAbort);
  }
}
