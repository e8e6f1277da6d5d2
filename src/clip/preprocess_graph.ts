/**
 * In-graph, differentiable CLIP input for generator outputs: an image tensor in [-1,1] [N,3,H,W] -> [N,3,S,S]
 * (S = 224), as two MatMuls with fixed separable resampling matrices, `Mrows · X · Mcols^T` per channel, so the
 * gradient w.r.t. the generator's output is the transposed map.
 *
 * Resampling:
 * - `avgpool` (StyleCLIP): `criteria/clip_loss.py` in orpatashnik/StyleCLIP runs
 *   `AvgPool2d(kernel_size=stylegan_size // 32)(Upsample(scale_factor=7)(image))`. Nearest ×7 upsampling repeats
 *   each source pixel 7 times along an axis; pooling with kernel k = H // 32 (stride k) averages k consecutive
 *   upsampled samples. So output o along an axis is a weighted mean of source pixels: source i contributes
 *   |[o·k, o·k + k) ∩ [7i, 7i + 7)| / k. That is the same linear map without the 7H × 7W intermediate (for H = 1024
 *   a 7168² image): each output pixel is the mean of a 32×32 block of the upsampled image, i.e. weights 7/32 for
 *   fully covered source pixels and the partial overlaps (e.g. 4/32, 3/32) at the block edges. 7H / k = 224 exactly
 *   when H is a multiple of 32.
 * - `bicubic`: torchvision's Resize(S) of the short side with Pillow's antialiased bicubic filter (the float form of
 *   preprocess.ts `resizeMatrix`, without uint8 rounding), then CenterCrop(S), as `_transform` in openai/CLIP.
 * - `tensor-bicubic`: the same Resize(S) + CenterCrop(S) applied to a TENSOR, as StyleGAN-NADA's CLIPLoss does
 *   (`clip_preprocess.transforms[:2]` on the generator output): torchvision 0.14 tensor resize = `F.interpolate(mode=
 *   'bicubic', align_corners=False)` without antialiasing (the tensor default then), ATen's cubic convolution with
 *   A = -0.75 (aten/src/ATen/native/UpSample.h `get_cubic_upsample_coefficients`, Keys 1981), source index
 *   (dst + 0.5) · in/out - 0.5, taps clamped to the border (`upsample_get_value_bounded`).
 *
 * Value mapping:
 * - `styleclip`: none: the generator's [-1,1] output goes straight into CLIP, exactly as StyleCLIP's reference does.
 * - `normalized`: [-1,1] -> [0,1] -> (x - mean) / std with CLIP's mean/std, what CLIP was trained on. Both resampling
 *   maps have rows summing to 1, so this per-channel affine map commutes with them and is applied after resampling,
 *   on the smaller tensor.
 */
import { Value, add, matmul, mul, type HostTensor } from '../engine/index.js';
import { InputError } from '../errors.js';
import { CLIP_IMAGE_SIZE, CLIP_MEAN, CLIP_STD, centerCropOffset, resizeMatrix, shortSideSize } from './preprocess.js';
import { transpose2d } from '../engine/tensor.js';

/** StyleCLIP `criteria/clip_loss.py`: `torch.nn.Upsample(scale_factor=7)`. */
const STYLECLIP_UPSAMPLE = 7;
/** StyleCLIP `criteria/clip_loss.py`: `torch.nn.AvgPool2d(kernel_size=opts.stylegan_size // 32)`. */
const STYLECLIP_POOL_DIVISOR = 32;

export type ClipInputMode = 'styleclip' | 'normalized';
type ClipResample = 'avgpool' | 'bicubic' | 'tensor-bicubic';

interface ClipInputConfig {
  readonly mode: ClipInputMode;
  readonly resample: ClipResample;
  /** Output side; CLIP's input resolution. */
  readonly size: number;
}

const CLIP_RESAMPLES: readonly ClipResample[] = ['avgpool', 'bicubic', 'tensor-bicubic'];

/** StyleCLIP's reference pipeline. */
const DEFAULT_CLIP_INPUT: ClipInputConfig = Object.freeze({ mode: 'styleclip', resample: 'avgpool', size: CLIP_IMAGE_SIZE });

export function resolveClipInput(partial: Partial<ClipInputConfig> = {}): ClipInputConfig {
  const c = { ...DEFAULT_CLIP_INPUT, ...Object.fromEntries(Object.entries(partial).filter(([, v]) => v !== undefined)) };
  if (c.mode !== 'styleclip' && c.mode !== 'normalized') throw new InputError(`CLIP input mode must be 'styleclip' or 'normalized', got '${c.mode}'`);
  if (!CLIP_RESAMPLES.includes(c.resample)) throw new InputError(`CLIP resampling must be one of ${CLIP_RESAMPLES.join(', ')}, got '${c.resample}'`);
  if (!Number.isInteger(c.size) || c.size < 1) throw new InputError(`CLIP input size must be a positive integer, got ${c.size}`);
  return Object.freeze(c);
}

/**
 * The [out, size] matrix of Upsample(×7, nearest) then AvgPool(k = size // 32) along one axis (see the header);
 * out = floor(7 · size / k) as AvgPool2d computes it.
 */
export function styleclipPoolMatrix(size: number): HostTensor {
  const k = Math.floor(size / STYLECLIP_POOL_DIVISOR);
  if (!Number.isInteger(size) || k < 1) {
    throw new InputError(`StyleCLIP pooling needs an image side of at least ${STYLECLIP_POOL_DIVISOR}, got ${size}`);
  }
  const up = STYLECLIP_UPSAMPLE;
  const out = Math.floor((up * size) / k);
  const m = new Float32Array(out * size);
  for (let o = 0; o < out; o++) {
    const lo = o * k;
    const hi = lo + k;
    for (let i = Math.floor(lo / up); i * up < hi; i++) m[o * size + i] = (Math.min(hi, (i + 1) * up) - Math.max(lo, i * up)) / k;
  }
  return { dtype: 'float32', shape: [out, size], data: m };
}

/** Whether StyleCLIP's x7 upsample + average pool maps an H x W image exactly onto size x size. */
export function styleclipPoolLands(height: number, width: number, size: number): boolean {
  const k = Math.floor(height / STYLECLIP_POOL_DIVISOR);
  return height === width && k >= 1 && Math.floor((STYLECLIP_UPSAMPLE * height) / k) === size;
}

/** ATen's bicubic coefficient A (UpSample.h `get_cubic_upsample_coefficients`). */
const ATEN_CUBIC_A = -0.75;

const f32 = Math.fround;

/** UpSample.h `cubic_convolution1` (|x| <= 1) and `cubic_convolution2` (1 < |x| < 2), in float32 as ATen runs them. */
const cubic1 = (x: number, a: number): number => f32(f32(f32(f32(f32(f32(a + 2) * x) - f32(a + 3)) * x) * x) + 1);
const cubic2 = (x: number, a: number): number => f32(f32(f32(f32(f32(f32(a * x) - f32(5 * a)) * x) + f32(8 * a)) * x) - f32(4 * a));

/** UpSample.h `get_cubic_upsample_coefficients`: the 4 tap weights at fractional offset t (Keys 1981). */
function cubicCoefficients(t: number, a: number): [number, number, number, number] {
  const t2 = f32(1 - t);
  return [cubic2(f32(t + 1), a), cubic1(t, a), cubic1(t2, a), cubic2(f32(t2 + 1), a)];
}

/**
 * The [out, size] matrix of `F.interpolate(mode='bicubic', align_corners=False)` along one axis (see the header).
 * ATen computes the source index and the weights in float32 (its `opmath_t` for float tensors), and so does this:
 * the weights then agree with ATen's (read off by interpolating unit impulses, torch 1.13) within 2.5e-6 for 64 -> 224
 * and 1e-5 for 256 -> 224, against 3.7e-6 and 1.5e-5 in float64.
 */
export function interpolateBicubicMatrix(size: number, out: number): HostTensor {
  const m = new Float32Array(out * size);
  const scale = f32(size / out);
  for (let o = 0; o < out; o++) {
    const src = f32(scale * (o + 0.5) - 0.5);
    const i0 = Math.floor(src);
    const w = cubicCoefficients(f32(src - i0), ATEN_CUBIC_A);
    for (let k = 0; k < 4; k++) m[o * size + Math.min(Math.max(i0 - 1 + k, 0), size - 1)] += w[k];
  }
  return { dtype: 'float32', shape: [out, size], data: m };
}

/** Rows [start, start + count) of a 2-D matrix. */
function rowsOf(m: HostTensor, start: number, count: number): HostTensor {
  const cols = m.shape[1];
  return { dtype: 'float32', shape: [count, cols], data: (m.data as Float32Array).slice(start * cols, (start + count) * cols) };
}

/** The separable resampling of an H×W image to size×size: rows [size, H] and columns [size, W]. */
export function resampleMatrices(height: number, width: number, resample: ClipResample, size = CLIP_IMAGE_SIZE): { rows: HostTensor; cols: HostTensor } {
  if (resample === 'avgpool') {
    if (height !== width) throw new InputError(`StyleCLIP pooling expects a square image, got ${height}x${width}; use bicubic resampling`);
    const m = styleclipPoolMatrix(height);
    if (m.shape[0] !== size) {
      throw new InputError(
        `StyleCLIP pooling maps a ${height}px image to ${m.shape[0]}px, not ${size}px; use a side that is a multiple of ${STYLECLIP_POOL_DIVISOR}, or bicubic resampling`,
      );
    }
    return { rows: m, cols: m };
  }
  const target = shortSideSize(width, height, size);
  const { left, top } = centerCropOffset(target.width, target.height, size);
  const axis = (n: number, to: number): HostTensor => (resample === 'bicubic' ? resizeMatrix(n, to, 'bicubic') : interpolateBicubicMatrix(n, to));
  return { rows: rowsOf(axis(height, target.height), top, size), cols: rowsOf(axis(width, target.width), left, size) };
}

/** Per-channel scale and shift of [-1,1] -> [0,1] -> Normalize(mean, std): x · 0.5/std + (0.5 - mean)/std. */
export function normalizeAffine(): { scale: HostTensor; shift: HostTensor } {
  const shape = [1, 3, 1, 1];
  return {
    scale: { dtype: 'float32', shape, data: Float32Array.from(CLIP_STD, (s) => 0.5 / s) },
    shift: { dtype: 'float32', shape, data: Float32Array.from(CLIP_MEAN, (m, c) => (0.5 - m) / CLIP_STD[c]) },
  };
}

/** Adds the resampling (and, in `normalized` mode, the value mapping) on x [N,3,H,W] in [-1,1]; returns [N,3,S,S]. */
export function clipInput(x: Value, options: Partial<ClipInputConfig> = {}): Value {
  const c = resolveClipInput(options);
  if (x.rank !== 4 || x.shape[1] !== 3) throw new Error(`clipInput: expected an RGB batch [N,3,H,W], got ${x}`);
  const g = x.graph;
  const { rows, cols } = resampleMatrices(x.shape[2], x.shape[3], c.resample, c.size);
  const resized = matmul(matmul(g.constant(rows, 'clip_resample_rows'), x), g.constant(transpose2d(cols), 'clip_resample_cols_t'));
  if (c.mode === 'styleclip') return resized;
  const { scale, shift } = normalizeAffine();
  return add(mul(resized, g.constant(scale, 'clip_norm_scale')), g.constant(shift, 'clip_norm_shift'));
}
