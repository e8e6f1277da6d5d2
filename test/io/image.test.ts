import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hugePngHeader } from '../helpers/png.js';
import { InputError } from '../../src/errors.js';
import {
  DEFAULT_MAX_PIXELS,
  MAX_PIXELS_ENV,
  maxPixelsLimit,
  readImage,
  readImageRgba,
  rgbToTensor,
  tensorToRgb,
  toByte,
  writeImage,
} from '../../src/io/images/image.js';
import { sharedPath } from '../helpers/shared.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'styleclip-image-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const solid = (width: number, height: number, r: number, g: number, b: number) =>
  sharp({ create: { width, height, channels: 3, background: { r, g, b } } });

async function noisyImage(format: 'png' | 'jpeg'): Promise<Buffer> {
  const raw = Buffer.from(Array.from({ length: 64 * 64 * 3 }, (_, i) => (i * 7919) % 251));
  const img = sharp(raw, { raw: { width: 64, height: 64, channels: 3 } });
  return format === 'png' ? img.png().toBuffer() : img.jpeg().toBuffer();
}

const px = (img: { width: number; data: Uint8Array; channels: number }, x: number, y: number) =>
  Array.from(img.data.subarray((y * img.width + x) * img.channels, (y * img.width + x + 1) * img.channels));

describe('readImage', () => {
  it('reads the FFHQ JPEGs and CLIP.png as 8-bit RGB', async () => {
    const face = await readImage(sharedPath('data', 'faces', 'ffhq_0.jpg'));
    expect([face.width, face.height, face.channels, face.data.length]).toEqual([1024, 1024, 3, 1024 * 1024 * 3]);
    const clip = await readImage(sharedPath('data', 'clip', 'CLIP.png'));
    expect([clip.width, clip.height, clip.channels]).toEqual([2162, 762, 3]);
    expect(px(clip, 0, 0)).toEqual([255, 255, 255]);
    const rgba = await readImageRgba(sharedPath('data', 'clip', 'CLIP.png'));
    expect(rgba.channels).toBe(4);
    expect(px(rgba, 0, 0)[3]).toBe(0);
  });

  it('applies EXIF orientation 6 (rotate 90° clockwise)', async () => {
    const stored = await solid(32, 16, 255, 0, 0)
      .composite([{ input: { create: { width: 16, height: 16, channels: 3, background: { r: 0, g: 0, b: 255 } } }, left: 16, top: 0 }])
      .jpeg({ quality: 100 })
      .withMetadata({ orientation: 6 })
      .toBuffer();
    const img = await readImage(stored);
    expect([img.width, img.height]).toEqual([16, 32]);
    const [r1, , b1] = px(img, 8, 4);
    const [r2, , b2] = px(img, 8, 28);
    expect(r1).toBeGreaterThan(240);
    expect(b1).toBeLessThan(15);
    expect(r2).toBeLessThan(15);
    expect(b2).toBeGreaterThan(240);
  });

  it('converts CMYK JPEG and greyscale PNG to sRGB RGB', async () => {
    const cmyk = await solid(8, 8, 200, 30, 40).toColourspace('cmyk').jpeg().toBuffer();
    expect((await sharp(cmyk).metadata()).space).toBe('cmyk');
    const c = await readImage(cmyk);
    expect(c.channels).toBe(3);
    const [r, g, b] = px(c, 4, 4);
    expect(r).toBeGreaterThan(170);
    expect(g).toBeLessThan(60);
    expect(b).toBeLessThan(70);
    const grey = await solid(3, 2, 100, 100, 100).toColourspace('b-w').png().toBuffer();
    expect((await sharp(grey).metadata()).channels).toBe(1);
    expect(Array.from((await readImage(grey)).data)).toEqual(new Array(18).fill(100));
  });

  it('flattens alpha onto white in readImage and keeps it in readImageRgba', async () => {
    const raw = Buffer.from([255, 0, 0, 0, 0, 0, 255, 255, 0, 0, 0, 128]);
    const png = await sharp(raw, { raw: { width: 3, height: 1, channels: 4 } }).png().toBuffer();
    const rgb = await readImage(png);
    expect(px(rgb, 0, 0)).toEqual([255, 255, 255]);
    expect(px(rgb, 1, 0)).toEqual([0, 0, 255]);
    expect(px(rgb, 2, 0).every((v) => Math.abs(v - 127) <= 1)).toBe(true);
    const rgba = await readImageRgba(png);
    expect(px(rgba, 1, 0)).toEqual([0, 0, 255, 255]);
    expect(px(rgba, 2, 0)).toEqual([0, 0, 0, 128]);
    expect(px(await readImageRgba(await solid(1, 1, 1, 2, 3).png().toBuffer()), 0, 0)).toEqual([1, 2, 3, 255]);
  });

  it('reads a 1x1 image from a path', async () => {
    const p = join(dir, 'one.png');
    await solid(1, 1, 10, 20, 30).png().toFile(p);
    const img = await readImage(p);
    expect([img.width, img.height, ...img.data]).toEqual([1, 1, 10, 20, 30]);
  });

  it('refuses empty, missing, non-image and truncated inputs with InputError', async () => {
    const empty = join(dir, 'empty.png');
    await writeFile(empty, new Uint8Array(0));
    await expect(readImage(empty)).rejects.toThrow(/empty \(0 bytes\)/);
    await expect(readImage(join(dir, 'missing.png'))).rejects.toThrow(/ENOENT/);
    const random = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 2654435761) >>> 24));
    await expect(readImage(random)).rejects.toBeInstanceOf(InputError);
    const png = await noisyImage('png');
    await expect(readImage(png.subarray(0, png.length >> 1))).rejects.toThrow(/cannot decode/);
    const jpg = await noisyImage('jpeg');
    await expect(readImage(jpg.subarray(0, jpg.length >> 1))).rejects.toThrow(/cannot decode/);
  });

  it("says what is wrong with a file in the user's terms, never the decoder library's text", async () => {
    const png = await noisyImage('png');
    const notImage = await readImage(new TextEncoder().encode('hello, this is a text file, not a photo'.repeat(20))).catch((e: Error) => e.message);
    expect(notImage).toMatch(/cannot decode .*: it is not an image, or not in a format this reads; pass a complete PNG/);
    for (const cut of [png.subarray(0, png.length >> 1), (await noisyImage('jpeg')).subarray(0, 600)]) {
      const msg = await readImage(cut).catch((e: Error) => e.message);
      expect(msg).toMatch(/cannot decode .*: the file is damaged or incomplete/);
      expect(msg).not.toMatch(/vips|libpng|Input buffer|jpeg:/i);
    }
  });

  it('refuses a 20000x20000 PNG from its header, naming the limit', async () => {
    expect(DEFAULT_MAX_PIXELS).toBe(50_000_000);
    const err = await readImage(hugePngHeader(20000, 20000)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toMatch(/20000x20000 = 400000000 pixels, above the limit of 50000000; .*--max-pixels N.*maxPixels option/);
    const small = await solid(20, 10, 0, 0, 0).png().toBuffer();
    await expect(readImage(small, { maxPixels: 199 })).rejects.toThrow(/limit of 199/);
    expect((await readImage(small, { maxPixels: 200 })).width).toBe(20);
  });

  it('STYLECLIP_MAX_PIXELS changes the default limit; a non-positive value is refused by name', async () => {
    const small = await solid(20, 10, 0, 0, 0).png().toBuffer();
    expect(maxPixelsLimit({ [MAX_PIXELS_ENV]: '199' })).toBe(199);
    expect(() => maxPixelsLimit({ [MAX_PIXELS_ENV]: '-5' })).toThrow(/STYLECLIP_MAX_PIXELS \(--max-pixels\) must be a positive number/);
    process.env[MAX_PIXELS_ENV] = '199';
    try {
      await expect(readImage(small)).rejects.toThrow(/limit of 199/);
    } finally {
      delete process.env[MAX_PIXELS_ENV];
    }
    expect((await readImage(small)).width).toBe(20);
  });
});

describe('tensor conversions', () => {
  const all = { width: 256, height: 1, channels: 3 as const, data: Uint8Array.from({ length: 768 }, (_, i) => i % 256) };

  it('round-trips every byte value through both ranges', () => {
    for (const range of ['[-1,1]', '[0,1]', '[0,255]'] as const) {
      const t = rgbToTensor(all, range);
      expect(t.shape).toEqual([1, 3, 1, 256]);
      expect(Array.from(tensorToRgb(t, 0, range).data)).toEqual(Array.from(all.data));
    }
    const t = rgbToTensor(all, '[-1,1]').data as Float32Array;
    expect([Math.min(...t), Math.max(...t)]).toEqual([-1, 1]);
  });

  it('clamps and rounds half to even like torch', () => {
    const tie = (v: number) => Math.fround(v / 255);
    expect([0.5, 1.5, 2.5, 3.5].map((v) => toByte(tie(v), '[0,1]'))).toEqual([0, 2, 2, 4]);
    expect(toByte(0, '[-1,1]')).toBe(128);
    expect([toByte(-7, '[-1,1]'), toByte(7, '[-1,1]'), toByte(NaN, '[-1,1]')]).toEqual([0, 255, 0]);
    expect([toByte(-0.1, '[0,1]'), toByte(1.1, '[0,1]')]).toEqual([0, 255]);
    expect([0.5, 1.5, -3, 300, NaN].map((v) => toByte(v, '[0,255]'))).toEqual([0, 2, 0, 255, 0]);
  });

  it('tensorToRgb equals torch\'s formula step by step (float32 ops, round half to even) on 1M random values and the 21 float32 values around every tie', () => {
    const reference = (x: number, range: '[-1,1]' | '[0,1]' | '[0,255]'): number => {
      if (Number.isNaN(x)) return 0;
      const y =
        range === '[0,255]' ? Math.min(255, Math.max(0, x))
        : range === '[0,1]' ? Math.fround(Math.min(1, Math.max(0, x)) * 255)
        : Math.fround(Math.fround(Math.fround(Math.min(1, Math.max(-1, x)) + 1) / 2) * 255);
      const r = Math.round(y);
      return r - y === 0.5 && r % 2 !== 0 ? r - 1 : r;
    };
    const ulpSteps = (v: number): number[] => {
      const f = new Float32Array([v]);
      const i = new Int32Array(f.buffer);
      const base = i[0];
      return Array.from({ length: 21 }, (_, k) => {
        i[0] = base + (v >= 0 ? k - 10 : 10 - k);
        return f[0];
      });
    };
    let seed = 1;
    const random = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (const [range, toValue] of [['[-1,1]', (t: number) => t / 127.5 - 1], ['[0,1]', (t: number) => t / 255], ['[0,255]', (t: number) => t]] as const) {
      const values: number[] = [NaN, -0, Infinity, -Infinity];
      for (let k = 0; k < 256; k++) values.push(...ulpSteps(toValue(k + 0.5)));
      const span = range === '[0,255]' ? 300 : 2.2;
      for (let k = 0; k < 1_000_000; k++) values.push(Math.fround(random() * span - (range === '[-1,1]' ? span / 2 : 0.1 * span)));
      const n = Math.floor(values.length / 3);
      const t = { dtype: 'float32' as const, shape: [1, 3, 1, n], data: Float32Array.from(values.slice(0, 3 * n)) };
      const got = tensorToRgb(t, 0, range).data;
      let bad = 0;
      for (let c = 0; c < 3; c++) for (let i = 0; i < n; i++) if (got[i * 3 + c] !== reference(t.data[c * n + i], range)) bad++;
      expect(bad).toBe(0);
    }
  });

  it('selects a batch element and validates the shape', () => {
    const t = { dtype: 'float32' as const, shape: [2, 3, 1, 1], data: Float32Array.from([-1, -1, -1, 1, 0, -1]) };
    expect(Array.from(tensorToRgb(t, 1, '[-1,1]').data)).toEqual([255, 128, 0]);
    expect(() => tensorToRgb(t, 2, '[-1,1]')).toThrow(InputError);
    expect(() => tensorToRgb({ ...t, shape: [2, 3, 1] }, 0, '[-1,1]')).toThrow(/\[N,3,H,W\]/);
  });
});

describe('writeImage', () => {
  const w = 7;
  const h = 5;
  const rgb = Uint8Array.from({ length: w * h * 3 }, (_, i) => (i * 37) % 256);

  it('writes PNG losslessly and JPEG/WebP by extension, leaving no temporary files', async () => {
    await writeImage(join(dir, 'out.png'), rgb, w, h);
    expect(Array.from((await readImage(join(dir, 'out.png'))).data)).toEqual(Array.from(rgb));
    for (const [name, format] of [['out.jpg', 'jpeg'], ['out.JPEG', 'jpeg'], ['out.webp', 'webp']]) {
      await writeImage(join(dir, name), rgb, w, h);
      const meta = await sharp(join(dir, name)).metadata();
      expect([meta.format, meta.width, meta.height]).toEqual([format, w, h]);
    }
    expect((await readdir(dir)).filter((f) => f.endsWith('.partial'))).toEqual([]);
  });

  it('refuses unknown extensions and mismatched sizes', async () => {
    await expect(writeImage(join(dir, 'out.bmp'), rgb, w, h)).rejects.toThrow(/\.png, \.jpg, \.jpeg, \.webp/);
    await expect(writeImage(join(dir, 'bad.png'), rgb, w + 1, h)).rejects.toBeInstanceOf(InputError);
  });
});
