/**
 * `POST /v1/directions` and `POST /v1/render` on the fixture models with the fixture's fs3 and S_mean_std: a direction
 * id for a prompt, renders from a seed and from an uploaded w+ (this one against the official edited image), stacked
 * directions, and bad input.
 */
import { referenceStart } from '../helpers/models.js';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { encodeNpy, parseNpy, readNpy } from '../../src/io/tensors/npy.js';
import { readFile } from 'node:fs/promises';
import { fixture, sharedPath } from '../helpers/shared.js';
import { fixtureApp, json, waitFor, type TestServer } from './helpers.js';

let t: TestServer;
beforeAll(async () => {
  t = await fixtureApp();
});
afterAll(async () => t?.close());

async function direction(prompt: string, neutral?: string): Promise<{ id: string; channels: number; covered: number; top_channels: { layer: string }[] }> {
  const res = await t.app.request('/v1/directions', json({ prompt, neutral, beta: 0.1 }));
  expect(res.status).toBe(200);
  return res.json() as never;
}

async function rgb(res: Response): Promise<Buffer> {
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toBe('image/png');
  return sharp(Buffer.from(await res.arrayBuffer())).raw().toBuffer();
}

describe('global directions API', () => {
  it('POST /v1/directions: a stable id, channels kept at the beta, the strongest channels; /v1/models reports the coverage', async () => {
    const d = await direction('face with purple hair', 'face with hair');
    expect(d.id).toMatch(/^[0-9a-f]{16}$/);
    expect([d.channels, d.covered]).toEqual([90, 304]);
    expect(d.top_channels).toHaveLength(10);
    expect((await direction('face with purple hair', 'face with hair')).id).toBe(d.id);
    const models = (await (await t.app.request('/v1/models')).json()) as { directions: { covered_channels: number } };
    expect(models.directions).toEqual({ covered_channels: 304 });
  });

  it('POST /v1/render from an uploaded w+ at alpha 4, beta 0.1 equals the official edit (gd_img_edited row 0) to 1 level per pixel', async () => {
    const d = await direction('face with purple hair', 'face with hair');
    const wp = await readNpy(fixture('sg2_wplus.npy'));
    const row = encodeNpy({ dtype: 'float32', shape: [1, 10, 64], data: (wp.data as Float32Array).slice(0, 640) });
    const res = await t.app.request('/v1/render', json({ w_plus: Buffer.from(row).toString('base64'), edits: [{ direction: d.id, alpha: 4, beta: 0.1 }] }));
    expect(res.headers.get('x-channels')).toBe('90');
    const ours = await rgb(res);
    const ref = (await readNpy(fixture('gd_img_edited.npy'))).data as Float32Array;
    const plane = 64 * 64;
    let worst = 0;
    for (let i = 0; i < plane; i++) {
      for (let c = 0; c < 3; c++) {
        const v = Math.min(255, Math.max(0, Math.round((ref[c * plane + i] + 1) * 127.5)));
        worst = Math.max(worst, Math.abs(ours[i * 3 + c] - v));
      }
    }
    expect(worst).toBeLessThanOrEqual(1);
  });

  it('renders from a seed: no edits gives the start image; alpha moves it; two directions stack; the start\'s S codes are computed once', async () => {
    const a = await direction('face with purple hair');
    const b = await direction('a smiling face');
    const styles = vi.spyOn(t.services.renderer, 'styles');
    const start = await rgb(await t.app.request('/v1/render', json({ seed: 3, edits: [] })));
    const one = await rgb(await t.app.request('/v1/render', json({ seed: 3, edits: [{ direction: a.id, alpha: 6, beta: 0.1 }] })));
    const two = await t.app.request('/v1/render', json({ seed: 3, edits: [{ direction: a.id, alpha: 6, beta: 0.1 }, { direction: b.id, alpha: -6, beta: 0.1 }] }));
    expect(two.headers.get('x-channels')).toMatch(/^\d+,\d+$/);
    const both = await rgb(two);
    expect(start.equals(one)).toBe(false);
    expect(one.equals(both)).toBe(false);
    expect(styles).toHaveBeenCalledTimes(1); // slider moves of one start reuse its codes
    styles.mockRestore();
  });

  it('newest wins per client: renders of a client still waiting when a newer one arrives are 409, other clients are not', async () => {
    const a = await direction('face with purple hair');
    const body = (client: string, alpha: number) => json({ seed: 4, client, edits: [{ direction: a.id, alpha, beta: 0.1 }] });
    const answers = await Promise.all([body('page-a', 1), body('page-a', 2), body('page-a', 3), body('page-a', 4), body('page-b', 5)].map((b) => t.app.request('/v1/render', b)));
    const statuses = answers.map((r) => r.status);
    console.log(`client page-a x4 + page-b at once: ${statuses.join(', ')}`);
    // Which of page-a's older renders had started is a matter of timing; the newest of each client is always rendered.
    expect(statuses.slice(3)).toEqual([200, 200]);
    expect(statuses.slice(0, 3).every((st) => st === 200 || st === 409)).toBe(true);
    expect(statuses.slice(1, 3)).toEqual([409, 409]);
    expect(((await answers[1].json()) as { error: { message: string } }).error.message).toMatch(/^superseded: a newer render of this client arrived/);
    const alone = await t.app.request('/v1/render', body('page-a', 6));
    expect(alone.status).toBe(200);
    expect((await t.app.request('/v1/render', json({ seed: 4, client: 'bad id!', edits: [] }))).status).toBe(400);
  });

  it.each([
    [{ seed: 1, edits: [{ direction: '0123456789abcdef', alpha: 1 }] }, 404, /unknown direction id '0123456789abcdef'; create it with POST \/v1\/directions/],
    [{ seed: 1, edits: [{ direction: 'x', alpha: 11 }] }, 400, /edits\.0\.alpha/],
    [{ seed: 1, edits: [{ direction: 'x', alpha: 1, extra: 2 }] }, 400, /Unrecognized key/],
    [{ edits: [] }, 400, /give exactly one of seed, w_plus/],
  ])('render %j -> %d', async (body, status, msg) => {
    const res = await t.app.request('/v1/render', json(body));
    expect(res.status).toBe(status);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(msg);
  });

  it('a beta that keeps no channel is a 422 naming the largest relevance; an over-long prompt a 422; NaN alpha a 400', async () => {
    const d = await direction('face with purple hair');
    const res = await t.app.request('/v1/render', json({ seed: 1, edits: [{ direction: d.id, alpha: 1, beta: 0.99 }] }));
    expect(res.status).toBe(422);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/keeps no channel: the largest channel relevance for this prompt is 0\.\d+/);
    const long = await t.app.request('/v1/directions', json({ prompt: 'very '.repeat(90) }));
    expect(long.status).toBe(422);
    const nan = await t.app.request('/v1/render', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"seed":1,"edits":[{"direction":"x","alpha":NaN}]}' });
    expect(nan.status).toBe(400);
  });
});

describe('latent mappers in the API', () => {
  it('GET /v1/mappers lists the loaded mappers; a render with the mapper equals the official G(w_hat) (mapper_img row 0) to 1 level', async () => {
    const list = (await (await t.app.request('/v1/mappers')).json()) as { mappers: { name: string; kind: string }[] };
    expect(list.mappers).toEqual([{ name: 'purple_hair_tiny', kind: 'levels' }]);
    const wp = await readNpy(fixture('sg2_wplus.npy'));
    const row = encodeNpy({ dtype: 'float32', shape: [1, 10, 64], data: (wp.data as Float32Array).slice(0, 640) });
    const ours = await rgb(await t.app.request('/v1/render', json({ w_plus: Buffer.from(row).toString('base64'), mapper: { name: 'purple_hair_tiny', strength: 0.1 }, edits: [] })));
    const ref = (await readNpy(fixture('mapper_img.npy'))).data as Float32Array;
    let worst = 0;
    for (let i = 0; i < 64 * 64; i++) for (let c = 0; c < 3; c++) worst = Math.max(worst, Math.abs(ours[i * 3 + c] - Math.min(255, Math.max(0, Math.round((ref[c * 4096 + i] + 1) * 127.5)))));
    expect(worst).toBeLessThanOrEqual(1);
  });

  it('an unknown mapper is a 404 naming GET /v1/mappers', async () => {
    const res = await t.app.request('/v1/render', json({ seed: 1, mapper: { name: 'afro' }, edits: [] }));
    expect(res.status).toBe(404);
    expect(await res.text()).toMatch(/no mapper 'afro' on this server \(GET \/v1\/mappers lists them/);
  });
});

describe('photos in /v1/render (serve --encoder)', () => {
  it('a photo is detected, aligned and e4e-inverted once, then rendered with directions; paste_back answers the whole photo; uploaded once (POST /v1/photos) it renders by id', async () => {
    const e = await fixtureApp({ paths: { encoder: fixture('e4e_tiny.pt') } });
    try {
      const models = (await (await e.app.request('/v1/models')).json()) as { photo_inversion: string };
      expect(models.photo_inversion).toBe('encoder');
      const d = (await (await e.app.request('/v1/directions', json({ prompt: 'face with purple hair', beta: 0.1 }))).json()) as { id: string };
      const image = (await readFile(sharedPath('data', 'faces', 'ffhq_2.jpg'))).toString('base64');
      const face = await e.app.request('/v1/render', json({ image, edits: [{ direction: d.id, alpha: 3, beta: 0.1 }] }));
      expect(face.status).toBe(200);
      expect((await sharp(Buffer.from(await face.arrayBuffer())).metadata()).width).toBe(64);
      const t0 = performance.now();
      const whole = await e.app.request('/v1/render', json({ image, paste_back: true, edits: [{ direction: d.id, alpha: 5, beta: 0.1 }] }));
      const cachedMs = performance.now() - t0;
      const meta = await sharp(Buffer.from(await whole.arrayBuffer())).metadata();
      expect([meta.width, meta.height]).toEqual([1024, 1024]);
      console.log(`photo render from the cached inversion: ${cachedMs.toFixed(0)} ms (incl. the 1024 px paste-back)`);
      // Upload once, render by id: the same image as sending the photo each time.
      const up = await e.app.request('/v1/photos', json({ image }));
      expect(up.status).toBe(201);
      const { photo_id: id, width } = (await up.json()) as { photo_id: string; width: number };
      expect(id).toMatch(/^[0-9a-f]{16}$/);
      expect(width).toBe(1024);
      const byId = await e.app.request('/v1/render', json({ photo_id: id, edits: [{ direction: d.id, alpha: 3, beta: 0.1 }] }));
      expect(byId.status).toBe(200);
      expect(Buffer.from(await byId.arrayBuffer()).equals(Buffer.from(await (await e.app.request('/v1/render', json({ image, edits: [{ direction: d.id, alpha: 3, beta: 0.1 }] }))).arrayBuffer()))).toBe(true);
      const jpeg = await e.app.request('/v1/render', json({ photo_id: id, paste_back: true, format: 'jpeg', edits: [] }));
      expect(jpeg.headers.get('content-type')).toBe('image/jpeg');
      const jpegBytes = (await jpeg.arrayBuffer()).byteLength;
      const pngBytes = (await (await e.app.request('/v1/render', json({ photo_id: id, paste_back: true, edits: [] }))).arrayBuffer()).byteLength;
      console.log(`whole 1024 px photo: PNG ${pngBytes} bytes, JPEG ${jpegBytes} bytes`);
      expect(jpegBytes).toBeLessThan(pngBytes / 3);
      const unknown = await e.app.request('/v1/render', json({ photo_id: '0123456789abcdef', edits: [] }));
      expect(unknown.status).toBe(404);
      expect(await unknown.text()).toMatch(/upload it again with POST \/v1\/photos/);
      const bad = await e.app.request('/v1/photos', json({ image: Buffer.from('not a photo at all').toString('base64') }));
      expect(bad.status).toBe(422);
      expect(await bad.text()).toMatch(/it is not an image/);
      expect((await e.app.request('/v1/render', json({ photo_id: id, image, edits: [] }))).status).toBe(400);
    } finally {
      await e.close();
    }
  });

  it('without an encoder a photo render is a 422 naming serve --encoder', async () => {
    const image = (await readFile(sharedPath('data', 'faces', 'ffhq_2.jpg'))).toString('base64');
    const res = await t.app.request('/v1/render', json({ image, edits: [] }));
    expect(res.status).toBe(422);
    expect(await res.text()).toMatch(/serve --encoder/);
  });
});

describe('without global directions', () => {
  it('answers 404 naming the serve flags', async () => {
    const bare = await fixtureApp({ extra: { directions: undefined } });
    try {
      const res = await bare.app.request('/v1/directions', json({ prompt: 'red hair' }));
      expect(res.status).toBe(404);
      expect(await res.text()).toMatch(/serve --fs3 FS3\.npy --stats S_MEAN_STD/);
    } finally {
      await bare.close();
    }
  });
});


describe('one-pass methods as queued jobs', () => {
  const startB64 = async (): Promise<string> => Buffer.from(encodeNpy(await referenceStart())).toString('base64');
  const finished = async (id: string): Promise<{ status: string; steps: number; prompt: string; results: { latent: string; compare: string } }> =>
    waitFor(async () => {
      const s = (await (await t.app.request(`/v1/edits/${id}`)).json()) as { status: string; steps: number; prompt: string; results: { latent: string; compare: string } };
      return s.status === 'done' || s.status === 'failed' ? s : undefined;
    }, `edit ${id} to finish`);
  const latentOf = async (url: string): Promise<Float32Array> => {
    const bytes = new Uint8Array(await (await t.app.request(url)).arrayBuffer());
    return parseNpy(bytes).data as Float32Array;
  };
  const near = (a: Float32Array, ref: Float32Array): void => {
    let worst = 0;
    let max = 0;
    ref.forEach((v, i) => ((worst = Math.max(worst, Math.abs(a[i] - v))), (max = Math.max(max, Math.abs(v)))));
    expect(worst).toBeLessThanOrEqual(1e-3 * max);
  };

  it('POST /v1/edits/global: a job whose latent.npy (edited S) = gd_s_edited row 0 (<= 1e-3 x max), one step, compare.png as every edit', async () => {
    const res = await t.app.request('/v1/edits/global', json({ w_plus: await startB64(), edits: [{ prompt: 'face with purple hair', neutral: 'face with hair', alpha: 4, beta: 0.1 }] }));
    expect(res.status).toBe(202);
    const s = await finished(((await res.json()) as { id: string }).id);
    expect([s.status, s.steps, s.prompt]).toEqual(['done', 1, 'face with purple hair']);
    near(await latentOf(s.results.latent), ((await readNpy(fixture('gd_s_edited.npy'))).data as Float32Array).slice(0, 656));
    const cmp = await sharp(Buffer.from(await (await t.app.request(s.results.compare)).arrayBuffer())).metadata();
    expect([cmp.width, cmp.height]).toEqual([64 * 2 + 8, 64]);
  });

  it('POST /v1/edits/mapper: a job whose latent.npy = mapper_w_hat row 0 (<= 1e-3 x max); an unknown mapper or a prompt over 77 tokens is 422, bad fields 400, nothing queued', async () => {
    const res = await t.app.request('/v1/edits/mapper', json({ w_plus: await startB64(), mapper: 'purple_hair_tiny', strength: 0.1 }));
    expect(res.status).toBe(202);
    const s = await finished(((await res.json()) as { id: string }).id);
    expect(s.status).toBe('done');
    near(await latentOf(s.results.latent), ((await readNpy(fixture('mapper_w_hat.npy'))).data as Float32Array).slice(0, 640));
    const before = (await t.store.list()).length;
    const unknown = await t.app.request('/v1/edits/mapper', json({ seed: 1, mapper: 'nope' }));
    expect(unknown.status).toBe(422);
    expect(((await unknown.json()) as { error: { message: string } }).error.message).toMatch(/mapper 'nope' is not loaded; loaded: purple_hair_tiny/);
    const bad = await t.app.request('/v1/edits/global', json({ seed: 1, edits: [{ prompt: 'red hair', alpha: 99 }] }));
    expect(bad.status).toBe(400);
    const long = await t.app.request('/v1/edits/global', json({ seed: 1, edits: [{ prompt: Array(90).fill('red').join(' ') }] }));
    expect(long.status).toBe(422);
    const twoStarts = await t.app.request('/v1/edits/global', json({ seed: 1, w_plus: await startB64(), edits: [{ prompt: 'red hair' }] }));
    expect(twoStarts.status).toBe(400);
    expect((await t.store.list()).length).toBe(before);
  });
});
