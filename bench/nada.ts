/**
 * StyleGAN-NADA training at full size (random weights; FFHQ config-f at 256 and 1024 px, CLIP ViT-B/32 [+ ViT-B/16]
 * with random weights): seconds per training step at the official README settings (batch 2, the default layers:
 * input, conv1 and every conv; with `--layers auto:K`, K < rows, the probe of 8 samples runs each step too), the
 * estimate for the README's 301 steps, peak RSS. The step is one engine call: frozen mapping, both generators, CLIP
 * on both images, d loss / d every trainable tensor (conv weights included). The median of the steps after a warm-up.
 * Flags: --sizes 256,1024 (default), --steps N timed steps (default 3), --clips vit-b32[,vit-b16], --layers default|auto:K.
 */
import { parseArgs } from 'node:util';
import { Clip } from '../src/clip/clip.js';
import { ClipTokenizer } from '../src/clip/tokenizer.js';
import { parseLayerChoice } from '../src/edit/nada/layers.js';
import { NadaTrainer } from '../src/edit/nada/trainer.js';
import * as E from '../src/engine/index.js';
import { randomWeights, resolveGeneratorConfig, synthesisShape } from '../src/generator/index.js';
import { toRosinality } from '../src/generator/weights_rosinality.js';
import { FAMILY, randomClipWeights } from './clip.js';
import { machine, peakRssMiB } from './util.js';

const WEIGHT_SEED = 2024;
/** The README's example run length. */
const README_STEPS = 301;

export async function run(argv: string[]): Promise<Record<string, unknown>> {
  const { values } = parseArgs({ args: argv, options: { sizes: { type: 'string' }, steps: { type: 'string' }, clips: { type: 'string' }, layers: { type: 'string' } } });
  const sizes = (values.sizes ?? '256,1024').split(',').map(Number);
  const timed = Number(values.steps ?? 3);
  const clipNames = (values.clips ?? 'vit-b32').split(',');
  const clips = clipNames.map((n) => ({ name: n, clip: new Clip(randomClipWeights(FAMILY[n]), FAMILY[n]), weight: 1 }));
  const tokenizer = await ClipTokenizer.load('../shared/data/clip/bpe_simple_vocab_16e6.txt.gz');
  const out: Record<string, unknown> = { machine: machine(), threads: E.defaultThreads(), clips: clipNames, batch: 2 };
  for (const size of sizes) {
    const config = resolveGeneratorConfig({ resolution: size, wDim: 512, mappingLayers: 8, channelMultiplier: 2 });
    const weights = randomWeights(config, WEIGHT_SEED);
    const gen = { stateDict: toRosinality(weights, config), config, weights };
    const layers = parseLayerChoice(values.layers ?? 'default', synthesisShape(config).nLatent);
    const t0 = performance.now();
    const trainer = await NadaTrainer.create(gen, gen, clips, tokenizer, { source: 'photo', target: 'sketch', steps: timed + 1, batch: 2, layers, lr: 0.002, seed: 0, noise: 'random' });
    const t1 = performance.now();
    const times: number[] = [];
    let t = performance.now();
    await trainer.train({ onStep: () => { times.push(performance.now() - t); t = performance.now(); } });
    const steady = times.slice(1).sort((a, b) => a - b)[Math.floor((times.length - 1) / 2)];
    const trainable = trainer.raw.length;
    await trainer.dispose();
    out[`size_${size}`] = {
      first_step_s: times[0] / 1000, // session build + the step
      step_s: steady / 1000,
      create_s: (t1 - t0) / 1000,
      readme_301_steps_min: ((times[0] + steady * (README_STEPS - 1)) / 60000),
      trainable_parameters: trainable,
    };
  }
  await Promise.all(clips.map((c) => c.clip.dispose()));
  out.peak_rss_mib = peakRssMiB();
  return out;
}
