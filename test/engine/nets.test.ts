import { describe, expect, it } from 'vitest';
import * as E from '../../src/engine/index.js';
import { gradCheck, rng } from './gradcheck.js';

function randn(r: () => number, shape: number[], scale = 1): E.HostTensor {
  const n = E.numel(shape);
  const d = new Float32Array(n);
  for (let i = 0; i < n; i++) d[i] = scale * Math.sqrt(-2 * Math.log(r() + 1e-12)) * Math.cos(2 * Math.PI * r());
  return E.tensor('float32', shape, d);
}

/** Two-layer MLP with a layer norm and tanh: y = W2 tanh(LN(W1 x + b1)) + b2. */
function mlp(x: E.Value, w1: E.Value, b1: E.Value, s: E.Value, c: E.Value, w2: E.Value, b2: E.Value): E.Value {
  const h = E.tanh(E.layerNorm(E.add(E.matmul(x, w1), b1), s, c));
  return E.add(E.matmul(h, w2), b2);
}

/** conv3x3 -> leaky relu -> stride-2 conv -> global average -> linear. */
function convNet(x: E.Value, k1: E.Value, k2: E.Value, w: E.Value): E.Value {
  const h = E.leakyRelu(E.conv(x, k1, undefined, { pads: [1, 1, 1, 1] }), 0.2);
  const h2 = E.leakyRelu(E.conv(h, k2, undefined, { strides: [2, 2], pads: [1, 1, 1, 1] }), 0.2);
  return E.matmul(E.reduceMean(h2, [2, 3]), w);
}

describe('small networks end to end', () => {
  it('MLP: gradients w.r.t. input and every parameter match finite differences', async () => {
    const res = await gradCheck(
      'float32',
      [{ shape: [4, 5] }, { shape: [5, 6] }, { shape: [6] }, { shape: [6] }, { shape: [6] }, { shape: [6, 3] }, { shape: [3] }],
      (_g, [x, w1, b1, s, c, w2, b2]) => mlp(x, w1, b1, s, c, w2, b2),
      { maxProbes: 12 },
    );
    expect(res.maxErr).toBeLessThanOrEqual(2e-3 * Math.max(1, res.maxRef));
  });

  it('conv net: gradients w.r.t. input and kernels match finite differences', async () => {
    const res = await gradCheck(
      'float32',
      [{ shape: [2, 3, 8, 8] }, { shape: [4, 3, 3, 3] }, { shape: [5, 4, 3, 3] }, { shape: [5, 2] }],
      (_g, [x, k1, k2, w]) => convNet(x, k1, k2, w),
      { maxProbes: 12 },
    );
    expect(res.maxErr).toBeLessThanOrEqual(2e-3 * Math.max(1, res.maxRef));
  });

  it('conv net: gradient descent through one session lowers a regression loss', async () => {
    const r = rng(3);
    const g = new E.Graph('train');
    const x = g.input('x', 'float32', [8, 3, 8, 8]);
    const target = g.input('t', 'float32', [8, 2]);
    const ks = [g.input('k1', 'float32', [4, 3, 3, 3]), g.input('k2', 'float32', [5, 4, 3, 3]), g.input('w', 'float32', [5, 2])];
    const err = E.sub(convNet(x, ks[0], ks[1], ks[2]), target);
    const loss = E.reduceMean(E.mul(err, err));
    const grads = E.grad(loss, ks);
    g.output(loss, 'loss');
    grads.forEach((d, i) => g.output(d, `g${i}`));
    const s = await E.Session.create(g);
    const feeds: Record<string, E.HostTensor> = {
      x: randn(r, [8, 3, 8, 8]),
      t: randn(r, [8, 2]),
      k1: randn(r, [4, 3, 3, 3], 0.3),
      k2: randn(r, [5, 4, 3, 3], 0.3),
      w: randn(r, [5, 2], 0.3),
    };
    const losses: number[] = [];
    for (let step = 0; step < 30; step++) {
      const out = await s.run(feeds);
      losses.push(out.loss.data[0] as number);
      ['k1', 'k2', 'w'].forEach((k, i) => {
        const p = feeds[k].data as Float32Array;
        const d = out[`g${i}`].data as Float32Array;
        for (let j = 0; j < p.length; j++) p[j] -= 0.5 * d[j];
      });
    }
    await s.dispose();
    expect(losses[29]).toBeLessThan(0.8 * losses[0]);
  });

  it('a constant-weight unit-stride conv differentiates with a plain Conv (no ConvTranspose)', () => {
    const g = new E.Graph();
    const x = g.input('x', 'float32', [1, 4, 8, 8]);
    const w = g.constant(E.f32([4, 4, 3, 3]), 'w');
    const y = E.conv(x, w, undefined, { pads: [1, 1, 1, 1] });
    E.grad(E.reduceSum(y), [x]);
    expect(g.nodes.map((n) => n.op)).not.toContain('ConvTranspose');
    expect(g.nodes.filter((n) => n.op === 'Conv')).toHaveLength(2);
  });

  it('shape errors are reported at build time', () => {
    const g = new E.Graph();
    const a = g.input('a', 'float32', [2, 3]);
    const b = g.input('b', 'float32', [4, 5]);
    expect(() => E.matmul(a, b)).toThrow(/inner dimensions/);
    expect(() => E.add(a, b)).toThrow(/do not broadcast/);
    expect(() => E.reshape(a, [4, 2])).toThrow(/cannot reshape/);
  });

  it('sessions check feeds and are shared by the cache', async () => {
    const build = (): E.Graph => {
      const g = new E.Graph();
      g.output(E.mul(g.input('x', 'float32', [3]), 2), 'y');
      return g;
    };
    const cache = new E.SessionCache({ threads: 1 });
    const [s1, s2] = await Promise.all([cache.forGraph(build()), cache.forGraph(build())]);
    expect(s1).toBe(s2);
    expect((await s1.run({ x: E.f32([3], [1, 2, 3]) })).y.data).toEqual(Float32Array.of(2, 4, 6));
    await expect(s1.run({ x: E.f32([4]) })).rejects.toThrow(/must be float32\[3\]/);
    await cache.dispose();
    expect(cache.size).toBe(0);
  });
});
