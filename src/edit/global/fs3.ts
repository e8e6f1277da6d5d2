/**
 * Per-channel CLIP directions of StyleCLIP's global directions (Patashnik et al. 2021, sec. 6; global_torch/
 * SingleChannel.py and StyleCLIP.py `GetFs`): `fs3.npy`, one unit CLIP-space vector per covered conv channel.
 *
 * Coverage: the conv (not ToRGB) layers in layout order from the first, as many as the row count spans (FFHQ 1024:
 * the conv layers up to 128 px, 5376 channels). It is derived from the rows, never assumed.
 *
 * Recipe for one channel c of layer l (SingleChannel.py): set c to its mean in every image, render each image with c at
 * mean - alpha std and mean + alpha std (nothing else changed, stored noise), convert to uint8 by truncation, CLIP
 * preprocessing (PIL bicubic resize, centre crop, mean/std), encode_image. GetFs: L2-normalise each feature; d =
 * f(+) - f(-); L2-normalise d per image; mean over the images; L2-normalise.
 * QUIRK (official, reproduced): "set to mean" is never undone (a shallow list copy), so when channel c is evaluated,
 * every earlier covered channel already sits at its mean in all images.
 */
import type { Clip } from '../../clip/clip.js';
import { toFloat32, type HostTensor } from '../../engine/tensor.js';
import { Cancelled, InputError } from '../../errors.js';
import type { Generator, StyleLayer, StyleSpaceLayout } from '../../generator/index.js';
import type { RgbImage } from '../../io/images/image.js';
import { readNpy } from '../../io/tensors/npy.js';
import type { StyleStats } from './stats.js';

/** SingleChannel.py: channels are pushed to mean -/+ 5 std. */
export const FS3_ALPHA = 5;
/** SingleChannel.py: 100 images per channel (`num_img=100`). */
export const FS3_IMAGES = 100;

/** The conv layers an fs3 with `rows` rows covers, or an error naming the row counts that would fit. */
export function coveredLayers(layout: StyleSpaceLayout, rows: number, where = 'fs3'): StyleLayer[] {
  const conv = layout.layers.filter((l) => l.kind === 'conv');
  const fits: number[] = [];
  let n = 0;
  for (let i = 0; i < conv.length; i++) {
    n += conv[i].channels;
    fits.push(n);
    if (n === rows) return conv.slice(0, i + 1);
  }
  throw new InputError(
    `${where} has ${rows} rows, which does not match this generator's conv layers (a prefix of them covers ${fits.join(', ')} channels): the directions belong to another generator (compute them with 'styleclip directions compute')`,
  );
}

/** Loaded fs3: unit rows [covered channels, embedDim] and the layers they cover. */
export interface ChannelDirections {
  readonly rows: Float32Array;
  readonly dim: number;
  readonly layers: readonly StyleLayer[];
  readonly count: number;
}

export function channelDirections(t: HostTensor, layout: StyleSpaceLayout, embedDim: number, where = 'fs3'): ChannelDirections {
  if (t.shape.length !== 2) throw new InputError(`${where} must be a 2-D array [channels, ${embedDim}], got [${t.shape.join(',')}]`);
  const [count, dim] = t.shape;
  if (dim !== embedDim) throw new InputError(`${where} rows have ${dim} dims, but this CLIP embeds to ${embedDim}: use the fs3 computed with this CLIP model`);
  return { rows: toFloat32(t).data as Float32Array, dim, layers: coveredLayers(layout, count, where), count };
}

export async function loadChannelDirections(path: string, layout: StyleSpaceLayout, embedDim: number): Promise<ChannelDirections> {
  const array = await readNpy(path).catch((e: unknown) => {
    if (e instanceof InputError) throw new InputError(`${e.message} (--fs3 takes the fs3 .npy array; were --fs3 and --stats swapped?)`);
    throw e;
  });
  return channelDirections(array, layout, embedDim, path);
}

/** StyleCLIP's image conversion for CLIP: (x + 1) * 127.5 in float32, clamp to [0, 255], uint8 by truncation. */
export function truncatedUint8(image: HostTensor, index: number): RgbImage {
  const [, , h, w] = image.shape;
  const plane = h * w;
  const src = image.data as Float32Array;
  const data = new Uint8Array(3 * plane);
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < 3; c++) {
      const v = Math.fround(Math.fround(src[(index * 3 + c) * plane + i] + 1) * 127.5);
      data[i * 3 + c] = Math.trunc(Math.min(255, Math.max(0, v)));
    }
  }
  return { width: w, height: h, channels: 3, data };
}

interface Fs3Options {
  readonly alpha?: number;
  /** Rows already computed (a resumed partial file): their channels are only set to their means. */
  readonly done?: Float32Array;
  /** Called with each finished row (its index, the unit vector). */
  readonly onRow?: (row: number, total: number, direction: Float32Array) => void | Promise<void>;
  readonly signal?: AbortSignal;
}

const unit = (v: Float64Array | Float32Array): Float64Array => {
  const n = Math.hypot(...v);
  return Float64Array.from(v, (x) => x / n);
};

/**
 * fs3 rows for the conv layers `layers` (a coverage prefix) from the S codes of the images [N, total]; returns
 * [covered channels, embedDim] unit rows.
 */
export async function computeChannelDirections(
  generator: Generator,
  clip: Clip,
  stats: StyleStats,
  codes: HostTensor,
  layers: readonly StyleLayer[],
  opts: Fs3Options = {},
): Promise<Float32Array> {
  const alpha = opts.alpha ?? FS3_ALPHA;
  const [n, total] = codes.shape;
  const dim = clip.config.embedDim;
  const channels = layers.flatMap((l) => Array.from({ length: l.channels }, (_, c) => l.offset + c));
  const out = new Float32Array(channels.length * dim);
  const s = Float32Array.from(codes.data as Float32Array);
  const done = opts.done ? opts.done.length / dim : 0;
  if (opts.done) out.set(opts.done);
  for (let k = 0; k < channels.length; k++) {
    const ch = channels[k];
    for (let i = 0; i < n; i++) s[i * total + ch] = stats.mean[ch]; // the official, never undone "set to mean"
    if (k < done) continue;
    if (opts.signal?.aborted) throw new Cancelled('fs3 computation cancelled');
    const batch = new Float32Array(2 * n * total);
    for (let i = 0; i < n; i++) {
      for (const [j, sign] of [[0, -1], [1, 1]] as const) {
        const row = (2 * i + j) * total;
        batch.set(s.subarray(i * total, (i + 1) * total), row);
        batch[row + ch] = Math.fround(stats.mean[ch] + Math.fround(sign * alpha * stats.std[ch]));
      }
    }
    const images = await generator.synthesizeFromStyles({ dtype: 'float32', shape: [2 * n, total], data: batch });
    const pixels = clip.preprocess(Array.from({ length: 2 * n }, (_, r) => truncatedUint8(images, r)));
    const f = (await clip.encodeImage(pixels)).data as Float32Array; // [2N, D]: image i at -alpha, +alpha
    const mean = new Float64Array(dim);
    for (let i = 0; i < n; i++) {
      const minus = unit(f.subarray(2 * i * dim, (2 * i + 1) * dim));
      const plus = unit(f.subarray((2 * i + 1) * dim, (2 * i + 2) * dim));
      const d = unit(Float64Array.from(plus, (v, j) => v - minus[j]));
      for (let j = 0; j < dim; j++) mean[j] += d[j] / n;
    }
    const row = Float32Array.from(unit(mean));
    out.set(row, k * dim);
    await opts.onRow?.(k, channels.length, row);
  }
  return out;
}
