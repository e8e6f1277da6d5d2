/**
 * CLIP checkpoint loading: every supported layout is mapped onto openai/CLIP state-dict names in float32, the
 * hyperparameters are derived from the shapes (config.ts), and every tensor is checked: each one must be used and
 * have exactly the shape the config implies, so a truncated, foreign or unsupported checkpoint fails with a clear
 * InputError before any graph is built.
 *
 * Layouts:
 * - OpenAI TorchScript `.pt` as downloaded by `clip.load` (fp16 tensors plus int metadata `input_resolution`,
 *   `context_length`, `vocab_size`): widened to float32, as `clip.load(..., device="cpu")` does with `model.float()`.
 * - A plain `torch.save(model.state_dict())` of openai/CLIP's `CLIP` (mixed fp16/fp32 after `convert_weights`).
 * - open_clip checkpoints: the same names as OpenAI's for ViT models, optionally wrapped as training checkpoints
 *   (`{"epoch", "state_dict": {"module.visual...": ...}}`, open_clip `src/training/main.py`) or stored as
 *   `open_clip_model.safetensors`; their MLP activation is exact GELU unless the model name ends in `-quickgelu`,
 *   which the file does not record: pass `activation` to override.
 * - Hugging Face `transformers` CLIPModel safetensors (weights_hf.ts), with `config.json` read when beside the file.
 */
import { convertedOf, readCheckpoint } from '../io/tensors/checkpoint.js';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { toFloat32, type HostTensor } from '../engine/tensor.js';
import { InputError } from '../errors.js';
import type { ConvertedCheckpoint } from '../io/tensors/converted.js';
import { applyRules, type MapRule } from '../io/tensors/weight_map.js';
import { configFromWeights, type ClipConfig, type ClipOverrides } from './config.js';
import { resnetShapes } from './resnet.js';
import { HF_MARKER, fromHuggingFace, overridesFromHfConfig } from './weights_hf.js';

export class ClipCheckpointError extends InputError {
  override name = 'ClipCheckpointError';
}

type ClipCheckpointFormat = 'openai-torchscript' | 'state-dict' | 'open_clip' | 'huggingface';

export type LoadClipOptions = ClipOverrides;

export interface LoadedClip {
  readonly format: ClipCheckpointFormat;
  /** openai/CLIP state-dict names -> float32 tensors, exactly the set `expectedShapes(config)` lists. */
  readonly weights: Map<string, HostTensor>;
  readonly config: ClipConfig;
}

/** A tensor every OpenAI-layout CLIP has (the ViT patch conv, or the ResNet's first stem conv). */
const OPENAI_MARKER = 'visual.conv1.weight';
/** Integer metadata in OpenAI's TorchScript downloads (clip.py reads them; `build_model` deletes them). */
const OPENAI_METADATA: Readonly<Record<string, (c: ClipConfig) => number>> = {
  input_resolution: (c) => c.imageResolution,
  context_length: (c) => c.contextLength,
  vocab_size: (c) => c.vocabSize,
};
/**
 * Buffers no computation reads: causal masks some exports carry (the mask is rebuilt from context_length, model.ts
 * `causalMask`) and BatchNorm's `num_batches_tracked` step counters (int64) of the ResNet towers.
 */
const UNUSED_BUFFER = /(^|\.)(attn_mask|num_batches_tracked)$/;
/** open_clip training-checkpoint wrapper and DistributedDataParallel prefixes. */
const WRAPPER_PREFIX = 'state_dict.';
const DDP_PREFIX = 'module.';
const STYLEGAN_MARKERS = ['g_ema.', 'generator.', 'mapping.', 'synthesis.', 'style.'];
const HF_CONFIG_FILE = 'config.json';
/** How many offending names an error message lists. */
const LIST_LIMIT = 6;

function listNames(names: readonly string[]): string {
  const shown = names.slice(0, LIST_LIMIT).join(', ');
  return names.length > LIST_LIMIT ? `${shown}, ... (${names.length} in all)` : shown;
}

function blockShapes(prefix: string, width: number, mlp: number, layers: number): [string, number[]][] {
  const out: [string, number[]][] = [];
  for (let i = 0; i < layers; i++) {
    const b = `${prefix}.${i}`;
    out.push(
      [`${b}.attn.in_proj_weight`, [3 * width, width]], [`${b}.attn.in_proj_bias`, [3 * width]],
      [`${b}.attn.out_proj.weight`, [width, width]], [`${b}.attn.out_proj.bias`, [width]],
      [`${b}.ln_1.weight`, [width]], [`${b}.ln_1.bias`, [width]],
      [`${b}.mlp.c_fc.weight`, [mlp, width]], [`${b}.mlp.c_fc.bias`, [mlp]],
      [`${b}.mlp.c_proj.weight`, [width, mlp]], [`${b}.mlp.c_proj.bias`, [width]],
      [`${b}.ln_2.weight`, [width]], [`${b}.ln_2.bias`, [width]],
    );
  }
  return out;
}

/** The ViT image tower's tensors (openai/CLIP model.py `VisionTransformer`). */
function vitShapes(c: ClipConfig): [string, number[]][] {
  const wv = c.visionWidth;
  const grid = c.imageResolution / c.visionPatchSize;
  return [
    ['visual.class_embedding', [wv]],
    ['visual.positional_embedding', [grid * grid + 1, wv]],
    ['visual.proj', [wv, c.embedDim]],
    ['visual.conv1.weight', [wv, 3, c.visionPatchSize, c.visionPatchSize]],
    ['visual.ln_pre.weight', [wv]], ['visual.ln_pre.bias', [wv]],
    ...blockShapes('visual.transformer.resblocks', wv, c.visionMlpWidth, c.visionLayers),
    ['visual.ln_post.weight', [wv]], ['visual.ln_post.bias', [wv]],
  ];
}

/**
 * Every tensor of an OpenAI-layout CLIP with its shape (openai/CLIP model.py `CLIP`): the image tower's (ViT, or
 * ModifiedResNet in resnet.ts) and the text transformer's.
 */
export function expectedShapes(c: ClipConfig): Map<string, number[]> {
  const wt = c.transformerWidth;
  return new Map<string, number[]>([
    ...(c.visionKind === 'resnet' ? resnetShapes(c) : vitShapes(c)),
    ['positional_embedding', [c.contextLength, wt]],
    ['text_projection', [wt, c.embedDim]],
    ['logit_scale', []],
    ['token_embedding.weight', [c.vocabSize, wt]],
    ...blockShapes('transformer.resblocks', wt, c.transformerMlpWidth, c.transformerLayers),
    ['ln_final.weight', [wt]], ['ln_final.bias', [wt]],
  ]);
}

/**
 * The rule table of an OpenAI-layout checkpoint: every tensor `config` implies, under its own name, with its shape
 * (the one mapping mechanism of io/weight_map.ts; other layouts are renamed onto these names first).
 */
function openAiRules(config: ClipConfig): MapRule[] {
  return [...expectedShapes(config)].map(([name, shape]) => ({ src: name, shape, dst: name }));
}

/** `weights` mapped through `openAiRules(config)`: throws unless every tensor is used and has its expected shape. */
function checkClipWeights(weights: ReadonlyMap<string, HostTensor>, config: ClipConfig, where: string): Map<string, HostTensor> {
  try {
    return applyRules(weights, openAiRules(config), `${where}: not a complete ${config.visionKind === 'resnet' ? 'ResNet' : 'ViT'} CLIP checkpoint`);
  } catch (e) {
    if (e instanceof InputError) throw new ClipCheckpointError(`${e.message} (an unsupported CLIP variant?)`);
    throw e;
  }
}

/** Strips open_clip's training wrapper (`state_dict.`) and DDP's `module.` prefix; reports whether any was present. */
function unwrap(tensors: ReadonlyMap<string, HostTensor>): { tensors: Map<string, HostTensor>; wrapped: boolean } {
  let entries = [...tensors];
  let wrapped = false;
  for (const prefix of [WRAPPER_PREFIX, DDP_PREFIX]) {
    const inner = entries.filter(([k]) => k.startsWith(prefix));
    if (inner.length > 0 && (prefix === WRAPPER_PREFIX || inner.length === entries.length)) {
      entries = inner.map(([k, v]) => [k.slice(prefix.length), v]);
      wrapped = true;
    }
  }
  return { tensors: new Map(entries), wrapped };
}

function notClip(names: readonly string[], where: string): ClipCheckpointError {
  const hint = names.some((k) => STYLEGAN_MARKERS.some((m) => k.startsWith(m))) ? ' (it looks like a StyleGAN generator)' : '';
  return new ClipCheckpointError(
    `${where}: not a CLIP checkpoint${hint}: expected tensors such as ${OPENAI_MARKER} (OpenAI/open_clip) or ${HF_MARKER} ` +
      `(Hugging Face), found ${names.length ? listNames(names) : 'no tensors'}`,
  );
}

/** OpenAI-layout tensors -> float32 weights, with the TorchScript metadata split off. */
function fromOpenAi(tensors: ReadonlyMap<string, HostTensor>): { weights: Map<string, HostTensor>; metadata: Map<string, number> } {
  const weights = new Map<string, HostTensor>();
  const metadata = new Map<string, number>();
  for (const [k, t] of tensors) {
    if (k in OPENAI_METADATA && t.shape.length === 0) metadata.set(k, Number(t.data[0]));
    else if (!UNUSED_BUFFER.test(k)) weights.set(k, t);
  }
  return { weights, metadata };
}

function widen(weights: Map<string, HostTensor>, where: string): Map<string, HostTensor> {
  const out = new Map<string, HostTensor>();
  for (const [k, t] of weights) {
    if (!['float16', 'bfloat16', 'float32', 'float64'].includes(t.dtype)) {
      throw new ClipCheckpointError(`${where}: tensor ${k} has dtype ${t.dtype}; CLIP weights are floating point`);
    }
    out.set(k, toFloat32(t));
  }
  return out;
}

interface TensorSource {
  readonly tensors: ReadonlyMap<string, HostTensor>;
  /** 'torchscript' for TorchScript archives; anything else is treated as a state dict. */
  readonly container: 'torchscript' | 'torch' | 'safetensors';
  /** Overrides read from a file beside the checkpoint (HF config.json). */
  readonly sideOverrides?: ClipOverrides;
}

/** Maps, widens, derives the config and checks a checkpoint's tensors. Options override what shapes cannot tell. */
export function clipFromTensors(src: TensorSource, where: string, options: LoadClipOptions = {}): LoadedClip {
  const { tensors, wrapped } = unwrap(src.tensors);
  let format: ClipCheckpointFormat;
  let weights: Map<string, HostTensor>;
  let metadata = new Map<string, number>();
  if (tensors.has(HF_MARKER)) {
    const hf = fromHuggingFace(tensors);
    if (hf.unmapped.length) throw new ClipCheckpointError(`${where}: unsupported Hugging Face CLIP tensors ${listNames(hf.unmapped)}`);
    format = 'huggingface';
    weights = hf.weights;
  } else if (tensors.has(OPENAI_MARKER)) {
    format = src.container === 'torchscript' ? 'openai-torchscript' : wrapped || src.container === 'safetensors' ? 'open_clip' : 'state-dict';
    ({ weights, metadata } = fromOpenAi(tensors));
  } else {
    throw notClip([...tensors.keys()], where);
  }
  weights = widen(weights, where);
  const defaults: ClipOverrides = { activation: format === 'open_clip' ? 'gelu' : 'quick_gelu' };
  let config: ClipConfig;
  try {
    config = configFromWeights(weights, { ...defaults, ...src.sideOverrides, ...stripUndefined(options) });
  } catch (e) {
    if (e instanceof InputError) throw new ClipCheckpointError(`${where}: ${e.message}`);
    throw e;
  }
  weights = checkClipWeights(weights, config, where);
  for (const [k, v] of metadata) {
    const want = OPENAI_METADATA[k](config);
    if (v !== want) throw new ClipCheckpointError(`${where}: ${k} is ${v} but the weights imply ${want}; the checkpoint is inconsistent`);
  }
  return { format, weights, config };
}

function stripUndefined(o: ClipOverrides): ClipOverrides {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as ClipOverrides;
}

async function hfConfigBeside(path: string): Promise<ClipOverrides> {
  try {
    return overridesFromHfConfig(JSON.parse(await readFile(join(dirname(path), HF_CONFIG_FILE), 'utf8')));
  } catch {
    return {};
  }
}

/** Loads a CLIP checkpoint file (or its bytes): TorchScript / state-dict `.pt`, open_clip, or HF safetensors. */
/** A converted file's CLIP: rebuilt through the usual checks, and its stored config must match its tensors. */
export function clipFromConverted(c: ConvertedCheckpoint, where: string): LoadedClip {
  if (c.kind !== 'clip') throw new ClipCheckpointError(`${where} is a converted ${c.kind} model, not CLIP; pass a CLIP checkpoint`);
  const stored = c.config as ClipConfig;
  const overrides = { activation: stored.activation, visionHeads: stored.visionHeads, transformerHeads: stored.transformerHeads };
  const clip = clipFromTensors({ tensors: c.tensors, container: 'safetensors' }, where, overrides);
  if (JSON.stringify(clip.config) !== JSON.stringify(stored)) {
    throw new ClipCheckpointError(`${where}: the config in its metadata does not match its tensors; convert the original checkpoint again`);
  }
  return clip;
}

export async function loadClipCheckpoint(src: string | Uint8Array, options: LoadClipOptions = {}): Promise<LoadedClip> {
  const where = typeof src === 'string' ? src : 'CLIP checkpoint';
  const ckpt = await readCheckpoint(src, 'CLIP checkpoint');
  const converted = convertedOf(ckpt, where);
  if (converted) return clipFromConverted(converted, where);
  const sideOverrides = typeof src === 'string' && ckpt.container === 'safetensors' && ckpt.tensors.has(HF_MARKER) ? await hfConfigBeside(src) : {};
  return clipFromTensors({ tensors: ckpt.tensors, container: ckpt.container, sideOverrides }, where, options);
}
