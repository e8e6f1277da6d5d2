/**
 * `styleclip edit --method mapper`: a StyleCLIP latent mapper (src/edit/mapper) applied as w + strength * M(w) and
 * rendered, with the mapper checkpoint's own decoder unless --generator is given. No prompt, CLIP or vocab: the
 * mapper was trained for one text.
 */
import { LatentMapperEdit, MAPPER_STRENGTH } from '../edit/mapper/index.js';
import { MAPPER_OPTION_SPECS } from '../edit/mapper/network.js';
import { flagValue } from './option_flags.js';
import type { EditStart } from '../edit/types.js';
import { flag, modelFlag, str, type CliIO, type ParsedArgs } from './command.js';
import { writeOnePassOutputs } from './edit_outputs.js';
import type { Chosen } from './edit_defaults.js';
import { domainOf, facesJson, photoSourceOf, projectSteps, sayFaces } from './photo_flags.js';
import { projectionBar, showsProgress, statusLine } from './progress.js';


export async function runMapperEdit(args: ParsedArgs, io: CliIO, start: EditStart, paths: Record<string, string | undefined>, chosen?: Chosen): Promise<number> {
  const strength = (flagValue(args, MAPPER_OPTION_SPECS.strength) as number | undefined) ?? MAPPER_STRENGTH;
  const mapperPath = await modelFlag(args, 'mapper', 'mapper', io.stderr);
  const quiet = flag(args, 'quiet');
  statusLine(io.stderr, quiet, 'loading the mapper and its generator...');
  const m = await LatentMapperEdit.load(mapperPath, str(args, 'generator') === undefined ? undefined : await modelFlag(args, 'generator', 'generator', io.stderr));
  const photos = start.kind === 'image' ? await photoSourceOf(args, io) : undefined;
  const domain = await domainOf(args, io);
  try {
    const bar = projectionBar(io.stderr, projectSteps(start, args), showsProgress(io.stderr, quiet));
    const res = await m.edit(start, strength, { photos, signal: io.signal, domain, before: paths.compare !== undefined, hooks: { onProjectProgress: bar.onProjectProgress } }).finally(bar.done);
    const written = await writeOnePassOutputs(res, paths);
    if (flag(args, 'json')) io.stdout.write(JSON.stringify({ written, ...(chosen ? { defaults: chosen } : {}), ...facesJson(res.photo), mapper: m.mapper.kind, strength }) + '\n');
    else if (!flag(args, 'quiet')) io.stdout.write(`edited with the ${m.mapper.kind} mapper at strength ${strength}; wrote ${written.join(', ')}\n`);
    sayFaces(io, args, res.photo);
    return 0;
  } finally {
    await Promise.all([m.dispose(), photos?.dispose(), domain?.dispose()]);
  }
}
