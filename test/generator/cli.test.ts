/**
 * `styleclip generate` end to end through `main([...])`: outputs against the fixture, seeds, numbered PNGs, latent
 * export, and bad input (one-line error, exit code 2, no output file).
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import type { HostTensor } from '../../src/engine/tensor.js';
import { tensorToRgb } from '../../src/io/images/image.js';
import { readNpy, writeNpy } from '../../src/io/tensors/npy.js';
import { runCli } from '../helpers/cli.js';
import { fixture, maxAbsDiff } from '../helpers/shared.js';

const REL_TOL = 1e-3;
const dir = mkdtempSync(join(tmpdir(), 'styleclip-generate-'));
const out = (name: string): string => join(dir, name);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const ckpt = (): string => fixture('stylegan2_tiny.pt');

function expectClose(got: HostTensor, want: HostTensor, tol = REL_TOL): void {
  expect(got.shape).toEqual(want.shape);
  const { maxAbs, maxRef } = maxAbsDiff(got.data as Float32Array, want.data as Float32Array);
  expect(maxAbs).toBeLessThanOrEqual(tol * maxRef);
}

/** Batch 1 vs a larger batch: float32 rounding differences of the batched kernels only. */
const BATCH_ROUNDING_TOL = 1e-5;

describe('styleclip generate', () => {
  it('reproduces the fixture images from w+ and from z with truncation', async () => {
    let r = await runCli(['generate', '--generator', ckpt(), '--w-plus', fixture('sg2_wplus.npy'), '--raw', out('wp.npy')]);
    expect(r.code).toBe(0);
    expectClose(await readNpy(out('wp.npy')), await readNpy(fixture('sg2_img_wplus.npy')));
    r = await runCli(['generate', '--generator', ckpt(), '--z', fixture('sg2_z.npy'), '--truncation', '0.7', '--raw', out('tr.npy')]);
    expect(r.code).toBe(0);
    expectClose(await readNpy(out('tr.npy')), await readNpy(fixture('sg2_img_trunc.npy')));
  });

  it('writes numbered PNGs, the raw tensor and the latents; the PNGs are the clamped raw images', async () => {
    const argv = ['generate', '--generator', ckpt(), '--seed', '11', '--batch', '2', '--out', out('s.png'), '--raw', out('s.npy'), '--save-w', out('sw.npy')];
    const r = await runCli(argv);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/generated 2 images 64x64/);
    const raw = await readNpy(out('s.npy'));
    expect(raw.shape).toEqual([2, 3, 64, 64]);
    for (const i of [0, 1]) {
      const { data, info } = await sharp(out(`s_${i}.png`)).raw().toBuffer({ resolveWithObject: true });
      expect([info.width, info.height, info.channels]).toEqual([64, 64, 3]);
      expect(Buffer.from(data).equals(Buffer.from(tensorToRgb(raw, i, '[-1,1]').data))).toBe(true);
    }
    const w = await readNpy(out('sw.npy'));
    expect(w.shape).toEqual([2, 64]);
    // The exported w regenerates the same images.
    const again = await runCli(['generate', '--generator', ckpt(), '--w', out('sw.npy'), '--raw', out('sw_img.npy')]);
    expect(again.code).toBe(0);
    expectClose(await readNpy(out('sw_img.npy')), raw);
  });

  it('is deterministic per seed, and image i of a batch is seed N + i', async () => {
    await runCli(['generate', '--generator', ckpt(), '--seed', '12', '--raw', out('s12.npy')]);
    await runCli(['generate', '--generator', ckpt(), '--seed', '12', '--raw', out('s12b.npy')]);
    await runCli(['generate', '--generator', fixture('stylegan2_tiny.legacy.pt'), '--seed', '12', '--raw', out('s12c.npy')]);
    const batch = await readNpy(out('s.npy'));
    const one = await readNpy(out('s12.npy'));
    expect([...(await readNpy(out('s12b.npy'))).data]).toEqual([...one.data]);
    expect([...(await readNpy(out('s12c.npy'))).data]).toEqual([...one.data]);
    // Same z (exact: sample.test.ts); the batched GEMMs may round differently from batch 1, as in any BLAS.
    expectClose({ ...one, data: batch.data.subarray(one.data.length) }, one, BATCH_ROUNDING_TOL);
  });

  it('draws seeded random noise when asked', async () => {
    const run = (name: string, noise: string) =>
      runCli(['generate', '--generator', ckpt(), '--seed', '3', '--noise', noise, '--raw', out(name)]);
    await run('rn1.npy', 'random');
    await run('rn2.npy', 'random');
    await run('cn.npy', 'const');
    const a = await readNpy(out('rn1.npy'));
    expect([...(await readNpy(out('rn2.npy'))).data]).toEqual([...a.data]);
    expect(maxAbsDiff(a.data as Float32Array, (await readNpy(out('cn.npy'))).data as Float32Array).maxAbs).toBeGreaterThan(1e-3);
  });
});

describe('styleclip generate: bad input', () => {
  const bad = join(dir, 'bad');

  async function expectRefused(argv: string[], message: RegExp): Promise<void> {
    rmSync(bad, { recursive: true, force: true });
    mkdirSync(bad);
    const r = await runCli(['generate', ...argv, '--out', join(bad, 'img.png'), '--raw', join(bad, 'img.npy'), '--save-w', join(bad, 'w.npy')]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(message);
    expect(readdirSync(bad)).toEqual([]);
  }

  it('a wrong-shaped latent', async () => {
    await writeNpy(out('wrong.npy'), { dtype: 'float32', shape: [18, 511], data: new Float32Array(18 * 511) });
    await expectRefused(['--generator', ckpt(), '--w-plus', out('wrong.npy')], /wrong\.npy: a w\+ latent must have shape \[N,10,64\] or \[10,64\].*got \[18,511\]/);
    await expectRefused(['--generator', ckpt(), '--w', out('wrong.npy')], /a w latent must have shape \[N,64\]/);
  });

  it('NaN in a .npy', async () => {
    const data = new Float32Array(64);
    data[7] = NaN;
    await writeNpy(out('nan.npy'), { dtype: 'float32', shape: [1, 64], data });
    await expectRefused(['--generator', ckpt(), '--z', out('nan.npy')], /nan\.npy: z latent contains NaN/);
  });

  it('a CLIP checkpoint passed as generator', async () => {
    await expectRefused(['--generator', fixture('clip_vit_tiny.state_dict.pt'), '--seed', '1'], /is a CLIP model checkpoint, not a StyleGAN2 generator/);
    await expectRefused(['--generator', fixture('clip_vit_tiny.torchscript.pt'), '--seed', '1'], /CLIP model checkpoint/);
  });

  it('unreadable files', async () => {
    await expectRefused(['--generator', out('does-not-exist.pt'), '--seed', '1'], /does-not-exist\.pt: no such file/);
    writeFileSync(out('garbage.pt'), 'not a checkpoint');
    await expectRefused(['--generator', out('garbage.pt'), '--seed', '1'], /garbage\.pt: not a PyTorch checkpoint/);
    await expectRefused(['--generator', ckpt(), '--w', out('missing.npy')], /cannot read .*missing\.npy/);
    await expectRefused(['--generator', ckpt(), '--w', out('garbage.pt')], /garbage\.pt: not a \.npy file/);
  });

  it('bad flag combinations', async () => {
    await expectRefused(['--generator', ckpt()], /give exactly one of --seed, --z, --w, --w-plus/);
    await expectRefused(['--generator', ckpt(), '--seed', '1', '--z', fixture('sg2_z.npy')], /exactly one.*got --seed, --z/);
    await expectRefused(['--generator', ckpt(), '--seed', '1', '--noise', 'loud'], /--noise must be one of const, random/);
    await expectRefused(['--generator', ckpt(), '--seed', '1', '--batch', '0'], /--batch must be an integer/);
    await expectRefused(['--generator', ckpt(), '--w', fixture('sg2_w.npy'), '--batch', '2'], /--batch applies to --seed only/);
    await expectRefused(['--generator', ckpt(), '--seed', '1', '--truncation', 'abc'], /--truncation must be a number/);
  });
});
