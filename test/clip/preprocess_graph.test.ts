import { describe, expect, it } from 'vitest';
import { CLIP_MEAN, CLIP_STD, clipPreprocess, resizeMatrix } from '../../src/clip/preprocess.js';
import { clipInput, normalizeAffine, resampleMatrices, resolveClipInput, styleclipPoolMatrix } from '../../src/clip/preprocess_graph.js';
import * as E from '../../src/engine/index.js';
import { InputError } from '../../src/errors.js';
import { maxAbsDiff } from '../helpers/shared.js';

function randomImage(n: number, size: number, seed: number): E.HostTensor {
  let s = seed;
  const u = (): number => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
  return E.f32([n, 3, size, size], Array.from({ length: n * 3 * size * size }, u));
}

async function runGraph(size: number, build: (x: E.Value) => E.Value, x: E.HostTensor): Promise<E.HostTensor> {
  const g = new E.Graph();
  g.output(build(g.input('x', 'float32', [x.shape[0], 3, size, size])), 'y');
  const s = await E.Session.create(g, { threads: 1 });
  const y = (await s.run({ x })).y;
  await s.dispose();
  return y;
}

describe('StyleCLIP resampling as one linear map', () => {
  for (const size of [64, 256]) {
    it(`H=${size}: equals Upsample(x7, nearest) + AvgPool(H/32) on the engine`, async () => {
      const x = randomImage(1, size, size);
      const ours = await runGraph(size, (v) => clipInput(v, { mode: 'styleclip', resample: 'avgpool' }), x);
      const ref = await runGraph(size, (v) => E.averagePool(E.upsampleNearest(v, 7), [size / 32, size / 32]), x);
      expect(ours.shape).toEqual([1, 3, 224, 224]);
      expect(ref.shape).toEqual([1, 3, 224, 224]);
      expect(maxAbsDiff(ours.data as Float32Array, ref.data as Float32Array).maxAbs).toBeLessThanOrEqual(1e-6);
    });
  }

  it('H=1024: each output is the mean of a 32-sample run of the 7x upsampled axis', () => {
    const m = styleclipPoolMatrix(1024);
    expect(m.shape).toEqual([224, 1024]);
    const row = (o: number): number[] => Array.from((m.data as Float32Array).subarray(o * 1024, (o + 1) * 1024));
    // Output 0 covers upsampled samples 0..31: source pixels 0..3 fully (7 each) and 4/7 of pixel 4.
    expect(row(0).slice(0, 6).map((w) => w * 32)).toEqual([7, 7, 7, 7, 4, 0]);
    // Output 1 covers samples 32..63: 3 of pixel 4, pixels 5..8 fully, 1 of pixel 9.
    expect(row(1).slice(4, 11).map((w) => Math.round(w * 32))).toEqual([3, 7, 7, 7, 7, 1, 0]);
    for (let o = 0; o < 224; o++) expect(row(o).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
  });

  it('refuses sizes the reference would not map to 224', () => {
    expect(() => resampleMatrices(100, 100, 'avgpool')).toThrow(InputError);
    expect(() => resampleMatrices(64, 128, 'avgpool')).toThrow(/square/);
    expect(() => styleclipPoolMatrix(16)).toThrow(InputError);
  });
});

describe('normalized mode and bicubic resampling', () => {
  it('normalized = [-1,1] -> [0,1] -> (x - mean) / std after the same resampling', async () => {
    const x = randomImage(2, 64, 7);
    const raw = await runGraph(64, (v) => clipInput(v, { mode: 'styleclip' }), x);
    const norm = await runGraph(64, (v) => clipInput(v, { mode: 'normalized' }), x);
    const plane = 224 * 224;
    let worst = 0;
    for (let i = 0; i < norm.data.length; i++) {
      const c = Math.floor(i / plane) % 3;
      const want = ((Number(raw.data[i]) + 1) / 2 - CLIP_MEAN[c]) / CLIP_STD[c];
      worst = Math.max(worst, Math.abs(Number(norm.data[i]) - want));
    }
    expect(worst).toBeLessThanOrEqual(1e-5);
    const { scale, shift } = normalizeAffine();
    expect(scale.shape).toEqual([1, 3, 1, 1]);
    expect(shift.shape).toEqual([1, 3, 1, 1]);
  });

  it('bicubic: a rectangular image is resized on its short side and center-cropped', () => {
    const { rows, cols } = resampleMatrices(300, 400, 'bicubic');
    expect(rows.shape).toEqual([224, 300]);
    expect(cols.shape).toEqual([224, 400]);
    // Width 400 -> int(224 * 400 / 300) = 298, crop offset round((298 - 224) / 2) = 37.
    const full = resizeMatrix(400, 298, 'bicubic');
    expect((cols.data as Float32Array).subarray(0, 400)).toEqual((full.data as Float32Array).subarray(37 * 400, 38 * 400));
  });

  it('bicubic + normalized follows CLIP _transform within the pixel tolerance where PIL does not clip', async () => {
    // A smooth image: Pillow's 8-bit path clips overshoot at 0/255 after each pass, which a linear map cannot do,
    // so only unsaturated content can agree to rounding.
    const size = 256;
    const rgb = new Uint8Array(size * size * 3);
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        for (let c = 0; c < 3; c++) rgb[(y * size + x) * 3 + c] = Math.round(128 + 80 * Math.sin((x * (c + 1)) / 23 + y / 17));
      }
    }
    const img = { width: size, height: size, channels: 3 as const, data: rgb };
    const x = E.f32([1, 3, size, size]);
    for (let i = 0; i < size * size; i++) for (let c = 0; c < 3; c++) (x.data as Float32Array)[c * size * size + i] = rgb[i * 3 + c] / 127.5 - 1;
    const ours = await runGraph(size, (v) => clipInput(v, { mode: 'normalized', resample: 'bicubic' }), x);
    // The reference rounds to uint8 after each pass: about one level, 1/255/std ≈ 0.015 in CLIP units.
    expect(maxAbsDiff(ours.data as Float32Array, clipPreprocess(img).data as Float32Array).maxAbs).toBeLessThanOrEqual(0.02);
  });

  it('is differentiable: the input gradient is the transposed resampling', async () => {
    const g = new E.Graph();
    const x = g.input('x', 'float32', [1, 3, 64, 64]);
    const [gx] = E.grad(E.reduceSum(clipInput(x, { mode: 'normalized' })), [x]);
    g.output(gx, 'gx');
    const s = await E.Session.create(g, { threads: 1 });
    const out = (await s.run({ x: randomImage(1, 64, 3) })).gx;
    await s.dispose();
    // d/dx of the sum: per channel 0.5/std_c times the column sums of M (each 224/64 = 3.5 in both axes).
    expect(out.data[0]).toBeCloseTo((0.5 / CLIP_STD[0]) * 3.5 * 3.5, 4);
    expect(out.data[2 * 64 * 64 + 5]).toBeCloseTo((0.5 / CLIP_STD[2]) * 3.5 * 3.5, 4);
  });

  it('config is validated and frozen', () => {
    expect(resolveClipInput()).toEqual({ mode: 'styleclip', resample: 'avgpool', size: 224 });
    expect(Object.isFrozen(resolveClipInput({ mode: 'normalized' }))).toBe(true);
    expect(() => resolveClipInput({ mode: 'bogus' as never })).toThrow(InputError);
  });
});
