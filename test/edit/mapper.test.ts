/**
 * StyleCLIP latent mappers against the official latent_mappers.py on the tiny fixtures (../shared/fixtures/reference
 * case `mapper`, variants `levels` and `nofine`): deltas (<= 1e-4 relative), w_hat and the images of G(w_hat)
 * (<= 1e-3 relative), with the generator read from the checkpoint's own decoder; and bad input.
 */
import { describe, expect, it } from 'vitest';
import { LatentMapperEdit, mapperFromTensors } from '../../src/edit/mapper/index.js';
import type { HostTensor } from '../../src/engine/tensor.js';
import { readNpy } from '../../src/io/tensors/npy.js';
import { loadTorchCheckpoint } from '../../src/io/tensors/torch.js';
import { fixture, maxAbsDiff } from '../helpers/shared.js';

const rel = (a: HostTensor, b: HostTensor): number => {
  expect(a.shape).toEqual(b.shape);
  const { maxAbs, maxRef } = maxAbsDiff(a.data as Float32Array, b.data as Float32Array);
  return maxAbs / maxRef;
};

describe.each([
  ['levels', 'mapper_tiny.pt', 'mapper_delta.npy', 'mapper_w_hat.npy', 'mapper_img.npy', ['coarse', 'medium', 'fine']],
  ['nofine', 'mapper_tiny_nofine.pt', 'mapper_nofine_delta.npy', 'mapper_nofine_w_hat.npy', 'mapper_nofine_img.npy', ['coarse', 'medium']],
])('LevelsMapper parity (%s)', (variant, ckpt, deltaFile, wHatFile, imgFile, groups) => {
  it(`groups from the keys (${groups.join(', ')}); delta vs ${deltaFile} (<= 1e-4 rel), w_hat vs ${wHatFile} and G(w_hat) vs ${imgFile} (<= 1e-3 rel)`, async () => {
    const m = await LatentMapperEdit.load(fixture(ckpt));
    try {
      expect(m.mapper.kind).toBe('levels');
      expect(m.mapper.groups.filter((g) => g.net).map((g) => g.name)).toEqual(groups);
      const w = await readNpy(fixture('sg2_wplus.npy'));
      const dErr = rel(await m.delta(w), await readNpy(fixture(deltaFile)));
      const wHat = await m.apply(w);
      const wErr = rel(wHat, await readNpy(fixture(wHatFile)));
      const iErr = rel(await m.generator.synthesize(wHat), await readNpy(fixture(imgFile)));
      console.log(`mapper ${variant}: delta ${dErr.toExponential(2)}, w_hat ${wErr.toExponential(2)}, image ${iErr.toExponential(2)} relative`);
      expect(dErr).toBeLessThanOrEqual(1e-4);
      expect(wErr).toBeLessThanOrEqual(1e-3);
      expect(iErr).toBeLessThanOrEqual(1e-3);
    } finally {
      await m.dispose();
    }
  });
});

describe('mapper bad input', () => {
  it('an e4e checkpoint, a generator checkpoint, a mapper for another latent width', async () => {
    const e4e = await loadTorchCheckpoint(fixture('e4e_tiny.pt'));
    expect(() => mapperFromTensors(e4e.tensors, 'e4e_tiny.pt')).toThrow(/not a StyleCLIP mapper checkpoint.*it is an encoder \(e4e\/pSp\)/);
    await expect(LatentMapperEdit.load(fixture('stylegan2_tiny.pt'))).rejects.toThrow(/not a StyleCLIP mapper checkpoint \(no 'mapper\.\*' weights\)/);
    const m = await loadTorchCheckpoint(fixture('mapper_tiny.pt'));
    const narrow = new Map([...m.tensors].map(([k, v]) => [k, k.includes('.mapper.') ? { ...v, shape: v.shape.length === 2 ? [32, 32] : [32], data: (v.data as Float32Array).slice(0, v.shape.length === 2 ? 1024 : 32) } : v]));
    const mapper = mapperFromTensors(narrow, 'narrow.pt');
    expect(mapper.wDim).toBe(32);
    const ok = await LatentMapperEdit.load(fixture('mapper_tiny.pt'));
    try {
      expect(() => new LatentMapperEdit(mapper, ok.generator, 'narrow.pt')).toThrow(/maps 32-d latents, but the generator's w has 64 dims/);
    } finally {
      await ok.dispose();
    }
  });

  it('a truncated checkpoint is refused with a clear message', async () => {
    const { readFile, writeFile, mkdtemp } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = await mkdtemp(join(tmpdir(), 'styleclip-mapper-'));
    const bytes = await readFile(fixture('mapper_tiny.pt'));
    await writeFile(join(dir, 'cut.pt'), bytes.subarray(0, bytes.length >> 1));
    await expect(LatentMapperEdit.load(join(dir, 'cut.pt'))).rejects.toThrow(/cut\.pt/);
  });
});
