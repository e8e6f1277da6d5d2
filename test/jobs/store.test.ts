/**
 * JobStore's in-memory change notification: followers in the process that writes a job (SSE of the in-process
 * queue) wake at the write, not at their next poll; without a write they wake at the timeout (remote workers).
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobStore, initialState } from '../../src/jobs/store.js';

let dir: string;
let store: JobStore;
const ID = 'job-notify';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'styleclip-store-'));
  store = await new JobStore(dir).init();
  await mkdir(store.dir(ID), { recursive: true });
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** Milliseconds until `wait` resolves after `write` is started. */
async function wakeAfter(wait: Promise<void>, write: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  await write();
  await wait;
  return performance.now() - t0;
}

describe('JobStore.nextChange', () => {
  it('wakes at appendHistory, writeState and requestCancel (< 100 ms with a 10 s timeout)', async () => {
    const point = { step: 1, lr: 0.1, loss: 1, clipLoss: 1, l2Loss: 0, idLoss: 0 };
    expect(await wakeAfter(store.nextChange(ID, 10_000), () => store.appendHistory(ID, [point]))).toBeLessThan(100);
    expect(await wakeAfter(store.nextChange(ID, 10_000), () => store.writeState(ID, initialState(3)))).toBeLessThan(100);
    expect(await wakeAfter(store.nextChange(ID, 10_000), () => store.requestCancel(ID))).toBeLessThan(100);
    expect((await store.readHistory(ID)).points).toEqual([point]);
  });

  it('without a write it resolves at the timeout; writes to another job do not wake it', async () => {
    const t0 = performance.now();
    const wait = store.nextChange(ID, 150);
    await mkdir(store.dir('job-other'), { recursive: true });
    await store.writeState('job-other', initialState(3));
    await wait;
    expect(performance.now() - t0).toBeGreaterThanOrEqual(140);
  });
});
