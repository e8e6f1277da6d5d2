/**
 * Using a StyleGAN-NADA generator: `edit --domain` on a real FFHQ photo (inverted with the base generator, rendered with
 * the adapted one, pasted back) against `invert` + `generate --generator`, a text edit in the domain, and a domain of
 * another architecture refused.
 */
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readNpy } from '../../src/io/tensors/npy.js';
import { runCli } from '../helpers/cli.js';
import { fixtureSources } from '../helpers/models.js';
import { fixture, maxAbsDiff, sharedPath } from '../helpers/shared.js';

const src = fixtureSources();
const dir = mkdtempSync(join(tmpdir(), 'nada-domain-'));
const domain = join(dir, 'sketch.pt');
const photo = sharedPath('data', 'faces', 'ffhq_1.jpg');
const faceModels = ['--models', sharedPath('models')];

beforeAll(async () => {
  const r = await runCli(['nada', 'train', '--generator', src.generator, '--clip', src.clip, '--vocab', src.vocab, '--source', 'photo', '--target', 'sketch', '--steps', '2', '--out', domain, '--quiet']);
  expect(r.code, r.stderr).toBe(0);
}, 120_000);

describe('edit --domain (a StyleGAN-NADA generator)', () => {
  it('without --prompt: the photo rendered by the domain equals generate --generator DOMAIN on the same inversion (max abs err <= 1e-5)', async () => {
    const raw = join(dir, 'domain.npy');
    const pasted = join(dir, 'pasted.png');
    const r = await runCli(['edit', '--image', photo, '--encoder', fixture('e4e_tiny.pt'), ...faceModels, '--generator', src.generator, '--domain', domain, '--raw', raw, '--paste-back', pasted, '--save-latent', join(dir, 'w.npy')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/rendered in the domain/);
    expect(existsSync(pasted)).toBe(true);
    const lat = join(dir, 'inv.npy');
    expect((await runCli(['invert', '--encoder', fixture('e4e_tiny.pt'), '--image', photo, ...faceModels, '--save-latent', lat, '--quiet'])).code).toBe(0);
    const ref = join(dir, 'ref.npy');
    const g = await runCli(['generate', '--generator', domain, '--w-plus', lat, '--raw', ref]);
    expect(g.code, g.stderr).toBe(0);
    const d = maxAbsDiff((await readNpy(raw)).data as Float32Array, (await readNpy(ref)).data as Float32Array);
    expect(d.maxAbs).toBeLessThanOrEqual(1e-5);
    const base = join(dir, 'base.npy');
    await runCli(['generate', '--generator', src.generator, '--w-plus', lat, '--raw', base]);
    expect(maxAbsDiff((await readNpy(raw)).data as Float32Array, (await readNpy(base)).data as Float32Array).maxAbs).toBeGreaterThan(1e-3);
  }, 120_000);

  it('a global-directions text edit renders in the domain (differs from the same edit without --domain)', async () => {
    const flags = ['edit', '--method', 'global', '--seed', '3', '--generator', src.generator, '--clip', src.clip, '--vocab', src.vocab, '--fs3', fixture('fs3.npy'), '--stats', fixture('S_mean_std'), '--prompt', 'red hair', '--quiet'];
    const [a, b] = [join(dir, 'ga.npy'), join(dir, 'gb.npy')];
    expect((await runCli([...flags, '--raw', a])).code).toBe(0);
    const r = await runCli([...flags, '--domain', domain, '--raw', b]);
    expect(r.code, r.stderr).toBe(0);
    expect(maxAbsDiff((await readNpy(a)).data as Float32Array, (await readNpy(b)).data as Float32Array).maxAbs).toBeGreaterThan(1e-3);
  }, 120_000);

  it('a domain of another architecture is refused in one line naming the fix', async () => {
    const out = join(dir, 'x.png');
    const r = await runCli(['edit', '--seed', '1', '--generator', src.generator, '--domain', fixture('hyperstyle_tiny.pt'), '--out', out]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/domain generator \(128 px, w 64\) is not a fine-tuned copy of the edit's generator \(64 px, w 64\).*nada train/);
    expect(existsSync(out)).toBe(false);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  }, 60_000);
});
