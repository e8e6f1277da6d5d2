import { afterEach, describe, expect, it } from 'vitest';
import * as E from '../../src/engine/index.js';
import { winogradConv, winogradMultiplies } from '../../src/engine/winograd.js';
import { WINOGRAD_TABLE } from '../../src/engine/winograd_table.js';
import { WINOGRAD_WGRAD_TABLE } from '../../src/engine/winograd_wgrad_table.js';
import { InputError } from '../../src/errors.js';
import { rng } from './gradcheck.js';

function randn(r: () => number, shape: number[], scale = 1): E.HostTensor {
  const d = new Float32Array(E.numel(shape));
  for (let i = 0; i < d.length; i++) d[i] = scale * Math.sqrt(-2 * Math.log(r() + 1e-12)) * Math.cos(2 * Math.PI * r());
  return E.tensor('float32', shape, d);
}

function relErr(a: E.HostTensor, ref: E.HostTensor): number {
  let e = 0;
  let m = 0;
  const [x, y] = [a.data as Float32Array, ref.data as Float32Array];
  expect(a.shape).toEqual(ref.shape);
  for (let i = 0; i < y.length; i++) {
    e = Math.max(e, Math.abs(x[i] - y[i]));
    m = Math.max(m, Math.abs(y[i]));
  }
  return e / m;
}

/** Lowers `g` with `mode` (checking how many convs it rewrote) and runs it once with no further lowering. */
async function lowerAndRun(g: E.Graph, mode: E.WinogradMode, expectLowered: number, feeds: Record<string, E.HostTensor>): Promise<Record<string, E.HostTensor>> {
  expect(E.lowerConvs(g, mode)).toHaveLength(mode === 'off' ? 0 : expectLowered);
  const s = await E.Session.create(g, { winograd: 'off' });
  try {
    return await s.run(feeds);
  } finally {
    await s.dispose();
  }
}

interface Case {
  readonly n: number;
  readonly c: number;
  readonly k: number;
  readonly h: number;
  readonly w: number;
  readonly pads: [number, number, number, number];
  readonly bias: boolean;
}

/** conv(x, W, b) run direct and through `build` (the same graph lowered or not). */
async function runConv(cs: Case, mode: E.WinogradMode, seed = 1): Promise<{ y: E.HostTensor; lowered: E.LoweredConv[]; graph: E.Graph }> {
  const r = rng(seed);
  const g = new E.Graph('wino');
  const x = g.input('x', 'float32', [cs.n, cs.c, cs.h, cs.w]);
  const wt = g.constant(randn(r, [cs.k, cs.c, 3, 3], 1 / Math.sqrt(9 * cs.c)), 'w');
  const b = cs.bias ? g.constant(randn(r, [cs.k]), 'b') : undefined;
  g.output(E.conv(x, wt, b, { pads: cs.pads }), 'y');
  const lowered = E.lowerConvs(g, mode);
  const s = await E.Session.create(g, { winograd: 'off' });
  try {
    return { y: (await s.run({ x: randn(r, [cs.n, cs.c, cs.h, cs.w]) })).y, lowered, graph: g };
  } finally {
    await s.dispose();
  }
}

const CASES: readonly Case[] = [
  { n: 1, c: 16, k: 24, h: 16, w: 16, pads: [1, 1, 1, 1], bias: false },
  { n: 2, c: 8, k: 8, h: 13, w: 9, pads: [1, 1, 1, 1], bias: true }, // partial tiles on both axes
  { n: 1, c: 4, k: 6, h: 10, w: 11, pads: [0, 2, 1, 0], bias: false }, // asymmetric pads, a 'valid' top
  { n: 3, c: 5, k: 3, h: 4, w: 4, pads: [2, 2, 2, 2], bias: true }, // the flipped input-gradient conv's pads
];

describe('Winograd conv lowering (Lavin & Gray 2016) vs onnxruntime direct Conv', () => {
  afterEach(() => {
    delete process.env[E.WINOGRAD_ENV];
  });

  for (const tile of ['f2', 'f4'] as const) {
    // Measured worst: F(2x2) 3.7e-7, F(4x4) 1.6e-6 (random weights and inputs, these shapes).
    const bound = tile === 'f2' ? 2e-6 : 1e-5;
    it(`${tile}: outputs equal the direct conv within ${bound} relative, every case (partial tiles, pads, bias, batch)`, async () => {
      for (const cs of CASES) {
        const direct = await runConv(cs, 'off');
        const lowered = await runConv(cs, tile);
        expect(lowered.lowered).toHaveLength(1);
        expect(relErr(lowered.y, direct.y)).toBeLessThanOrEqual(bound);
      }
    });
  }

  it("a lowered graph holds no Conv of the weight, drops the direct weight, and lowering it again changes nothing", async () => {
    const { graph } = await runConv(CASES[0], 'f4');
    expect(graph.initializers.has('w')).toBe(false);
    expect([...graph.initializers.keys()].some((k) => k.startsWith('w_winograd4'))).toBe(true);
    const nodes = graph.nodes.length;
    expect(E.lowerConvs(graph, 'f4')).toHaveLength(0);
    expect(graph.nodes.length).toBe(nodes);
  });

  it('leaves strided, dilated, grouped and 1x1 convs direct; lowers a graph-input weight (transformed in the graph)', () => {
    const g = new E.Graph('skip');
    const x = g.input('x', 'float32', [1, 8, 8, 8]);
    const k3 = (cin = 8): E.Value => g.constant(E.tensor('float32', [8, cin, 3, 3]), 'k');
    g.output(E.conv(x, k3(), undefined, { strides: [2, 2], pads: [1, 1, 1, 1] }), 'a');
    g.output(E.conv(x, k3(), undefined, { dilations: [2, 2], pads: [2, 2, 2, 2] }), 'b');
    g.output(E.conv(x, k3(4), undefined, { group: 2, pads: [1, 1, 1, 1] }), 'c');
    g.output(E.conv(x, g.constant(E.tensor('float32', [8, 8, 1, 1]), 'k1')), 'd');
    expect(E.lowerConvs(g, 'f4')).toHaveLength(0);
    g.output(E.conv(x, g.input('wi', 'float32', [8, 8, 3, 3]), undefined, { pads: [1, 1, 1, 1] }), 'e');
    expect(E.lowerConvs(g, 'f4')).toHaveLength(1);
  });

  it('a graph-valued weight (fed at run time): lowered output and input/weight gradients equal the direct ones within 1e-5', async () => {
    const r = rng(11);
    const feeds = { x: randn(r, [2, 6, 9, 9]), w: randn(r, [5, 6, 3, 3], 0.2), t: randn(r, [2, 5, 9, 9]) };
    const run = async (mode: E.WinogradMode): Promise<Record<string, E.HostTensor>> => {
      const g = new E.Graph('wgrad');
      const x = g.input('x', 'float32', [2, 6, 9, 9]);
      const w = g.input('w', 'float32', [5, 6, 3, 3]);
      const y = E.conv(x, w, undefined, { pads: [1, 1, 1, 1] });
      const [gx, gw] = E.grad(E.reduceSum(E.mul(y, g.input('t', 'float32', [2, 5, 9, 9]))), [x, w]);
      [y, gx, gw].forEach((v, i) => g.output(v, ['y', 'gx', 'gw'][i]));
      return lowerAndRun(g, mode, 3, feeds); // the forward conv, the flipped input-gradient conv, the weight gradient
    };
    const [off, on] = [await run('off'), await run('f4')];
    for (const k of ['y', 'gx', 'gw']) expect(relErr(on[k], off[k])).toBeLessThanOrEqual(1e-5);
  });

  for (const tile of ['f2', 'f4'] as const) {
    // Measured worst: F(3x3,2x2) 5.7e-7, F(3x3,4x4) 1.7e-6 (these shapes, random inputs).
    const bound = tile === 'f2' ? 2e-6 : 1e-5;
    it(`${tile}: the weight gradient F(3x3, m x m) equals the per-tap GEMM one within ${bound} relative (partial tiles, pads, batch)`, async () => {
      for (const cs of CASES) {
        const r = rng(5);
        const oh = cs.h + cs.pads[0] + cs.pads[2] - 2;
        const ow = cs.w + cs.pads[1] + cs.pads[3] - 2;
        const feeds = { x: randn(r, [cs.n, cs.c, cs.h, cs.w]), w: randn(r, [cs.k, cs.c, 3, 3], 0.2), t: randn(r, [cs.n, cs.k, oh, ow]) };
        const run = async (mode: E.WinogradMode): Promise<Record<string, E.HostTensor>> => {
          const g = new E.Graph('wgrad_only');
          const w = g.input('w', 'float32', [cs.k, cs.c, 3, 3]);
          const y = E.conv(g.input('x', 'float32', [cs.n, cs.c, cs.h, cs.w]), w, undefined, { pads: cs.pads });
          g.output(E.grad(E.reduceSum(E.mul(y, g.input('t', 'float32', [cs.n, cs.k, oh, ow]))), [w])[0], 'gw');
          const lowered = E.lowerConvs(g, mode).filter((l) => l.of === 'weight-grad');
          expect(lowered).toHaveLength(mode === 'off' ? 0 : 1);
          const s = await E.Session.create(g, { winograd: 'off' });
          try {
            return await s.run(feeds);
          } finally {
            await s.dispose();
          }
        };
        expect(relErr((await run(tile)).gw, (await run('off')).gw)).toBeLessThanOrEqual(bound);
      }
    });
  }

  it('the weight gradient is left as a ConvWeightGrad node that every lowering expands, the GPU ones to per-tap GEMMs', () => {
    const build = (): E.Graph => {
      const g = new E.Graph('wgrad_node');
      const w = g.input('w', 'float32', [4, 4, 3, 3]);
      const y = E.conv(g.input('x', 'float32', [1, 4, 8, 8]), w, undefined, { pads: [1, 1, 1, 1] });
      g.output(E.grad(E.reduceSum(y), [w])[0], 'gw');
      return g;
    };
    const g = build();
    expect(g.nodes.filter((n) => n.op === 'ConvWeightGrad')).toHaveLength(1);
    expect(E.lowerConvs(g, 'off')).toHaveLength(0);
    expect(g.nodes.some((n) => n.op === 'ConvWeightGrad')).toBe(false);
    expect(g.nodes.filter((n) => n.op === 'Gemm')).toHaveLength(9);
    const lowered = build();
    expect(E.lowerConvs(lowered, 'f4').map((l) => l.of)).toEqual(['conv', 'weight-grad']);
    expect(lowered.nodes.some((n) => n.op === 'ConvWeightGrad' || n.op === 'Gemm')).toBe(false);
  });

  it('gradients through a session with the lowering on equal those with it off (the flipped input-gradient conv is lowered too)', async () => {
    const r = rng(7);
    const build = (): E.Graph => {
      const g = new E.Graph('grad');
      const x = g.input('x', 'float32', [1, 12, 10, 10]);
      const k = g.constant(randn(rng(3), [12, 12, 3, 3], 0.1), 'k');
      const y = E.leakyRelu(E.conv(x, k, undefined, { pads: [1, 1, 1, 1] }), 0.2);
      const [gx] = E.grad(E.reduceSum(E.mul(y, g.input('t', 'float32', [1, 12, 10, 10]))), [x]);
      g.output(y, 'y');
      g.output(gx, 'gx');
      return g;
    };
    const feeds = { x: randn(r, [1, 12, 10, 10]), t: randn(r, [1, 12, 10, 10]) };
    const run = (mode: E.WinogradMode): Promise<Record<string, E.HostTensor>> => lowerAndRun(build(), mode, 2, feeds);
    const [off, on] = [await run('off'), await run('f4')];
    expect(relErr(on.y, off.y)).toBeLessThanOrEqual(1e-5);
    expect(relErr(on.gx, off.gx)).toBeLessThanOrEqual(1e-5);
  });

  it('the table: direct below its channels and for few channels at high resolution, F(4x4) for config-f 512 ch at 32 px', () => {
    const shape = (ch: number, size: number, batch = 1): E.ConvShape => ({ batch, inChannels: ch, outChannels: ch, height: size, width: size });
    expect(E.chooseTile(shape(16, 32))).toBe(0);
    expect(E.chooseTile(shape(8, 256))).toBe(0);
    expect(E.chooseTile(shape(32, 1024))).toBe(0);
    expect(E.chooseTile(shape(512, 32))).toBe(4);
    expect(E.chooseTile(shape(512, 4))).toBe(0);
    for (const row of WINOGRAD_TABLE) expect(E.chooseTile(shape(row.channels, row.size, row.batch))).toBe(row.tile);
  });

  it('the weight-gradient table: per-tap GEMMs for config-f 512 ch up to 16 px, F(3x3,4x4) for its 64-512 ch layers at 64-512 px', () => {
    const shape = (ch: number, size: number, batch = 2): E.ConvShape => ({ batch, inChannels: ch, outChannels: ch, height: size, width: size });
    expect(E.chooseTile(shape(512, 4), WINOGRAD_WGRAD_TABLE)).toBe(0);
    expect(E.chooseTile(shape(512, 16), WINOGRAD_WGRAD_TABLE)).toBe(0);
    for (const [ch, size] of [[512, 64], [256, 128], [128, 256], [64, 512]]) expect(E.chooseTile(shape(ch, size), WINOGRAD_WGRAD_TABLE)).toBe(4);
    for (const row of WINOGRAD_WGRAD_TABLE) expect(E.chooseTile(shape(row.channels, row.size, row.batch), WINOGRAD_WGRAD_TABLE)).toBe(row.tile);
  });

  it('the multiply count: F(4x4) needs 4x fewer than direct on whole tiles, F(2x2) 2.25x', () => {
    const f4 = winogradMultiplies(1, 512, 512, 32, 32, 4);
    const f2 = winogradMultiplies(1, 512, 512, 32, 32, 2);
    expect(f4.direct / f4.winograd).toBe(4);
    expect(f2.direct / f2.winograd).toBe(2.25);
  });

  it('STYLECLIP_WINOGRAD: 0 turns it off, sessions follow it, and a bad value is one clear InputError', async () => {
    process.env[E.WINOGRAD_ENV] = '0';
    expect(E.defaultWinograd()).toBe('off');
    process.env[E.WINOGRAD_ENV] = 'fast';
    expect(() => E.defaultWinograd()).toThrow(InputError);
    expect(() => E.defaultWinograd()).toThrow(/STYLECLIP_WINOGRAD must be one of 0, 1, auto, off, f2, f4, got 'fast'/);
    process.env[E.WINOGRAD_ENV] = 'f2';
    const g = new E.Graph('env');
    const x = g.input('x', 'float32', [1, 4, 6, 6]);
    g.output(E.conv(x, g.constant(E.tensor('float32', [4, 4, 3, 3]), 'w'), undefined, { pads: [1, 1, 1, 1] }), 'y');
    const s = await E.Session.create(g);
    await s.dispose();
    expect(g.nodes.some((n) => n.op === 'DepthToSpace')).toBe(true);
  });

  it('winogradConv builds the shapes it promises', () => {
    const g = new E.Graph('shape');
    const x = g.input('x', 'float32', [2, 3, 7, 5]);
    const y = winogradConv(x, new Float32Array(4 * 3 * 9), 4, undefined, [1, 1, 1, 1], 4);
    expect(y.shape).toEqual([2, 4, 7, 5]);
  });
});
