/**
 * Edit options: StyleCLIP's defaults (Patashnik et al. 2021; optimization/run_optimization.py) with one `resolve`
 * that merges user input and rejects what cannot run, with a message naming the fix.
 */
import { InputError } from '../../errors.js';
import type { EditOptions } from './types.js';

/** Upper bound on optimisation steps a request may ask for. */
export const MAX_STEPS = 10_000;

export const EDIT_DEFAULTS: Readonly<Omit<EditOptions, 'prompt'>> = Object.freeze({
  /** run_optimization.py --step 300 */
  steps: 300,
  /** --lr 0.1 */
  lr: 0.1,
  /** --l2_lambda 0.008 */
  l2: 0.008,
  /** --id_lambda 0.000: StyleCLIP's own default leaves identity off; for real faces we recommend 0.005 (README). */
  id: 0,
  /** StyleCLIP optimises the full W+ latent (--work_in_stylespace off). */
  space: 'w+',
  layers: undefined,
  /** Our default; `styleclip` reproduces the reference exactly. */
  preprocess: 'normalized',
  /** The generator's stored noise buffers (randomize_noise=False in StyleCLIP's edit). */
  noise: 'const',
  noiseSeed: 0,
  previewEvery: 0,
});

/** Truncation StyleCLIP uses for random starting points (--truncation 0.7). */
export const DEFAULT_TRUNCATION = 0.7;

/** Recommended identity weight for real faces (StyleCLIP's paper uses ID loss weights of this order for faces). */
export const RECOMMENDED_FACE_ID = 0.005;

/** A numeric option: its bounds (inclusive unless `exclusiveMin`) and whether it must be an integer. */
export interface NumericOptionSpec {
  readonly kind: 'number' | 'integer';
  readonly min: number;
  readonly max: number;
  readonly exclusiveMin?: boolean;
}
/** An option with a fixed set of values. */
export interface EnumOptionSpec {
  readonly kind: 'enum';
  readonly values: readonly string[];
}
export type OptionSpec = (NumericOptionSpec | EnumOptionSpec) & {
  /** CLI flag (`--flag`), absent when the CLI sets it itself (previews follow --gif). */
  readonly flag?: string;
  /** API / batch-line field. */
  readonly field: string;
  readonly help: string;
};

/**
 * The one description of every edit option a user sets: defaults (EDIT_DEFAULTS), bounds and names. The CLI's flags
 * and help (src/cli/edit.ts), the API's JSON and multipart schemas and the batch-line schema (src/server/schemas.ts)
 * and `resolveEditOptions` are all derived from it, so a bound is the same everywhere.
 */
export const EDIT_OPTION_SPECS = Object.freeze({
  steps: { kind: 'integer', min: 1, max: MAX_STEPS, flag: 'steps', field: 'steps', help: 'Adam steps (StyleCLIP: 300)' },
  lr: { kind: 'number', min: 0, exclusiveMin: true, max: 10, flag: 'lr', field: 'lr', help: 'peak learning rate (cosine ramp as StyleCLIP)' },
  l2: { kind: 'number', min: 0, max: 1e6, flag: 'l2', field: 'l2', help: 'weight of ||w - w0||^2 (higher keeps the edit closer to the start)' },
  id: { kind: 'number', min: 0, max: 1e6, flag: 'id', field: 'id', help: 'weight of the identity term (needs an identity model)' },
  space: { kind: 'enum', values: ['w+', 'w', 's'] as const, flag: 'space', field: 'space', help: 'latent space: w+ (default), w, s (StyleSpace, conv channels)' },
  preprocess: { kind: 'enum', values: ['normalized', 'styleclip'] as const, flag: 'clip-preprocess', field: 'preprocess', help: 'how the image reaches CLIP' },
  noise: { kind: 'enum', values: ['const', 'random'] as const, flag: 'noise', field: 'noise', help: "noise maps: the checkpoint's (const) or seeded random" },
  noiseSeed: { kind: 'integer', min: 0, max: 2 ** 32 - 1, flag: 'noise-seed', field: 'noise_seed', help: 'seed of random noise maps' },
  previewEvery: { kind: 'integer', min: 0, max: MAX_STEPS, field: 'preview_every', help: 'a preview frame every k steps (0: none)' },
} satisfies Record<string, OptionSpec>);

export type EditOptionName = keyof typeof EDIT_OPTION_SPECS;

/** The message of a value outside its option's bounds (or set). */
export function optionRangeText(spec: OptionSpec): string {
  if (spec.kind === 'enum') return `one of ${spec.values.join(', ')}`;
  const lo = spec.exclusiveMin ? `> ${spec.min}` : `>= ${spec.min}`;
  return `${spec.kind === 'integer' ? 'an integer' : 'a number'} ${lo} and <= ${spec.max}`;
}

/** Whether `v` fits `spec`. */
export function optionValid(spec: OptionSpec, v: unknown): boolean {
  if (spec.kind === 'enum') return typeof v === 'string' && spec.values.includes(v);
  return (
    typeof v === 'number' && Number.isFinite(v) && (spec.exclusiveMin ? v > spec.min : v >= spec.min) && v <= spec.max && (spec.kind === 'number' || Number.isInteger(v))
  );
}

/** Merges `partial` over the defaults and validates every field. Layer ranges are checked against the generator later. */
export function resolveEditOptions(partial: Partial<EditOptions> & { prompt: string }): EditOptions {
  const o = { ...EDIT_DEFAULTS, ...Object.fromEntries(Object.entries(partial).filter(([, v]) => v !== undefined)) } as EditOptions;
  if (typeof o.prompt !== 'string' || o.prompt.trim() === '') {
    throw new InputError('the prompt is empty: describe the edit, e.g. --prompt "a person with purple hair"');
  }
  for (const [name, spec] of Object.entries(EDIT_OPTION_SPECS) as [EditOptionName, OptionSpec][]) {
    const v = o[name];
    if (!optionValid(spec, v)) throw new InputError(`${spec.field} must be ${optionRangeText(spec)}, got ${JSON.stringify(v)}`);
  }
  if (o.layers !== undefined) {
    const [a, b] = o.layers;
    if (!Number.isInteger(a) || !Number.isInteger(b) || a < 0 || b < a) {
      throw new InputError(`layers must be a range 'A-B' with 0 <= A <= B, got ${a}-${b}`);
    }
  }
  return Object.freeze(o);
}

/** Parses a layer range such as "0-7" or "4". */
export function parseLayers(s: string): [number, number] {
  const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(s);
  if (!m) throw new InputError(`layers must look like '0-7' or '4', got '${s}'`);
  const a = Number(m[1]);
  const b = m[2] === undefined ? a : Number(m[2]);
  if (b < a) throw new InputError(`layer range '${s}' is empty: write it as low-high`);
  return [a, b];
}
