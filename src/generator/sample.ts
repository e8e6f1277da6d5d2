/**
 * Latents on the host: seeded z and noise, truncation, w -> w+ broadcasting and validation of user-supplied latents.
 *
 * Seeds (documented for `styleclip generate --seed N`; the RNG is src/random.ts: xoshiro128** seeded by SplitMix64,
 * Box-Muller normals):
 * - z of image i (i = 0 .. batch-1) is the first D normals of the stream seeded with N + i, so `--seed 5 --batch 3`
 *   gives the images of seeds 5, 6 and 7.
 * - Random noise of image i comes from the stream seeded with NOISE_STREAM_OFFSET + N + i: the noise maps of the
 *   styled convolutions in synthesis order, each [r, r] row-major.
 * - The mean latent used for truncation when a checkpoint has no `latent_avg` is the mean of f(z) over
 *   MEAN_LATENT_SAMPLES z drawn row-major from the stream seeded with MEAN_LATENT_SEED (rosinality
 *   `Generator.mean_latent` uses 4096 samples as well).
 * Truncation (StyleGAN sec. 3 / Karras et al. 2020 appendix): w' = w_avg + psi (w - w_avg), applied to every row.
 */
import type { HostTensor } from '../engine/tensor.js';
import { toFloat32 } from '../engine/tensor.js';
import { InputError } from '../errors.js';
import { createRng, normals } from '../random.js';

/** Largest `--seed`: seeds and the noise streams (offset by 2^32) then never overlap. */
export const MAX_SEED = 2 ** 32 - 1;
/** Offset between the z stream and the noise stream of a seed. */
const NOISE_STREAM_OFFSET = 2 ** 32;
/** Samples averaged for the mean latent (rosinality generate.py `truncation_mean` default 4096). */
const MEAN_LATENT_SAMPLES = 4096;
/** Seed of the mean-latent sample (outside the range of user seeds and noise streams). */
const MEAN_LATENT_SEED = 2 ** 33;

/** z [batch, dim]: row i from seed + i. */
export function sampleZ(seed: number, batch: number, dim: number): HostTensor {
  checkSeed(seed, batch);
  const data = new Float32Array(batch * dim);
  for (let i = 0; i < batch; i++) data.set(normals(createRng(seed + i), dim), i * dim);
  return { dtype: 'float32', shape: [batch, dim], data };
}

/** Per-image random noise maps [batch,1,r,r] for the given shapes (from `noiseShapes`). */
export function sampleNoise(seed: number, shapes: readonly (readonly number[])[]): HostTensor[] {
  const batch = shapes[0]?.[0] ?? 0;
  checkSeed(seed, batch);
  const out = shapes.map((s) => ({ dtype: 'float32' as const, shape: [...s], data: new Float32Array(s.reduce((a, b) => a * b, 1)) }));
  for (let i = 0; i < batch; i++) {
    const rng = createRng(NOISE_STREAM_OFFSET + seed + i);
    for (const t of out) {
      const per = t.data.length / batch;
      t.data.set(normals(rng, per), i * per);
    }
  }
  return out;
}

/** `MEAN_LATENT_SAMPLES` z rows for the mean latent. */
export function meanLatentZ(dim: number): HostTensor {
  const n = MEAN_LATENT_SAMPLES;
  return { dtype: 'float32', shape: [n, dim], data: normals(createRng(MEAN_LATENT_SEED), n * dim) };
}

function checkSeed(seed: number, batch: number): void {
  if (!Number.isInteger(seed) || seed < 0 || seed + Math.max(batch - 1, 0) > MAX_SEED) {
    throw new InputError(`seed must be an integer in 0..${MAX_SEED} (seed + batch - 1 included), got ${seed}`);
  }
}

/** Mean over rows of [N,D], in float64. */
export function rowMean(t: HostTensor): HostTensor {
  const [n, d] = t.shape;
  const acc = new Float64Array(d);
  const src = t.data as Float32Array;
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) acc[j] += src[i * d + j];
  return { dtype: 'float32', shape: [d], data: Float32Array.from(acc, (v) => v / n) };
}

/** w_avg + psi (w - w_avg) on every D-vector of w ([N,D] or [N,L,D]), in float32 like torch. */
export function truncate(w: HostTensor, avg: HostTensor, psi: number): HostTensor {
  const d = avg.shape[0];
  const src = w.data as Float32Array;
  const a = avg.data as Float32Array;
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = Math.fround(a[i % d] + Math.fround(psi * Math.fround(src[i] - a[i % d])));
  return { dtype: 'float32', shape: [...w.shape], data: out };
}

/** w [N,D] -> w+ [N,L,D] (the same w for every layer, model.py `styles[0].unsqueeze(1).repeat(1, n_latent, 1)`). */
export function broadcastW(w: HostTensor, nLatent: number): HostTensor {
  const [n, d] = w.shape;
  const src = w.data as Float32Array;
  const out = new Float32Array(n * nLatent * d);
  for (let i = 0; i < n; i++) for (let l = 0; l < nLatent; l++) out.set(src.subarray(i * d, (i + 1) * d), (i * nLatent + l) * d);
  return { dtype: 'float32', shape: [n, nLatent, d], data: out };
}

export type LatentKind = 'z' | 'w' | 'w+';

/**
 * A user-supplied latent as float32 with a batch axis: z and w accept [N,D] or [D]; w+ accepts [N,L,D] or [L,D].
 * Wrong shapes, non-float dtypes and NaN/Inf values are InputErrors naming `source`.
 */
export function checkLatent(t: HostTensor, kind: LatentKind, dim: number, nLatent: number, source: string): HostTensor {
  const want = kind === 'w+' ? [nLatent, dim] : [dim];
  const s = t.shape;
  const batched = s.length === want.length + 1;
  const tail = batched ? s.slice(1) : s;
  const fits = (batched || s.length === want.length) && tail.every((v, i) => v === want[i]) && (!batched || s[0] > 0);
  if (!fits) {
    const w = want.join(',');
    throw new InputError(`${source}: a ${kind} latent must have shape [N,${w}] or [${w}] for this generator, got [${s.join(',')}]`);
  }
  if (!['float32', 'float64', 'float16'].includes(t.dtype)) throw new InputError(`${source}: ${kind} latent must be float, got ${t.dtype}`);
  const f = toFloat32(t);
  const data = f.data as Float32Array;
  const bad = data.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0) throw new InputError(`${source}: ${kind} latent contains ${Number.isNaN(data[bad]) ? 'NaN' : 'Inf'} (element ${bad})`);
  return { dtype: 'float32', shape: batched ? [...s] : [1, ...s], data };
}
