/**
 * Edit options: StyleCLIP's defaults (Patashnik et al. 2021; optimization/run_optimization.py) with one `resolve`
 * that merges user input and rejects what cannot run, with a message naming the fix.
 */
import { InputError } from '../errors.js';
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

function finite(name: string, v: number, min: number, max: number, integer = false): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
    throw new InputError(`${name} must be ${integer ? 'an integer' : 'a finite number'} in [${min}, ${max}], got ${v}`);
  }
  return v;
}

/** Merges `partial` over the defaults and validates every field. Layer ranges are checked against the generator later. */
export function resolveEditOptions(partial: Partial<EditOptions> & { prompt: string }): EditOptions {
  const o = { ...EDIT_DEFAULTS, ...Object.fromEntries(Object.entries(partial).filter(([, v]) => v !== undefined)) } as EditOptions;
  if (typeof o.prompt !== 'string' || o.prompt.trim() === '') {
    throw new InputError('the prompt is empty: describe the edit, e.g. --prompt "a person with purple hair"');
  }
  finite('steps', o.steps, 1, MAX_STEPS, true);
  finite('lr', o.lr, 0, 10);
  finite('l2', o.l2, 0, 1e6);
  finite('id', o.id, 0, 1e6);
  finite('previewEvery', o.previewEvery, 0, MAX_STEPS, true);
  finite('noiseSeed', o.noiseSeed, 0, 2 ** 32 - 1, true);
  if (o.space !== 'w+' && o.space !== 'w' && o.space !== 's') throw new InputError(`space must be 'w+', 'w' or 's', got '${o.space}'`);
  if (o.preprocess !== 'normalized' && o.preprocess !== 'styleclip') {
    throw new InputError(`clip preprocessing must be 'normalized' or 'styleclip', got '${o.preprocess}'`);
  }
  if (o.noise !== 'const' && o.noise !== 'random') throw new InputError(`noise must be 'const' or 'random', got '${o.noise}'`);
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
