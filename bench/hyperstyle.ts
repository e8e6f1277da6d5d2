/**
 * HyperStyle at full size (random weights in the official key layout through the real loaders): the hypernetwork
 * (ResNet34 64/128/256/512, shared SharedWeightsHypernet 512 -> 512x512x3x3, RefinementBlocks for the 256..32-channel
 * layers; every non-ToRGB layer tuned, train default), the W encoder (IR-SE50 + EqualLinear) and the FFHQ config-f
 * 1024 generator with offset inputs. Figures: ms per iteration and per photo (5 iterations + the initial inversion),
 * GFLOP per iteration (hypernet and offset generator apart), the time split between them, and what the offsets cost
 * the generator (offsets as inputs: W * (1 + delta), its transpose and squared sums computed per call, against the
 * same synthesis with constant weights). Also run by `npm run bench -- invert`. Flags: --reps N (default 2).
 */
import { parseArgs } from 'node:util';
import * as E from '../src/engine/index.js';
import { Generator, buildSynthesis, constNoise, randomWeights, resolveGeneratorConfig, synthesisLayers, type GeneratorConfig } from '../src/generator/index.js';
import { HypernetGraph } from '../src/invert/hypernet.js';
import { HyperStyle, DEFAULT_ITERATIONS } from '../src/invert/hyperstyle.js';
import { SHARED_LAYERS, hypernetFromCheckpoint, wEncoderFromCheckpoint } from '../src/invert/hyperstyle_weights.js';
import { randomE4eTensors } from './invert.js';
import { graphFlops, machine, peakRssMiB, randomNormal, timeMs } from './util.js';

/** torchvision resnet34 layer1..4: (width, blocks). */
const RESNET34: readonly (readonly [number, number])[] = [[64, 3], [128, 4], [256, 6], [512, 3]];
const WIDTH = 512;

/** A random HyperStyle checkpoint's tensors (state_dict.hypernet.*) for generator config `c`, every non-ToRGB layer tuned. */
export function randomHypernetTensors(c: GeneratorConfig, seed = 17): Map<string, E.HostTensor> {
  let s = seed;
  const sd = new Map<string, E.HostTensor>();
  const put = (k: string, shape: number[], scale: number, offset = 0): E.HostTensor => {
    const data = randomNormal(shape.reduce((a, b) => a * b, 1), s++, scale);
    if (offset) data.forEach((v, i) => (data[i] = v + offset));
    const t = E.tensor('float32', shape, data);
    sd.set(`state_dict.hypernet.${k}`, t);
    return t;
  };
  const bn = (p: string, ch: number): void => {
    put(`${p}.weight`, [ch], 0.05, 1);
    put(`${p}.bias`, [ch], 0.05);
    put(`${p}.running_mean`, [ch], 0.05);
    put(`${p}.running_var`, [ch], 0.05, 1);
  };
  put('conv1.weight', [64, 6, 7, 7], Math.sqrt(2 / (6 * 49)));
  bn('bn1', 64);
  put('relu.weight', [64], 0.01, 0.25);
  let cin = 64;
  let b = 0;
  RESNET34.forEach(([w, blocks], stage) => {
    for (let i = 0; i < blocks; i++, b++) {
      const inC = i === 0 ? cin : w;
      put(`body.${b}.conv1.weight`, [w, inC, 3, 3], Math.sqrt(2 / (9 * inC)));
      bn(`body.${b}.bn1`, w);
      put(`body.${b}.conv2.weight`, [w, w, 3, 3], 0.5 * Math.sqrt(2 / (9 * w)));
      bn(`body.${b}.bn2`, w);
      if (i === 0 && stage > 0) {
        put(`body.${b}.downsample.0.weight`, [w, inC, 1, 1], Math.sqrt(1 / inC));
        bn(`body.${b}.downsample.1`, w);
      }
    }
    cin = w;
  });
  const shared = { w1: put('shared_weight_hypernet.w1', [WIDTH, WIDTH * 9], 0.025), b1: put('shared_weight_hypernet.b1', [WIDTH * 9], 0.025), w2: put('shared_weight_hypernet.w2', [WIDTH, WIDTH * WIDTH], 0.025), b2: put('shared_weight_hypernet.b2', [WIDTH * WIDTH], 0.025) };
  synthesisLayers(c).forEach((l, j) => {
    if (l.kind === 'torgb') return;
    const conv = (k: number, out: number, inC: number): void => {
      put(`refinement_blocks.${j}.convs.${2 * k}.weight`, [out, inC, 3, 3], Math.sqrt(1 / (9 * inC)));
      put(`refinement_blocks.${j}.convs.${2 * k}.bias`, [out], 0.01);
    };
    if (SHARED_LAYERS.includes(j)) {
      // HyperRefinementBlock(n_channels 512, inner_c 128): conv s1, 3 x conv s2, conv s2 -> 512; EqualLinear
      [[128, WIDTH], [128, 128], [128, 128], [128, 128], [WIDTH, 128]].forEach(([o, i], k) => conv(k, o, i));
      put(`refinement_blocks.${j}.linear.weight`, [WIDTH, WIDTH], 1);
      put(`refinement_blocks.${j}.linear.bias`, [WIDTH], 0.01);
      for (const [k, t] of Object.entries(shared)) sd.set(`state_dict.hypernet.refinement_blocks.${j}.hypernet.${k}`, t);
    } else {
      // RefinementBlock(inner_c 256), kernel 3: conv s2 512 -> 256, conv s2 256 -> 256, conv s2 256 -> 512
      [[256, WIDTH], [256, 256], [WIDTH, 256]].forEach(([o, i], k) => conv(k, o, i));
      put(`refinement_blocks.${j}.output.1.weight`, [l.inChannels * l.outChannels, WIDTH, 1, 1], 0.05 * Math.sqrt(1 / WIDTH));
      put(`refinement_blocks.${j}.output.1.bias`, [l.inChannels * l.outChannels], 0.001);
    }
  });
  return sd;
}

/** Full-size HyperStyle over `generator` (random weights), its layers as the official checkpoint's defaults. */
export function randomHyperStyle(generator: Generator): HyperStyle {
  const c = generator.config;
  const tuned = synthesisLayers(c).map((l, j) => [l, j] as const).filter(([l]) => l.kind !== 'torgb').map(([, j]) => j).join(',');
  const hypernet = hypernetFromCheckpoint({ tensors: randomHypernetTensors(c), values: { 'opts.layers_to_tune': tuned } }, c, 'random HyperStyle');
  const body = new Map([...randomE4eTensors(23, false)].filter(([k]) => /encoder\.(input_layer|body)\./.test(k)));
  body.set('state_dict.encoder.linear.weight', E.tensor('float32', [WIDTH, WIDTH], randomNormal(WIDTH * WIDTH, 29)));
  body.set('state_dict.encoder.linear.bias', E.tensor('float32', [WIDTH], new Float32Array(WIDTH)));
  body.set('latent_avg', E.tensor('float32', [generator.nLatent, WIDTH], new Float32Array(generator.nLatent * WIDTH)));
  const wEncoder = wEncoderFromCheckpoint({ tensors: body, values: { 'opts.encoder_type': 'WEncoder' } }, 'random W encoder');
  return new HyperStyle(hypernet, wEncoder, generator, 'random HyperStyle');
}

export async function run(argv: string[]): Promise<Record<string, unknown>> {
  const { values } = parseArgs({ args: argv, options: { reps: { type: 'string' } } });
  const reps = Number(values.reps ?? 2);
  const config = resolveGeneratorConfig({ resolution: 1024, wDim: 512, mappingLayers: 8, channelMultiplier: 2 });
  const generator = Generator.fromWeights(randomWeights(config, 1), config);
  const hs = randomHyperStyle(generator);
  const x = E.tensor('float32', [1, 3, 256, 256], randomNormal(3 * 256 * 256, 9, 0.5));
  const out: Record<string, unknown> = { machine: machine(), threads: E.defaultThreads(), model: 'HyperStyle FFHQ 1024 (random weights; 17 tuned layers)', tuned_layers: hs.layers.size };

  // GFLOP of one iteration: the hypernet and the offset generator (graphs as the step builds them).
  const g = new E.Graph('hypernet');
  const side = [1, 3, 256, 256];
  const outs = new HypernetGraph(hs.weights).build(g, g.input('x', 'float32', side), g.input('y', 'float32', side));
  for (const [j, v] of outs) g.output(v, `d${j}`);
  const gOff = new E.Graph('offset_generator');
  const offsets = new Map([...hs.weights.shapes].map(([j, s]) => [hs.layers.get(j)!, gOff.input(`delta_${j}`, 'float32', [...s])]));
  gOff.output(buildSynthesis(gOff, gOff.input('codes', 'float32', [1, 18, 512]), generator.weights, config, constNoise(gOff, generator.weights, config), { offsets }), 'image');
  out.hypernet_gflop = graphFlops(g.nodes) / 1e9;
  out.offset_generator_gflop = graphFlops(gOff.nodes) / 1e9;

  const photo = await timeMs(() => hs.invert(x, DEFAULT_ITERATIONS), reps);
  const one = await timeMs(() => hs.invert(x, 1), reps);
  out.ms_per_photo = photo.median;
  out.ms_per_iteration = (photo.median - one.median) / (DEFAULT_ITERATIONS - 1);
  out.ms_initial_inversion = one.median - (out.ms_per_iteration as number);
  out.peak_rss_mib_inversion = peakRssMiB(); // the models and the inversion's sessions, before the split below

  // The split: the hypernet alone and the offset generator alone, and the generator with constant weights.
  const sessions = new E.SessionCache();
  const hyper = await sessions.get('h', () => g);
  const offGen = await sessions.get('o', () => gOff);
  const feeds: Record<string, E.HostTensor> = { codes: E.tensor('float32', [1, 18, 512], randomNormal(18 * 512, 3)) };
  for (const [j, s] of hs.weights.shapes) feeds[`delta_${j}`] = E.tensor('float32', [...s], randomNormal(s.reduce((a, b) => a * b, 1), j, 0.1));
  out.hypernet_ms = (await timeMs(() => hyper.run({ x, y: x }), reps)).median;
  out.offset_generator_ms = (await timeMs(() => offGen.run(feeds), reps)).median;
  out.constant_weight_generator_ms = (await timeMs(() => generator.synthesize(feeds.codes), reps)).median;
  out.offsets_cost_ratio = (out.offset_generator_ms as number) / (out.constant_weight_generator_ms as number);
  await sessions.dispose();
  await hs.dispose();
  await generator.dispose();
  out.peak_rss_mib_with_split_sessions = peakRssMiB();
  return out;
}
