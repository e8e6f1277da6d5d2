/**
 * Redis losing its data (issue 25: `redis-server --save "" --appendonly no` killed and restarted empty, or flushed):
 * jobs that got 202 are added again from the job store when the producer reconnects (and by its periodic check),
 * and a DELETE of a queued job Redis no longer holds cancels it instead of leaving it `cancelling` forever.
 * No workers at first, so the jobs stay queued and what Redis holds can be counted; then a worker rides out a Redis
 * restart saying so once each way (it used to log every failed retry and never that it was back).
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/server/app.js';
import { RedisQueue, startWorker } from '../../src/jobs/redis_queue.js';
import { JobStore } from '../../src/jobs/store.js';
import { loadServices, type Services } from '../../src/jobs/wiring.js';
import { exited, freePort, start } from '../helpers/processes.js';
import { json, modelPaths, waitFor } from '../server/helpers.js';

const REDIS = '/usr/bin/redis-server';
let dir: string;
let port: number;
let redis: ChildProcess;
let store: JobStore;
let services: Services;
let queue: RedisQueue;
let app: ReturnType<typeof createApp>;
const logs: string[] = [];

const startRedis = async (): Promise<ChildProcess> =>
  (redis = await start(REDIS, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], /Ready to accept/));

beforeAll(async () => {
  if (!existsSync(REDIS)) throw new Error(`${REDIS} is missing: install Debian's redis-server (.ci/run does)`);
  dir = await mkdtemp(join(tmpdir(), 'styleclip-reconcile-'));
  port = await freePort();
  await startRedis();
  store = await new JobStore(dir).init();
  services = await loadServices(modelPaths());
  queue = new RedisQueue(`redis://127.0.0.1:${port}`, store, 64, (m) => logs.push(m), { reconcileMinAgeMs: 0, reconcileEveryMs: 60_000 });
  app = createApp({ ...services, store, queue, log: () => {} });
}, 120_000);

afterAll(async () => {
  await queue?.close();
  await services?.dispose();
  redis?.kill('SIGTERM');
  if (redis) await exited(redis);
  if (dir) await rm(dir, { recursive: true, force: true });
});

const waiting = async (): Promise<number> => (await queue.stats()).waiting;

describe('the job store is the record when Redis loses its data', () => {
  it('re-adds accepted jobs after a flush and after a restart of an empty Redis; cancels a lost queued job at once', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await app.request('/v1/edits', json({ prompt: `red hair ${i}`, seed: i, steps: 2 }));
      expect(res.status).toBe(202);
      ids.push(((await res.json()) as { id: string }).id);
    }
    expect(await waiting()).toBe(4);
    const admin = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 1 });
    await admin.flushall();
    admin.disconnect();
    expect(await waiting()).toBe(0);
    const cancelled = await app.request(`/v1/edits/${ids[0]}`, { method: 'DELETE' });
    expect(((await cancelled.json()) as { status: string }).status).toBe('cancelled');
    expect(await queue.reconcile()).toBe(3);
    expect(await waiting()).toBe(3);

    redis.kill('SIGKILL');
    await exited(redis);
    await startRedis();
    await waitFor(async () => (await waiting().catch(() => -1)) === 3, 'the jobs re-added on reconnect', 30_000);
    expect(logs.some((l) => /re-queued 3 job\(s\) that Redis had lost/.test(l))).toBe(true);
    expect(logs.some((l) => /Redis is reachable again/.test(l))).toBe(true);
    for (const id of ids.slice(1)) expect((await store.state(id))?.status).toBe('queued');
  }, 120_000);

  it('a worker logs one line when Redis goes away and one when it is back, in plain words, and then runs the jobs', async () => {
    const workerLogs: string[] = [];
    const worker = await startWorker({ url: `redis://127.0.0.1:${port}`, store, editor: services.editor, onePass: services.onePass, concurrency: 1, stallMs: 2000, log: (m) => workerLogs.push(m) });
    try {
      redis.kill('SIGKILL');
      await exited(redis);
      await new Promise((r) => setTimeout(r, 2500));
      await startRedis();
      await waitFor(async () => workerLogs.some((l) => /reachable again/.test(l)), 'the worker saying Redis is back', 30_000);
      const down = workerLogs.filter((l) => /unreachable/.test(l));
      expect(down).toHaveLength(1);
      // In plain words (which words depends on how the socket went: refused, reset, closed), never ioredis' own text.
      expect(down[0]).toMatch(/^Redis is unreachable \((connection refused( at [\d.:]+)?|the connection was reset|not connected|no answer in time)\); jobs wait until it is back$/);
      expect(workerLogs.filter((l) => /reachable again/.test(l))).toHaveLength(1);
      expect(workerLogs.join('\n')).not.toMatch(/ECONNREFUSED/);
      // The producer re-added the store's queued jobs to the empty Redis; the worker runs them.
      await waitFor(async () => {
        const states = await Promise.all((await store.list()).map((id) => store.state(id)));
        return states.filter((st) => st?.status === 'done').length === 3;
      }, 'the three re-added jobs done', 60_000);
    } finally {
      await worker.close(0);
    }
  }, 120_000);
});
