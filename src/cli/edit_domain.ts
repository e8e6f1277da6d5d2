/**
 * `styleclip edit --domain G` without a --prompt: the start (a photo, a seed, a latent) rendered in a StyleGAN-NADA
 * domain (src/edit/nada/domain.ts): the photo inverted with --generator, rendered with the adapted G, pasted back.
 */
import { renderInDomain } from '../edit/nada/domain.js';
import type { EditStart } from '../edit/types.js';
import { Generator } from '../generator/index.js';
import { flag, modelFlag, type CliIO, type ParsedArgs } from './command.js';
import { writeOnePassOutputs } from './edit_outputs.js';
import type { Chosen } from './edit_defaults.js';
import { domainOf, facesJson, photoSourceOf, projectSteps, sayFaces } from './photo_flags.js';
import { projectionBar, showsProgress, statusLine } from './progress.js';

export async function runDomainEdit(args: ParsedArgs, io: CliIO, start: EditStart, paths: Record<string, string | undefined>, chosen?: Chosen): Promise<number> {
  const quiet = flag(args, 'quiet');
  statusLine(io.stderr, quiet, 'loading the generator and the domain...');
  const base = await Generator.load(await modelFlag(args, 'generator', 'generator', io.stderr));
  const domain = (await domainOf(args, io))!;
  const photos = start.kind === 'image' ? await photoSourceOf(args, io) : undefined;
  try {
    const bar = projectionBar(io.stderr, projectSteps(start, args), showsProgress(io.stderr, quiet));
    const res = await renderInDomain(start, base, domain, { photos, signal: io.signal, hooks: { onProjectProgress: bar.onProjectProgress } }).finally(bar.done);
    const written = await writeOnePassOutputs(res, paths);
    if (flag(args, 'json')) io.stdout.write(JSON.stringify({ written, ...(chosen ? { defaults: chosen } : {}), ...facesJson(res.photo), domain: true }) + '\n');
    else if (!flag(args, 'quiet')) io.stdout.write(`rendered in the domain of the adapted generator; wrote ${written.join(', ')}\n`);
    sayFaces(io, args, res.photo);
    return 0;
  } finally {
    await Promise.all([base.dispose(), domain.dispose(), photos?.dispose()]);
  }
}
