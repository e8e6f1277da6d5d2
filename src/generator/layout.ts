/**
 * Our weight naming for the StyleGAN2 generator: the layer list in synthesis order, the name and shape of every
 * tensor, validation of a weight map, and seeded random weights (benchmarks, tests).
 *
 * Weights are EFFECTIVE values: the equalised-learning-rate gains (Karras et al. 2018 "Progressive Growing of GANs"
 * sec. 4.1; StyleGAN2 keeps them) and the mapping network's learning-rate multiplier are already applied, so the graph
 * uses each tensor as-is (y = x W^T + b, conv(x, W) + b). Loaders (weights_rosinality.ts, weights_nvidia.ts) apply them.
 *
 *   mapping.{i}.weight [D,D] (out,in), mapping.{i}.bias [D]          i = 0 .. mappingLayers-1
 *   b4.const [1,C4,4,4]
 *   b{r}.conv0 (r >= 8, up-sampling) and b{r}.conv1 (all r), each:
 *     .affine.weight [Cin,D], .affine.bias [Cin]   style s = A(w)    (Karras et al. 2020 fig. 2c, "A")
 *     .weight [Cout,Cin,3,3], .bias [Cout], .noise_strength [], .noise_const [1,1,r,r]
 *   b{r}.torgb: .affine.weight [Cin,D], .affine.bias [Cin], .weight [3,Cin,1,1], .bias [3]
 *   latent_avg [D] (optional)
 *
 * w+ rows (rosinality model.py `Generator.forward`): b4.conv1 -> 0, b4.torgb -> 1, then per resolution r = 2^k:
 * conv0 -> 2k-5, conv1 -> 2k-4, torgb -> 2k-3. Noise buffers follow the conv order (model.py `noises.noise_{i}`).
 */
import type { HostTensor } from '../engine/tensor.js';
import { InputError } from '../errors.js';
import { createRng, normals } from '../random.js';
import { CONST_RESOLUTION, CONV_KERNEL, IMAGE_CHANNELS, TORGB_KERNEL, synthesisShape, type GeneratorConfig } from './config.js';

import type { WeightMap } from '../engine/bind.js';

export type { WeightMap };

/** A checkpoint mapped to our naming, with the hyperparameters read from its shapes. */
export interface LoadedWeights {
  readonly config: GeneratorConfig;
  /** Our naming, including `latent_avg` when the checkpoint has one. */
  readonly weights: Map<string, HostTensor>;
}

type LayerKind = 'conv' | 'upconv' | 'torgb';

export interface LayerSpec {
  /** Our name prefix, e.g. `b8.conv0`. */
  readonly name: string;
  readonly kind: LayerKind;
  /** Output resolution of the layer. */
  readonly res: number;
  readonly inChannels: number;
  readonly outChannels: number;
  /** Row of w+ that styles this layer. */
  readonly latentIndex: number;
  /** Index of the noise input (styled convolutions only), as model.py's `noise_{i}`. */
  readonly noiseIndex?: number;
}

/** The synthesis layers in execution order. */
export function synthesisLayers(c: GeneratorConfig): LayerSpec[] {
  const c4 = c.channels[CONST_RESOLUTION];
  const out: LayerSpec[] = [
    { name: 'b4.conv1', kind: 'conv', res: 4, inChannels: c4, outChannels: c4, latentIndex: 0, noiseIndex: 0 },
    { name: 'b4.torgb', kind: 'torgb', res: 4, inChannels: c4, outChannels: IMAGE_CHANNELS, latentIndex: 1 },
  ];
  let prev = c4;
  for (const r of synthesisShape(c).resolutions.slice(1)) {
    const k = Math.log2(r);
    const ch = c.channels[r];
    out.push(
      { name: `b${r}.conv0`, kind: 'upconv', res: r, inChannels: prev, outChannels: ch, latentIndex: 2 * k - 5, noiseIndex: 2 * k - 5 },
      { name: `b${r}.conv1`, kind: 'conv', res: r, inChannels: ch, outChannels: ch, latentIndex: 2 * k - 4, noiseIndex: 2 * k - 4 },
      { name: `b${r}.torgb`, kind: 'torgb', res: r, inChannels: ch, outChannels: IMAGE_CHANNELS, latentIndex: 2 * k - 3 },
    );
    prev = ch;
  }
  return out;
}

/** Name -> shape of every tensor the generator needs (latent_avg excluded: it is optional). */
export function weightShapes(c: GeneratorConfig): Map<string, number[]> {
  const d = c.wDim;
  const m = new Map<string, number[]>();
  for (let i = 0; i < c.mappingLayers; i++) {
    m.set(`mapping.${i}.weight`, [d, d]);
    m.set(`mapping.${i}.bias`, [d]);
  }
  m.set('b4.const', [1, c.channels[CONST_RESOLUTION], CONST_RESOLUTION, CONST_RESOLUTION]);
  for (const l of synthesisLayers(c)) {
    const k = l.kind === 'torgb' ? TORGB_KERNEL : CONV_KERNEL;
    m.set(`${l.name}.affine.weight`, [l.inChannels, d]);
    m.set(`${l.name}.affine.bias`, [l.inChannels]);
    m.set(`${l.name}.weight`, [l.outChannels, l.inChannels, k, k]);
    m.set(`${l.name}.bias`, [l.outChannels]);
    if (l.kind !== 'torgb') {
      m.set(`${l.name}.noise_strength`, []);
      m.set(`${l.name}.noise_const`, [1, 1, l.res, l.res]);
    }
  }
  return m;
}

const sameShape = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((v, i) => v === b[i]);

/** Throws an InputError listing missing, unexpected and mis-shaped tensors (float32 required). */
export function checkWeights(w: WeightMap, c: GeneratorConfig): void {
  const want = weightShapes(c);
  const missing = [...want.keys()].filter((k) => !w.has(k));
  const extra = [...w.keys()].filter((k) => !want.has(k) && k !== 'latent_avg');
  const bad = [...want].filter(([k, s]) => w.has(k) && (!sameShape(w.get(k)!.shape, s) || w.get(k)!.dtype !== 'float32'));
  const avg = w.get('latent_avg');
  if (avg && (!sameShape(avg.shape, [c.wDim]) || avg.dtype !== 'float32')) bad.push(['latent_avg', [c.wDim]]);
  if (missing.length || extra.length || bad.length) {
    const parts = [
      missing.length ? `missing: ${missing.join(', ')}` : '',
      extra.length ? `unexpected: ${extra.join(', ')}` : '',
      bad.length ? `wrong shape or dtype: ${bad.map(([k, s]) => `${k} (want float32[${s.join(',')}], got ${w.get(k)!.dtype}[${w.get(k)!.shape.join(',')}])`).join(', ')}` : '',
    ];
    throw new InputError(`generator weights do not match the config: ${parts.filter(Boolean).join('; ')}`);
  }
}

/** Initial value of the affine (style) biases: 1, so styles start near identity (model.py bias_init=1). */
const AFFINE_BIAS_INIT = 1;
/** Noise strength of random weights (training starts at 0; non-zero here so the noise path is exercised). */
const RANDOM_NOISE_STRENGTH = 0.1;

/**
 * Seeded random effective weights for `c`, drawn like a freshly initialised network (unit normals times the
 * equalised-lr gain 1/sqrt(fan_in); affine biases 1; other biases 0), except for `RANDOM_NOISE_STRENGTH`. Draw order: the `weightShapes` order, row-major.
 */
export function randomWeights(c: GeneratorConfig, seed: number): Map<string, HostTensor> {
  const rng = createRng(seed);
  const out = new Map<string, HostTensor>();
  for (const [name, shape] of weightShapes(c)) {
    const n = shape.reduce((a, b) => a * b, 1);
    let data: Float32Array;
    if (name.endsWith('.weight')) {
      const fanIn = shape.slice(1).reduce((a, b) => a * b, 1);
      data = normals(rng, n).map((v) => v / Math.sqrt(fanIn));
    } else if (name.endsWith('.affine.bias')) data = new Float32Array(n).fill(AFFINE_BIAS_INIT);
    else if (name.endsWith('.noise_strength')) data = Float32Array.of(RANDOM_NOISE_STRENGTH);
    else if (name.endsWith('.bias')) data = new Float32Array(n);
    else data = normals(rng, n);
    out.set(name, { dtype: 'float32', shape, data });
  }
  return out;
}

/**
 * Weights with HyperStyle offsets baked in (stylegan2.ts header): layer l's conv weight becomes W * (1 + delta_l),
 * delta_l [Cout,Cin,k,k] by layer name; every other tensor is shared with `w`.
 */
export function applyOffsets(w: WeightMap, offsets: ReadonlyMap<string, HostTensor>, c: GeneratorConfig): Map<string, HostTensor> {
  const out = new Map(w);
  const layers = new Map(synthesisLayers(c).map((l) => [l.name, l]));
  for (const [name, delta] of offsets) {
    const base = layers.has(name) ? w.get(`${name}.weight`) : undefined;
    if (!base) throw new InputError(`weight offsets name layer '${name}', which this generator does not have`);
    if (!sameShape(base.shape, delta.shape)) throw new InputError(`weight offsets of '${name}' are [${delta.shape.join(',')}], the layer's weight is [${base.shape.join(',')}]`);
    const src = base.data as Float32Array;
    const d = delta.data as Float32Array;
    out.set(`${name}.weight`, { dtype: 'float32', shape: [...base.shape], data: src.map((v, i) => v * (1 + d[i])) });
  }
  return out;
}
