/**
 * Image resampling exactly as Pillow does it (`src/libImaging/Resample.c`, ImagingResample): a separable convolution,
 * horizontal pass first, with support `filter support * max(1, in/out)` (antialiased when downscaling), per-pixel
 * coefficients normalised to sum 1 and quantised to 22-bit fixed point; each pass rounds and clips to uint8. RGBA
 * images are resized premultiplied (Image.resize converts RGBA -> RGBa -> RGBA, Pillow `Convert.c`). Used by CLIP's
 * preprocessing (bicubic), the FFHQ alignment (Lanczos) and the e4e/pSp input transform (bilinear); `resizeMatrix`
 * is the same map as a float matrix for in-graph, differentiable resizing.
 */
import type { HostTensor } from '../engine/tensor.js';
import { InputError } from '../errors.js';
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

