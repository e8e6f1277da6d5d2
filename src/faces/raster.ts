/**
 * Pixel operations of the FFHQ alignment recipe on raw interleaved RGB buffers, with the semantics of the libraries
 * the recipe calls: PIL `Image.crop`, numpy `np.pad(..., 'reflect')`, `np.rint`, and PIL `Image.transform(size,
 * QUAD, data, BILINEAR)` (Pillow src/libImaging/Geometry.c: `quad_transform` evaluates at output pixel centres
 * `x + 0.5`; `bilinear_filter32RGB` rejects samples outside [0, size), subtracts 0.5, clamps neighbours to the edge
 * and truncates to uint8; rejected pixels are filled with 0). `warpAffine` is a general antialiased affine resampler
 * for the landmark refinement and pasting faces back.
 */
import { precomputeCoeffs } from '../io/images/resample.js';
import { roundHalfEven, type RgbImage } from '../io/images/image.js';
import { applyAffine, composeAffine, type Affine, type Quad } from './geometry.js';

/** `warpAffine` area-averages by `floor(spacing / BOX_REDUCE_MIN)` when that is at least 2. */
const BOX_REDUCE_MIN = 1.5;

/** float32 interleaved RGB, as numpy holds `np.float32(img)`. */
export interface FloatImage {
  readonly width: number;
  readonly height: number;
  readonly data: Float32Array;
}

/** numpy `rint`: round half to even. */
export const rint = roundHalfEven;

/** PIL `Image.crop((x0, y0, x1, y1))` for a box inside the image. */
export function cropRgb(img: RgbImage, x0: number, y0: number, x1: number, y1: number): RgbImage {
  const w = x1 - x0;
  const h = y1 - y0;
  if (x0 < 0 || y0 < 0 || x1 > img.width || y1 > img.height || w <= 0 || h <= 0) {
    throw new Error(`crop box (${x0},${y0},${x1},${y1}) is not inside a ${img.width}x${img.height} image`);
  }
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    const src = ((y + y0) * img.width + x0) * 3;
    data.set(img.data.subarray(src, src + w * 3), y * w * 3);
  }
  return { width: w, height: h, channels: 3, data };
}

/** numpy 'reflect' padding index (mirror without repeating the edge), for any distance outside [0, n). */
export function reflectIndex(i: number, n: number): number {
  if (n === 1) return 0;
  const period = 2 * (n - 1);
  const m = ((i % period) + period) % period;
  return m < n ? m : period - m;
}

/** `np.pad(np.float32(img), ((top, bottom), (left, right), (0, 0)), 'reflect')`. */
export function reflectPad(img: RgbImage, left: number, top: number, right: number, bottom: number): FloatImage {
  const width = img.width + left + right;
  const height = img.height + top + bottom;
  const data = new Float32Array(width * height * 3);
  const cols = Int32Array.from({ length: width }, (_, x) => reflectIndex(x - left, img.width) * 3);
  for (let y = 0; y < height; y++) {
    const row = reflectIndex(y - top, img.height) * img.width * 3;
    let o = y * width * 3;
    for (let x = 0; x < width; x++, o += 3) {
      const s = row + cols[x];
      data[o] = img.data[s];
      data[o + 1] = img.data[s + 1];
      data[o + 2] = img.data[s + 2];
    }
  }
  return { width, height, data };
}

/** `reflectPad` written as float32 planes [3, height, width] (the engine's layout, ./align_engine.ts). */
export function reflectPadPlanar(img: RgbImage, left: number, top: number, right: number, bottom: number): { width: number; height: number; data: Float32Array } {
  const width = img.width + left + right;
  const height = img.height + top + bottom;
  const plane = width * height;
  const data = new Float32Array(3 * plane);
  const cols = Int32Array.from({ length: width }, (_, x) => reflectIndex(x - left, img.width) * 3);
  for (let y = 0; y < height; y++) {
    const row = reflectIndex(y - top, img.height) * img.width * 3;
    const o = y * width;
    for (let x = 0; x < width; x++) {
      const s = row + cols[x];
      data[o + x] = img.data[s];
      data[plane + o + x] = img.data[s + 1];
      data[2 * plane + o + x] = img.data[s + 2];
    }
  }
  return { width, height, data };
}

/** `np.uint8(np.clip(np.rint(img), 0, 255))`. */
export function toUint8(img: FloatImage): RgbImage {
  const data = new Uint8Array(img.data.length);
  for (let i = 0; i < data.length; i++) data[i] = Math.min(255, Math.max(0, rint(img.data[i])));
  return { width: img.width, height: img.height, channels: 3, data };
}

/**
 * Row `v` of PIL `img.transform((size, size), Image.QUAD, (quad + 0.5).flatten(), Image.BILINEAR)`, written to `out`
 * (size x 3 bytes); `quad` in pixel-index coordinates (the +0.5 is applied here, as the recipe does).
 */
function quadSampler(img: RgbImage, quad: Quad, size: number): (v: number, out: Uint8Array) => void {
  const [nw, sw, se, ne] = quad.map((p) => [p[0] + 0.5, p[1] + 0.5]);
  const inv = 1 / size;
  // Pillow Image.__transformer, QUAD: x = a0 + a1 u + a2 v + a3 u v (and likewise for y), u, v at pixel centres.
  const a = [nw[0], (ne[0] - nw[0]) * inv, (sw[0] - nw[0]) * inv, (se[0] - sw[0] - ne[0] + nw[0]) * inv * inv];
  const b = [nw[1], (ne[1] - nw[1]) * inv, (sw[1] - nw[1]) * inv, (se[1] - sw[1] - ne[1] + nw[1]) * inv * inv];
  const { width: w, height: h, data: src } = img;
  const stride = w * 3;
  return (v, out) => {
    out.fill(0);
    const yc = v + 0.5;
    const ax = a[0] + a[2] * yc;
    const bx = a[1] + a[3] * yc;
    const ay = b[0] + b[2] * yc;
    const by = b[1] + b[3] * yc;
    for (let u = 0, o = 0; u < size; u++, o += 3) {
      const xc = u + 0.5;
      const xin = ax + bx * xc;
      const yin = ay + by * xc;
      if (!(xin >= 0 && xin < w && yin >= 0 && yin < h)) continue;
      const fx = xin - 0.5;
      const fy = yin - 0.5;
      const x = Math.floor(fx);
      const y = Math.floor(fy);
      const dx = fx - x;
      const dy = fy - y;
      const x0 = (x < 0 ? 0 : x) * 3;
      const x1 = (x + 1 < w ? x + 1 : w - 1) * 3;
      const r0 = (y < 0 ? 0 : y) * stride;
      const r1 = y + 1 < h ? (y + 1) * stride : r0;
      const i00 = r0 + x0;
      const i01 = r0 + x1;
      const i10 = r1 + x0;
      const i11 = r1 + x1;
      for (let c = 0; c < 3; c++) {
        const top = src[i00 + c] + (src[i01 + c] - src[i00 + c]) * dx;
        const bottom = src[i10 + c] + (src[i11 + c] - src[i10 + c]) * dx;
        out[o + c] = (top + (bottom - top) * dy) | 0; // truncation, as (UINT8)v1
      }
    }
  };
}

/** PIL QUAD + BILINEAR transform to `size` x `size` (see `quadSampler`). */
export function quadTransform(img: RgbImage, quad: Quad, size: number): RgbImage {
  const sample = quadSampler(img, quad, size);
  const out = new Uint8Array(size * size * 3);
  for (let v = 0; v < size; v++) sample(v, out.subarray(v * size * 3, (v + 1) * size * 3));
  return { width: size, height: size, channels: 3, data: out };
}

/** `quadTransform` as float32 planes [3, size, size] (the engine's layout, ./align_engine.ts). */
export function quadTransformPlanar(img: RgbImage, quad: Quad, size: number): Float32Array {
  const sample = quadSampler(img, quad, size);
  const plane = size * size;
  const out = new Float32Array(3 * plane);
  const row = new Uint8Array(size * 3);
  for (let v = 0; v < size; v++) {
    sample(v, row);
    const o = v * size;
    for (let u = 0; u < size; u++) {
      out[o + u] = row[u * 3];
      out[plane + o + u] = row[u * 3 + 1];
      out[2 * plane + o + u] = row[u * 3 + 2];
    }
  }
  return out;
}

/** Pillow Resample.c 8-bit path: `PRECISION_BITS = 32 - 8 - 2` fraction bits, weights rounded half away from 0. */
const FIXED_ONE = 2 ** 22;
const fixedWeights = (w: Float64Array): Int32Array => Int32Array.from(w, (v) => Math.trunc(v < 0 ? -0.5 + v * FIXED_ONE : 0.5 + v * FIXED_ONE));
/** Pillow `clip8`: the accumulator starts at one half, so the floor rounds. */
const clip8 = (acc: number): number => {
  const v = Math.floor(acc / FIXED_ONE);
  return v < 0 ? 0 : v > 255 ? 255 : v;
};

/**
 * `quadTransform(img, quad, transformSize)` followed by PIL `resize((size, size), LANCZOS)` (ANTIALIAS), fused: each
 * transformed row is resampled horizontally as soon as it is rendered (Pillow ImagingResample: horizontal pass on the
 * rows the vertical pass reads, uint8 in between, then vertical), so the 4096x4096 intermediate is never stored.
 * Bit-identical to the two steps in sequence (test/faces/align.test.ts).
 */
export function quadTransformResized(img: RgbImage, quad: Quad, transformSize: number, size: number): RgbImage {
  if (size === transformSize) return quadTransform(img, quad, size);
  const ch = precomputeCoeffs(transformSize, size, 'lanczos');
  const cv = precomputeCoeffs(transformSize, size, 'lanczos');
  const kh = fixedWeights(ch.weights);
  const kv = fixedWeights(cv.weights);
  const first = cv.start[0];
  const last = cv.start[size - 1] + cv.count[size - 1];
  const mid = new Uint8Array((last - first) * size * 3);
  const row = new Uint8Array(transformSize * 3);
  const sample = quadSampler(img, quad, transformSize);
  const half = FIXED_ONE / 2;
  for (let y = first; y < last; y++) {
    sample(y, row);
    const o = (y - first) * size * 3;
    for (let x = 0; x < size; x++) {
      const k0 = x * ch.ksize;
      let p = ch.start[x] * 3;
      let r = half;
      let g = half;
      let b = half;
      for (let t = 0; t < ch.count[x]; t++, p += 3) {
        const k = kh[k0 + t];
        r += row[p] * k;
        g += row[p + 1] * k;
        b += row[p + 2] * k;
      }
      mid[o + x * 3] = clip8(r);
      mid[o + x * 3 + 1] = clip8(g);
      mid[o + x * 3 + 2] = clip8(b);
    }
  }
  const out = new Uint8Array(size * size * 3);
  const stride = size * 3;
  for (let y = 0; y < size; y++) {
    const k0 = y * cv.ksize;
    const base = (cv.start[y] - first) * stride;
    for (let i = 0; i < stride; i++) {
      let acc = half;
      for (let t = 0, p = base + i; t < cv.count[y]; t++, p += stride) acc += mid[p] * kv[k0 + t];
      out[y * stride + i] = clip8(acc);
    }
  }
  return { width: size, height: size, channels: 3, data: out };
}

/** Mean over k x k blocks (the last block of a row/column may be smaller): a fast area-average reduction. */
function boxReduce(img: RgbImage, k: number): RgbImage {
  const width = Math.ceil(img.width / k);
  const height = Math.ceil(img.height / k);
  const sum = new Float64Array(width * height * 3);
  const cnt = new Float64Array(width * height);
  for (let y = 0; y < img.height; y++) {
    const row = Math.floor(y / k) * width;
    for (let x = 0; x < img.width; x++) {
      const o = row + Math.floor(x / k);
      const s = (y * img.width + x) * 3;
      sum[o * 3] += img.data[s];
      sum[o * 3 + 1] += img.data[s + 1];
      sum[o * 3 + 2] += img.data[s + 2];
      cnt[o]++;
    }
  }
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i++) data[i] = Math.round(sum[i] / cnt[Math.floor(i / 3)]);
  return { width, height, channels: 3, data };
}

/**
 * A `width` x `height` image whose pixel (u, v) is `img` bilinearly sampled at `toSource(u, v)` (pixel-index
 * coordinates; edge-clamped, 0 outside). When output pixels are 3 or more source pixels apart, the needed part of
 * `img` is first area-averaged by `k = floor(spacing / BOX_REDUCE_MIN)`, so the result is antialiased.
 */
export function warpAffine(img: RgbImage, toSource: Affine, width: number, height: number): RgbImage {
  let src = img;
  let m = toSource;
  const spacing = Math.max(Math.hypot(m[0], m[3]), Math.hypot(m[1], m[4]));
  const k = Math.floor(spacing / BOX_REDUCE_MIN);
  if (k >= 2) {
    const corners = [applyAffine(m, [-0.5, -0.5]), applyAffine(m, [width - 0.5, -0.5]), applyAffine(m, [-0.5, height - 0.5]), applyAffine(m, [width - 0.5, height - 0.5])];
    const x0 = Math.max(0, Math.floor(Math.min(...corners.map((p) => p[0]))) - k);
    const y0 = Math.max(0, Math.floor(Math.min(...corners.map((p) => p[1]))) - k);
    const x1 = Math.min(img.width, Math.ceil(Math.max(...corners.map((p) => p[0]))) + k);
    const y1 = Math.min(img.height, Math.ceil(Math.max(...corners.map((p) => p[1]))) + k);
    if (x1 - x0 < 1 || y1 - y0 < 1) return { width, height, channels: 3, data: new Uint8Array(width * height * 3) };
    src = boxReduce(cropRgb(img, x0, y0, x1, y1), k);
    // photo index p -> reduced index (p - x0 + 0.5) / k - 0.5
    m = composeAffine([1 / k, 0, (0.5 - x0) / k - 0.5, 0, 1 / k, (0.5 - y0) / k - 0.5], m);
  }
  const out = new Uint8Array(width * height * 3);
  for (let v = 0; v < height; v++) {
    // applyAffine(m, [u, v]) inlined (no array per pixel).
    for (let u = 0; u < width; u++) sampleBilinear(src, m[0] * u + m[1] * v + m[2], m[3] * u + m[4] * v + m[5], out, (v * width + u) * 3);
  }
  return { width, height, channels: 3, data: out };
}

/**
 * Bilinear sample of an RGB image at pixel-centre coordinates (sx, sy) into out[o..o+2], edge-clamped; points
 * outside the image's extent [-0.5, size - 0.5] are skipped (out keeps its fill). Returns whether it wrote.
 */
export function sampleBilinear(img: RgbImage, sx: number, sy: number, out: Uint8Array, o: number): boolean {
  const { width: w, height: h, data } = img;
  if (!(sx >= -0.5 && sy >= -0.5 && sx <= w - 0.5 && sy <= h - 0.5)) return false;
  const x0 = Math.min(Math.max(Math.floor(sx), 0), w - 1);
  const y0 = Math.min(Math.max(Math.floor(sy), 0), h - 1);
  const x1 = Math.min(x0 + 1, w - 1);
  const y1 = Math.min(y0 + 1, h - 1);
  const dx = Math.min(Math.max(sx - x0, 0), 1);
  const dy = Math.min(Math.max(sy - y0, 0), 1);
  for (let c = 0; c < 3; c++) {
    const top = data[(y0 * w + x0) * 3 + c] * (1 - dx) + data[(y0 * w + x1) * 3 + c] * dx;
    const bottom = data[(y1 * w + x0) * 3 + c] * (1 - dx) + data[(y1 * w + x1) * 3 + c] * dx;
    out[o + c] = Math.round(top * (1 - dy) + bottom * dy);
  }
  return true;
}
