/**
 * `styleclip` entry point: finds the sub-command, parses its flags strictly, and maps errors to exit codes
 * (2 for anything the user can fix, 1 for internal failures).
 */
import type { CliIO, Command } from './command.js';
import { UsageError, parseCommandArgs } from './command.js';
import { COMMANDS } from './commands.js';
import { readFile } from 'node:fs/promises';
import { InputError } from '../errors.js';
import { ENV } from '../io/models/registry.js';
import { DEFAULT_MAX_PIXELS, MAX_PIXELS_ENV } from '../io/images/image.js';

/** Global flag: never download (sets STYLECLIP_OFFLINE=1 for this run). */
const OFFLINE_FLAG = '--offline';
/** Global flag `--max-pixels N`: the largest image any command (and `serve`) reads (sets STYLECLIP_MAX_PIXELS). */
const MAX_PIXELS_FLAG = '--max-pixels';

/** The package's version, from the package.json above this module (src/ and dist/ alike). */
async function packageVersion(): Promise<string> {
  const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

function closest(word: string, candidates: string[]): string | undefined {
  const dist = (a: string, b: string): number => {
    const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
    for (let j = 1; j <= b.length; j++) d[0][j] = j;
    for (let i = 1; i <= a.length; i++)
      for (let j = 1; j <= b.length; j++)
        d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    return d[a.length][b.length];
  };
  let best: string | undefined;
  let bestD = 3;
  for (const c of candidates) {
    const dd = dist(word, c);
    if (dd < bestD) {
      best = c;
      bestD = dd;
    }
  }
  return best;
}

function helpText(commands: readonly Command[] = COMMANDS): string {
  const rows = commands.map((c) => `  ${c.path.join(' ').padEnd(18)} ${c.summary}`);
  return [
    'styleclip — text-guided image editing with StyleGAN2 and CLIP',
    '',
    'Usage: styleclip <command> [flags]',
    '',
    'Commands:',
    ...rows,
    '',
    "Run 'styleclip <command> --help' (or 'styleclip help <command>') for a command's flags.",
    '',
    'Global flags: --version; --offline (never download models; same as STYLECLIP_OFFLINE=1); --max-pixels N',
    `(largest image read, default ${DEFAULT_MAX_PIXELS} = ${DEFAULT_MAX_PIXELS / 1e6} MP; same as ${MAX_PIXELS_ENV}=N).`,
    "Named models (stylegan2-ffhq-config-f, clip-vit-b32, ...; 'styleclip models list') are downloaded on first use.",
  ].join('\n');
}

/** Finds the command whose path is the longest prefix of argv. */
function findCommand(argv: string[], commands: readonly Command[]): { cmd?: Command; rest: string[] } {
  let found: Command | undefined;
  for (const c of commands) {
    if (c.path.every((w, i) => argv[i] === w) && (!found || c.path.length > found.path.length)) found = c;
  }
  return { cmd: found, rest: found ? argv.slice(found.path.length) : argv };
}

export async function main(argv: string[], io?: Partial<CliIO>, commands: readonly Command[] = COMMANDS): Promise<number> {
  const controller = new AbortController();
  const onSignal = (): void => controller.abort(new Error('interrupted'));
  const fullIO: CliIO = {
    stdout: io?.stdout ?? process.stdout,
    stderr: io?.stderr ?? process.stderr,
    signal: io?.signal ?? controller.signal,
  };
  if (!io?.signal) {
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  }
  /** Environment variables set by global flags, with their values before (restored afterwards: main also runs in-process in tests). */
  const before = new Map<string, string | undefined>();
  const setEnv = (name: string, value: string): void => {
    if (!before.has(name)) before.set(name, process.env[name]);
    process.env[name] = value;
  };
  try {
    if (argv.includes(OFFLINE_FLAG)) {
      argv = argv.filter((a) => a !== OFFLINE_FLAG);
      setEnv(ENV.offline, '1');
    }
    const maxPixels = takeValueFlag(argv, MAX_PIXELS_FLAG);
    if (maxPixels) {
      argv = maxPixels.rest;
      if (!(Number(maxPixels.value) > 0)) throw new UsageError(`${MAX_PIXELS_FLAG} must be a positive number of pixels (e.g. 100000000), got '${maxPixels.value}'`);
      setEnv(MAX_PIXELS_ENV, maxPixels.value);
    }
    if (argv.length === 0) {
      fullIO.stderr.write(helpText(commands) + '\n');
      return 2;
    }
    if (argv[0] === '--version' || argv[0] === '-V') {
      fullIO.stdout.write(`${await packageVersion()}\n`);
      return 0;
    }
    if (argv[0] === 'help' && argv.length > 1) argv = [...argv.slice(1), '--help'];
    if (argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
      fullIO.stdout.write(helpText(commands) + '\n');
      return 0;
    }
    const group = commands.filter((c) => c.path.length > 1 && c.path[0] === argv[0]);
    if (group.length && (argv.length === 1 || argv[1] === '--help' || argv[1] === '-h') && !commands.some((c) => c.path.length === 1 && c.path[0] === argv[0])) {
      fullIO.stdout.write(helpText(group) + '\n');
      return argv.length === 1 ? 2 : 0;
    }
    const { cmd, rest } = findCommand(argv, commands);
    if (!cmd) {
      const names = [...new Set(commands.map((c) => c.path.join(' ')))];
      const firstWords = [...new Set(commands.map((c) => c.path[0]))];
      const guess = closest(argv.slice(0, 2).join(' '), names) ?? closest(argv[0], firstWords);
      throw new UsageError(
        `unknown command '${argv[0]}'${guess ? ` — did you mean '${guess}'?` : ''} Run 'styleclip --help' for the list.`,
      );
    }
    const args = parseCommandArgs(cmd, rest);
    if (args.values.help === true) {
      fullIO.stdout.write(`${cmd.summary}\n\nUsage:\n${cmd.usage}\n`);
      return 0;
    }
    return await cmd.run(args, fullIO);
  } catch (e) {
    if (e instanceof UsageError || isUserError(e)) {
      fullIO.stderr.write(`styleclip: ${(e as Error).message}\n`);
      return 2;
    }
    fullIO.stderr.write(`styleclip: internal error: ${(e as Error)?.stack ?? String(e)}\n`);
    return 1;
  } finally {
    for (const [name, value] of before) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** Removes a global `--flag V` / `--flag=V` from argv; a missing value is a usage error. */
function takeValueFlag(argv: string[], flag: string): { value: string; rest: string[] } | undefined {
  const i = argv.findIndex((a) => a === flag || a.startsWith(`${flag}=`));
  if (i < 0) return undefined;
  const inline = argv[i].startsWith(`${flag}=`);
  const value = inline ? argv[i].slice(flag.length + 1) : argv[i + 1];
  if (value === undefined || value === '') throw new UsageError(`${flag} needs a value (a number of pixels)`);
  return { value, rest: [...argv.slice(0, i), ...argv.slice(i + (inline ? 1 : 2))] };
}

function isUserError(e: unknown): boolean {
  return e instanceof InputError;
}
