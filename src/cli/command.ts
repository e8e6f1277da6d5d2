/**
 * The shape of a `styleclip` sub-command and the argument parsing every command shares. Errors a user can cause are
 * `UsageError`s: one line on stderr and exit code 2.
 */
import { resolve as resolvePath } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { DEFAULT_MODEL_NAMES, formatBytes, resolveModelPath, type ModelKind } from '../io/models/registry.js';
import { ProgressBar } from './progress.js';

export type Options = NonNullable<ParseArgsConfig['options']>;

export interface Command {
  /** Words after `styleclip`, e.g. `['clip', 'embed']`. */
  readonly path: readonly string[];
  readonly summary: string;
  /** Usage lines printed by `--help`. */
  readonly usage: string;
  readonly options: Options;
  readonly allowPositionals?: boolean;
  run(args: ParsedArgs, io: CliIO): Promise<number>;
}

export interface ParsedArgs {
  readonly values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  readonly positionals: string[];
}

export interface CliIO {
  readonly stdout: NodeJS.WritableStream & { isTTY?: boolean };
  readonly stderr: NodeJS.WritableStream & { isTTY?: boolean };
  /** Aborted on SIGINT/SIGTERM; long commands stop and write nothing partial. */
  readonly signal: AbortSignal;
}

/** A problem with the user's input: reported as one line, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** A token that is a negative number (`-2`, `-0.5`, `-1e-3`), not a flag. */
const NEGATIVE_NUMBER = /^-(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i;

/**
 * `--flag -2` -> `--flag=-2` for string options, so negative values reach our own range checks instead of
 * node:util parseArgs' "argument is ambiguous".
 */
function joinNegativeValues(cmd: Command, argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i].startsWith('--') ? argv[i].slice(2) : undefined;
    if (name && cmd.options[name]?.type === 'string' && i + 1 < argv.length && NEGATIVE_NUMBER.test(argv[i + 1])) {
      out.push(`${argv[i]}=${argv[++i]}`);
    } else out.push(argv[i]);
  }
  return out;
}

export function parseCommandArgs(cmd: Command, argv: string[]): ParsedArgs {
  try {
    const { values, positionals } = parseArgs({
      args: joinNegativeValues(cmd, argv),
      options: { ...cmd.options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: cmd.allowPositionals ?? false,
      strict: true,
    });
    return { values: values as ParsedArgs['values'], positionals };
  } catch (e) {
    const msg = (e as Error).message.split('\n')[0];
    throw new UsageError(`${msg}. Run 'styleclip ${cmd.path.join(' ')} --help' for the accepted flags.`);
  }
}

export function str(args: ParsedArgs, name: string): string | undefined {
  const v = args.values[name];
  if (v === undefined) return undefined;
  if (Array.isArray(v)) return String(v[v.length - 1]);
  return String(v);
}

export function strs(args: ParsedArgs, name: string): string[] {
  const v = args.values[name];
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).map(String);
}

export function requireStr(args: ParsedArgs, name: string): string {
  const v = str(args, name);
  if (v === undefined || v === '') throw new UsageError(`--${name} is required`);
  return v;
}

export function flag(args: ParsedArgs, name: string): boolean {
  return args.values[name] === true;
}

/** Parses a number flag with bounds; the message names the flag and the accepted range. */
export function num(
  args: ParsedArgs,
  name: string,
  def: number,
  { min = -Infinity, max = Infinity, integer = false, exclusiveMin = false }: { min?: number; max?: number; integer?: boolean; exclusiveMin?: boolean } = {},
): number {
  const s = str(args, name);
  if (s === undefined) return def;
  const v = Number(s);
  if (s.trim() === '' || !Number.isFinite(v) || (integer && !Number.isInteger(v)) || (exclusiveMin ? v <= min : v < min) || v > max) {
    const range = exclusiveMin ? `> ${min} and <= ${max}` : `${Number.isFinite(min) ? min : '-inf'}..${Number.isFinite(max) ? max : 'inf'}`;
    throw new UsageError(`--${name} must be ${integer ? 'an integer' : 'a number'} in ${range}, got '${s}'`);
  }
  return v;
}

/**
 * A model flag (--generator, --clip, --vocab, ...): a file path or a model name (`styleclip models list`), default
 * DEFAULT_MODEL_NAMES[name] (src/io/models/registry.ts). A named model not in the cache is downloaded first, with a progress bar on stderr, unless
 * --offline / STYLECLIP_OFFLINE=1.
 */
export async function modelFlag(args: ParsedArgs, name: string, kind: ModelKind, stderr: CliIO['stderr']): Promise<string> {
  const given = str(args, name) ?? (DEFAULT_MODEL_NAMES as Readonly<Record<string, string>>)[name];
  if (given === undefined || given === '') throw new UsageError(`--${name} is required`);
  return resolveSaid(given, kind, stderr);
}

/** A model name or path resolved as `modelFlag` does: a registry name not in the cache is pulled, said on stderr. */
export async function resolveSaid(given: string, kind: ModelKind, stderr: CliIO['stderr']): Promise<string> {
  let bar: ProgressBar | undefined;
  try {
    return await resolveModelPath(given, kind, {
      onPull: (entry) => {
        stderr.write(`styleclip: downloading ${entry.name} (first use; --offline forbids downloads)\n`);
      },
      onProgress: (file, p) => {
        bar ??= new ProgressBar(stderr, p.total ?? file.size ?? 0, stderr.isTTY === true && (p.total ?? file.size ?? 0) > 0);
        bar.update(p.bytes, `${formatBytes(p.bytes)} ${formatBytes(p.rate)}/s ${file.name}`);
      },
    });
  } finally {
    bar?.finish();
  }
}

/** Refuses two output flags that name the same file (one would silently overwrite the other). */
export function distinctOutputs(paths: Readonly<Record<string, string | undefined>>): void {
  const seen = new Map<string, string>();
  for (const [flagName, p] of Object.entries(paths)) {
    if (!p) continue;
    const key = resolvePath(p);
    const other = seen.get(key);
    if (other) throw new UsageError(`--${other} and --${flagName} name the same file ${p}; give each output its own path`);
    seen.set(key, flagName);
  }
}
