/**
 * The two statistics the FFHQ recipe's padding step needs on float32 RGB images: `scipy.ndimage.gaussian_filter(img,
 * [s, s, 0])` and `np.median(img, axis=(0, 1))`.
 *
 * Gaussian: scipy semantics — kernel `exp(-x^2 / (2 s^2))` on |x| <= int(4 s + 0.5) (truncate = 4.0), normalised to
 * sum 1, boundary mode 'reflect' (half-sample symmetric: d c b a | a b c d | d c b a), separable. The recipe's sigma is
 * 2% of the crop size (up to ~80 px at 1024 output), where a dense separable convolution costs ~650 taps per pixel
 * and pass. Because the result is that smooth, it is evaluated exactly on a grid every `coarseStep(s)` pixels and
 * filled in with 4-point Lagrange (cubic) interpolation, whose error is bounded by
 * `step^4 / 128 * max|f''''| <= 255 * 0.0085 * (step / s)^4` grey levels (~0.14 at step = s/2); test/faces measures it
 * against the dense filter. Small sigmas (step 1) are computed densely, i.e. exactly.
 */
import type { FloatImage } from './raster.js';

/** scipy.ndimage gaussian_filter default `truncate`. */
const GAUSSIAN_TRUNCATE = 4.0;
/** The coarse grid is spaced sigma / COARSE_STEP_DIVISOR pixels apart (error bound above). */
const COARSE_STEP_DIVISOR = 2;

/** scipy `_gaussian_kernel1d(sigma, 0, radius)` with radius `int(truncate * sigma + 0.5)`. */
export function gaussianKernel(sigma: number): Float64Array {
  const radius = Math.trunc(GAUSSIAN_TRUNCATE * sigma + 0.5);
  const k = new Float64Array(2 * radius + 1);
  let sum = 0;
  for (let i = -radius; i <= radius; i++) sum += k[i + radius] = Math.exp((-0.5 / (sigma * sigma)) * i * i);
  for (let i = 0; i < k.length; i++) k[i] /= sum;
  return k;
}

/** scipy 'reflect' (half-sample symmetric) index for any i. */
export function symmetricIndex(i: number, n: number): number {
  const period = 2 * n;
  const m = ((i % period) + period) % period;
  return m < n ? m : period - 1 - m;
}

function coarseStep(sigma: number): number {
  return Math.max(1, Math.floor(sigma / COARSE_STEP_DIVISOR));
}

/** Lagrange weights of the nodes -1, 0, 1, 2 at t in [0, 1). */
function lagrange(t: number, out: Float64Array): void {
  out[0] = (-t * (t - 1) * (t - 2)) / 6;
  out[1] = ((t + 1) * (t - 1) * (t - 2)) / 2;
  out[2] = (-(t + 1) * t * (t - 2)) / 2;
  out[3] = ((t + 1) * t * (t - 1)) / 6;
}

/**
 * `scipy.ndimage.gaussian_filter(img, [sigma, sigma, 0])` on interleaved RGB; `step` overrides the coarse grid
 * spacing (1 = dense, exact).
 */
export function gaussianFilter(img: FloatImage, sigma: number, step = coarseStep(sigma)): FloatImage {
  const { width: w, height: h, data } = img;
  const k = gaussianKernel(sigma);
  const r = (k.length - 1) / 2;
  // Coarse samples at positions (j - 1) * step, j = 0..n-1, covering [-step, last + 2 * step].
  const nx = Math.floor((w - 1) / step) + 4;
  const ny = Math.floor((h - 1) / step) + 4;
  const xIdx = new Int32Array(nx * k.length);
  for (let j = 0; j < nx; j++) for (let i = 0; i < k.length; i++) xIdx[j * k.length + i] = symmetricIndex((j - 1) * step + i - r, w) * 3;
  // Horizontal pass on every row, at the coarse columns.
  const hc = new Float64Array(h * nx * 3);
  for (let y = 0; y < h; y++) {
    const row = y * w * 3;
    for (let j = 0; j < nx; j++) {
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      const base = j * k.length;
      for (let i = 0; i < k.length; i++) {
        const p = row + xIdx[base + i];
        const wt = k[i];
        s0 += wt * data[p];
        s1 += wt * data[p + 1];
        s2 += wt * data[p + 2];
      }
      const o = (y * nx + j) * 3;
      hc[o] = s0;
      hc[o + 1] = s1;
      hc[o + 2] = s2;
    }
  }
  // Vertical pass at the coarse rows.
  const grid = new Float64Array(ny * nx * 3);
  for (let m = 0; m < ny; m++) {
    for (let i = 0; i < k.length; i++) {
      const src = symmetricIndex((m - 1) * step + i - r, h) * nx * 3;
      const wt = k[i];
      const dst = m * nx * 3;
      for (let q = 0; q < nx * 3; q++) grid[dst + q] += wt * hc[src + q];
    }
  }
  // Cubic interpolation back to every pixel.
  const out = new Float32Array(w * h * 3);
  const wy = new Float64Array(4);
  const wx = new Float64Array(4);
  const line = new Float64Array(nx * 3);
  const xw = new Float64Array(w * 4);
  for (let x = 0; x < w; x++) lagrange((x % step) / step, xw.subarray(x * 4, x * 4 + 4));
  for (let y = 0; y < h; y++) {
    const m = Math.floor(y / step);
    lagrange((y - m * step) / step, wy);
    line.fill(0);
    for (let q = 0; q < 4; q++) {
      const src = (m + q) * nx * 3;
      for (let p = 0; p < nx * 3; p++) line[p] += wy[q] * grid[src + p];
    }
    for (let x = 0; x < w; x++) {
      const j = Math.floor(x / step);
      for (let q = 0; q < 4; q++) wx[q] = xw[x * 4 + q];
      const o = (y * w + x) * 3;
      for (let c = 0; c < 3; c++) {
        const b = j * 3 + c;
        out[o + c] = wx[0] * line[b] + wx[1] * line[b + 3] + wx[2] * line[b + 6] + wx[3] * line[b + 9];
      }
    }
  }
  return { width: w, height: h, data: out };
}

/**
 * One axis of `gaussianFilter` as two [n, nodes] float32 matrices (row-major): `k`, the kernel evaluated at the coarse
 * nodes with the 'reflect' boundary folded in, and `l`, the cubic interpolation from the nodes, so that the filter of
 * an image X [h, w] (per channel) is `L_y K_y^T X K_x L_x^T` (the engine evaluates it that way, src/faces/align_engine.ts).
 */
export function gaussianAxisOperators(n: number, sigma: number, step = coarseStep(sigma)): { k: Float32Array; l: Float32Array; nodes: number } {
  const kernel = gaussianKernel(sigma);
  const r = (kernel.length - 1) / 2;
  const nodes = Math.floor((n - 1) / step) + 4;
  const k = new Float32Array(n * nodes);
  const l = new Float32Array(n * nodes);
  const acc = new Float64Array(n);
  for (let j = 0; j < nodes; j++) {
    acc.fill(0);
    for (let i = 0; i < kernel.length; i++) acc[symmetricIndex((j - 1) * step + i - r, n)] += kernel[i];
    for (let x = 0; x < n; x++) k[x * nodes + j] = acc[x];
  }
  const wts = new Float64Array(4);
  for (let x = 0; x < n; x++) {
    const m = Math.floor(x / step);
    lagrange((x - m * step) / step, wts);
    for (let q = 0; q < 4; q++) l[x * nodes + m + q] = wts[q];
  }
  return { k, l, nodes };
}

/** k-th smallest of `a` (0-based), reordering `a` (Hoare quickselect with median-of-three pivots). */
function select(a: Float32Array, k: number): number {
  let lo = 0;
  let hi = a.length - 1;
  while (hi > lo) {
    const mid = (lo + hi) >>> 1;
    const pivot = [a[lo], a[mid], a[hi]].sort((p, q) => p - q)[1];
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) {
        const t = a[i];
        a[i] = a[j];
        a[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return a[k];
  }
  return a[k];
}

/** Buckets per grey level for `medianOf`'s histogram pass, over 0..MEDIAN_RANGE (values beyond fall in the end buckets). */
const MEDIAN_BUCKETS_PER_UNIT = 16;
const MEDIAN_RANGE = 256;

/**
 * The median of `a` (the mean of the two middle values for even counts, in float32 as numpy); `a` is not modified.
 * One histogram pass finds the buckets of the middle values, a second gathers those buckets' values, and quickselect
 * orders only them.
 */
export function medianOf(a: Float32Array): number {
  const n = a.length;
  const hi = n >> 1;
  const lo = n % 2 === 1 ? hi : hi - 1;
  const buckets = MEDIAN_RANGE * MEDIAN_BUCKETS_PER_UNIT;
  const last = buckets - 1;
  const counts = new Int32Array(buckets);
  for (let i = 0; i < n; i++) {
    const b = (a[i] * MEDIAN_BUCKETS_PER_UNIT) | 0;
    counts[b < 0 ? 0 : b > last ? last : b]++;
  }
  let first = 0;
  let below = 0;
  while (below + counts[first] <= lo) below += counts[first++];
  let end = first;
  let upTo = below + counts[first];
  while (upTo <= hi) upTo += counts[++end];
  const picked = new Float32Array(upTo - below);
  let m = 0;
  for (let i = 0; i < n; i++) {
    const v = a[i];
    const b0 = (v * MEDIAN_BUCKETS_PER_UNIT) | 0;
    const b = b0 < 0 ? 0 : b0 > last ? last : b0;
    if (b >= first && b <= end) picked[m++] = v;
  }
  const upper = select(picked, hi - below);
  return lo === hi ? upper : Math.fround(Math.fround(select(picked, lo - below) + upper) / 2);
}

/** `np.median(img, axis=(0, 1))`: per-channel median. */
export function channelMedian(img: FloatImage): [number, number, number] {
  const n = img.width * img.height;
  const buf = new Float32Array(n);
  const out: [number, number, number] = [0, 0, 0];
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < n; i++) buf[i] = img.data[i * 3 + c];
    out[c] = medianOf(buf);
  }
  return out;
}
