/**
 * rosinality/stylegan2-pytorch checkpoints -> our weights (layout.ts). These are the `.pt` files StyleCLIP, e4e and
 * HairCLIP use: `torch.save({"g_ema": Generator.state_dict(), "latent_avg": [D], ...})` (training checkpoints also
 * hold "g", "d" and optimiser states, which are ignored).
 *
 * Source layout (rosinality `model.py`, `Generator.__init__`): `style.{1..n_mlp}` (EqualLinear, lr_mul 0.01),
 * `input.input`, `conv1` / `to_rgb1` at 4 px, `convs.{2j}` (up-sampling) and `convs.{2j+1}` and `to_rgbs.{j}` for
 * 2^(j+3) px, `noises.noise_{i}`. Parameters are stored without their equalised-lr gains, which `EqualLinear` and
 * `ModulatedConv2d` apply at run time; we apply them once here:
 *   EqualLinear:     W * lr_mul / sqrt(in), b * lr_mul   (mapping: lr_mul 0.01; modulation: lr_mul 1)
 *   ModulatedConv2d: W * 1 / sqrt(in * k * k), stored as [1,O,I,k,k] -> [O,I,k,k]
 * Hyperparameters come from the tensor shapes: style dim and mapping depth from `style.*`, resolution from the number
 * of `to_rgbs`, channels from the conv weights.
 */
import { toFloat32, type HostTensor } from '../engine/tensor.js';
import { InputError } from '../errors.js';
import { CONST_RESOLUTION, CONV_KERNEL, MAPPING_LR_MUL, TORGB_KERNEL, BLUR_KERNEL, resolveGeneratorConfig, synthesisShape, type GeneratorConfig } from './config.js';
import { synthesisLayers, type LayerSpec, type LoadedWeights, type WeightMap } from './layout.js';
import { firKernel2d } from './fir.js';
import { FLOAT_DTYPES, applyRules, equals, linearPart, scaled, type MapRule } from '../io/tensors/weight_map.js';

/** Top-level key of the EMA generator's state dict in rosinality checkpoints. */
export const G_EMA = 'g_ema';
/**
 * Prefix of the same generator inside StyleCLIP mapper, e4e and pSp checkpoints (`state_dict['decoder.*']`,
 * the Coach's save of `StyleCLIPMapper`/`pSp`/`e4e` modules whose `decoder` is the rosinality Generator).
 */
export const DECODER = 'state_dict.decoder';
/** Gain of the FIR kernels model.py registers as buffers (`Blur(..., upsample_factor=2)`, `Upsample`): factor^2. */
const BUFFER_FIR_GAIN = 4;

/** rosinality module prefix of one of our layers. */
function sourcePrefix(l: LayerSpec): string {
  if (l.res === CONST_RESOLUTION) return l.kind === 'torgb' ? 'to_rgb1' : 'conv1';
  const j = Math.log2(l.res) - 3;
  if (l.kind === 'torgb') return `to_rgbs.${j}`;
  return `convs.${2 * j + (l.kind === 'upconv' ? 0 : 1)}`;
}

/** The mapping table for a config (source keys relative to the g_ema state dict). */
function rosinalityRules(c: GeneratorConfig): MapRule[] {
  const d = c.wDim;
  const rules: MapRule[] = [];
  for (let i = 0; i < c.mappingLayers; i++) {
    rules.push(
      { src: `style.${i + 1}.weight`, shape: [d, d], dst: `mapping.${i}.weight`, transform: scaled(MAPPING_LR_MUL / Math.sqrt(d)) },
      { src: `style.${i + 1}.bias`, shape: [d], dst: `mapping.${i}.bias`, transform: scaled(MAPPING_LR_MUL) },
    );
  }
  const c4 = c.channels[CONST_RESOLUTION];
  rules.push({ src: 'input.input', shape: [1, c4, CONST_RESOLUTION, CONST_RESOLUTION], dst: 'b4.const' });
  const fir = firKernel2d(BLUR_KERNEL, BUFFER_FIR_GAIN);
  const firCheck = equals(fir, '[1,3,3,1] FIR kernel');
  for (const l of synthesisLayers(c)) {
    const p = sourcePrefix(l);
    const k = l.kind === 'torgb' ? TORGB_KERNEL : CONV_KERNEL;
    const [ci, co] = [l.inChannels, l.outChannels];
    rules.push(
      { src: `${p}.conv.weight`, shape: [1, co, ci, k, k], dst: `${l.name}.weight`, transform: scaled(1 / Math.sqrt(ci * k * k), [co, ci, k, k]) },
      { src: `${p}.conv.modulation.weight`, shape: [ci, d], dst: `${l.name}.affine.weight`, transform: scaled(1 / Math.sqrt(d)) },
      { src: `${p}.conv.modulation.bias`, shape: [ci], dst: `${l.name}.affine.bias` },
    );
    if (l.kind === 'torgb') {
      rules.push({ src: `${p}.bias`, shape: [1, co, 1, 1], dst: `${l.name}.bias`, transform: scaled(1, [co]) });
      if (l.res > CONST_RESOLUTION) rules.push({ src: `${p}.upsample.kernel`, shape: [4, 4], check: firCheck });
      continue;
    }
    rules.push(
      { src: `${p}.noise.weight`, shape: [1], dst: `${l.name}.noise_strength`, transform: scaled(1, []) },
      { src: `${p}.activate.bias`, shape: [co], dst: `${l.name}.bias` },
      { src: `noises.noise_${l.noiseIndex}`, shape: [1, 1, l.res, l.res], dst: `${l.name}.noise_const` },
    );
    if (l.kind === 'upconv') rules.push({ src: `${p}.conv.blur.kernel`, shape: [4, 4], check: firCheck });
  }
  return rules;
}

/** A g_ema tensor that is ours up to a gain: ours (`dst`, `shape`) = gain * source (`srcShape`). */
export interface RosinalityTensor {
  readonly dst: string;
  readonly gain: number;
  readonly srcShape: readonly number[];
  readonly shape: readonly number[];
}

/**
 * The g_ema keys of `c` that map to one of our tensors by a gain (every parameter and noise buffer; the FIR buffers
 * are check-only), from the same rule table the loader applies: how trained raw parameters become our weights, and
 * our gradients theirs (d ours / d source = gain).
 */
export function rosinalityTensors(c: GeneratorConfig): Map<string, RosinalityTensor> {
  const out = new Map<string, RosinalityTensor>();
  for (const r of rosinalityRules(c)) {
    const lin = linearPart(r);
    if (lin && r.dst) out.set(r.src, { dst: r.dst, gain: lin.gain, srcShape: r.shape, shape: lin.shape });
  }
  return out;
}

function dim(t: HostTensor | undefined, axis: number, key: string, what: string): number {
  if (!t || t.shape.length <= axis) throw new InputError(`${what}: cannot read the architecture: '${key}' is missing or malformed`);
  return t.shape[axis];
}

/** Hyperparameters read from the state dict's shapes (keys relative to g_ema). */
function inferRosinalityConfig(sd: ReadonlyMap<string, HostTensor>, what: string): GeneratorConfig {
  const mapping = [...sd.keys()].filter((k) => /^style\.\d+\.weight$/.test(k)).length;
  const toRgbs = [...sd.keys()].filter((k) => /^to_rgbs\.\d+\.conv\.weight$/.test(k)).length;
  const wDim = dim(sd.get('style.1.weight'), 1, 'style.1.weight', what);
  const channels: Record<number, number> = { [CONST_RESOLUTION]: dim(sd.get('input.input'), 1, 'input.input', what) };
  for (let j = 0; j < toRgbs; j++) channels[2 ** (j + 3)] = dim(sd.get(`convs.${2 * j}.conv.weight`), 1, `convs.${2 * j}.conv.weight`, what);
  if (toRgbs < 1) throw new InputError(`${what}: no 'to_rgbs.*' layers: not a rosinality StyleGAN2 generator`);
  return resolveGeneratorConfig({ resolution: 2 ** (toRgbs + 2), wDim, mappingLayers: mapping, channels });
}

/**
 * The mean w from a checkpoint's `latent_avg`: [D] or [1, D] (rosinality), or [L, D] with identical rows (e4e and
 * pSp repeat it per w+ row, `latent_avg.repeat(n_latent, 1)`).
 */
function latentAvgRow(avg: HostTensor, d: number, what: string): Float32Array {
  const rows = avg.shape.length === 1 ? 1 : avg.shape.length === 2 ? avg.shape[0] : 0;
  const bad = (): InputError => new InputError(`${what}: latent_avg is ${avg.dtype}[${avg.shape.join(',')}], expected float[${d}] (or [n, ${d}] with equal rows)`);
  if (rows === 0 || avg.shape[avg.shape.length - 1] !== d || !FLOAT_DTYPES.includes(avg.dtype)) throw bad();
  const data = toFloat32(avg).data as Float32Array;
  for (let r = 1; r < rows; r++) for (let i = 0; i < d; i++) if (data[r * d + i] !== data[i]) throw bad();
  return data.slice(0, d);
}

/**
 * Maps a rosinality checkpoint's flat tensors (`g_ema.<state-dict key>`, `latent_avg`; other top-level entries are
 * ignored) to our weights. Unknown, missing and mis-shaped g_ema keys are reported together in one InputError.
 */
export function fromRosinality(tensors: ReadonlyMap<string, HostTensor>, what: string, root: string = G_EMA): LoadedWeights {
  const prefix = `${root}.`;
  const sd = new Map<string, HostTensor>();
  for (const [k, v] of tensors) if (k.startsWith(prefix)) sd.set(k.slice(prefix.length), v);
  if (sd.size === 0) throw new InputError(`${what}: no '${root}' generator state dict found`);
  const config = inferRosinalityConfig(sd, what);
  const weights = applyRules(sd, rosinalityRules(config), `${what} (${root})`);
  const avg = tensors.get('latent_avg');
  if (avg) weights.set('latent_avg', { dtype: 'float32', shape: [config.wDim], data: latentAvgRow(avg, config.wDim, what) });
  return { config, weights };
}

/** The g_ema keys in model.py's `state_dict()` order (each module's parameters, then its buffers, then children). */
function stateDictOrder(c: GeneratorConfig): string[] {
  const keys: string[] = [];
  for (let i = 1; i <= c.mappingLayers; i++) keys.push(`style.${i}.weight`, `style.${i}.bias`);
  keys.push('input.input');
  const modulated = (p: string, blur: boolean): string[] => [`${p}.conv.weight`, ...(blur ? [`${p}.conv.blur.kernel`] : []), `${p}.conv.modulation.weight`, `${p}.conv.modulation.bias`];
  const styled = (p: string, up: boolean): string[] => [...modulated(p, up), `${p}.noise.weight`, `${p}.activate.bias`];
  const rgb = (p: string, up: boolean): string[] => [`${p}.bias`, ...(up ? [`${p}.upsample.kernel`] : []), ...modulated(p, false)];
  keys.push(...styled('conv1', false), ...rgb('to_rgb1', false));
  const blocks = synthesisLayers(c).filter((l) => l.kind === 'torgb').length - 1;
  for (let i = 0; i < 2 * blocks; i++) keys.push(...styled(`convs.${i}`, i % 2 === 0));
  for (let j = 0; j < blocks; j++) keys.push(...rgb(`to_rgbs.${j}`, true));
  for (let i = 0; i < synthesisShape(c).numConvs; i++) keys.push(`noises.noise_${i}`);
  return keys;
}

/**
 * Our weights as a rosinality g_ema state dict (keys relative to g_ema, model.py's order): each tensor divided by its
 * gain and reshaped to the source shape (the inverse of the loader's rule table), the FIR buffers as model.py
 * registers them. What `nada train` writes when its generator came in another layout.
 */
export function toRosinality(weights: WeightMap, c: GeneratorConfig): Map<string, HostTensor> {
  const rules = new Map(rosinalityRules(c).map((r) => [r.src, r]));
  const fir = firKernel2d(BLUR_KERNEL, BUFFER_FIR_GAIN);
  return new Map(stateDictOrder(c).map((k) => {
    const r = rules.get(k)!;
    const lin = linearPart(r);
    if (!lin || !r.dst) return [k, { dtype: 'float32', shape: [...r.shape], data: Float32Array.from(fir) }];
    const ours = weights.get(r.dst);
    if (!ours) throw new InputError(`generator weights: no tensor '${r.dst}' for '${k}'`);
    const src = ours.data as Float32Array;
    return [k, { dtype: 'float32', shape: [...r.shape], data: lin.gain === 1 ? src.slice() : src.map((v) => v / lin.gain) }];
  }));
}
