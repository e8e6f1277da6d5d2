/**
 * CLIP image preprocessing, identical in effect to `_transform(224)` in openai/CLIP `clip/clip.py`:
 * Resize(224, BICUBIC) of the shortest side -> CenterCrop(224) -> convert("RGB") -> ToTensor -> Normalize.
 *
 * torchvision applies Resize to a PIL image, i.e. `Image.resize(size, BICUBIC)`, which this file replicates from
 * Pillow's `src/libImaging/Resample.c` (ImagingResample): a separable convolution, horizontal pass first, with
 * support `2 * max(1, in/out)` (antialiased when downscaling), bicubic a = -0.5, per-pixel coefficients normalised to
 * sum 1, then quantised to 22-bit fixed point; each pass rounds and clips to uint8. RGBA images are resized
 * premultiplied (Image.resize converts RGBA -> RGBa -> RGBA, Pillow `Convert.c` rgbA2rgba / rgba2rgbA), then
 * convert("RGB") drops alpha, so fully transparent areas become black.
 * Sizes follow torchvision: long side `int(224 * long / short)`, crop offset `int(round((len - 224) / 2.0))` with
 * Python's round-half-to-even. ToTensor and Normalize run in float32 as torch does.
 *
 * `resizeMatrix` is the same resampling as a pure float weight matrix (no uint8 rounding/clipping) for an in-graph,
 * differentiable variant.
 */
import type { HostTensor } from '../engine/tensor.js';
import { InputError } from '../errors.js';
import type { Pixels, RgbImage } from '../io/image.js';

/** `model.visual.input_resolution` of every released CLIP ViT/ResNet except the 336/288/384/448 px variants. */
export const CLIP_IMAGE_SIZE = 224;
/** Normalize mean in openai/CLIP `_transform` (RGB). */
export const CLIP_MEAN: readonly number[] = [0.48145466, 0.4578275, 0.40821073];
/** Normalize std in openai/CLIP `_transform` (RGB). */
export const CLIP_STD: readonly number[] = [0.26862954, 0.26130258, 0.27577711];

/** Pillow Resample.c: fixed-point fraction bits of the 8-bit path (`PRECISION_BITS = 32 - 8 - 2`). */
const PRECISION_BITS = 22;
const FIXED_ONE = 2 ** PRECISION_BITS;
const FIXED_HALF = 2 ** (PRECISION_BITS - 1);

export type ResampleFilter = 'bicubic' | 'bilinear' | 'lanczos';

interface Filter {
  readonly support: number;
  readonly weight: (x: number) => number;
}

/** Pillow Resample.c `bicubic_filter` with a = -0.5 (Keys' cubic convolution). */
function bicubic(x: number): number {
  const a = -0.5;
  const t = Math.abs(x);
  if (t < 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
  if (t < 2) return (((t - 5) * t + 8) * t - 4) * a;
  return 0;
}

function sinc(x: number): number {
  if (x === 0) return 1;
  const px = x * Math.PI;
  return Math.sin(px) / px;
}

/** Pillow's filters: bicubic support 2, bilinear (triangle) support 1, lanczos (3-lobed) support 3. */
const FILTERS: Readonly<Record<ResampleFilter, Filter>> = {
  bicubic: { support: 2, weight: bicubic },
  bilinear: { support: 1, weight: (x) => Math.max(0, 1 - Math.abs(x)) },
  lanczos: { support: 3, weight: (x) => (x > -3 && x < 3 ? sinc(x) * sinc(x / 3) : 0) },
};

/** Per output sample: first input index, tap count, and `ksize` normalised weights (Pillow `precompute_coeffs`). */
export interface Coefficients {
  readonly ksize: number;
  readonly start: Int32Array;
  readonly count: Int32Array;
  readonly weights: Float64Array;
}

/** Pillow `precompute_coeffs` for the whole input range (box 0..inSize). */
export function precomputeCoeffs(inSize: number, outSize: number, filter: ResampleFilter = 'bicubic'): Coefficients {
  if (!Number.isInteger(inSize) || !Number.isInteger(outSize) || inSize < 1 || outSize < 1) {
    throw new InputError(`resize sizes must be positive integers, got ${inSize} -> ${outSize}`);
  }
  const f = FILTERS[filter];
  const scale = inSize / outSize;
  const filterScale = Math.max(1, scale);
  const support = f.support * filterScale;
  const ksize = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Float64Array(outSize * ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const xmin = Math.max(0, Math.trunc(center - support + 0.5));
    const xmax = Math.min(inSize, Math.trunc(center + support + 0.5)) - xmin;
    let sum = 0;
    for (let x = 0; x < xmax; x++) {
      const w = f.weight((x + xmin - center + 0.5) / filterScale);
      weights[xx * ksize + x] = w;
      sum += w;
    }
    if (sum !== 0) for (let x = 0; x < xmax; x++) weights[xx * ksize + x] /= sum;
    start[xx] = xmin;
    count[xx] = xmax;
  }
  return { ksize, start, count, weights };
}

/**
 * The [outSize, inSize] float32 matrix M of Pillow's antialiased resampling along one axis, without the uint8
 * rounding/clipping of the 8-bit path: `out = M · in`. A 2-D resize is `Mh · X · Mw^T` per channel.
 */
export function resizeMatrix(inSize: number, outSize: number, filter: ResampleFilter = 'bicubic'): HostTensor {
  const { ksize, start, count, weights } = precomputeCoeffs(inSize, outSize, filter);
  const m = new Float32Array(outSize * inSize);
  for (let o = 0; o < outSize; o++) {
    for (let k = 0; k < count[o]; k++) m[o * inSize + start[o] + k] = weights[o * ksize + k];
  }
  return { dtype: 'float32', shape: [outSize, inSize], data: m };
}

/** Pillow `normalize_coeffs_8bpc`: weights to 22-bit fixed point, rounding half away from zero. */
function fixedPoint(c: Coefficients): Int32Array {
  return Int32Array.from(c.weights, (w) => Math.trunc(w < 0 ? -0.5 + w * FIXED_ONE : 0.5 + w * FIXED_ONE));
}

/**
 * Pillow `clip8`: fixed-point accumulator -> uint8 (the accumulator starts at one half, so this rounds). Pillow keeps
 * it in an int32 (PRECISION_BITS = 32 - 8 - 2 leaves room for the taps), so the shift is exact.
 */
function clip8(acc: number): number {
  if (acc <= 0) return 0;
  const v = acc >> PRECISION_BITS;
  return v > 255 ? 255 : v;
}

/**
 * One pass of ImagingResampleHorizontal/Vertical_8bpc over interleaved pixels. `axis` 0 resamples along x, 1 along
 * y; `rows` restricts a horizontal pass to the input rows [first, first + rows) that the vertical pass will read.
 */
function resamplePass(src: Pixels, c: Coefficients, axis: 0 | 1, first = 0, rows = src.height): Pixels {
  const { width, channels, data } = src;
  const k = fixedPoint(c);
  const outW = axis === 0 ? c.start.length : width;
  const outH = axis === 0 ? rows : c.start.length;
  const out = new Uint8Array(outW * outH * channels);
  const rowStride = width * channels;
  const step = axis === 0 ? channels : rowStride;
  for (let y = 0; y < outH; y++) {
    for (let x = 0; x < outW; x++) {
      const o = axis === 0 ? x : y;
      const n = c.count[o];
      const kOff = o * c.ksize;
      const base = axis === 0 ? (y + first) * rowStride + c.start[o] * channels : c.start[o] * rowStride + x * channels;
      const dst = (y * outW + x) * channels;
      for (let ch = 0; ch < channels; ch++) {
        let acc = FIXED_HALF;
        for (let t = 0, i = base + ch; t < n; t++, i += step) acc += data[i] * k[kOff + t];
        out[dst + ch] = clip8(acc);
      }
    }
  }
  return { width: outW, height: outH, channels, data: out };
}

/** Pillow `MULDIV255`-based rgbA2rgba (RGBA -> premultiplied RGBa). */
function premultiply(img: Pixels): Pixels {
  const d = Uint8Array.from(img.data);
  for (let i = 0; i < d.length; i += 4) {
    const a = d[i + 3];
    for (let c = 0; c < 3; c++) {
      const t = d[i + c] * a + 128;
      d[i + c] = ((t >> 8) + t) >> 8;
    }
  }
  return { ...img, data: d };
}

/** Pillow rgba2rgbA (premultiplied RGBa -> RGBA): integer division, clipped; alpha 0 and 255 left as is. */
function unpremultiply(img: Pixels): Pixels {
  const d = Uint8Array.from(img.data);
  for (let i = 0; i < d.length; i += 4) {
    const a = d[i + 3];
    if (a === 0 || a === 255) continue;
    for (let c = 0; c < 3; c++) d[i + c] = Math.min(255, Math.floor((255 * d[i + c]) / a));
  }
  return { ...img, data: d };
}

/** Pillow ImagingResample (8 bits per channel): horizontal pass on the rows needed, then vertical. */
function resampleBands(img: Pixels, outW: number, outH: number, filter: ResampleFilter): Pixels {
  const needH = outW !== img.width;
  const needV = outH !== img.height;
  const cv = needV ? precomputeCoeffs(img.height, outH, filter) : undefined;
  let cur = img;
  if (needH) {
    const ch = precomputeCoeffs(img.width, outW, filter);
    if (cv) {
      const first = cv.start[0];
      const last = cv.start[outH - 1] + cv.count[outH - 1];
      cur = resamplePass(img, ch, 0, first, last - first);
      cv.start.forEach((s, i) => (cv.start[i] = s - first));
    } else {
      cur = resamplePass(img, ch, 0);
    }
  }
  return cv ? resamplePass(cur, cv, 1) : cur;
}

/**
 * PIL `Image.resize((outW, outH), filter)` of an RGB or RGBA image (RGBA resampled premultiplied, as PIL does).
 * Same-size requests return the input unchanged.
 */
export function resizeLikePil(img: Pixels, outW: number, outH: number, filter: ResampleFilter = 'bicubic'): Pixels {
  if (outW === img.width && outH === img.height) return img;
  if (img.channels === 3) return resampleBands(img, outW, outH, filter);
  return unpremultiply(resampleBands(premultiply(img), outW, outH, filter));
}

/** torchvision Resize(int) output size: the short side becomes `size`, the long side `int(size * long / short)`. */
export function shortSideSize(width: number, height: number, size: number): { width: number; height: number } {
  if (width <= height) return { width: size, height: Math.trunc((size * height) / width) };
  return { width: Math.trunc((size * width) / height), height: size };
}

/** Python 3 `round`: half to even. */
function pyRound(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** torchvision CenterCrop offsets for an image at least `size` on both sides. */
export function centerCropOffset(width: number, height: number, size: number): { left: number; top: number } {
  return { left: pyRound((width - size) / 2), top: pyRound((height - size) / 2) };
}

/** Resize + CenterCrop + convert("RGB") of `_transform(size)`: the uint8 RGB square CLIP sees. */
export function clipResizeCrop(img: Pixels, size = CLIP_IMAGE_SIZE): RgbImage {
  if (img.width < 1 || img.height < 1 || img.data.length !== img.width * img.height * img.channels) {
    throw new InputError(`image data does not match its size ${img.width}x${img.height}x${img.channels}`);
  }
  const target = shortSideSize(img.width, img.height, size);
  const resized = resizeLikePil(img, target.width, target.height);
  const { left, top } = centerCropOffset(resized.width, resized.height, size);
  const out = new Uint8Array(size * size * 3);
  const ch = resized.channels;
  const src = resized.data;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const s = ((y + top) * resized.width + x + left) * ch;
      const d = (y * size + x) * 3;
      out[d] = src[s];
      out[d + 1] = src[s + 1];
      out[d + 2] = src[s + 2];
    }
  }
  return { width: size, height: size, channels: 3, data: out };
}

/** ToTensor + Normalize in float32, written into `out` at `offset` as 3 planes of size². */
function normalizeInto(rgb: RgbImage, out: Float32Array, offset: number): void {
  const plane = rgb.width * rgb.height;
  for (let c = 0; c < 3; c++) {
    const mean = Math.fround(CLIP_MEAN[c]);
    const std = Math.fround(CLIP_STD[c]);
    for (let i = 0; i < plane; i++) {
      const v = Math.fround(rgb.data[i * 3 + c] / 255);
      out[offset + c * plane + i] = Math.fround(Math.fround(v - mean) / std);
    }
  }
}

/** `_transform(size)(image).unsqueeze(0)`: float32 [1,3,size,size]. */
export function clipPreprocess(img: Pixels, size = CLIP_IMAGE_SIZE): HostTensor {
  return clipPreprocessBatch([img], size);
}

/** Several images stacked: float32 [N,3,size,size]. */
export function clipPreprocessBatch(images: readonly Pixels[], size = CLIP_IMAGE_SIZE): HostTensor {
  if (images.length === 0) throw new InputError('no images to preprocess; pass at least one');
  const per = 3 * size * size;
  const out = new Float32Array(images.length * per);
  images.forEach((img, i) => normalizeInto(clipResizeCrop(img, size), out, i * per));
  return { dtype: 'float32', shape: [images.length, 3, size, size], data: out };
}
