/**
 * Pasting an edited aligned face back into the photo it came from: the inverse of the FFHQ crop (./geometry.ts
 * `alignedToImage`), resampled with antialiasing (./raster.ts `warpAffine`), blended through a feathered mask so the
 * seam fades out towards the crop's border.
 */
import { InputError } from '../errors.js';
import type { RgbImage } from '../io/images/image.js';
import { alignedToImage, composeAffine, invertAffine, type Quad } from './geometry.js';
import { warpAffine } from './raster.js';

/** Default feather width as a fraction of the crop side. */
export const DEFAULT_FEATHER = 0.1;

/** Smoothstep 3a^2 - 2a^3 of a clamped to [0, 1]. */
function smoothstep(a: number): number {
  const t = Math.min(1, Math.max(0, a));
  return t * t * (3 - 2 * t);
}

/**
 * `original` with the aligned face `edited` (square, any size) put back where `quad` (from `alignFace`) cut it. The
 * mask is 1 inside the crop and falls to 0 over the outer `feather` fraction of the crop side (smoothstep); 0 gives
 * a hard edge.
 */
export function pasteBack(original: RgbImage, edited: RgbImage, quad: Quad, feather: number = DEFAULT_FEATHER): RgbImage {
  if (edited.width !== edited.height) throw new InputError(`the edited face must be square, got ${edited.width}x${edited.height}`);
  if (!(feather >= 0 && feather <= 0.5)) throw new InputError(`feather must be in [0, 0.5] (a fraction of the crop side), got ${feather}`);
  const size = edited.width;
  const toAligned = invertAffine(alignedToImage(quad, size));
  const xs = quad.map((p) => p[0]);
  const ys = quad.map((p) => p[1]);
  const x0 = Math.max(0, Math.floor(Math.min(...xs)));
  const y0 = Math.max(0, Math.floor(Math.min(...ys)));
  const x1 = Math.min(original.width, Math.ceil(Math.max(...xs)) + 1);
  const y1 = Math.min(original.height, Math.ceil(Math.max(...ys)) + 1);
  const out = Uint8Array.from(original.data);
  if (x1 <= x0 || y1 <= y0) return { ...original, data: out };
  const w = x1 - x0;
  const h = y1 - y0;
  const regionToAligned = composeAffine(toAligned, [1, 0, x0, 0, 1, y0]);
  const face = warpAffine(edited, regionToAligned, w, h);
  const m = regionToAligned;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const u = m[0] * x + m[1] * y + m[2];
      const v = m[3] * x + m[4] * y + m[5];
      const s = (u + 0.5) / size;
      const t = (v + 0.5) / size;
      const d = Math.min(s, 1 - s, t, 1 - t);
      const alpha = d <= 0 ? 0 : feather === 0 ? 1 : smoothstep(d / feather);
      if (alpha === 0) continue;
      const o = ((y + y0) * original.width + (x + x0)) * 3;
      const f = (y * w + x) * 3;
      for (let c = 0; c < 3; c++) out[o + c] = Math.round(out[o + c] * (1 - alpha) + face.data[f + c] * alpha);
    }
  }
  return { width: original.width, height: original.height, channels: 3, data: out };
}
