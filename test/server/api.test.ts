/**
 * The HTTP API end to end through `app.request`, with the real library on the tiny fixture models: models and
 * health, an edit from a seed (JSON) and from an uploaded W+ latent (multipart), status with loss history, result
 * files, and the generate / classify / embed endpoints.
 */
import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeNpy, parseNpy } from '../../src/io/tensors/npy.js';
import { fixture, sharedPath } from '../helpers/shared.js';
import { FEW_STEPS, fixtureApp, json, waitFor, type TestServer } from './helpers.js';

let t: TestServer;
beforeAll(async () => {
  t = await fixtureApp();
});
afterAll(async () => t?.close());

interface Status {
  status: string;
  step: number;
  steps: number;
  history: { step: number; loss: number; clipLoss: number; l2Loss: number; idLoss: number }[];
  results?: Record<string, string>;
  projection?: { step: number; steps: number; loss: number; mse: number };
  error?: { message: string };
}

const status = async (id: string): Promise<Status> => (await (await t.app.request(`/v1/edits/${id}?history=all`)).json()) as Status;
const finished = (id: string) => waitFor(async () => {
  const s = await status(id);
  return s.status !== 'queued' && s.status !== 'running' && s;
}, `edit ${id}`);

async function firstWPlus(): Promise<Uint8Array<ArrayBuffer>> {
  const all = parseNpy(await readFile(fixture('sg2_wplus.npy')));
  const per = all.shape[1] * all.shape[2];
  return new Uint8Array(encodeNpy({ dtype: 'float32', shape: [1, all.shape[1], all.shape[2]], data: (all.data as Float32Array).slice(0, per) }));
}

const pixels = async (res: Response): Promise<Buffer> => sharp(Buffer.from(await res.arrayBuffer())).raw().toBuffer();

describe('API with the fixture models', () => {
  it('reports health and the loaded models', async () => {
    const health = await t.app.request('/health');
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok', queue: { kind: 'local', capacity: 16 } });
    const models = await (await t.app.request('/v1/models')).json();
    expect(models).toMatchObject({
      generator: { name: 'stylegan2_tiny', resolution: 64, n_latent: 10, style_dim: 64 },
      clip: { name: 'clip_vit_tiny.state_dict' },
      devices: ['cpu'],
    });
  });

  it('edits from a seed: 202, history of every step, result PNGs and the final latent', async () => {
    const res = await t.app.request('/v1/edits', json({ prompt: 'a person with purple hair', seed: 3, steps: FEW_STEPS, generator: 'stylegan2_tiny' }));
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    const s = await finished(id);
    expect(s.status).toBe('done');
    expect(s.history.map((h) => h.step)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(s.history.every((h) => Number.isFinite(h.loss) && h.loss > 0)).toBe(true);
    // Polls get a summary, not the whole history (300 kB for a 3000-step job); pages and ?history=all give it.
    const summary = (await (await t.app.request(`/v1/edits/${id}`)).json()) as Record<string, unknown>;
    expect(summary.history).toBeUndefined();
    expect(summary).toMatchObject({ history_points: 6, last: s.history[5] });
    const page = await (await t.app.request(`/v1/edits/${id}/history?from=2&limit=3`)).json();
    expect(page).toEqual({ points: s.history.slice(2, 5), from: 2, total: 6, next: 5 });
    expect(await (await t.app.request(`/v1/edits/${id}/history?from=5`)).json()).toMatchObject({ points: [s.history[5]], next: null });
    expect((await t.app.request(`/v1/edits/${id}/history?limit=0`)).status).toBe(400);
    expect((await t.app.request(`/v1/edits/${id}?history=yes`)).status).toBe(400);
    const cancelled = (await (await t.app.request(`/v1/edits/${id}`, { method: 'DELETE' })).json()) as Record<string, unknown>;
    expect(cancelled.history).toBeUndefined();
    for (const [file, width] of [['result.png', 64], ['before.png', 64], ['compare.png', 64 * 2 + 8]] as const) {
      const r = await t.app.request(`/v1/edits/${id}/${file}`);
      expect(r.status).toBe(200);
      expect(r.headers.get('content-type')).toBe('image/png');
      const meta = await sharp(Buffer.from(await r.arrayBuffer())).metadata();
      expect([meta.format, meta.width, meta.height]).toEqual(['png', width, 64]);
    }
    const latent = parseNpy(new Uint8Array(await (await t.app.request(`/v1/edits/${id}/latent.npy`)).arrayBuffer()));
    expect(latent.shape).toEqual([1, 10, 64]);
    expect(s.results).toEqual({
      result: `/v1/edits/${id}/result.png`,
      compare: `/v1/edits/${id}/compare.png`,
      before: `/v1/edits/${id}/before.png`,
      latent: `/v1/edits/${id}/latent.npy`,
    });
  });

  it('edits from an uploaded W+ latent (multipart) with CLI options; before.png is G(w+)', async () => {
    const form = new FormData();
    form.set('prompt', 'a person with purple hair');
    form.set('w_plus', new File([await firstWPlus()], 'start.npy'));
    form.set('steps', '3');
    form.set('lr', '0.05');
    form.set('l2', '0.02');
    form.set('layers', '0-4');
    form.set('preprocess', 'styleclip');
    const res = await t.app.request('/v1/edits', { method: 'POST', body: form });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    const s = await finished(id);
    expect(s.status).toBe('done');
    const start = parseNpy(await firstWPlus()).data as Float32Array;
    const final = parseNpy(new Uint8Array(await (await t.app.request(`/v1/edits/${id}/latent.npy`)).arrayBuffer())).data as Float32Array;
    const changed = (row: number): boolean => final.subarray(row * 64, row * 64 + 64).some((v, i) => v !== start[row * 64 + i]);
    expect([0, 4].map(changed)).toEqual([true, true]);
    expect([5, 9].map(changed)).toEqual([false, false]);
    const gen = new FormData();
    gen.set('w_plus', new File([await firstWPlus()], 'w.npy'));
    const expected = await pixels(await t.app.request('/v1/generate', { method: 'POST', body: gen }));
    const before = await pixels(await t.app.request(`/v1/edits/${id}/before.png`));
    expect(before.length).toBe(expected.length);
    expect(Math.max(...before.map((v, i) => Math.abs(v - expected[i])))).toBeLessThanOrEqual(1);
  });

  it('generates a PNG from a seed and from a W+ upload', async () => {
    const bySeed = await t.app.request('/v1/generate', json({ seed: 7, truncation: 0.7 }));
    expect(bySeed.status).toBe(200);
    expect((await sharp(Buffer.from(await bySeed.arrayBuffer())).metadata()).width).toBe(64);
    const form = new FormData();
    form.set('w_plus', new File([await firstWPlus()], 'w.npy'));
    const byLatent = await t.app.request('/v1/generate', { method: 'POST', body: form });
    expect(byLatent.status).toBe(200);
    expect(byLatent.headers.get('content-type')).toBe('image/png');
  });

  it('edits a photo: detect, align, project, edit, and the edited face pasted back into the photo', async () => {
    const photo = await readFile(sharedPath('data', 'faces', 'ffhq_0.jpg'));
    const form = new FormData();
    form.set('prompt', 'a person with purple hair');
    form.set('steps', String(FEW_STEPS));
    form.set('project_steps', '5');
    form.set('id', '0.005');
    form.set('image', new File([new Uint8Array(photo)], 'me.jpg', { type: 'image/jpeg' }));
    const res = await t.app.request('/v1/edits', { method: 'POST', body: form });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    const s = await finished(id);
    expect(s.error?.message).toBeUndefined();
    expect(s.status).toBe('done');
    expect(s.history.length).toBe(FEW_STEPS);
    expect(s.projection).toMatchObject({ step: 5, steps: 5 });
    expect(s.history[s.history.length - 1].idLoss).toBeGreaterThan(0);
    expect(s.results?.photo).toBe(`/v1/edits/${id}/photo.png`);
    const pasted = await t.app.request(s.results!.photo!);
    expect(pasted.status).toBe(200);
    const meta = await sharp(Buffer.from(await pasted.arrayBuffer())).metadata();
    expect([meta.width, meta.height]).toEqual([1024, 1024]);
    expect((await sharp(Buffer.from(await (await t.app.request(s.results!.result)).arrayBuffer())).metadata()).width).toBe(64);
  });

  it('classifies CLIP.png from its PNG bytes: probs within 1e-3 abs of the reference clip_probs.npy; embeds texts and images', async () => {
    const png = await readFile(sharedPath('data', 'clip', 'CLIP.png'));
    const prompts = ['a diagram', 'a dog', 'a cat', 'a photo of a fat red cat.', 'not a photo of a fat red cat.'];
    const form = new FormData();
    form.set('image', new File([png], 'CLIP.png', { type: 'image/png' }));
    for (const label of prompts) form.append('labels', label);
    const res = await t.app.request('/v1/classify', { method: 'POST', body: form });
    expect(res.status).toBe(200);
    const { labels, probs } = (await res.json()) as { labels: string[]; probs: number[] };
    expect(labels).toEqual(prompts);
    const expected = Array.from(parseNpy(await readFile(fixture('clip_probs.npy'))).data as Float32Array);
    const err = Math.max(...probs.map((p, i) => Math.abs(p - expected[i])));
    console.log(`classify CLIP.png through the API: probs max abs error ${err.toExponential(2)}`);
    expect(err).toBeLessThanOrEqual(1e-3);
    const embed = await t.app.request('/v1/embed', json({ texts: ['a dog', 'a cat'], images: [png.toString('base64')] }));
    expect(embed.status).toBe(200);
    const body = (await embed.json()) as { texts: number[][]; images: number[][] };
    expect([body.texts.length, body.texts[0].length, body.images.length, body.images[0].length]).toEqual([2, 64, 1, 64]);
  });

  it('classifies several images (multipart and JSON) with a template set and top_k; the JSON of one image keeps labels/probs', async () => {
    const png = await readFile(sharedPath('data', 'clip', 'CLIP.png'));
    const face = await readFile(sharedPath('data', 'faces', 'ffhq_0.jpg'));
    const form = new FormData();
    form.append('images', new File([png], 'CLIP.png', { type: 'image/png' }));
    form.append('images', new File([face], 'face.jpg', { type: 'image/jpeg' }));
    for (const label of ['diagram', 'face', 'a photo of a fat red cat.']) form.append('labels', label);
    form.set('templates', 'imagenet');
    form.set('top_k', '2');
    const res = await t.app.request('/v1/classify', { method: 'POST', body: form });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { templates: string[]; as_written: string[]; results: { predictions: { label: string; prob: number }[] }[] };
    expect(body.templates).toHaveLength(80);
    expect(body.as_written).toEqual(['a photo of a fat red cat.']);
    expect(body.results.map((r) => r.predictions.length)).toEqual([2, 2]);
    const viaJson = await t.app.request('/v1/classify', json({ images: [png.toString('base64'), face.toString('base64')], labels: ['diagram', 'face', 'a photo of a fat red cat.'], templates: 'imagenet', top_k: 2 }));
    expect(((await viaJson.json()) as typeof body).results).toEqual(body.results);
    const both = await t.app.request('/v1/classify', json({ image: png.toString('base64'), images: [png.toString('base64')], labels: ['a'] }));
    expect(both.status).toBe(400);
    expect(await both.text()).toMatch(/exactly one of image .* or images/);
    const dup = await t.app.request('/v1/classify', json({ image: png.toString('base64'), labels: ['cat', 'dog', 'cat'] }));
    expect(dup.status).toBe(422);
    expect(await dup.text()).toMatch(/label 'cat' is given twice/);
  });
});
