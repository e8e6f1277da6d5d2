/**
 * `styleclip align` and `styleclip identity` end to end, and the bad inputs of issue 6: no face, a 1x1 image, a CMYK
 * JPEG, a PNG with alpha, a huge photo (downscaled before detection), several faces.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DETECTION_MAX_SIDE } from '../../src/faces/detect.js';
import { ffhqCrop, mapQuad, quadDistance, type Point, type Quad } from '../../src/faces/geometry.js';
import { readImage, writeImage, type RgbImage } from '../../src/io/images/image.js';
import { runCli } from '../helpers/cli.js';
import { FACE_MODELS, facePaths, readFace, resized, transformFace } from './helpers.js';

interface AlignJson {
  faces: number;
  landmarks: Point[];
  quad: Quad;
}

const rawSharp = (img: RgbImage) => sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } });

describe('styleclip align / identity', () => {
  const dir = mkdtempSync(join(tmpdir(), 'styleclip-faces-'));
  const models = (): string[] => ['--models', FACE_MODELS()];
  let face: RgbImage;
  let reference: AlignJson;

  const align = async (image: string, ...extra: string[]) => {
    const out = join(dir, `aligned_${Math.random().toString(36).slice(2)}.png`);
    const res = await runCli(['align', '--image', image, '--out', out, '--size', '64', ...models(), '--json', ...extra]);
    return { ...res, out, json: res.code === 0 ? (JSON.parse(res.stdout) as AlignJson) : undefined };
  };

  beforeAll(async () => {
    face = resized(await readFace(facePaths()[2]), 512);
    await writeImage(join(dir, 'face.png'), face.data, 512, 512);
    const res = await align(join(dir, 'face.png'));
    expect(res.code).toBe(0);
    reference = res.json!;
  }, 60_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** Crop-size-relative corner distance to the reference crop, after mapping by `scale` and `offset`. */
  const relError = (q: Quad, scale = 1, offset: Point = [0, 0]): number => {
    const expected = mapQuad([scale, 0, offset[0] + 0.5 * (scale - 1), 0, scale, offset[1] + 0.5 * (scale - 1)], reference.quad);
    return quadDistance(q, expected) / (ffhqCrop(reference.landmarks).qsize * scale);
  };

  it('align --json prints the face count, 68 landmarks and the crop quad, and writes the aligned face', async () => {
    expect(reference.faces).toBe(1);
    expect(reference.landmarks).toHaveLength(68);
    expect(reference.quad).toHaveLength(4);
    const res = await align(join(dir, 'face.png'));
    const written = await readImage(res.out);
    expect([written.width, written.height]).toEqual([64, 64]);
    expect(quadDistance(res.json!.quad, reference.quad)).toBe(0);
  });

  it('identity --json: unit embeddings and a symmetric cosine matrix; the same person scores higher', async () => {
    const moved = transformFace(face, 15, 0.8, 50);
    await writeImage(join(dir, 'moved.png'), moved.image.data, moved.image.width, moved.image.height);
    const other = resized(await readFace(facePaths()[5]), 512);
    await writeImage(join(dir, 'other.png'), other.data, 512, 512);
    const res = await runCli(['identity', '--image', join(dir, 'face.png'), '--image', join(dir, 'moved.png'), '--image', join(dir, 'other.png'), ...models(), '--json']);
    expect(res.code).toBe(0);
    const { embeddings, cosine } = JSON.parse(res.stdout) as { embeddings: number[][]; cosine: number[][] };
    expect(embeddings).toHaveLength(3);
    expect(embeddings[0]).toHaveLength(256);
    expect(Math.hypot(...embeddings[0])).toBeCloseTo(1, 4);
    for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) expect(cosine[i][j]).toBeCloseTo(cosine[j][i], 6);
    expect(cosine[0][1]).toBeGreaterThan(cosine[0][2] + 0.3);
    const aligned = await runCli(['identity', '--image', facePaths()[0], '--image', facePaths()[0], '--aligned', ...models(), '--json']);
    expect(JSON.parse(aligned.stdout).cosine[0][1]).toBeCloseTo(1, 5);
  }, 60_000);

  it('no face and a 1x1 image: a one-line error, exit code 2', async () => {
    const grad = new Uint8Array(320 * 240 * 3).map((_, i) => Math.floor(i / 3 / 320) % 256);
    await writeImage(join(dir, 'empty.png'), grad, 320, 240);
    await writeImage(join(dir, 'dot.png'), Uint8Array.of(200, 150, 100), 1, 1);
    for (const name of ['empty.png', 'dot.png']) {
      const res = await align(join(dir, name));
      expect(res.code).toBe(2);
      expect(res.stderr).toMatch(/no face found in the \d+x\d+ image/);
    }
  });

  it('a CMYK JPEG and a PNG with alpha are converted and aligned like the RGB photo', async () => {
    writeFileSync(join(dir, 'cmyk.jpg'), await rawSharp(face).toColourspace('cmyk').jpeg({ quality: 95 }).toBuffer());
    expect((await sharp(join(dir, 'cmyk.jpg')).metadata()).space).toBe('cmyk');
    const alpha = Buffer.alloc(512 * 512 * 4);
    for (let i = 0; i < 512 * 512; i++) {
      face.data.subarray(i * 3, i * 3 + 3).forEach((v, c) => (alpha[i * 4 + c] = v));
      const x = i % 512;
      alpha[i * 4 + 3] = x < 40 ? 0 : 255;
    }
    writeFileSync(join(dir, 'alpha.png'), await sharp(alpha, { raw: { width: 512, height: 512, channels: 4 } }).png().toBuffer());
    for (const name of ['cmyk.jpg', 'alpha.png']) {
      const res = await align(join(dir, name));
      expect(res.code).toBe(0);
      console.log(`${name}: crop ${(100 * relError(res.json!.quad)).toFixed(3)}% from the RGB photo's`);
      expect(relError(res.json!.quad)).toBeLessThan(0.01);
    }
  }, 60_000);

  it(`a huge photo is downscaled to ${DETECTION_MAX_SIDE} px for detection; the crop is found at full resolution`, async () => {
    const scale = 4;
    const big = await rawSharp(face).resize(512 * scale, 512 * scale, { kernel: 'lanczos3' }).toBuffer();
    const canvas = sharp({ create: { width: 5200, height: 3900, channels: 3, background: '#808080' } });
    const offset: Point = [2600, 1500];
    writeFileSync(join(dir, 'huge.jpg'), await canvas.composite([{ input: big, raw: { width: 2048, height: 2048, channels: 3 }, left: offset[0], top: offset[1] }]).jpeg({ quality: 92 }).toBuffer());
    const started = Date.now();
    const res = await align(join(dir, 'huge.jpg'));
    expect(res.code).toBe(0);
    const err = relError(res.json!.quad, scale, offset);
    console.log(`huge 5200x3900 photo: ${Date.now() - started} ms, crop ${(100 * err).toFixed(3)}% from the scaled reference`);
    expect(err).toBeLessThan(0.01);
  }, 120_000);

  it('several faces: the largest by default, --face-index picks another, out of range is an error', async () => {
    const small = resized(face, 300);
    const buffer = await sharp({ create: { width: 1000, height: 560, channels: 3, background: '#707070' } })
      .composite([
        { input: Buffer.from(face.data), raw: { width: 512, height: 512, channels: 3 }, left: 20, top: 20 },
        { input: Buffer.from(small.data), raw: { width: 300, height: 300, channels: 3 }, left: 650, top: 120 },
      ])
      .png()
      .toBuffer();
    writeFileSync(join(dir, 'two.png'), buffer);
    const first = await align(join(dir, 'two.png'));
    expect(first.json!.faces).toBe(2);
    expect(relError(first.json!.quad, 1, [20, 20])).toBeLessThan(0.01);
    const second = await align(join(dir, 'two.png'), '--face-index', '1');
    expect(relError(second.json!.quad, 300 / 512, [650, 120])).toBeLessThan(0.01);
    const none = await align(join(dir, 'two.png'), '--face-index', '2');
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/face index 2 is out of range: 2 face\(s\) found/);
  }, 60_000);

  it('usage and model errors name the fix', async () => {
    expect((await runCli(['align', '--out', join(dir, 'x.png')])).stderr).toMatch(/--image is required/);
    const missing = await runCli(['align', '--image', join(dir, 'face.png'), '--out', join(dir, 'x.png'), '--models', join(dir, 'nowhere')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/face model tiny_face_detector_model-weights_manifest.json not found .*--models DIR/);
  });
});
