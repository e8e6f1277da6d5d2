/**
 * The Redis queue under faults (Debian's redis-server on 127.0.0.1, no workers so nothing drains): admission is
 * atomic across two API servers sharing one Redis (50 concurrent POSTs, queue size 16); with Redis stopped, POSTs and
 * /health answer 503 within a few seconds, no job is created and the log says once that Redis is down and once that
 * it is back; after a restart POSTs are accepted again. Idempotency keys make retries safe.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/server/app.js';
import { RedisQueue } from '../../src/jobs/redis_queue.js';
import { JobStore } from '../../src/jobs/store.js';
import { loadServices, type Services } from '../../src/jobs/wiring.js';
import { json, modelPaths, waitFor } from '../server/helpers.js';

const REDIS = '/usr/bin/redis-server';
const CAPACITY = 16;
const REQUESTS = 50;

let dir: string;
let port: number;
let redis: ChildProcess | undefined;
let services: Services;
let store: JobStore;
const queues: RedisQueue[] = [];
const logs: string[] = [];

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port: p } = s.address() as { port: number };
      s.close(() => resolve(p));
    });
  });
}

function startRedis(): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(REDIS, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (d) => {
      out += String(d);
      if (/Ready to accept/.test(out)) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`redis-server exited with ${code}: ${out}`)));
  });
}

const stopRedis = async (): Promise<void> => {
  const r = redis!;
  redis = undefined;
  const gone = new Promise((res) => r.once('exit', res));
  r.kill('SIGKILL');
  await gone;
};

function apiServer(): ReturnType<typeof createApp> {
  const queue = new RedisQueue(`redis://127.0.0.1:${port}`, store, CAPACITY, (m) => logs.push(m));
  queues.push(queue);
  return createApp({ ...services, store, queue, log: () => {} });
}

beforeAll(async () => {
  if (!existsSync(REDIS)) throw new Error(`${REDIS} is missing: install Debian's redis-server (.ci/run does)`);
  dir = await mkdtemp(join(tmpdir(), 'styleclip-redis-faults-'));
  port = await freePort();
  redis = await startRedis();
  store = await new JobStore(join(dir, 'store')).init();
  services = await loadServices(modelPaths());
});

afterAll(async () => {
  for (const q of queues) await q.close().catch(() => undefined);
  if (redis) await stopRedis();
  await services?.dispose();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const jobs = (): number => readdirSync(join(dir, 'store', 'edits')).length;

describe('Redis queue under faults', () => {
  it(`admission is atomic across 2 API servers: ${REQUESTS} concurrent POSTs, queue size ${CAPACITY} -> accepted + 429 == ${REQUESTS}, accepted <= ${CAPACITY}`, async () => {
    const [a, b] = [apiServer(), apiServer()];
    const codes = await Promise.all(
      Array.from({ length: REQUESTS }, (_, i) => Promise.resolve((i % 2 ? a : b).request('/v1/edits', json({ prompt: 'red hair', seed: i, steps: 5 }))).then((r) => r.status)),
    );
    const accepted = codes.filter((c) => c === 202).length;
    const full = codes.filter((c) => c === 429).length;
    console.log(`admission: ${accepted} x 202, ${full} x 429 of ${REQUESTS}`);
    expect(accepted + full).toBe(REQUESTS);
    expect(accepted).toBeLessThanOrEqual(CAPACITY);
    expect(accepted).toBe(CAPACITY);
    expect(jobs()).toBe(accepted);
  });

  it('a refused request (429) releases its Idempotency-Key claim, so the retry is judged again', async () => {
    const app = apiServer();
    // The queue is full from the previous test: a new key gets 429 and its claim is released, so a retry is not stuck.
    const headers = { 'content-type': 'application/json', 'idempotency-key': 'retry-1' };
    const full = await app.request('/v1/edits', { method: 'POST', headers, body: JSON.stringify({ prompt: 'a smile', seed: 1 }) });
    expect(full.status).toBe(429);
    const again = await app.request('/v1/edits', { method: 'POST', headers, body: JSON.stringify({ prompt: 'a smile', seed: 1 }) });
    expect(again.status).toBe(429);
  });

  it('Redis down: POST and /health answer 503 within a few seconds, no job is created, one log line; back: accepted again', async () => {
    const app = apiServer();
    await stopRedis();
    const before = jobs();
    const t0 = Date.now();
    const res = await app.request('/v1/edits', json({ prompt: 'red hair', seed: 99, steps: 5 }));
    const took = Date.now() - t0;
    expect(res.status).toBe(503);
    const message = ((await res.json()) as { error: { message: string } }).error.message;
    expect(message).toMatch(/job queue \(Redis\) is unreachable \((connection refused( at [\d.:]+)?|the connection was reset|not connected|no answer in time)\); retry in a few seconds/);
    expect(message).not.toMatch(/ECONNREFUSED|enableOfflineQueue|Stream isn't writeable/);
    const health = await app.request('/health');
    expect(health.status).toBe(503);
    expect(await health.json()).toMatchObject({ status: 'degraded', queue: { status: 'down' } });
    console.log(`Redis down: 503 after ${took} ms`);
    expect(took).toBeLessThanOrEqual(4000);
    expect(jobs()).toBe(before);
    await new Promise((r) => setTimeout(r, 2000));
    const downLines = logs.filter((l) => /unreachable/.test(l));
    expect(downLines.length).toBeLessThanOrEqual(queues.length);

    redis = await startRedis();
    const t1 = Date.now();
    await waitFor(async () => (await app.request('/health')).status === 200, 'the queue to come back', 20_000);
    // /health and submissions agree: once /health says 200, a POST is not refused for the queue being down.
    expect((await app.request('/v1/edits', json({ prompt: 'red hair', seed: 101, steps: 5 }))).status).not.toBe(503);
    // The restarted Redis is empty (no persistence): there is room again once every connection is back.
    await waitFor(async () => (await app.request('/v1/edits', json({ prompt: 'red hair', seed: 100, steps: 5 }))).status === 202, 'an accepted edit', 20_000);
    console.log(`Redis back: edits accepted again after ${Date.now() - t1} ms`);
    await waitFor(async () => logs.some((l) => /reachable again/.test(l)), 'the back-again log line', 5000);
    expect(logs.filter((l) => /reachable again/.test(l)).length).toBeLessThanOrEqual(queues.length);
  });
});
