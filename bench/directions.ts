/**
 * Global directions at full size: the FFHQ config-f generator (random weights) and CLIP ViT-B/32 (random weights),
 * fs3 of random unit rows over the conv layers up to 128 px (5376 rows at 1024, as FFHQ's file), the real FFHQ
 * S_mean_std at 1024 (../shared/data/stylespace) and measured statistics at other sizes.
 * Figures: a new prompt -> dt (79 template texts; the neutral text cached), a slider move -> image (the relevance
 * threshold, the S step, one synthesis from S) at each size, a bare synthesis for comparison, the cost of computing
 * fs3 (per channel and image: two renders and two CLIP encodes) with the official total extrapolated, peak RSS.
 * Flags: --sizes 256,1024 (default), --reps N (default 5).
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { VIT_B_32 } from '../src/clip/config.js';
import { Clip } from '../src/clip/clip.js';
import { ClipTokenizer } from '../src/clip/tokenizer.js';
import { FS3_IMAGES, GlobalDirections, channelDirections, computeChannelDirections, computeStyleStats, parseStyleStats } from '../src/edit/global/index.js';
import * as E from '../src/engine/index.js';
import { Generator, randomWeights, resolveGeneratorConfig, sampleZ, styleSpaceLayout } from '../src/generator/index.js';
import { randomClipWeights } from './clip.js';
import { machine, peakRssMiB, randomNormal, randomUnitRows, timeMs } from './util.js';

const WEIGHT_SEED = 2024;
/** Resolution up to which FFHQ's fs3 covers conv layers (StyleCLIP global_torch). */
const FS3_MAX_RESOLUTION = 128;
const PROMPTS = ['face with purple hair', 'a smiling face', 'face with a beard', 'an old face', 'face with glasses', 'a surprised face'];

export async function run(argv: string[]): Promise<Record<string, unknown>> {
  const { values } = parseArgs({ args: argv, options: { sizes: { type: 'string' }, reps: { type: 'string' }, vocab: { type: 'string' } } });
  const sizes = (values.sizes ?? '256,1024').split(',').map(Number);
  const reps = Number(values.reps ?? 5);
  const clip = new Clip(randomClipWeights(VIT_B_32), VIT_B_32);
  const tokenizer = await ClipTokenizer.load(values.vocab ?? '../shared/data/clip/bpe_simple_vocab_16e6.txt.gz');
  const out: Record<string, unknown> = { machine: machine(), threads: E.defaultThreads(), clip: 'ViT-B/32 (random weights)' };
  for (const size of sizes) {
    const config = resolveGeneratorConfig({ resolution: size, wDim: 512, mappingLayers: 8, channelMultiplier: 2 });
    const generator = Generator.fromWeights(randomWeights(config, WEIGHT_SEED), config);
    const layout = styleSpaceLayout(config);
    const stats = size === 1024
      ? parseStyleStats(await readFile('../shared/data/stylespace/ffhq_S_mean_std'), layout)
      : await computeStyleStats(generator, sampleZ(0, 256, 512));
    const rows = layout.layers.filter((l) => l.kind === 'conv' && l.resolution <= FS3_MAX_RESOLUTION).reduce((n, l) => n + l.channels, 0);
    const dirs = new GlobalDirections(generator, clip, tokenizer, stats, channelDirections(randomUnitRows(rows, 512), layout, 512));
    const start = await generator.styles(E.tensor('float32', [1, generator.nLatent, 512], randomNormal(generator.nLatent * 512, 7, 0.5)));
    await dirs.direction('warm-up prompt'); // builds the text sessions and caches the neutral text
    let p = 0;
    const prompt = await timeMs(() => dirs.direction(PROMPTS[p++ % PROMPTS.length]), Math.min(reps, PROMPTS.length - 1), 0);
    let alpha = -5;
    const slider = await timeMs(async () => {
      alpha += 1.5;
      const codes = await dirs.apply(start, [{ prompt: PROMPTS[0], alpha, beta: 0.12 }]);
      return generator.synthesizeFromStyles(codes);
    }, reps);
    const synth = await timeMs(() => generator.synthesizeFromStyles(start), reps);
    // fs3 cost: two channels of the first covered layer on one image, then per channel and image.
    const fs3Start = performance.now();
    await computeChannelDirections(generator, clip, stats, start, [{ ...layout.layers[0], channels: 2 }]);
    const perChannelImage = (performance.now() - fs3Start) / 2 / 1000;
    out[`size_${size}`] = {
      covered_channels: rows,
      new_prompt_ms: prompt.median,
      slider_move_ms: slider.median,
      synthesis_only_ms: synth.median,
      overhead_pct: (100 * (slider.median - synth.median)) / synth.median,
      fs3_s_per_channel_per_image: perChannelImage,
      fs3_estimate_days_official_recipe: (perChannelImage * FS3_IMAGES * rows) / 86_400,
    };
    await generator.dispose();
  }
  await clip.dispose();
  out.peak_rss_mib = peakRssMiB();
  return out;
}
