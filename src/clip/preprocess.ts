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
 * The Pillow resampling itself (and `resizeMatrix`, its float form for an in-graph, differentiable variant) lives in
 * src/io/images/resample.ts, shared with face alignment and the encoders.
 */
import type { HostTensor } from '../engine/tensor.js';
import { InputError } from '../errors.js';
import type { Pixels, RgbImage } from '../io/images/image.js';
import { resizeLikePil } from '../io/images/resample.js';

export { precomputeCoeffs, resizeLikePil, resizeMatrix, type ResampleFilter } from '../io/images/resample.js';

/** `model.visual.input_resolution` of every released CLIP ViT/ResNet except the 336/288/384/448 px variants. */
export const CLIP_IMAGE_SIZE = 224;
/** Normalize mean in openai/CLIP `_transform` (RGB). */
export const CLIP_MEAN: readonly number[] = [0.48145466, 0.4578275, 0.40821073];
/** Normalize std in openai/CLIP `_transform` (RGB). */
export const CLIP_STD: readonly number[] = [0.26862954, 0.26130258, 0.27577711];

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
