/**
 * Option descriptors: one entry per option a user sets (its bounds, CLI flag, API / batch-line field and help). The
 * CLI's flags, help and parsing (src/cli/option_flags.ts), the JSON, multipart and batch-line schemas
 * (src/jobs/schemas.ts), request normalisation (src/jobs/submission.ts) and the library's validation all derive from
 * these sets, so adding an option is one entry. START_OPTION_SPECS are the start's options, which every method
 * takes; each method declares its own set (src/edit/methods.ts).
 */
import { DEFAULT_ITERATIONS, MAX_ITERATIONS } from '../invert/hyperstyle.js';
import { PHOTO_INVERSIONS } from '../invert/types.js';
import { InputError } from '../errors.js';
import { MAX_PROJECT_STEPS } from '../invert/project.js';

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
/** An inclusive integer range written `A-B` (or `A`) on the wire, `[A, B]` in the library. */
export interface RangeOptionSpec {
  readonly kind: 'range';
  /** Longest accepted text. */
  readonly maxChars: number;
}
export type OptionSpec = (NumericOptionSpec | EnumOptionSpec | RangeOptionSpec) & {
  /** CLI flag (`--flag`), absent when the CLI sets it itself (previews follow --gif). */
  readonly flag?: string;
  /** API / batch-line field. */
  readonly field: string;
  readonly help: string;
  /** One value per stacked edit (global directions' alpha and beta): the CLI flag may repeat. */
  readonly perEdit?: boolean;
};

export type OptionSet = Readonly<Record<string, OptionSpec>>;

/** Largest seed: seeds index a 32-bit generator state (src/random.ts). */
export const MAX_SEED = 2 ** 32 - 1;
/** Faces a photo start may pick from (largest first). */
const MAX_FACE_INDEX = 99;

/** Where an edit starts and how a photo is inverted: every method takes these. */
export const START_OPTION_SPECS = Object.freeze({
  seed: { kind: 'integer', min: 0, max: MAX_SEED, flag: 'seed', field: 'seed', help: 'start from G(truncated w of z ~ N(0,I) from this seed)' },
  truncation: { kind: 'number', min: 0, max: 1, flag: 'truncation', field: 'truncation', help: 'psi of a seed start (StyleCLIP: 0.7)' },
  projectSteps: { kind: 'integer', min: 1, max: MAX_PROJECT_STEPS, flag: 'project-steps', field: 'project_steps', help: 'photo starts without an encoder: projection steps' },
  refineSteps: { kind: 'integer', min: 0, max: MAX_PROJECT_STEPS, flag: 'refine', field: 'refine_steps', help: "photo starts with an e4e/pSp encoder: projection steps refining its code" },
  inversion: { kind: 'enum', values: PHOTO_INVERSIONS, flag: 'inversion', field: 'photo_inversion', help: "photo starts where both are loaded: 'fast' (e4e, one pass) or 'faithful' (HyperStyle, keeps the likeness)" },
  iterations: { kind: 'integer', min: 1, max: MAX_ITERATIONS, flag: 'iterations', field: 'iterations', help: `photo starts with a HyperStyle encoder: its passes (default ${DEFAULT_ITERATIONS})` },
  faceIndex: { kind: 'integer', min: 0, max: MAX_FACE_INDEX, flag: 'face-index', field: 'face_index', help: 'which face of the photo, 0 = the largest' },
} as const satisfies OptionSet);

/** The message of a value outside its option's bounds (or set). */
export function optionRangeText(spec: OptionSpec): string {
  if (spec.kind === 'enum') return `one of ${spec.values.join(', ')}`;
  if (spec.kind === 'range') return "a range 'A-B' of integers with 0 <= A <= B";
  const lo = spec.exclusiveMin ? `> ${spec.min}` : `>= ${spec.min}`;
  return `${spec.kind === 'integer' ? 'an integer' : 'a number'} ${lo} and <= ${spec.max}`;
}

/** Whether the library value `v` fits `spec` (a range is `[A, B]`). */
export function optionValid(spec: OptionSpec, v: unknown): boolean {
  if (spec.kind === 'enum') return typeof v === 'string' && spec.values.includes(v);
  if (spec.kind === 'range') {
    return Array.isArray(v) && v.length === 2 && v.every((x) => Number.isInteger(x) && x >= 0) && v[0] <= v[1];
  }
  return (
    typeof v === 'number' && Number.isFinite(v) && (spec.exclusiveMin ? v > spec.min : v >= spec.min) && v <= spec.max && (spec.kind === 'number' || Number.isInteger(v))
  );
}

/** Parses a range such as "0-7" or "4" (the wire form of a range option). */
export function parseRange(s: string, what = 'layers'): [number, number] {
  const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(s);
  if (!m) throw new InputError(`${what} must look like '0-7' or '4', got '${s}'`);
  const a = Number(m[1]);
  const b = m[2] === undefined ? a : Number(m[2]);
  if (b < a) throw new InputError(`${what} range '${s}' is empty: write it as low-high`);
  return [a, b];
}

/** A wire value (JSON number or text, form text, flag text already parsed to a number) as the library's value. */
function fromWire(spec: OptionSpec, v: unknown): unknown {
  return spec.kind === 'range' && typeof v === 'string' ? parseRange(v, spec.field) : v;
}

/** The library values of `set` read through `get` (a field or flag lookup); absent ones are left out. */
export function valuesOf<S extends OptionSet>(set: S, get: (spec: OptionSpec) => unknown): Partial<Record<keyof S, unknown>> {
  const out: Partial<Record<keyof S, unknown>> = {};
  for (const [name, spec] of Object.entries(set) as [keyof S, OptionSpec][]) {
    const v = get(spec);
    if (v !== undefined) out[name] = fromWire(spec, v);
  }
  return out;
}
