/**
 * `styleclip mapper train`: a StyleCLIP latent mapper for a text (src/edit/mapper/train.ts), written in the official
 * checkpoint format (`{'state_dict': {mapper.*, decoder.*}, 'opts': {...}}`) every --save-every steps, at the end and
 * on Ctrl-C; `--resume CKPT` continues from a checkpoint's weights and step. Latents: `--latents W.npy` ([N, L, D]
 * w+, e.g. e4e inversions of faces, as the official training) or `--samples N` seeded samples at truncation 0.7.
 * The run itself (latents, batches, resume, checkpoints) is src/edit/mapper/run.ts; this file parses flags and prints.
 */
import { extname } from 'node:path';
import { Clip } from '../clip/clip.js';
import { ClipTokenizer } from '../clip/tokenizer.js';
import { runMapperTraining, trainingLatents } from '../edit/mapper/run.js';
import { MAPPER_TRAIN_DEFAULTS, MapperTrainer, type MapperTrainOptions } from '../edit/mapper/train.js';
import { LEVEL_GROUPS } from '../edit/mapper/network.js';
import { loadIdentityNet } from '../faces/load_identity.js';
import { Generator } from '../generator/index.js';
import { readNpy } from '../io/tensors/npy.js';
import { UsageError, flag, modelFlag, num, requireStr, str, type Command } from './command.js';
import { EXIT_INTERRUPTED } from './edit.js';
import { ProgressBar } from './progress.js';

/** Sampled training latents when no --latents file is given. */
const DEFAULT_SAMPLES = 1000;

export const mapperTrainCommand: Command = {
  path: ['mapper', 'train'],
  summary: 'train a StyleCLIP latent mapper for a text (official losses; checkpoints in the official format)',
  usage: [
    '  styleclip mapper train --prompt "purple hair" --out MAPPER.pt [--generator G] [--clip C] [--vocab V]',
    `                         [--latents W.npy | --samples ${DEFAULT_SAMPLES}] [--identity-model M] [--steps ${MAPPER_TRAIN_DEFAULTS.steps}]`,
    `                         [--lr ${MAPPER_TRAIN_DEFAULTS.lr}] [--batch ${MAPPER_TRAIN_DEFAULTS.batch}] [--save-every ${MAPPER_TRAIN_DEFAULTS.saveEvery}] [--resume CKPT] [--no-coarse|--no-medium|--no-fine] [--seed 0]`,
    '',
    '  Loss (mapper/training/coach.py): CLIP loss + 0.8 x MSE(w_hat, w) + 0.1 x identity loss (with --identity-model).',
    '  Adam at lr 0.5 stands in for the official Ranger (recorded in the checkpoint opts). About 10 h on one GPU at',
    '  50k steps; on a CPU a full-size step takes seconds (STYLECLIP_DEVICE=cuda runs it on a GPU, see README).',
  ].join('\n'),
  options: {
    prompt: { type: 'string' }, out: { type: 'string' }, generator: { type: 'string' }, clip: { type: 'string' }, vocab: { type: 'string' },
    latents: { type: 'string' }, samples: { type: 'string' }, 'identity-model': { type: 'string' }, models: { type: 'string' },
    steps: { type: 'string' }, lr: { type: 'string' }, batch: { type: 'string' }, 'save-every': { type: 'string' }, resume: { type: 'string' },
    'no-coarse': { type: 'boolean' }, 'no-medium': { type: 'boolean' }, 'no-fine': { type: 'boolean' }, seed: { type: 'string' },
    quiet: { type: 'boolean' }, json: { type: 'boolean' },
  },
  async run(args, io) {
    const prompt = requireStr(args, 'prompt');
    const out = requireStr(args, 'out');
    if (!['.pt', '.pth'].includes(extname(out))) throw new UsageError(`--out ${out}: use a .pt file`);
    if (str(args, 'latents') !== undefined && str(args, 'samples') !== undefined) throw new UsageError('give --latents or --samples, not both');
    const opts: MapperTrainOptions = {
      prompt,
      steps: num(args, 'steps', MAPPER_TRAIN_DEFAULTS.steps, { min: 1, max: 10_000_000, integer: true }),
      lr: num(args, 'lr', MAPPER_TRAIN_DEFAULTS.lr, { min: 0, max: 100 }),
      batch: num(args, 'batch', MAPPER_TRAIN_DEFAULTS.batch, { min: 1, max: 64, integer: true }),
      clipWeight: MAPPER_TRAIN_DEFAULTS.clipWeight,
      l2Weight: MAPPER_TRAIN_DEFAULTS.l2Weight,
      idWeight: str(args, 'identity-model') ? MAPPER_TRAIN_DEFAULTS.idWeight : 0,
      saveEvery: num(args, 'save-every', MAPPER_TRAIN_DEFAULTS.saveEvery, { min: 1, integer: true }),
      seed: num(args, 'seed', 0, { min: 0, integer: true }),
    };
    const groups = LEVEL_GROUPS.map((g) => g.name).filter((g) => !flag(args, `no-${g}`));
    if (groups.length === 0) throw new UsageError('every mapper group is disabled; drop one of --no-coarse, --no-medium, --no-fine');
    const generatorPath = await modelFlag(args, 'generator', 'generator', io.stderr);
    const [generator, clip, tokenizer] = await Promise.all([
      Generator.load(generatorPath),
      Clip.load(await modelFlag(args, 'clip', 'clip', io.stderr)),
      ClipTokenizer.load(await modelFlag(args, 'vocab', 'vocab', io.stderr)),
    ]);
    const idArg = str(args, 'identity-model');
    const identity = idArg ? await loadIdentityNet(idArg, str(args, 'models')) : undefined;
    const trainer = new MapperTrainer(generator, clip, tokenizer, identity);
    try {
      const given = str(args, 'latents');
      const latents = await trainingLatents(generator, {
        given: given ? await readNpy(given) : undefined,
        where: given,
        samples: num(args, 'samples', DEFAULT_SAMPLES, { min: 1, integer: true }),
        seed: opts.seed,
      });
      const bar = new ProgressBar(io.stderr, opts.steps, !flag(args, 'quiet') && io.stderr.isTTY === true);
      const res = await runMapperTraining(
        { trainer, generator, generatorPath, latents, groups, opts, out, resume: str(args, 'resume') },
        { signal: io.signal, onStep: (s) => bar.update(s.step, `loss ${s.loss.toFixed(4)} (clip ${s.clipLoss.toFixed(4)})`) },
      );
      bar.finish();
      const { from, last, history } = res;
      if (res.status === 'interrupted') {
        io.stderr.write(`styleclip: interrupted at step ${last}; ${last > from ? `saved ${out}; continue with --resume ${out}` : 'nothing was written'}\n`);
        return EXIT_INTERRUPTED;
      }
      if (!res.hasDecoder) io.stderr.write(`styleclip: ${generatorPath} is not a rosinality checkpoint, so ${out} has no decoder: pass --generator when using it\n`);
      if (flag(args, 'json')) io.stdout.write(JSON.stringify({ written: out, steps: opts.steps, resumed_from: from, history }) + '\n');
      else if (!flag(args, 'quiet')) io.stdout.write(`trained ${opts.steps - from} steps: clip loss ${history[0]?.clipLoss.toFixed(4)} -> ${history[history.length - 1]?.clipLoss.toFixed(4)}; wrote ${out}\n`);
      return 0;
    } finally {
      await trainer.dispose();
      identity?.dispose();
      await Promise.all([generator.dispose(), clip.dispose()]);
    }
  },
};
