/**
 * Image resampling exactly as Pillow does it (`src/libImaging/Resample.c`, ImagingResample): a separable convolution,
 * horizontal pass first, with support `filter support * max(1, in/out)` (antialiased when downscaling), per-pixel
 * coefficients normalised to sum 1 and quantised to 22-bit fixed point; each pass rounds and clips to uint8. RGBA
 * images are resized premultiplied (Image.resize converts RGBA -> RGBa -> RGBA, Pillow `Convert.c`). Used by CLIP's
 * preprocessing (bicubic), the FFHQ alignment (Lanczos) and the e4e/pSp input transform (bilinear); `resizeMatrix`
 * is the same map as a float matrix for in-graph, differentiable resizing.
 */
import type { HostTensor } from '../../engine/tensor.js';
import { InputError } from '../../errors.js';
import type { Pixels } from './image.js';

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
interface Coefficients {
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
 * ImagingResampleHorizontal_8bpc over interleaved pixels, on the input rows [first, first + rows) that the vertical
 * pass will read. Integer products and sums stay below 2^53, so the float accumulation is exact in any order.
 */
function resampleHorizontal(src: Pixels, c: Coefficients, first: number, rows: number): Pixels {
  const { width, channels: ch, data } = src;
  const k = fixedPoint(c);
  const outW = c.start.length;
  const out = new Uint8Array(outW * rows * ch);
  const { start, count, ksize } = c;
  if (ch === 3) {
    // The common case unrolled over the three bands: one pass over the taps with scalar accumulators.
    for (let y = 0; y < rows; y++) {
      const rowBase = (y + first) * width * 3;
      for (let x = 0, dst = y * outW * 3; x < outW; x++, dst += 3) {
        let a0 = FIXED_HALF;
        let a1 = FIXED_HALF;
        let a2 = FIXED_HALF;
        for (let t = 0, i = rowBase + start[x] * 3, kk = x * ksize, n = count[x]; t < n; t++, i += 3, kk++) {
          const w = k[kk];
          a0 += data[i] * w;
          a1 += data[i + 1] * w;
          a2 += data[i + 2] * w;
        }
        out[dst] = clip8(a0);
        out[dst + 1] = clip8(a1);
        out[dst + 2] = clip8(a2);
      }
    }
    return { width: outW, height: rows, channels: ch, data: out };
  }
  const acc = new Float64Array(ch);
  for (let y = 0; y < rows; y++) {
    const rowBase = (y + first) * width * ch;
    for (let x = 0; x < outW; x++) {
      acc.fill(FIXED_HALF);
      for (let t = 0, i = rowBase + start[x] * ch; t < count[x]; t++, i += ch) {
        const w = k[x * ksize + t];
        for (let j = 0; j < ch; j++) acc[j] += data[i + j] * w;
      }
      const dst = (y * outW + x) * ch;
      for (let j = 0; j < ch; j++) out[dst + j] = clip8(acc[j]);
    }
  }
  return { width: outW, height: rows, channels: ch, data: out };
}

/**
 * ImagingResampleVertical_8bpc: each output row is a weighted sum of whole input rows, accumulated in int32 as
 * Pillow does (products and partial sums stay below 2^31: the weights sum to 2^22 and pixels are at most 255).
 */
function resampleVertical(src: Pixels, c: Coefficients): Pixels {
  const { width, channels, data } = src;
  const k = fixedPoint(c);
  const outH = c.start.length;
  const stride = width * channels;
  const out = new Uint8Array(stride * outH);
  const acc = new Int32Array(stride);
  for (let y = 0; y < outH; y++) {
    acc.fill(FIXED_HALF);
    const kOff = y * c.ksize;
    for (let t = 0; t < c.count[y]; t++) {
      const w = k[kOff + t];
      const row = (c.start[y] + t) * stride;
      for (let j = 0; j < stride; j++) acc[j] += data[row + j] * w;
    }
    const dst = y * stride;
    for (let j = 0; j < stride; j++) {
      const v = acc[j] >> PRECISION_BITS;
      out[dst + j] = v < 0 ? 0 : v > 255 ? 255 : v;
    }
  }
  return { width, height: outH, channels, data: out };
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
      cur = resampleHorizontal(img, ch, first, last - first);
      cv.start.forEach((s, i) => (cv.start[i] = s - first));
    } else {
      cur = resampleHorizontal(img, ch, 0, img.height);
    }
  }
  return cv ? resampleVertical(cur, cv) : cur;
}

/**
 * PIL `Image.resize((outW, outH), filter)` of an RGB or RGBA image (RGBA resampled premultiplied, as PIL does).
 * Same-size requests return the input unchanged.
 */
export function resizeLikePil(img: Pixels, outW: number, outH: number, filter: ResampleFilter = 'bicubic'): Pixels {
  if (outW === img.width && outH === img.height) return img;
  if (img.channels === 3) return resampleBands(img, outW, outH, filter);
  if (isOpaque(img)) return withOpaqueAlpha(resampleBands(dropAlpha(img), outW, outH, filter));
  return unpremultiply(resampleBands(premultiply(img), outW, outH, filter));
}

/**
 * An RGBA image whose alpha is 255 everywhere resizes exactly as its RGB bands: premultiplying by 255 is the
 * identity, the resampled alpha stays 255 (the fixed-point weights sum to 2^22 within far less than 2^21 / 255), so
 * unpremultiplying leaves it as is. Decoded JPEGs are such images; this skips a third of the work and two copies.
 */
function isOpaque(img: Pixels): boolean {
  const d = img.data;
  for (let i = 3; i < d.length; i += 4) if (d[i] !== 255) return false;
  return true;
}

function dropAlpha(img: Pixels): Pixels {
  const n = img.width * img.height;
  const rgb = new Uint8Array(n * 3);
  for (let p = 0, i = 0, o = 0; p < n; p++, i += 4, o += 3) {
    rgb[o] = img.data[i];
    rgb[o + 1] = img.data[i + 1];
    rgb[o + 2] = img.data[i + 2];
  }
  return { width: img.width, height: img.height, channels: 3, data: rgb };
}

function withOpaqueAlpha(img: Pixels): Pixels {
  const n = img.width * img.height;
  const rgba = new Uint8Array(n * 4).fill(255);
  for (let p = 0, i = 0, o = 0; p < n; p++, i += 3, o += 4) {
    rgba[o] = img.data[i];
    rgba[o + 1] = img.data[i + 1];
    rgba[o + 2] = img.data[i + 2];
  }
  return { width: img.width, height: img.height, channels: 4, data: rgba };
}

