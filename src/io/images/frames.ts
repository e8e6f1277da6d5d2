/**
 * Compositions of RGB frames: side-by-side comparisons and animated GIFs of an edit's progress (sharp encodes
 * multi-page GIFs from frames stacked vertically with `pageHeight`).
 */
import sharp from 'sharp';
import { InputError } from '../../errors.js';
import { writeFileAtomic } from '../atomic.js';

export interface Frame {
  readonly width: number;
  readonly height: number;
  /** Interleaved RGB, uint8. */
  readonly data: Uint8Array;
}

/** Gap between the images of a comparison strip (compare.png of the CLI, the API and batch), in pixels. */
export const COMPARE_GAP = 8;
/** Colour of that gap: white, RGB. */
const COMPARE_BACKGROUND = 255;

/**
 * The one comparison layout: frames of equal height placed left to right, `COMPARE_GAP` white pixels between them.
 * Used for every compare.png (CLI, API and batch).
 */
export function sideBySide(frames: readonly Frame[]): Frame {
  if (frames.length === 0) throw new Error('sideBySide: no frames');
  const height = frames[0].height;
  if (frames.some((f) => f.height !== height)) throw new Error('sideBySide: frames must have equal heights');
  const width = frames.reduce((s, f) => s + f.width, 0) + COMPARE_GAP * (frames.length - 1);
  const data = new Uint8Array(width * height * 3).fill(COMPARE_BACKGROUND);
  let x0 = 0;
  for (const f of frames) {
    for (let y = 0; y < height; y++) data.set(f.data.subarray(y * f.width * 3, (y + 1) * f.width * 3), (y * width + x0) * 3);
    x0 += f.width + COMPARE_GAP;
  }
  return { width, height, data };
}

/** Frames of equal width one above the other, `COMPARE_GAP` white rows between them (a grid of sideBySide rows). */
export function aboveBelow(frames: readonly Frame[]): Frame {
  if (frames.length === 0) throw new Error('aboveBelow: no frames');
  const width = frames[0].width;
  if (frames.some((f) => f.width !== width)) throw new Error('aboveBelow: frames must have equal widths');
  const height = frames.reduce((s, f) => s + f.height, 0) + COMPARE_GAP * (frames.length - 1);
  const data = new Uint8Array(width * height * 3).fill(COMPARE_BACKGROUND);
  let y0 = 0;
  for (const f of frames) {
    data.set(f.data, y0 * width * 3);
    y0 += f.height + COMPARE_GAP;
  }
  return { width, height, data };
}

/** Default delay between GIF frames. */
const GIF_FRAME_DELAY_MS = 100;

/** Writes frames of equal size as a looping animated GIF, atomically. */
export async function writeGif(path: string, frames: readonly Frame[], delayMs = GIF_FRAME_DELAY_MS): Promise<void> {
  if (frames.length === 0) throw new InputError('no frames to write to the GIF');
  const { width, height } = frames[0];
  if (frames.some((f) => f.width !== width || f.height !== height)) throw new Error('writeGif: frames must have equal sizes');
  const stacked = new Uint8Array(width * height * 3 * frames.length);
  frames.forEach((f, i) => stacked.set(f.data, i * width * height * 3));
  const gif = await sharp(stacked, { raw: { width, height: height * frames.length, channels: 3, pageHeight: height } })
    .gif({ delay: frames.map(() => delayMs), loop: 0 })
    .toBuffer();
  await writeFileAtomic(path, gif);
}
