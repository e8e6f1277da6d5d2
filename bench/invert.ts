/**
 * The e4e encoder at full size (IR-SE50 body 64/128/256/512 x 3/4/14/3 units, 18 GradualStyleBlocks of 512, random
 * weights in the official key layout through the real loader) on 256x256 inputs: ms per image at batch 1 and 8,
 * parameter count, GMAC per image (convolutions and linears, counted from the graph), peak RSS; the times with the
 * Winograd lowering off (before) and on (after).
 * Flags: --reps N (default 3).
 */
import { parseArgs } from 'node:util';
import * as E from '../src/engine/index.js';
import { encoderFromCheckpoint, type PhotoEncoder } from '../src/invert/encoder.js';
import { EncoderGraph, type EncoderWeights } from '../src/invert/encoder_net.js';
import { machine, peakRssMiB, randomNormal, timeMs, withWinograd } from './util.js';

/** e4e at 1024: IR-SE50 stage widths and units, 18 styles of 512. */
const STAGES: readonly (readonly [number, number])[] = [[64, 3], [128, 4], [256, 14], [512, 3]];
const STYLES = 18;
const WIDTH = 512;
const SE_REDUCTION = 16;

/** A random e4e state dict (official keys under state_dict.encoder.*), PyTorch-like init scales, BN near identity. */
export function randomE4eTensors(seed = 5, withHeads = true): Map<string, E.HostTensor> {
  let s = seed;
  const sd = new Map<string, E.HostTensor>();
  const put = (k: string, shape: number[], scale: number, offset = 0): void => {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = randomNormal(n, s++, scale);
    if (offset) data.forEach((v, i) => (data[i] = v + offset));
    sd.set(`state_dict.encoder.${k}`, E.tensor('float32', shape, data));
  };
  const bn = (p: string, c: number): void => {
    put(`${p}.weight`, [c], 0.05, 1);
    put(`${p}.bias`, [c], 0.05);
    put(`${p}.running_mean`, [c], 0.05);
    put(`${p}.running_var`, [c], 0.05, 1);
  };
  put('input_layer.0.weight', [64, 3, 3, 3], Math.sqrt(2 / 27));
  bn('input_layer.1', 64);
  put('input_layer.2.weight', [64], 0.01, 0.25);
  let cin = 64;
  let i = 0;
  for (const [depth, units] of STAGES) {
    for (let u = 0; u < units; u++, i++) {
      const p = `body.${i}`;
      const inC = u === 0 ? cin : depth;
      if (inC !== depth) {
        put(`${p}.shortcut_layer.0.weight`, [depth, inC, 1, 1], Math.sqrt(1 / inC));
        bn(`${p}.shortcut_layer.1`, depth);
      }
      bn(`${p}.res_layer.0`, inC);
      put(`${p}.res_layer.1.weight`, [depth, inC, 3, 3], Math.sqrt(1 / (9 * inC)));
      put(`${p}.res_layer.2.weight`, [depth], 0.01, 0.25);
      put(`${p}.res_layer.3.weight`, [depth, depth, 3, 3], 0.5 * Math.sqrt(1 / (9 * depth)));
      bn(`${p}.res_layer.4`, depth);
      put(`${p}.res_layer.5.fc1.weight`, [depth / SE_REDUCTION, depth, 1, 1], Math.sqrt(1 / depth));
      put(`${p}.res_layer.5.fc2.weight`, [depth, depth / SE_REDUCTION, 1, 1], Math.sqrt(SE_REDUCTION / depth));
    }
    cin = depth;
  }
  for (let k = 0; k < (withHeads ? STYLES : 0); k++) {
    const convs = Math.log2(k < 3 ? 16 : k < 7 ? 32 : 64);
    for (let c = 0; c < convs; c++) {
      put(`styles.${k}.convs.${2 * c}.weight`, [WIDTH, WIDTH, 3, 3], Math.sqrt(1 / (9 * WIDTH)));
      put(`styles.${k}.convs.${2 * c}.bias`, [WIDTH], 0.01);
    }
    put(`styles.${k}.linear.weight`, [WIDTH, WIDTH], 1);
    put(`styles.${k}.linear.bias`, [WIDTH], 0.01);
  }
  if (withHeads) {
    put('latlayer1.weight', [WIDTH, 256, 1, 1], Math.sqrt(1 / 256));
    put('latlayer1.bias', [WIDTH], 0.01);
    put('latlayer2.weight', [WIDTH, 128, 1, 1], Math.sqrt(1 / 128));
    put('latlayer2.bias', [WIDTH], 0.01);
  }
  sd.set('latent_avg', E.tensor('float32', [STYLES, WIDTH], new Float32Array(STYLES * WIDTH)));
  return sd;
}

export function randomE4e(): EncoderWeights {
  return encoderFromCheckpoint({ tensors: randomE4eTensors(), values: { 'opts.encoder_type': 'Encoder4Editing' } }, 'random e4e');
}

/** Multiply-accumulates of a graph's Conv and Gemm nodes. */
function macs(g: E.Graph): number {
  let n = 0;
  for (const node of g.nodes) {
    if (node.op === 'Conv') {
      const w = node.inputs[1] as E.Value;
      n += node.outputs[0].size * (w.size / w.shape[0]);
    } else if (node.op === 'Gemm' || node.op === 'MatMul') {
      const a = node.inputs[0] as E.Value;
      n += node.outputs[0].size * a.shape[a.rank - 1];
    }
  }
  return n;
}

export async function run(argv: string[]): Promise<Record<string, unknown>> {
  const { values } = parseArgs({ args: argv, options: { reps: { type: 'string' } } });
  const reps = Number(values.reps ?? 3);
  const weights = randomE4e();
  const params = [...randomE4eTensors().values()].reduce((n, t) => n + t.data.length, 0);
  const net = new EncoderGraph(weights);
  const g = new E.Graph('e4e');
  net.build(g, g.input('x', 'float32', [1, 3, 256, 256]));
  const out: Record<string, unknown> = { machine: machine(), threads: E.defaultThreads(), encoder: 'e4e IR-SE50, 18 styles of 512 (random weights)', parameters: params, gmac_per_image: macs(g) / 1e9 };
  const { PhotoEncoder } = await import('../src/invert/encoder.js');
  const { Generator, randomWeights, resolveGeneratorConfig } = await import('../src/generator/index.js');
  const config = resolveGeneratorConfig({ resolution: 1024, wDim: 512, mappingLayers: 8, channelMultiplier: 2 });
  for (const mode of ['off', 'auto'] as const) {
    await withWinograd(mode, async () => {
      const enc: PhotoEncoder = new PhotoEncoder(weights, Generator.fromWeights(randomWeights(config, 1), config), 'random e4e');
      for (const batch of [1, 8]) {
        const x = E.tensor('float32', [batch, 3, 256, 256], randomNormal(batch * 3 * 256 * 256, 9, 0.5));
        const t = await timeMs(() => enc.encode(x), reps);
        out[`${mode === 'off' ? 'lowering_off_' : ''}batch_${batch}_ms_per_image`] = t.median / batch;
      }
      await enc.dispose();
      await enc.generator.dispose();
    });
  }
  out.lowering_ratio_batch_1 = (out.batch_1_ms_per_image as number) / (out.lowering_off_batch_1_ms_per_image as number);
  out.peak_rss_mib = peakRssMiB();
  return out;
}
