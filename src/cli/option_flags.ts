/**
 * CLI flags from option descriptors (src/edit/options.ts): the parseArgs entries, the help lines and the parsed,
 * bounded values of a set, so a new descriptor entry is a new flag with no other edit here.
 */
import { optionRangeText, parseRange, type OptionSet, type OptionSpec } from '../edit/options.js';
import { UsageError, num, str, strs, type ParsedArgs } from './command.js';

type FlagOption = { readonly type: 'string'; readonly multiple?: true };

/** parseArgs entries of every flag of the sets (per-edit options may repeat). */
export function flagOptions(...sets: readonly OptionSet[]): Record<string, FlagOption> {
  const out: Record<string, FlagOption> = {};
  for (const s of sets.flatMap((set) => Object.values(set))) if (s.flag) out[s.flag] = s.perEdit ? { type: 'string', multiple: true } : { type: 'string' };
  return out;
}

/** Help lines of a set's flags with their bounds and defaults (`defaults` by option name). */
export function flagHelp(set: OptionSet, defaults: Readonly<Record<string, unknown>> = {}): string[] {
  return Object.entries(set)
    .filter(([, s]) => s.flag)
    .map(([name, s]) => {
      const def = defaults[name] === undefined ? '' : ` (default ${String(defaults[name])})`;
      return `  --${s.flag!.padEnd(17)} ${s.help}; ${optionRangeText(s)}${def}`;
    });
}

/** The value of one option's flag, parsed and bounded by its descriptor; undefined when the flag is absent. */
export function flagValue(args: ParsedArgs, spec: OptionSpec): unknown {
  if (!spec.flag || str(args, spec.flag) === undefined) return undefined;
  const v = str(args, spec.flag)!;
  if (spec.kind === 'enum') {
    if (!spec.values.includes(v)) throw new UsageError(`--${spec.flag} must be one of ${spec.values.join(', ')}, got '${v}'`);
    return v;
  }
  if (spec.kind === 'range') return parseRange(v, `--${spec.flag}`);
  return num(args, spec.flag, 0, { min: spec.min, max: spec.max, integer: spec.kind === 'integer', exclusiveMin: spec.exclusiveMin });
}

/** Every given flag of a set as its option's value (by option name). */
export function flagValues<S extends OptionSet>(args: ParsedArgs, set: S): Partial<Record<keyof S, unknown>> {
  const out: Partial<Record<keyof S, unknown>> = {};
  for (const [name, spec] of Object.entries(set) as [keyof S, OptionSpec][]) {
    const v = flagValue(args, spec);
    if (v !== undefined) out[name] = v;
  }
  return out;
}

/** The flags given on the command line (names without dashes). */
export function givenFlags(args: ParsedArgs): string[] {
  return Object.keys(args.values).filter((k) => args.values[k] !== undefined && (typeof args.values[k] !== 'object' || strs(args, k).length > 0));
}
