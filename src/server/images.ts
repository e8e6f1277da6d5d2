/**
 * PNG encoding of edit frames for the API and the batch report (sharp/libvips): single frames, the before|after
 * comparison strip, and small thumbnails for HTML reports.
 */
import sharp, { type Sharp } from 'sharp';

// libvips' operation cache (50 MB by default) only helps repeated identical operations; a server encodes a new frame
// every time, so the cache would just hold memory (measured: ~60 MB over a 3000-step job with a preview every step).
sharp.cache(false);
import { PNG_COMPRESSION } from '../io/image.js';
import type { RgbFrame } from '../optimize/types.js';

/** Gap between the two halves of compare.png, in pixels, filled with `COMPARE_BACKGROUND`. */
export const COMPARE_GAP = 8;
const COMPARE_BACKGROUND = { r: 255, g: 255, b: 255 };

/** Preview frames are encoded fast (zlib level 1): they are shown once and thrown away. */
const PREVIEW_COMPRESSION = 1;

function raw(frame: RgbFrame): Sharp {
  return sharp(frame.data, { raw: { width: frame.width, height: frame.height, channels: 3 } });
}

export async function encodePng(frame: RgbFrame, fast = false): Promise<Buffer> {
  return raw(frame)
    .png({ compressionLevel: fast ? PREVIEW_COMPRESSION : PNG_COMPRESSION })
    .toBuffer();
}

/** `before` and `after` side by side (after scaled to before's height if they differ). */
export async function sideBySide(before: RgbFrame, after: RgbFrame): Promise<Uint8Array> {
  const height = before.height;
  const afterPng =
    after.height === height
      ? await encodePng(after, true)
      : await raw(after).resize({ height }).png({ compressionLevel: PREVIEW_COMPRESSION }).toBuffer();
  const afterWidth = after.height === height ? after.width : Math.round((after.width * height) / after.height);
  return sharp({
    create: { width: before.width + COMPARE_GAP + afterWidth, height, channels: 3, background: COMPARE_BACKGROUND },
  })
    .composite([
      { input: await encodePng(before, true), left: 0, top: 0 },
      { input: afterPng, left: before.width + COMPARE_GAP, top: 0 },
    ])
    .png({ compressionLevel: PNG_COMPRESSION })
    .toBuffer();
}

/** A PNG file scaled to fit `size` x `size` (never enlarged), as a data URL for self-contained HTML. */
export async function thumbnailDataUrl(png: Uint8Array, size: number): Promise<string> {
  const buf = await sharp(png).resize({ width: size, height: size, fit: 'inside', withoutEnlargement: true }).png().toBuffer();
  return `data:image/png;base64,${buf.toString('base64')}`;
}
