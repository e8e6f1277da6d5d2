import { beforeAll, describe, expect, it } from 'vitest';
import {
  CLIP_IMAGE_SIZE,
  centerCropOffset,
  clipPreprocess,
  clipPreprocessBatch,
  clipResizeCrop,
  precomputeCoeffs,
  resizeLikePil,
  resizeMatrix,
  shortSideSize,
  type ResampleFilter,
} from '../../src/clip/preprocess.js';
import { InputError } from '../../src/errors.js';
import { readImage, readImageRgba, type Pixels, type RgbaImage } from '../../src/io/images/image.js';
import { readNpy } from '../../src/io/tensors/npy.js';
import { fixture, maxAbsDiff, sharedPath } from '../helpers/shared.js';

/** Fixture README: pixels max abs error <= 0.02. This port is bit-exact; the bound is the fixture's. */
const PIXEL_TOLERANCE = 0.02;

let clipPng: RgbaImage;
beforeAll(async () => {
  clipPng = await readImageRgba(sharedPath('data', 'clip', 'CLIP.png'));
});

describe('CLIP preprocessing', () => {
  it('reproduces clip_pixels.npy from CLIP.png (RGBA, premultiplied resize)', async () => {
    const ref = await readNpy(fixture('clip_pixels.npy'));
    const got = clipPreprocess(clipPng);
    expect(got.shape).toEqual([1, 3, 224, 224]);
    expect(got.shape).toEqual(ref.shape);
    const { maxAbs } = maxAbsDiff(got.data as Float32Array, ref.data as Float32Array);
    console.log(`clip_pixels.npy max abs error: ${maxAbs}`);
    expect(maxAbs).toBeLessThanOrEqual(PIXEL_TOLERANCE);
    expect(maxAbs).toBe(0);
  });

  it('uses torchvision sizes: int(224 * long / short) and round-half-even crop offsets', () => {
    expect(shortSideSize(2162, 762, 224)).toEqual({ width: 635, height: 224 });
    expect(shortSideSize(300, 1000, 224)).toEqual({ width: 224, height: 746 });
    expect(centerCropOffset(635, 224, 224)).toEqual({ left: 206, top: 0 });
    expect(centerCropOffset(227, 229, 224)).toEqual({ left: 2, top: 2 });
    expect(centerCropOffset(224, 225, 224)).toEqual({ left: 0, top: 0 });
  });

  it('stacks a batch and accepts RGB input', async () => {
    const face = await readImage(sharedPath('data', 'faces', 'ffhq_1.jpg'));
    const one = clipPreprocess(face);
    const both = clipPreprocessBatch([clipPng, face]);
    expect(both.shape).toEqual([2, 3, CLIP_IMAGE_SIZE, CLIP_IMAGE_SIZE]);
    const per = 3 * CLIP_IMAGE_SIZE * CLIP_IMAGE_SIZE;
    expect(maxAbsDiff((both.data as Float32Array).subarray(per), one.data as Float32Array).maxAbs).toBe(0);
    expect(() => clipPreprocessBatch([])).toThrow(InputError);
  });

  it('leaves an image of the target size untouched and upsamples small ones', () => {
    const square: Pixels = { width: 224, height: 224, channels: 3, data: new Uint8Array(224 * 224 * 3).fill(7) };
    expect(Buffer.from(clipResizeCrop(square).data).equals(square.data)).toBe(true);
    const tiny: Pixels = { width: 2, height: 3, channels: 3, data: new Uint8Array(18).fill(200) };
    const up = clipResizeCrop(tiny);
    expect([up.width, up.height]).toEqual([224, 224]);
    expect(up.data.every((v) => v === 200)).toBe(true);
  });
});

describe('resizeMatrix', () => {
  it('has rows that sum to 1 and the antialiased support', () => {
    for (const filter of ['bicubic', 'bilinear', 'lanczos'] as ResampleFilter[]) {
      for (const [n, m] of [[762, 224], [100, 300], [7, 7]]) {
        const t = resizeMatrix(n, m, filter);
        expect(t.shape).toEqual([m, n]);
        const d = t.data as Float32Array;
        for (let o = 0; o < m; o++) {
          let s = 0;
          for (let i = 0; i < n; i++) s += d[o * n + i];
          expect(Math.abs(s - 1)).toBeLessThan(1e-5);
        }
      }
    }
    const c = precomputeCoeffs(2162, 635);
    expect(c.ksize).toBe(2 * Math.ceil(2 * (2162 / 635)) + 1);
    expect(Array.from(resizeMatrix(5, 5).data as Float32Array, (v) => v + 0)).toEqual(Array.from({ length: 25 }, (_, i) => (i % 6 === 0 ? 1 : 0)));
  });

  it('applied separably in float reproduces the uint8 PIL resize within a few levels', async () => {
    const face = resizeLikePil(await readImage(sharedPath('data', 'faces', 'ffhq_2.jpg')), 300, 280);
    const [outW, outH] = [224, 160];
    const pil = resizeLikePil(face, outW, outH);
    const mw = resizeMatrix(face.width, outW).data as Float32Array;
    const mh = resizeMatrix(face.height, outH).data as Float32Array;
    const { width: w, height: h } = face;
    let worst = 0;
    let total = 0;
    for (let c = 0; c < 3; c++) {
      const rows = new Float32Array(h * outW);
      for (let y = 0; y < h; y++) {
        for (let ox = 0; ox < outW; ox++) {
          let s = 0;
          for (let x = 0; x < w; x++) s += mw[ox * w + x] * face.data[(y * w + x) * 3 + c];
          rows[y * outW + ox] = s;
        }
      }
      for (let oy = 0; oy < outH; oy++) {
        for (let ox = 0; ox < outW; ox++) {
          let s = 0;
          for (let y = 0; y < h; y++) s += mh[oy * h + y] * rows[y * outW + ox];
          const d = Math.abs(Math.min(255, Math.max(0, s)) - pil.data[(oy * outW + ox) * 3 + c]);
          worst = Math.max(worst, d);
          total += d;
        }
      }
    }
    console.log(`float resizeMatrix vs uint8 PIL path: max ${worst.toFixed(3)}/255, mean ${(total / (outW * outH * 3)).toFixed(3)}/255`);
    expect(worst).toBeLessThanOrEqual(3);
    expect(total / (outW * outH * 3)).toBeLessThan(0.5);
  });

  it('rejects non-positive sizes', () => {
    expect(() => resizeMatrix(0, 3)).toThrow(InputError);
    expect(() => resizeMatrix(3, 2.5)).toThrow(InputError);
  });
});
