/**
 * Sessions on a worker thread (src/engine/session_worker.ts): the same outputs as on the event loop (bit-equal),
 * outputs chosen by name and written into given tensors, compiled entries built and opened there, the event loop free
 * while an inference runs, and onnxruntime's errors passed on.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as E from '../../src/engine/index.js';
import { compiledSession } from '../../src/engine/compiled.js';
import { Session } from '../../src/engine/session.js';
import { rng } from './gradcheck.js';

const dir = mkdtempSync(join(tmpdir(), 'styleclip-worker-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const r = rng(5);
const random = (shape: number[]): E.HostTensor => E.tensor('float32', shape, Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => r() - 0.5));
const C = 32;
const S = 96;
const weights = random([C, C, 3, 3]);
const x = random([1, C, S, S]);

/** Two outputs: a conv + LeakyReLU, and its sum. */
function build(): E.Graph {
  const g = new E.Graph('worker_test');
  const y = E.leakyRelu(E.conv(g.input('x', 'float32', [1, C, S, S]), g.constant(weights, 'w'), undefined, { pads: [1, 1, 1, 1] }), 0.2);
  g.output(y, 'y');
  g.output(E.reduceSum(y, [1, 2, 3], false), 'total');
  return g;
}

const bits = (t: E.HostTensor): Buffer => Buffer.from((t.data as Float32Array).buffer, (t.data as Float32Array).byteOffset, (t.data as Float32Array).byteLength);

describe('sessions on a worker thread', () => {
  it('give the event loop\'s outputs bit for bit; outputs by name; `into` tensors are written and returned', async () => {
    const main = await Session.create(build(), { thread: 'main' });
    const worker = await Session.create(build(), { thread: 'worker' });
    try {
      const [a, b] = [await main.run({ x }), await worker.run({ x })];
      expect(b.y.shape).toEqual([1, C, S, S]);
      expect(bits(b.y).equals(bits(a.y))).toBe(true);
      expect(bits(b.total).equals(bits(a.total))).toBe(true);
      expect(Object.keys(await worker.run({ x }, ['total']))).toEqual(['total']);
      const into = { y: E.tensor('float32', [1, C, S, S]) };
      const out = await worker.run({ x }, ['y'], into);
      expect(out.y.data).toBe(into.y.data);
      expect(bits(into.y).equals(bits(a.y))).toBe(true);
      await expect(worker.run({})).rejects.toThrow(/missing input 'x'/);
    } finally {
      await Promise.all([main.dispose(), worker.dispose()]);
    }
  });

  it('the event loop runs while an inference runs; a released session refuses further runs', async () => {
    const s = await Session.create(build(), { thread: 'worker' });
    let ticks = 0;
    let on = true;
    const tick = (): void => {
      ticks++;
      if (on) setTimeout(tick, 0);
    };
    setTimeout(tick, 0);
    for (let i = 0; i < 5; i++) await s.run({ x });
    on = false;
    expect(ticks).toBeGreaterThan(0);
    await s.dispose();
    await expect(s.run({ x })).rejects.toThrow(/session worker exited/);
  });

  it('a compiled entry is built, saved and reopened in the worker; onnxruntime\'s refusal of a model is passed on', async () => {
    const cache = { dir: join(dir, 'compiled'), source: 'w' };
    const open = (m: Uint8Array | string, i: Parameters<typeof Session.open>[1], o: Parameters<typeof Session.open>[2]) => Session.open(m, i, o);
    const reference = await Session.create(build());
    try {
      const want = (await reference.run({ x })).y;
      for (let round = 0; round < 2; round++) {
        const s = await compiledSession(cache, 'worker:1', build, { thread: 'worker' }, open);
        expect(bits((await s.run({ x })).y).equals(bits(want))).toBe(true);
        await s.dispose();
      }
    } finally {
      await reference.dispose();
    }
    await expect(Session.open(new Uint8Array([1, 2, 3, 4]), [], { thread: 'worker' })).rejects.toThrow(/protobuf|parse|model/i);
  });
});
