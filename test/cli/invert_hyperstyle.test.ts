/**
 * `styleclip invert` with the HyperStyle fixture (random weights, the official checkpoint format) on the real FFHQ
 * photos of the shared `hyperstyle` case, and `generate --offsets` rendering with the offsets it saved: the codes
 * equal the official W encoder's (test/fixtures/hyperstyle), the offsets and the reconstruction equal the library's
 * `HyperStyle.invert`, and generate reproduces the reconstruction (<= 1e-3 x max each).
 */
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readNpy } from '../../src/io/tensors/npy.js';
import { readSafetensors } from '../../src/io/tensors/safetensors.js';
import { encoderInput } from '../../src/invert/encoder.js';
import { HyperStyle } from '../../src/invert/hyperstyle.js';
import { readImage } from '../../src/io/images/image.js';
import { runCli } from '../helpers/cli.js';
import { fixture, maxAbsDiff, sharedPath } from '../helpers/shared.js';

const dir = mkdtempSync(join(tmpdir(), 'styleclip-hyperstyle-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const OFFICIAL_W_CODES = new URL('../fixtures/hyperstyle/w_codes_official.npy', import.meta.url).pathname;
const close = (a: unknown, b: unknown): number => {
  const d = maxAbsDiff(a as Float32Array, b as Float32Array);
  return d.maxAbs / d.maxRef;
};

describe('styleclip invert --encoder HYPERSTYLE.pt', () => {
  it('two aligned photos, 5 iterations: codes vs the official W encoder, offsets and reconstructions vs HyperStyle.invert, generate --offsets reproduces them (<= 1e-3)', async () => {
    const photos = join(dir, 'photos');
    mkdirSync(photos);
    copyFileSync(sharedPath('data', 'faces', 'ffhq_1.jpg'), join(photos, 'a.jpg'));
    copyFileSync(sharedPath('data', 'faces', 'ffhq_10.jpg'), join(photos, 'b.jpg'));
    const [w, raw, offsets, again] = ['w.npy', 'raw.npy', 'o.safetensors', 'again.npy'].map((f) => join(dir, f));
    const r = await runCli(['invert', '--encoder', fixture('hyperstyle_tiny.pt'), '--image', photos, '--aligned', '--iterations', '5', '--save-latent', w, '--raw', raw, '--save-offsets', offsets, '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ encoder: 'hyperstyle', photos: 2, latent: [2, 12, 64], iterations: 5 });
    const codes = await readNpy(w);
    expect(close(codes.data, (await readNpy(OFFICIAL_W_CODES)).data)).toBeLessThanOrEqual(1e-3);
    const saved = await readSafetensors(offsets);
    expect(saved.metadata.hyperstyle_layers).toBe('0,2,3,5,6,8,9,11,12,14,15');
    expect(saved.tensors.get('b8.conv0')!.shape).toEqual([2, 64, 64, 3, 3]);

    const hs = await HyperStyle.load(fixture('hyperstyle_tiny.pt'));
    try {
      const x = encoderInput(await Promise.all(['ffhq_1.jpg', 'ffhq_10.jpg'].map((f) => readImage(sharedPath('data', 'faces', f)))));
      const lib = await hs.invert({ ...x, shape: [1, 3, 256, 256], data: (x.data as Float32Array).slice(3 * 256 * 256) }, 5);
      const b = saved.tensors.get('b128.conv1')!.data as Float32Array;
      expect(close(b.subarray(b.length / 2), lib.offsets.get('b128.conv1')!.data)).toBeLessThanOrEqual(1e-3);
      const rec = (await readNpy(raw)).data as Float32Array;
      expect(close(rec.subarray(rec.length / 2), lib.images[4].data)).toBeLessThanOrEqual(1e-3);
    } finally {
      await hs.dispose();
    }
    const g = await runCli(['generate', '--generator', fixture('hyperstyle_tiny.pt'), '--w-plus', w, '--offsets', offsets, '--noise', 'const', '--raw', again]);
    expect(g.stderr).toBe('');
    expect(g.code).toBe(0);
    expect(close((await readNpy(again)).data, (await readNpy(raw)).data)).toBeLessThanOrEqual(1e-6);
  }, 120_000);

  it.each([
    [['--encoder', 'FIX:e4e_tiny.pt', '--iterations', '3'], /--iterations applies to HyperStyle checkpoints; e4e inverts in one pass/],
    [['--encoder', 'FIX:e4e_tiny.pt', '--save-offsets', 'OUT:o.safetensors'], /--save-offsets applies to HyperStyle checkpoints/],
    [['--encoder', 'FIX:hyperstyle_tiny.pt', '--iterations', '0'], /--iterations must be/],
    [['--encoder', 'FIX:hyperstyle_tiny.pt', '--iterations', '21'], /--iterations must be/],
    [['--encoder', 'FIX:hyperstyle_tiny.pt', '--w-encoder', 'OUT:missing.pt'], /needs its W encoder|no such file/],
    [['--encoder', 'FIX:hyperstyle_tiny.pt', '--save-offsets', 'OUT:o.bin'], /use a \.safetensors file/],
  ])('bad input %j -> exit 2, nothing written', async (extra, msg) => {
    const args = extra.map((a) => (a.startsWith('FIX:') ? fixture(a.slice(4)) : a.startsWith('OUT:') ? join(dir, 'bad', a.slice(4)) : a));
    mkdirSync(join(dir, 'bad'), { recursive: true });
    const r = await runCli(['invert', ...args, '--image', sharedPath('data', 'faces', 'ffhq_1.jpg'), '--aligned', '--save-latent', join(dir, 'bad', 'w.npy')]);
    expect(r.stderr).toMatch(msg);
    expect(r.code).toBe(2);
    expect(readdirSync(join(dir, 'bad'))).toEqual([]);
  });

  it('generate --offsets with a latent count that differs from the offsets is refused', async () => {
    const offsets = join(dir, 'o.safetensors');
    const r = await runCli(['generate', '--generator', fixture('hyperstyle_tiny.pt'), '--seed', '1', '--offsets', offsets, '--raw', join(dir, 'x.npy')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/holds offsets of 2 photo\(s\) but there are 1 latents/);
  });
});
