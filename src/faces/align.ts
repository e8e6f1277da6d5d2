/**
 * FFHQ alignment: cut the oriented face crop out of a photo exactly as the FFHQ dataset was made
 * (`recreate_aligned_images` in NVlabs/ffhq-dataset `download_ffhq.py`; Karras et al., CVPR 2019, appendix A):
 *
 * 1. crop quad from the 68 landmarks (./geometry.ts `ffhqCrop`);
 * 2. shrink: when the crop is more than twice the output size, resize the whole photo by an integer factor
 *    `floor(qsize / size * 0.5)` with PIL's ANTIALIAS (Lanczos, a = 3) filter;
 * 3. crop to the quad's bounding box plus a border of `max(rint(0.1 qsize), 3)`;
 * 4. pad: when the quad reaches past the photo, reflect-pad by at least `rint(0.3 qsize)`, blend towards a Gaussian
 *    blur (sigma 0.02 qsize) near and beyond the edge and towards the per-channel median beyond it;
 * 5. PIL QUAD transform with BILINEAR sampling to 4096x4096, then an ANTIALIAS resize to the output size.
 *
 * Images are raw 8-bit RGB; PIL's Lanczos resampling is ../clip/preprocess.ts (`resizeLikePil`, Pillow Resample.c),
 * fused with the QUAD transform in ./raster.ts for the last step.
 * The returned quad is in the photo's pixel-index coordinates; `alignedToImage(quad, size)` maps aligned pixels back.
 */
import { resizeLikePil } from '../io/images/resample.js';
import { InputError } from '../errors.js';
import type { RgbImage } from '../io/images/image.js';
import { channelMedian, gaussianFilter } from './blur.js';
import { ffhqCrop, type Point, type Quad } from './geometry.js';
import { cropRgb, quadTransformResized, reflectPad, rint, toUint8, type FloatImage } from './raster.js';

/** The recipe's `transform_size`: the QUAD transform renders at this size before the final antialiased resize. */
export const FFHQ_TRANSFORM_SIZE = 4096;
/** The FFHQ release resolution, the default output size. */
export const FFHQ_SIZE = 1024;
/** Shrink when `qsize / size * SHRINK_FACTOR` is at least 2 (the factor is its floor). */
export const SHRINK_FACTOR = 0.5;
/** Crop border: `max(rint(qsize * BORDER_FRACTION), MIN_BORDER)`. */
export const BORDER_FRACTION = 0.1;
export const MIN_BORDER = 3;
/** Padding happens when the quad needs more than `border - PAD_SLACK` pixels beyond an edge. */
export const PAD_SLACK = 4;
/** Minimum padding `rint(qsize * PAD_FRACTION)` on every side once padding happens. */
export const PAD_FRACTION = 0.3;
/** Gaussian sigma of the padding blend: `qsize * BLUR_FRACTION`. */
export const BLUR_FRACTION = 0.02;
/** Blur blend weight `clip(mask * BLUR_MASK_GAIN + 1, 0, 1)`. */
export const BLUR_MASK_GAIN = 3.0;

export interface AlignOptions {
  /** Output side in pixels (1024 as FFHQ, or the generator's resolution). */
  readonly size?: number;
  /** Render size of the QUAD transform (the recipe's 4096). */
  readonly transformSize?: number;
  /** Reflect-pad and blur when the crop leaves the photo (the recipe's `enable_padding`, default true). */
  readonly padding?: boolean;
}

export interface AlignedFace {
  readonly image: RgbImage;
  /** The crop in the input photo's pixel coordinates (top-left, bottom-left, bottom-right, top-right). */
  readonly quad: Quad;
  /** The 68 landmarks the crop was computed from, in the input photo's coordinates. */
  readonly landmarks: readonly Point[];
  readonly size: number;
}

const shift = (q: Quad, dx: number, dy: number): Quad => q.map((p) => [p[0] + dx, p[1] + dy]) as unknown as Quad;
const scaleQuad = (q: Quad, s: number): Quad => q.map((p) => [p[0] * s, p[1] * s]) as unknown as Quad;

/** floor/ceil bounding box of a quad: (x0, y0, x1, y1). */
function bounds(q: Quad): [number, number, number, number] {
  const xs = q.map((p) => p[0]);
  const ys = q.map((p) => p[1]);
  return [Math.floor(Math.min(...xs)), Math.floor(Math.min(...ys)), Math.ceil(Math.max(...xs)), Math.ceil(Math.max(...ys))];
}

/** Step 4's blend weights: `mask` rises from 0 at `pad` pixels inside each edge to 1 at the padded image's edge. */
export function paddingMask(w: number, h: number, pad: readonly [number, number, number, number]): Float32Array {
  const mask = new Float32Array(w * h);
  for (let y = 0; y < h; y++) {
    const my = 1 - Math.min(Math.fround(y / pad[1]), Math.fround((h - 1 - y) / pad[3]));
    for (let x = 0; x < w; x++) {
      const mx = 1 - Math.min(Math.fround(x / pad[0]), Math.fround((w - 1 - x) / pad[2]));
      mask[y * w + x] = Math.max(mx, my);
    }
  }
  return mask;
}

/** Step 4: reflect padding blended towards a blur and the median (float32 throughout, as numpy). */
function padAndBlend(img: RgbImage, pad: readonly [number, number, number, number], qsize: number): RgbImage {
  const f: FloatImage = reflectPad(img, pad[0], pad[1], pad[2], pad[3]);
  const { width: w, height: h, data } = f;
  const mask = paddingMask(w, h, pad);
  const blurred = gaussianFilter(f, qsize * BLUR_FRACTION).data;
  for (let i = 0; i < w * h; i++) {
    const wt = Math.min(1, Math.max(0, mask[i] * BLUR_MASK_GAIN + 1));
    for (let c = 0; c < 3; c++) data[i * 3 + c] = Math.fround(data[i * 3 + c] + (blurred[i * 3 + c] - data[i * 3 + c]) * wt);
  }
  const median = channelMedian(f);
  for (let i = 0; i < w * h; i++) {
    const wt = Math.min(1, Math.max(0, mask[i]));
    for (let c = 0; c < 3; c++) data[i * 3 + c] = Math.fround(data[i * 3 + c] + (median[c] - data[i * 3 + c]) * wt);
  }
  return toUint8(f);
}

/** Steps 1-3 and the padding step's size: what steps 4 and 5 work on. */
export interface AlignmentPlan {
  readonly size: number;
  readonly transformSize: number;
  /** The photo after the shrink and the crop. */
  readonly image: RgbImage;
  /** The crop quad in `image`'s coordinates (before padding). */
  readonly quad: Quad;
  readonly qsize: number;
  /** Step 4's [left, top, right, bottom] padding, when it happens. */
  readonly pad?: [number, number, number, number];
  /** The crop in the input photo's coordinates. */
  readonly photoQuad: Quad;
}

/** Steps 1-3 (crop quad, shrink, crop) and whether step 4 pads, for the face with these 68 landmarks. */
export function planAlignment(photo: RgbImage, landmarks: readonly Point[], opts: AlignOptions = {}): AlignmentPlan {
  const size = opts.size ?? FFHQ_SIZE;
  const transformSize = opts.transformSize ?? FFHQ_TRANSFORM_SIZE;
  if (!Number.isInteger(size) || size < 1 || size > transformSize) {
    throw new InputError(`alignment size must be an integer in 1..${transformSize}, got ${size}`);
  }
  const crop = ffhqCrop(landmarks);
  let quad = crop.quad;
  let qsize = crop.qsize;
  let img = photo;

  const shrink = Math.floor((qsize / size) * SHRINK_FACTOR);
  if (shrink > 1) {
    img = resizeLikePil(img, rint(img.width / shrink), rint(img.height / shrink), 'lanczos') as RgbImage;
    quad = scaleQuad(quad, 1 / shrink);
    qsize /= shrink;
  }

  const border = Math.max(rint(qsize * BORDER_FRACTION), MIN_BORDER);
  const b = bounds(quad);
  const c = [Math.max(b[0] - border, 0), Math.max(b[1] - border, 0), Math.min(b[2] + border, img.width), Math.min(b[3] + border, img.height)];
  if (c[2] <= c[0] || c[3] <= c[1]) throw new InputError('the face crop lies entirely outside the image');
  if (c[2] - c[0] < img.width || c[3] - c[1] < img.height) {
    img = cropRgb(img, c[0], c[1], c[2], c[3]);
    quad = shift(quad, -c[0], -c[1]);
  }

  const p = bounds(quad);
  const pad: [number, number, number, number] = [
    Math.max(-p[0] + border, 0),
    Math.max(-p[1] + border, 0),
    Math.max(p[2] - img.width + border, 0),
    Math.max(p[3] - img.height + border, 0),
  ];
  const pads = (opts.padding ?? true) && Math.max(...pad) > border - PAD_SLACK;
  const least = rint(qsize * PAD_FRACTION);
  return {
    size,
    transformSize,
    image: img,
    quad,
    qsize,
    pad: pads ? (pad.map((v) => Math.max(v, least)) as [number, number, number, number]) : undefined,
    photoQuad: crop.quad,
  };
}

/** The quad in the padded image's coordinates. */
export const paddedQuad = (plan: AlignmentPlan): Quad => (plan.pad ? shift(plan.quad, plan.pad[0], plan.pad[1]) : plan.quad);

/** Aligns the face with these 68 landmarks (photo pixel coordinates) as the FFHQ recipe does. */
export function alignFace(photo: RgbImage, landmarks: readonly Point[], opts: AlignOptions = {}): AlignedFace {
  const plan = planAlignment(photo, landmarks, opts);
  const img = plan.pad ? padAndBlend(plan.image, plan.pad, plan.qsize) : plan.image;
  const image = quadTransformResized(img, paddedQuad(plan), plan.transformSize, plan.size);
  return { image, quad: plan.photoQuad, landmarks, size: plan.size };
}
