/**
 * From a validated request body (API JSON, multipart form, or a batch line) to what a job stores: the start of
 * the latent (seed, W+ `.npy`, or photo, decoded and checked now), the fully resolved edit options, and the
 * models it names. Every check that can fail for a user's reason happens here, before anything is queued.
 */
import type { PhotoInversion } from '../invert/types.js';
import type { OnePassMethod, OnePassService } from './one_pass.js';
import { InputError } from '../errors.js';
import { encodeNpy } from '../io/tensors/npy.js';
import { DEFAULT_TRUNCATION, EDIT_OPTION_SPECS, checkEditFits, resolveEditOptions } from '../edit/optimize/options.js';
import { START_OPTION_SPECS, valuesOf } from '../edit/options.js';
import { interpretInstruction, type Interpretation } from '../edit/instruction.js';
import type { EditOptions } from '../edit/optimize/types.js';
import { decodeImage, decodeLatent } from './decode.js';
import { RequestError } from './errors.js';
import { encodePng } from './images.js';
import { checkName, modelName } from './names.js';
import type { EditJsonBody, EditFormBody } from './schemas.js';
import type { EditorInfo, PromptTokenizer } from './services.js';
import type { NewJobRequest, StoredStart } from './store.js';
import type { RgbImage } from '../io/images/image.js';

type SubmittedStart =
  | { readonly kind: 'seed'; readonly seed: number; readonly truncation?: number }
  | { readonly kind: 'w+'; readonly bytes: Uint8Array }
  | { readonly kind: 'image'; readonly bytes: Uint8Array; readonly projectSteps?: number; readonly refineSteps?: number; readonly iterations?: number; readonly inversion?: PhotoInversion; readonly faceIndex?: number };

interface EditSubmission {
  readonly prompt: string;
  readonly start: SubmittedStart;
  readonly options: Partial<Omit<EditOptions, 'prompt'>>;
  readonly generator?: string;
  readonly clip?: string;
}

interface PreparedEdit {
  readonly start: StoredStart;
  readonly options: EditOptions;
  /** How the prompt was read: the options' prompt is its `optimizeText`. */
  readonly interpreted?: Interpretation;
  readonly startFile?: { readonly name: 'start.npy' | 'start.png'; readonly bytes: Uint8Array };
}

export interface PrepareEnv {
  readonly info: EditorInfo;
  readonly tokenizer?: PromptTokenizer;
  /** Largest photo accepted, in pixels. */
  readonly maxPixels: number;
  /** Preview frame interval when the request does not give one. */
  readonly previewEvery: number;
  /** Finds the face a photo start will edit (the server's face pipeline), so a photo without one is a 422 now. */
  readonly checkFace?: (photo: RgbImage, faceIndex: number) => Promise<void>;
  /** The StyleGAN-NADA domains loaded (`serve --domains`); a job naming another is refused. */
  readonly domains?: readonly string[];
}

export type FileReader = (value: string | File, field: string) => Promise<Uint8Array>;

/** The start fields every method's body shares (API JSON and forms, batch lines; START_OPTION_SPECS by field). */
export interface StartFields {
  readonly seed?: number;
  readonly truncation?: number;
  readonly w_plus?: string | File;
  readonly image?: string | File;
  readonly project_steps?: number;
  readonly refine_steps?: number;
  readonly iterations?: number;
  readonly photo_inversion?: PhotoInversion;
  readonly face_index?: number;
  readonly domain?: string;
}

/** The one start of a body (exactly one of seed, w_plus, image), its files read through `read`. */
async function submittedStart(body: StartFields, read: FileReader): Promise<SubmittedStart> {
  const given = [body.seed !== undefined && 'seed', body.w_plus !== undefined && 'w_plus', body.image !== undefined && 'image'];
  const starts = given.filter((g): g is string => g !== false);
  if (starts.length !== 1) {
    throw new RequestError('invalid_request',
      `give exactly one starting point: seed, w_plus (.npy) or image (photo); got ${starts.length ? starts.join(' and ') : 'none'}`,
    );
  }
  const fields = body as Readonly<Record<string, unknown>>;
  const o = valuesOf(START_OPTION_SPECS, (spec) => fields[spec.field]) as { seed?: number; truncation?: number; projectSteps?: number; refineSteps?: number; iterations?: number; inversion?: PhotoInversion; faceIndex?: number };
  return o.seed !== undefined
    ? { kind: 'seed', seed: o.seed, truncation: o.truncation }
    : body.w_plus !== undefined
      ? { kind: 'w+', bytes: await read(body.w_plus, 'w_plus') }
      : { kind: 'image', bytes: await read(body.image!, 'image'), projectSteps: o.projectSteps, refineSteps: o.refineSteps, iterations: o.iterations, inversion: o.inversion, faceIndex: o.faceIndex };
}

/**
 * Normalises a body from any transport; `read` turns a file field into bytes (base64, upload, or batch path). The
 * options are read by their descriptors (EDIT_OPTION_SPECS): a new descriptor entry needs nothing here.
 */
export async function submissionOf(body: EditJsonBody | EditFormBody, read: FileReader): Promise<EditSubmission> {
  const start = await submittedStart(body, read);
  const fields = body as Readonly<Record<string, unknown>>;
  return {
    prompt: body.prompt,
    start,
    options: valuesOf(EDIT_OPTION_SPECS, (spec) => fields[spec.field]) as EditSubmission['options'],
    generator: body.generator,
    clip: body.clip,
  };
}

/** Refuses a model name the server has not loaded: 400 for an unsafe name, 404 for an unknown one. */
export function checkModel(kind: 'generator' | 'clip', requested: string | undefined, loaded: string): void {
  if (requested === undefined) return;
  checkName(`${kind} model name`, requested);
  if (requested !== modelName(loaded)) {
    throw new RequestError('unknown_model', `${kind} model '${requested}' is not loaded; GET /v1/models lists what is`);
  }
}

export async function prepareEdit(sub: EditSubmission, env: PrepareEnv): Promise<PreparedEdit> {
  const { info } = env;
  checkModel('generator', sub.generator, info.generator);
  checkModel('clip', sub.clip, info.clip);
  const interpreted = interpretInstruction(sub.prompt);
  const options = resolveEditOptions({ previewEvery: env.previewEvery, ...stripUndefined(sub.options), prompt: interpreted.optimizeText });
  checkEditFits(options, { nLatent: info.nLatent, identity: info.identity !== undefined, start: sub.start.kind }, 'field');
  env.tokenizer?.tokenize([options.prompt]);
  return { ...(await prepareStart(sub.start, env)), options, interpreted };
}

/** The start of any method, decoded and checked (a latent's shape, a photo's size and face) and in its stored form. */
async function prepareStart(s: SubmittedStart, env: Omit<PrepareEnv, 'previewEvery' | 'tokenizer'>): Promise<Omit<PreparedEdit, 'options'>> {
  const { info } = env;
  if (s.kind === 'seed') return { start: { kind: 'seed', seed: s.seed, truncation: s.truncation ?? DEFAULT_TRUNCATION } };
  if (s.kind === 'w+') {
    const latent = decodeLatent(s.bytes, 'w+', info, 'w_plus');
    return { start: { kind: 'w+' }, startFile: { name: 'start.npy', bytes: encodeNpy(latent) } };
  }
  const img = await decodeImage(s.bytes, env.maxPixels);
  await env.checkFace?.(img, s.faceIndex ?? 0).catch((e: unknown) => {
    throw e instanceof InputError ? new InputError(`image: ${e.message}`) : e;
  });
  return {
    start: { kind: 'image', projectSteps: s.projectSteps, refineSteps: s.refineSteps, iterations: s.iterations, inversion: s.inversion, faceIndex: s.faceIndex },
    startFile: { name: 'start.png', bytes: await encodePng(img) },
  };
}

/** The body's domain, checked against the loaded ones (the field names the fix). */
export function checkedDomain(body: { readonly domain?: string }, env: Pick<PrepareEnv, 'domains'>): string | undefined {
  if (body.domain === undefined) return undefined;
  const known = env.domains ?? [];
  if (!known.includes(body.domain)) {
    throw new RequestError('unknown_model', `domain '${body.domain}' is not loaded; ${known.length ? `loaded: ${known.join(', ')} (GET /v1/models)` : 'this server loads none (serve --domains NAME=G.pt)'}`);
  }
  return body.domain;
}

/** A job as prepared from a checked body: the request to store and the start file beside it. */
export interface PreparedJob {
  readonly request: NewJobRequest;
  readonly startFile?: PreparedEdit['startFile'];
}

/** An optimisation job from an edit body (API JSON or form, batch line); files read through `read`. */
export async function prepareOptimiseJob(body: EditJsonBody | EditFormBody, read: FileReader, env: PrepareEnv): Promise<PreparedJob> {
  const domain = checkedDomain(body, env);
  const prepared = await prepareEdit(await submissionOf(body, read), env);
  return { request: { start: prepared.start, domain, options: prepared.options, interpreted: prepared.interpreted && [prepared.interpreted] }, startFile: prepared.startFile };
}

/** A one-pass job (global directions, a mapper): the method checked against what `onePass` can run, the start decoded. */
export async function prepareOnePassJob(method: OnePassMethod, body: StartFields, read: FileReader, env: PrepareEnv, onePass: OnePassService): Promise<PreparedJob> {
  onePass.check(method);
  const domain = checkedDomain(body, env);
  const prepared = await prepareStart(await submittedStart(body, read), env);
  const interpreted = method.kind === 'global' ? method.interpreted : undefined;
  return { request: { start: prepared.start, domain, method, interpreted }, startFile: prepared.startFile };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
