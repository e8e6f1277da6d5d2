import { describe, expect, it } from 'vitest';
import { VIT_B_32, resolveClipConfig } from '../../src/clip/config.js';
import { Clip } from '../../src/clip/clip.js';
import { activate, causalMask, eotRowIndices } from '../../src/clip/model.js';
import * as E from '../../src/engine/index.js';
import { InputError } from '../../src/errors.js';
import { readNpy } from '../../src/io/tensors/npy.js';
import { fixture, maxAbsDiff } from '../helpers/shared.js';

describe('CLIP config', () => {
  it('resolves ViT-B/32 defaults, derives heads and MLP widths from widths, and freezes', () => {
    expect(resolveClipConfig()).toEqual(VIT_B_32);
    const c = resolveClipConfig({ visionWidth: 128, transformerWidth: 256 });
    expect(c).toMatchObject({ visionHeads: 2, transformerHeads: 4, visionMlpWidth: 512, transformerMlpWidth: 1024 });
    expect(Object.isFrozen(c)).toBe(true);
    expect(() => resolveClipConfig({ visionWidth: 100, visionHeads: 3 })).toThrow(InputError);
    expect(() => resolveClipConfig({ imageResolution: 200 })).toThrow(/multiple of patch/);
  });
});

describe('CLIP graph pieces', () => {
  it('the causal mask is 0 on and below the diagonal and -inf above', () => {
    const m = causalMask(3).data as Float32Array;
    expect(Array.from(m)).toEqual([0, -Infinity, -Infinity, 0, 0, -Infinity, 0, 0, 0]);
  });

  it('EOT rows are the flat index of each row argmax', () => {
    const t: E.HostTensor = { dtype: 'int32', shape: [2, 4], data: Int32Array.of(49406, 5, 49407, 0, 49406, 7, 8, 49407) };
    expect(Array.from(eotRowIndices(t).data as BigInt64Array, Number)).toEqual([2, 7]);
  });

  it('QuickGELU and exact GELU match their formulas', async () => {
    const g = new E.Graph();
    const x = g.input('x', 'float32', [5]);
    g.output(activate(x, 'quick_gelu'), 'q');
    g.output(activate(x, 'gelu'), 'g');
    const s = await E.Session.create(g, { threads: 1 });
    const xs = [-3, -0.5, 0, 0.7, 2.5];
    const out = await s.run({ x: E.f32([5], xs) });
    await s.dispose();
    // erf(x / sqrt 2) = 2 Phi(x) - 1, from standard normal CDF values.
    const erf: Record<number, number> = { [-3]: -0.9973002039, [-0.5]: -0.3829249225, 0: 0, 0.7: 0.5160726567, 2.5: 0.9875806693 };
    xs.forEach((v, i) => {
      expect(out.q.data[i]).toBeCloseTo(v / (1 + Math.exp(-1.702 * v)), 5);
      expect(out.g.data[i]).toBeCloseTo(0.5 * v * (1 + erf[v]), 5);
    });
  });
});

describe('Clip sessions', () => {
  it('a batch of two equals two single encodes; the image encoder builds into a caller graph', async () => {
    const clip = await Clip.load(fixture('clip_vit_tiny.state_dict.pt'), { threads: 1 });
    try {
      const px = await readNpy(fixture('clip_pixels.npy'));
      const flipped = new Float32Array(px.data as Float32Array).reverse();
      const both = E.f32([2, 3, 224, 224], [...(px.data as Float32Array), ...flipped]);
      const batch = await clip.encodeImage(both);
      const one = await clip.encodeImage(px);
      const two = await clip.encodeImage(E.f32([1, 3, 224, 224], flipped));
      expect(maxAbsDiff(batch.data.subarray(0, 64) as Float32Array, one.data as Float32Array).maxAbs).toBeLessThan(1e-5);
      expect(maxAbsDiff(batch.data.subarray(64) as Float32Array, two.data as Float32Array).maxAbs).toBeLessThan(1e-5);
      const g = new E.Graph();
      const y = clip.imageEncoder(g, g.input('pixels', 'float32', [3, 3, 224, 224]));
      expect(y.shape).toEqual([3, 64]);
      expect(() => clip.imageEncoder(g, g.input('bad', 'float32', [1, 3, 64, 64]))).toThrow(/\[N,3,224,224\]/);
      await expect(clip.encodeText(E.f32([1, 10]))).rejects.toThrow(/\[N,77\]/);
    } finally {
      await clip.dispose();
    }
  });

  it('a short text encodes the same at the truncated length (alone) as at full length (batched with a 40-token text), and mixed lengths come back in the order given', async () => {
    const clip = await Clip.load(fixture('clip_vit_tiny.state_dict.pt'), { threads: 1 });
    try {
      const row = (ids: number[]): number[] => [...ids, ...new Array(77 - ids.length).fill(0)];
      const short = [49406, 320, 1929, 539, 49407];
      const long = [49406, ...Array.from({ length: 38 }, (_, i) => 320 + i), 49407];
      const alone = await clip.encodeText({ dtype: 'int32', shape: [1, 77], data: Int32Array.from(row(short)) });
      const mixed = await clip.encodeText({ dtype: 'int32', shape: [2, 77], data: Int32Array.from([...row(short), ...row(long)]) });
      expect(maxAbsDiff(alone.data as Float32Array, (mixed.data as Float32Array).subarray(0, 64)).maxAbs).toBeLessThan(1e-5);
      // Rows are encoded shortest first and handed back in the order given.
      const medium = [49406, ...Array.from({ length: 14 }, (_, i) => 400 + i), 49407];
      const three = await clip.encodeText({ dtype: 'int32', shape: [3, 77], data: Int32Array.from([...row(long), ...row(short), ...row(medium)]) });
      const mediumAlone = await clip.encodeText({ dtype: 'int32', shape: [1, 77], data: Int32Array.from(row(medium)) });
      const rowOf = (i: number): Float32Array => (three.data as Float32Array).subarray(i * 64, (i + 1) * 64);
      expect(maxAbsDiff(rowOf(0), (mixed.data as Float32Array).subarray(64)).maxAbs).toBeLessThan(1e-5);
      expect(maxAbsDiff(rowOf(1), alone.data as Float32Array).maxAbs).toBeLessThan(1e-5);
      expect(maxAbsDiff(rowOf(2), mediumAlone.data as Float32Array).maxAbs).toBeLessThan(1e-5);
    } finally {
      await clip.dispose();
    }
  });
});
