/**
 * CLIP ViT hyperparameters, derived from tensor shapes exactly as `build_model` in openai/CLIP `clip/model.py` does
 * (Radford et al. 2021, "Learning Transferable Visual Models From Natural Language Supervision", arXiv:2103.00020):
 *   vision_width      = visual.conv1.weight.shape[0]
 *   vision_layers     = number of distinct visual.transformer.resblocks.N
 *   vision_patch_size = visual.conv1.weight.shape[-1]
 *   grid_size         = round((visual.positional_embedding.shape[0] - 1) ** 0.5)
 *   image_resolution  = vision_patch_size * grid_size
 *   embed_dim         = text_projection.shape[1]
 *   context_length    = positional_embedding.shape[0]
 *   vocab_size        = token_embedding.weight.shape[0]
 *   transformer_width = ln_final.weight.shape[0]
 *   transformer_heads = transformer_width // 64;  vision_heads = vision_width // 64 (VisionTransformer in CLIP.__init__)
 *   transformer_layers = number of distinct transformer.resblocks.N
 *   MLP widths        = <tower>.resblocks.0.mlp.c_fc.weight.shape[0] (4 × width in OpenAI's models; open_clip's
 *                       `mlp_ratio` may differ)
 * For the ModifiedResNet image tower (RN50, RN101, RN50x4, ...) `build_model` derives instead:
 *   vision_layers     = (number of distinct visual.layer{1..4}.N blocks)
 *   vision_width      = visual.layer1.0.conv1.weight.shape[0];   vision_heads = vision_width * 32 // 64
 *   image_resolution  = round((visual.attnpool.positional_embedding.shape[0] - 1) ** 0.5) * 32
 * plus the two things shapes cannot tell: the MLP activation (QuickGELU in OpenAI's weights, exact GELU in most
 * open_clip models) and the logit scale, which is the checkpoint's learned `logit_scale` exponentiated.
 */
import type { HostTensor } from '../engine/tensor.js';
import { InputError } from '../errors.js';

/** Attention head width of every CLIP model: `heads = width // 64` in `build_model` / `CLIP.__init__`. */
const CLIP_HEAD_WIDTH = 64;

/** Initial `logit_scale` of CLIP training, `np.log(1 / 0.07)` (CLIP.__init__); the released models end at ln(100). */
export const CLIP_INIT_LOGIT_SCALE = Math.log(1 / 0.07);

/** torch.nn.LayerNorm default epsilon, used by every CLIP LayerNorm. */
export const CLIP_LN_EPS = 1e-5;

/** MLP hidden width / model width in every OpenAI CLIP (ResidualAttentionBlock: `d_model * 4`). */
const CLIP_MLP_RATIO = 4;

/** QuickGELU constant: x * sigmoid(1.702 x) (openai/CLIP model.py `QuickGELU`; Hendrycks & Gimpel 2016, §2). */
export const QUICK_GELU_ALPHA = 1.702;

/** `quick_gelu` for OpenAI's weights (and open_clip `*-quickgelu` models), `gelu` (erf form) for other open_clip. */
export type ClipActivation = 'quick_gelu' | 'gelu';

/** The image tower: VisionTransformer (ViT-B/32, ...) or ModifiedResNet (RN50, ...). */
type ClipVisionKind = 'vit' | 'resnet';

/** ModifiedResNet: `heads = width * 32 // 64` (CLIP.__init__). */
const RESNET_HEADS_PER_WIDTH = 32 / CLIP_HEAD_WIDTH;
/** ModifiedResNet's total stride (stem 4 x three strided layers): `image_resolution = output_width * 32`. */
export const RESNET_TOTAL_STRIDE = 32;

export interface ClipConfig {
  readonly visionKind: ClipVisionKind;
  /** ModifiedResNet block counts of layer1..layer4 (vision_layers as a tuple); empty for a ViT. */
  readonly visionBlocks: readonly number[];
  /** Joint embedding size (embed_dim). */
  readonly embedDim: number;
  /** Input image side (image_resolution). */
  readonly imageResolution: number;
  /** ViT: transformer blocks; ResNet: all Bottleneck blocks (the sum of visionBlocks). */
  readonly visionLayers: number;
  /** ViT: the token width; ResNet: the base width (64 for RN50; layer widths w, 2w, 4w, 8w). */
  readonly visionWidth: number;
  /** ViT: attention heads; ResNet: the attention pool's heads. */
  readonly visionHeads: number;
  /** ViT: the patch size; ResNet: the tower's total stride 32 (input pixels per attention-pool cell). */
  readonly visionPatchSize: number;
  /** ViT MLP width; 0 for a ResNet (it has no vision MLP). */
  readonly visionMlpWidth: number;
  /** Text positions (context_length). */
  readonly contextLength: number;
  readonly vocabSize: number;
  readonly transformerWidth: number;
  readonly transformerHeads: number;
  readonly transformerLayers: number;
  readonly transformerMlpWidth: number;
  readonly activation: ClipActivation;
  /** Multiplier of the cosine similarities: exp(logit_scale). */
  readonly logitScale: number;
}

/** ViT-B/32 as released by OpenAI (clip.available_models() "ViT-B/32"; model card). */
export const VIT_B_32: ClipConfig = Object.freeze({
  visionKind: 'vit',
  visionBlocks: [],
  embedDim: 512,
  imageResolution: 224,
  visionLayers: 12,
  visionWidth: 768,
  visionHeads: 768 / CLIP_HEAD_WIDTH,
  visionPatchSize: 32,
  visionMlpWidth: 768 * CLIP_MLP_RATIO,
  contextLength: 77,
  vocabSize: 49408,
  transformerWidth: 512,
  transformerHeads: 512 / CLIP_HEAD_WIDTH,
  transformerLayers: 12,
  transformerMlpWidth: 512 * CLIP_MLP_RATIO,
  activation: 'quick_gelu',
  logitScale: 100,
});

/** ViT-B/32 defaults overridden by `partial`; heads and MLP widths follow the widths unless given. Frozen. */
export function resolveClipConfig(partial: Partial<ClipConfig> = {}): ClipConfig {
  const given = Object.fromEntries(Object.entries(partial).filter(([, v]) => v !== undefined)) as Partial<ClipConfig>;
  const visionWidth = given.visionWidth ?? VIT_B_32.visionWidth;
  const transformerWidth = given.transformerWidth ?? VIT_B_32.transformerWidth;
  const cfg: ClipConfig = {
    ...VIT_B_32,
    visionHeads: Math.floor(visionWidth / CLIP_HEAD_WIDTH),
    transformerHeads: Math.floor(transformerWidth / CLIP_HEAD_WIDTH),
    visionMlpWidth: visionWidth * CLIP_MLP_RATIO,
    transformerMlpWidth: transformerWidth * CLIP_MLP_RATIO,
    ...given,
  };
  validate(cfg);
  return Object.freeze(cfg);
}

function validate(c: ClipConfig): void {
  const ints: (keyof ClipConfig)[] = [
    'embedDim', 'imageResolution', 'visionLayers', 'visionWidth', 'visionHeads', 'visionPatchSize',
    'contextLength', 'vocabSize', 'transformerWidth', 'transformerHeads', 'transformerLayers', 'transformerMlpWidth',
    ...(c.visionKind === 'vit' ? (['visionMlpWidth'] as const) : []),
  ];
  if (c.visionKind !== 'vit' && c.visionKind !== 'resnet') throw new InputError(`CLIP config: visionKind must be 'vit' or 'resnet', got '${String(c.visionKind)}'`);
  if (c.visionKind === 'resnet' && (c.visionBlocks.length !== 4 || c.visionBlocks.some((b) => !Number.isInteger(b) || b < 1))) {
    throw new InputError(`CLIP config: a ResNet image tower needs 4 positive block counts, got [${c.visionBlocks.join(', ')}]`);
  }
  for (const k of ints) {
    const v = c[k] as number;
    if (!Number.isInteger(v) || v < 1) throw new InputError(`CLIP config: ${k} must be a positive integer, got ${v}`);
  }
  if (c.visionWidth % c.visionHeads !== 0 || c.transformerWidth % c.transformerHeads !== 0) {
    throw new InputError(`CLIP config: widths ${c.visionWidth}/${c.transformerWidth} must divide by their head counts`);
  }
  if (c.imageResolution % c.visionPatchSize !== 0) {
    throw new InputError(`CLIP config: image resolution ${c.imageResolution} is not a multiple of patch ${c.visionPatchSize}`);
  }
  if (c.activation !== 'quick_gelu' && c.activation !== 'gelu') {
    throw new InputError(`CLIP config: activation must be 'quick_gelu' or 'gelu', got '${String(c.activation)}'`);
  }
  if (!(c.logitScale > 0) || !Number.isFinite(c.logitScale)) {
    throw new InputError(`CLIP config: logit scale must be positive and finite, got ${c.logitScale}`);
  }
}

/** Number of distinct `<prefix>N.` blocks among the keys. */
function countBlocks(names: Iterable<string>, prefix: string): number {
  const ids = new Set<number>();
  for (const k of names) {
    if (!k.startsWith(prefix)) continue;
    const m = /^(\d+)\./.exec(k.slice(prefix.length));
    if (m) ids.add(Number(m[1]));
  }
  return ids.size;
}

/** What shapes cannot tell: the activation, and head counts of models whose head width is not 64 (open_clip). */
export type ClipOverrides = Partial<Pick<ClipConfig, 'activation' | 'visionHeads' | 'transformerHeads'>>;

/** A tensor only the ModifiedResNet tower has (build_model: `vit = "visual.proj" in state_dict`, else ResNet). */
const RESNET_MARKER = 'visual.layer1.0.conv1.weight';

type ShapeOf = (name: string) => readonly number[];

/** The vision fields of a ViT tower, as build_model derives them. */
function vitVision(shape: ShapeOf, names: Iterable<string>): Partial<ClipConfig> {
  const conv = shape('visual.conv1.weight');
  const grid = Math.round(Math.sqrt(shape('visual.positional_embedding')[0] - 1));
  return {
    visionKind: 'vit',
    visionBlocks: [],
    imageResolution: conv[3] * grid,
    visionLayers: countBlocks(names, 'visual.transformer.resblocks.'),
    visionWidth: conv[0],
    visionPatchSize: conv[3],
    visionMlpWidth: shape('visual.transformer.resblocks.0.mlp.c_fc.weight')[0],
  };
}

/** The vision fields of a ModifiedResNet tower, as build_model derives them. */
function resnetVision(shape: ShapeOf, names: readonly string[]): Partial<ClipConfig> {
  const blocks = [1, 2, 3, 4].map((b) => countBlocks(names, `visual.layer${b}.`));
  const width = shape(RESNET_MARKER)[0];
  const grid = Math.round(Math.sqrt(shape('visual.attnpool.positional_embedding')[0] - 1));
  return {
    visionKind: 'resnet',
    visionBlocks: Object.freeze(blocks),
    imageResolution: grid * RESNET_TOTAL_STRIDE,
    visionLayers: blocks.reduce((a, b) => a + b, 0),
    visionWidth: width,
    visionHeads: width * RESNET_HEADS_PER_WIDTH,
    visionPatchSize: RESNET_TOTAL_STRIDE,
    visionMlpWidth: 0,
  };
}

/** Hyperparameters of OpenAI-named float32 weights (see the header), as `build_model` derives them. */
export function configFromWeights(weights: ReadonlyMap<string, HostTensor>, overrides: ClipOverrides = {}): ClipConfig {
  const shape = (name: string): readonly number[] => {
    const t = weights.get(name);
    if (!t) throw new InputError(`CLIP weights: missing tensor '${name}'`);
    return t.shape;
  };
  const names = [...weights.keys()];
  shape('logit_scale');
  return resolveClipConfig({
    embedDim: shape('text_projection')[1],
    ...(weights.has(RESNET_MARKER) ? resnetVision(shape, names) : vitVision(shape, names)),
    contextLength: shape('positional_embedding')[0],
    vocabSize: shape('token_embedding.weight')[0],
    transformerWidth: shape('ln_final.weight')[0],
    transformerLayers: countBlocks(weights.keys(), 'transformer.resblocks.'),
    transformerMlpWidth: shape('transformer.resblocks.0.mlp.c_fc.weight')[0],
    activation: 'quick_gelu',
    logitScale: Math.exp(Number(weights.get('logit_scale')!.data[0])),
    ...overrides,
  });
}
