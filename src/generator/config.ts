/**
 * StyleGAN2 generator hyperparameters: a typed, frozen config with the paper's config-f defaults, and the constants of
 * the architecture with where they come from.
 *
 * References:
 * - Karras et al. 2020, "Analyzing and Improving the Image Quality of StyleGAN" (CVPR), sec. 2 and appendix B
 *   (config-f: 512-d z and w, 8-layer mapping network, feature maps 512 up to 64 px then halving).
 * - Karras et al. 2019, "A Style-Based Generator Architecture for GANs" (StyleGAN), sec. 2 (mapping network,
 *   learning-rate multiplier 0.01 for it) and sec. 3 (truncation in W).
 * - rosinality/stylegan2-pytorch `model.py` (`Generator.__init__`: channel table with channel_multiplier 2,
 *   n_latent = 2 log2(size) - 2, noise buffer resolutions).
 */

/** FIR filter of the up-sampling layers: binomial [1,3,3,1] (Karras et al. 2020, appendix B; model.py blur_kernel). */
export const BLUR_KERNEL: readonly number[] = Object.freeze([1, 3, 3, 1]);
/** Negative slope of the leaky ReLUs (model.py `fused_leaky_relu`, negative_slope 0.2). */
export const LEAKY_SLOPE = 0.2;
/** Gain after every leaky ReLU that keeps unit variance, sqrt(2) (model.py `fused_leaky_relu`, scale 2 ** 0.5). */
export const ACTIVATION_GAIN = Math.SQRT2;
/** Epsilon inside PixelNorm's rsqrt (model.py `PixelNorm`). */
export const PIXEL_NORM_EPS = 1e-8;
/** Epsilon of the demodulation rsqrt (Karras et al. 2020 eq. 3; model.py `ModulatedConv2d`, 1e-8). */
export const DEMOD_EPS = 1e-8;
/** Learning-rate multiplier of the mapping network (StyleGAN sec. 2; model.py lr_mlp = 0.01). */
export const MAPPING_LR_MUL = 0.01;
/** Spatial size of the learned constant input (model.py `ConstantInput`, size 4). */
export const CONST_RESOLUTION = 4;
/** Kernel size of the styled 3x3 convolutions and of the 1x1 ToRGB layers. */
export const CONV_KERNEL = 3;
export const TORGB_KERNEL = 1;
/** RGB output channels. */
export const IMAGE_CHANNELS = 3;

export interface GeneratorConfig {
  /** Output resolution, a power of two >= 8. */
  readonly resolution: number;
  /** Dimension of z and w. */
  readonly wDim: number;
  /** Fully connected layers of the mapping network. */
  readonly mappingLayers: number;
  /** Feature maps per resolution, for 4, 8, ..., resolution. */
  readonly channels: Readonly<Record<number, number>>;
}

/** Quantities that follow from a config. */
export interface SynthesisShape {
  /** log2(resolution). */
  readonly logRes: number;
  /** Resolutions of the synthesis blocks: 4, 8, ..., resolution. */
  readonly resolutions: readonly number[];
  /** Rows of w+: one per styled conv plus the last ToRGB (model.py n_latent = 2 log2(size) - 2). */
  readonly nLatent: number;
  /** Styled convolutions (= noise inputs): 1 at 4 px and 2 per higher resolution. */
  readonly numConvs: number;
}

/**
 * Config-f channel table (model.py: 512 up to 32 px, then 256, 128, 64, 32, 16 times channel_multiplier for 64 ..
 * 1024 px; channel_multiplier 2 is config-f).
 */
export function channelTable(channelMultiplier: number, resolution: number): Record<number, number> {
  const base: Record<number, number> = {
    4: 512,
    8: 512,
    16: 512,
    32: 512,
    64: 256 * channelMultiplier,
    128: 128 * channelMultiplier,
    256: 64 * channelMultiplier,
    512: 32 * channelMultiplier,
    1024: 16 * channelMultiplier,
  };
  const out: Record<number, number> = {};
  for (let r = CONST_RESOLUTION; r <= resolution; r *= 2) out[r] = base[r] ?? Math.max(1, Math.round((16384 * channelMultiplier) / r));
  return out;
}

/** Config-f for FFHQ 1024 (Karras et al. 2020 table 1 / appendix B; the official FFHQ checkpoint). */
export const CONFIG_F_FFHQ: GeneratorConfig = Object.freeze({
  resolution: 1024,
  wDim: 512,
  mappingLayers: 8,
  channels: Object.freeze(channelTable(2, 1024)),
});

export interface PartialConfig {
  readonly resolution?: number;
  readonly wDim?: number;
  readonly mappingLayers?: number;
  readonly channels?: Readonly<Record<number, number>>;
  /** Used only when `channels` is not given; config-f is 2. */
  readonly channelMultiplier?: number;
}

const isPow2 = (n: number): boolean => Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;

/** A complete, validated, frozen config: paper defaults (config-f, FFHQ 1024) for anything not given. */
export function resolveGeneratorConfig(p: PartialConfig = {}): GeneratorConfig {
  const resolution = p.resolution ?? CONFIG_F_FFHQ.resolution;
  if (!isPow2(resolution) || resolution < 2 * CONST_RESOLUTION) {
    throw new RangeError(`generator resolution must be a power of two >= 8, got ${resolution}`);
  }
  const wDim = p.wDim ?? CONFIG_F_FFHQ.wDim;
  const mappingLayers = p.mappingLayers ?? CONFIG_F_FFHQ.mappingLayers;
  if (!Number.isInteger(wDim) || wDim < 1) throw new RangeError(`style dimension must be a positive integer, got ${wDim}`);
  if (!Number.isInteger(mappingLayers) || mappingLayers < 1) {
    throw new RangeError(`mapping layers must be a positive integer, got ${mappingLayers}`);
  }
  const channels = p.channels ?? channelTable(p.channelMultiplier ?? 2, resolution);
  const table: Record<number, number> = {};
  for (let r = CONST_RESOLUTION; r <= resolution; r *= 2) {
    const c = channels[r];
    if (!Number.isInteger(c) || c < 1) throw new RangeError(`channel count for ${r} px must be a positive integer, got ${c}`);
    table[r] = c;
  }
  return Object.freeze({ resolution, wDim, mappingLayers, channels: Object.freeze(table) });
}

export function synthesisShape(c: GeneratorConfig): SynthesisShape {
  const logRes = Math.log2(c.resolution);
  const resolutions: number[] = [];
  for (let r = CONST_RESOLUTION; r <= c.resolution; r *= 2) resolutions.push(r);
  return { logRes, resolutions, nLatent: 2 * logRes - 2, numConvs: 2 * (logRes - 2) + 1 };
}
