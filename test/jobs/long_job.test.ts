/**
 * A long job does not grow the server: a 3000-step fixture edit with a preview every step keeps the process's RSS
 * within 50 MB of where it started, state.json stays the same small size from the first write to the last (the loss
 * history is appended to history.jsonl instead), and every step is in the history.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureApp, json, waitFor, type TestServer } from '../server/helpers.js';

const STEPS = 3000;
let t: TestServer;
beforeAll(async () => {
  t = await fixtureApp();
});
afterAll(async () => t?.close());

describe('a 3000-step edit with preview_every 1', () => {
  it('RSS grows < 50 MB; state.json size stays constant; history.jsonl holds every step', async () => {
    // Warm-up: sessions built, so the measurement sees the job's own growth.
    const warm = ((await (await t.app.request('/v1/edits', json({ prompt: 'red hair', seed: 1, steps: 5, preview_every: 1 }))).json()) as { id: string }).id;
    await waitFor(async () => ((await (await t.app.request(`/v1/edits/${warm}`)).json()) as { status: string }).status === 'done', 'the warm-up edit');
    global.gc?.();
    const rss0 = process.memoryUsage().rss;
    const { id } = (await (await t.app.request('/v1/edits', json({ prompt: 'red hair', seed: 2, steps: STEPS, preview_every: 1 }))).json()) as { id: string };
    const stateFile = join(t.dir, 'edits', id, 'state.json');
    let peak = rss0;
    const sizes: number[] = [];
    await waitFor(
      async () => {
        peak = Math.max(peak, process.memoryUsage().rss);
        try {
          sizes.push(statSync(stateFile).size);
        } catch {
          // between atomic renames
        }
        return ((await (await t.app.request(`/v1/edits/${id}`)).json()) as { status: string }).status === 'done';
      },
      'the long edit',
      300_000,
    );
    const growthMb = (peak - rss0) / 2 ** 20;
    console.log(`3000 steps, preview every step: RSS +${growthMb.toFixed(1)} MB; state.json ${Math.min(...sizes)}-${Math.max(...sizes)} bytes over ${sizes.length} samples`);
    expect(growthMb).toBeLessThan(50);
    expect(Math.max(...sizes)).toBeLessThan(1024);
    const lines = readFileSync(join(t.dir, 'edits', id, 'history.jsonl'), 'utf8').trim().split('\n');
    expect(lines).toHaveLength(STEPS);
    expect(JSON.parse(lines[STEPS - 1]).step).toBe(STEPS);
  }, 300_000);
});
