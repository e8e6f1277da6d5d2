import { describe, expect, it } from 'vitest';
import { chunkSizes, concatRows, inversePermutation, mapBatches, sliceRows, takeRows } from '../../src/engine/batching.js';
import { f32 } from '../../src/engine/tensor.js';

describe('batching', () => {
  it('splits greedily into the allowed sizes', () => {
    expect(chunkSizes(0, [16, 4, 1])).toEqual([]);
    expect(chunkSizes(1, [16, 4, 1])).toEqual([1]);
    expect(chunkSizes(23, [16, 4, 1])).toEqual([16, 4, 1, 1, 1]);
    expect(chunkSizes(3, [1])).toEqual([1, 1, 1]);
    expect(() => chunkSizes(3, [2])).toThrow(/include 1/);
  });

  it('slices and concatenates rows', () => {
    const t = f32([3, 2], [1, 2, 3, 4, 5, 6]);
    expect([...sliceRows(t, 1, 2).data]).toEqual([3, 4, 5, 6]);
    const back = concatRows([sliceRows(t, 0, 1), sliceRows(t, 1, 2)]);
    expect(back.shape).toEqual([3, 2]);
    expect([...back.data]).toEqual([...t.data]);
  });

  it('takes rows in a given order and the inverse permutation restores them', () => {
    const t = f32([3, 2], [1, 2, 3, 4, 5, 6]);
    const order = [2, 0, 1];
    expect([...takeRows(t, order).data]).toEqual([5, 6, 1, 2, 3, 4]);
    expect(inversePermutation(order)).toEqual([1, 2, 0]);
    expect([...takeRows(takeRows(t, order), inversePermutation(order)).data]).toEqual([...t.data]);
  });

  it('maps chunks in order with their first rows and joins the outputs', async () => {
    const t = f32([6, 1], [0, 1, 2, 3, 4, 5]);
    const seen: [number, number][] = [];
    const out = await mapBatches([t], [4, 1], async ([c], size, first) => {
      seen.push([size, first]);
      return f32([size, 1], Array.from(c.data as Float32Array, (v) => v * 10));
    });
    expect(seen).toEqual([[4, 0], [1, 4], [1, 5]]);
    expect([...out.data]).toEqual([0, 10, 20, 30, 40, 50]);
  });
});
