/**
 * The StyleGAN2 generator (config-f) as engine graphs: the mapping network z -> w and the synthesis network
 * w+ -> image, built INTO a caller's Graph so that larger graphs (w+ -> image -> CLIP -> loss) can contain them.
 *
 * References:
 * - Karras et al. 2020, "Analyzing and Improving the Image Quality of StyleGAN": fig. 2 (synthesis block: modulation,
 *   3x3 conv, demodulation, noise, bias, activation; skip ToRGB outputs, fig. 7b), eq. 1 (modulation
 *   w'_ijk = s_i w_ijk), eq. 3 (demodulation w''_ijk = w'_ijk / sqrt(sum_ik w'_ijk^2 + eps)).
 * - Karras et al. 2019 (StyleGAN) sec. 2: mapping network with PixelNorm on z; constant 4x4 input.
 * - rosinality/stylegan2-pytorch `model.py` (the numerics matched here): `PixelNorm`, `EqualLinear` +
 *   `fused_leaky_relu` (leaky_relu(x + b, 0.2) * sqrt 2), `ModulatedConv2d` (up-sampling: conv_transpose2d stride 2
 *   then `Blur`, kernel [1,3,3,1] normalised times 4, pads (1,1)), `NoiseInjection`, `ToRGB` (skip up-sampled by
 *   `Upsample`: upfirdn2d up=2, pads (2,1)), `Generator.forward`.
 *
 * Modulation is applied to the ACTIVATIONS instead of the weight: conv(x * s, W) * d equals conv(x, W * s * d)
 * (eq. 1 and 3) because s scales input channels and d output channels. W stays a graph constant, so d image / d w+
 * needs only input-gradients of convolutions (a flipped Conv for unit stride), never per-sample weight gradients.
 * The demodulation coefficients d[n,o] = rsqrt(sum_i s[n,i]^2 * sum_k W[o,i,k]^2 + eps) are a small matmul of s^2
 * with the precomputed sums of squared weights.
 *
 * Weight offsets (HyperStyle, Alaluf et al. 2022 sec. 3; yuval-alaluf/hyperstyle models/stylegan2/model.py l.240:
 * `weight = scale * (self.weight * (1 + weights_delta) * style)`, then demodulation): a layer given an offset delta
 * [Cout,Cin,k,k] in `WeightOffsets` convolves with W * (1 + delta) computed in the graph (transposed and squared there
 * too); the others keep their constant weights. The offsets are shared by the batch (one photo per graph).
 *
 * Trainable weights (StyleGAN-NADA, Gal et al. 2022 sec. 4: the generator itself is fine-tuned): any tensor of our
 * naming may be given as a graph Value in `SynthesisOverrides.trainable` (e.g. a graph input the caller
 * differentiates with respect to); the constants derived from it on the host (transposed up-conv weight,
 * demodulation sums, gained noise strength and biases) are then computed in the graph instead.
 */
import type { Graph, Value } from '../engine/graph.js';
import { add, gemm, leakyRelu, matmul, mul, reciprocal, reduceMean, reduceSumSquare, sqrt } from '../engine/ops_math.js';
import { conv, convTranspose } from '../engine/ops_nn.js';
import { concat, expand, reshape, slice, transpose } from '../engine/ops_shape.js';
import type { HostTensor } from '../engine/tensor.js';
import { bindWeights } from '../engine/bind.js';
import {
  ACTIVATION_GAIN,
  BLUR_KERNEL,
  DEMOD_EPS,
  IMAGE_CHANNELS,
  LEAKY_SLOPE,
  PIXEL_NORM_EPS,
  synthesisShape,
  type GeneratorConfig,
} from './config.js';
import { firKernel2d, flip2d } from './fir.js';
import { synthesisLayers, weightShapes, type LayerSpec, type WeightMap } from './layout.js';
import { styleSpaceLayout } from './stylespace.js';

/** Up-sampling factor between synthesis blocks. */
const UP = 2;
/** FIR gain when up-sampling by 2 in 2-D: the zero-stuffed signal keeps 1/4 of the samples (model.py factor ** 2). */
const UP_GAIN = UP * UP;
/**
 * Blur padding after the transposed conv: model.py `ModulatedConv2d` p = (4 - 2) - (3 - 1) = 0, pads
 * ((p + 1) // 2 + 1, p // 2 + 1) = (1, 1), taking the 2H+1 transposed-conv output to 2H.
 */
const BLUR_PAD = 1;
/**
 * Skip up-sampling as a ConvTranspose: upfirdn2d(up=2, pads (2,1)) with a 4-tap filter (model.py `Upsample`)
 * zero-stuffs, pads (2,1) and convolves, which is ConvTranspose stride 2 with pads (4-1-2, 4-1-1-(2-1)) = (1,1).
 */
const SKIP_PAD = 1;

// ---------------------------------------------------------------------------------------------------------------
// Host-side pure helpers (weights are constants, so their transforms are done once here).

/** The same 2-D kernel repeated for `channels` depthwise filters: [channels, 1, n, n]. */
function depthwise(k: Float32Array, channels: number): HostTensor {
  const n = Math.round(Math.sqrt(k.length));
  const data = new Float32Array(channels * k.length);
  for (let c = 0; c < channels; c++) data.set(k, c * k.length);
  return { dtype: 'float32', shape: [channels, 1, n, n], data };
}

/** [O,I,kh,kw] -> [I,O,kh,kw] (conv weight -> ConvTranspose weight, model.py `weight.transpose(0, 1)`). */
function swapOutIn(w: HostTensor): HostTensor {
  const [o, i, kh, kw] = w.shape;
  const k = kh * kw;
  const src = w.data as Float32Array;
  const out = new Float32Array(src.length);
  for (let a = 0; a < o; a++) for (let b = 0; b < i; b++) out.set(src.subarray((a * i + b) * k, (a * i + b + 1) * k), (b * o + a) * k);
  return { dtype: 'float32', shape: [i, o, kh, kw], data: out };
}

/** Sums of squared weights over the kernel window, transposed for s^2 @ it: [I, O] with [i, o] = sum_k W[o,i,k]^2. */
function squaredWeightSums(w: HostTensor): HostTensor {
  const [o, i, kh, kw] = w.shape;
  const k = kh * kw;
  const src = w.data as Float32Array;
  const out = new Float32Array(i * o);
  for (let a = 0; a < o; a++)
    for (let b = 0; b < i; b++) {
      let s = 0;
      for (let t = 0; t < k; t++) s += src[(a * i + b) * k + t] ** 2;
      out[b * o + a] = s;
    }
  return { dtype: 'float32', shape: [i, o], data: out };
}

/** What a missing weight's error names. Weights become graph constants through `bindWeights` (engine/bind.ts); the
 * constants derived from them (the transposed up-conv weight, demodulation sums, gained biases, FIR kernels) are
 * built on the host and added with `g.constant`. */
const GENERATOR_WEIGHTS = 'generator weights';

/** A weight of the map by its rosinality name (host side: graph constants and host-derived ones are built from it). */
function hostWeight(w: WeightMap, name: string): HostTensor {
  const t = w.get(name);
  if (!t) throw new Error(`generator weight '${name}' is missing`);
  return t;
}

// ---------------------------------------------------------------------------------------------------------------
// Graph builders.

/** 1 / sqrt(x + eps). */
const rsqrt = (x: Value, eps: number): Value => reciprocal(sqrt(add(x, eps)));

/** leaky_relu(x + b, 0.2) * sqrt 2 (model.py `fused_leaky_relu`); `b` broadcasts. */
const biasedActivation = (x: Value, b: Value): Value => mul(leakyRelu(add(x, b), LEAKY_SLOPE), ACTIVATION_GAIN);

/**
 * PixelNorm: x / sqrt(mean(x^2, axis) + eps) (StyleGAN sec. 2; model.py `PixelNorm` normalises over dim 1, the
 * feature axis of z [N, D]; StyleCLIP's mappers apply the same module to [B, L, D] groups, so there it runs over L).
 */
export function pixelNorm(x: Value, axis = 1): Value {
  return mul(x, rsqrt(reduceMean(mul(x, x), [axis], true), PIXEL_NORM_EPS));
}

/** Mapping network f: z [N,D] -> w [N,D]: PixelNorm, then `mappingLayers` x (linear, leaky ReLU * sqrt 2). */
export function buildMapping(g: Graph, z: Value, weights: WeightMap, c: GeneratorConfig): Value {
  let x = pixelNorm(z); // [N,D]
  for (let i = 0; i < c.mappingLayers; i++) {
    const p = bindWeights(g, weights, GENERATOR_WEIGHTS);
    const w = p(`mapping.${i}.weight`); // [D,D] (out,in)
    const b = p(`mapping.${i}.bias`); // [D]
    x = biasedActivation(gemm(x, w, undefined, { transB: true }), b); // [N,D]
  }
  return x;
}

/** Style s = A(w+[:, row]) [N,Cin] (the learned affine transform "A" of fig. 2). */
function style(wPlus: Value, layer: LayerSpec, p: GraphWeights): Value {
  const [n, , d] = wPlus.shape;
  const w = reshape(slice(wPlus, [1], [layer.latentIndex], [layer.latentIndex + 1]), [n, d]); // [N,D]
  const a = p.value(`${layer.name}.affine.weight`); // [Cin,D]
  const b = p.value(`${layer.name}.affine.bias`); // [Cin]
  return gemm(w, a, b, { transB: true }); // [N,Cin]
}

/** Per-layer weight offsets by layer name (layout.ts), each [Cout,Cin,k,k]: the layer convolves with W * (1 + delta). */
export type WeightOffsets = ReadonlyMap<string, Value>;

/** Graph-valued replacements of weights by our name (layout.ts), shapes as `weightShapes` (see the header). */
export type TrainableWeights = ReadonlyMap<string, Value>;

/** What replaces constant weights in a synthesis graph: HyperStyle offsets and/or trainable tensors. */
export interface SynthesisOverrides {
  readonly offsets?: WeightOffsets;
  readonly trainable?: TrainableWeights;
}

/**
 * The generator's weights as one graph sees them: `value(name)` is the constant, the trainable Value, or (a layer's
 * conv weight with an offset) W * (1 + delta); `host(name)` is the host tensor when the value is that constant, so
 * host-derived constants can be built from it, and undefined when the value is computed in the graph.
 */
interface GraphWeights {
  value(name: string): Value;
  host(name: string): HostTensor | undefined;
}

function graphWeights(g: Graph, weights: WeightMap, o: SynthesisOverrides = {}): GraphWeights {
  const constant = bindWeights(g, weights, GENERATOR_WEIGHTS);
  const layerOf = (name: string): string | undefined => (name.endsWith('.weight') && !name.endsWith('.affine.weight') ? name.slice(0, -'.weight'.length) : undefined);
  const offsetOf = (name: string): Value | undefined => {
    const layer = layerOf(name);
    return layer === undefined ? undefined : o.offsets?.get(layer);
  };
  return {
    value(name) {
      const base = o.trainable?.get(name) ?? constant(name);
      const delta = offsetOf(name);
      return delta ? mul(base, add(delta, 1)) : base;
    },
    host: (name) => (o.trainable?.has(name) || offsetOf(name) ? undefined : hostWeight(weights, name)),
  };
}

/** Per-sample, per-channel scale s [N,C] applied to x [N,C,H,W]. */
const scaleChannels = (x: Value, s: Value): Value => mul(x, reshape(s, [s.shape[0], s.shape[1], 1, 1]));

/**
 * Modulated 3x3 convolution (eq. 1), optionally up-sampling by 2 as model.py does it: conv_transpose2d stride 2
 * (output 2H+1) then the [1,3,3,1] blur with pads (1,1) (output 2H). Returns the un-demodulated output and the
 * demodulation coefficients d [N,Cout] (eq. 3); the caller applies d together with the activation gain.
 */
function modulatedConv(g: Graph, x: Value, s: Value, layer: LayerSpec, p: GraphWeights): { y: Value; d: Value } {
  const name = `${layer.name}.weight`;
  const wHost = p.host(name); // [Cout,Cin,3,3], or undefined when graph-valued
  const w = wHost && layer.kind === 'upconv' ? undefined : p.value(name); // [Cout,Cin,3,3]; the up-conv reads only W^T
  const xs = scaleChannels(x, s); // [N,Cin,H,W]
  let y: Value;
  if (layer.kind === 'upconv') {
    const wt = wHost ? g.constant(swapOutIn(wHost), `${layer.name}.weight_t`) : transpose(w!, [1, 0, 2, 3]); // [Cin,Cout,3,3]
    const up = convTranspose(xs, wt, undefined, { strides: [UP, UP] }); // [N,Cout,2H+1,2W+1]
    const blur = g.constant(depthwise(flip2d(firKernel2d(BLUR_KERNEL, UP_GAIN)), layer.outChannels), `${layer.name}.blur`);
    y = conv(up, blur, undefined, { pads: [BLUR_PAD, BLUR_PAD, BLUR_PAD, BLUR_PAD], group: layer.outChannels }); // [N,Cout,2H,2W]
  } else {
    const pad = (w!.shape[2] - 1) / 2;
    y = conv(xs, w!, undefined, { pads: [pad, pad, pad, pad] }); // [N,Cout,H,W]
  }
  const sq = wHost ? g.constant(squaredWeightSums(wHost), `${layer.name}.wsq`) : transpose(reduceSumSquare(w!, [2, 3]), [1, 0]); // [Cin,Cout]
  const d = rsqrt(matmul(mul(s, s), sq), DEMOD_EPS); // [N,Cout]
  return { y, d };
}

/** `t` times `gain` as a graph value: folded on the host for constants, a Mul for graph-valued tensors. */
function gained(g: Graph, p: GraphWeights, name: string, gain: number, shape: readonly number[]): Value {
  const host = p.host(name);
  if (!host) return mul(reshape(p.value(name), shape), gain);
  return g.constant({ dtype: 'float32', shape: [...shape], data: (host.data as Float32Array).map((v) => v * gain) }, `${name}_gain`);
}

/**
 * Largest (noise * strength + bias) offset, in elements, left for onnxruntime to fold into a constant when the noise
 * is constant: a [1, Cout, r, r] tensor per layer. Folded everywhere, config-f at 1024 px held ~500 MB of them in
 * every constant-noise session (the 1024 px layers alone 2 x 128 MB); past this size the bias is added separately.
 */
const FOLDED_OFFSET_ELEMENTS = 2 ** 22;

/**
 * Styled conv block layer (fig. 2c, model.py `StyledConv`): modulated conv, demodulation, noise * strength, bias,
 * leaky ReLU * sqrt 2. Because leaky ReLU is positively homogeneous, leaky(z) * gain = leaky(z * gain), so the gain
 * is folded into d and into the (noise * strength + bias) offset: one per-channel scale, one add, one activation
 * over the full feature map. With constant noise the offset is all constants and onnxruntime folds it — up to
 * FOLDED_OFFSET_ELEMENTS; larger layers add the [.,1,r,r] noise term and the [1,Cout,1,1] bias in two adds.
 */
function styledConv(g: Graph, x: Value, s: Value, layer: LayerSpec, p: GraphWeights, noise: Value): Value {
  const { y, d } = modulatedConv(g, x, s, layer, p); // [N,Cout,r,r], [N,Cout]
  const gainedStrength = gained(g, p, `${layer.name}.noise_strength`, ACTIVATION_GAIN, []); // []
  const gainedBias = gained(g, p, `${layer.name}.bias`, ACTIVATION_GAIN, [1, layer.outChannels, 1, 1]); // [1,Cout,1,1]
  const scaled = scaleChannels(y, mul(d, ACTIVATION_GAIN)); // [N,Cout,r,r]
  const noiseTerm = mul(noise, gainedStrength); // [1 or N,1,r,r]
  const z = layer.outChannels * layer.res * layer.res <= FOLDED_OFFSET_ELEMENTS
    ? add(scaled, add(noiseTerm, gainedBias)) // the offset [1 or N,Cout,r,r]: one constant with constant noise
    : add(add(scaled, gainedBias), noiseTerm);
  return leakyRelu(z, LEAKY_SLOPE); // [N,Cout,r,r]
}

/** Skip up-sampling of the RGB image: depthwise ConvTranspose with the [1,3,3,1] filter (see SKIP_PAD). */
function upsampleSkip(g: Graph, skip: Value): Value {
  const k = g.constant(depthwise(firKernel2d(BLUR_KERNEL, UP_GAIN), IMAGE_CHANNELS), 'skip_up_fir'); // [3,1,4,4]
  const pads: [number, number, number, number] = [SKIP_PAD, SKIP_PAD, SKIP_PAD, SKIP_PAD];
  return convTranspose(skip, k, undefined, { strides: [UP, UP], pads, group: IMAGE_CHANNELS }); // [N,3,2H,2W]
}

/** ToRGB: modulated 1x1 conv without demodulation, bias, plus the up-sampled previous RGB (fig. 7b). */
function toRgb(g: Graph, x: Value, s: Value, layer: LayerSpec, p: GraphWeights, skip: Value | undefined): Value {
  const xs = scaleChannels(x, s); // [N,Cin,r,r]
  const w = p.value(`${layer.name}.weight`); // [3,Cin,1,1]
  const b = gained(g, p, `${layer.name}.bias`, 1, [1, IMAGE_CHANNELS, 1, 1]); // [1,3,1,1]
  const rgb = add(conv(xs, w), b); // [N,3,r,r]
  return skip ? add(rgb, upsampleSkip(g, skip)) : rgb;
}

/** The checkpoint's noise buffers as graph constants [1,1,r,r], in conv order (`noise` mode "const"). */
export function constNoise(g: Graph, weights: WeightMap, c: GeneratorConfig): Value[] {
  return synthesisLayers(c)
    .filter((l) => l.kind !== 'torgb')
    .map((l) => bindWeights(g, weights, GENERATOR_WEIGHTS)(`${l.name}.noise_const`));
}

/** Shapes of the per-image noise inputs [N,1,r,r], in conv order (`noise` mode "random"). */
export function noiseShapes(c: GeneratorConfig, batch: number): number[][] {
  return synthesisLayers(c)
    .filter((l) => l.kind !== 'torgb')
    .map((l) => [batch, 1, l.res, l.res]);
}

/** The synthesis given each layer's style s [N,Cin] (`styleOf`), in execution order. */
function synthesize(g: Graph, n: number, styleOf: (layer: LayerSpec, i: number) => Value, p: GraphWeights, c: GeneratorConfig, noise: readonly Value[]): Value {
  const { numConvs } = synthesisShape(c);
  if (noise.length !== numConvs) throw new Error(`buildSynthesis: need ${numConvs} noise inputs, got ${noise.length}`);
  const cst = p.value('b4.const'); // [1,C4,4,4]
  let x = expand(cst, [n, ...cst.shape.slice(1)]); // [N,C4,4,4]
  let rgb: Value | undefined;
  synthesisLayers(c).forEach((layer, i) => {
    const s = styleOf(layer, i); // [N,Cin]
    if (layer.kind === 'torgb') rgb = toRgb(g, x, s, layer, p, rgb);
    else x = styledConv(g, x, s, layer, p, noise[layer.noiseIndex!]);
  });
  return rgb!; // [N,3,R,R]
}

function checkWPlus(wPlus: Value, c: GeneratorConfig): void {
  const { nLatent } = synthesisShape(c);
  const [, rows, d] = wPlus.shape;
  if (wPlus.rank !== 3 || rows !== nLatent || d !== c.wDim) {
    throw new Error(`buildSynthesis: w+ must be [N,${nLatent},${c.wDim}], got ${wPlus}`);
  }
}

/** Throws unless every override names a layer (offsets) or a tensor (trainable) of `c` with its shape. */
function checkOverrides(o: SynthesisOverrides, c: GeneratorConfig): void {
  for (const name of o.offsets?.keys() ?? []) if (!synthesisLayers(c).some((l) => l.name === name)) throw new Error(`buildSynthesis: no layer '${name}' to offset`);
  const shapes = weightShapes(c);
  for (const [name, v] of o.trainable ?? []) {
    const want = shapes.get(name);
    if (!want || want.length !== v.rank || want.some((d, i) => d !== v.shape[i])) throw new Error(`buildSynthesis: trainable '${name}' ${v} is not a generator tensor of that shape`);
  }
}

/**
 * Synthesis network: w+ [N, nLatent, D] -> image [N,3,R,R] (unclamped, about [-1,1]). `noise` holds one Value per
 * styled conv, [1,1,r,r] (shared) or [N,1,r,r], e.g. from `constNoise` or graph inputs of `noiseShapes`;
 * `overrides`: HyperStyle weight offsets of some layers and graph-valued (trainable) tensors (see the header).
 */
export function buildSynthesis(g: Graph, wPlus: Value, weights: WeightMap, c: GeneratorConfig, noise: readonly Value[], overrides: SynthesisOverrides = {}): Value {
  checkWPlus(wPlus, c);
  checkOverrides(overrides, c);
  const p = graphWeights(g, weights, overrides);
  return synthesize(g, wPlus.shape[0], (layer) => style(wPlus, layer, p), p, c, noise);
}

/** Every layer's style A(w) concatenated in StyleSpace order (stylespace.ts): w+ [N,L,D] -> S [N, total]. */
export function buildStyles(g: Graph, wPlus: Value, weights: WeightMap, c: GeneratorConfig): Value {
  checkWPlus(wPlus, c);
  const p = graphWeights(g, weights);
  return concat(synthesisLayers(c).map((layer) => style(wPlus, layer, p)), 1); // [N,S]
}

/** Synthesis from StyleSpace coordinates S [N, total] (stylespace.ts layout): each layer reads its slice as its style. */
export function buildSynthesisFromStyles(g: Graph, styles: Value, weights: WeightMap, c: GeneratorConfig, noise: readonly Value[]): Value {
  const layout = styleSpaceLayout(c);
  if (styles.rank !== 2 || styles.shape[1] !== layout.total) throw new Error(`buildSynthesisFromStyles: styles must be [N,${layout.total}], got ${styles}`);
  return synthesize(g, styles.shape[0], (_l, i) => {
    const { offset, channels } = layout.layers[i];
    return slice(styles, [1], [offset], [offset + channels]);
  }, graphWeights(g, weights), c, noise);
}
