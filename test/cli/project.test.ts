import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { readNpy } from '../../src/io/tensors/npy.js';
import { writeImage } from '../../src/io/images/image.js';
import { runCli } from '../helpers/cli.js';
import { fixture, sharedPath } from '../helpers/shared.js';

const dir = mkdtempSync(join(tmpdir(), 'styleclip-project-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const generator = (): string[] => ['--generator', fixture('stylegan2_tiny.pt')];
const face = (): string => sharedPath('data', 'faces', 'ffhq_0.jpg');

describe('styleclip project', () => {
  it('writes the latent and the reconstruction of an aligned face (resized to 64 px) and the loss history', async () => {
    const lat = join(dir, 'w.npy');
    const out = join(dir, 'recon.png');
    const args = ['project', ...generator(), '--image', face(), '--steps', '6', '--save-latent', lat, '--out', out, '--json'];
    const r = await runCli([...args, '--clip', fixture('clip_vit_tiny.state_dict.pt'), '--identity-model', 'mobileface', '--models', sharedPath('models')]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as { written: string[]; history: { step: number; mse: number; idLoss: number; clipLoss: number }[] };
    expect(report.written).toEqual([lat, out]);
    expect(report.history.map((h) => h.step)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(report.history[0].idLoss).toBeGreaterThan(0);
    expect(report.history[0].clipLoss).toBeGreaterThan(0);
    expect((await readNpy(lat)).shape).toEqual([1, 10, 64]);
    const meta = await sharp(out).metadata();
    expect([meta.width, meta.height]).toEqual([64, 64]);
  });

  it('is deterministic and quiet with --quiet', async () => {
    const paths = [join(dir, 'a.npy'), join(dir, 'b.npy')];
    for (const p of paths) {
      const r = await runCli(['project', ...generator(), '--image', face(), '--steps', '3', '--save-latent', p, '--quiet']);
      expect(r.code).toBe(0);
      expect(r.stdout + r.stderr).toBe('');
    }
    expect((await readNpy(paths[0])).data).toEqual((await readNpy(paths[1])).data);
  });

  it.each([
    ['tiny', ['--image', 'TINY', '--steps', '2', '--out', 'OUT'], /at least 32 px, got 1x1/],
    ['missing', ['--image', 'MISSING', '--steps', '2', '--out', 'OUT'], /cannot read image .*ENOENT/],
    ['no outputs', ['--image', 'FACE', '--steps', '2'], /nothing to write/],
    ['steps 0', ['--image', 'FACE', '--steps', '0', '--out', 'OUT'], /--steps must be an integer in 1\.\.10000/],
    ['bad extension', ['--image', 'FACE', '--steps', '2', '--save-latent', 'W.txt'], /use a \.npy file/],
  ])('bad input (%s) -> exit 2 with one clear line and no output', async (_name, extra, msg) => {
    const tiny = join(dir, 'tiny.png');
    await writeImage(tiny, Uint8Array.of(128, 128, 128), 1, 1);
    const subst: Record<string, string> = { TINY: tiny, MISSING: join(dir, 'missing.png'), FACE: face(), OUT: join(dir, 'bad.png'), 'W.txt': join(dir, 'w.txt') };
    const r = await runCli(['project', ...generator(), ...extra.map((a) => subst[a] ?? a)]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(msg);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(readdirSync(dir).filter((f) => f.startsWith('bad') || f.startsWith('w.txt'))).toEqual([]);
  });

  it('Ctrl-C during a projection writes nothing', async () => {
    const controller = new AbortController();
    const out = join(dir, 'interrupted.png');
    setTimeout(() => controller.abort(), 1500);
    const r = await runCli(['project', ...generator(), '--image', face(), '--steps', '10000', '--out', out], controller.signal);
    expect(r.code).toBe(130);
    expect(r.stderr).toMatch(/interrupted; nothing was written/);
    expect(readdirSync(dir).filter((f) => f.includes('interrupted'))).toEqual([]);
  });
});
