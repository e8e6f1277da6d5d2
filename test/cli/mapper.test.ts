/** `styleclip edit --method mapper` on the fixture mappers: outputs against the official w_hat and image, and bad input. */
import { referenceStart } from '../helpers/models.js';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { COMPARE_GAP } from '../../src/io/images/frames.js';
import { afterAll, describe, expect, it } from 'vitest';
import { readNpy, writeNpy } from '../../src/io/tensors/npy.js';
import { runCli } from '../helpers/cli.js';
import { fixture, maxAbsDiff } from '../helpers/shared.js';

const dir = mkdtempSync(join(tmpdir(), 'styleclip-mapper-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function start(): Promise<string> {
  const p = join(dir, 'start.npy');
  if (!existsSync(p)) {
    await writeNpy(p, await referenceStart());
  }
  return p;
}

describe('styleclip edit --method mapper', () => {
  it('w_hat (--save-latent) and the raw image vs the official mapper_w_hat / mapper_img row 0, with the decoder as generator', async () => {
    const [out, raw, lat, cmp] = ['m.png', 'm.npy', 'w.npy', 'c.png'].map((f) => join(dir, f));
    const r = await runCli(['edit', '--method', 'mapper', '--mapper', fixture('mapper_tiny.pt'), '--w-plus', await start(), '--out', out, '--raw', raw, '--save-latent', lat, '--compare', cmp, '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ mapper: 'levels', strength: 0.1 });
    const w = await readNpy(lat);
    expect(w.shape).toEqual([1, 10, 64]);
    const wRef = ((await readNpy(fixture('mapper_w_hat.npy'))).data as Float32Array).slice(0, 640);
    const dw = maxAbsDiff(w.data as Float32Array, wRef);
    expect(dw.maxAbs).toBeLessThanOrEqual(1e-3 * dw.maxRef);
    const img = ((await readNpy(fixture('mapper_img.npy'))).data as Float32Array).slice(0, 3 * 64 * 64);
    const di = maxAbsDiff((await readNpy(raw)).data as Float32Array, img);
    expect(di.maxAbs).toBeLessThanOrEqual(1e-3 * di.maxRef);
    expect((await sharp(cmp).metadata()).width).toBe(64 * 2 + COMPARE_GAP);
  });

  it('--generator overrides the decoder; --strength 0 renders the start itself', async () => {
    const raw = join(dir, 'zero.npy');
    const r = await runCli(['edit', '--method', 'mapper', '--mapper', fixture('mapper_tiny_nofine.pt'), '--generator', fixture('stylegan2_tiny.pt'), '--w-plus', await start(), '--strength', '0', '--raw', raw, '--quiet']);
    expect(r.code).toBe(0);
    const ref = ((await readNpy(fixture('sg2_img_wplus.npy'))).data as Float32Array).slice(0, 3 * 64 * 64);
    const d = maxAbsDiff((await readNpy(raw)).data as Float32Array, ref);
    expect(d.maxAbs).toBeLessThanOrEqual(1e-3 * d.maxRef);
  });

  it.each([
    [['--mapper', 'FIX:e4e_tiny.pt'], /it is an encoder \(e4e\/pSp\)/],
    [['--mapper', 'mapper-nonexistent'], /unknown model 'mapper-nonexistent': known mappers are mapper-afro/],
    [['--mapper', 'FIX:mapper_tiny.pt', '--prompt', 'x'], /--prompt does not apply to --method mapper/],
    [['--mapper', 'FIX:mapper_tiny.pt', '--strength', 'abc'], /--strength must be a number/],
    [['--mapper', 'FIX:mapper_tiny.pt', '--generator', 'FIX:clip_vit_tiny.state_dict.pt'], /CLIP model checkpoint, not a StyleGAN2 generator/],
  ])('bad input %j -> exit 2, nothing written', async (extra, msg) => {
    const out = join(dir, 'bad.png');
    const args = extra.map((a) => (a.startsWith('FIX:') ? fixture(a.slice(4)) : a));
    const r = await runCli(['edit', '--method', 'mapper', ...args, '--w-plus', await start(), '--out', out]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(msg);
    expect(readdirSync(dir)).not.toContain('bad.png');
  });
});
