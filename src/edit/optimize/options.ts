/**
 * Options of the optimisation method: StyleCLIP's defaults (Patashnik et al. 2021; optimization/run_optimization.py),
 * their descriptors (src/edit/options.ts), one `resolve` that merges user input and validates it, and the one check
 * of options against the models and the start, each with a message naming the fix.
 */
import { InputError } from '../../errors.js';
import { optionRangeText, optionValid, type OptionSpec } from '../options.js';
import type { EditOptions } from './types.js';

/** Upper bound on optimisation steps a request may ask for. */
const MAX_STEPS = 10_000;

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

/**
 * The one description of every option of the optimisation method a user sets: defaults (EDIT_DEFAULTS), bounds and
 * names. The CLI's flags, help and parsing (src/cli/option_flags.ts), the API's JSON and multipart schemas and the
 * batch-line schema (src/jobs/schemas.ts), request normalisation (src/jobs/submission.ts) and `resolveEditOptions`
 * are all derived from it, so a bound is the same everywhere and a new option is one entry here.
 */
export const EDIT_OPTION_SPECS = Object.freeze({
  steps: { kind: 'integer', min: 1, max: MAX_STEPS, flag: 'steps', field: 'steps', help: 'Adam steps (StyleCLIP: 300)' },
  lr: { kind: 'number', min: 0, exclusiveMin: true, max: 10, flag: 'lr', field: 'lr', help: 'peak learning rate (cosine ramp as StyleCLIP)' },
  l2: { kind: 'number', min: 0, max: 1e6, flag: 'l2', field: 'l2', help: 'weight of ||w - w0||^2 (higher keeps the edit closer to the start)' },
  id: { kind: 'number', min: 0, max: 1e6, flag: 'id', field: 'id', help: 'weight of the identity term (needs an identity model)' },
  space: { kind: 'enum', values: ['w+', 'w', 's'] as const, flag: 'space', field: 'space', help: 'latent space: w+ (default), w, s (StyleSpace, conv channels)' },
  layers: { kind: 'range', maxChars: 32, flag: 'layers', field: 'layers', help: 'optimise only W+ layers A..B (keeps e.g. colours or pose)' },
  preprocess: { kind: 'enum', values: ['normalized', 'styleclip'] as const, flag: 'clip-preprocess', field: 'preprocess', help: 'how the image reaches CLIP' },
  noise: { kind: 'enum', values: ['const', 'random'] as const, flag: 'noise', field: 'noise', help: "noise maps: the checkpoint's (const) or seeded random" },
  noiseSeed: { kind: 'integer', min: 0, max: 2 ** 32 - 1, flag: 'noise-seed', field: 'noise_seed', help: 'seed of random noise maps' },
  previewEvery: { kind: 'integer', min: 0, max: MAX_STEPS, field: 'preview_every', help: 'a preview frame every k steps (0: none)' },
} as const satisfies Record<string, OptionSpec>);

export type EditOptionName = keyof typeof EDIT_OPTION_SPECS;

/** Merges `partial` over the defaults and validates every field. Layer ranges are checked against the generator later. */
export function resolveEditOptions(partial: Partial<EditOptions> & { prompt: string }): EditOptions {
  const o = { ...EDIT_DEFAULTS, ...Object.fromEntries(Object.entries(partial).filter(([, v]) => v !== undefined)) } as EditOptions;
  if (typeof o.prompt !== 'string' || o.prompt.trim() === '') {
    throw new InputError('the prompt is empty: describe the edit, e.g. --prompt "a person with purple hair"');
  }
  for (const [name, spec] of Object.entries(EDIT_OPTION_SPECS) as [EditOptionName, OptionSpec][]) {
    const v = o[name];
    if (v === undefined && EDIT_DEFAULTS[name] === undefined) continue; // optional (layers: all of them)
    if (!optionValid(spec, v)) throw new InputError(`${spec.field} must be ${optionRangeText(spec)}, got ${JSON.stringify(v)}`);
  }
  return Object.freeze(o);
}

/** What an edit is checked against: the generator's W+ rows, whether an identity model is loaded, the start. */
interface EditTarget {
  readonly nLatent: number;
  readonly identity: boolean;
  readonly start: 'seed' | 'w' | 'w+' | 'image';
}

/** How messages name options: CLI flags or API / batch-line fields. */
type OptionNaming = 'flag' | 'field';

/**
 * The checks of resolved options against the models and the start, for every caller (CLI, library, API, batch):
 * the W+ layer range fits the generator and needs space w+, an id weight needs an identity model, and a w+ or photo
 * start cannot be edited in space w. Messages name options as `naming` says.
 */
export function checkEditFits(o: EditOptions, t: EditTarget, naming: OptionNaming): void {
  const S = EDIT_OPTION_SPECS;
  const opt = (spec: OptionSpec): string => (naming === 'flag' ? `--${spec.flag}` : spec.field);
  if (o.layers && o.layers[1] >= t.nLatent) {
    throw new InputError(`${opt(S.layers)} ${o.layers[0]}-${o.layers[1]} are outside this generator's W+ layers 0-${t.nLatent - 1}`);
  }
  if (o.layers && o.space !== 'w+') throw new InputError(`${opt(S.layers)} selects W+ layers; it needs ${opt(S.space)} w+`);
  if (o.id > 0 && !t.identity) {
    throw new InputError(naming === 'flag'
      ? 'the identity weight needs an identity model (--identity-model)'
      : 'the id weight needs an identity model; start the server with --identity-model mobileface (or set id to 0)');
  }
  if ((t.start === 'w+' || t.start === 'image') && o.space === 'w') {
    const what = t.start === 'image' ? (naming === 'flag' ? 'photo (inverted to w+)' : 'image') : naming === 'flag' ? 'w+' : 'w_plus';
    throw new InputError(naming === 'flag'
      ? `a ${what} start cannot be optimised in space 'w'; use ${opt(S.space)} w+`
      : `${opt(S.space)}: a ${what} start is a w+ latent and cannot be edited in space 'w'; use space 'w+' or 's' (or start from a seed)`);
  }
}
