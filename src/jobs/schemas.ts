/**
 * Request schemas (zod), one per transport: JSON bodies carry numbers as numbers and files as base64 strings
 * (a data URL prefix is accepted); multipart forms carry numbers as text and files as uploads. The batch runner
 * reads JSON lines with the JSON schema, files being paths there. A request that does not match is a 400;
 * whether its content is usable (decodable image, latent shape, prompt length in tokens) is decided later (422).
 */
import { z } from 'zod';
import { EDIT_OPTION_SPECS } from '../edit/optimize/options.js';
import { ALPHA_RANGE, BETA_RANGE } from '../edit/global/direction.js';
import { MAX_SEED, START_OPTION_SPECS, parseRange, type EnumOptionSpec, type NumericOptionSpec, type OptionSet, type OptionSpec, type RangeOptionSpec } from '../edit/options.js';

/** Longest prompt accepted, in characters: far above CLIP's 77 tokens, low enough to refuse junk before tokenizing. */
const MAX_PROMPT_CHARS = 1000;
/** Most labels one classify call may score (each is one CLIP text encoding). */
const MAX_LABELS = 64;
/** Longest model name (names are file base names). */
const MAX_NAME_CHARS = 200;

/** A number field: taken as is from JSON, parsed from text in forms (the input type follows, for the typed client). */
type Num<In> = (s: z.ZodNumber) => z.ZodType<number, In>;
const jsonNum: Num<number> = (s) => s;
const formNum: Num<string> = (s) => z.string().trim().min(1, 'must not be empty').transform(Number).pipe(s);

const prompt = z.string().trim().min(1, 'the prompt is empty: describe the edit').max(MAX_PROMPT_CHARS);
const name = z.string().max(MAX_NAME_CHARS);
/** A StyleGAN-NADA domain the server loaded (GET /v1/models `domains`) to render the edit with. */
const domain = name.min(1).optional();

/** A numeric option's zod type, from its one description (src/edit/options.ts). */
function numeric(spec: NumericOptionSpec): z.ZodNumber {
  const base = spec.exclusiveMin ? z.number().gt(spec.min) : z.number().min(spec.min);
  return spec.kind === 'integer' ? base.max(spec.max).int() : base.max(spec.max);
}

const rangeText = (maxChars: number) =>
  z.string().max(maxChars).refine((s) => {
    try {
      parseRange(s);
      return true;
    } catch {
      return false;
    }
  }, "must be a range 'A-B' (or 'A') with A <= B");

/** The zod type of one option on a transport (`n` reads numbers: as they are in JSON, from text in forms). */
function fieldOf<In>(spec: OptionSpec, n: Num<In>): z.ZodType {
  if (spec.kind === 'enum') return z.enum(spec.values as [string, ...string[]]);
  if (spec.kind === 'range') return rangeText(spec.maxChars);
  return n(numeric(spec));
}

/** The zod type of a descriptor, statically: enums their values, ranges text, numbers as the transport reads them. */
type FieldType<S, In> = S extends EnumOptionSpec ? z.ZodType<S['values'][number], S['values'][number]> : S extends RangeOptionSpec ? z.ZodType<string, string> : z.ZodType<number, In>;
/** The optional fields of an option set by API name. */
type FieldsOf<Set extends OptionSet, In> = { [K in keyof Set as Set[K]['field']]: z.ZodOptional<FieldType<Set[K], In>> };

/** The optional fields of an option set, by their API names (`field`): one schema entry per descriptor entry. */
function optionFields<Set extends OptionSet, In>(n: Num<In>, set: Set): FieldsOf<Set, In> {
  return Object.fromEntries(Object.values(set).map((spec) => [spec.field, fieldOf(spec, n).optional()])) as FieldsOf<Set, In>;
}

/** Fields of an edit: the prompt, the start's and the method's options (descriptors), the models. */
function editFields<Set extends OptionSet, In>(n: Num<In>, options: Set) {
  return { prompt, ...optionFields(n, START_OPTION_SPECS), ...optionFields(n, options), generator: name.optional(), clip: name.optional(), domain };
}

/** A file in a JSON body (base64 or data URL) or batch line (a path). */
const fileText = z.string().min(1);
const upload = z.instanceof(File);

/** The edit schemas of an option set: JSON body, multipart form, batch line (files base64 / uploads / paths). */
function editSchemas<Set extends OptionSet>(options: Set) {
  const json = z.object({ ...editFields(jsonNum, options), w_plus: fileText.optional(), image: fileText.optional() }).strict();
  const form = z.object({ ...editFields(formNum, options), w_plus: upload.optional(), image: upload.optional() }).strict();
  const batch = json.extend({ name: name.optional(), method: z.literal('optimize').optional() });
  return { json, form, batch };
}

const OPTIMISE = editSchemas(EDIT_OPTION_SPECS);
export const EditJson = OPTIMISE.json;
export const EditForm = OPTIMISE.form;
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
const MAX_CLASSIFY_IMAGES = 32;
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
const MAX_RENDER_EDITS = 8;
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
    /** A photo uploaded once with POST /v1/photos, by its id (slider moves then send no image). */
    photo_id: z.string().regex(/^[0-9a-f]{16}$/, 'a photo id from POST /v1/photos (16 hex digits)').optional(),
    face_index: numeric(START_OPTION_SPECS.faceIndex).optional(),
    /** For photos where the server offers both: 'fast' (e4e) or 'faithful' (HyperStyle, `iterations` passes). */
    photo_inversion: z.enum(START_OPTION_SPECS.inversion.values).optional(),
    iterations: numeric(START_OPTION_SPECS.iterations).optional(),
    /** For photos: answer the whole photo with the edited face pasted back. */
    paste_back: z.boolean().optional(),
    /** A client's own id (the form's page): a newer render of the same client supersedes one still waiting (409). */
    client: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'letters, digits, _ and - (1..64)').optional(),
    /** The answer's image format (default png; jpeg/webp are a tenth of the size for whole photos). */
    format: z.enum(['png', 'jpeg', 'webp']).optional(),
    /** A latent mapper (GET /v1/mappers) applied before the directions: w + strength * M(w). */
    mapper: z.object({ name: name.min(1), strength: z.number().min(-10).max(10).default(0.1) }).strict().optional(),
    domain,
  })
  .strict();
export type RenderJsonBody = z.output<typeof RenderJson>;

/** One line of a batch jobs file: the API's JSON fields, files as paths, plus an optional output name. */
export const BatchLine = OPTIMISE.batch;

/** `POST /v1/photos`: a photo (base64) to render by id (`photo_id` of /v1/render). */
export const PhotoJson = z.object({ image: fileText }).strict();
export type PhotoJsonBody = z.output<typeof PhotoJson>;

/** The start fields of a one-pass job (as an optimisation's; files are base64 in JSON, paths in batch lines). */
const onePassStart = {
  ...optionFields(jsonNum, START_OPTION_SPECS),
  domain,
  w_plus: fileText.optional(),
  image: fileText.optional(),
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

/** `POST /v1/edits/mapper`: a job of a latent mapper the server loaded (GET /v1/mappers): w + strength * M(w). */
export const MapperEditJson = z
  .object({ ...onePassStart, mapper: name.min(1), strength: z.number().min(-10).max(10).optional() })
  .strict();

/** Batch lines of the one-pass methods: the API's bodies with `method` and an optional `name`. */
const BatchGlobalLine = GlobalEditJson.extend({ name: name.optional(), method: z.literal('global') });
const BatchMapperLine = MapperEditJson.extend({ name: name.optional(), method: z.literal('mapper') });

/** The edit methods a batch line may name (`method`; optimisation when absent). */
export const BATCH_METHODS = { optimize: BatchLine, global: BatchGlobalLine, mapper: BatchMapperLine } as const;

/** A readable one-line summary of a zod failure: `field: message; field: message`. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((i) => `${i.path.length ? i.path.join('.') : 'body'}: ${i.message}`)
    .join('; ');
}
