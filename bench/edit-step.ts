/**
 * The headline figure: seconds per StyleCLIP optimisation step with the FFHQ config-f generator and the ViT-B/32 CLIP
 * architectures (random weights built in memory), batch 1, W+ space, constant noise. One step is one engine call
 * (G forward -> CLIP input -> CLIP image encoder -> loss, and d loss / d w+ back through all of it) plus the Adam
 * update on the host. Reports the median step time, peak RSS, and the achieved conv+matmul GFLOP/s against the
 * engine's measured conv peak.
 * Flags: --size 256|1024 (default 256), --steps N timed steps (default 5).
 */
import { parseArgs } from 'node:util';
import { VIT_B_32 } from '../src/clip/config.js';
import { Clip } from '../src/clip/clip.js';
import { ClipTokenizer } from '../src/clip/tokenizer.js';
import * as E from '../src/engine/index.js';
import { Generator, randomWeights, resolveGeneratorConfig } from '../src/generator/index.js';
import { buildEditGraph } from '../src/edit/optimize/graph.js';
import { Editor } from '../src/edit/optimize/editor.js';
import { randomClipWeights } from './clip.js';
import { peaks as engineBench } from './engine.js';
import { convFlops, loweredFlops, matmulFlops } from './generator.js';
import { machine, peakRssMiB, randomNormal, withWinograd } from './util.js';

const WEIGHT_SEED = 2024;
const PROMPT = 'a person with purple hair';

export async function run(argv: string[]): Promise<Record<string, unknown>> {
  const { values } = parseArgs({ args: argv, options: { size: { type: 'string' }, steps: { type: 'string' }, vocab: { type: 'string' } } });
  const size = Number(values.size ?? 256);
  const steps = Number(values.steps ?? 5);
  const engine = await engineBench();
  const peak = engine.peak_conv_gflops as number;

  const config = resolveGeneratorConfig({ resolution: size, wDim: 512, mappingLayers: 8, channelMultiplier: 2 });
  const weights = randomWeights(config, WEIGHT_SEED);
  const clip = new Clip(randomClipWeights(VIT_B_32), VIT_B_32);
  const tokenizer = await ClipTokenizer.load(values.vocab ?? '../shared/data/clip/bpe_simple_vocab_16e6.txt.gz');
  const flopGraph = (): E.Graph => buildEditGraph(Generator.fromWeights(weights, config), clip, { space: 'w+', preprocess: 'normalized', noise: 'const' });
  const direct = flopGraph();
  const flop = convFlops(direct) + matmulFlops(direct);
  const trueFlop = loweredFlops(flopGraph()); // lowering rewrites the graph: a second one

  const timeSteps = async (): Promise<{ median: number; min: number; first: number; timed: number }> => {
    const editor = new Editor(Generator.fromWeights(weights, config), clip, tokenizer);
    const start = E.tensor('float32', [1, editor.generator.nLatent, 512], randomNormal(editor.generator.nLatent * 512, 7, 0.5));
    const times: number[] = [];
    let last = performance.now();
    let first = 0;
    const t0 = performance.now();
    await editor.edit(
      { kind: 'w+', latent: start },
      { prompt: PROMPT, steps: steps + 1 },
      {
        hooks: {
          onProgress: (p) => {
            const now = performance.now();
            if (p.step === 1) first = now - t0;
            else times.push(now - last);
            last = now;
          },
        },
      },
    );
    await editor.dispose();
    const sorted = [...times].sort((a, b) => a - b);
    return { median: sorted[Math.floor(sorted.length / 2)], min: sorted[0], first, timed: times.length };
  };
  const off = await withWinograd('off', timeSteps);
  const on = await withWinograd('auto', timeSteps);
  return {
    machine: machine(),
    threads: E.defaultThreads(),
    size,
    generator: 'StyleGAN2 config-f (random weights)',
    clip: 'ViT-B/32 (random weights)',
    timed_steps: on.timed,
    median_s_per_step: on.median / 1000,
    min_s_per_step: on.min / 1000,
    first_step_s_incl_session_build: on.first / 1000,
    gflop_per_step: flop / 1e9,
    achieved_gflops: flop / (on.median * 1e6),
    peak_conv_gflops: peak,
    pct_of_peak: (100 * flop) / (on.median * 1e6) / peak,
    /** GFLOP the lowered step really multiplies (Winograd's batched products in place of the convs they replace). */
    true_gflop_per_step: trueFlop / 1e9,
    /** Before/after the Winograd lowering, same process (STYLECLIP_WINOGRAD=0 vs the table). */
    lowering_off_median_s_per_step: off.median / 1000,
    lowering_speedup: off.median / on.median,
    peak_rss_mib: peakRssMiB(),
  };
}
