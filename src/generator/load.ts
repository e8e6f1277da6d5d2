/**
 * Generator checkpoint files -> our weights and config. Recognised layouts:
 * - rosinality/stylegan2-pytorch `.pt` (zip or legacy torch.save; `g_ema` + `latent_avg`): weights_rosinality.ts; the
 *   same generator as `state_dict.decoder.*` inside StyleCLIP mapper, e4e and pSp checkpoints
 * - NVIDIA stylegan2-ada-pytorch network pickles `.pkl` (`G_ema`): weights_nvidia.ts
 * - our converted safetensors (`styleclip models convert`): weights in our naming, config in the metadata
 * Anything else is an InputError that says what the file looks like (e.g. a CLIP checkpoint) and what is expected.
 */
import { convertedOf, readCheckpoint } from '../io/tensors/checkpoint.js';
import type { HostTensor } from '../engine/tensor.js';
import { InputError } from '../errors.js';
import type { ConvertedCheckpoint } from '../io/tensors/converted.js';
import { resolveGeneratorConfig, type GeneratorConfig, type PartialConfig } from './config.js';
import { NVIDIA_G_EMA, fromNvidia } from './weights_nvidia.js';
import { checkWeights, type LoadedWeights } from './layout.js';
import { DECODER, G_EMA, fromRosinality } from './weights_rosinality.js';

/** Key prefixes of CLIP checkpoints: openai/CLIP state dicts and TorchScript archives, Hugging Face CLIPModel. */
const CLIP_MARKERS = ['visual.', 'token_embedding.', 'vision_model.', 'text_model.'];

const EXPECTED = `give a rosinality/stylegan2-pytorch .pt (with '${G_EMA}') or an NVIDIA stylegan2-ada-pytorch .pkl (with '${NVIDIA_G_EMA}')`;

function topLevel(keys: Iterable<string>): string[] {
  return [...new Set([...keys].map((k) => k.split('.')[0]))];
}

/** Picks the layout from the flat tensor names and maps it to our weights. */
export function weightsFromTensors(tensors: ReadonlyMap<string, HostTensor>, what: string): LoadedWeights {
  const keys = [...tensors.keys()];
  if (keys.some((k) => k.startsWith(`${G_EMA}.`))) return fromRosinality(tensors, what);
  if (keys.some((k) => k.startsWith(`${DECODER}.`))) return fromRosinality(tensors, what, DECODER);
  if (keys.some((k) => k.startsWith(`${NVIDIA_G_EMA}.`))) return fromNvidia(tensors, what);
  if (keys.some((k) => CLIP_MARKERS.some((m) => k.startsWith(m)))) {
    throw new InputError(`${what} is a CLIP model checkpoint, not a StyleGAN2 generator; ${EXPECTED}`);
  }
  const top = topLevel(keys);
  const found = top.length ? `it holds ${top.slice(0, 8).join(', ')}${top.length > 8 ? ', ...' : ''}` : 'it holds no tensors';
  throw new InputError(`${what} is not a StyleGAN2 generator checkpoint (${found}); ${EXPECTED}`);
}

/** A converted file's generator: the config from its metadata validated, every weight checked. */
export function fromConverted(c: ConvertedCheckpoint, what: string): LoadedWeights {
  if (c.kind !== 'generator') throw new InputError(`${what} is a converted ${c.kind} model, not a StyleGAN2 generator; ${EXPECTED}`);
  let config: GeneratorConfig;
  try {
    config = resolveGeneratorConfig(c.config as PartialConfig);
  } catch (e) {
    throw new InputError(`${what}: bad generator config in its metadata (${(e as Error).message})`);
  }
  checkWeights(c.tensors, config);
  return { config, weights: c.tensors };
}

/** Reads a generator checkpoint file (any recognised layout). */
export async function loadGeneratorWeights(path: string): Promise<LoadedWeights> {
  const ckpt = await readCheckpoint(path, 'generator checkpoint');
  const converted = convertedOf(ckpt, path);
  return converted ? fromConverted(converted, path) : weightsFromTensors(ckpt.tensors, path);
}
