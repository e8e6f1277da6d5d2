/**
 * Parity with rosinality/stylegan2-pytorch on the shared fixture (../shared/fixtures/reference, cases `stylegan2` and
 * `stylegan2_grad`): images from z, truncated w and w+, and d/dw+ of sum(G(w+) * r), for both checkpoint
 * serialisations. Tolerance: max abs error <= 1e-3 x max|expected|.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HostTensor } from '../../src/engine/tensor.js';
import { Generator, broadcastW, loadGeneratorWeights, truncate } from '../../src/generator/index.js';
import { readNpy } from '../../src/io/tensors/npy.js';
import { fixture, maxAbsDiff } from '../helpers/shared.js';

const REL_TOL = 1e-3;
/** rosinality generate.py / the fixture manifest: truncation 0.7 toward latent_avg. */
const PSI = 0.7;

const npy = (name: string): Promise<HostTensor> => readNpy(fixture(name));

function expectClose(name: string, got: HostTensor, want: HostTensor): void {
  expect(got.shape).toEqual(want.shape);
  const { maxAbs, maxRef } = maxAbsDiff(got.data as Float32Array, want.data as Float32Array);
  console.log(`${name}: max abs err ${maxAbs.toExponential(3)}, max|expected| ${maxRef.toFixed(3)}, ratio ${(maxAbs / maxRef).toExponential(3)}`);
  expect(maxAbs).toBeLessThanOrEqual(REL_TOL * maxRef);
}

for (const file of ['stylegan2_tiny.pt', 'stylegan2_tiny.legacy.pt']) {
  describe(`StyleGAN2 parity with rosinality model.py (${file})`, () => {
    let gen: Generator;
    beforeAll(async () => {
      gen = await Generator.load(fixture(file));
    });
    afterAll(async () => {
      await gen?.dispose();
    });

    it('derives the fixture architecture from the tensor shapes', async () => {
      expect(gen.config).toEqual({ resolution: 64, wDim: 64, mappingLayers: 8, channels: { 4: 64, 8: 64, 16: 48, 32: 32, 64: 16 } });
      expect(gen.nLatent).toBe(10);
      expect([...gen.latentAvg!.data]).toEqual([...(await npy('sg2_latent_avg.npy')).data]);
    });

    it('maps z to w (sg2_w) and synthesises sg2_img_z with the constant noise', async () => {
      const w = await gen.map(await npy('sg2_z.npy'));
      expectClose(`${file} w`, w, await npy('sg2_w.npy'));
      expectClose(`${file} sg2_img_z`, await gen.synthesize(broadcastW(w, gen.nLatent), { noise: 'const' }), await npy('sg2_img_z.npy'));
    });

    it('truncates toward latent_avg with psi 0.7 (sg2_img_trunc)', async () => {
      const w = truncate(await gen.map(await npy('sg2_z.npy')), await gen.meanLatent(), PSI);
      expectClose(`${file} sg2_img_trunc`, await gen.synthesize(broadcastW(w, gen.nLatent)), await npy('sg2_img_trunc.npy'));
    });

    it('synthesises from w+ (sg2_img_wplus)', async () => {
      expectClose(`${file} sg2_img_wplus`, await gen.synthesize(await npy('sg2_wplus.npy')), await npy('sg2_img_wplus.npy'));
    });

    it('differentiates sum(G(w+) * r) w.r.t. w+ (sg2_grad_wplus)', async () => {
      const { image, grad } = await gen.synthesizeWithGrad(await npy('sg2_wplus.npy'), await npy('sg2_grad_r.npy'));
      expectClose(`${file} image (vjp graph)`, image, await npy('sg2_img_wplus.npy'));
      expectClose(`${file} sg2_grad_wplus`, grad, await npy('sg2_grad_wplus.npy'));
    });
  });
}

describe('mean latent without latent_avg', () => {
  it('averages f(z) over the seeded sample: close to the checkpoint latent_avg (a sample mean of the same kind)', async () => {
    const { config, weights } = await loadGeneratorWeights(fixture('stylegan2_tiny.pt'));
    const avg = weights.get('latent_avg')!;
    weights.delete('latent_avg');
    const gen = Generator.fromWeights(weights, config);
    try {
      expect(gen.latentAvg).toBeUndefined();
      const mean = await gen.meanLatent();
      expect([...(await gen.meanLatent()).data]).toEqual([...mean.data]);
      const { maxAbs, maxRef } = maxAbsDiff(mean.data as Float32Array, avg.data as Float32Array);
      // Two 4096-sample means differ by sampling error only (a few % of the largest component).
      expect(maxAbs).toBeLessThanOrEqual(0.05 * maxRef);
    } finally {
      await gen.dispose();
    }
  });
});

describe('StyleGAN2 parity with NVIDIA stylegan2-ada-pytorch (case stylegan2_ada: a network pickle written by its own code)', () => {
  let gen: Generator;
  beforeAll(async () => {
    gen = await Generator.load(fixture('stylegan2_ada_tiny.pkl'));
  });
  afterAll(async () => {
    await gen?.dispose();
  });

  it('reads G_ema from the pickle and derives the architecture from its tensor shapes', () => {
    expect(gen.config).toEqual({ resolution: 64, wDim: 64, mappingLayers: 8, channels: { 4: 64, 8: 64, 16: 64, 32: 32, 64: 16 } });
    expect(gen.nLatent).toBe(10);
  });

  it('images from z (sg2ada_img_z), truncated with psi 0.7 toward w_avg (sg2ada_img_trunc) and from w+ (sg2ada_img_wplus) within 1e-3 x max|expected|', async () => {
    const w = await gen.map(await npy('sg2ada_z.npy'));
    expectClose('sg2ada_img_z', await gen.synthesize(broadcastW(w, gen.nLatent)), await npy('sg2ada_img_z.npy'));
    const wt = truncate(w, await gen.meanLatent(), PSI);
    expectClose('sg2ada_img_trunc', await gen.synthesize(broadcastW(wt, gen.nLatent)), await npy('sg2ada_img_trunc.npy'));
    expectClose('sg2ada_img_wplus', await gen.synthesize(await npy('sg2ada_wplus.npy')), await npy('sg2ada_img_wplus.npy'));
  });
});
