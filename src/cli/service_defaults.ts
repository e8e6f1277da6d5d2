/**
 * `serve` and `worker` with no model flags serve the fast path (issue 21): the generator's registered global
 * directions (for the CLIP in use) and its registered photo encoder (src/io/models/companions.ts; FFHQ: fs3, S
 * statistics, e4e), pulled on first use like every default model, so the form opens with the fast mode and photo
 * uploads on. Flags given win; --fs3/--stats given (or not) together.
 */
import { registeredDirections, registeredEncoder } from '../edit/defaults.js';
import { loadManifest } from '../io/models/registry.js';
import { str, type ParsedArgs } from './command.js';

/** `args` with --fs3/--stats and --encoder filled from the generator's companions; `said` names what was filled. */
export async function withRegisteredModels(args: ParsedArgs): Promise<{ args: ParsedArgs; said?: string }> {
  const manifest = await loadManifest();
  const values = { ...args.values };
  const words: string[] = [];
  const dirs = str(args, 'fs3') === undefined && str(args, 'stats') === undefined ? registeredDirections(manifest, str(args, 'generator'), str(args, 'clip')) : undefined;
  if (dirs) {
    Object.assign(values, { fs3: dirs.fs3, stats: dirs.stats });
    words.push(`global directions ${dirs.fs3} + ${dirs.stats}`);
  }
  const encoder = str(args, 'encoder') === undefined ? registeredEncoder(manifest, str(args, 'generator')) : undefined;
  if (encoder) {
    values.encoder = encoder;
    words.push(`photo inversion by ${encoder}`);
  }
  const said = words.length ? `fast path: ${words.join(' and ')} (registered with the generator; --fs3/--stats/--encoder choose others)` : undefined;
  return { args: { values, positionals: args.positionals }, said };
}
