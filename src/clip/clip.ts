/**
 * A loaded CLIP model: its weights (openai/CLIP state-dict names), its config, and one cached onnxruntime session per
 * (encoder, chunk batch size). The towers are graphs in model.ts (ViT, text) and resnet.ts (ModifiedResNet).
 */
import { inversePermutation, mapBatches, takeRows } from '../engine/batching.js';
import { Graph, SessionCache, bindWeights, type HostTensor, type SessionOptions, type Value, type WeightMap } from '../engine/index.js';
import type { Pixels } from '../io/images/image.js';
import { findModel, loadManifest, resolveModelPath } from '../io/models/registry.js';
import type { ClipActivation, ClipConfig } from './config.js';
import { asInt32, byLength, eotPositions, eotRowIndices, leadingColumns, textEncoder, vitImageEncoder, TEXT_LENGTHS } from './model.js';
import { clipPreprocessBatch } from './preprocess.js';
import { clipInput, styleclipPoolLands, type ClipInputMode } from './preprocess_graph.js';
import { resnetImageEncoder } from './resnet.js';
import { loadClipCheckpoint, type LoadClipOptions } from './weights.js';
import { cosineLogits, type Logits } from './zeroshot.js';

/**
 * What a registry entry knows that its file does not: open_clip state dicts (LAION's) use exact GELU but carry
 * OpenAI's tensor names, so only the entry's format `open_clip` tells them from OpenAI's QuickGELU weights.
 */
async function registryActivation(src: string | Uint8Array): Promise<ClipActivation | undefined> {
  if (typeof src !== 'string') return undefined;
  return findModel(await loadManifest(), src)?.format === OPEN_CLIP_FORMAT ? 'gelu' : undefined;
}

/** Registry format of open_clip checkpoints (models/manifest.json). */
export const OPEN_CLIP_FORMAT = 'open_clip';

/**
 * Batch sizes the encoder sessions are built for: larger batches run in chunks (engine/batching.ts), so a process
 * holds at most three sessions per encoder, each with its own copy of the weights, whatever batch sizes it is given.
 */
export const CLIP_BATCHES = [16, 4, 1];

/** A loaded CLIP model: weights, config, and one cached session per (encoder, chunk batch size). */
export class Clip {
  private readonly sessions: SessionCache;

  constructor(
    readonly weights: WeightMap,
    readonly config: ClipConfig,
    options: SessionOptions = {},
  ) {
    this.sessions = new SessionCache(options);
  }

  /** Loads any supported checkpoint (see weights.ts): bytes, a path, or a registry name (`clip-vit-b32`, downloaded on first use). */
  static async load(src: string | Uint8Array, options: LoadClipOptions & SessionOptions = {}): Promise<Clip> {
    const path = typeof src === 'string' ? await resolveModelPath(src, 'clip') : src;
    const activation = options.activation ?? (await registryActivation(src));
    const { weights, config } = await loadClipCheckpoint(path, { ...options, activation });
    return new Clip(weights, config, options);
  }

  /**
   * Adds the image encoder (ViT or ModifiedResNet, as the checkpoint is) into `g` on `pixels` [N,3,R,R]; returns
   * [N, embed_dim]. Differentiable w.r.t. pixels.
   */
  imageEncoder(g: Graph, pixels: Value): Value {
    const tower = this.config.visionKind === 'resnet' ? resnetImageEncoder : vitImageEncoder;
    return tower(bindWeights(g, this.weights, 'CLIP weights'), pixels, this.config);
  }

  /** `_transform(R)` of the checkpoint's own resolution R on decoded images: float32 [N,3,R,R]. */
  preprocess(images: readonly Pixels[]): HostTensor {
    return clipPreprocessBatch(images, this.config.imageResolution);
  }

  /**
   * The differentiable CLIP input of generator images x [N,3,H,W] in [-1,1] at this model's resolution: StyleCLIP's
   * x7 upsample + average pool where it lands on that resolution (224 from any side that is a multiple of 32),
   * Pillow-style bicubic resize + centre crop otherwise (RN50x4's 288, ViT-L/14@336px's 336, ...).
   */
  generatorInput(x: Value, mode: ClipInputMode): Value {
    const size = this.config.imageResolution;
    return clipInput(x, { mode, size, resample: styleclipPoolLands(x.shape[2], x.shape[3], size) ? 'avgpool' : 'bicubic' });
  }

  /** CLIP.encode_image: pixels [N,3,R,R] float32 -> unnormalised embeddings [N, embed_dim]. */
  encodeImage(pixels: HostTensor): Promise<HostTensor> {
    return mapBatches([pixels], CLIP_BATCHES, async ([chunk], n) => {
      const s = await this.sessions.get(`image:${n}`, () => {
        const g = new Graph('clip_image');
        const r = this.config.imageResolution;
        g.output(this.imageEncoder(g, g.input('pixels', 'float32', [n, 3, r, r])), 'image_embeds');
        return g;
      });
      return (await s.run({ pixels: chunk })).image_embeds;
    });
  }

  /**
   * CLIP.encode_text: tokens [N, context] (int32/int64) -> unnormalised embeddings [N, embed_dim]. Under the causal
   * mask a text's EOT output depends on its own tokens only, so rows are encoded shortest first and a chunk whose
   * texts all end within TEXT_LENGTHS[k] tokens runs at that length (exact; a template ensemble's texts end at 9-16
   * tokens: 0.6x the multiplies of one length for all).
   */
  async encodeText(tokens: HostTensor): Promise<HostTensor> {
    const c = tokens.shape[1];
    if (tokens.shape.length !== 2 || c !== this.config.contextLength) {
      throw new Error(`CLIP tokens must be [N,${this.config.contextLength}], got [${tokens.shape.join(',')}]`);
    }
    const order = byLength(eotPositions(tokens));
    const sorted = takeRows(asInt32(tokens), order);
    const embeds = await mapBatches([sorted], CLIP_BATCHES, async ([chunk], b) => {
      const end = Math.max(...eotPositions(chunk)) + 1;
      const length = TEXT_LENGTHS.find((l) => l >= end && l < c) ?? c;
      const s = await this.sessions.get(`text:${b}:${length}`, () => {
        const g = new Graph('clip_text');
        const p = bindWeights(g, this.weights, 'CLIP weights');
        const t = g.input('tokens', 'int32', [b, length]);
        g.output(textEncoder(p, t, g.input('eot', 'int64', [b]), this.config), 'text_embeds');
        return g;
      });
      const cut = leadingColumns(chunk, length);
      return (await s.run({ tokens: cut, eot: eotRowIndices(cut) })).text_embeds;
    }, { pad: true }); // one session per (chunk size, text length): a prompt's 79 templates, 80 rows in chunks of 16
    return takeRows(embeds, inversePermutation(order));
  }

  /** CLIP.forward's logits: logit_scale.exp() × cosine similarity, per image and per text. */
  logits(imageEmbeds: HostTensor, textEmbeds: HostTensor): Logits {
    return cosineLogits(imageEmbeds, textEmbeds, this.config.logitScale);
  }

  async dispose(): Promise<void> {
    await this.sessions.dispose();
  }
}
