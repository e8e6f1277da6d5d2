/**
 * The ArcFace IR-SE loader on random weights in the official key layout (no real model_ir_se50.pth exists here):
 * a reduced-width network against an independent float64 forward of StyleCLIP's model_irse.py, and the full
 * IR-SE50 shapes read from a `torch.save` zip through src/io/torch.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Graph, Session, type HostTensor } from '../../src/engine/index.js';
import { ArcFaceIrSe } from '../../src/faces/arcface.js';
import { gradCheck, rng } from '../engine/gradcheck.js';
import { saveTorchStateDict } from './torch_writer.js';

interface Config {
  readonly c0: number;
  /** [depth, units] per stage (model_irse.py get_blocks). */
  readonly stages: readonly (readonly [number, number])[];
  readonly dim: number;
  readonly se: boolean;
}

const IR_SE_50: Config = { c0: 64, stages: [[64, 3], [128, 4], [256, 14], [512, 3]], dim: 512, se: true };
const SMALL: Config = { c0: 16, stages: [[16, 1], [32, 2], [48, 1], [64, 1]], dim: 32, se: true };

function randomStateDict(cfg: Config, seed: number): Map<string, HostTensor> {
  const r = rng(seed);
  const sd = new Map<string, HostTensor>();
  const put = (k: string, shape: number[], f: () => number): void => {
    const n = shape.reduce((a, b) => a * b, 1);
    sd.set(k, { dtype: 'float32', shape, data: Float32Array.from({ length: n }, f) });
  };
  /** Zero-mean uniform noise with standard deviation s. */
  const normal = (s: number) => () => s * Math.sqrt(3) * (2 * r() - 1);
  const bn = (p: string, c: number): void => {
    put(`${p}.weight`, [c], () => 0.8 + 0.4 * r());
    put(`${p}.bias`, [c], normal(0.1));
    put(`${p}.running_mean`, [c], normal(0.1));
    put(`${p}.running_var`, [c], () => 0.5 + r());
    sd.set(`${p}.num_batches_tracked`, { dtype: 'int64', shape: [], data: BigInt64Array.of(10n) });
  };
  put('input_layer.0.weight', [cfg.c0, 3, 3, 3], normal(Math.sqrt(2 / 27)));
  bn('input_layer.1', cfg.c0);
  put('input_layer.2.weight', [cfg.c0], () => 0.25);
  let cin = cfg.c0;
  let i = 0;
  for (const [depth, units] of cfg.stages) {
    for (let u = 0; u < units; u++, i++) {
      const p = `body.${i}`;
      const inC = u === 0 ? cin : depth;
      if (inC !== depth) {
        put(`${p}.shortcut_layer.0.weight`, [depth, inC, 1, 1], normal(Math.sqrt(1 / inC)));
        bn(`${p}.shortcut_layer.1`, depth);
      }
      bn(`${p}.res_layer.0`, inC);
      put(`${p}.res_layer.1.weight`, [depth, inC, 3, 3], normal(Math.sqrt(1 / (9 * inC))));
      put(`${p}.res_layer.2.weight`, [depth], () => 0.2 + 0.1 * r());
      put(`${p}.res_layer.3.weight`, [depth, depth, 3, 3], normal(0.5 * Math.sqrt(1 / (9 * depth))));
      bn(`${p}.res_layer.4`, depth);
      if (cfg.se) {
        put(`${p}.res_layer.5.fc1.weight`, [depth / 16, depth, 1, 1], normal(Math.sqrt(1 / depth)));
        put(`${p}.res_layer.5.fc2.weight`, [depth, depth / 16, 1, 1], normal(Math.sqrt(16 / depth)));
      }
    }
    cin = depth;
  }
  bn('output_layer.0', cin);
  put('output_layer.3.weight', [cfg.dim, cin * 49], normal(Math.sqrt(1 / (cin * 49))));
  put('output_layer.3.bias', [cfg.dim], normal(0.1));
  bn('output_layer.4', cfg.dim);
  return sd;
}

/** A C x H x W float64 feature map. */
interface Map3 {
  c: number;
  h: number;
  w: number;
  d: Float64Array;
}

/** Reference forward of model_irse.py Backbone in float64, written directly from the PyTorch module definitions. */
function referenceForward(sd: Map<string, HostTensor>, x: Map3): Float64Array {
  const t = (k: string): Float32Array => sd.get(k)!.data as Float32Array;
  const conv = (m: Map3, key: string, stride: number, pad: number): Map3 => {
    const w = sd.get(key)!;
    const [co, ci, k] = w.shape;
    const wd = w.data as Float32Array;
    const h = Math.floor((m.h + 2 * pad - k) / stride) + 1;
    const ww = Math.floor((m.w + 2 * pad - k) / stride) + 1;
    const d = new Float64Array(co * h * ww);
    for (let o = 0; o < co; o++)
      for (let y = 0; y < h; y++)
        for (let xx = 0; xx < ww; xx++) {
          let s = 0;
          for (let c = 0; c < ci; c++)
            for (let i = 0; i < k; i++) {
              const iy = y * stride + i - pad;
              if (iy < 0 || iy >= m.h) continue;
              for (let j = 0; j < k; j++) {
                const ix = xx * stride + j - pad;
                if (ix >= 0 && ix < m.w) s += wd[((o * ci + c) * k + i) * k + j] * m.d[(c * m.h + iy) * m.w + ix];
              }
            }
          d[(o * h + y) * ww + xx] = s;
        }
    return { c: co, h, w: ww, d };
  };
  const bn = (m: Map3, p: string): Map3 => {
    const [g, b, mu, v] = ['weight', 'bias', 'running_mean', 'running_var'].map((s) => t(`${p}.${s}`));
    const d = m.d.map((val, i) => {
      const c = Math.floor(i / (m.h * m.w));
      return ((val - mu[c]) / Math.sqrt(v[c] + 1e-5)) * g[c] + b[c];
    });
    return { ...m, d };
  };
  const prelu = (m: Map3, key: string): Map3 => ({ ...m, d: m.d.map((v, i) => (v > 0 ? v : v * t(key)[Math.floor(i / (m.h * m.w))])) });
  let h = prelu(bn(conv(x, 'input_layer.0.weight', 1, 1), 'input_layer.1'), 'input_layer.2.weight');
  for (let i = 0; sd.has(`body.${i}.res_layer.0.weight`); i++) {
    const p = `body.${i}`;
    const convShortcut = sd.has(`${p}.shortcut_layer.0.weight`);
    const stride = i === 0 || convShortcut ? 2 : 1;
    let shortcut: Map3;
    if (convShortcut) shortcut = bn(conv(h, `${p}.shortcut_layer.0.weight`, stride, 0), `${p}.shortcut_layer.1`);
    else {
      const oh = Math.ceil(h.h / stride);
      const ow = Math.ceil(h.w / stride);
      const d = new Float64Array(h.c * oh * ow);
      for (let c = 0; c < h.c; c++) for (let y = 0; y < oh; y++) for (let xx = 0; xx < ow; xx++) d[(c * oh + y) * ow + xx] = h.d[(c * h.h + y * stride) * h.w + xx * stride];
      shortcut = { c: h.c, h: oh, w: ow, d };
    }
    let r = bn(h, `${p}.res_layer.0`);
    r = prelu(conv(r, `${p}.res_layer.1.weight`, 1, 1), `${p}.res_layer.2.weight`);
    r = bn(conv(r, `${p}.res_layer.3.weight`, stride, 1), `${p}.res_layer.4`);
    if (sd.has(`${p}.res_layer.5.fc1.weight`)) {
      const hw = r.h * r.w;
      const pooled: Map3 = { c: r.c, h: 1, w: 1, d: Float64Array.from({ length: r.c }, (_, c) => r.d.subarray(c * hw, (c + 1) * hw).reduce((a, b) => a + b, 0) / hw) };
      const z = conv(pooled, `${p}.res_layer.5.fc1.weight`, 1, 0);
      z.d = z.d.map((v) => Math.max(0, v));
      const s = conv(z, `${p}.res_layer.5.fc2.weight`, 1, 0).d.map((v) => 1 / (1 + Math.exp(-v)));
      r = { ...r, d: r.d.map((v, k) => v * s[Math.floor(k / hw)]) };
    }
    h = { ...r, d: r.d.map((v, k) => v + shortcut.d[k]) };
  }
  const flat = bn(h, 'output_layer.0').d;
  const w = t('output_layer.3.weight');
  const bias = t('output_layer.3.bias');
  const dim = bias.length;
  const y = Float64Array.from({ length: dim }, (_, o) => {
    let s = bias[o];
    for (let k = 0; k < flat.length; k++) s += w[o * flat.length + k] * flat[k];
    return s;
  });
  const out = bn({ c: dim, h: 1, w: 1, d: y }, 'output_layer.4').d;
  const norm = Math.hypot(...out);
  return out.map((v) => v / norm);
}

function randomImages(n: number, size: number, seed: number): HostTensor {
  const r = rng(seed);
  return { dtype: 'float32', shape: [n, 3, size, size], data: Float32Array.from({ length: n * 3 * size * size }, () => r() * 2 - 1) };
}

async function embed(net: ArcFaceIrSe, x: HostTensor, aligned = false): Promise<Float32Array> {
  const g = new Graph();
  const v = g.input('x', 'float32', x.shape);
  g.output(aligned ? net.buildEmbedding(g, v) : net.buildNetwork(g, v), 'e');
  const s = await Session.create(g);
  const out = (await s.run({ x })).e.data as Float32Array;
  await s.dispose();
  return out;
}

describe('ArcFace IR-SE (model_irse.py key layout, random weights)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'styleclip-arcface-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  for (const se of [true, false]) {
    it(`reduced-width ${se ? 'IR-SE' : 'IR'} network matches a float64 forward of model_irse.py`, async () => {
      const sd = randomStateDict({ ...SMALL, se }, 3);
      const net = ArcFaceIrSe.fromStateDict(sd);
      const x = randomImages(1, 112, 4);
      const ours = await embed(net, x);
      const ref = referenceForward(sd, { c: 3, h: 112, w: 112, d: Float64Array.from(x.data as Float32Array) });
      const err = Math.max(...Array.from(ours, (v, i) => Math.abs(v - ref[i])));
      console.log(`ArcFace ${se ? 'IR-SE' : 'IR'} reduced width: max |engine - reference| ${err.toExponential(2)} (unit embeddings)`);
      expect(err).toBeLessThan(1e-4);
    }, 60_000);
  }

  it('gradients w.r.t. the input pixels match finite differences', async () => {
    const net = ArcFaceIrSe.fromStateDict(randomStateDict(SMALL, 5));
    const res = await gradCheck('float32', [{ shape: [1, 3, 112, 112] }], (_g, [x]) => net.buildNetwork(x.graph, x), { maxProbes: 6, eps: 1e-2 });
    console.log(`ArcFace gradient check: max error ${res.maxErr.toExponential(2)} vs max gradient ${res.maxRef.toExponential(2)}`);
    expect(res.maxErr).toBeLessThanOrEqual(0.05 * res.maxRef);
  }, 60_000);

  it('reads a full-size IR-SE50 state dict from a torch.save zip and embeds aligned images', async () => {
    const path = join(dir, 'model_ir_se50.pth');
    saveTorchStateDict(path, randomStateDict(IR_SE_50, 7));
    const net = await ArcFaceIrSe.load(path);
    expect(net.name).toBe('arcface-ir-se50');
    expect(net.dim).toBe(512);
    const e = await embed(net, randomImages(1, 256, 8), true);
    expect(e.length).toBe(512);
    expect(Math.hypot(...e)).toBeCloseTo(1, 4);
    net.dispose();
  }, 120_000);

  it('reports a missing or misshapen key by name', () => {
    const sd = randomStateDict(SMALL, 1);
    sd.delete('body.2.res_layer.4.running_var');
    expect(() => ArcFaceIrSe.fromStateDict(sd)).toThrow(/missing 'body.2.res_layer.4.running_var'/);
    const bad = randomStateDict(SMALL, 1);
    bad.set('output_layer.3.bias', { dtype: 'float32', shape: [7], data: new Float32Array(7) });
    expect(() => ArcFaceIrSe.fromStateDict(bad)).toThrow(/output_layer.3.bias/);
  });
});
