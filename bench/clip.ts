/**
 * CLIP benchmark on the ViT-B/32 architecture (config.ts VIT_B_32: width 768, 12 layers, patch 32; text width 512,
 * 8 heads, 12 layers; embed 512) with random weights built in memory under openai/CLIP names:
 * - encodeImage throughput at batch 1 and 16 (images/s), encodeText at batch 1 and 16 (texts/s);
 * - image encoder forward + gradient w.r.t. the input pixels at batch 1 (the latent-optimisation inner step);
 * - model FLOPs from the architecture, achieved GFLOP/s, and peak RSS.
 * Flags: --reps N (default 5).
 */
import { parseArgs } from 'node:util';
import { CLIP_INIT_LOGIT_SCALE, VIT_B_32, type ClipConfig } from '../src/clip/config.js';
import { Clip } from '../src/clip/clip.js';
import { expectedShapes } from '../src/clip/weights.js';
import * as E from '../src/engine/index.js';
import { machine, peakRssMiB, randomNormal, timeMs } from './util.js';

/** Std of the random matrices: CLIP.initialize_parameters uses 0.02 for token embeddings and similar scales elsewhere. */
const INIT_STD = 0.02;
const BATCHES = [1, 16] as const;

/** Random weights for every tensor `expectedShapes(cfg)` lists: LayerNorm scale 1 / bias 0, N(0, 0.02²) otherwise. */
export function randomClipWeights(cfg: ClipConfig): Map<string, E.HostTensor> {
  const out = new Map<string, E.HostTensor>();
  let seed = 1;
  for (const [name, shape] of expectedShapes(cfg)) {
    const n = E.numel(shape);
    const isLn = /(^|\.)ln_[^.]*\.(weight|bias)$/.test(name);
    let data: Float32Array;
    if (name === 'logit_scale') data = Float32Array.of(CLIP_INIT_LOGIT_SCALE);
    else if (isLn) data = new Float32Array(n).fill(name.endsWith('.weight') ? 1 : 0);
    else data = randomNormal(n, seed++, INIT_STD);
    out.set(name, E.tensor('float32', shape, data));
  }
  return out;
}

/** Multiply-accumulates of one transformer pass over `length` tokens of `width` (Linear layers + attention). */
function transformerMacs(layers: number, width: number, mlp: number, length: number): number {
  const linear = length * (4 * width * width + 2 * width * mlp);
  const attention = 2 * length * length * width;
  return layers * (linear + attention);
}

/** Forward FLOPs (2 × MACs) per image and per text. */
function flops(c: ClipConfig): { image: number; text: number } {
  const grid = c.imageResolution / c.visionPatchSize;
  const patches = grid * grid;
  const image = patches * c.visionWidth * 3 * c.visionPatchSize ** 2 + transformerMacs(c.visionLayers, c.visionWidth, c.visionMlpWidth, patches + 1) + c.visionWidth * c.embedDim;
  const text = transformerMacs(c.transformerLayers, c.transformerWidth, c.transformerMlpWidth, c.contextLength) + c.transformerWidth * c.embedDim;
  return { image: 2 * image, text: 2 * text };
}

function randomTokens(n: number, c: ClipConfig): E.HostTensor {
  const data = new Int32Array(n * c.contextLength);
  for (let i = 0; i < n; i++) {
    const len = 8 + (i % 12);
    data[i * c.contextLength] = c.vocabSize - 2;
    for (let j = 1; j < len; j++) data[i * c.contextLength + j] = (i * 7919 + j * 104729) % (c.vocabSize - 2);
    data[i * c.contextLength + len] = c.vocabSize - 1;
  }
  return E.tensor('int32', [n, c.contextLength], data);
}

async function gradStep(clip: Clip, reps: number): Promise<number> {
  const r = clip.config.imageResolution;
  const g = new E.Graph('clip_image_grad');
  const px = g.input('pixels', 'float32', [1, 3, r, r]);
  const w = g.input('r', 'float32', [1, clip.config.embedDim]);
  const [gx] = E.grad(E.reduceSum(E.mul(clip.imageEncoder(g, px), w)), [px]);
  g.output(gx, 'grad');
  const s = await E.Session.create(g);
  const feeds = {
    pixels: E.tensor('float32', [1, 3, r, r], randomNormal(3 * r * r, 11)),
    r: E.tensor('float32', [1, clip.config.embedDim], randomNormal(clip.config.embedDim, 12)),
  };
  const t = await timeMs(() => s.run(feeds), reps, 1);
  await s.dispose();
  return t.median;
}

export async function run(argv: string[]): Promise<Record<string, unknown>> {
  const { values } = parseArgs({ args: argv, options: { reps: { type: 'string' } } });
  const reps = Math.max(1, Number(values.reps ?? 5));
  const cfg = VIT_B_32;
  const clip = new Clip(randomClipWeights(cfg), cfg);
  const f = flops(cfg);
  const r = cfg.imageResolution;
  const image: Record<string, unknown> = {};
  const text: Record<string, unknown> = {};
  for (const n of BATCHES) {
    const pixels = E.tensor('float32', [n, 3, r, r], randomNormal(n * 3 * r * r, 100 + n));
    const ti = await timeMs(() => clip.encodeImage(pixels), reps, 1);
    image[`batch_${n}`] = { ms: ti.median, images_per_s: (1000 * n) / ti.median, gflops: (n * f.image) / (ti.median * 1e6) };
    const tokens = randomTokens(n, cfg);
    const tt = await timeMs(() => clip.encodeText(tokens), reps, 1);
    text[`batch_${n}`] = { ms: tt.median, texts_per_s: (1000 * n) / tt.median, gflops: (n * f.text) / (tt.median * 1e6) };
  }
  const gradMs = await gradStep(clip, reps);
  await clip.dispose();
  return {
    machine: machine(),
    threads: E.defaultThreads(),
    architecture: 'ViT-B/32 (random weights)',
    gflop_per_image: f.image / 1e9,
    gflop_per_text: f.text / 1e9,
    encode_image: image,
    encode_text: text,
    // Forward + input gradient ≈ 2 × forward FLOPs: constant weights get no gradient, so each MatMul/Conv backward
    // is one product of the same size.
    image_forward_input_grad_batch_1: { ms: gradMs, gflops: (2 * f.image) / (gradMs * 1e6) },
    peak_rss_mib: peakRssMiB(),
  };
}
