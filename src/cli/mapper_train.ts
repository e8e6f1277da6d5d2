/**
 * `styleclip mapper train`: a StyleCLIP latent mapper for a text (src/edit/mapper/train.ts), written in the official
 * checkpoint format (`{'state_dict': {mapper.*, decoder.*}, 'opts': {...}}`) every --save-every steps, at the end and
 * on Ctrl-C; `--resume CKPT` continues from a checkpoint's weights and step. Latents: `--latents W.npy` ([N, L, D]
 * w+, e.g. e4e inversions of faces, as the official training) or `--samples N` seeded samples at truncation 0.7.
 */
import { readCheckpoint } from '../io/tensors/checkpoint.js';
import { extname } from 'node:path';
import { Clip } from '../clip/clip.js';
import { ClipTokenizer } from '../clip/tokenizer.js';
import { MAPPER_TRAIN_DEFAULTS, MapperTrainer, initialParams, levelsParamNames, type MapperTrainOptions } from '../edit/mapper/train.js';
import { LEVEL_GROUPS } from '../edit/mapper/network.js';
import type { HostTensor } from '../engine/tensor.js';
import { Cancelled, InputError } from '../errors.js';
import { loadIdentityNet } from '../faces/load_identity.js';
import { Generator, broadcastW, checkLatent, sampleZ, truncate } from '../generator/index.js';
import { readNpy } from '../io/tensors/npy.js';
import { saveTorch } from '../io/tensors/torch_write.js';
import { createRng, normals } from '../random.js';
import { UsageError, flag, modelFlag, num, requireStr, str, type Command } from './command.js';
import { EXIT_INTERRUPTED } from './edit.js';
import { ProgressBar } from './progress.js';

/** Sampled training latents when no --latents file is given. */
const DEFAULT_SAMPLES = 1000;
/** Truncation of sampled training latents (StyleCLIP's sampling truncation). */
const SAMPLE_TRUNCATION = 0.7;

/** The generator's own rosinality tensors as `decoder.*`, so the checkpoint renders without --generator (else none). */
async function decoderTensors(path: string): Promise<[string, HostTensor][]> {
  const { tensors } = await readCheckpoint(path, 'generator checkpoint').catch(() => ({ tensors: new Map<string, HostTensor>() }));
  for (const prefix of ['g_ema.', 'state_dict.decoder.']) {
    const found = [...tensors].filter(([k, t]) => k.startsWith(prefix) && t.dtype === 'float32');
    if (found.length) return found.map(([k, t]) => [`decoder.${k.slice(prefix.length)}`, t]);
  }
  return [];
}

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
      const { nLatent, wDim } = generator;
      let latents: HostTensor;
      if (str(args, 'latents')) {
        latents = checkLatent(await readNpy(str(args, 'latents')!), 'w+', wDim, nLatent, str(args, 'latents')!);
      } else {
        const n = num(args, 'samples', DEFAULT_SAMPLES, { min: 1, integer: true });
        latents = broadcastW(truncate(await generator.map(sampleZ(opts.seed, n, wDim)), await generator.meanLatent(), SAMPLE_TRUNCATION), nLatent);
      }
      const count = latents.shape[0];
      const per = nLatent * wDim;
      const rng = createRng(opts.seed);
      let params = initialParams(levelsParamNames(groups), wDim, (n) => normals(rng, n));
      let from = 0;
      if (str(args, 'resume')) {
        const ck = await readCheckpoint(str(args, 'resume')!, 'mapper checkpoint (--resume)');
        params = new Map([...params.keys()].map((k) => {
          const t = ck.tensors.get(`state_dict.${k}`);
          if (!t || t.dtype !== 'float32') throw new InputError(`--resume ${str(args, 'resume')}: '${k}' is missing; resume needs a checkpoint with the same groups`);
          return [k, t];
        }));
        from = Number(ck.values['opts.styleclip_step'] ?? 0);
      }
      const decoder = await decoderTensors(generatorPath);
      const save = async (p: ReadonlyMap<string, HostTensor>, step: number): Promise<void> => {
        await saveTorch(out, {
          dict: [
            ['state_dict', { dict: [...p, ...decoder], ordered: true }],
            ['opts', { dict: [
              ['mapper_type', 'LevelsMapper'], ['no_coarse_mapper', !groups.includes('coarse')], ['no_medium_mapper', !groups.includes('medium')],
              ['no_fine_mapper', !groups.includes('fine')], ['description', prompt], ['stylegan_size', generator.config.resolution],
              ['learning_rate', opts.lr], ['batch_size', opts.batch], ['clip_lambda', opts.clipWeight], ['latent_l2_lambda', opts.l2Weight],
              ['id_lambda', opts.idWeight], ['max_steps', opts.steps], ['optim_name', 'adam'], ['styleclip_step', step],
            ] }],
          ],
        });
      };
      // Batch b of epoch e: a seeded permutation of the latents, `batch` rows at a time (wrapping at the end).
      const order = Array.from({ length: count }, (_, i) => i);
      const batchAt = (step: number): HostTensor => {
        const data = new Float32Array(opts.batch * per);
        for (let j = 0; j < opts.batch; j++) {
          const k = (step * opts.batch + j) % count;
          if (k === 0) for (let i = count - 1; i > 0; i--) { const r = rng.uint32() % (i + 1); [order[i], order[r]] = [order[r], order[i]]; }
          data.set((latents.data as Float32Array).subarray(order[k] * per, (order[k] + 1) * per), j * per);
        }
        return { dtype: 'float32', shape: [opts.batch, nLatent, wDim], data };
      };
      const bar = new ProgressBar(io.stderr, opts.steps - from, !flag(args, 'quiet') && io.stderr.isTTY === true);
      const history: { step: number; loss: number; clipLoss: number; l2Loss: number; idLoss: number }[] = [];
      let last = from;
      try {
        await trainer.train(params, batchAt, opts, from, {
          signal: io.signal,
          onStep: (s) => {
            history.push(s);
            last = s.step;
            bar.update(s.step - from, `loss ${s.loss.toFixed(4)} (clip ${s.clipLoss.toFixed(4)})`);
          },
          onCheckpoint: save,
        });
      } catch (e) {
        bar.finish();
        if (!(e instanceof Cancelled)) throw e;
        if (last > from) await save(params, last);
        io.stderr.write(`styleclip: interrupted at step ${last}; ${last > from ? `saved ${out}; continue with --resume ${out}` : 'nothing was written'}\n`);
        return EXIT_INTERRUPTED;
      }
      bar.finish();
      if (!decoder.length) io.stderr.write(`styleclip: ${generatorPath} is not a rosinality checkpoint, so ${out} has no decoder: pass --generator when using it\n`);
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
