/**
 * The edit methods and what each takes: its option descriptors (src/edit/options.ts; the start's options
 * START_OPTION_SPECS every method takes), its text inputs, the model files it loads besides the generator, and the
 * outputs only it writes. The CLI derives from this which flags belong to which method (and refuses the others with
 * the method they belong to); the API and batch lines take the same options by field.
 */
import { GLOBAL_OPTION_SPECS } from './global/direction.js';
import { MAPPER_OPTION_SPECS } from './mapper/network.js';
import type { OptionSet } from './options.js';
import { EDIT_OPTION_SPECS } from './optimize/options.js';

export type EditMethodName = 'optimize' | 'global' | 'mapper';

interface EditMethodSpec {
  readonly options: OptionSet;
  /** Texts: the prompt (once, repeated per stacked edit, or none: a mapper was trained for its own text). */
  readonly prompts: 'one' | 'per-edit' | 'none';
  /** Further texts per stacked edit (the global directions' neutral description). */
  readonly texts: readonly string[];
  /** Model files it loads besides the generator (by flag / field). */
  readonly models: readonly string[];
  /** Outputs it alone writes (by flag). */
  readonly outputs: readonly string[];
}

export const EDIT_METHODS: Readonly<Record<EditMethodName, EditMethodSpec>> = Object.freeze({
  optimize: { options: EDIT_OPTION_SPECS, prompts: 'one', texts: [], models: ['clip', 'vocab', 'identity-model'], outputs: ['gif', 'trajectory'] },
  global: { options: GLOBAL_OPTION_SPECS, prompts: 'per-edit', texts: ['neutral'], models: ['clip', 'vocab', 'fs3', 'stats'], outputs: ['raw'] },
  mapper: { options: MAPPER_OPTION_SPECS, prompts: 'none', texts: [], models: ['mapper'], outputs: ['raw'] },
});

/** Every flag a method takes that some other method does not share: its option flags, texts, models and outputs. */
function methodFlags(m: EditMethodSpec): string[] {
  const options = Object.values(m.options).flatMap((s) => (s.flag ? [s.flag] : []));
  return [...options, ...(m.prompts === 'none' ? [] : ['prompt']), ...m.texts, ...m.models, ...m.outputs];
}

/** The first flag of `given` that `method` does not take but another method does, and the methods that take it. */
export function misplacedFlag(method: EditMethodName, given: readonly string[]): { flag: string; belongsTo: EditMethodName[] } | undefined {
  const mine = new Set(methodFlags(EDIT_METHODS[method]));
  const all = Object.entries(EDIT_METHODS) as [EditMethodName, EditMethodSpec][];
  for (const flag of given) {
    if (mine.has(flag)) continue;
    const belongsTo = all.filter(([, m]) => methodFlags(m).includes(flag)).map(([n]) => n);
    if (belongsTo.length) return { flag, belongsTo };
  }
  return undefined;
}

/** The methods that take every flag of `given` (in EDIT_METHODS order): what a call without a method can mean. */
export function compatibleMethods(given: readonly string[]): EditMethodName[] {
  return (Object.keys(EDIT_METHODS) as EditMethodName[]).filter((m) => misplacedFlag(m, given) === undefined);
}
