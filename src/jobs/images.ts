/**
 * PNG (and, for renders, JPEG/WebP) encoding of edit frames for the API and the batch report (sharp/libvips): single frames and small thumbnails
 * for HTML reports (the before|after strip is `sideBySide` of io/frames.ts, shared with the CLI).
 */
import sharp, { type Sharp } from 'sharp';

// libvips' operation cache (50 MB by default) only helps repeated identical operations; a server encodes a new frame
// every time, so the cache would just hold memory (measured: ~60 MB over a 3000-step job with a preview every step).
sharp.cache(false);
import { PNG_COMPRESSION } from '../io/images/image.js';
import type { RgbFrame } from '../io/images/image.js';

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

/** Image formats a render can be answered in, and their MIME types. */
export const RENDER_FORMATS = { png: 'image/png', jpeg: 'image/jpeg', webp: 'image/webp' } as const;
export type RenderFormat = keyof typeof RENDER_FORMATS;
/** Quality of JPEG/WebP renders (libvips' scale; 90 keeps faces free of visible artefacts at a tenth of the PNG). */
const LOSSY_QUALITY = 90;

/** A frame encoded as `format` (PNG as `encodePng`). */
export async function encodeFrame(frame: RgbFrame, format: RenderFormat): Promise<Buffer> {
  if (format === 'png') return encodePng(frame);
  return format === 'jpeg' ? raw(frame).jpeg({ quality: LOSSY_QUALITY }).toBuffer() : raw(frame).webp({ quality: LOSSY_QUALITY }).toBuffer();
}

/** A PNG file scaled to fit `size` x `size` (never enlarged), as a data URL for self-contained HTML. */
export async function thumbnailDataUrl(png: Uint8Array, size: number): Promise<string> {
  const buf = await sharp(png).resize({ width: size, height: size, fit: 'inside', withoutEnlargement: true }).png().toBuffer();
  return `data:image/png;base64,${buf.toString('base64')}`;
}
