/**
 * The render queue of /v1/render (src/server/render_batch.ts) on the fixture generator: renders waiting while a
 * synthesis runs share the next synthesis call, each gets its own image (as rendered alone), renders of another
 * generator or other noise maps are not mixed in, and a client's superseded render is refused without rendering.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Generator, noiseShapes, sampleNoise } from '../../src/generator/index.js';
import type { HostTensor } from '../../src/engine/tensor.js';
import { sliceRows } from '../../src/engine/batching.js';
import { RenderBatcher } from '../../src/server/render_batch.js';
import { fixture, maxAbsDiff } from '../helpers/shared.js';
import { randomNormal } from '../../bench/util.js';

let gen: Generator;
let codes: HostTensor;

beforeAll(async () => {
  gen = await Generator.load(fixture('stylegan2_tiny.pt'));
  const w = { dtype: 'float32' as const, shape: [8, gen.nLatent, gen.wDim], data: randomNormal(8 * gen.nLatent * gen.wDim, 5, 0.5) };
  codes = await gen.styles(w);
});
afterAll(async () => gen?.dispose());

describe('RenderBatcher', () => {
  it('8 renders arriving together: the first runs alone, the other 7 share one synthesis call; each image equals its render alone (<= 1e-5 x max)', async () => {
    const b = new RenderBatcher();
    const images = await Promise.all(Array.from({ length: 8 }, (_, i) => b.synthesize(b.ticket(`c${i}`), gen, sliceRows(codes, i, 1))));
    expect(b.stats).toEqual({ calls: 2, renders: 8, superseded: 0 });
    for (let i = 0; i < 8; i++) {
      const alone = await gen.synthesizeFromStyles(sliceRows(codes, i, 1));
      const { maxAbs, maxRef } = maxAbsDiff(images[i].data as Float32Array, alone.data as Float32Array);
      expect(images[i].shape).toEqual([1, 3, 64, 64]);
      expect(maxAbs).toBeLessThanOrEqual(1e-5 * maxRef);
    }
  });

  it("other noise maps are another group; a client's older waiting render is refused (409) and never rendered", async () => {
    const b = new RenderBatcher();
    const first = b.synthesize(b.ticket('busy'), gen, sliceRows(codes, 0, 1)); // runs at once; the rest wait
    const older = b.synthesize(b.ticket('page'), gen, sliceRows(codes, 1, 1));
    const newer = b.synthesize(b.ticket('page'), gen, sliceRows(codes, 2, 1));
    const noise = sampleNoise(3, noiseShapes(gen.config, 1));
    const other = b.synthesize(b.ticket('other'), gen, sliceRows(codes, 3, 1), noise);
    await expect(older).rejects.toThrow(/^superseded: a newer render of this client arrived/);
    await Promise.all([first, newer, other]);
    expect(b.stats).toEqual({ calls: 3, renders: 3, superseded: 1 });
  });
});
