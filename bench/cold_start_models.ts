/**
 * Full-size random-weight checkpoints in the official file formats, written once into a model cache for the
 * cold-start benchmark (bench/cold-start.ts), under the registry's default names: the rosinality FFHQ config-f 1024
 * ({g_ema, latent_avg}), OpenAI CLIP ViT-B/32 as clip.load's state-dict form (openai/CLIP model.py key layout;
 * float32 here, the TorchScript download holds the same tensors in float16), e4e's Coach checkpoint ({state_dict:
 * encoder.* + decoder.*, opts, latent_avg}), a random unit fs3 over FFHQ's 5376 channels, and the real FFHQ
 * S_mean_std and BPE vocabulary from ../shared. Each is written with the project's own torch writer.
 */
import { copyFile, mkdir, stat, writeFile } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { VIT_B_32 } from '../src/clip/config.js';
import * as E from '../src/engine/index.js';
import { randomWeights, resolveGeneratorConfig } from '../src/generator/index.js';
import { toRosinality } from '../src/generator/weights_rosinality.js';
import { encodeNpy } from '../src/io/tensors/npy.js';
import { saveTorch, saveTorchStateDict } from '../src/io/tensors/torch_write.js';
import { randomE4eTensors } from './invert.js';
import { randomNormal, randomUnitRows } from './util.js';

const SHARED = '../shared';
/** FFHQ fs3 rows: the conv channels at <= 128 px of config-f (StyleCLIP global_torch). */
const FS3_ROWS = 5376;

/** The files written, by registry name: [file name, writer]. */
type Writer = (path: string) => Promise<void>;

let seed = 100;
const rnd = (shape: number[], scale: number, offset = 0): E.HostTensor => {
  const data = randomNormal(shape.reduce((a, b) => a * b, 1), seed++, scale);
  if (offset) data.forEach((v, i) => (data[i] = v + offset));
  return E.tensor('float32', shape, data);
};

/** openai/CLIP ViT-B/32 state dict keys and shapes (model.py VisionTransformer + text Transformer), random values. */
function clipStateDict(): Map<string, E.HostTensor> {
  const c = VIT_B_32;
  const sd = new Map<string, E.HostTensor>();
  const block = (p: string, w: number): void => {
    sd.set(`${p}.attn.in_proj_weight`, rnd([3 * w, w], w ** -0.5));
    sd.set(`${p}.attn.in_proj_bias`, rnd([3 * w], 0.01));
    sd.set(`${p}.attn.out_proj.weight`, rnd([w, w], w ** -0.5));
    sd.set(`${p}.attn.out_proj.bias`, rnd([w], 0.01));
    sd.set(`${p}.ln_1.weight`, rnd([w], 0.05, 1));
    sd.set(`${p}.ln_1.bias`, rnd([w], 0.05));
    sd.set(`${p}.mlp.c_fc.weight`, rnd([4 * w, w], w ** -0.5));
    sd.set(`${p}.mlp.c_fc.bias`, rnd([4 * w], 0.01));
    sd.set(`${p}.mlp.c_proj.weight`, rnd([w, 4 * w], (4 * w) ** -0.5));
    sd.set(`${p}.mlp.c_proj.bias`, rnd([w], 0.01));
    sd.set(`${p}.ln_2.weight`, rnd([w], 0.05, 1));
    sd.set(`${p}.ln_2.bias`, rnd([w], 0.05));
  };
  const vw = c.visionWidth;
  const tw = c.transformerWidth;
  const grid = c.imageResolution / c.visionPatchSize;
  sd.set('positional_embedding', rnd([c.contextLength, tw], 0.01));
  sd.set('text_projection', rnd([tw, c.embedDim], tw ** -0.5));
  sd.set('logit_scale', E.tensor('float32', [], Float32Array.of(Math.log(100))));
  sd.set('visual.class_embedding', rnd([vw], vw ** -0.5));
  sd.set('visual.positional_embedding', rnd([grid * grid + 1, vw], vw ** -0.5));
  sd.set('visual.proj', rnd([vw, c.embedDim], vw ** -0.5));
  sd.set('visual.conv1.weight', rnd([vw, 3, c.visionPatchSize, c.visionPatchSize], (3 * c.visionPatchSize ** 2) ** -0.5));
  sd.set('visual.ln_pre.weight', rnd([vw], 0.05, 1));
  sd.set('visual.ln_pre.bias', rnd([vw], 0.05));
  for (let i = 0; i < c.visionLayers; i++) block(`visual.transformer.resblocks.${i}`, vw);
  sd.set('visual.ln_post.weight', rnd([vw], 0.05, 1));
  sd.set('visual.ln_post.bias', rnd([vw], 0.05));
  for (let i = 0; i < c.transformerLayers; i++) block(`transformer.resblocks.${i}`, tw);
  sd.set('token_embedding.weight', rnd([c.vocabSize, tw], 0.02));
  sd.set('ln_final.weight', rnd([tw], 0.05, 1));
  sd.set('ln_final.bias', rnd([tw], 0.05));
  return sd;
}

function generatorTensors(): { gEma: Map<string, E.HostTensor>; latentAvg: E.HostTensor } {
  const config = resolveGeneratorConfig({ resolution: 1024, wDim: 512, mappingLayers: 8, channelMultiplier: 2 });
  return { gEma: toRosinality(randomWeights(config, 2024), config), latentAvg: rnd([512], 0.5) };
}

/** The cache's files: registry name -> [file, writer]. */
function writers(): Record<string, [string, Writer]> {
  let gen: ReturnType<typeof generatorTensors> | undefined;
  const g = () => (gen ??= generatorTensors());
  return {
    'stylegan2-ffhq-config-f': ['stylegan2-ffhq-config-f.pt', (p) => saveTorch(p, { dict: [['g_ema', { dict: [...g().gEma], ordered: true }], ['latent_avg', g().latentAvg]] })],
    'clip-vit-b32': ['ViT-B-32.pt', (p) => saveTorchStateDict(p, clipStateDict())],
    'clip-bpe-vocab': ['bpe_simple_vocab_16e6.txt.gz', (p) => copyFile(join(SHARED, 'data', 'clip', 'bpe_simple_vocab_16e6.txt.gz'), p)],
    'fs3-ffhq-vit-b32': ['fs3.npy', (p) => writeFile(p, encodeNpy(randomUnitRows(FS3_ROWS, 512)))],
    'stylespace-stats-ffhq': ['S_mean_std', (p) => copyFile(join(SHARED, 'data', 'stylespace', 'ffhq_S_mean_std'), p)],
    'e4e-ffhq': ['e4e_ffhq_encode.pt', (p) => {
      const enc = randomE4eTensors();
      const state: [string, E.HostTensor][] = [...enc].map(([k, v]) => [k.slice('state_dict.'.length), v]);
      for (const [k, v] of g().gEma) state.push([`decoder.${k}`, v]);
      const opts: [string, string | number | boolean][] = [['encoder_type', 'Encoder4Editing'], ['start_from_latent_avg', true], ['stylegan_size', 1024], ['dataset_type', 'ffhq_encode']];
      return saveTorch(p, { dict: [['state_dict', { dict: state, ordered: true }], ['opts', { dict: opts }], ['latent_avg', rnd([18, 512], 0.5)]] });
    }],
  };
}

/**
 * Writes the models into `<home>/models/<name>/<file>` (those not there yet) and a manifest naming them with their
 * sizes (digests unknown: present means the size matches); returns the manifest path.
 */
export async function writeColdStartCache(home: string): Promise<string> {
  const manifest = JSON.parse(readFileSync(join('models', 'manifest.json'), 'utf8')) as { models: { name: string; files: { name: string; size: number | null; sha256: string | null }[] }[] };
  const ws = writers();
  for (const [name, [file, write]] of Object.entries(ws)) {
    const dir = join(home, 'models', name);
    const path = join(dir, file);
    if (!existsSync(path)) {
      await mkdir(dir, { recursive: true });
      await write(path);
    }
    const entry = manifest.models.find((m) => m.name === name)!;
    entry.files = [{ ...entry.files.find((f) => f.name === file)!, size: (await stat(path)).size, sha256: null }];
  }
  const out = join(home, 'manifest.json');
  await writeFile(out, JSON.stringify(manifest));
  return out;
}
