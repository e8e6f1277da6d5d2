import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { COMPARE_GAP } from '../../src/io/images/frames.js';
import { afterAll, describe, expect, it } from 'vitest';
import { writeImage } from '../../src/io/images/image.js';
import { readNpy, writeNpy } from '../../src/io/tensors/npy.js';
import { runCli } from '../helpers/cli.js';
import { fixture, sharedPath } from '../helpers/shared.js';
import { fixtureModelFlags } from '../helpers/models.js';

const dir = mkdtempSync(join(tmpdir(), 'styleclip-edit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const models = fixtureModelFlags;

describe('styleclip edit', () => {
  it('edits from a seed and writes every requested output', async () => {
    const out = join(dir, 'r.png');
    const cmp = join(dir, 'c.png');
    const gif = join(dir, 'p.gif');
    const lat = join(dir, 'final.npy');
    const traj = join(dir, 'traj.npy');
    const r = await runCli(['edit', ...models(), '--seed', '3', '--prompt', 'a person with purple hair', '--steps', '4', '--out', out, '--compare', cmp, '--gif', gif, '--save-latent', lat, '--trajectory', traj, '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as { history: { step: number; loss: number }[] };
    expect(report.history.map((h) => h.step)).toEqual([1, 2, 3, 4]);
    expect((await sharp(out).metadata()).width).toBe(64);
    expect((await sharp(cmp).metadata()).width).toBe(64 * 2 + COMPARE_GAP);
    const strip = await sharp(cmp).raw().toBuffer();
    const after = await sharp(out).raw().toBuffer();
    const right = Buffer.concat(Array.from({ length: 64 }, (_, y) => strip.subarray(((y * 136) + 72) * 3, ((y * 136) + 136) * 3)));
    expect(right.equals(after), 'compare.png = before | 8 white px | after (the layout of the API and batch)').toBe(true);
    expect(strip.subarray(64 * 3, 72 * 3).every((v) => v === 255)).toBe(true);
    expect((await sharp(gif, { animated: true }).metadata()).pages).toBeGreaterThanOrEqual(3);
    expect((await readNpy(lat)).shape).toEqual([1, 10, 64]);
    expect((await readNpy(traj)).shape).toEqual([4, 1, 10, 64]);
  });

  it('is deterministic for a seed', async () => {
    const a = join(dir, 'a.npy');
    const b = join(dir, 'b.npy');
    for (const p of [a, b]) {
      const r = await runCli(['edit', ...models(), '--seed', '9', '--prompt', 'red hair', '--steps', '3', '--save-latent', p, '--quiet']);
      expect(r.code).toBe(0);
      expect(r.stdout).toBe('');
    }
    expect((await readNpy(a)).data).toEqual((await readNpy(b)).data);
  });

  it('optimises only the chosen layers and in space w', async () => {
    const wp = join(dir, 'start.npy');
    const src = await readNpy(fixture('sg2_wplus.npy'));
    await writeNpy(wp, src);
    const out = join(dir, 'layers.npy');
    const r = await runCli(['edit', ...models(), '--w-plus', wp, '--prompt', 'a smiling face', '--steps', '3', '--layers', '2-4', '--save-latent', out, '--quiet']);
    expect(r.code).toBe(0);
    const res = (await readNpy(out)).data as Float32Array;
    const s0 = src.data as Float32Array;
    const changed = (l: number): boolean => res.subarray(l * 64, (l + 1) * 64).some((v, i) => v !== s0[l * 64 + i]);
    expect([0, 1, 2, 3, 4, 5, 9].map(changed)).toEqual([false, false, true, true, true, false, false]);
    const w = join(dir, 'w.npy');
    const r2 = await runCli(['edit', ...models(), '--seed', '1', '--space', 'w', '--prompt', 'a smiling face', '--steps', '2', '--save-latent', w, '--quiet']);
    expect(r2.code).toBe(0);
    expect((await readNpy(w)).shape).toEqual([1, 64]);
    const sPath = join(dir, 's.npy');
    const r3 = await runCli(['edit', ...models(), '--seed', '1', '--space', 's', '--prompt', 'a smiling face', '--steps', '2', '--save-latent', sPath, '--quiet']);
    expect(r3.code).toBe(0);
    expect((await readNpy(sPath)).shape).toEqual([1, 656]);
  });

  it.each([
    [['--prompt', '', '--seed', '1'], /prompt is empty/],
    [['--prompt', 'x '.repeat(80), '--seed', '1'], /77|truncate|too long/i],
    [['--prompt', 'red', '--seed', '1', '--steps', '0'], /--steps must be an integer in 1\.\.10000/],
    [['--prompt', 'red', '--seed', '1', '--steps', '10001'], /--steps must be an integer in 1\.\.10000/],
    [['--prompt', 'red', '--seed', '1', '--lr', 'NaN'], /--lr must be a number/],
    [['--prompt', 'red', '--seed', '1', '--layers', '3-12'], /outside this generator's W\+ layers 0-9/],
    [['--prompt', 'red', '--seed', '1', '--layers', 'x'], /layers must look like/],
    [['--prompt', 'red', '--seed', '1', '--space', 's', '--layers', '0-3'], /needs --space w\+/],
    [['--prompt', 'red'], /exactly one starting point/],
  ])('bad input %j -> exit 2 with a clear message and no output', async (extra, msg) => {
    const out = join(dir, 'bad.png');
    const steps = extra.includes('--steps') ? [] : ['--steps', '2'];
    const r = await runCli(['edit', ...models(), ...extra, ...steps, '--out', out]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(msg);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(readdirSync(dir)).not.toContain('bad.png');
  });

  it('a latent of the wrong shape is refused', async () => {
    const bad = join(dir, 'bad_shape.npy');
    await writeNpy(bad, { dtype: 'float32', shape: [18, 511], data: new Float32Array(18 * 511) });
    const r = await runCli(['edit', ...models(), '--w-plus', bad, '--prompt', 'red', '--steps', '2', '--out', join(dir, 'x.png')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/\[18,511\]/);
  });

  it('Ctrl-C during an edit writes nothing', async () => {
    const controller = new AbortController();
    const out = join(dir, 'interrupted.png');
    setTimeout(() => controller.abort(), 1500);
    const r = await runCli(['edit', ...models(), '--seed', '2', '--prompt', 'red hair', '--steps', '10000', '--out', out], controller.signal);
    expect(r.code).toBe(130);
    expect(r.stderr).toMatch(/interrupted; nothing was written/);
    expect(readdirSync(dir).filter((f) => f.includes('interrupted'))).toEqual([]);
  });

  it('edits a photo: detect, align at 64 px, project, edit, paste back into the full-size photo', async () => {
    const photo = sharedPath('data', 'faces', 'ffhq_0.jpg');
    const out = join(dir, 'photo_edit.png');
    const pasted = join(dir, 'photo_pasted.jpg');
    const lat = join(dir, 'photo.npy');
    const r = await runCli([
      'edit', ...models(), '--image', photo, '--prompt', 'a person with red hair', '--steps', '3', '--project-steps', '5',
      '--identity-model', 'mobileface', '--models', sharedPath('models'), '--id', '0.005',
      '--crop', '--out', out, '--paste-back', pasted, '--save-latent', lat, '--json',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as { written: string[]; history: { idLoss: number }[]; projection: { step: number; mse: number }[] };
    expect(report.written).toEqual([out, lat, pasted]);
    expect(report.projection.map((p) => p.step)).toEqual([1, 2, 3, 4, 5]);
    expect(report.history).toHaveLength(3);
    expect(report.history[2].idLoss).toBeGreaterThan(0);
    const [orig, edited, back] = await Promise.all([photo, out, pasted].map((p) => sharp(p).metadata()));
    expect([edited.width, edited.height]).toEqual([64, 64]);
    expect([back.width, back.height]).toEqual([orig.width, orig.height]);
    expect((await readNpy(lat)).shape).toEqual([1, 10, 64]);
  });

  it.each([
    ['no face', 'BLANK', [], /no face found in the 96x96 image/],
    ['a 1x1 image', 'TINY', [], /no face found in the 1x1 image/],
    ['a missing file', 'MISSING', [], /cannot read image .*ENOENT/],
    ['space w', 'BLANK', ['--space', 'w'], /photo \(inverted to w\+\) start cannot be optimised in space 'w'/],
    ['photo flags without a photo', undefined, ['--seed', '1', '--face-index', '1'], /--face-index applies to photo edits only/],
    ['--id without an identity model', undefined, ['--seed', '1', '--id', '0.1'], /needs an identity model \(--identity-model\)/],
  ])('photo edit with %s -> exit 2 with a clear message and no output', async (_name, image, extra, msg) => {
    const blank = join(dir, 'blank.png');
    const tiny = join(dir, 'tiny.png');
    await writeImage(blank, new Uint8Array(96 * 96 * 3).fill(200), 96, 96);
    await writeImage(tiny, Uint8Array.of(10, 20, 30), 1, 1);
    const file = { BLANK: blank, TINY: tiny, MISSING: join(dir, 'missing.jpg') }[image ?? ''];
    const start = file ? ['--image', file, '--models', sharedPath('models'), '--project-steps', '2'] : [];
    const r = await runCli(['edit', ...models(), ...start, ...extra, '--prompt', 'red hair', '--steps', '2', '--out', join(dir, 'bad_photo.png')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(msg);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(readdirSync(dir)).not.toContain('bad_photo.png');
  });
});
