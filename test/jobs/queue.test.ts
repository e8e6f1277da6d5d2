/**
 * Queue mechanics of the in-process queue through the HTTP API (`app.request`): 429 when full under 50 concurrent
 * POSTs, cancellation of waiting and running jobs, checkpoint on shutdown and recovery after a restart. Uses the
 * FAKE editor (test/server/fake_editor.ts): these properties do not depend on the model.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createApp } from '../../src/server/app.js';
import { LocalQueue } from '../../src/jobs/queue.js';
import { JobStore } from '../../src/jobs/store.js';
import { FAKE_CLIP, FAKE_GENERATOR, FakeEditService } from '../server/fake_editor.js';

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

async function setup(opts: { stepMs: number; concurrency: number; capacity: number; dir?: string }) {
  const dir = opts.dir ?? (await mkdtemp(join(tmpdir(), 'styleclip-queue-')));
  if (!opts.dir) dirs.push(dir);
  const store = await new JobStore(dir).init();
  const editor = new FakeEditService(opts.stepMs);
  const queue = new LocalQueue({ store, editor, concurrency: opts.concurrency, capacity: opts.capacity, log: () => {} });
  const app = createApp({ editor, generator: FAKE_GENERATOR, clip: FAKE_CLIP, store, queue, log: () => {} });
  return { dir, store, editor, queue, app };
}

const post = (app: ReturnType<typeof createApp>, body: object) =>
  app.request('/v1/edits', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

async function waitFor<T>(fn: () => Promise<T | undefined | false>, what: string, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const statusOf = async (app: ReturnType<typeof createApp>, id: string) => (await (await app.request(`/v1/edits/${id}`)).json()) as {
  status: string;
  step: number;
  attempts: number;
  history_points: number;
};

describe('in-process queue', () => {
  it('answers 50 concurrent POSTs with 202 or 429 only, bounded by concurrency + capacity', async () => {
    const { app, queue } = await setup({ stepMs: 20, concurrency: 1, capacity: 3 });
    const responses = await Promise.all(Array.from({ length: 50 }, (_, i) => post(app, { prompt: `p${i}`, seed: i, steps: 3 })));
    const codes = responses.map((r) => r.status);
    expect(codes.every((c) => c === 202 || c === 429)).toBe(true);
    const accepted = codes.filter((c) => c === 202).length;
    expect(accepted).toBeGreaterThanOrEqual(1);
    expect(accepted).toBeLessThanOrEqual(4);
    const refused = responses.find((r) => r.status === 429)!;
    expect(refused.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('queue_full');
    const ids = await Promise.all(responses.filter((r) => r.status === 202).map(async (r) => ((await r.json()) as { id: string }).id));
    for (const id of ids) await waitFor(async () => (await statusOf(app, id)).status === 'done', `job ${id}`);
    expect((await app.request('/health')).status).toBe(200);
    expect((await post(app, { prompt: 'after the storm', seed: 1, steps: 1 })).status).toBe(202);
    await queue.close(1000);
  });

  it('cancels a waiting job at once and a running job within a few steps', async () => {
    const { app, queue } = await setup({ stepMs: 50, concurrency: 1, capacity: 4 });
    const running = ((await (await post(app, { prompt: 'long', seed: 1, steps: 400 })).json()) as { id: string }).id;
    const waiting = ((await (await post(app, { prompt: 'next', seed: 2, steps: 400 })).json()) as { id: string }).id;
    await waitFor(async () => (await statusOf(app, running)).step >= 2, 'the first job to run');
    const del = await app.request(`/v1/edits/${waiting}`, { method: 'DELETE' });
    expect(del.status).toBe(200);
    expect(((await del.json()) as { status: string }).status).toBe('cancelled');
    expect((await app.request(`/v1/edits/${running}`, { method: 'DELETE' })).status).toBe(200);
    const final = await waitFor(async () => {
      const s = await statusOf(app, running);
      return s.status === 'cancelled' && s;
    }, 'cancellation of the running job', 5000);
    expect(final.step).toBeLessThan(400);
    expect((await app.request(`/v1/edits/${running}/result.png`)).status).toBe(404);
    await queue.close(1000);
  });

  it('checkpoints running jobs on shutdown and finishes everything after a restart; finished jobs stay', async () => {
    const first = await setup({ stepMs: 30, concurrency: 1, capacity: 8 });
    const quick = ((await (await post(first.app, { prompt: 'quick', seed: 1, steps: 2 })).json()) as { id: string }).id;
    await waitFor(async () => (await statusOf(first.app, quick)).status === 'done', 'the quick job');
    const slow = ((await (await post(first.app, { prompt: 'slow', seed: 2, steps: 200 })).json()) as { id: string }).id;
    const queued = ((await (await post(first.app, { prompt: 'queued', seed: 3, steps: 3 })).json()) as { id: string }).id;
    await waitFor(async () => (await statusOf(first.app, slow)).step >= 2, 'the slow job to run');
    await first.queue.close(100);
    expect((await statusOf(first.app, slow)).status).toBe('queued');
    expect((await statusOf(first.app, queued)).status).toBe('queued');
    const quickResult = await (await first.app.request(`/v1/edits/${quick}/result.png`)).arrayBuffer();

    const second = await setup({ stepMs: 1, concurrency: 1, capacity: 8, dir: first.dir });
    dirs.push(first.dir);
    expect(await second.queue.recover()).toBe(2);
    for (const id of [slow, queued]) await waitFor(async () => (await statusOf(second.app, id)).status === 'done', `job ${id}`);
    expect((await statusOf(second.app, slow)).attempts).toBe(2);
    expect((await statusOf(second.app, quick)).attempts).toBe(1);
    expect(second.editor.started).toEqual(['slow', 'queued']);
    const again = await (await second.app.request(`/v1/edits/${quick}/result.png`)).arrayBuffer();
    expect(Buffer.from(again).equals(Buffer.from(quickResult))).toBe(true);
    await second.queue.close(1000);
  });
});
