/**
 * The e4e encoder against omertov/encoder4editing on random weights in the official format (../shared/fixtures/
 * reference case `e4e`): codes of e4e_input.npy (two real FFHQ faces) and G(codes) with the checkpoint's decoder
 * (<= 1e-3 x max|expected|), the preprocessing from the JPEGs, and bad input.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readCheckpoint } from '../../src/io/tensors/checkpoint.js';
import { describe, expect, it } from 'vitest';
import type { HostTensor } from '../../src/engine/tensor.js';
import { readImage } from '../../src/io/images/image.js';
import { readNpy } from '../../src/io/tensors/npy.js';
import { loadTorchCheckpoint } from '../../src/io/tensors/torch.js';
import { PhotoEncoder, encoderFromCheckpoint, encoderInput } from '../../src/invert/encoder.js';
import { alignCornersMatrix } from '../../src/invert/encoder_net.js';
import { fixture, maxAbsDiff, sharedPath } from '../helpers/shared.js';

const rel = (a: HostTensor, b: HostTensor): number => {
  expect(a.shape).toEqual(b.shape);
  const { maxAbs, maxRef } = maxAbsDiff(a.data as Float32Array, b.data as Float32Array);
  return maxAbs / maxRef;
};

describe('e4e encoder parity (encoder4editing, case e4e)', () => {
  it('codes of e4e_input.npy vs e4e_codes.npy and G(codes) vs e4e_img.npy (<= 1e-3 relative), widths from the shapes', async () => {
    const enc = await PhotoEncoder.load(fixture('e4e_tiny.pt'));
    try {
      expect(enc.kind).toBe('e4e');
      expect(enc.info).toEqual({ kind: 'e4e', styleCount: 10, wDim: 64 });
      const weights = encoderFromCheckpoint(await readCheckpoint(fixture('e4e_tiny.pt'), 'e4e'), 'e4e_tiny.pt');
      expect(weights.styles.map((s) => s.convs.length)).toEqual([4, 4, 4, 5, 5, 5, 5, 6, 6, 6]);
      const codes = await enc.encode(await readNpy(fixture('e4e_input.npy')));
      const cErr = rel(codes, await readNpy(fixture('e4e_codes.npy')));
      const iErr = rel(await enc.generator.synthesize(codes), await readNpy(fixture('e4e_img.npy')));
      console.log(`e4e: codes ${cErr.toExponential(2)}, images ${iErr.toExponential(2)} relative`);
      expect(cErr).toBeLessThanOrEqual(1e-3);
      expect(iErr).toBeLessThanOrEqual(1e-3);
    } finally {
      await enc.dispose();
    }
  });

  it('read in place, the encoder\'s weights are mapped from the checkpoint (no compiled copy) and its codes equal those of the checkpoint parsed in memory (<= 1e-5 relative)', async () => {
    const path = fixture('e4e_tiny.pt');
    const compiled = { dir: mkdtempSync(join(tmpdir(), 'styleclip-e4e-mapped-')), source: 'e4e_tiny' };
    const fromFile = await PhotoEncoder.fromCheckpoint(await readCheckpoint(path, 'e4e'), path, undefined, { compiled });
    const inMemory = await PhotoEncoder.fromCheckpoint(await readCheckpoint(readFileSync(path), 'e4e'), path, undefined, { compiled: { ...compiled, source: 'in memory' } });
    try {
      const x = await readNpy(fixture('e4e_input.npy'));
      const a = await fromFile.encode(x);
      const compiledFiles = readdirSync(compiled.dir);
      const err = rel(a, await inMemory.encode(x));
      console.log(`e4e mapped vs in memory: ${err.toExponential(2)} relative`);
      expect(err).toBeLessThanOrEqual(1e-5);
      expect(compiledFiles).toEqual([]); // the in-memory one compiles: its entry appears only after
      expect(readdirSync(compiled.dir).length).toBeGreaterThan(0);
    } finally {
      await fromFile.dispose();
      await inMemory.dispose();
      rmSync(compiled.dir, { recursive: true, force: true });
    }
  });

  it('preprocessing of ffhq_0.jpg / ffhq_3.jpg (JPEG decode, PIL bilinear Resize((256,256)), Normalize(0.5, 0.5)) equals e4e_input.npy', async () => {
    const imgs = await Promise.all(['ffhq_0.jpg', 'ffhq_3.jpg'].map((f) => readImage(sharedPath('data', 'faces', f))));
    const ours = encoderInput(imgs);
    const ref = await readNpy(fixture('e4e_input.npy'));
    const { maxAbs } = maxAbsDiff(ours.data as Float32Array, ref.data as Float32Array);
    console.log(`e4e input from the JPEGs: max abs ${maxAbs.toFixed(4)} (${(maxAbs * 127.5).toFixed(1)} levels)`);
    // libjpeg-turbo in sharp and in PIL decode these files alike (measured: 0 levels); other decoders may differ.
    expect(maxAbs).toBeLessThanOrEqual(1e-6);
  });

  it('bilinear align_corners interpolation rows: ends map to ends, weights sum to 1', () => {
    const m = alignCornersMatrix(16, 32).data as Float32Array;
    expect(m[0]).toBe(1);
    expect(m[31 * 16 + 15]).toBe(1);
    for (let o = 0; o < 32; o++) expect(m.subarray(o * 16, o * 16 + 16).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
  });
});

describe('encoder bad input', () => {
  it('a pSp checkpoint is detected as pSp; an unknown encoder type, a mapper and a style count that does not fit the generator are refused', async () => {
    const ckpt = await loadTorchCheckpoint(fixture('e4e_tiny.pt'));
    expect(encoderFromCheckpoint({ ...ckpt, values: { ...ckpt.values, 'opts.encoder_type': 'GradualStyleEncoder' } }, 'psp.pt').kind).toBe('psp');
    expect(() => encoderFromCheckpoint({ ...ckpt, values: { ...ckpt.values, 'opts.encoder_type': 'BackboneEncoderUsingLastLayerIntoW' } }, 'w.pt')).toThrow(/encoder_type 'BackboneEncoderUsingLastLayerIntoW' is not supported/);
    const mapper = await loadTorchCheckpoint(fixture('mapper_tiny.pt'));
    expect(() => encoderFromCheckpoint(mapper, 'mapper_tiny.pt')).toThrow(/not an e4e\/pSp encoder checkpoint.*StyleCLIP mapper/);
    const nine = new Map([...ckpt.tensors].filter(([k]) => !k.startsWith('state_dict.encoder.styles.9.')));
    const w = encoderFromCheckpoint({ ...ckpt, tensors: nine }, 'nine.pt');
    const ok = await PhotoEncoder.load(fixture('e4e_tiny.pt'));
    try {
      expect(() => new PhotoEncoder(w, ok.generator, 'nine.pt')).toThrow(/predicts 9 styles of 64 dims, but the generator takes w\+ \[10, 64\]/);
    } finally {
      await ok.dispose();
    }
  });
});
