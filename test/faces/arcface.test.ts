/**
 * The ArcFace IR-SE loader on random weights in the official key layout (no real model_ir_se50.pth exists here):
 * the official model_irse.py Backbone on random weights with reduced widths (../shared/fixtures/reference case
 * `arcface`: StyleCLIP's ID crop, embeddings, input gradient), finite differences, and the full IR-SE50 shapes read
 * from a `torch.save` zip through src/io/tensors/torch.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { Graph, Session, grad, mul, reduceSum, type HostTensor } from '../../src/engine/index.js';
import { ARCFACE_INPUT_SIZE, ArcFaceIrSe } from '../../src/faces/arcface.js';
import { buildIdCrop } from '../../src/faces/identity.js';
import { readNpy } from '../../src/io/tensors/npy.js';
import { fixture, maxAbsDiff } from '../helpers/shared.js';
import { gradCheck, rng } from '../engine/gradcheck.js';
import { saveTorchStateDict } from '../../src/io/tensors/torch_write.js';

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

const idCase = (): { id_loss_0_vs_1: number } =>
  (JSON.parse(readFileSync(fixture('manifest.json'), 'utf8')) as { cases: { kind: string; id_loss_0_vs_1: number }[] }).cases.find((c) => c.kind === 'arcface')!;

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

  it('official IR-SE50 (model_irse.py, case arcface): embeddings of arcface_input.npy vs arcface_embeds.npy (<= 1e-3 relative)', async () => {
    const net = await ArcFaceIrSe.load(fixture('arcface_tiny.pth'));
    expect(net.name).toBe('arcface-ir-se50');
    const ours = await embed(net, await readNpy(fixture('arcface_input.npy')));
    const expected = await readNpy(fixture('arcface_embeds.npy'));
    const { maxAbs, maxRef } = maxAbsDiff(ours, expected.data as Float32Array);
    console.log(`ArcFace fixture embeddings: max abs error ${maxAbs.toExponential(2)} (max |expected| ${maxRef.toFixed(3)})`);
    expect(maxAbs / maxRef).toBeLessThanOrEqual(1e-3);
    const cos = ours.slice(0, 64).reduce((a, v, i) => a + v * ours[64 + i], 0);
    expect(Math.abs(1 - cos - idCase().id_loss_0_vs_1)).toBeLessThanOrEqual(1e-3);
  });

  it("official IDLoss crop (x[:, :, 35:223, 32:220] + AdaptiveAvgPool2d(112)) of e4e_input.npy vs arcface_input.npy (<= 1e-5 abs)", async () => {
    const x = await readNpy(fixture('e4e_input.npy'));
    const g = new Graph();
    g.output(buildIdCrop(g.input('x', 'float32', x.shape), ARCFACE_INPUT_SIZE), 'crop');
    const s = await Session.create(g);
    const crop = (await s.run({ x })).crop;
    await s.dispose();
    const expected = await readNpy(fixture('arcface_input.npy'));
    expect(crop.shape).toEqual(expected.shape);
    expect(maxAbsDiff(crop.data as Float32Array, expected.data as Float32Array).maxAbs).toBeLessThanOrEqual(1e-5);
  });

  it('official IR-SE50: d/d(256 px input) of sum(embeds * r) through crop and pooling vs arcface_grad_input.npy (<= 2.2e-3 relative, measured 2.09e-3)', async () => {
    const net = await ArcFaceIrSe.load(fixture('arcface_tiny.pth'));
    const x = await readNpy(fixture('e4e_input.npy'));
    const g = new Graph();
    const xv = g.input('x', 'float32', x.shape);
    const r = g.input('r', 'float32', [x.shape[0], net.dim]);
    const [gx] = grad(reduceSum(mul(net.buildEmbedding(g, xv), r)), [xv]);
    g.output(gx, 'grad');
    const s = await Session.create(g);
    const ours = (await s.run({ x, r: await readNpy(fixture('arcface_grad_r.npy')) })).grad;
    await s.dispose();
    const expected = await readNpy(fixture('arcface_grad_input.npy'));
    expect(ours.shape).toEqual(expected.shape);
    const { maxAbs, maxRef } = maxAbsDiff(ours.data as Float32Array, expected.data as Float32Array);
    console.log(`ArcFace fixture input gradient: max abs error ${(maxAbs / maxRef).toExponential(2)} relative`);
    // Not the 1e-3: the reference is PyTorch's float32 gradient, which is itself 2.09e-3 (relative to the max)
    // from the float64 gradient of the same model and inputs, while ours is 8.5e-7 from that float64 gradient
    // (measured with Debian's PyTorch 1.13 running model_irse.py in float64). Ours minus the fixture is therefore
    // PyTorch's own float32 error; 2.2e-3 bounds it.
    expect(maxAbs / maxRef).toBeLessThanOrEqual(2.2e-3);
  });

  it('gradients w.r.t. the input pixels match finite differences', async () => {
    const net = ArcFaceIrSe.fromStateDict(randomStateDict(SMALL, 5));
    const res = await gradCheck('float32', [{ shape: [1, 3, 112, 112] }], (_g, [x]) => net.buildNetwork(x.graph, x), { maxProbes: 6, eps: 1e-2 });
    console.log(`ArcFace gradient check: max error ${res.maxErr.toExponential(2)} vs max gradient ${res.maxRef.toExponential(2)}`);
    expect(res.maxErr).toBeLessThanOrEqual(0.05 * res.maxRef);
  }, 60_000);

  it('reads a full-size IR-SE50 state dict from a torch.save zip and embeds aligned images', async () => {
    const path = join(dir, 'model_ir_se50.pth');
    await saveTorchStateDict(path, randomStateDict(IR_SE_50, 7));
    const net = await ArcFaceIrSe.load(path);
    expect(net.name).toBe('arcface-ir-se50');
    expect(net.dim).toBe(512);
    const e = await embed(net, randomImages(1, 256, 8), true);
    expect(e.length).toBe(512);
    expect(Math.hypot(...e)).toBeCloseTo(1, 4);
    net.dispose();
  }, 120_000);

  it('reports a missing, misshapen or unknown body key by name (unknown: through the rule-table mechanism of io/weight_map)', () => {
    const sd = randomStateDict(SMALL, 1);
    sd.delete('body.2.res_layer.4.running_var');
    expect(() => ArcFaceIrSe.fromStateDict(sd)).toThrow(/missing 'body.2.res_layer.4.running_var'/);
    const bad = randomStateDict(SMALL, 1);
    bad.set('output_layer.3.bias', { dtype: 'float32', shape: [7], data: new Float32Array(7) });
    expect(() => ArcFaceIrSe.fromStateDict(bad)).toThrow(/output_layer.3.bias/);
    const extra = randomStateDict(SMALL, 1);
    extra.set('body.1.res_layer.9.weight', { dtype: 'float32', shape: [4], data: new Float32Array(4) });
    expect(() => ArcFaceIrSe.fromStateDict(extra)).toThrow(/ArcFace IR-SE state dict: unknown keys: body\.1\.res_layer\.9\.weight/);
  });
});
