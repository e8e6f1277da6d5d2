/**
 * The job store: one directory per edit under `<root>/edits/<id>/`, shared by the API, queue workers on any number
 * of machines (a shared directory) and the batch runner. Every file is written atomically (temp sibling + rename),
 * so a reader never sees half a file and a restart loses nothing that finished.
 *
 *   request.json   what was asked (prompt, resolved options, where the latent starts)
 *   start.npy      the uploaded W+ latent, [1, n_latent, dim] float32      (start kind 'w+')
 *   start.png      the uploaded photo, re-encoded after validation          (start kind 'image')
 *   state.json     status, loss history, error; written last on creation, so a directory without it is debris
 *   preview.png    the latest preview frame while running
 *   before.png, result.png, compare.png, latent.npy   results, all written before the state turns 'done'
 *   photo.png                           photo starts: the edited face pasted back into the uploaded photo
 *   cancel         marker: cancellation was requested (seen by whichever worker runs the job)
 */
import type { PhotoInversion } from '../invert/types.js';
import { EventEmitter } from 'node:events';
import { appendFile, mkdir, open, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import { HOST_TAG, makeDirs, partialOwner, writeFileAtomic } from '../io/atomic.js';
import type { EditOptions } from '../edit/optimize/types.js';
import type { Interpretation } from '../edit/instruction.js';
import { describeMethod, type OnePassMethod } from './one_pass.js';
import { checkId } from './names.js';

export type JobStatus = 'queued' | 'running' | 'done' | 'failed' | 'cancelled';

export const TERMINAL: ReadonlySet<JobStatus> = new Set(['done', 'failed', 'cancelled']);

/** Where an edit starts; latents and photos live in the job directory (`start.npy` / `start.png`). */
export type StoredStart =
  | { readonly kind: 'seed'; readonly seed: number; readonly truncation: number }
  | { readonly kind: 'w+' }
  | { readonly kind: 'image'; readonly projectSteps?: number; readonly refineSteps?: number; readonly iterations?: number; readonly inversion?: PhotoInversion; readonly faceIndex?: number };

interface JobBase {
  readonly id: string;
  readonly createdAt: string;
  readonly start: StoredStart;
  /** A StyleGAN-NADA domain (a name the server loaded) the edit renders with. */
  readonly domain?: string;
  /** Batch jobs: the job's name from the jobs file. */
  readonly name?: string;
  /** Batch jobs: SHA-256 of the jobs-file line, so a changed line runs again instead of being skipped. */
  readonly source?: string;
  /** How each prompt was read (src/edit/instruction.ts): one per prompt, or per stacked edit. */
  readonly interpreted?: readonly Interpretation[];
  /** SHA-256 of the prepared request and its start file: a reused Idempotency-Key must come with the same one. */
  readonly fingerprint?: string;
}

/** A StyleCLIP latent optimisation (the API's edits, and batch lines without a method). */
interface OptimiseRequest extends JobBase {
  readonly method?: undefined;
  readonly options: EditOptions;
}

/** A one-pass method (global directions, a latent mapper): one step, no loss history. */
interface OnePassRequest extends JobBase {
  readonly method: OnePassMethod;
}

export type JobRequest = OptimiseRequest | OnePassRequest;

/** A request as prepared from a body, before the job store gives it an id, a time and (batch) a source hash. */
export type NewJobRequest = Omit<OptimiseRequest, 'id' | 'createdAt' | 'source'> | Omit<OnePassRequest, 'id' | 'createdAt' | 'source'>;

/** Steps a job reports: the optimisation's, or 1 for a one-pass method. */
export const jobSteps = (r: JobRequest): number => (r.method ? 1 : r.options.steps);

/** What a job does, in words: the prompt, or the one-pass method's description. */
export const jobPrompt = (r: JobRequest): string => (r.method ? describeMethod(r.method) : r.options.prompt);

/** One optimisation step's losses (EditProgress without the preview). */
export interface LossPoint {
  readonly step: number;
  readonly lr: number;
  readonly loss: number;
  readonly clipLoss: number;
  readonly l2Loss: number;
  readonly idLoss: number;
}

/** The latest projection step of a photo start (projection runs before the edit's own steps). */
interface ProjectionPoint {
  readonly step: number;
  readonly steps: number;
  readonly loss: number;
  /** Mean squared pixel error against the aligned photo, images in [-1,1]. */
  readonly mse: number;
}

/**
 * The job's state file: small and of constant size (the loss history is appended to `history.jsonl` instead), so a
 * write costs the same at step 10 and at step 10000.
 */
export interface JobState {
  readonly status: JobStatus;
  readonly step: number;
  readonly steps: number;
  /** Photo starts: how far the projection is. */
  readonly projection?: ProjectionPoint;
  /** Step of the frame in preview.png, when there is one. */
  readonly previewStep?: number;
  /** before.png (the start image) is written: it exists from the first step on, not only when done. */
  readonly beforeReady?: boolean;
  readonly error?: { readonly code: 'invalid_input' | 'internal'; readonly message: string };
  /** How many times a worker started the job (restarts after a crash or shutdown count). */
  readonly attempts: number;
  /** `host:pid` of the worker that ran (or runs) it. */
  readonly worker?: string;
  readonly updatedAt: string;
}

/** Files the API may serve from a job directory. */
const JOB_FILES = ['result.png', 'compare.png', 'before.png', 'latent.npy', 'preview.png', 'photo.png'] as const;
export type JobFile = (typeof JOB_FILES)[number];

const EDITS_DIR = 'edits';
const REQUEST = 'request.json';
const STATE = 'state.json';
const CANCEL = 'cancel';
/** The loss history, one JSON LossPoint per line, appended as steps complete. */
const HISTORY = 'history.jsonl';

export function initialState(steps: number): JobState {
  return { status: 'queued', step: 0, steps, attempts: 0, updatedAt: new Date().toISOString() };
}

async function readJson<T>(path: string): Promise<T | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  return JSON.parse(text) as T;
}

/** Idempotency keys of POST /v1/edits, one file per key (its sha256) holding the job id. */
const KEYS_DIR = 'keys';
/** Suffix of an atomic write's temporary file (src/io/atomic.ts `tempSibling`). */
const PARTIAL_SUFFIX = '.partial';
/** A temporary file this old is left over from a killed process. */
const STALE_PARTIAL_MS = 60_000;

/** Whether a temporary file's writer was a process of this machine that no longer runs. */
function writerGone(name: string): boolean {
  const owner = partialOwner(name);
  if (!owner || owner.host !== HOST_TAG || owner.pid === process.pid) return false;
  try {
    process.kill(owner.pid, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

export class JobStore {
  readonly root: string;
  /**
   * Emits a job id whenever this instance writes to that job: followers in this process (SSE of the in-process
   * queue) wake at once instead of at their next poll; writes by workers elsewhere are found by polling.
   */
  private readonly changes = new EventEmitter().setMaxListeners(0);

  constructor(root: string) {
    this.root = resolve(root);
  }

  /**
   * Creates the store, and removes temporary files of atomic writes that a killed process left behind
   * (`.<file>.<host>-<pid>.<rand>.partial`, src/io/atomic.ts): at once when the writer was a process of this machine
   * that is gone (a kill -9 and restart), else once they are older than STALE_PARTIAL_MS (a live write lasts
   * milliseconds, so an older one belongs to no process, another machine sharing the store included).
   */
  async init(): Promise<this> {
    const edits = join(this.root, EDITS_DIR);
    await makeDirs(edits);
    const now = Date.now();
    for (const id of await readdir(edits)) {
      const dir = join(edits, id);
      const names = await readdir(dir).catch(() => [] as string[]);
      for (const name of names.filter((n) => n.startsWith('.') && n.endsWith(PARTIAL_SUFFIX))) {
        const s = await stat(join(dir, name)).catch(() => undefined);
        if (s && (writerGone(name) || now - s.mtimeMs > STALE_PARTIAL_MS)) await rm(join(dir, name), { force: true });
      }
    }
    return this;
  }

  /** The job's directory; `id` is checked so no name can leave the store. */
  dir(id: string): string {
    return join(this.root, EDITS_DIR, checkId(id));
  }

  path(id: string, file: JobFile | 'start.npy' | 'start.png'): string {
    return join(this.dir(id), file);
  }

  /** Creates a job: start file, request, then the queued state (which makes the job visible). Fails if `id` exists. */
  async create(request: JobRequest, startFile?: { name: 'start.npy' | 'start.png'; bytes: Uint8Array }): Promise<void> {
    const dir = this.dir(request.id);
    await mkdir(dir, { recursive: false });
    try {
      if (startFile) await writeFileAtomic(join(dir, startFile.name), startFile.bytes);
      await writeFileAtomic(join(dir, REQUEST), JSON.stringify(request));
      await this.writeState(request.id, initialState(jobSteps(request)));
    } catch (e) {
      await rm(dir, { recursive: true, force: true });
      throw e;
    }
  }

  request(id: string): Promise<JobRequest | undefined> {
    return readJson<JobRequest>(join(this.dir(id), REQUEST));
  }

  state(id: string): Promise<JobState | undefined> {
    return readJson<JobState>(join(this.dir(id), STATE));
  }

  async writeState(id: string, state: JobState): Promise<void> {
    await writeFileAtomic(join(this.dir(id), STATE), JSON.stringify(state));
    this.changes.emit(id);
  }

  /** Resolves at the next write to job `id` through this instance, or after `timeoutMs`, whichever comes first. */
  nextChange(id: string, timeoutMs: number): Promise<void> {
    return new Promise((done) => {
      const finish = (): void => {
        clearTimeout(timer);
        this.changes.off(id, finish);
        done();
      };
      const timer = setTimeout(finish, timeoutMs);
      this.changes.once(id, finish);
    });
  }

  /** Appends loss points to the job's history (O(points), whatever the history's length). */
  async appendHistory(id: string, points: readonly LossPoint[]): Promise<void> {
    if (!points.length) return;
    await appendFile(join(this.dir(id), HISTORY), points.map((p) => JSON.stringify(p) + '\n').join(''));
    this.changes.emit(id);
  }

  /** Empties the history (a job that starts over). */
  async clearHistory(id: string): Promise<void> {
    await rm(join(this.dir(id), HISTORY), { force: true });
  }

  /**
   * The history from byte `offset` on (0: all of it): the complete lines there and the offset after them, so a
   * follower (SSE) reads only what is new.
   */
  async readHistory(id: string, offset = 0): Promise<{ points: LossPoint[]; offset: number }> {
    let handle;
    try {
      handle = await open(join(this.dir(id), HISTORY), 'r');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { points: [], offset: 0 };
      throw e;
    }
    try {
      const size = (await handle.stat()).size;
      if (size < offset) return { points: [], offset: -1 };
      const buf = Buffer.alloc(size - offset);
      await handle.read(buf, 0, buf.length, offset);
      const text = buf.toString('utf8');
      const end = text.lastIndexOf('\n') + 1;
      const points = text.slice(0, end).split('\n').filter(Boolean).map((l) => JSON.parse(l) as LossPoint);
      return { points, offset: offset + Buffer.byteLength(text.slice(0, end)) };
    } finally {
      await handle.close();
    }
  }

  async writeFile(id: string, file: JobFile, bytes: Uint8Array): Promise<void> {
    await writeFileAtomic(this.path(id, file), bytes);
  }

  /** A result file's bytes, or undefined when it does not exist (yet). */
  async readFile(id: string, file: JobFile | 'start.npy'): Promise<Uint8Array | undefined> {
    try {
      return await readFile(this.path(id, file));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  }

  async requestCancel(id: string): Promise<void> {
    await writeFile(join(this.dir(id), CANCEL), '');
    this.changes.emit(id);
  }

  async cancelRequested(id: string): Promise<boolean> {
    try {
      await stat(join(this.dir(id), CANCEL));
      return true;
    } catch {
      return false;
    }
  }

  /** Makes a job runnable again (after a failure or cancellation): clears the cancel marker and the state. */
  async reset(id: string, steps: number): Promise<void> {
    await rm(join(this.dir(id), CANCEL), { force: true });
    await this.clearHistory(id);
    await this.writeState(id, initialState(steps));
  }

  /**
   * Claims an idempotency key (POST /v1/edits `Idempotency-Key`): `keys/<sha256>` is created exclusively, so of
   * concurrent requests with one key exactly one proceeds. Returns the job id already bound to the key, `pending`
   * while its first request is still being submitted, or undefined when this call claimed it.
   */
  async claimKey(key: string): Promise<string | 'pending' | undefined> {
    const file = this.keyPath(key);
    await makeDirs(dirname(file));
    try {
      await writeFile(file, '', { flag: 'wx' });
      return undefined;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const id = (await readFile(file, 'utf8')).trim();
      return id === '' ? 'pending' : id;
    }
  }

  /** Binds a claimed key to its job (or releases the claim when `id` is undefined: the submission failed). */
  async settleKey(key: string, id: string | undefined): Promise<void> {
    if (id === undefined) await rm(this.keyPath(key), { force: true });
    else await writeFileAtomic(this.keyPath(key), id);
  }

  private keyPath(key: string): string {
    return join(this.root, KEYS_DIR, createHash('sha256').update(key).digest('hex'));
  }

  async remove(id: string): Promise<void> {
    await rm(this.dir(id), { recursive: true, force: true });
  }

  /** Ids of complete jobs (those with a state), oldest first by creation time. */
  async list(): Promise<string[]> {
    const names = await readdir(join(this.root, EDITS_DIR));
    const jobs: { id: string; at: string }[] = [];
    for (const name of names) {
      if (name.startsWith('.')) continue;
      const req = await this.request(name).catch(() => undefined);
      if (req && (await this.state(name).catch(() => undefined))) jobs.push({ id: name, at: req.createdAt });
    }
    return jobs.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0)).map((j) => j.id);
  }
}
