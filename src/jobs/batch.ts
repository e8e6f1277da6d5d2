/**
 * `styleclip batch`: many edits from a JSON-lines file, one object per line with the API's fields (files are paths,
 * relative to the jobs file), plus an optional `name`. Jobs are kept in a job store under the output directory
 * (`<out>/edits/<id>/`), so a second run skips what finished and redoes the rest: the resume key is the job's
 * name, or a hash of its line; a line whose text changed runs again. A line that cannot be parsed or checked is
 * reported and skipped; the others still run.
 */
import type { Generator } from '../generator/index.js';
import { maxPixelsLimit } from '../io/images/image.js';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { InputError } from '../errors.js';
import type { EditProgress } from '../edit/types.js';
import { isSafeId } from './names.js';
import { JobCancelled, ShutdownAbort, runEditJob } from './runner.js';
import type { z } from 'zod';
import { BATCH_METHODS, describeIssues } from './schemas.js';
import { globalMethod, mapperMethod, type OnePassMethod, type OnePassService } from './one_pass.js';
import type { EditService, PromptTokenizer } from './services.js';
import { jobPrompt, jobSteps, type JobRequest, type JobStatus, type JobStore } from './store.js';
import { prepareOnePassJob, prepareOptimiseJob, type FileReader, type PreparedJob } from './submission.js';

/** Characters of the line hash used as a job id when a line has no name (64 bits: collisions are negligible). */
const HASH_ID_CHARS = 16;

export interface BatchJob {
  readonly line: number;
  readonly id: string;
  readonly name?: string;
  readonly prompt: string;
  readonly steps: number;
}

interface SkippedLine {
  readonly line: number;
  readonly error: string;
}

interface BatchEvents {
  /** All lines are read: `todo` jobs will run, `already` finished in an earlier run. */
  onPlan?(todo: number, already: number): void;
  /** A job starts. */
  onStart?(job: BatchJob): void;
  onProgress?(job: BatchJob, p: EditProgress): void;
  onFinish?(job: BatchJob, status: JobStatus): void;
  onSkip?(skipped: SkippedLine): void;
}

interface BatchOptions {
  readonly jobsFile: string;
  readonly store: JobStore;
  readonly editor: EditService;
  readonly tokenizer?: PromptTokenizer;
  /** Runs lines with `method` global or mapper; without it such lines are refused. */
  readonly onePass?: OnePassService;
  /** StyleGAN-NADA domains by name (`batch --domains`) that lines may render with (`domain`). */
  readonly domains?: ReadonlyMap<string, Generator>;
  readonly concurrency: number;
  readonly signal?: AbortSignal;
  readonly events?: BatchEvents;
  readonly log?: (msg: string) => void;
}

export interface BatchSummary {
  readonly jobs: readonly BatchJob[];
  readonly skipped: readonly SkippedLine[];
  /** Jobs that were already done before this run. */
  readonly already: number;
  readonly interrupted: boolean;
}

function lineError(e: unknown): string {
  if (e instanceof InputError) return e.message;
  if (e instanceof SyntaxError) return `not valid JSON (${e.message})`;
  throw e;
}

/** The line's schema by its `method` (optimisation when absent). */
function methodOf(value: unknown): keyof typeof BATCH_METHODS {
  const m = typeof value === 'object' && value !== null && 'method' in value ? (value as { method: unknown }).method : 'optimize';
  if (typeof m === 'string' && Object.hasOwn(BATCH_METHODS, m)) return m as keyof typeof BATCH_METHODS;
  throw new InputError(`method: '${String(m).slice(0, 40)}' is not one of ${Object.keys(BATCH_METHODS).join(', ')}`);
}

/** Validates `value` against `schema` and the line's `name`. */
function parseLine<S extends z.ZodType<{ name?: string }>>(schema: S, value: unknown): z.output<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new InputError(describeIssues(parsed.error));
  const { name } = parsed.data;
  if (name !== undefined && !isSafeId(name)) throw new InputError(`name '${name.slice(0, 80)}' is not allowed: use letters, digits, '_' and '-' (no paths)`);
  return parsed.data;
}

/** What a line stores: an optimisation's options, or a one-pass method; with its start. */
async function prepareLine(value: unknown, read: FileReader, opts: BatchOptions): Promise<PreparedJob> {
  const env = { info: opts.editor.info(), tokenizer: opts.tokenizer, maxPixels: maxPixelsLimit(), previewEvery: 0, domains: [...(opts.domains?.keys() ?? [])] };
  const kind = methodOf(value);
  if (kind === 'optimize') {
    const body = parseLine(BATCH_METHODS.optimize, value);
    const prepared = await prepareOptimiseJob(body, read, env);
    return { ...prepared, request: { ...prepared.request, name: body.name } };
  }
  let body: z.output<typeof BATCH_METHODS.global> | z.output<typeof BATCH_METHODS.mapper>;
  let method: OnePassMethod;
  if (kind === 'global') {
    const b = parseLine(BATCH_METHODS.global, value);
    [body, method] = [b, globalMethod(b.edits)];
  } else {
    const b = parseLine(BATCH_METHODS.mapper, value);
    [body, method] = [b, mapperMethod(b.mapper, b.strength)];
  }
  if (!opts.onePass) throw new InputError(`method ${kind} is not available here`);
  const prepared = await prepareOnePassJob(method, body, read, env, opts.onePass);
  return { ...prepared, request: { ...prepared.request, name: body.name } };
}

/** Parses, checks and stores one line; returns its job, or throws a user-facing error. */
async function admit(text: string, line: number, baseDir: string, opts: BatchOptions, seen: Set<string>): Promise<BatchJob> {
  const read: FileReader = async (value, field) => {
    const path = resolve(baseDir, String(value));
    try {
      return await readFile(path);
    } catch (e) {
      throw new InputError(`${field}: cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
  };
  const { request: body, startFile } = await prepareLine(JSON.parse(text), read, opts);
  const { name } = body;
  const source = createHash('sha256').update(text.trim()).digest('hex');
  const id = name ?? `job-${source.slice(0, HASH_ID_CHARS)}`;
  if (seen.has(id)) throw new InputError(`duplicate job '${id}' (an identical line or a repeated name)`);
  seen.add(id);
  const request = { ...body, id, createdAt: new Date().toISOString(), source } as JobRequest;
  const job: BatchJob = { line, id, name, prompt: jobPrompt(request), steps: jobSteps(request) };
  const existing = await opts.store.request(id);
  if (existing && existing.source !== source) await opts.store.remove(id);
  if (!existing || existing.source !== source) await opts.store.create(request, startFile);
  return job;
}

/** Reads the jobs file, stores every valid job, and runs those not yet done, `concurrency` at a time. */
export async function runBatch(opts: BatchOptions): Promise<BatchSummary> {
  let text: string;
  try {
    text = await readFile(opts.jobsFile, 'utf8');
  } catch (e) {
    throw new InputError(`cannot read jobs file ${opts.jobsFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const baseDir = dirname(resolve(opts.jobsFile));
  const jobs: BatchJob[] = [];
  const skipped: SkippedLine[] = [];
  const seen = new Set<string>();
  for (const [i, raw] of text.split('\n').entries()) {
    if (raw.trim() === '') continue;
    try {
      jobs.push(await admit(raw, i + 1, baseDir, opts, seen));
    } catch (e) {
      const s = { line: i + 1, error: lineError(e) };
      skipped.push(s);
      opts.events?.onSkip?.(s);
    }
  }

  const todo: BatchJob[] = [];
  for (const job of jobs) {
    const state = await opts.store.state(job.id);
    if (state?.status === 'done') continue;
    if (state && state.status !== 'queued') await opts.store.reset(job.id, job.steps);
    todo.push(job);
  }
  const already = jobs.length - todo.length;
  opts.events?.onPlan?.(todo.length, already);
  // Ctrl-C checkpoints running jobs (back to 'queued'), so the next run redoes them; nothing partial is kept.
  const stop = new AbortController();
  const onAbort = (): void => stop.abort(new ShutdownAbort('interrupted'));
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  if (opts.signal?.aborted) onAbort();
  let interrupted = false;
  const next = async (): Promise<void> => {
    for (let job = todo.shift(); job && !stop.signal.aborted; job = todo.shift()) {
      opts.events?.onStart?.(job);
      const current = job;
      const run = { store: opts.store, editor: opts.editor, onePass: opts.onePass, domains: opts.domains, signal: stop.signal, log: opts.log };
      try {
        const status = await runEditJob({ ...run, onProgress: (p) => opts.events?.onProgress?.(current, p) }, job.id);
        opts.events?.onFinish?.(job, status);
      } catch (e) {
        if (!(e instanceof ShutdownAbort || e instanceof JobCancelled)) throw e;
        interrupted = true;
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, opts.concurrency) }, next));
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
  }
  return { jobs, skipped, already, interrupted: interrupted || stop.signal.aborted };
}
