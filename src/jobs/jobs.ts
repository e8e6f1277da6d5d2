/**
 * Edit jobs as the API sees them: submit (check, store, queue), status, cancel, and result files. Each route calls
 * exactly one of these methods.
 */
import { createHash } from 'node:crypto';
import { RequestError, notFound } from './errors.js';
import { newJobId } from './names.js';
import type { JobQueue } from './queue.js';
import { TERMINAL, jobPrompt, type JobFile, type JobRequest, type JobState, type JobStatus, type JobStore, type LossPoint } from './store.js';
import type { OnePassMethod, OnePassService } from './one_pass.js';
import { fileBytes } from './decode.js';
import type { EditFormBody, EditJsonBody } from './schemas.js';
import { prepareOnePassJob, prepareOptimiseJob, type PrepareEnv, type PreparedJob, type StartFields } from './submission.js';
import { interpretationJson, type InterpretationJson } from '../edit/instruction.js';

/** What `GET /v1/edits/:id` returns. */
/** SHA-256 of a prepared job: its request as stored and its start file. */
function fingerprintOf(p: PreparedJob): string {
  const h = createHash('sha256').update(JSON.stringify(p.request));
  if (p.startFile) h.update(p.startFile.name).update(p.startFile.bytes);
  return h.digest('hex');
}

/** What a submission answers: the job id and how its prompt(s) were read. */
interface Submitted {
  readonly id: string;
  readonly interpreted?: readonly InterpretationJson[];
}

interface EditStatus {
  readonly id: string;
  /** How the prompt(s) were read (src/edit/instruction.ts): target, neutral, alpha_sign. */
  readonly interpreted?: readonly InterpretationJson[];
  /** The job's status; `cancelling` while a requested cancel has not landed yet. */
  readonly status: JobStatus | 'cancelling';
  readonly prompt: string;
  /** The StyleGAN-NADA domain the edit renders with, when one was asked for. */
  readonly domain?: string;
  readonly step: number;
  readonly steps: number;
  readonly attempts: number;
  /** The loss history, only when asked for (GET ?history=all); `historyPage` pages it, SSE streams it. */
  readonly history?: readonly LossPoint[];
  /** How many loss points the history holds, and the latest one. */
  readonly history_points: number;
  readonly last?: LossPoint;
  /** Photo starts: the latest projection step. */
  readonly projection?: JobState['projection'];
  readonly error?: JobState['error'];
  /** URL of the start image, as soon as the first step has run. */
  readonly before?: string;
  /** URL and step of the latest preview frame while running. */
  readonly preview?: string;
  readonly previewStep?: number;
  /** Result URLs, once done. */
  readonly results?: {
    readonly result: string;
    readonly compare: string;
    readonly before: string;
    readonly latent: string;
    /** Photo starts: the edited face pasted back into the photo. */
    readonly photo?: string;
  };
  readonly createdAt: string;
  readonly updatedAt: string;
}

const editUrl = (id: string, file = ''): string => `/v1/edits/${id}${file ? `/${file}` : ''}`;

export class EditJobs {
  constructor(
    private readonly store: JobStore,
    private readonly queue: JobQueue,
    private readonly env: PrepareEnv,
    /** Runs and checks one-pass jobs; absent, POST /v1/edits/global and /mapper answer 404. */
    private readonly onePass?: OnePassService,
  ) {}

  /**
   * Checks a request body, stores the job and queues it. With an idempotency key, a retry of a request that got
   * through returns the same job id instead of a second job (409 while the first is still being submitted).
   */
  submit(body: EditJsonBody | EditFormBody, idempotencyKey?: string): Promise<Submitted> {
    return this.enqueue(idempotencyKey, () => prepareOptimiseJob(body, fileBytes, this.env));
  }

  /** A job of a one-pass method (global directions, a mapper) from `start`'s fields; checked, stored and queued as `submit`. */
  submitOnePass(method: OnePassMethod, start: StartFields, idempotencyKey?: string): Promise<Submitted> {
    return this.enqueue(idempotencyKey, async () => {
      if (!this.onePass) throw new RequestError('not_found', 'this server runs no one-pass methods');
      return prepareOnePassJob(method, start, fileBytes, this.env, this.onePass);
    });
  }

  private async enqueue(idempotencyKey: string | undefined, prepare: () => Promise<PreparedJob>): Promise<Submitted> {
    if (idempotencyKey !== undefined) {
      if (!/^[\x21-\x7e]{1,255}$/.test(idempotencyKey)) throw new RequestError('invalid_request', 'Idempotency-Key: 1-255 visible ASCII characters');
      const prior = await this.store.claimKey(idempotencyKey);
      if (prior === 'pending') throw new RequestError('conflict', 'a request with this Idempotency-Key is being submitted; retry in a moment');
      if (prior !== undefined) {
        const [existing, mine] = await Promise.all([this.store.request(prior), prepare()]);
        if (existing?.fingerprint !== undefined && existing.fingerprint !== fingerprintOf(mine)) {
          throw new RequestError('conflict', `this Idempotency-Key was used for a different request (edit ${prior}); send a new key for a new edit`);
        }
        return { id: prior, interpreted: existing?.interpreted?.map(interpretationJson) };
      }
    }
    let id: string | undefined;
    try {
      const prepared = await prepare();
      const { request, startFile } = prepared;
      const created = newJobId();
      await this.store.create({ ...request, id: created, createdAt: new Date().toISOString(), fingerprint: fingerprintOf(prepared) } as JobRequest, startFile);
      try {
        await this.queue.submit(created);
      } catch (e) {
        await this.store.remove(created);
        throw e;
      }
      id = created;
      return { id, interpreted: request.interpreted?.map(interpretationJson) };
    } finally {
      if (idempotencyKey !== undefined) await this.store.settleKey(idempotencyKey, id);
    }
  }

  /**
   * The job's status with a summary of its loss history (count, latest point); `withHistory` adds the whole history
   * (GET ?history=all: 300 kB for a 3000-step job, so not by default; `historyPage` pages it).
   */
  async status(id: string, withHistory = false): Promise<EditStatus> {
    const [req, state, history] = await Promise.all([this.store.request(id), this.store.state(id), this.store.readHistory(id)]);
    if (!req || !state) throw notFound(`edit ${id}`);
    const done = state.status === 'done';
    const cancelling = !TERMINAL.has(state.status) && (await this.store.cancelRequested(id));
    return {
      id,
      status: cancelling ? 'cancelling' : state.status,
      prompt: jobPrompt(req),
      domain: req.domain,
      interpreted: req.interpreted?.map(interpretationJson),
      step: state.step,
      steps: state.steps,
      attempts: state.attempts,
      history: withHistory ? history.points : undefined,
      history_points: history.points.length,
      last: history.points[history.points.length - 1],
      projection: state.projection,
      error: state.error,
      before: state.beforeReady || done ? editUrl(id, 'before.png') : undefined,
      preview: state.previewStep !== undefined && !done ? `${editUrl(id, 'preview.png')}?step=${state.previewStep}` : undefined,
      previewStep: done ? undefined : state.previewStep,
      results: done
        ? {
            result: editUrl(id, 'result.png'),
            compare: editUrl(id, 'compare.png'),
            before: editUrl(id, 'before.png'),
            latent: editUrl(id, 'latent.npy'),
            photo: req.start.kind === 'image' ? editUrl(id, 'photo.png') : undefined,
          }
        : undefined,
      createdAt: req.createdAt,
      updatedAt: state.updatedAt,
    };
  }

  /** Points `from` .. `from + limit - 1` of the loss history, the total, and where the next page starts (null: none). */
  async historyPage(id: string, from: number, limit: number): Promise<{ points: LossPoint[]; from: number; total: number; next: number | null }> {
    if (!(await this.store.request(id))) throw notFound(`edit ${id}`);
    const { points } = await this.store.readHistory(id);
    const page = points.slice(from, from + limit);
    return { points: page, from, total: points.length, next: from + page.length < points.length ? from + page.length : null };
  }

  /** Loss points appended after byte `offset` of the history, and the new offset (-1: the history restarted). */
  historySince(id: string, offset: number): Promise<{ points: LossPoint[]; offset: number }> {
    return this.store.readHistory(id, offset);
  }

  /** Resolves when this process next writes to job `id` (in-process runner), or after `timeoutMs` (workers elsewhere). */
  nextChange(id: string, timeoutMs: number): Promise<void> {
    return this.store.nextChange(id, timeoutMs);
  }

  /** Requests cancellation; finished jobs are left as they are. Returns the status after the request. */
  async cancel(id: string): Promise<EditStatus> {
    const state = await this.store.state(id);
    if (!state) throw notFound(`edit ${id}`);
    if (!TERMINAL.has(state.status)) {
      await this.store.requestCancel(id);
      await this.queue.cancel(id);
    }
    return this.status(id);
  }

  /** A result file; 404 until the job is done (or, for the preview, until a frame exists). */
  async file(id: string, file: JobFile): Promise<Uint8Array> {
    const state = await this.store.state(id);
    if (!state) throw notFound(`edit ${id}`);
    if (file !== 'preview.png' && !(file === 'before.png' && state.beforeReady) && state.status !== 'done') {
      throw new RequestError('not_found', `edit ${id} is ${state.status}; ${file} exists once it is done`);
    }
    const bytes = await this.store.readFile(id, file);
    if (!bytes) throw notFound(`${file} of edit ${id}`);
    return bytes;
  }
}
