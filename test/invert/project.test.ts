/**
 * Projection (src/invert/project.ts) on the fixture StyleGAN2 (64 px): the loop reduces the loss, recovers an image the
 * generator itself made from a known w+ to a small fraction of the starting pixel error, is deterministic for a seed,
 * runs with the perceptual terms (fixture CLIP, real MobileFace on a real face), and the noise regulariser and
 * renormalisation match direct host computations of projector.py's formulas.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Clip } from '../../src/clip/clip.js';
import { Graph } from '../../src/engine/graph.js';
import { Session } from '../../src/engine/session.js';
import type { HostTensor } from '../../src/engine/tensor.js';
import { InputError } from '../../src/errors.js';
import { MobileFace } from '../../src/faces/mobileface.js';
import { ProjectionCancelled, Projector, latentNoiseScale, latentStd, renormalize } from '../../src/invert/project.js';
import { noiseRegularization } from '../../src/invert/project_graph.js';
import { Generator } from '../../src/generator/index.js';
import { tensorToRgb, type RgbImage } from '../../src/io/images/image.js';
import { readNpy } from '../../src/io/tensors/npy.js';
import { createRng, normals } from '../../src/random.js';
import { fixture } from '../helpers/shared.js';
import { FACE_MODELS, facePaths, readFace, resized } from '../faces/helpers.js';

let generator: Generator;
let projector: Projector;
let target: RgbImage;

/** Mean squared error of two RGB images on the generator's [-1,1] scale. */
function mse(a: RgbImage | { data: Uint8Array }, b: { data: Uint8Array }): number {
  let s = 0;
  for (let i = 0; i < a.data.length; i++) s += ((a.data[i] - b.data[i]) / 127.5) ** 2;
  return s / a.data.length;
}

const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

beforeAll(async () => {
  generator = await Generator.load(fixture('stylegan2_tiny.pt'));
  projector = new Projector(generator);
  const wp = await readNpy(fixture('sg2_wplus.npy'));
  const per = generator.nLatent * generator.wDim;
  const known: HostTensor = { dtype: 'float32', shape: [1, generator.nLatent, generator.wDim], data: (wp.data as Float32Array).slice(0, per) };
  target = tensorToRgb(await generator.synthesize(known), 0, '[-1,1]');
});

afterAll(async () => {
  await projector.dispose();
  await generator.dispose();
});

describe('Projector', () => {
  it('reduces the loss and recovers an image the generator made from a known w+', async () => {
    const res = await projector.project(target, { steps: 40 });
    const losses = res.history.map((h) => h.loss);
    const [before, after] = [mean(losses.slice(0, 3)), mean(losses.slice(-3))];
    const startMse = res.history[0].mse;
    const finalMse = mse(target, res.reconstruction);
    console.log(`projection, 40 steps: loss ${before.toFixed(2)} -> ${after.toFixed(4)} (mean of first/last 3); pixel MSE ${startMse.toFixed(4)} -> ${finalMse.toFixed(4)}`);
    expect(after).toBeLessThan(before / 10);
    expect(finalMse).toBeLessThan(startMse / 10);
    expect(res.latent.shape).toEqual([1, 10, 64]);
    expect(res.noise.map((n) => n.shape[2])).toEqual([4, 8, 8, 16, 16, 32, 32, 64, 64]);
    expect([res.reconstruction.width, res.reconstruction.height]).toEqual([64, 64]);
    expect(mse(target, tensorToRgb(await projector.render(res.latent, res.noise), 0, '[-1,1]'))).toBe(finalMse);
  });

  it('is deterministic for a seed and depends on it', async () => {
    const run = async (seed: number): Promise<Float32Array> => (await projector.project(target, { steps: 4, seed })).latent.data as Float32Array;
    const a = await run(7);
    expect(await run(7)).toEqual(a);
    expect(await run(8)).not.toEqual(a);
  });

  it('runs with the CLIP and identity terms on a real face (resized to the generator resolution)', async () => {
    const [clip, identity] = await Promise.all([Clip.load(fixture('clip_vit_tiny.state_dict.pt')), MobileFace.load(FACE_MODELS())]);
    const p = new Projector(generator, { clip, identity });
    try {
      const face = resized(await readFace(facePaths()[0]), 128);
      const res = await p.project(face, { steps: 6 });
      const first = res.history[0];
      expect(first.idLoss).toBeGreaterThan(0);
      expect(first.clipLoss).toBeGreaterThan(0);
      expect(res.history.every((h) => [h.loss, h.mse, h.idLoss, h.clipLoss, h.noiseReg].every(Number.isFinite))).toBe(true);
      expect(res.history[5].mse).toBeLessThan(first.mse);
    } finally {
      await p.dispose();
      identity.dispose();
      await clip.dispose();
    }
  });

  it('stops with ProjectionCancelled when aborted', async () => {
    const c = new AbortController();
    const run = projector.project(target, { steps: 1000 }, { signal: c.signal, onProgress: (p) => p.step === 2 && c.abort() });
    await expect(run).rejects.toBeInstanceOf(ProjectionCancelled);
  });

  it.each([
    [{ width: 1, height: 1 }, /at least 32 px, got 1x1/],
    [{ width: 64, height: 48 }, /square FFHQ-aligned face .* got 64x48/],
  ])('refuses %j with an InputError naming the fix', async (size, msg) => {
    const img: RgbImage = { ...size, channels: 3, data: new Uint8Array(size.width * size.height * 3) };
    const run = projector.project(img, { steps: 1 });
    await expect(run).rejects.toBeInstanceOf(InputError);
    await expect(run).rejects.toThrow(msg);
  });
});

describe('projector math', () => {
  it('noise regularisation equals the host formula (roll by one, 2x2 pooling down to 8)', async () => {
    const rng = createRng(3);
    const sizes = [4, 16, 32];
    const maps = sizes.map((r) => normals(rng, r * r));
    const g = new Graph('noise_reg');
    const inputs = sizes.map((r, i) => g.input(`n${i}`, 'float32', [1, 1, r, r]));
    g.output(noiseRegularization(inputs), 'reg');
    const s = await Session.create(g);
    const feeds = Object.fromEntries(maps.map((m, i): [string, HostTensor] => [`n${i}`, { dtype: 'float32', shape: [1, 1, sizes[i], sizes[i]], data: m }]));
    const got = Number((await s.run(feeds)).reg.data[0]);
    await s.dispose();
    let want = 0;
    for (let k = 0; k < maps.length; k++) {
      let r = sizes[k];
      let n = Float64Array.from(maps[k]);
      for (;;) {
        let ax = 0;
        let ay = 0;
        for (let y = 0; y < r; y++)
          for (let x = 0; x < r; x++) {
            ax += n[y * r + x] * n[y * r + ((x + r - 1) % r)];
            ay += n[y * r + x] * n[((y + r - 1) % r) * r + x];
          }
        want += (ax / (r * r)) ** 2 + (ay / (r * r)) ** 2;
        if (r <= 8) break;
        const h = r / 2;
        const m = new Float64Array(h * h);
        for (let y = 0; y < h; y++) for (let x = 0; x < h; x++) m[y * h + x] = (n[2 * y * r + 2 * x] + n[2 * y * r + 2 * x + 1] + n[(2 * y + 1) * r + 2 * x] + n[(2 * y + 1) * r + 2 * x + 1]) / 4;
        n = m;
        r = h;
      }
    }
    expect(got).toBeCloseTo(want, 6);
  });

  it('renormalises noise to zero mean and unit variance, ramps the latent noise and measures w_std', () => {
    const x = normals(createRng(1), 1000).map((v) => 3 * v + 2);
    renormalize(x);
    const m = mean(Array.from(x));
    expect(Math.abs(m)).toBeLessThan(1e-6);
    expect(mean(Array.from(x, (v) => (v - m) ** 2))).toBeCloseTo(1, 5);
    expect(latentNoiseScale(0, 2, 0.05, 0.75)).toBeCloseTo(0.1, 12);
    expect(latentNoiseScale(0.375, 2, 0.05, 0.75)).toBeCloseTo(0.1 * 0.25, 12);
    expect(latentNoiseScale(0.9, 2, 0.05, 0.75)).toBe(0);
    const w: HostTensor = { dtype: 'float32', shape: [2, 2], data: Float32Array.of(1, 1, -1, -1) };
    expect(latentStd(w, { dtype: 'float32', shape: [2], data: Float32Array.of(0, 0) })).toBeCloseTo(Math.SQRT2, 6);
  });
});
