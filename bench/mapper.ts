/**
 * Latent mapper edits at full size: a LevelsMapper with all three groups at w width 512 (random weights, the official
 * init) on the FFHQ config-f generator (random weights). Figures per size: ms per edit (mapper pass + synthesis), the
 * synthesis alone and the mapper alone (target: synthesis + <= 5 ms), one training step (batch 2, CLIP ViT-B/32 with
 * random weights, no identity term; the median of 3 after a warm-up step), peak RSS.
 * Flags: --sizes 256,1024 (default), --reps N (default 5).
 */
import { parseArgs } from 'node:util';
import { LEVEL_GROUPS, LatentMapperEdit, MAPPER_DEPTH, type LatentMapper, type MapperNet } from '../src/edit/mapper/index.js';
import * as E from '../src/engine/index.js';
import { Generator, randomWeights, resolveGeneratorConfig } from '../src/generator/index.js';
import { machine, peakRssMiB, randomNormal, timeMs } from './util.js';
import { VIT_B_32 } from '../src/clip/config.js';
import { Clip } from '../src/clip/clip.js';
import { ClipTokenizer } from '../src/clip/tokenizer.js';
import { MAPPER_TRAIN_DEFAULTS, MapperTrainer, initialParams, levelsParamNames } from '../src/edit/mapper/train.js';
import { randomClipWeights } from './clip.js';

const WEIGHT_SEED = 2024;
const W_DIM = 512;

/** The official init as effective weights: stored W ~ N(0,1)/lr_mul -> W * lr_mul / sqrt(D); bias 0. */
function randomNet(seed: number): MapperNet {
  return Array.from({ length: MAPPER_DEPTH }, (_, i) => ({
    weight: E.tensor('float32', [W_DIM, W_DIM], randomNormal(W_DIM * W_DIM, seed + i, 1 / Math.sqrt(W_DIM))),
    bias: E.tensor('float32', [W_DIM], new Float32Array(W_DIM)),
  }));
}

export async function run(argv: string[]): Promise<Record<string, unknown>> {
  const { values } = parseArgs({ args: argv, options: { sizes: { type: 'string' }, reps: { type: 'string' } } });
  const sizes = (values.sizes ?? '256,1024').split(',').map(Number);
  const reps = Number(values.reps ?? 5);
  const clip = new Clip(randomClipWeights(VIT_B_32), VIT_B_32);
  const tokenizer = await ClipTokenizer.load('../shared/data/clip/bpe_simple_vocab_16e6.txt.gz');
  const mapper: LatentMapper = { kind: 'levels', wDim: W_DIM, groups: LEVEL_GROUPS.map((g, i) => ({ ...g, net: randomNet(10 * i + 1) })), layers: new Map() };
  const out: Record<string, unknown> = { machine: machine(), threads: E.defaultThreads(), mapper: 'LevelsMapper 512-d, coarse+medium+fine (random weights)' };
  for (const size of sizes) {
    const config = resolveGeneratorConfig({ resolution: size, wDim: W_DIM, mappingLayers: 8, channelMultiplier: 2 });
    const generator = Generator.fromWeights(randomWeights(config, WEIGHT_SEED), config);
    const m = new LatentMapperEdit(mapper, generator, 'bench');
    const w = E.tensor('float32', [1, generator.nLatent, W_DIM], randomNormal(generator.nLatent * W_DIM, 7, 0.5));
    const edit = await timeMs(async () => generator.synthesize(await m.apply(w)), reps);
    const synth = await timeMs(() => generator.synthesize(w), reps);
    const mapperOnly = await timeMs(() => m.apply(w), reps);
    const trainer = new MapperTrainer(generator, clip, tokenizer);
    const params = initialParams(levelsParamNames(['coarse', 'medium', 'fine']), W_DIM, (n) => randomNormal(n, 3));
    const batch = E.tensor('float32', [2, generator.nLatent, W_DIM], randomNormal(2 * generator.nLatent * W_DIM, 8, 0.5));
    const times: number[] = [];
    let t = performance.now();
    await trainer.train(params, () => batch, { ...MAPPER_TRAIN_DEFAULTS, prompt: 'purple hair', seed: 0, steps: 4 }, 0, {
      onStep: () => {
        times.push(performance.now() - t);
        t = performance.now();
      },
    });
    const train = times.slice(1).sort((a, b) => a - b)[1];
    await trainer.dispose();
    out[`size_${size}`] = { edit_ms: edit.median, synthesis_ms: synth.median, mapper_ms: mapperOnly.median, overhead_ms: edit.median - synth.median, train_step_s_batch_2: train / 1000 };
    await m.dispose();
    await generator.dispose();
  }
  await clip.dispose();
  out.peak_rss_mib = peakRssMiB();
  return out;
}
