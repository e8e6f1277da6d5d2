/**
 * HyperStyle against yuval-alaluf/hyperstyle `run_inversion` on random weights in the official checkpoint format
 * (../shared/fixtures/reference case `hyperstyle`, a 128 px decoder): the preprocessing of the two JPEGs, the first
 * reconstruction, the image after every iteration, the accumulated offsets after the first and the last iteration,
 * and the edit rendered with the offsets held (<= 1e-3 x max|expected| each), started from the fixture's codes.
 * The fixture's `hyperstyle_w_codes.npy` does not follow from its W encoder file: the official WEncoder modules in
 * PyTorch give other codes (max difference 5.9; tools/fixtures/hyperstyle_w_encoder.py), so the W encoder is checked
 * against that script's output (test/fixtures/hyperstyle/w_codes_official.npy) and the whole photo -> codes -> offsets
 * path runs end to end from it.
 */
import { describe, expect, it } from 'vitest';
import type { HostTensor } from '../../src/engine/tensor.js';
import { readImage } from '../../src/io/images/image.js';
import { readNpy } from '../../src/io/tensors/npy.js';
import { loadTorchCheckpoint } from '../../src/io/tensors/torch.js';
import { encoderInput } from '../../src/invert/encoder.js';
import { HyperStyle, MAX_ITERATIONS, domainOf } from '../../src/invert/hyperstyle.js';
import { inverterFor } from '../../src/invert/one_pass.js';
import { FacePhotoSource } from '../../src/invert/photo.js';
import { Generator } from '../../src/generator/index.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { saveTorch } from '../../src/io/tensors/torch_write.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hypernetFromCheckpoint } from '../../src/invert/hyperstyle_weights.js';
import { sliceRows } from '../../src/engine/batching.js';
import { fixture, maxAbsDiff, sharedPath } from '../helpers/shared.js';

const rel = (a: HostTensor, b: HostTensor): number => {
  expect(a.data.length).toBe(b.data.length);
  const { maxAbs, maxRef } = maxAbsDiff(a.data as Float32Array, b.data as Float32Array);
  return maxAbs / maxRef;
};
const TOL = 1e-3;
/** The official WEncoder's codes of hyperstyle_input.npy (tools/fixtures/hyperstyle_w_encoder.py). */
const OFFICIAL_W_CODES = new URL('../fixtures/hyperstyle/w_codes_official.npy', import.meta.url).pathname;
const TUNED = [0, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15];

/** Row `i` of axis 0 and row `k` of axis 1 of an [N, K, ...] array. */
function pick(t: HostTensor, i: number, k: number): HostTensor {
  const [n, kk, ...rest] = t.shape;
  const per = rest.reduce((a, b) => a * b, 1);
  const off = (i * kk + k) * per;
  expect(i < n && k < kk).toBe(true);
  return { dtype: 'float32', shape: rest, data: (t.data as Float32Array).subarray(off, off + per) };
}

describe('HyperStyle parity (hyperstyle run_inversion, case hyperstyle)', () => {
  it('W encoder codes vs the official WEncoder; from the fixture codes: initial reconstruction, 5 iterations of images and offsets, and the held-offset edit vs the official outputs (<= 1e-3 relative)', async () => {
    const hs = await HyperStyle.load(fixture('hyperstyle_tiny.pt'));
    try {
      expect([...hs.layers.keys()]).toEqual(TUNED);
      const x = await readNpy(fixture('hyperstyle_input.npy'));
      const wCodes = await readNpy(fixture('hyperstyle_w_codes.npy'));
      const officialCodes = await readNpy(OFFICIAL_W_CODES);
      const initial = await readNpy(fixture('hyperstyle_initial_recon.npy'));
      const images = await readNpy(fixture('hyperstyle_images.npy')); // [2,5,3,128,128]
      const direction = await readNpy(fixture('hyperstyle_edit_direction.npy')); // [64]
      const edited = await readNpy(fixture('hyperstyle_edited.npy'));
      const worst = { codes: 0, initial: 0, images: 0, deltas: 0, edited: 0 };
      for (let i = 0; i < 2; i++) {
        const fromOwn = await hs.invert(sliceRows(x, i, 1), 1);
        worst.codes = Math.max(worst.codes, rel(fromOwn.codes, sliceRows(officialCodes, i, 1)));
        const r = await hs.invert(sliceRows(x, i, 1), 5, { codes: sliceRows(wCodes, i, 1) });
        worst.initial = Math.max(worst.initial, rel(r.initial, sliceRows(initial, i, 1)));
        r.images.forEach((img, t) => (worst.images = Math.max(worst.images, rel(img, pick(images, i, t)))));
        for (const j of TUNED) {
          const ref = await readNpy(fixture(`hyperstyle_delta_layer${j}.npy`)); // [2,2,out,in,k,k]
          const name = hs.layers.get(j)!;
          worst.deltas = Math.max(worst.deltas, rel(r.firstOffsets.get(name)!, pick(ref, i, 0)), rel(r.offsets.get(name)!, pick(ref, i, 1)));
        }
        const adapted = hs.generator.withOffsets(r.offsets);
        try {
          const L = hs.generator.nLatent;
          const d = direction.data as Float32Array;
          const moved = (r.codes.data as Float32Array).map((v, k) => v + 2 * d[k % d.length]);
          const img = await adapted.synthesize({ dtype: 'float32', shape: [1, L, d.length], data: moved });
          worst.edited = Math.max(worst.edited, rel(img, sliceRows(edited, i, 1)));
        } finally {
          await adapted.dispose();
        }
      }
      console.log(`hyperstyle worst relative error: ${Object.entries(worst).map(([k, v]) => `${k} ${v.toExponential(2)}`).join(', ')}`);
      for (const v of Object.values(worst)) expect(v).toBeLessThanOrEqual(TOL);
    } finally {
      await hs.dispose();
    }
  }, 120_000);

  it('preprocessing of ffhq_1.jpg / ffhq_10.jpg (PIL bilinear Resize((256,256)), Normalize(0.5, 0.5)) equals hyperstyle_input.npy', async () => {
    const imgs = await Promise.all(['ffhq_1.jpg', 'ffhq_10.jpg'].map((f) => readImage(sharedPath('data', 'faces', f))));
    const { maxAbs } = maxAbsDiff(encoderInput(imgs).data as Float32Array, (await readNpy(fixture('hyperstyle_input.npy'))).data as Float32Array);
    expect(maxAbs).toBeLessThanOrEqual(1e-6);
  });
});

describe('HyperStyle bad input', () => {
  it('layers_to_tune outside the decoder, a differing copy of the shared hypernet, a missing W encoder and 0 or 21 iterations are refused in one line', async () => {
    const ckpt = await loadTorchCheckpoint(fixture('hyperstyle_tiny.pt'));
    const hs = await HyperStyle.load(fixture('hyperstyle_tiny.pt'));
    try {
      const c = hs.generator.config;
      expect(() => hypernetFromCheckpoint({ ...ckpt, values: { ...ckpt.values, 'opts.layers_to_tune': '0,2,25' } }, c, 'h.pt')).toThrow(/layers_to_tune '0,2,25' names layers outside the generator's 0..16 \(25\)/);
      const tensors = new Map(ckpt.tensors);
      const key = 'state_dict.hypernet.refinement_blocks.3.hypernet.b1';
      const t = tensors.get(key)!;
      tensors.set(key, { ...t, data: (t.data as Float32Array).map((v) => v + 1) });
      expect(() => hypernetFromCheckpoint({ ...ckpt, tensors }, c, 'h.pt')).toThrow(/copies differ.*refinement_blocks\.3\.hypernet\.b1/);
      const x = { dtype: 'float32' as const, shape: [1, 3, 256, 256], data: new Float32Array(3 * 256 * 256) };
      await expect(hs.invert(x, 0)).rejects.toThrow(/iterations must be an integer from 1 to 20, got 0/);
      await expect(hs.invert(x, MAX_ITERATIONS + 1)).rejects.toThrow(/got 21/);
    } finally {
      await hs.dispose();
    }
    await expect(HyperStyle.load(fixture('hyperstyle_tiny.pt'), { wEncoder: '/nonexistent/faces_w_encoder.pt' })).rejects.toThrow(/needs its W encoder \(hyperstyle_w_encoder_tiny\.pt; registry name hyperstyle-w-encoder-ffhq\).*--w-encoder/);
  }, 60_000);
});

describe('HyperStyle domains (opts.dataset_type)', () => {
  it('a cars checkpoint takes 192x256 input and shows the hypernet the 4:3 crop; the face photo pipeline refuses it in one line', async () => {
    expect([domainOf('ffhq_hypernet'), domainOf('cars_hypernet'), domainOf('afhq_wild_hypernet'), domainOf(undefined)]).toEqual(['faces', 'cars', 'animals', 'faces']);
    const ckpt = await loadTorchCheckpoint(fixture('hyperstyle_tiny.pt'));
    const cars = { ...ckpt, values: { ...ckpt.values, 'opts.dataset_type': 'cars_hypernet', 'opts.w_encoder_checkpoint_path': fixture('hyperstyle_w_encoder_tiny.pt') } };
    const hs = await HyperStyle.fromCheckpoint(cars, 'cars_tiny.pt');
    try {
      expect(hs.inputSide).toEqual([192, 256]);
      const x = { dtype: 'float32' as const, shape: [1, 3, 192, 256], data: new Float32Array(3 * 192 * 256).map((_, i) => Math.sin(i) * 0.5) };
      const r = await hs.invert(x, 2);
      expect(r.initial.shape).toEqual([1, 3, 192, 256]);
      expect(r.images[1].shape).toEqual([1, 3, 128, 128]);
      const inv = await inverterFor(cars, 'cars_tiny.pt', hs.generator);
      expect(inv.domain).toBe('cars');
      await inv.dispose();
    } finally {
      await hs.dispose();
    }
    const dir = mkdtempSync(join(tmpdir(), 'styleclip-hscars-'));
    try {
      const file = join(dir, 'cars_tiny.pt');
      const sd = [...cars.tensors].filter(([k]) => k.startsWith('state_dict.')).map(([k, v]) => [k.slice('state_dict.'.length), v] as const);
      const opts = Object.entries(cars.values).filter(([k]) => k.startsWith('opts.')).map(([k, v]) => [k.slice('opts.'.length), v as string | number | boolean | null] as const);
      await saveTorch(file, { dict: [['state_dict', { dict: sd }], ['opts', { dict: opts }], ['latent_avg', cars.tensors.get('latent_avg')!]] });
      const photos = new FacePhotoSource({ faithfulEncoder: file, modelsDir: sharedPath('models') });
      const g = await Generator.load(fixture('hyperstyle_tiny.pt'));
      try {
        await expect(photos.project({ path: sharedPath('data', 'faces', 'ffhq_2.jpg') }, { generator: g }, {})).rejects.toThrow(/is a HyperStyle model of cars; photo edits detect and align faces/);
      } finally {
        await Promise.all([photos.dispose(), g.dispose()]);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

