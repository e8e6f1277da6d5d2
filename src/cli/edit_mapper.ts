/**
 * `styleclip edit --method mapper`: a StyleCLIP latent mapper (src/edit/mapper) applied as w + strength * M(w) and
 * rendered, with the mapper checkpoint's own decoder unless --generator is given. No prompt, CLIP or vocab: the
 * mapper was trained for one text.
 */
import { LatentMapperEdit, MAPPER_STRENGTH } from '../edit/mapper/index.js';
import type { EditStart } from '../edit/types.js';
import { UsageError, flag, modelFlag, num, str, type CliIO, type ParsedArgs } from './command.js';
import { writeOnePassOutputs } from './edit_outputs.js';
import { photoSourceOf } from './photo_flags.js';

/** Flags of the other methods that a mapper edit does not take. */
const NOT_FOR_MAPPER = ['prompt', 'clip', 'vocab', 'steps', 'lr', 'l2', 'id', 'space', 'layers', 'clip-preprocess', 'gif', 'trajectory', 'identity-model', 'fs3', 'stats', 'neutral', 'alpha', 'beta'];
/** Largest |strength|: 100x the published 0.1 is far past any useful edit. */
const MAX_STRENGTH = 10;

export async function runMapperEdit(args: ParsedArgs, io: CliIO, start: EditStart, paths: Record<string, string | undefined>): Promise<number> {
  const misplaced = NOT_FOR_MAPPER.find((f) => args.values[f] !== undefined);
  if (misplaced) throw new UsageError(`--${misplaced} does not apply to --method mapper (the mapper was trained for its own text); use --strength`);
  const strength = num(args, 'strength', MAPPER_STRENGTH, { min: -MAX_STRENGTH, max: MAX_STRENGTH });
  const mapperPath = await modelFlag(args, 'mapper', 'mapper', io.stderr);
  const m = await LatentMapperEdit.load(mapperPath, str(args, 'generator') === undefined ? undefined : await modelFlag(args, 'generator', 'generator', io.stderr));
  const photos = start.kind === 'image' ? await photoSourceOf(args) : undefined;
  try {
    const res = await m.edit(start, strength, { photos, signal: io.signal });
    const written = await writeOnePassOutputs(res, paths);
    if (flag(args, 'json')) io.stdout.write(JSON.stringify({ written, mapper: m.mapper.kind, strength }) + '\n');
    else if (!flag(args, 'quiet')) io.stdout.write(`edited with the ${m.mapper.kind} mapper at strength ${strength}; wrote ${written.join(', ')}\n`);
    return 0;
  } finally {
    await Promise.all([m.dispose(), photos?.dispose()]);
  }
}
