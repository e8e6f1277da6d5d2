/**
 * The API with a HyperStyle model (serve --faithful-encoder): GET /v1/models lists the inversion, /v1/render of a
 * photo with `photo_inversion: 'faithful'` renders with the photo's adapted generator (no edits: the HyperStyle
 * reconstruction, equal to `invert --raw` of the same photo within PNG rounding), 'fast' is refused naming what to
 * load, and a POST /v1/edits/global job of a photo with the choice completes.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { tensorToRgb } from '../../src/io/images/image.js';
import { readNpy } from '../../src/io/tensors/npy.js';
import { runCli } from '../helpers/cli.js';
import { hyperstyleDirections, hyperstyleFixture } from '../helpers/hyperstyle.js';
import { sharedPath } from '../helpers/shared.js';
import { fixtureApp, json, waitFor } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'styleclip-hsapi-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('serve --faithful-encoder HYPERSTYLE.pt', () => {
  it("lists 'faithful'; a photo render without edits is the HyperStyle reconstruction; 'fast' is refused; a global job of the photo completes", async () => {
    const photo = sharedPath('data', 'faces', 'ffhq_2.jpg');
    const raw = join(dir, 'recon.npy');
    const inv = await runCli(['invert', '--encoder', hyperstyleFixture(), '--image', photo, '--models', sharedPath('models'), '--iterations', '2', '--raw', raw]);
    expect(inv.code).toBe(0);
    const directions = await hyperstyleDirections(dir);
    const e = await fixtureApp({ paths: { generator: hyperstyleFixture(), faithfulEncoder: hyperstyleFixture(), directions, mappers: new Map() } });
    try {
      const models = (await (await e.app.request('/v1/models')).json()) as { photo_inversion: string; photo_inversions: string[] };
      expect(models).toMatchObject({ photo_inversion: 'encoder', photo_inversions: ['faithful'] });
      const image = (await readFile(photo)).toString('base64');
      const res = await e.app.request('/v1/render', json({ image, photo_inversion: 'faithful', iterations: 2, edits: [] }));
      expect(res.status).toBe(200);
      const { data, info } = await sharp(Buffer.from(await res.arrayBuffer())).raw().toBuffer({ resolveWithObject: true });
      expect(info.width).toBe(128);
      const want = tensorToRgb(await readNpy(raw), 0, '[-1,1]').data;
      let worst = 0;
      for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(data[(i / 3 | 0) * info.channels + (i % 3)] - want[i]));
      expect(worst).toBeLessThanOrEqual(1);
      const fast = await e.app.request('/v1/render', json({ image, photo_inversion: 'fast', edits: [] }));
      expect(fast.status).toBe(422);
      expect(await fast.text()).toMatch(/photo inversion 'fast' needs an e4e\/pSp encoder \(e4e-ffhq\); the loaded encoder is hyperstyle/);
      const post = await e.app.request('/v1/edits/global', json({ image, photo_inversion: 'faithful', iterations: 2, edits: [{ prompt: 'make the hair red', beta: 0.05 }] }));
      expect(post.status).toBe(202);
      const { id } = (await post.json()) as { id: string };
      const done = await waitFor(async () => {
        const s = (await (await e.app.request(`/v1/edits/${id}`)).json()) as { status: string; error?: unknown };
        return ['done', 'failed'].includes(s.status) && s;
      }, 'the global job');
      expect(done).toMatchObject({ status: 'done' });
    } finally {
      await e.close();
    }
  }, 120_000);
});
