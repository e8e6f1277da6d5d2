/**
 * NVIDIA stylegan2-ada-pytorch network pickles (`.pkl`, the `G_ema` generator) -> our weights (layout.ts).
 * src/io/tensors/torch.ts unpickles the persistent modules and flattens them to state_dict names, e.g.
 * `G_ema.mapping.fc0.weight`, `G_ema.synthesis.b8.conv0.affine.weight`; the pickle's `G`, `D` and `augment_pipe`
 * entries are ignored.
 *
 * Semantics from NVlabs/stylegan2-ada-pytorch `training/networks.py` and `torch_utils/ops/conv2d_resample.py`:
 * - `FullyConnectedLayer`: y = x (W * lr_mul / sqrt(in))^T + b * lr_mul; mapping lr_multiplier 0.01 (the
 *   `MappingNetwork` default, which the official configs keep), affines 1.
 *   `MappingNetwork` normalises z by its 2nd moment (PixelNorm) and tracks `w_avg` (our latent_avg).
 * - `SynthesisLayer`: `modulated_conv2d` with the RAW weight (no 1/sqrt(fan_in) gain: demodulation divides it out,
 *   up to the 1e-8 epsilon), noise `noise_const [r,r] * noise_strength []` added after demodulation, then bias and
 *   lrelu * sqrt 2. Up-sampling layers (up=2, flip_weight=False) run conv_transpose2d(x, W^T, stride 2) without a
 *   kernel flip and then the [1,3,3,1] filter with padding 1 and gain 4: the same operator as rosinality's.
 * - `ToRGBLayer`: styles multiplied by 1/sqrt(in) (we fold that gain into the weight), no demodulation, bias [3].
 * - `SynthesisBlock`: `const [C,4,4]`; skip images up-sampled by `upfirdn2d.upsample2d` (pads (2,1), gain 4);
 *   w+ rows: b4 uses 0 (conv1) and 1 (torgb), block r uses conv0, conv1, torgb from row 2 log2(r) - 5 on — our order.
 * - `resample_filter` buffers hold `upfirdn2d.setup_filter([1,3,3,1])` (normalised, gain 1); they are checked.
 */
import type { HostTensor } from '../engine/tensor.js';
import { InputError } from '../errors.js';
import { BLUR_KERNEL, CONST_RESOLUTION, CONV_KERNEL, MAPPING_LR_MUL, TORGB_KERNEL, resolveGeneratorConfig, type GeneratorConfig } from './config.js';
import { synthesisLayers, type LoadedWeights } from './layout.js';
import { firKernel2d } from './fir.js';
import { applyRules, equals, scaled, type MapRule } from '../io/tensors/weight_map.js';

/** Top-level pickle key of the EMA generator. */
export const NVIDIA_G_EMA = 'G_ema';

/** Mapping-network rules (keys relative to G_ema). */
function mappingRules(c: GeneratorConfig): MapRule[] {
  const d = c.wDim;
  const rules: MapRule[] = [];
  for (let i = 0; i < c.mappingLayers; i++) {
    rules.push(
      { src: `mapping.fc${i}.weight`, shape: [d, d], dst: `mapping.${i}.weight`, transform: scaled(MAPPING_LR_MUL / Math.sqrt(d)) },
      { src: `mapping.fc${i}.bias`, shape: [d], dst: `mapping.${i}.bias`, transform: scaled(MAPPING_LR_MUL) },
    );
  }
  rules.push({ src: 'mapping.w_avg', shape: [d], dst: 'latent_avg' });
  return rules;
}

/** The mapping table for a config (source keys relative to G_ema). */
function nvidiaRules(c: GeneratorConfig): MapRule[] {
  const d = c.wDim;
  const filterCheck = equals(firKernel2d(BLUR_KERNEL, 1), 'normalised [1,3,3,1] resample filter');
  const c4 = c.channels[CONST_RESOLUTION];
  const rules = mappingRules(c);
  rules.push({ src: 'synthesis.b4.const', shape: [c4, CONST_RESOLUTION, CONST_RESOLUTION], dst: 'b4.const', transform: scaled(1, [1, c4, CONST_RESOLUTION, CONST_RESOLUTION]) });
  for (const r of Object.keys(c.channels).map(Number)) rules.push({ src: `synthesis.b${r}.resample_filter`, shape: [4, 4], check: filterCheck });
  for (const l of synthesisLayers(c)) {
    const p = `synthesis.${l.name}`;
    const [ci, co] = [l.inChannels, l.outChannels];
    rules.push(
      { src: `${p}.affine.weight`, shape: [ci, d], dst: `${l.name}.affine.weight`, transform: scaled(1 / Math.sqrt(d)) },
      { src: `${p}.affine.bias`, shape: [ci], dst: `${l.name}.affine.bias` },
      { src: `${p}.bias`, shape: [co], dst: `${l.name}.bias` },
    );
    if (l.kind === 'torgb') {
      const k = TORGB_KERNEL;
      rules.push({ src: `${p}.weight`, shape: [co, ci, k, k], dst: `${l.name}.weight`, transform: scaled(1 / Math.sqrt(ci * k * k)) });
      continue;
    }
    rules.push(
      { src: `${p}.weight`, shape: [co, ci, CONV_KERNEL, CONV_KERNEL], dst: `${l.name}.weight` },
      { src: `${p}.noise_strength`, shape: [], dst: `${l.name}.noise_strength` },
      { src: `${p}.noise_const`, shape: [l.res, l.res], dst: `${l.name}.noise_const`, transform: scaled(1, [1, 1, l.res, l.res]) },
      { src: `${p}.resample_filter`, shape: [4, 4], check: filterCheck },
    );
  }
  return rules;
}

function dim(sd: ReadonlyMap<string, HostTensor>, key: string, axis: number, what: string): number {
  const t = sd.get(key);
  if (!t || t.shape.length <= axis) throw new InputError(`${what}: cannot read the architecture: '${key}' is missing or malformed`);
  return t.shape[axis];
}

/** Hyperparameters from the G_ema tensor shapes. */
function inferNvidiaConfig(sd: ReadonlyMap<string, HostTensor>, what: string): GeneratorConfig {
  if ([...sd.keys()].some((k) => k.startsWith('mapping.embed.'))) {
    throw new InputError(`${what}: class-conditional generators (mapping.embed) are not supported`);
  }
  const blocks = [...sd.keys()].map((k) => /^synthesis\.b(\d+)\.conv1\.weight$/.exec(k)?.[1]).filter((v) => v !== undefined).map(Number);
  if (!blocks.includes(CONST_RESOLUTION)) {
    throw new InputError(`${what}: no 'synthesis.b4' block: not a stylegan2-ada generator (StyleGAN3 pickles are not supported)`);
  }
  const channels: Record<number, number> = {};
  for (const r of blocks) channels[r] = dim(sd, `synthesis.b${r}.conv1.weight`, 0, what);
  const mappingLayers = [...sd.keys()].filter((k) => /^mapping\.fc\d+\.weight$/.test(k)).length;
  return resolveGeneratorConfig({ resolution: Math.max(...blocks), wDim: dim(sd, 'mapping.fc0.weight', 0, what), mappingLayers, channels });
}

/** Maps a stylegan2-ada pickle's flat tensors (`G_ema.<state-dict key>`) to our weights. */
export function fromNvidia(tensors: ReadonlyMap<string, HostTensor>, what: string): LoadedWeights {
  const prefix = `${NVIDIA_G_EMA}.`;
  const sd = new Map<string, HostTensor>();
  for (const [k, v] of tensors) if (k.startsWith(prefix)) sd.set(k.slice(prefix.length), v);
  if (sd.size === 0) throw new InputError(`${what}: no '${NVIDIA_G_EMA}' generator found`);
  const config = inferNvidiaConfig(sd, what);
  return { config, weights: applyRules(sd, nvidiaRules(config), `${what} (${NVIDIA_G_EMA})`) };
}
