/**
 * Bad input never crashes the server or leaves files behind: each case gets the right 4xx in the API's error
 * format, and afterwards the server is healthy and still edits. Real library, fixture models; the load and
 * oversized-upload cases also run against a real listening server.
 */
import { request as httpRequest } from 'node:http';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeNpy } from '../../src/io/tensors/npy.js';
import type { Listening } from '../../src/server/http.js';
import { sharedPath } from '../helpers/shared.js';
import { FEW_STEPS, fixtureApp, json, listenLocal, waitFor, type TestServer } from './helpers.js';

let t: TestServer;
let server: Listening;
beforeAll(async () => {
  t = await fixtureApp({ concurrency: 1, capacity: 4 });
  server = await listenLocal(t.app);
});
afterAll(async () => {
  server?.stopAccepting();
  server?.closeAll();
  await t?.close();
});

const npy = (shape: number[], fill: (i: number) => number): Uint8Array<ArrayBuffer> => {
  const n = shape.reduce((a, b) => a * b, 1);
  return new Uint8Array(encodeNpy({ dtype: 'float32', shape, data: Float32Array.from({ length: n }, (_, i) => fill(i)) }));
};

function form(fields: Record<string, string | File>): RequestInit {
  const f = new FormData();
  for (const [k, v] of Object.entries(fields)) f.set(k, v);
  return { method: 'POST', body: f };
}

async function expectError(res: Response, status: number, code: string): Promise<string> {
  const body = (await res.json()) as { error: { code: string; message: string } };
  expect({ status: res.status, code: body.error?.code }).toEqual({ status, code });
  expect(body.error.message.length).toBeGreaterThan(10);
  return body.error.message;
}

const edits = async (): Promise<number> => (await readdir(join(t.dir, 'edits'))).length;

describe('bad input gets the right 4xx and leaves nothing behind', () => {
  it('rejects unusable files with 422', async () => {
    const png = await readFile(sharedPath('data', 'clip', 'CLIP.png'));
    const before = await edits();
    const truncated = new File([png.subarray(0, png.length >> 1)], 'photo.png', { type: 'image/png' });
    expect(await expectError(await t.app.request('/v1/edits', form({ prompt: 'a smile', image: truncated })), 422, 'invalid_input')).toMatch(
      /cannot decode/,
    );
    const wrongShape = new File([npy([10, 32], () => 0)], 'w.npy');
    expect(await expectError(await t.app.request('/v1/edits', form({ prompt: 'a smile', w_plus: wrongShape })), 422, 'invalid_input')).toMatch(
      /\[10,64\]/,
    );
    const nan = new File([npy([1, 10, 64], (i) => (i === 17 ? NaN : 0.5))], 'w.npy');
    expect(await expectError(await t.app.request('/v1/edits', form({ prompt: 'a smile', w_plus: nan })), 422, 'invalid_input')).toMatch(/NaN/);
    const notNpy = new File([png], 'w.npy');
    await expectError(await t.app.request('/v1/edits', form({ prompt: 'a smile', w_plus: notNpy })), 422, 'invalid_input');
    await expectError(await t.app.request('/v1/classify', form({ image: truncated, labels: 'a dog' })), 422, 'invalid_input');
    await expectError(await t.app.request('/v1/generate', form({ w: new File([npy([63], () => 0)], 'w.npy') })), 422, 'invalid_input');
    await expectError(await t.app.request('/v1/edits', json({ prompt: 'a smile', seed: 1, layers: '3-99' })), 422, 'invalid_input');
    expect(await edits()).toBe(before);
  });

  it('checks prompts: empty and 10k characters are 400, over 77 CLIP tokens is 422', async () => {
    await expectError(await t.app.request('/v1/edits', json({ prompt: '', seed: 1 })), 400, 'invalid_request');
    await expectError(await t.app.request('/v1/edits', json({ prompt: '   ', seed: 1 })), 400, 'invalid_request');
    await expectError(await t.app.request('/v1/edits', json({ prompt: 'x'.repeat(10_000), seed: 1 })), 400, 'invalid_request');
    const long = Array.from({ length: 90 }, (_, i) => `w${i}`).join(' ');
    expect(await expectError(await t.app.request('/v1/edits', json({ prompt: long, seed: 1 })), 422, 'invalid_input')).toMatch(/context length 77/);
  });

  it('rejects malformed requests with 400', async () => {
    const bad = [
      { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"prompt": "a smile", ' },
      json({ prompt: 'a smile' }),
      json({ prompt: 'a smile', seed: 1, w_plus: 'AAAA' }),
      json({ prompt: 'a smile', seed: 1, steps: 0 }),
      json({ prompt: 'a smile', seed: 1, steps: 20_000 }),
      json({ prompt: 'a smile', seed: -1 }),
      json({ prompt: 'a smile', seed: 1, colour: 'red' }),
      json({ prompt: 'a smile', w_plus: '%%%not base64%%%' }),
      form({ prompt: 'a smile', seed: '1', lr: 'NaN' }),
      { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'a smile' },
      json([1, 2, 3]),
    ];
    for (const init of bad) await expectError(await t.app.request('/v1/edits', init), 400, 'invalid_request');
  });

  it('refuses unknown models (404) and path-like names (400)', async () => {
    await expectError(await t.app.request('/v1/edits', json({ prompt: 'a smile', seed: 1, generator: 'stylegan2_ffhq' })), 404, 'unknown_model');
    await expectError(await t.app.request('/v1/classify', json({ image: 'AAAA', labels: ['a'], clip: 'ViT-L-14' })), 404, 'unknown_model');
    await expectError(await t.app.request('/v1/edits', json({ prompt: 'a smile', seed: 1, generator: '../stylegan2_tiny' })), 400, 'invalid_name');
    await expectError(await t.app.request('/v1/edits/..%2F..%2Fetc%2Fpasswd'), 400, 'invalid_name');
    await expectError(await t.app.request('/v1/edits/..%2F..%2Fetc/result.png'), 400, 'invalid_name');
    await expectError(await t.app.request('/v1/edits/a%2Fb', { method: 'DELETE' }), 400, 'invalid_name');
    // URL parsing resolves an encoded `..` segment itself, so this reaches no edit route at all.
    await expectError(await t.app.request('/v1/edits/%2E%2E/%2E%2E/result.png'), 404, 'not_found');
    const evil = new File([npy([1, 10, 64], () => 0)], '../../etc/passwd');
    await expectError(await t.app.request('/v1/edits', form({ prompt: 'a smile', w_plus: evil })), 400, 'invalid_name');
    await expectError(await t.app.request('/v1/edits/00000000-0000-4000-8000-000000000000'), 404, 'not_found');
    await expectError(await t.app.request('/v1/nothing'), 404, 'not_found');
  });

  it('refuses a 50 MB upload with 413, through app.request and over a real socket', async () => {
    const big = new File([new Uint8Array(50 * 2 ** 20)], 'huge.png', { type: 'image/png' });
    await expectError(await t.app.request('/v1/edits', form({ prompt: 'a smile', image: big })), 413, 'payload_too_large');
    const status = await new Promise<number>((resolve, reject) => {
      const url = new URL('/v1/edits', server.url);
      const req = httpRequest(url, { method: 'POST', headers: { 'content-type': 'application/octet-stream', 'transfer-encoding': 'chunked' } });
      req.on('response', (res) => (res.resume(), resolve(res.statusCode ?? 0)));
      req.on('error', reject);
      const chunk = new Uint8Array(2 ** 20);
      let sent = 0;
      const pump = (): void => {
        while (sent < 50 && req.write(chunk)) sent++;
        if (sent < 50) req.once('drain', () => (sent++, pump()));
        else req.end();
      };
      pump();
    });
    expect(status).toBe(413);
  });

  it('answers 50 concurrent POSTs over HTTP with 202 or 429, runs the accepted ones, and stays healthy', async () => {
    const responses = await Promise.all(
      Array.from({ length: 50 }, (_, i) => fetch(new URL('/v1/edits', server.url), json({ prompt: `a face ${i}`, seed: i, steps: 2 }))),
    );
    const codes = responses.map((r) => r.status);
    expect(codes.every((c) => c === 202 || c === 429)).toBe(true);
    const accepted = await Promise.all(responses.filter((r) => r.status === 202).map(async (r) => ((await r.json()) as { id: string }).id));
    expect(accepted.length).toBeGreaterThanOrEqual(1);
    expect(accepted.length).toBeLessThanOrEqual(5);
    await Promise.all(responses.filter((r) => r.status === 429).map((r) => r.arrayBuffer()));
    for (const id of accepted) {
      await waitFor(async () => ((await (await fetch(new URL(`/v1/edits/${id}`, server.url))).json()) as { status: string }).status === 'done', id);
    }
    expect((await fetch(new URL('/health', server.url))).status).toBe(200);
    const res = await fetch(new URL('/v1/edits', server.url), json({ prompt: 'still working', seed: 1, steps: FEW_STEPS }));
    expect(res.status).toBe(202);
  });
});
