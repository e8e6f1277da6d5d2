/**
 * `styleclip nada train`: StyleGAN-NADA (src/edit/nada) — fine-tune a copy of a generator so that its whole domain
 * moves from --source to --target ("photo" -> "sketch"); writes the official checkpoint layout ({g_ema, g_optim}),
 * which every --generator flag loads, every --save-every steps, at the end and on Ctrl-C (then --resume continues).
 */
import { extname } from 'node:path';
import { Clip } from '../clip/clip.js';
import { ClipTokenizer } from '../clip/tokenizer.js';
import { runNadaTraining } from '../edit/nada/run.js';
import { MAX_NADA_SEED, MAX_NADA_STEPS, NADA_DEFAULTS } from '../edit/nada/trainer.js';
import { readNpy } from '../io/tensors/npy.js';
import { UsageError, distinctOutputs, flag, modelFlag, num, requireStr, str, type Command, type ParsedArgs } from './command.js';
import { domainSamples } from '../edit/nada/domain.js';
import type { HostTensor } from '../engine/tensor.js';
import { Generator } from '../generator/index.js';
import { aboveBelow, sideBySide, type Frame } from '../io/images/frames.js';
import { tensorToRgb, writeImage } from '../io/images/image.js';
import { EXIT_INTERRUPTED } from './edit.js';
import { ProgressBar, statusLine } from './progress.js';

const NOISE = ['random', 'const'] as const;
/** Samples per row of --grid (train.py's sample grid shows n_sample = 64 on a GPU; a few suffice here). */
const GRID_SAMPLES = 4;
const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg', '.webp'];

/** The base-vs-adapted grid (src/edit/nada/domain.ts `domainSamples`): base row above the adapted row. */
async function writeGrid(generatorPath: string, adaptedPath: string, path: string, count: number, seed: number): Promise<string> {
  const [base, adapted] = await Promise.all([Generator.load(generatorPath), Generator.load(adaptedPath)]);
  try {
    const { before, after } = await domainSamples(base, adapted, count, seed);
    const row = (t: HostTensor): Frame => sideBySide(Array.from({ length: count }, (_, i) => tensorToRgb(t, i, '[-1,1]')));
    const g = aboveBelow([row(before), row(after)]);
    await writeImage(path, g.data, g.width, g.height);
    return path;
  } finally {
    await Promise.all([base.dispose(), adapted.dispose()]);
  }
}

export const nadaTrainCommand: Command = {
  path: ['nada', 'train'],
  summary: 'StyleGAN-NADA: fine-tune a generator so its whole domain becomes a text ("photo" -> "sketch")',
  usage: [
    '  styleclip nada train --source "photo" --target "sketch" --out G_sketch.pt [--generator G] [--clip C[,C2]]',
    `                       [--clip-weights 1[,1]] [--vocab V] [--steps ${NADA_DEFAULTS.steps}] [--batch ${NADA_DEFAULTS.batch}] [--layers default|auto:K]`,
    `                       [--lr ${NADA_DEFAULTS.lr}] [--save-every ${NADA_DEFAULTS.saveEvery}] [--resume CKPT] [--seed 0] [--noise random|const]`,
    '                       [--start G0] [--z Z.npy] [--grid GRID.png [--grid-samples 4]] [--json] [--quiet]',
    '',
    '  --source, --target  the domain now and the one to reach (the directional CLIP loss over 79 ImageNet templates)',
    '  --generator G       the frozen generator (rosinality .pt or a registry name; default stylegan2-ffhq-config-f)',
    '  --clip C[,C2]       CLIP models of the loss (default ViT-B/32); --clip-weights their weights (default 1 each)',
    '  --layers L          default: input, conv1 and every conv train (mapping and ToRGB frozen); auto:K: each step a',
    '                      probe of 8 samples picks the K W+ rows that move most (official adaptive selection)',
    '  --steps N           total steps (a resumed run goes on to N); official README example: 301 at batch 2',
    '  --lr R              base learning rate; Adam runs at R x 0.8 with betas (0, 0.99^0.8) as the official train.py',
    '  --resume CKPT       continue a run (generator, optimiser, step, settings) written by this command',
    '  --noise MODE        random (official: fresh noise maps each call) or const (the checkpoint\'s stored maps)',
    '  --start G0          the trainable copy\'s initial weights (default: the generator itself)',
    '  --z Z.npy           training z [steps, batch, dim] instead of the seeded ones (for parity checks)',
    '  --out G.pt          the adapted generator: use it as --generator (generate) or --domain (edit)',
    '  --grid GRID.png     after training: seeded samples (seeds --seed ..) by the base generator (top row) and the',
    `                      adapted one (bottom row); --grid-samples N of them (default ${GRID_SAMPLES})`,
  ].join('\n'),
  options: {
    source: { type: 'string' }, target: { type: 'string' }, out: { type: 'string' }, generator: { type: 'string' },
    clip: { type: 'string' }, 'clip-weights': { type: 'string' }, vocab: { type: 'string' }, steps: { type: 'string' },
    batch: { type: 'string' }, layers: { type: 'string' }, lr: { type: 'string' }, 'save-every': { type: 'string' },
    resume: { type: 'string' }, seed: { type: 'string' }, noise: { type: 'string' }, start: { type: 'string' }, z: { type: 'string' },
    grid: { type: 'string' }, 'grid-samples': { type: 'string' }, json: { type: 'boolean' }, quiet: { type: 'boolean' },
  },
  async run(args, io) {
    const out = requireStr(args, 'out');
    if (!['.pt', '.pth'].includes(extname(out))) throw new UsageError(`--out ${out}: use a .pt file (the rosinality checkpoint layout)`);
    const grid = str(args, 'grid');
    const gridSamples = num(args, 'grid-samples', GRID_SAMPLES, { min: 1, max: 16, integer: true });
    if (grid) {
      distinctOutputs({ out, grid });
      if (!IMAGE_EXTENSIONS.includes(extname(grid).toLowerCase())) throw new UsageError(`--grid ${grid}: use a .png, .jpg or .webp file`);
    }
    const resume = str(args, 'resume');
    if (!resume) {
      requireStr(args, 'source');
      requireStr(args, 'target');
    }
    const noise = (str(args, 'noise') ?? 'random') as (typeof NOISE)[number];
    if (!NOISE.includes(noise)) throw new UsageError(`--noise must be one of ${NOISE.join(', ')}, got '${noise}'`);
    const clipNames = (str(args, 'clip') ?? '').split(',').map((s) => s.trim());
    const weights = str(args, 'clip-weights')?.split(',').map((w) => Number(w.trim())) ?? clipNames.map(() => 1);
    if (weights.length !== clipNames.length || weights.some((w) => !Number.isFinite(w) || w < 0)) {
      throw new UsageError(`--clip-weights must give one non-negative number per --clip model (${clipNames.length}), got '${str(args, 'clip-weights')}'`);
    }
    const steps = num(args, 'steps', NADA_DEFAULTS.steps, { min: 1, max: MAX_NADA_STEPS, integer: true });
    const optionalNum = (name: string, max: number): number | undefined => (str(args, name) === undefined ? undefined : num(args, name, 0, { min: name === 'seed' ? 0 : 1, max, integer: true }));
    const zPath = str(args, 'z');
    const seed = optionalNum('seed', MAX_NADA_SEED);
    statusLine(io.stderr, flag(args, 'quiet'), 'loading the generator and CLIP; the first step also builds the training graph (tens of seconds at full size)...');
    const one = (name: string): ParsedArgs => ({ ...args, values: { ...args.values, clip: name || undefined } });
    const [generator, tokenizer, ...clipPaths] = await Promise.all([
      modelFlag(args, 'generator', 'generator', io.stderr),
      modelFlag(args, 'vocab', 'vocab', io.stderr).then((p) => ClipTokenizer.load(p)),
      ...clipNames.map((n) => modelFlag(one(n), 'clip', 'clip', io.stderr)),
    ]);
    const clips = await Promise.all(clipPaths.map(async (p, i) => ({ name: clipNames[i] || p, clip: await Clip.load(p), weight: weights[i] })));
    try {
      const bar = new ProgressBar(io.stderr, steps, !flag(args, 'quiet') && io.stderr.isTTY === true);
      const res = await runNadaTraining(
        {
          generator, start: str(args, 'start'), resume, clips, tokenizer, out, steps, noise,
          source: str(args, 'source'), target: str(args, 'target'), layers: str(args, 'layers'),
          batch: optionalNum('batch', 64), seed,
          lr: num(args, 'lr', NADA_DEFAULTS.lr, { min: 0, max: 1, exclusiveMin: true }),
          saveEvery: num(args, 'save-every', NADA_DEFAULTS.saveEvery, { min: 1, integer: true }),
          z: zPath ? await readNpy(zPath) : undefined,
        },
        { signal: io.signal, onStep: (s) => bar.update(s.step, `loss ${s.loss.toFixed(4)}`) },
      );
      bar.finish();
      const { from, last, history } = res;
      if (res.status === 'interrupted') {
        io.stderr.write(`styleclip: interrupted at step ${last}; ${last > from ? `saved ${out}; continue with --resume ${out}` : 'nothing was written'}\n`);
        return EXIT_INTERRUPTED;
      }
      const written = [out, ...(grid ? [await writeGrid(generator, out, grid, gridSamples, seed ?? 0)] : [])];
      const losses = history.map((h) => h.loss);
      if (flag(args, 'json')) io.stdout.write(JSON.stringify({ written, steps, resumed_from: from, layers: res.layers, losses, clip_models: clips.map((c) => c.name) }) + '\n');
      else if (!flag(args, 'quiet')) io.stdout.write(`trained ${steps - from} steps (${res.layers} layers): loss ${losses[0]?.toFixed(4)} -> ${losses[losses.length - 1]?.toFixed(4)}; wrote ${written.join(', ')}\n`);
      return 0;
    } finally {
      await Promise.all(clips.map((c) => c.clip.dispose()));
    }
  },
};
