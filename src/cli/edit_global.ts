/**
 * `styleclip edit --method global`: StyleCLIP global directions (src/edit/global). Each `--prompt` (with its
 * `--alpha`, `--beta`, `--neutral`; one value applies to every prompt) becomes a StyleSpace direction; the directions
 * stack into one edit, rendered by a single generator pass. Outputs are written only when everything succeeded.
 */
import { GLOBAL_DEFAULTS, GlobalDirections, readDirectionEdit, type DirectionEdit } from '../edit/global/index.js';
import { describeInterpretation, interpretationJson, type Interpretation } from '../edit/instruction.js';
import type { EditStart } from '../edit/types.js';
import { UsageError, flag, modelFlag, strs, type CliIO, type ParsedArgs } from './command.js';
import { writeOnePassOutputs } from './edit_outputs.js';
import type { Chosen } from './edit_defaults.js';
import { domainOf, facesJson, photoSourceOf, projectSteps, sayFaces } from './photo_flags.js';
import { projectionBar, showsProgress, statusLine } from './progress.js';

/** Values of a per-prompt flag: none (default), one (every prompt) or one per prompt. */
function perPrompt(args: ParsedArgs, name: string, prompts: number): string[] | undefined {
  const v = strs(args, name);
  if (v.length === 0) return undefined;
  if (v.length === 1) return Array(prompts).fill(v[0]);
  if (v.length !== prompts) throw new UsageError(`give --${name} once (for every prompt) or once per --prompt (${prompts}), got ${v.length}`);
  return v;
}

function numberOf(name: string, s: string): number {
  const v = Number(s);
  if (s.trim() === '' || !Number.isFinite(v)) throw new UsageError(`--${name} must be a number, got '${s}'`);
  return v;
}

/** The stacked edits of the command line, each prompt read as an instruction (src/edit/instruction.ts). */
function directionEdits(args: ParsedArgs): { edit: Required<DirectionEdit>; interpreted: Interpretation; text: string }[] {
  const prompts = strs(args, 'prompt');
  if (prompts.length === 0 || prompts.some((p) => p.trim() === '')) throw new UsageError('--prompt is required (and not empty): the edit, e.g. "face with red hair"');
  const alphas = perPrompt(args, 'alpha', prompts.length);
  const betas = perPrompt(args, 'beta', prompts.length);
  const neutrals = perPrompt(args, 'neutral', prompts.length);
  return prompts.map((prompt, i) => ({
    ...readDirectionEdit({
      prompt,
      neutral: neutrals?.[i],
      alpha: alphas ? numberOf('alpha', alphas[i]) : GLOBAL_DEFAULTS.alpha,
      beta: betas ? numberOf('beta', betas[i]) : GLOBAL_DEFAULTS.beta,
    }),
    text: prompt,
  }));
}

export async function runGlobalEdit(args: ParsedArgs, io: CliIO, start: EditStart, paths: Record<string, string | undefined>, chosen?: Chosen): Promise<number> {
  const read = directionEdits(args);
  const edits = read.map((r) => r.edit);
  const quiet = flag(args, 'quiet');
  statusLine(io.stderr, quiet, 'loading the generator, CLIP and the global directions...');
  const dirs = await GlobalDirections.load({
    generator: await modelFlag(args, 'generator', 'generator', io.stderr),
    clip: await modelFlag(args, 'clip', 'clip', io.stderr),
    vocab: await modelFlag(args, 'vocab', 'vocab', io.stderr),
    fs3: await modelFlag(args, 'fs3', 'directions', io.stderr),
    stats: await modelFlag(args, 'stats', 'directions', io.stderr),
  });
  const photos = start.kind === 'image' ? await photoSourceOf(args, io) : undefined;
  const domain = await domainOf(args, io);
  try {
    const bar = projectionBar(io.stderr, projectSteps(start, args), showsProgress(io.stderr, quiet));
    const res = await dirs.edit(start, edits, { photos, signal: io.signal, domain, before: paths.compare !== undefined, hooks: { onProjectProgress: bar.onProjectProgress } }).finally(bar.done);
    const written = await writeOnePassOutputs({ ...res, latent: res.codes }, paths);
    const report = edits.map((e, i) => ({ ...e, channels: res.kept[i], max_relevance: res.maxRelevance[i], interpreted: interpretationJson(read[i].interpreted) }));
    if (flag(args, 'json')) io.stdout.write(JSON.stringify({ written, ...(chosen ? { defaults: chosen } : {}), ...facesJson(res.photo), edits: report }) + '\n');
    else if (!flag(args, 'quiet')) {
      for (const r of read) io.stdout.write(`${describeInterpretation(r.text, r.interpreted)}\n`);
      const what = report.map((r) => `'${r.prompt}' alpha ${r.alpha} beta ${r.beta} (${r.channels} channels)`).join(' + ');
      io.stdout.write(`edited with ${what}; wrote ${written.join(', ')}\n`);
    }
    sayFaces(io, args, res.photo);
    return 0;
  } finally {
    await Promise.all([dirs.dispose(), photos?.dispose(), domain?.dispose()]);
  }
}
