/**
 * Checkpoint loaders: rosinality key mapping errors (unknown / missing / mis-shaped keys, altered FIR buffers), CLIP
 * checkpoints passed as generators, the config-f layout, the NVIDIA stylegan2-ada mapping, and the way back (toRosinality).
 *
 * Parity of the NVIDIA loader with a pickle written by stylegan2-ada-pytorch itself is in parity.test.ts; here the
 * rosinality fixture's tensors rewritten in the `G_ema` layout of NVlabs/stylegan2-ada-pytorch `training/networks.py`
 * check that both loaders build the same generator and that key errors are named. The equivalences used:
 * - `style.{i+1}` = `mapping.fc{i}` (same stored values: both apply W * lr_mul / sqrt(in) and b * lr_mul at run time);
 *   `latent_avg` = `mapping.w_avg`; `input.input[0]` = `synthesis.b4.const`.
 * - `conv.modulation` = `affine` (gain 1/sqrt(in), bias initialised to 1 in both).
 * - styled convs: `conv.weight[0]` = `weight`. rosinality scales it by 1/sqrt(in k k) before demodulating, NVIDIA does
 *   not; demodulation divides any such gain out, so the images agree up to the 1e-8 demodulation epsilon.
 * - ToRGB: `conv.weight[0]` = `weight`; NVIDIA's 1/sqrt(in) gain on the styles equals rosinality's on the weight.
 * - `noise.weight[0]` = `noise_strength`; `noises.noise_{i}[0,0]` = `noise_const`; `activate.bias` = `bias`;
 *   `to_rgb.bias.view(3)` = `torgb.bias`.
 * - Up-sampling: both use conv_transpose2d(x, W^T, stride 2) without a kernel flip, then the [1,3,3,1] filter (gain 4,
 *   padding 1); skip images use upfirdn2d up=2 with pads (2,1) and gain 4. NVIDIA stores the filter normalised
 *   (`setup_filter`, gain 1) in every block and styled layer.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { HostTensor } from '../../src/engine/tensor.js';
import { CONFIG_F_FFHQ, Generator, synthesisLayers, weightShapes, weightsFromTensors } from '../../src/generator/index.js';
import { readNpy } from '../../src/io/tensors/npy.js';
import { loadTorchCheckpoint } from '../../src/io/tensors/torch.js';
import { toRosinality } from '../../src/generator/weights_rosinality.js';
import { fixture, maxAbsDiff } from '../helpers/shared.js';

const REL_TOL = 1e-3;
let rosinality: Map<string, HostTensor>;

beforeAll(async () => {
  rosinality = (await loadTorchCheckpoint(fixture('stylegan2_tiny.pt'))).tensors;
});

const reshaped = (t: HostTensor, shape: number[]): HostTensor => ({ ...t, shape });
const edited = (f: (m: Map<string, HostTensor>) => void): Map<string, HostTensor> => {
  const m = new Map(rosinality);
  f(m);
  return m;
};

describe('rosinality loader', () => {
  it('lists unknown keys', () => {
    const m = edited((x) => x.set('g_ema.extra.weight', rosinality.get('g_ema.style.1.bias')!));
    expect(() => weightsFromTensors(m, 'ckpt.pt')).toThrow(/ckpt\.pt \(g_ema\): unknown keys: extra\.weight/);
  });

  it('lists missing keys', () => {
    const m = edited((x) => {
      x.delete('g_ema.convs.3.noise.weight');
      x.delete('g_ema.noises.noise_8');
    });
    expect(() => weightsFromTensors(m, 'ckpt.pt')).toThrow(/missing keys: convs\.3\.noise\.weight, noises\.noise_8/);
  });

  it('reports shape mismatches', () => {
    const b = rosinality.get('g_ema.style.3.bias')!;
    const m = edited((x) => x.set('g_ema.style.3.bias', { dtype: 'float32', shape: [63], data: b.data.slice(1) }));
    expect(() => weightsFromTensors(m, 'ckpt.pt')).toThrow(/style\.3\.bias has shape \[63\], expected \[64\]/);
  });

  it('refuses FIR buffers that are not the [1,3,3,1] kernel', () => {
    const k = rosinality.get('g_ema.convs.0.conv.blur.kernel')!;
    const m = edited((x) => x.set('g_ema.convs.0.conv.blur.kernel', { ...k, data: (k.data as Float32Array).map((v) => v * 2) }));
    expect(() => weightsFromTensors(m, 'ckpt.pt')).toThrow(/convs\.0\.conv\.blur\.kernel is not the \[1,3,3,1\] FIR kernel/);
  });

  it('checks latent_avg', () => {
    const m = edited((x) => x.set('latent_avg', { dtype: 'float32', shape: [3], data: new Float32Array(3) }));
    expect(() => weightsFromTensors(m, 'ckpt.pt')).toThrow(/latent_avg is float32\[3\], expected float\[64\]/);
  });

  it('says a CLIP checkpoint is not a generator', async () => {
    for (const f of ['clip_vit_tiny.state_dict.pt', 'clip_vit_tiny.torchscript.pt']) {
      const clip = await loadTorchCheckpoint(fixture(f));
      expect(() => weightsFromTensors(clip.tensors, f)).toThrow(/is a CLIP model checkpoint, not a StyleGAN2 generator/);
    }
    await expect(Generator.load(fixture('clip_vit_tiny.state_dict.pt'))).rejects.toThrow(/CLIP/);
  });

  it('says what an unrelated checkpoint holds', () => {
    const m = new Map([['encoder.layer.weight', rosinality.get('g_ema.style.1.bias')!]]);
    expect(() => weightsFromTensors(m, 'x.pt')).toThrow(/x\.pt is not a StyleGAN2 generator checkpoint \(it holds encoder\)/);
  });
});

describe('config-f layout', () => {
  it('has the parameter count of the official FFHQ 1024 generator (30,370,060)', () => {
    let n = 0;
    for (const [name, shape] of weightShapes(CONFIG_F_FFHQ)) if (!name.endsWith('.noise_const')) n += shape.reduce((a, b) => a * b, 1);
    expect(n).toBe(30_370_060);
    expect(synthesisLayers(CONFIG_F_FFHQ).filter((l) => l.kind !== 'torgb')).toHaveLength(17);
  });
});

/** The rosinality fixture rewritten as the flattened `G_ema` tensors of a stylegan2-ada pickle (see header). */
function toNvidiaLayout(src: Map<string, HostTensor>): Map<string, HostTensor> {
  const g = (k: string): HostTensor => src.get(`g_ema.${k}`)!;
  const out = new Map<string, HostTensor>();
  const put = (k: string, t: HostTensor): void => void out.set(`G_ema.${k}`, t);
  const filter: HostTensor = { dtype: 'float32', shape: [4, 4], data: Float32Array.from({ length: 16 }, (_, i) => ([1, 3, 3, 1][i >> 2] * [1, 3, 3, 1][i & 3]) / 64) };
  for (let i = 0; i < 8; i++) {
    put(`mapping.fc${i}.weight`, g(`style.${i + 1}.weight`));
    put(`mapping.fc${i}.bias`, g(`style.${i + 1}.bias`));
  }
  put('mapping.w_avg', src.get('latent_avg')!);
  const c4 = g('input.input');
  put('synthesis.b4.const', reshaped(c4, c4.shape.slice(1)));
  const styled = (dst: string, from: string, noise: number, res: number): void => {
    const w = g(`${from}.conv.weight`);
    put(`${dst}.weight`, reshaped(w, w.shape.slice(1)));
    put(`${dst}.affine.weight`, g(`${from}.conv.modulation.weight`));
    put(`${dst}.affine.bias`, g(`${from}.conv.modulation.bias`));
    put(`${dst}.noise_strength`, reshaped(g(`${from}.noise.weight`), []));
    put(`${dst}.noise_const`, reshaped(g(`noises.noise_${noise}`), [res, res]));
    put(`${dst}.bias`, g(`${from}.activate.bias`));
    put(`${dst}.resample_filter`, filter);
  };
  const torgb = (dst: string, from: string): void => {
    const w = g(`${from}.conv.weight`);
    put(`${dst}.weight`, reshaped(w, w.shape.slice(1)));
    put(`${dst}.affine.weight`, g(`${from}.conv.modulation.weight`));
    put(`${dst}.affine.bias`, g(`${from}.conv.modulation.bias`));
    put(`${dst}.bias`, reshaped(g(`${from}.bias`), [3]));
  };
  styled('synthesis.b4.conv1', 'conv1', 0, 4);
  torgb('synthesis.b4.torgb', 'to_rgb1');
  put('synthesis.b4.resample_filter', filter);
  for (let j = 0, r = 8; r <= 64; j++, r *= 2) {
    styled(`synthesis.b${r}.conv0`, `convs.${2 * j}`, 2 * j + 1, r);
    styled(`synthesis.b${r}.conv1`, `convs.${2 * j + 1}`, 2 * j + 2, r);
    torgb(`synthesis.b${r}.torgb`, `to_rgbs.${j}`);
    put(`synthesis.b${r}.resample_filter`, filter);
  }
  // The pickle also holds the training networks; the loader ignores them.
  out.set('D.b64.fromrgb.weight', g('style.1.bias'));
  out.set('G.mapping.fc0.weight', g('style.1.weight'));
  return out;
}

describe('NVIDIA stylegan2-ada loader (G_ema)', () => {
  it('maps to the same generator as the rosinality checkpoint', async () => {
    const { config, weights } = weightsFromTensors(toNvidiaLayout(rosinality), 'network.pkl');
    expect(config).toEqual({ resolution: 64, wDim: 64, mappingLayers: 8, channels: { 4: 64, 8: 64, 16: 48, 32: 32, 64: 16 } });
    const gen = Generator.fromWeights(weights, config);
    try {
      expect([...gen.latentAvg!.data]).toEqual([...(await readNpy(fixture('sg2_latent_avg.npy'))).data]);
      const w = await gen.map(await readNpy(fixture('sg2_z.npy')));
      const wRef = await readNpy(fixture('sg2_w.npy'));
      const dw = maxAbsDiff(w.data as Float32Array, wRef.data as Float32Array);
      expect(dw.maxAbs).toBeLessThanOrEqual(REL_TOL * dw.maxRef);
      const img = await gen.synthesize(await readNpy(fixture('sg2_wplus.npy')));
      const ref = await readNpy(fixture('sg2_img_wplus.npy'));
      const d = maxAbsDiff(img.data as Float32Array, ref.data as Float32Array);
      console.log(`NVIDIA layout sg2_img_wplus: max abs err ${d.maxAbs.toExponential(3)}, ratio ${(d.maxAbs / d.maxRef).toExponential(3)}`);
      expect(d.maxAbs).toBeLessThanOrEqual(REL_TOL * d.maxRef);
    } finally {
      await gen.dispose();
    }
  });

  it('lists unknown and missing G_ema keys', () => {
    const m = toNvidiaLayout(rosinality);
    m.set('G_ema.synthesis.b8.conv0.extra', m.get('G_ema.mapping.w_avg')!);
    m.delete('G_ema.synthesis.b16.torgb.bias');
    expect(() => weightsFromTensors(m, 'network.pkl')).toThrow(/unknown keys: synthesis\.b8\.conv0\.extra; missing keys: synthesis\.b16\.torgb\.bias/);
  });

  it('refuses class-conditional generators', () => {
    const m = toNvidiaLayout(rosinality);
    m.set('G_ema.mapping.embed.weight', m.get('G_ema.mapping.fc0.weight')!);
    expect(() => weightsFromTensors(m, 'network.pkl')).toThrow(/class-conditional/);
  });
});

describe('toRosinality: our weights back to a rosinality g_ema state dict', () => {
  it('has the fixture file\'s keys in its order and equals its tensors within 1 ulp-scale (1e-6 relative)', async () => {
    const tensors = rosinality;
    const sd = new Map([...tensors].filter(([k]) => k.startsWith('g_ema.')).map(([k, t]) => [k.slice(6), t]));
    const loaded = weightsFromTensors(tensors, 'x');
    const back = toRosinality(loaded.weights, loaded.config);
    expect([...back.keys()]).toEqual([...sd.keys()]);
    for (const [k, t] of sd) {
      const { maxAbs, maxRef } = maxAbsDiff(back.get(k)!.data as Float32Array, t.data as Float32Array);
      expect(back.get(k)!.shape, k).toEqual(t.shape);
      expect(maxAbs, k).toBeLessThanOrEqual(1e-6 * Math.max(maxRef, 1e-30));
    }
  });
});
