/**
 * Server-Sent Events over a real listening server (127.0.0.1, free port) with the real library: progress for
 * every step in order, preview frames as PNG URLs, the final event with result URLs, replay for a finished edit,
 * and the 'cancelled' end after a DELETE.
 */
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Listening } from '../../src/server/http.js';
import { fixtureApp, json, listenLocal, readSse, waitFor, type TestServer } from './helpers.js';

let t: TestServer;
let server: Listening;
beforeAll(async () => {
  t = await fixtureApp();
  server = await listenLocal(t.app);
});
afterAll(async () => {
  server?.stopAccepting();
  server?.closeAll();
  await t?.close();
});

const url = (path: string): URL => new URL(path, server.url);

async function submit(body: object): Promise<string> {
  const res = await fetch(url('/v1/edits'), json(body));
  expect(res.status).toBe(202);
  return ((await res.json()) as { id: string }).id;
}

describe('GET /v1/edits/:id/events', () => {
  it('streams status, every step, preview frames and the result', async () => {
    const id = await submit({ prompt: 'a person with purple hair', seed: 5, steps: 10, preview_every: 2 });
    const res = await fetch(url(`/v1/edits/${id}/events`));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const events = await readSse(res);
    expect(events[0]).toMatchObject({ event: 'status', data: { id } });
    const steps = events.filter((e) => e.event === 'progress').map((e) => (e.data as { step: number }).step);
    expect(steps).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const previews = events.filter((e) => e.event === 'preview').map((e) => e.data as { step: number; url: string });
    for (const p of previews) {
      expect(p.step % 2).toBe(0);
      expect(p.url).toBe(`/v1/edits/${id}/preview.png?step=${p.step}`);
    }
    const last = events.at(-1)!;
    expect(last.event).toBe('done');
    const done = last.data as { status: string; results: { result: string }; history?: unknown[]; history_points: number };
    expect(done.status).toBe('done');
    expect(done.history_points).toBe(10);
    expect(done.history).toBeUndefined();
    const png = Buffer.from(await (await fetch(url(done.results.result))).arrayBuffer());
    expect((await sharp(png).metadata()).width).toBe(64);
    const preview = await fetch(url(`/v1/edits/${id}/preview.png`));
    expect([preview.status, preview.headers.get('cache-control')]).toEqual([200, 'no-store']);
    await preview.arrayBuffer();

    const replay = await readSse(await fetch(url(`/v1/edits/${id}/events`)));
    expect(replay.map((e) => e.event)).toEqual(['status', ...Array(10).fill('progress'), 'before', 'done']);
  });

  it("ends with 'cancelled' when the edit is deleted mid-run", async () => {
    const id = await submit({ prompt: 'a person with purple hair', seed: 6, steps: 5000 });
    const stream = fetch(url(`/v1/edits/${id}/events`)).then(readSse);
    await waitFor(async () => ((await (await fetch(url(`/v1/edits/${id}`))).json()) as { step: number }).step >= 3, 'a few steps');
    const del = await fetch(url(`/v1/edits/${id}`), { method: 'DELETE' });
    expect(del.status).toBe(200);
    await del.arrayBuffer();
    const events = await stream;
    expect(events.at(-1)).toMatchObject({ event: 'cancelled', data: { status: 'cancelled' } });
    expect((await fetch(url(`/v1/edits/${id}/result.png`))).status).toBe(404);
  });

  it('is a JSON 404 for an unknown edit', async () => {
    const res = await fetch(url('/v1/edits/00000000-0000-4000-8000-000000000000/events'));
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('not_found');
  });
});
