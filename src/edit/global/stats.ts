/**
 * StyleSpace statistics of StyleCLIP's global directions (Patashnik et al. 2021, sec. 6; global_torch/GetCode.py):
 * the per-channel mean and standard deviation of S over generated images, stored as `S_mean_std`, a Python pickle
 * (protocol 3) of [means, stds], each a list with one float32 numpy array per StyleSpace layer in layout order
 * (conv and ToRGB layers interleaved; src/generator/stylespace.ts).
 *
 * Recipe (GetCode.py, as the fixture README states it): w = mapping(z) for N seeded z; w <- avg + (w - avg) * psi
 * (psi 0.7, float32); that one w feeds every layer; S per layer; numpy mean and population std (divide by N).
 */
import { readFile } from 'node:fs/promises';
import type { HostTensor } from '../../engine/tensor.js';
import { Cancelled, InputError } from '../../errors.js';
import { broadcastW, styleSpaceLayout, truncate, type Generator, type StyleSpaceLayout } from '../../generator/index.js';
import { NumpyArray, unpickle } from '../../io/tensors/pickle.js';
import { NumpyFloat32, pickleDump } from '../../io/tensors/pickle_write.js';

/** GetCode.py: `truncation=0.7` when sampling the statistics. */
export const STATS_TRUNCATION = 0.7;
/** GetCode.py: 100,000 samples (`num_img=100_000`). */
export const STATS_SAMPLES = 100_000;
/** z rows mapped per engine call while sampling. */
const STATS_CHUNK = 256;

/** Per-channel statistics over the whole S vector, in layout order. */
export interface StyleStats {
  readonly mean: Float32Array;
  readonly std: Float32Array;
}

function asArrays(v: unknown, what: string, where: string): Float32Array[] {
  if (!Array.isArray(v) || v.some((a) => !(a instanceof NumpyArray))) throw new InputError(`${where}: ${what} must be a list of numpy arrays (StyleCLIP S_mean_std format)`);
  return v.map((a: NumpyArray) => {
    if (a.dtype !== 'float32' && a.dtype !== 'float64' && a.dtype !== 'float16') throw new InputError(`${where}: ${what} arrays must be floating point, got ${a.dtype}`);
    return Float32Array.from(a.data as ArrayLike<number>);
  });
}

/** Parses S_mean_std bytes and checks them against the generator's layout (layer count and widths). */
export function parseStyleStats(bytes: Uint8Array, layout: StyleSpaceLayout, where = 'S_mean_std'): StyleStats {
  const v = unpickle(bytes, { where });
  if (!Array.isArray(v) || v.length !== 2) throw new InputError(`${where}: expected a pickled [means, stds] pair (StyleCLIP S_mean_std format)`);
  const [means, stds] = [asArrays(v[0], 'means', where), asArrays(v[1], 'stds', where)];
  const n = layout.layers.length;
  if (means.length !== n || stds.length !== n) {
    throw new InputError(`${where} has ${means.length} layers, but this generator's StyleSpace has ${n}: the statistics belong to another generator (compute them with 'styleclip directions stats')`);
  }
  const mean = new Float32Array(layout.total);
  const std = new Float32Array(layout.total);
  layout.layers.forEach((l, i) => {
    if (means[i].length !== l.channels || stds[i].length !== l.channels) {
      throw new InputError(`${where}: layer ${i} (${l.name}) has ${means[i].length} channels, this generator has ${l.channels}`);
    }
    mean.set(means[i], l.offset);
    std.set(stds[i], l.offset);
  });
  return { mean, std };
}

export async function loadStyleStats(path: string, layout: StyleSpaceLayout): Promise<StyleStats> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new InputError(`cannot read the S statistics ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (bytes.subarray(0, NPY_MAGIC.length).equals(NPY_MAGIC)) {
    throw new InputError(`${path} is a .npy array (an fs3 file?), not the S_mean_std pickle of S statistics; were --fs3 and --stats swapped?`);
  }
  return parseStyleStats(bytes, layout, path);
}

/** The first bytes of every .npy file (numpy format spec). */
const NPY_MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]);

/** The S_mean_std pickle of `stats` (readable by StyleCLIP's Python code and by `parseStyleStats`). */
export function styleStatsPickle(stats: StyleStats, layout: StyleSpaceLayout): Uint8Array {
  const per = (a: Float32Array) => layout.layers.map((l) => new NumpyFloat32(a.slice(l.offset, l.offset + l.channels)));
  return pickleDump([per(stats.mean), per(stats.std)]);
}

/** StyleSpace codes of z rows [N, D] as the statistics recipe samples them: truncated w broadcast to every layer. */
export async function stylesOfZ(generator: Generator, z: HostTensor, truncation = STATS_TRUNCATION): Promise<HostTensor> {
  const w = truncate(await generator.map(z), await generator.meanLatent(), truncation);
  return generator.styles(broadcastW(w, generator.nLatent));
}

/** Mean and population std of S over the z rows [N, D], in chunks; `onProgress(done, total)` after each chunk. */
export async function computeStyleStats(
  generator: Generator,
  z: HostTensor,
  opts: { truncation?: number; onProgress?: (done: number, total: number) => void; signal?: AbortSignal } = {},
): Promise<StyleStats> {
  const layout = styleSpaceLayout(generator.config);
  const [n, d] = z.shape;
  const sum = new Float64Array(layout.total);
  const sumSq = new Float64Array(layout.total);
  const zs = z.data as Float32Array;
  for (let start = 0; start < n; start += STATS_CHUNK) {
    if (opts.signal?.aborted) throw new Cancelled('S statistics cancelled');
    const rows = Math.min(STATS_CHUNK, n - start);
    const s = (await stylesOfZ(generator, { dtype: 'float32', shape: [rows, d], data: zs.subarray(start * d, (start + rows) * d) }, opts.truncation)).data as Float32Array;
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < layout.total; c++) {
        const v = s[r * layout.total + c];
        sum[c] += v;
        sumSq[c] += v * v;
      }
    }
    opts.onProgress?.(start + rows, n);
  }
  const mean = Float32Array.from(sum, (v) => v / n);
  const std = Float32Array.from(sumSq, (v, c) => Math.sqrt(Math.max(0, v / n - (sum[c] / n) ** 2)));
  return { mean, std };
}
