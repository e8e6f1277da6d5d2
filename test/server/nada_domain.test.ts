/**
 * The API with StyleGAN-NADA domains (serve --domains): GET /v1/models lists them; /v1/render with `domain` renders
 * the seed with the adapted generator (equal to `generate --generator DOMAIN` within PNG rounding; different from
 * the base render; truncation 1: a NADA checkpoint has no latent_avg of its own); an optimisation job and a global job with `domain` complete and report it; an unknown domain is
 * a 404 naming the loaded ones; a domain of another architecture fails at start-up.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadServices } from '../../src/jobs/wiring.js';
import { tensorToRgb } from '../../src/io/images/image.js';
import { readNpy } from '../../src/io/tensors/npy.js';
import { runCli } from '../helpers/cli.js';
import { fixtureSources } from '../helpers/models.js';
import { fixture } from '../helpers/shared.js';
import { fixtureApp, json, modelPaths, waitFor } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'styleclip-nada-api-'));
const domain = join(dir, 'sketch.pt');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

beforeAll(async () => {
  const src = fixtureSources();
  const r = await runCli(['nada', 'train', '--generator', src.generator, '--clip', src.clip, '--vocab', src.vocab, '--source', 'photo', '--target', 'sketch', '--steps', '2', '--out', domain, '--quiet']);
  expect(r.code, r.stderr).toBe(0);
}, 120_000);

const pixels = async (res: Response): Promise<Uint8Array> => {
  const { data, info } = await sharp(Buffer.from(await res.arrayBuffer())).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  expect(info.channels).toBe(3);
  return data;
};

describe('serve --domains sketch=G.pt', () => {
  it('lists the domain; renders, optimisation and global jobs use it; an unknown one is named', async () => {
    const raw = join(dir, 'ref.npy');
    expect((await runCli(['generate', '--generator', domain, '--seed', '5', '--truncation', '1', '--raw', raw])).code).toBe(0);
    const e = await fixtureApp({ paths: { domains: new Map([['sketch', domain]]) } });
    try {
      const models = (await (await e.app.request('/v1/models')).json()) as { domains: string[] };
      expect(models.domains).toEqual(['sketch']);
      const inDomain = await pixels(await e.app.request('/v1/render', json({ seed: 5, truncation: 1, edits: [], domain: 'sketch' })));
      const base = await pixels(await e.app.request('/v1/render', json({ seed: 5, truncation: 1, edits: [] })));
      const want = tensorToRgb(await readNpy(raw), 0, '[-1,1]').data;
      let worst = 0;
      let differs = 0;
      for (let i = 0; i < want.length; i++) {
        worst = Math.max(worst, Math.abs(inDomain[i] - want[i]));
        differs = Math.max(differs, Math.abs(inDomain[i] - base[i]));
      }
      expect(worst).toBeLessThanOrEqual(1);
      expect(differs).toBeGreaterThan(2);
      const unknown = await e.app.request('/v1/render', json({ seed: 5, edits: [], domain: 'pixar' }));
      expect(unknown.status).toBe(404);
      expect(await unknown.text()).toMatch(/no domain 'pixar' on this server/);
      const badJob = await e.app.request('/v1/edits', json({ seed: 1, prompt: 'a sketch', steps: 2, domain: 'pixar' }));
      expect(badJob.status).toBe(404);
      expect(await badJob.text()).toMatch(/domain 'pixar' is not loaded; loaded: sketch/);
      for (const [path, body] of [['/v1/edits', { seed: 1, prompt: 'a smiling face', steps: 2, domain: 'sketch' }], ['/v1/edits/global', { seed: 1, edits: [{ prompt: 'red hair' }], domain: 'sketch' }]] as const) {
        const post = await e.app.request(path, json(body));
        expect(post.status, await post.clone().text()).toBe(202);
        const { id } = (await post.json()) as { id: string };
        const done = await waitFor(async () => {
          const s = (await (await e.app.request(`/v1/edits/${id}`)).json()) as { status: string };
          return ['done', 'failed'].includes(s.status) && s;
        }, `the ${path} job`);
        expect(done).toMatchObject({ status: 'done', domain: 'sketch' });
      }
    } finally {
      await e.close();
    }
  }, 180_000);

  it('a domain of another architecture than the generator fails at start-up naming the flag', async () => {
    await expect(loadServices({ ...modelPaths(), domains: new Map([['big', fixture('hyperstyle_tiny.pt')]]) })).rejects.toThrow(/--domains big: the domain generator \(128 px, w 64\) is not a fine-tuned copy/);
  }, 60_000);
});
