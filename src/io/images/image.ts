/**
 * Image files in and out through sharp (libvips, https://sharp.pixelplumbing.com/api-constructor), and conversions
 * between 8-bit RGB and float NCHW host tensors.
 *
 * Reading always yields 8-bit sRGB: EXIF orientation is applied (`rotate()`), CMYK / greyscale / 16-bit inputs are
 * converted to 8-bit sRGB, palette images are expanded. `readImage` flattens alpha onto white; `readImageRgba` keeps
 * it (opaque images get alpha 255) for code that must treat alpha like PIL does, such as CLIP preprocessing.
 * Images above `maxPixels` are refused from their header alone, before any pixel is decoded.
 */
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import sharp, { type Metadata, type Sharp } from 'sharp';
import type { HostTensor } from '../../engine/tensor.js';
import { InputError } from '../../errors.js';
import { writeFileAtomic } from '../atomic.js';

/** 8-bit interleaved pixels, row-major, `channels` bytes per pixel (RGB or RGBA). */
export interface Pixels {
  readonly width: number;
  readonly height: number;
  readonly channels: 3 | 4;
  readonly data: Uint8Array;
}
/** An RGB frame as edits return and render it: interleaved uint8 RGB, no channel count (always 3). */
export interface RgbFrame {
  readonly width: number;
  readonly height: number;
  /** Interleaved RGB, uint8. */
  readonly data: Uint8Array;
}

export interface RgbImage extends Pixels {
  readonly channels: 3;
}
export interface RgbaImage extends Pixels {
  readonly channels: 4;
}

/**
 * Default pixel limit, the same for the CLI, the library and the server: 50 megapixels (≈ 200 MB of RGBA while
 * decoding; a 2-core/4 GB worker stays responsive). sharp's own default is 0x3FFF² ≈ 268 MP.
 */
export const DEFAULT_MAX_PIXELS = 50_000_000;

/** Environment variable that changes the default limit (the CLI's global `--max-pixels N` sets it for one run). */
export const MAX_PIXELS_ENV = 'STYLECLIP_MAX_PIXELS';

/** The pixel limit in force: `STYLECLIP_MAX_PIXELS` when set (a positive number), else `DEFAULT_MAX_PIXELS`. */
export function maxPixelsLimit(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env[MAX_PIXELS_ENV];
  if (raw === undefined || raw === '') return DEFAULT_MAX_PIXELS;
  const n = Number(raw);
  if (!(n > 0)) throw new ImageError(`${MAX_PIXELS_ENV} (--max-pixels) must be a positive number of pixels, got '${raw}'`);
  return n;
}

/** Background that `readImage` composites transparent pixels onto. */
const FLATTEN_BACKGROUND = '#ffffff';

/** Encoder settings for `writeImage`: visually lossless JPEG/WebP, PNG at zlib level 6 (libvips' default). */
const JPEG_QUALITY = 95;
const WEBP_QUALITY = 95;
export const PNG_COMPRESSION = 6;

/** Value range of float image tensors: StyleGAN2 outputs use [-1,1], torchvision's ToTensor [0,1]. */
type PixelRange = '[-1,1]' | '[0,1]' | '[0,255]';

interface ReadImageOptions {
  /** Refuse images with more pixels than this (width × height, before orientation). Default `maxPixelsLimit()`. */
  readonly maxPixels?: number;
}

class ImageError extends InputError {
  override name = 'ImageError';
}

async function loadBytes(src: string | Uint8Array): Promise<{ bytes: Uint8Array; name: string }> {
  if (typeof src !== 'string') return { bytes: src, name: 'image data' };
  try {
    return { bytes: await readFile(src), name: src };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw new ImageError(`cannot read image ${src}: ${code}`);
  }
}

/**
 * What a decoder failure means for the file, in the user's terms (libvips' own texts, e.g. "Input buffer contains
 * unsupported image format" or "vipspng: libpng read error", name the library, not the problem).
 */
const DECODE_PROBLEMS: readonly (readonly [RegExp, string])[] = [
  [/unsupported image format/i, 'it is not an image, or not in a format this reads'],
  [/premature end|truncat|read error|end of file|corrupt|not enough data|unexpected end|incomplete|invalid/i, 'the file is damaged or incomplete (cut off while saving or downloading?)'],
];

function decodeError(name: string, e: unknown): ImageError {
  const message = (e as Error).message ?? '';
  const why = DECODE_PROBLEMS.find(([re]) => re.test(message))?.[1] ?? 'the image data could not be read';
  return new ImageError(`cannot decode ${name}: ${why}; pass a complete PNG, JPEG, WebP, GIF, TIFF or AVIF image`);
}

async function decode(src: string | Uint8Array, mode: 'flatten' | 'keep' | 'auto', options: ReadImageOptions): Promise<Pixels> {
  const maxPixels = options.maxPixels ?? maxPixelsLimit();
  if (!(maxPixels > 0)) throw new ImageError(`maxPixels must be positive, got ${maxPixels}`);
  const { bytes, name } = await loadBytes(src);
  if (bytes.length === 0) throw new ImageError(`${name} is empty (0 bytes); pass an image file`);
  const limit = Number.isFinite(maxPixels) ? Math.ceil(maxPixels) : false;
  const open = (limitInputPixels: number | false): Sharp => sharp(bytes, { limitInputPixels, failOn: 'error' });
  let meta: Metadata;
  try {
    meta = await open(false).metadata();
  } catch (e) {
    throw decodeError(name, e);
  }
  const { width, height } = meta;
  if (!width || !height) throw new ImageError(`${name} has no pixel dimensions; pass a raster image`);
  if (width * height > maxPixels) {
    throw new ImageError(
      `${name} is ${width}x${height} = ${width * height} pixels, above the limit of ${maxPixels}` +
        `; downscale it, or raise the limit if the memory is available (CLI and serve: --max-pixels N; ` +
        `library: the maxPixels option or ${MAX_PIXELS_ENV})`,
    );
  }
  const alpha = mode === 'auto' ? (meta.hasAlpha ? 'keep' : 'flatten') : mode;
  let pipeline = open(limit).rotate().toColourspace('srgb');
  pipeline = alpha === 'flatten' ? pipeline.flatten({ background: FLATTEN_BACKGROUND }).removeAlpha() : pipeline.ensureAlpha();
  try {
    const { data, info } = await pipeline.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    const channels = alpha === 'flatten' ? 3 : 4;
    if (info.channels !== channels) throw new Error(`decoder produced ${info.channels} channels, expected ${channels}`);
    return { width: info.width, height: info.height, channels, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
  } catch (e) {
    throw decodeError(name, e);
  }
}

/** Decodes to 8-bit sRGB RGB, alpha composited onto white. */
export async function readImage(src: string | Uint8Array, options: ReadImageOptions = {}): Promise<RgbImage> {
  return (await decode(src, 'flatten', options)) as RgbImage;
}

/** Decodes to 8-bit sRGB RGBA with straight (unpremultiplied) alpha; images without alpha get 255. */
export async function readImageRgba(src: string | Uint8Array, options: ReadImageOptions = {}): Promise<RgbaImage> {
  return (await decode(src, 'keep', options)) as RgbaImage;
}

/**
 * Decodes to 8-bit sRGB as the file is: RGB when it has no alpha channel, else RGBA with straight alpha (what PIL's
 * `Image.open` gives before any conversion; CLIP's preprocessing resizes RGBA premultiplied and drops alpha after).
 */
export async function readImagePixels(src: string | Uint8Array, options: ReadImageOptions = {}): Promise<Pixels> {
  return decode(src, 'auto', options);
}

/** uint8 -> float per range: `u/255` for [0,1], `u/127.5 - 1` for [-1,1] (both computed in float32), `u` for [0,255]. */
function toUnit(range: PixelRange): (u: number) => number {
  if (range === '[0,255]') return (u) => u;
  return range === '[0,1]' ? (u) => Math.fround(u / 255) : (u) => Math.fround(Math.fround(u / 127.5) - 1);
}

/** RGB (or RGBA, alpha ignored) pixels -> float32 NCHW [1,3,H,W]. */
export function rgbToTensor(img: Pixels, range: PixelRange): HostTensor {
  const { width, height, channels, data } = img;
  const plane = width * height;
  const out = new Float32Array(3 * plane);
  const f = toUnit(range);
  for (let i = 0; i < plane; i++) {
    out[i] = f(data[i * channels]);
    out[plane + i] = f(data[i * channels + 1]);
    out[2 * plane + i] = f(data[i * channels + 2]);
  }
  return { dtype: 'float32', shape: [1, 3, height, width], data: out };
}

/** Round half to even, as `torch.round` and numpy `rint`. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * Float value -> uint8 as `((x.clamp(-1,1) + 1) / 2 * 255).round()` for [-1,1], `(x.clamp(0,1) * 255).round()`
 * for [0,1] or `x.clamp(0,255).round()` for [0,255], in float32 with torch's round-half-to-even. NaN becomes 0.
 */
export function toByte(x: number, range: PixelRange): number {
  const v = BYTE_OF[range](x);
  return Number.isNaN(v) ? 0 : v;
}

/**
 * Round half to even of 0 <= y < 2^51 in two float64 additions (round-to-nearest-even is the FPU's rounding), NaN
 * kept: a Uint8Array stores NaN as 0.
 */
const EVEN = 1.5 * 2 ** 52;
const even = (y: number): number => y + EVEN - EVEN;

/**
 * toByte per range, chosen once per image rather than per pixel (a 1024 px image: 58 -> 12 ms). For [-1,1],
 * (c + 1) / 2 * 255 is fround(c + 1) * 127.5 rounded once: halving is exact and the float64 product of a float32 and
 * 127.5 is exact.
 */
const BYTE_OF: Readonly<Record<PixelRange, (x: number) => number>> = {
  '[0,255]': (x) => even(Math.min(255, Math.max(0, x))),
  '[0,1]': (x) => even(Math.fround(Math.min(1, Math.max(0, x)) * 255)),
  '[-1,1]': (x) => even(Math.fround(Math.fround(Math.min(1, Math.max(-1, x)) + 1) * 127.5)),
};

/** Batch element `index` of a float32 [N,3,H,W] tensor -> RGB pixels (see `toByte` for clamping and rounding). */
export function tensorToRgb(t: HostTensor, index: number, range: PixelRange): RgbImage {
  if (t.shape.length !== 4 || t.shape[1] !== 3) {
    throw new InputError(`expected an image tensor [N,3,H,W], got [${t.shape.join(',')}]`);
  }
  const [n, , height, width] = t.shape;
  if (!Number.isInteger(index) || index < 0 || index >= n) {
    throw new InputError(`image index ${index} is out of range for a batch of ${n}`);
  }
  if (t.dtype !== 'float32') throw new InputError(`expected a float32 image tensor, got ${t.dtype}`);
  const src = t.data as Float32Array;
  const plane = width * height;
  const base = index * 3 * plane;
  const data = new Uint8Array(3 * plane);
  const byte = BYTE_OF[range];
  for (let c = 0; c < 3; c++) {
    const from = base + c * plane;
    for (let i = 0; i < plane; i++) data[i * 3 + c] = byte(src[from + i]);
  }
  return { width, height, channels: 3, data };
}

const WRITE_FORMATS = ['.png', '.jpg', '.jpeg', '.webp'];

/** Encodes RGB pixels in the format named by the extension (png/jpg/jpeg/webp) and writes atomically. */
export async function writeImage(path: string, rgb: Uint8Array, width: number, height: number): Promise<void> {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new InputError(`image size must be positive integers, got ${width}x${height}`);
  }
  if (rgb.length !== width * height * 3) {
    throw new InputError(`RGB data has ${rgb.length} bytes; a ${width}x${height} image needs ${width * height * 3}`);
  }
  const ext = extname(path).toLowerCase();
  if (!WRITE_FORMATS.includes(ext)) {
    throw new InputError(`cannot tell the image format of '${path}'; use one of ${WRITE_FORMATS.join(', ')}`);
  }
  const img = sharp(rgb, { raw: { width, height, channels: 3 } });
  const encoded =
    ext === '.png'
      ? img.png({ compressionLevel: PNG_COMPRESSION })
      : ext === '.webp'
        ? img.webp({ quality: WEBP_QUALITY })
        : img.jpeg({ quality: JPEG_QUALITY });
  await writeFileAtomic(path, await encoded.toBuffer());
}
