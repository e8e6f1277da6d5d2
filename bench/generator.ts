/**
 * StyleGAN2 generator benchmark: the FFHQ config-f architecture (Karras et al. 2020; channels 512 up to 64 px, then
 * 256, 128, 64, 32 at 1024 px; style dim 512; 8 mapping layers) with seeded random weights built in memory, at 256 and
 * 1024 px, batch 1, constant noise:
 * - forward (w+ -> image) and forward + d/dw+ of sum(image * r) (the latent-optimisation step), median wall time;
 * - conv GFLOP per call, counted from the graphs' Conv/ConvTranspose nodes (2 FLOPs per weight tap per output
 *   element), and the achieved GFLOP/s against the measured conv peak: the larger of bench/engine.ts's figure
 *   (conv3x3 512ch at 32 px) and the same conv at 64 px, the generator's dominant layer shape, both in this process;
 * - the first call's time (graph build + session creation + one run) and the process's peak RSS after each resolution;
 * - everything with the Winograd lowering off and on (same process), the ratio, and the lowered graphs' true GFLOP.
 * Flags: --res 256,1024 (default), --reps N (default 5 at <= 256 px, 3 above).
 */
import { parseArgs } from 'node:util';
import * as E from '../src/engine/index.js';
import { Generator, buildSynthesis, constNoise, synthesisShape, randomWeights, resolveGeneratorConfig } from '../src/generator/index.js';
import { peaks as engineBench } from './engine.js';
import { peakRssMiB, randomNormal, timeMs, withWinograd } from './util.js';

/** FFHQ config-f: channel_multiplier 2, style dim 512, 8 mapping layers. */
const CHANNEL_MULTIPLIER = 2;
const STYLE_DIM = 512;
const MAPPING_LAYERS = 8;
const WEIGHT_SEED = 2024;
const BATCH = 1;
/** The dominant layer shape of config-f at >= 64 px: 3x3, 512 -> 512 channels, 64x64. */
const PEAK_CHANNELS = 512;
const PEAK_SIZE = 64;
const PEAK_REPS = 5;

/** Forward GFLOP/s of one constant-weight 3x3 conv of the dominant shape. */
async function dominantConvGflops(): Promise<number> {
  const [c, hw] = [PEAK_CHANNELS, PEAK_SIZE];
  const g = new E.Graph('peak_conv');
  const x = g.input('x', 'float32', [1, c, hw, hw]);
  const w = g.constant(E.tensor('float32', [c, c, 3, 3], randomNormal(c * c * 9, 3, 0.02)), 'w');
  g.output(E.conv(x, w, undefined, { pads: [1, 1, 1, 1] }), 'y');
  const s = await E.Session.create(g, { winograd: 'off' });
  try {
    const feeds = { x: E.tensor('float32', [1, c, hw, hw], randomNormal(c * hw * hw, 4)) };
    const t = await timeMs(() => s.run(feeds), PEAK_REPS, 1);
    return convFlops(g) / (t.median * 1e6);
  } finally {
    await s.dispose();
  }
}

/** Conv FLOPs of a graph: Conv 2 N Cout (Cin/g) kh kw Hout Wout; ConvTranspose 2 N Cin (Cout/g) kh kw Hin Win. */
export function convFlops(g: E.Graph): number {
  let flops = 0;
  for (const n of g.nodes) {
    if (n.op !== 'Conv' && n.op !== 'ConvTranspose') continue;
    const [x, w] = n.inputs as E.Value[];
    const y = n.outputs[0];
    const [, wIn, kh, kw] = w.shape;
    const perOut = n.op === 'Conv' ? y.shape[0] * y.shape[1] * y.shape[2] * y.shape[3] : x.shape[0] * x.shape[1] * x.shape[2] * x.shape[3];
    flops += 2 * perOut * wIn * kh * kw;
  }
  return flops;
}

/** MatMul FLOPs of a graph: 2 * (batch * M * N) * K per node. */
export function matmulFlops(g: E.Graph): number {
  let flops = 0;
  for (const n of g.nodes) {
    if (n.op !== 'MatMul') continue;
    const a = n.inputs[0] as E.Value;
    flops += 2 * n.outputs[0].size * a.shape[a.rank - 1];
  }
  return flops;
}

/**
 * The FLOPs a graph really multiplies once the Winograd lowering's table has rewritten it: its convs and MatMuls
 * (the lowered convs' batched products and transforms included) — beside the direct count, "effective".
 */
export function loweredFlops(g: E.Graph): number {
  E.lowerConvs(g, 'auto');
  return convFlops(g) + matmulFlops(g);
}

interface CallFigures {
  /** Median and fastest steady-state wall time (other processes share the cores, so both are given). */
  readonly ms: number;
  readonly ms_min: number;
  readonly conv_gflop: number;
  /** What the lowered graph really multiplies (Winograd products for the convs the table lowers). */
  readonly true_gflop: number;
  /** Achieved conv GFLOP/s at the median and at the fastest time, and the median as % of the peak. */
  readonly gflops: number;
  readonly gflops_best: number;
  readonly pct_of_peak: number;
  /** The first call: graph construction, ONNX serialisation, onnxruntime session creation and one run. */
  readonly first_call_ms: number;
}

interface ResolutionFigures {
  readonly resolution: number;
  readonly parameters: number;
  readonly forward: CallFigures;
  readonly forward_grad: CallFigures;
  /** The same calls with the Winograd lowering off (STYLECLIP_WINOGRAD=0), and lowered / off time. */
  readonly lowering_off: { readonly forward: CallFigures; readonly forward_grad: CallFigures };
  readonly lowering_ratio: { readonly forward: number; readonly forward_grad: number };
  readonly peak_rss_mib: number;
}

/** The graph the Generator builds, rebuilt here only to count its conv FLOPs (direct, and lowered). */
function synthesisFlops(gen: Generator, withGrad: boolean): { direct: number; lowered: number } {
  const build = (): E.Graph => {
    const g = new E.Graph('count');
    const wPlus = g.input('w_plus', 'float32', [BATCH, gen.nLatent, gen.wDim]);
    const image = buildSynthesis(g, wPlus, gen.weights, gen.config, constNoise(g, gen.weights, gen.config));
    if (withGrad) E.grad(E.reduceSum(E.mul(image, g.input('r', 'float32', image.shape))), [wPlus]);
    return g;
  };
  return { direct: convFlops(build()), lowered: loweredFlops(build()) };
}

async function benchResolution(resolution: number, reps: number, peak: number): Promise<ResolutionFigures> {
  const config = resolveGeneratorConfig({ resolution, wDim: STYLE_DIM, mappingLayers: MAPPING_LAYERS, channelMultiplier: CHANNEL_MULTIPLIER });
  const weights = randomWeights(config, WEIGHT_SEED);
  const { nLatent } = synthesisShape(config);
  const parameters = [...weights].filter(([k]) => !k.endsWith('.noise_const')).reduce((a, [, t]) => a + t.data.length, 0);
  const wPlus = E.tensor('float32', [BATCH, nLatent, STYLE_DIM], randomNormal(BATCH * nLatent * STYLE_DIM, 1));
  const r = E.tensor('float32', [BATCH, 3, resolution, resolution], randomNormal(BATCH * 3 * resolution * resolution, 2));
  const figures = async (fn: () => Promise<unknown>, { direct: flop, lowered }: { direct: number; lowered: number }): Promise<CallFigures> => {
    const t0 = performance.now();
    await fn();
    const first = performance.now() - t0;
    const t = await timeMs(fn, reps, 0);
    const gflops = flop / (t.median * 1e6);
    return {
      ms: t.median,
      ms_min: t.min,
      conv_gflop: flop / 1e9,
      true_gflop: lowered / 1e9,
      gflops,
      gflops_best: flop / (t.min * 1e6),
      pct_of_peak: (100 * gflops) / peak,
      first_call_ms: first,
    };
  };
  const both = async (): Promise<{ forward: CallFigures; forward_grad: CallFigures }> => {
    const gen = Generator.fromWeights(weights, config);
    try {
      const forward = await figures(() => gen.synthesize(wPlus), synthesisFlops(gen, false));
      return { forward, forward_grad: await figures(() => gen.synthesizeWithGrad(wPlus, r), synthesisFlops(gen, true)) };
    } finally {
      await gen.dispose();
    }
  };
  const off = await withWinograd('off', both);
  const on = await withWinograd('auto', both);
  return {
    resolution,
    parameters,
    ...on,
    lowering_off: off,
    lowering_ratio: { forward: on.forward.ms / off.forward.ms, forward_grad: on.forward_grad.ms / off.forward_grad.ms },
    peak_rss_mib: peakRssMiB(),
  };
}

export async function run(argv: string[]): Promise<Record<string, unknown>> {
  const { values } = parseArgs({ args: argv, options: { res: { type: 'string' }, reps: { type: 'string' } } });
  const resolutions = (values.res ?? '256,1024').split(',').map(Number);
  const engine = await engineBench();
  const dominant = await dominantConvGflops();
  const peak = Math.max(engine.peak_conv_gflops as number, dominant);
  const results: ResolutionFigures[] = [];
  for (const res of resolutions) results.push(await benchResolution(res, Number(values.reps ?? (res <= 256 ? 5 : 3)), peak));
  return {
    machine: engine.machine,
    threads: E.defaultThreads(),
    batch: BATCH,
    peak_conv_gflops: peak,
    engine_conv3x3_512ch_32px: engine.conv3x3_512ch_32px,
    conv3x3_512ch_64px_forward_gflops: dominant,
    resolutions: results,
  };
}
