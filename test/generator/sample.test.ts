/**
 * Seeded sampling (src/random.ts, src/generator/sample.ts): pinned outputs so that `--seed N` stays reproducible
 * across versions, the documented per-image streams, truncation, and latent validation.
 */
import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors.js';
import { broadcastW, checkLatent, sampleNoise, sampleZ, truncate } from '../../src/generator/sample.js';
import { createRng, normals } from '../../src/random.js';

/** The k-th (0-based) uint32 output of seed `seed`. */
function createRngAt(seed: number, k: number): number {
  const r = createRng(seed);
  for (let i = 0; i < k; i++) r.uint32();
  return r.uint32();
}

describe('seeded RNG (xoshiro128** seeded by SplitMix64, Box-Muller)', () => {
  it('uint32 outputs for seeds 0 and 42 equal the reference C algorithms (xoshiro128starstar.c / splitmix64.c, run in Python)', () => {
    const r0 = createRng(0);
    expect([r0.uint32(), r0.uint32(), r0.uint32()]).toEqual([3737715805, 2584255861, 2876756834]);
    const r42 = createRng(42);
    expect([r42.uint32(), r42.uint32(), r42.uint32()]).toEqual([1776835114, 4165204688, 17111135]);
  });

  it('normals equal Box-Muller computed here from those uint32 outputs (u = (x + 0.5) / 2^32; cos then sin), rounded to float32', () => {
    const u = (x: number): number => (x + 0.5) / 2 ** 32;
    const [x1, x2, x3, x4] = [3737715805, 2584255861, 2876756834, createRngAt(0, 3)];
    const pair = (a: number, b: number): number[] => {
      const r = Math.sqrt(-2 * Math.log(u(a)));
      return [r * Math.cos(2 * Math.PI * u(b)), r * Math.sin(2 * Math.PI * u(b))];
    };
    const expected = Float32Array.from([...pair(x1, x2), ...pair(x3, x4)]);
    expect([...normals(createRng(0), 4)]).toEqual([...expected]);
  });

  it('draws standard normals', () => {
    const x = normals(createRng(7), 200_000);
    const mean = x.reduce((a, b) => a + b, 0) / x.length;
    const variance = x.reduce((a, b) => a + (b - mean) ** 2, 0) / x.length;
    expect(Math.abs(mean)).toBeLessThan(0.01);
    expect(Math.abs(variance - 1)).toBeLessThan(0.01);
  });

  it('rejects seeds outside 0..2^53-1', () => {
    expect(() => createRng(-1)).toThrow(RangeError);
    expect(() => createRng(1.5)).toThrow(RangeError);
  });
});

describe('latent sampling', () => {
  it('gives image i of a batch the z of seed N + i', () => {
    const batch = sampleZ(5, 3, 8);
    for (let i = 0; i < 3; i++) expect([...batch.data.subarray(i * 8, (i + 1) * 8)]).toEqual([...sampleZ(5 + i, 1, 8).data]);
    expect([...sampleZ(5, 1, 8).data]).toEqual([...normals(createRng(5), 8)]);
  });

  it('draws per-image noise from its own stream, independent of the batch', () => {
    const shapes = [[2, 1, 4, 4], [2, 1, 8, 8]];
    const both = sampleNoise(3, shapes);
    const second = sampleNoise(4, [[1, 1, 4, 4], [1, 1, 8, 8]]);
    expect([...both[0].data.subarray(16)]).toEqual([...second[0].data]);
    expect([...both[1].data.subarray(64)]).toEqual([...second[1].data]);
    expect([...both[0].data.subarray(0, 16)]).not.toEqual([...sampleZ(3, 1, 16).data]);
  });

  it('truncates toward the average: psi 1 keeps w, psi 0 gives the average', () => {
    const w = { dtype: 'float32' as const, shape: [2, 3], data: Float32Array.of(1, 2, 3, -1, -2, -3) };
    const avg = { dtype: 'float32' as const, shape: [3], data: Float32Array.of(1, 1, 1) };
    expect([...truncate(w, avg, 1).data]).toEqual([...w.data]);
    expect([...truncate(w, avg, 0).data]).toEqual([1, 1, 1, 1, 1, 1]);
    expect([...truncate(w, avg, 0.5).data]).toEqual([1, 1.5, 2, 0, -0.5, -1]);
  });

  it('broadcasts w to every w+ row', () => {
    const w = { dtype: 'float32' as const, shape: [1, 2], data: Float32Array.of(1, 2) };
    const wp = broadcastW(w, 3);
    expect(wp.shape).toEqual([1, 3, 2]);
    expect([...wp.data]).toEqual([1, 2, 1, 2, 1, 2]);
  });
});

describe('checkLatent', () => {
  const f32 = (shape: number[], fill = 0) => ({ dtype: 'float32' as const, shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(fill) });

  it('accepts batched and unbatched latents', () => {
    expect(checkLatent(f32([4]), 'w', 4, 6, 'w.npy').shape).toEqual([1, 4]);
    expect(checkLatent(f32([3, 4]), 'z', 4, 6, 'z.npy').shape).toEqual([3, 4]);
    expect(checkLatent(f32([6, 4]), 'w+', 4, 6, 'wp.npy').shape).toEqual([1, 6, 4]);
    expect(checkLatent(f32([2, 6, 4]), 'w+', 4, 6, 'wp.npy').shape).toEqual([2, 6, 4]);
    const f64 = { dtype: 'float64' as const, shape: [4], data: Float64Array.of(1, 2, 3, 4) };
    expect(checkLatent(f64, 'w', 4, 6, 'w.npy').dtype).toBe('float32');
  });

  it('names the file and the expected shape for a wrong shape', () => {
    expect(() => checkLatent(f32([18, 511]), 'w+', 512, 18, 'wp.npy')).toThrow(/wp\.npy: a w\+ latent must have shape \[N,18,512\] or \[18,512\].*got \[18,511\]/);
    expect(() => checkLatent(f32([2, 3, 4, 5]), 'z', 4, 6, 'z.npy')).toThrow(InputError);
    expect(() => checkLatent(f32([0, 4]), 'z', 4, 6, 'z.npy')).toThrow(InputError);
  });

  it('rejects NaN, Inf and integer latents', () => {
    const nan = f32([2, 4]);
    nan.data[5] = NaN;
    expect(() => checkLatent(nan, 'w', 4, 6, 'n.npy')).toThrow(/n\.npy: w latent contains NaN \(element 5\)/);
    expect(() => checkLatent(f32([4], Infinity), 'w', 4, 6, 'i.npy')).toThrow(/Inf/);
    const ints = { dtype: 'int32' as const, shape: [4], data: new Int32Array(4) };
    expect(() => checkLatent(ints, 'z', 4, 6, 'z.npy')).toThrow(/must be float/);
  });
});
