/**
 * Test helpers for the face tests: the shared FFHQ faces, known similarity transforms of them (an independent bilinear
 * warp, so the alignment code is not tested against itself), PSNR and cosine figures.
 */
import { readdirSync } from 'node:fs';
import { resizeLikePil } from '../../src/clip/preprocess.js';
import { applyAffine, composeAffine, invertAffine, similarity, type Affine, type Point } from '../../src/faces/geometry.js';
import { readImage, type RgbImage } from '../../src/io/images/image.js';
import { sampleBilinear } from '../../src/faces/raster.js';
import { sharedPath } from '../helpers/shared.js';

export const FACE_MODELS = (): string => sharedPath('models');

/** The eight FFHQ-aligned faces in ../shared/data/faces, by name order. */
export function facePaths(): string[] {
  const dir = sharedPath('data', 'faces');
  return readdirSync(dir)
    .filter((f) => /^ffhq_\d+\.jpg$/.test(f))
    .sort((a, b) => Number(a.match(/\d+/)![0]) - Number(b.match(/\d+/)![0]))
    .map((f) => `${dir}/${f}`);
}

export const readFace = (path: string): Promise<RgbImage> => readImage(path);

/** A photo made from an aligned face: rotated, scaled, placed at an offset on a grey canvas. */
export interface Transformed {
  readonly image: RgbImage;
  /** Original pixel-index coordinates -> transformed photo coordinates. */
  readonly map: Affine;
}

/**
 * Rotates `img` by `degrees` about its centre, scales by `scale`, and places it on a canvas with `margin` pixels
 * around the rotated image's bounding box plus an extra `shift` offset (negative margins crop). Bilinear sampling of
 * pixel centres; outside the source the canvas is mid grey.
 */
export function transformFace(img: RgbImage, degrees: number, scale: number, margin: number, shift: Point = [0, 0]): Transformed {
  const cx = (img.width - 1) / 2;
  const cy = (img.height - 1) / 2;
  const rot = composeAffine(similarity(degrees, scale), [1, 0, -cx, 0, 1, -cy]);
  const corners: Point[] = [
    [-0.5, -0.5],
    [img.width - 0.5, -0.5],
    [-0.5, img.height - 0.5],
    [img.width - 0.5, img.height - 0.5],
  ].map((p) => applyAffine(rot, p as unknown as Point));
  const minX = Math.min(...corners.map((p) => p[0]));
  const minY = Math.min(...corners.map((p) => p[1]));
  const maxX = Math.max(...corners.map((p) => p[0]));
  const maxY = Math.max(...corners.map((p) => p[1]));
  const width = Math.ceil(maxX - minX + 2 * margin);
  const height = Math.ceil(maxY - minY + 2 * margin);
  const map = composeAffine([1, 0, margin - minX + shift[0], 0, 1, margin - minY + shift[1]], rot);
  const inv = invertAffine(map);
  const out = new Uint8Array(width * height * 3).fill(128);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const [sx, sy] = applyAffine(inv, [x, y]);
      sampleBilinear(img, sx, sy, out, (y * width + x) * 3);
    }
  }
  return { image: { width, height, channels: 3, data: out }, map };
}

/** The original face at `size` (PIL ANTIALIAS), the reference an alignment at that size is compared with. */
export const resized = (img: RgbImage, size: number): RgbImage => resizeLikePil(img, size, size, 'lanczos') as RgbImage;

/** PSNR (dB, peak 255) over the central `fraction` of two equal-size square images. */
export function centralPsnr(a: RgbImage, b: RgbImage, fraction = 5 / 8): number {
  if (a.width !== b.width || a.height !== b.height) throw new Error('PSNR of images of different sizes');
  const lo = Math.round((a.width * (1 - fraction)) / 2);
  const hi = a.width - lo;
  let se = 0;
  let n = 0;
  for (let y = lo; y < hi; y++) {
    for (let x = lo; x < hi; x++) {
      for (let c = 0; c < 3; c++) {
        const d = a.data[(y * a.width + x) * 3 + c] - b.data[(y * b.width + x) * 3 + c];
        se += d * d;
        n++;
      }
    }
  }
  return 10 * Math.log10((255 * 255) / (se / n));
}

export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return ab / Math.sqrt(aa * bb);
}

export const summary = (xs: readonly number[]): string => {
  const s = [...xs].sort((p, q) => p - q);
  const mean = s.reduce((a, b) => a + b, 0) / s.length;
  return `n=${s.length} min=${s[0].toFixed(4)} median=${s[s.length >> 1].toFixed(4)} mean=${mean.toFixed(4)} max=${s[s.length - 1].toFixed(4)}`;
};
