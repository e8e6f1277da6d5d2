/**
 * `styleclip invert` with the fixture e4e (random weights, official format) on real FFHQ photos, and photo edits that
 * invert with the encoder (`edit --image --encoder`, every method) and paste the edit back.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { readNpy } from '../../src/io/tensors/npy.js';
import { runCli } from '../helpers/cli.js';
import { fixtureModelFlags } from '../helpers/models.js';
import { fixture, maxAbsDiff, sharedPath } from '../helpers/shared.js';

const dir = mkdtempSync(join(tmpdir(), 'styleclip-invert-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const face = (f: string): string => sharedPath('data', 'faces', f);
const faceModels = (): string[] => ['--models', sharedPath('models')];

describe('styleclip invert', () => {
  it('a folder of two aligned FFHQ photos: codes equal e4e_codes.npy (<= 1e-3 x max), one reconstruction per photo', async () => {
    const photos = join(dir, 'photos');
    mkdirSync(photos);
    copyFileSync(face('ffhq_0.jpg'), join(photos, 'a.jpg'));
    copyFileSync(face('ffhq_3.jpg'), join(photos, 'b.jpg'));
    const recon = join(dir, 'recon');
    mkdirSync(recon);
    const lat = join(dir, 'codes.npy');
    const r = await runCli(['invert', '--encoder', fixture('e4e_tiny.pt'), '--image', photos, '--aligned', '--save-latent', lat, '--out', recon, '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ encoder: 'e4e', photos: 2, latent: [2, 10, 64] });
    const codes = await readNpy(lat);
    const ref = await readNpy(fixture('e4e_codes.npy'));
    const d = maxAbsDiff(codes.data as Float32Array, ref.data as Float32Array);
    expect(d.maxAbs).toBeLessThanOrEqual(1e-3 * d.maxRef);
    expect(readdirSync(recon).sort()).toEqual(['a.png', 'b.png']);
    expect((await sharp(join(recon, 'a.png')).metadata()).width).toBe(64);
  });

  it('an unaligned photo is detected and aligned first; --raw writes the reconstruction', async () => {
    const [lat, raw] = ['one.npy', 'one_raw.npy'].map((f) => join(dir, f));
    const r = await runCli(['invert', '--encoder', fixture('e4e_tiny.pt'), '--image', face('ffhq_1.jpg'), ...faceModels(), '--save-latent', lat, '--raw', raw, '--quiet']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect((await readNpy(lat)).shape).toEqual([1, 10, 64]);
    expect((await readNpy(raw)).shape).toEqual([1, 3, 64, 64]);
  });

  it.each([
    [['--encoder', 'FIX:mapper_tiny.pt'], /not an e4e\/pSp encoder checkpoint.*StyleCLIP mapper/],
    [['--encoder', 'FIX:e4e_tiny.pt', '--generator', 'FIX:stylegan2_ada_tiny.pkl', '--aligned', '--face-index', '1'], /--face-index applies to photos that are aligned here/],
    [['--encoder', 'e4e-nope'], /unknown model 'e4e-nope': known encoders are e4e-ffhq, hyperstyle-ffhq, .*psp-ffhq/],
  ])('bad input %j -> exit 2, nothing written', async (extra, msg) => {
    const args = extra.map((a) => (a.startsWith('FIX:') ? fixture(a.slice(4)) : a));
    const lat = join(dir, 'bad.npy');
    const r = await runCli(['invert', ...args, '--image', face('ffhq_2.jpg'), '--save-latent', lat]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(msg);
    expect(readdirSync(dir)).not.toContain('bad.npy');
  });
});

describe('invert: photos it cannot use', () => {
  it('no face, a face index past the faces found, a face under 64 px: exit 2 with the reason, nothing written', async () => {
    const lat = join(dir, 'none.npy');
    const noFace = await runCli(['invert', '--encoder', fixture('e4e_tiny.pt'), '--image', sharedPath('data', 'clip', 'CLIP.png'), ...faceModels(), '--save-latent', lat]);
    expect(noFace.code).toBe(2);
    expect(noFace.stderr).toMatch(/no face/i);
    const second = await runCli(['invert', '--encoder', fixture('e4e_tiny.pt'), '--image', face('ffhq_2.jpg'), '--face-index', '1', ...faceModels(), '--save-latent', lat]);
    expect(second.code).toBe(2);
    expect(second.stderr).toMatch(/face index 1 is out of range: 1 face\(s\) found/);
    const tiny = join(dir, 'tiny.png');
    // A 60 px FFHQ face on a grey 260 px canvas: detected, but its crop is under 64 px.
    await sharp(face('ffhq_2.jpg')).resize(60, 60).extend({ top: 100, bottom: 100, left: 100, right: 100, background: '#808080' }).png().toFile(tiny);
    const small = await runCli(['invert', '--encoder', fixture('e4e_tiny.pt'), '--image', tiny, ...faceModels(), '--save-latent', lat]);
    expect(small.code).toBe(2);
    expect(small.stderr).toMatch(/is only \d+ px across \(at least 64 needed\)/);
    expect(readdirSync(dir)).not.toContain('none.npy');
  });
});

describe('photo edits with the encoder', () => {
  it('global directions from a photo: detect -> align -> e4e -> direction -> render -> paste back (1024x1024 photo)', async () => {
    const [out, pasted] = ['g_face.png', 'g_photo.png'].map((f) => join(dir, f));
    const r = await runCli([
      'edit', '--method', 'global', ...fixtureModelFlags(), '--fs3', fixture('fs3.npy'), '--stats', fixture('S_mean_std'),
      '--image', face('ffhq_2.jpg'), '--encoder', fixture('e4e_tiny.pt'), ...faceModels(), '--prompt', 'face with purple hair', '--beta', '0.1',
      '--crop', '--out', out, '--paste-back', pasted, '--quiet',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect((await sharp(out).metadata()).width).toBe(64);
    const meta = await sharp(pasted).metadata();
    expect([meta.width, meta.height]).toEqual([1024, 1024]);
  });

  it('optimisation from a photo with --encoder --refine 3: the refinement runs 3 projection steps, then the edit', async () => {
    const out = join(dir, 'o.png');
    const r = await runCli(['edit', ...fixtureModelFlags(), '--image', face('ffhq_2.jpg'), '--encoder', fixture('e4e_tiny.pt'), '--refine', '3', ...faceModels(), '--prompt', 'a smile', '--steps', '2', '--out', out, '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as { projection: unknown[]; history: unknown[] };
    expect([report.projection.length, report.history.length]).toEqual([3, 2]);
  });

  it('--refine without --encoder is refused', async () => {
    const r = await runCli(['edit', ...fixtureModelFlags(), '--image', face('ffhq_2.jpg'), '--refine', '3', '--prompt', 'a smile', '--out', join(dir, 'x.png')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--refine refines an encoder's code: give --encoder too/);
  });
});
