/**
 * Past one machine: Debian's redis-server on 127.0.0.1 (random port), the API enqueueing through BullMQ, and two
 * `styleclip worker` processes (the real CLI and library, fixture models) sharing a job store directory. 20 jobs all
 * complete exactly once; one worker is SIGKILLed mid-job and that job is retried by the other. Then a DELETE reaches
 * a job running on a worker, and a SIGTERMed worker puts its unfinished job back in the queue.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/server/app.js';
import { QUEUE_NAME, RedisQueue, redisOptions } from '../../src/jobs/redis_queue.js';
import { JobStore, type JobState } from '../../src/jobs/store.js';
import { loadServices, type Services } from '../../src/jobs/wiring.js';
import { PROJECT_ROOT } from '../helpers/shared.js';
import { exited, freePort, start } from '../helpers/processes.js';
import { json, modelFlags, modelPaths, waitFor } from '../server/helpers.js';

const REDIS = '/usr/bin/redis-server';
const JOBS = 20;

let dir: string;
let redis: ChildProcess;
let url: string;
let services: Services;
let store: JobStore;
let queue: RedisQueue;
let app: ReturnType<typeof createApp>;
const workers: ChildProcess[] = [];

const startWorker = (): Promise<ChildProcess> =>
  start(
    process.execPath,
    [join(PROJECT_ROOT, 'bin', 'styleclip.js'), 'worker', '--queue', url, '--store', dir, ...modelFlags(), '--stall-timeout', '2', '--grace', '0.5'],
    /ready/,
  ).then((w) => (workers.push(w), w));

beforeAll(async () => {
  if (!existsSync(REDIS)) throw new Error(`${REDIS} is missing: install Debian's redis-server (.ci/run does)`);
  dir = await mkdtemp(join(tmpdir(), 'styleclip-redis-'));
  const port = await freePort();
  redis = await start(REDIS, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], /Ready to accept/);
  url = `redis://127.0.0.1:${port}`;
  store = await new JobStore(dir).init();
  services = await loadServices(modelPaths());
  queue = new RedisQueue(url, store, 64);
  app = createApp({ ...services, store, queue, log: () => {} });
  await Promise.all([startWorker(), startWorker()]);
});

afterAll(async () => {
  for (const w of workers) w.kill('SIGKILL');
  await Promise.all(workers.map(exited));
  await queue?.close();
  await services?.dispose();
  redis?.kill('SIGTERM');
  if (redis) await exited(redis);
  if (dir) await rm(dir, { recursive: true, force: true });
});

const state = async (id: string): Promise<JobState> => (await store.state(id))!;
async function submit(body: object): Promise<string> {
  const res = await app.request('/v1/edits', json(body));
  expect(res.status).toBe(202);
  return ((await res.json()) as { id: string }).id;
}

/** Steps of each job of the kill test: long enough that a job seen early in its run is still running at the kill. */
const KILL_TEST_STEPS = 60;

describe('BullMQ queue with two worker processes', () => {
  it('completes 20 jobs exactly once; a job whose worker is killed mid-run is retried by the other', async () => {
    const ids: string[] = [];
    for (let i = 0; i < JOBS; i++) ids.push(await submit({ prompt: `a person with purple hair ${i}`, seed: i, steps: KILL_TEST_STEPS }));
    const [victim] = workers;
    const victimName = `${hostname()}:${victim.pid}`;
    const killedJob = await waitFor(async () => {
      for (const id of ids) {
        const s = await state(id);
        // Early in its run, so it cannot finish between this look (state is written every 250 ms) and the kill.
        if (s.status === 'running' && s.worker === victimName && s.step >= 2 && s.step <= KILL_TEST_STEPS / 4) return id;
      }
      return undefined;
    }, 'a job running on the first worker');
    victim.kill('SIGKILL');
    await exited(victim);

    await waitFor(async () => (await Promise.all(ids.map(state))).every((s) => s.status === 'done'), 'all 20 jobs', 150_000);
    const finals = await Promise.all(ids.map(state));
    const survivor = `${hostname()}:${workers[1].pid}`;
    expect((await state(killedJob)).attempts).toBe(2);
    expect((await state(killedJob)).worker).toBe(survivor);
    expect(finals.filter((s) => s.attempts !== 1)).toHaveLength(1);
    for (const id of ids) expect(existsSync(store.path(id, 'result.png'))).toBe(true);

    const q = new Queue(QUEUE_NAME, { connection: redisOptions(url) });
    try {
      const counts = await q.getJobCounts('completed', 'failed', 'waiting', 'active', 'delayed');
      expect(counts).toEqual({ completed: JOBS, failed: 0, waiting: 0, active: 0, delayed: 0 });
      const completed = (await q.getCompleted(0, 100)).map((j) => j.id);
      expect(new Set(completed)).toEqual(new Set(ids));
    } finally {
      await q.close();
    }
  });

  it('cancels a job running on a worker, and a SIGTERMed worker returns its job to the queue', async () => {
    const long = await submit({ prompt: 'a person with purple hair', seed: 50, steps: 5000 });
    await waitFor(async () => (await state(long)).step >= 2, 'the long job to run');
    expect((await app.request(`/v1/edits/${long}`, { method: 'DELETE' })).status).toBe(200);
    await waitFor(async () => (await state(long)).status === 'cancelled', 'cancellation on the worker', 10_000);

    const next = await submit({ prompt: 'a person with purple hair', seed: 51, steps: 5000 });
    await waitFor(async () => (await state(next)).step >= 2, 'the next job to run');
    workers[1].kill('SIGTERM');
    expect(await exited(workers[1])).toBe(0);
    expect(await state(next)).toMatchObject({ status: 'queued', step: 0 });
    const q = new Queue(QUEUE_NAME, { connection: redisOptions(url) });
    try {
      expect(await (await q.getJob(next))!.getState()).toBe('waiting');
    } finally {
      await q.close();
    }
  });
});
