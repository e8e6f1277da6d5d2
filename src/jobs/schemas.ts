/**
 * Request schemas (zod), one per transport: JSON bodies carry numbers as numbers and files as base64 strings
 * (a data URL prefix is accepted); multipart forms carry numbers as text and files as uploads. The batch runner
 * reads JSON lines with the JSON schema, files being paths there. A request that does not match is a 400;
 * whether its content is usable (decodable image, latent shape, prompt length in tokens) is decided later (422).
 */
import { z } from 'zod';
import { EDIT_OPTION_SPECS, MAX_STEPS, type NumericOptionSpec } from '../edit/optimize/options.js';
import { ALPHA_RANGE, BETA_RANGE } from '../edit/global/direction.js';

/** Longest prompt accepted, in characters: far above CLIP's 77 tokens, low enough to refuse junk before tokenizing. */
export const MAX_PROMPT_CHARS = 1000;
/** Most labels one classify call may score (each is one CLIP text encoding). */
export const MAX_LABELS = 64;
/** Largest seed: seeds index a 32-bit generator state (src/random.ts). */
export const MAX_SEED = 2 ** 32 - 1;
/** Longest model name (names are file base names). */
const MAX_NAME_CHARS = 200;

/** A number field: taken as is from JSON, parsed from text in forms (the input type follows, for the typed client). */
type Num<In> = (s: z.ZodNumber) => z.ZodType<number, In>;
const jsonNum: Num<number> = (s) => s;
const formNum: Num<string> = (s) => z.string().trim().min(1, 'must not be empty').transform(Number).pipe(s);

/** Faces a photo start may pick from (largest first). */
const MAX_FACE_INDEX = 99;

const prompt = z.string().trim().min(1, 'the prompt is empty: describe the edit').max(MAX_PROMPT_CHARS);
const name = z.string().max(MAX_NAME_CHARS);

/** A numeric edit option's zod type, from its one description (optimize/options.ts EDIT_OPTION_SPECS). */
function numeric(spec: NumericOptionSpec): z.ZodNumber {
  const base = spec.exclusiveMin ? z.number().gt(spec.min) : z.number().min(spec.min);
  return spec.kind === 'integer' ? base.max(spec.max).int() : base.max(spec.max);
}

function editFields<In>(n: Num<In>) {
  const S = EDIT_OPTION_SPECS;
  return {
    prompt,
    seed: n(z.number().int().min(0).max(MAX_SEED)).optional(),
    truncation: n(z.number().min(0).max(1)).optional(),
    steps: n(numeric(S.steps)).optional(),
    lr: n(numeric(S.lr)).optional(),
    l2: n(numeric(S.l2)).optional(),
    id: n(numeric(S.id)).optional(),
    layers: z.string().max(32).optional(),
    preprocess: z.enum(S.preprocess.values).optional(),
    space: z.enum(S.space.values).optional(),
    noise: z.enum(S.noise.values).optional(),
    noise_seed: n(numeric(S.noiseSeed)).optional(),
    preview_every: n(numeric(S.previewEvery)).optional(),
    /** Photo starts: projection steps (default 500) and which detected face (default the largest). */
    project_steps: n(z.number().int().min(1).max(MAX_STEPS)).optional(),
    /** Photo starts on a server with an encoder (serve --encoder): projection steps refining its code (default 0). */
    refine_steps: n(z.number().int().min(0).max(MAX_STEPS)).optional(),
    face_index: n(z.number().int().min(0).max(MAX_FACE_INDEX)).optional(),
    generator: name.optional(),
    clip: name.optional(),
  };
}

/** A file in a JSON body (base64 or data URL) or batch line (a path). */
const fileText = z.string().min(1);
const upload = z.instanceof(File);

export const EditJson = z.object({ ...editFields(jsonNum), w_plus: fileText.optional(), image: fileText.optional() }).strict();
export const EditForm = z.object({ ...editFields(formNum), w_plus: upload.optional(), image: upload.optional() }).strict();
export type EditJsonBody = z.output<typeof EditJson>;
export type EditFormBody = z.output<typeof EditForm>;

function generateFields<In>(n: Num<In>) {
  return {
    seed: n(z.number().int().min(0).max(MAX_SEED)).optional(),
    truncation: n(z.number().min(0).max(1)).optional(),
    generator: name.optional(),
  };
}
export const GenerateJson = z
  .object({ ...generateFields(jsonNum), z: fileText.optional(), w: fileText.optional(), w_plus: fileText.optional() })
  .strict();
export const GenerateForm = z
  .object({
    ...generateFields(formNum),
    z: upload.optional(),
    w: upload.optional(),
    w_plus: upload.optional(),
  })
  .strict();
export type GenerateJsonBody = z.output<typeof GenerateJson>;
export type GenerateFormBody = z.output<typeof GenerateForm>;

const labelList = z.array(prompt).min(1).max(MAX_LABELS);
/** Repeated form fields arrive as an array, a single one as a string. */
const formList = z.union([z.string(), z.array(z.string())]).transform((v) => (Array.isArray(v) ? v : [v]));

/** Most images one classify call may score. */
export const MAX_CLASSIFY_IMAGES = 32;
/** How labels become prompts: `none` uses each label as written, or a template set of src/clip/templates.ts. */
export const TEMPLATE_CHOICES = ['none', 'simple', 'imagenet'] as const;
const templateChoice = z.enum(TEMPLATE_CHOICES);
const uploads = z.union([upload, z.array(upload).min(1).max(MAX_CLASSIFY_IMAGES)]).transform((v) => (Array.isArray(v) ? v : [v]));

function classifyFields<In>(n: Num<In>) {
  return { templates: templateChoice.optional(), top_k: n(z.number().int().min(1).max(MAX_LABELS)).optional(), clip: name.optional() };
}
export const ClassifyJson = z
  .object({ image: fileText.optional(), images: z.array(fileText).min(1).max(MAX_CLASSIFY_IMAGES).optional(), labels: labelList, ...classifyFields(jsonNum) })
  .strict();
export const ClassifyForm = z
  .object({ image: upload.optional(), images: uploads.optional(), labels: formList.pipe(labelList), ...classifyFields(formNum) })
  .strict();

export const EmbedJson = z
  .object({ texts: labelList.optional(), images: z.array(fileText).min(1).max(MAX_LABELS).optional(), clip: name.optional() })
  .strict();
export const EmbedForm = z
  .object({
    texts: formList.pipe(labelList).optional(),
    images: z.union([upload, z.array(upload).min(1).max(MAX_LABELS)]).transform((v) => (Array.isArray(v) ? v : [v])).optional(),
    clip: name.optional(),
  })
  .strict();

/** `POST /v1/directions`: a prompt (and neutral text) -> a global direction. */
export const DirectionJson = z
  .object({ prompt, neutral: prompt.optional(), beta: z.number().min(BETA_RANGE[0]).max(BETA_RANGE[1]).optional() })
  .strict();
export type DirectionJsonBody = z.output<typeof DirectionJson>;

/** Most directions one render may stack. */
export const MAX_RENDER_EDITS = 8;
/** `POST /v1/render`: a start (seed or w+) moved by stacked directions. */
export const RenderJson = z
  .object({
    seed: z.number().int().min(0).max(MAX_SEED).optional(),
    truncation: z.number().min(0).max(1).optional(),
    w_plus: fileText.optional(),
    edits: z
      .array(
        z
          .object({
            direction: z.string().min(1).max(64),
            alpha: z.number().min(ALPHA_RANGE[0]).max(ALPHA_RANGE[1]),
            beta: z.number().min(BETA_RANGE[0]).max(BETA_RANGE[1]).optional(),
          })
          .strict(),
      )
      .max(MAX_RENDER_EDITS),
    /** A photo (base64): detected, aligned and inverted by the server's encoder; `face_index` picks the face. */
    image: fileText.optional(),
    face_index: z.number().int().min(0).max(MAX_FACE_INDEX).optional(),
    /** For photos: answer the whole photo with the edited face pasted back. */
    paste_back: z.boolean().optional(),
    /** A latent mapper (GET /v1/mappers) applied before the directions: w + strength * M(w). */
    mapper: z.object({ name: name.min(1), strength: z.number().min(-10).max(10).default(0.1) }).strict().optional(),
  })
  .strict();
export type RenderJsonBody = z.output<typeof RenderJson>;

/** One line of a batch jobs file: the API's JSON fields, files as paths, plus an optional output name. */
export const BatchLine = EditJson.extend({ name: name.optional(), method: z.literal('optimize').optional() });
export type BatchLineBody = z.output<typeof BatchLine>;

/** The start fields of a one-pass job (as an optimisation's; files are base64 in JSON, paths in batch lines). */
const onePassStart = {
  seed: z.number().int().min(0).max(MAX_SEED).optional(),
  truncation: z.number().min(0).max(1).optional(),
  w_plus: fileText.optional(),
  image: fileText.optional(),
  project_steps: z.number().int().min(1).max(MAX_STEPS).optional(),
  refine_steps: z.number().int().min(0).max(MAX_STEPS).optional(),
  face_index: z.number().int().min(0).max(MAX_FACE_INDEX).optional(),
};

/** `POST /v1/edits/global`: a job of StyleCLIP global directions, stacked {prompt, neutral, alpha, beta} edits of one start. */
export const GlobalEditJson = z
  .object({
    ...onePassStart,
    edits: z
      .array(
        z
          .object({
            prompt,
            neutral: prompt.optional(),
            alpha: z.number().min(ALPHA_RANGE[0]).max(ALPHA_RANGE[1]).optional(),
            beta: z.number().min(BETA_RANGE[0]).max(BETA_RANGE[1]).optional(),
          })
          .strict(),
      )
      .min(1)
      .max(MAX_RENDER_EDITS),
  })
  .strict();
export type GlobalEditJsonBody = z.output<typeof GlobalEditJson>;

/** `POST /v1/edits/mapper`: a job of a latent mapper the server loaded (GET /v1/mappers): w + strength * M(w). */
export const MapperEditJson = z
  .object({ ...onePassStart, mapper: name.min(1), strength: z.number().min(-10).max(10).optional() })
  .strict();
export type MapperEditJsonBody = z.output<typeof MapperEditJson>;

/** Batch lines of the one-pass methods: the API's bodies with `method` and an optional `name`. */
export const BatchGlobalLine = GlobalEditJson.extend({ name: name.optional(), method: z.literal('global') });
export const BatchMapperLine = MapperEditJson.extend({ name: name.optional(), method: z.literal('mapper') });

/** The edit methods a batch line may name (`method`; optimisation when absent). */
export const BATCH_METHODS = { optimize: BatchLine, global: BatchGlobalLine, mapper: BatchMapperLine } as const;

/** A readable one-line summary of a zod failure: `field: message; field: message`. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((i) => `${i.path.length ? i.path.join('.') : 'body'}: ${i.message}`)
    .join('; ');
}
