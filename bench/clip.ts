/**
 * CLIP benchmark over the OpenAI family, random weights built in memory under openai/CLIP names at full size:
 * ViT-B/32, ViT-B/16, ViT-L/14 and RN50 (config shapes from the published models: clip/model.py build_model).
 * - encodeImage at batch 1 and 16: ms per image and images/s, GFLOP per image counted from the built graph;
 * - ViT-B/32: encodeText at batch 1 and 16, and the image encoder's forward + pixel gradient (the edit inner step);
 * - `classify` end to end (decode, preprocess, encode, ensemble scoring) over a folder of 64 JPEG photos (the eight
 *   FFHQ faces of ../shared, eight copies each, at 1024 px and resized to ImageNet's ~500 px) with ViT-B/32, against
 *   the encoder alone on the same 64 images, timed back to back.
 * Flags: --reps N (default 3), --models vit-b32,vit-b16,vit-l14,rn50.
 */
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { ZeroShotClassifier } from '../src/clip/classifier.js';
import { Clip } from '../src/clip/clip.js';
import { CLIP_INIT_LOGIT_SCALE, VIT_B_32, resolveClipConfig, type ClipConfig } from '../src/clip/config.js';
import { ClipTokenizer } from '../src/clip/tokenizer.js';
import { expectedShapes } from '../src/clip/weights.js';
import * as E from '../src/engine/index.js';
import { readImagePixels } from '../src/io/images/image.js';
import { sharedPath } from '../test/helpers/shared.js';
import { graphFlops, machine, peakRssMiB, randomNormal, timeMs } from './util.js';

/** Std of the random matrices: CLIP.initialize_parameters uses 0.02 for token embeddings and similar scales elsewhere. */
const INIT_STD = 0.02;
const BATCHES = [1, 16] as const;
const FOLDER_IMAGES = 64;
/** The FFHQ photos of ../shared are 1024 px; ImageNet's are about 500 px on the long side (typical 500x375). */
const FFHQ_SIDE = 1024;
const IMAGENET_LIKE_SIDE = 500;

/** Published shapes (openai/CLIP model cards; build_model on the released state dicts). */
export const FAMILY: Readonly<Record<string, ClipConfig>> = {
  'vit-b32': VIT_B_32,
  'vit-b16': resolveClipConfig({ visionPatchSize: 16 }),
  'vit-l14': resolveClipConfig({ embedDim: 768, visionWidth: 1024, visionLayers: 24, visionPatchSize: 14, transformerWidth: 768 }),
  rn50: resolveClipConfig({
    visionKind: 'resnet', visionBlocks: [3, 4, 6, 3], visionLayers: 16, visionWidth: 64, visionHeads: 32, visionPatchSize: 32,
    visionMlpWidth: 0, embedDim: 1024,
  }),
};

/**
 * Random weights for every tensor `expectedShapes(cfg)` lists: LayerNorm / BatchNorm scale 1 and shift 0, BN running
 * statistics 0 / 1, N(0, 0.02²) otherwise.
 */
export function randomClipWeights(cfg: ClipConfig): Map<string, E.HostTensor> {
  const out = new Map<string, E.HostTensor>();
  let seed = 1;
  for (const [name, shape] of expectedShapes(cfg)) {
    const n = E.numel(shape);
    const norm = /(^|\.)(ln_[^.]*|bn\d|downsample\.1)\.(weight|bias)$/.test(name);
    let data: Float32Array;
    if (name === 'logit_scale') data = Float32Array.of(CLIP_INIT_LOGIT_SCALE);
    else if (norm || name.endsWith('.running_mean')) data = new Float32Array(n).fill(name.endsWith('.weight') ? 1 : 0);
    else if (name.endsWith('.running_var')) data = new Float32Array(n).fill(1);
    else data = randomNormal(n, seed++, INIT_STD);
    out.set(name, E.tensor('float32', shape, data));
  }
  return out;
}

function imageFlops(clip: Clip): number {
  const r = clip.config.imageResolution;
  const g = new E.Graph('count');
  g.output(clip.imageEncoder(g, g.input('pixels', 'float32', [1, 3, r, r])), 'e');
  return graphFlops(g.nodes);
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

async function encoderFigures(clip: Clip, reps: number): Promise<Record<string, unknown>> {
  const r = clip.config.imageResolution;
  const flops = imageFlops(clip);
  const out: Record<string, unknown> = { gflop_per_image: flops / 1e9 };
  for (const n of BATCHES) {
    const pixels = E.tensor('float32', [n, 3, r, r], randomNormal(n * 3 * r * r, 100 + n));
    const t = await timeMs(() => clip.encodeImage(pixels), reps, 1);
    out[`batch_${n}`] = { ms_per_image: t.median / n, images_per_s: (1000 * n) / t.median, gflops: (n * flops) / (t.median * 1e6) };
  }
  return out;
}

async function textFigures(clip: Clip, reps: number): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const n of BATCHES) {
    const tokens = randomTokens(n, clip.config);
    const t = await timeMs(() => clip.encodeText(tokens), reps, 1);
    out[`batch_${n}`] = { ms: t.median, texts_per_s: (1000 * n) / t.median };
  }
  return out;
}

/**
 * classify over a folder of FOLDER_IMAGES JPEG photos of `side` px against the encoder alone on the same images
 * (already preprocessed), measured back to back `reps` times so machine drift hits both alike: medians and their ratio.
 */
async function folderFigures(clip: Clip, side: number, reps: number): Promise<Record<string, unknown>> {
  const dir = await mkdtemp(join(tmpdir(), 'styleclip-bench-classify-'));
  try {
    const files: string[] = [];
    for (let i = 0; i < FOLDER_IMAGES; i++) {
      const f = join(dir, `photo_${String(i).padStart(2, '0')}.jpg`);
      const face = sharedPath('data', 'faces', `ffhq_${[0, 1, 2, 3, 10, 11, 12, 13][i % 8]}.jpg`);
      if (side === FFHQ_SIDE) await copyFile(face, f);
      else await sharp(face).resize(side, side).jpeg({ quality: 90 }).toFile(f);
      files.push(f);
    }
    const tokenizer = await ClipTokenizer.load(sharedPath('data', 'clip', 'bpe_simple_vocab_16e6.txt.gz'));
    const classifier = await ZeroShotClassifier.create(clip, tokenizer, ['a face', 'a diagram', 'a cat', 'a dog'], ['a photo of {}']);
    const pixels = clip.preprocess(await Promise.all(files.map((f) => readImagePixels(f))));
    await classifier.classifyFiles(files.slice(0, 16)); // warm-up: sessions built
    const folder = await timeMs(() => classifier.classifyFiles(files), reps, 0);
    const encoder = await timeMs(() => clip.encodeImage(pixels), reps, 0);
    const perS = (ms: number): number => (1000 * FOLDER_IMAGES) / ms;
    return {
      images: FOLDER_IMAGES, image_side: side, classify_ms: folder.median, classify_images_per_s: perS(folder.median),
      encoder_images_per_s: perS(encoder.median), fraction_of_encoder: encoder.median / folder.median,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function run(argv: string[]): Promise<Record<string, unknown>> {
  const { values } = parseArgs({ args: argv, options: { reps: { type: 'string' }, models: { type: 'string' } } });
  const reps = Math.max(1, Number(values.reps ?? 3));
  const names = (values.models ?? Object.keys(FAMILY).join(',')).split(',');
  const encode_image: Record<string, unknown> = {};
  const result: Record<string, unknown> = { machine: machine(), threads: E.defaultThreads(), weights: 'random, full size' };
  for (const name of names) {
    const cfg = FAMILY[name];
    if (!cfg) throw new Error(`unknown model ${name}; one of ${Object.keys(FAMILY).join(', ')}`);
    const clip = new Clip(randomClipWeights(cfg), cfg);
    try {
      const figures = await encoderFigures(clip, reps);
      encode_image[name] = figures;
      if (name === 'vit-b32') {
        result.encode_text_vit_b32 = await textFigures(clip, reps);
        const gradMs = await gradStep(clip, reps);
        result.image_forward_input_grad_vit_b32_batch_1 = { ms: gradMs };
        result.classify_folder_vit_b32 = {
          ffhq_1024px: await folderFigures(clip, FFHQ_SIDE, reps),
          imagenet_like_500px: await folderFigures(clip, IMAGENET_LIKE_SIDE, reps),
        };
      }
    } finally {
      await clip.dispose();
    }
  }
  return { ...result, encode_image, peak_rss_mib: peakRssMiB() };
}
