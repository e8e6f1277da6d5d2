import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { bytesOf, fileRegionOf, tensorBytes, toFloat32, type HostTensor } from '../../src/engine/tensor.js';
import { InputError } from '../../src/errors.js';
import { readNpy } from '../../src/io/tensors/npy.js';
import { loadTorchCheckpoint, parseTorchCheckpoint, type TorchCheckpoint } from '../../src/io/tensors/torch.js';
import { saveTorchStateDict } from '../../src/io/tensors/torch_write.js';
import { applyRules, scaled } from '../../src/io/tensors/weight_map.js';
import { fixture } from '../helpers/shared.js';

const DATA = join(dirname(fileURLToPath(import.meta.url)), 'data');
const floats = (t: HostTensor | undefined): number[] => Array.from(toFloat32(t!).data as Float32Array);

function expectSameTensors(a: TorchCheckpoint, b: TorchCheckpoint): void {
  expect([...a.tensors.keys()]).toEqual([...b.tensors.keys()]);
  for (const [name, t] of a.tensors) {
    const u = b.tensors.get(name)!;
    expect({ name, dtype: u.dtype, shape: u.shape }).toEqual({ name, dtype: t.dtype, shape: t.shape });
    expect(Buffer.from(bytesOf(u.data)).equals(Buffer.from(bytesOf(t.data))), name).toBe(true);
  }
}

function errorOf(f: () => unknown): Error {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error');
}

/** rosinality/stylegan2-pytorch Generator state_dict shapes for the manifest's config. */
function stylegan2Shapes(config: { size: number; style_dim: number; n_mlp: number; channels: Record<string, number> }): Map<string, number[]> {
  const s = config.style_dim;
  const ch = (r: number): number => config.channels[String(r)];
  const m = new Map<string, number[]>();
  for (let i = 1; i <= config.n_mlp; i++) m.set(`style.${i}.weight`, [s, s]).set(`style.${i}.bias`, [s]);
  m.set('input.input', [1, ch(4), 4, 4]);
  const styled = (p: string, inC: number, outC: number, k: number): void => {
    m.set(`${p}.weight`, [1, outC, inC, k, k]).set(`${p}.modulation.weight`, [inC, s]).set(`${p}.modulation.bias`, [inC]);
  };
  styled('conv1.conv', ch(4), ch(4), 3);
  m.set('conv1.noise.weight', [1]).set('conv1.activate.bias', [ch(4)]);
  styled('to_rgb1.conv', ch(4), 3, 1);
  m.set('to_rgb1.bias', [1, 3, 1, 1]);
  const logSize = Math.log2(config.size);
  for (let r = 3, i = 0; r <= logSize; r++, i++) {
    const inC = ch(2 ** (r - 1));
    const outC = ch(2 ** r);
    styled(`convs.${2 * i}.conv`, inC, outC, 3);
    m.set(`convs.${2 * i}.conv.blur.kernel`, [4, 4]);
    styled(`convs.${2 * i + 1}.conv`, outC, outC, 3);
    for (const j of [2 * i, 2 * i + 1]) m.set(`convs.${j}.noise.weight`, [1]).set(`convs.${j}.activate.bias`, [outC]);
    styled(`to_rgbs.${i}.conv`, outC, 3, 1);
    m.set(`to_rgbs.${i}.bias`, [1, 3, 1, 1]).set(`to_rgbs.${i}.upsample.kernel`, [4, 4]);
  }
  for (let j = 0; j < (logSize - 2) * 2 + 1; j++) {
    const r = 2 ** (2 + Math.floor((j + 1) / 2));
    m.set(`noises.noise_${j}`, [1, 1, r, r]);
  }
  return m;
}

describe('PyTorch checkpoints: shared reference fixtures', () => {
  const manifest = JSON.parse(readFileSync(fixture('manifest.json'), 'utf8')) as { cases: { kind: string; config: never }[] };
  const sg2Config = manifest.cases.find((c) => c.kind === 'stylegan2')!.config;

  it('reads the zip StyleGAN2 checkpoint with rosinality names and shapes', async () => {
    const ck = await loadTorchCheckpoint(fixture('stylegan2_tiny.pt'));
    expect(ck.format).toBe('zip');
    const expected = stylegan2Shapes(sg2Config);
    expect(new Set(ck.tensors.keys())).toEqual(new Set([...[...expected.keys()].map((k) => `g_ema.${k}`), 'latent_avg']));
    for (const [k, shape] of expected) expect({ k, shape: ck.tensors.get(`g_ema.${k}`)!.shape }).toEqual({ k, shape });
    for (const t of ck.tensors.values()) expect(t.dtype).toBe('float32');
    expect(ck.tensors.get('g_ema.style.1.weight')!.shape).toEqual([64, 64]);
    expect(ck.tensors.get('g_ema.noises.noise_8')!.shape).toEqual([1, 1, 64, 64]);
    expect(ck.tensors.get('latent_avg')!.shape).toEqual([64]);
    expect(floats(ck.tensors.get('latent_avg'))).toEqual(Array.from((await readNpy(fixture('sg2_latent_avg.npy'))).data as Float32Array));
    expect(ck.values).toEqual({});
  });

  it("torch.save's 64-byte aligned records are read in place: every float32 tensor is a view of the file's bytes", async () => {
    const bytes = readFileSync(fixture('stylegan2_tiny.pt'));
    const ck = parseTorchCheckpoint(bytes, 'stylegan2_tiny.pt');
    for (const [k, t] of ck.tensors) expect({ k, view: t.data.buffer === bytes.buffer }).toEqual({ k, view: true });
  });

  it('our torch.save writer aligns records as PyTorch does: its files read back in place, values unchanged', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'styleclip-torch-'));
    try {
      const src = parseTorchCheckpoint(readFileSync(fixture('stylegan2_tiny.pt')), 'stylegan2_tiny.pt');
      const sd = new Map([...src.tensors].filter(([k]) => k.startsWith('g_ema.')).map(([k, t]) => [k.slice('g_ema.'.length), t]));
      await saveTorchStateDict(join(dir, 'g.pt'), sd);
      const bytes = readFileSync(join(dir, 'g.pt'));
      const back = parseTorchCheckpoint(bytes, 'g.pt');
      for (const [k, t] of back.tensors) {
        expect({ k, view: t.data.buffer === bytes.buffer, offset: t.data.byteOffset % 64 }).toEqual({ k, view: true, offset: 0 });
        expect(Buffer.from(bytesOf(t.data)).equals(Buffer.from(bytesOf(sd.get(k)!.data))), k).toBe(true);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a zip checkpoint file is read in place: tensors are file regions read on first use, equal to the in-memory parse', async () => {
    const path = fixture('stylegan2_tiny.pt');
    const bytes = readFileSync(path);
    const inPlace = await loadTorchCheckpoint(path);
    for (const [k, t] of inPlace.tensors) {
      const r = fileRegionOf(t)!;
      expect({ k, path: r.path, aligned: r.offset % 64 }).toEqual({ k, path, aligned: 0 });
      expect(Buffer.from(bytes.subarray(r.offset, r.offset + tensorBytes(t))).equals(Buffer.from(bytesOf(t.data))), k).toBe(true);
    }
    expectSameTensors(inPlace, parseTorchCheckpoint(bytes, path));
    // the mixed layouts (strided views, shared storages, every dtype) read in place as from memory
    expectSameTensors(await loadTorchCheckpoint(join(DATA, 'mixed.pt')), parseTorchCheckpoint(readFileSync(join(DATA, 'mixed.pt')), 'mixed.pt'));
  });

  it('a spread copy or a rule-table output of a file tensor is an ordinary tensor (no file region) with the same values', async () => {
    const ck = await loadTorchCheckpoint(fixture('stylegan2_tiny.pt'));
    const [k, t] = [...ck.tensors].find(([, x]) => x.dtype === 'float32')!;
    const copy = { ...t, shape: [t.data.length] };
    expect(fileRegionOf(copy)).toBeUndefined();
    expect(Array.from(copy.data as Float32Array)).toEqual(floats(t));
    const mapped = applyRules(new Map([[k, t]]), [{ src: k, dst: 'x', shape: t.shape, transform: scaled(2) }], 'one tensor').get('x')!;
    expect(fileRegionOf(mapped)).toBeUndefined();
    expect(floats(mapped)).toEqual(floats(t).map((v) => Math.fround(v * 2)));
  });

  it('a rule table that keeps under half of a file copies its tensors out of the file (the buffer is not pinned); most of it stays in place', () => {
    const bytes = readFileSync(fixture('stylegan2_tiny.pt'));
    const ck = parseTorchCheckpoint(bytes, 'stylegan2_tiny.pt');
    const rule = (k: string) => ({ src: k, dst: k, shape: ck.tensors.get(k)!.shape });
    const small = applyRules(new Map([['latent_avg', ck.tensors.get('latent_avg')!]]), [rule('latent_avg')], 'one tensor');
    expect(small.get('latent_avg')!.data.buffer === bytes.buffer).toBe(false);
    expect(floats(small.get('latent_avg'))).toEqual(floats(ck.tensors.get('latent_avg')));
    const all = applyRules(ck.tensors, [...ck.tensors.keys()].map(rule), 'every tensor');
    for (const t of all.values()) expect(t.data.buffer === bytes.buffer).toBe(true);
  });

  it('reads the legacy StyleGAN2 checkpoint identically to the zip one', async () => {
    const zip = await loadTorchCheckpoint(fixture('stylegan2_tiny.pt'));
    const legacy = await loadTorchCheckpoint(fixture('stylegan2_tiny.legacy.pt'));
    expect(legacy.format).toBe('legacy');
    expectSameTensors(zip, legacy);
    expect(legacy.values).toEqual({});
  });

  it('reads the TorchScript CLIP (fp16) with state_dict names and the state dict CLIP with equal values', async () => {
    const ts = await loadTorchCheckpoint(fixture('clip_vit_tiny.torchscript.pt'));
    const sd = await loadTorchCheckpoint(fixture('clip_vit_tiny.state_dict.pt'));
    expect(ts.format).toBe('torchscript');
    expect(sd.format).toBe('zip');
    const shapes: Record<string, number[]> = {
      'visual.conv1.weight': [128, 3, 32, 32],
      'visual.class_embedding': [128],
      'visual.positional_embedding': [50, 128],
      'visual.proj': [128, 64],
      'visual.transformer.resblocks.0.attn.in_proj_weight': [384, 128],
      'visual.transformer.resblocks.1.mlp.c_proj.weight': [128, 512],
      'visual.ln_post.bias': [128],
      positional_embedding: [77, 128],
      'token_embedding.weight': [49408, 128],
      'transformer.resblocks.1.attn.out_proj.weight': [128, 128],
      'ln_final.weight': [128],
      text_projection: [128, 64],
      logit_scale: [],
    };
    for (const ck of [ts, sd]) {
      expect(ck.tensors.size).toBe(62);
      for (const [k, shape] of Object.entries(shapes)) expect({ k, shape: ck.tensors.get(k)?.shape }).toEqual({ k, shape });
    }
    expect([...ts.tensors.values()].every((t) => t.dtype === 'float16')).toBe(true);
    expect(new Set(ts.tensors.keys())).toEqual(new Set(sd.tensors.keys()));
    // fp16 rounding of an fp32 value: relative error <= 2^-11, absolute 2^-25 near zero (half of the smallest subnormal)
    for (const [k, t] of ts.tensors) {
      const a = toFloat32(t).data as Float32Array;
      const b = toFloat32(sd.tensors.get(k)!).data as Float32Array;
      let worst = 0;
      for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) - Math.abs(b[i]) * 2 ** -11 - 2 ** -25);
      expect({ k, worst: worst <= 0 }).toEqual({ k, worst: true });
    }
    expect(floats(ts.tensors.get('logit_scale'))[0]).toBeCloseTo(Math.log(100), 2);
  });
});

describe('PyTorch checkpoints: layouts, dtypes and pickled networks (test/io/data)', () => {
  it('materialises strided views, offsets, shared storages and every dtype, in zip and legacy format alike', async () => {
    const zip = await loadTorchCheckpoint(join(DATA, 'mixed.pt'));
    const legacy = await loadTorchCheckpoint(join(DATA, 'mixed.legacy.pt'));
    expect([zip.format, legacy.format]).toEqual(['zip', 'legacy']);
    expectSameTensors(zip, legacy);
    const t = zip.tensors;
    const base = Array.from({ length: 24 }, (_, i) => i);
    expect(floats(t.get('base'))).toEqual(base);
    expect(t.get('transposed')!.shape).toEqual([4, 2, 3]);
    expect(floats(t.get('transposed'))).toEqual([0, 4, 8, 12, 16, 20, 1, 5, 9, 13, 17, 21, 2, 6, 10, 14, 18, 22, 3, 7, 11, 15, 19, 23]);
    expect(floats(t.get('slice'))).toEqual([13, 14, 17, 18, 21, 22]);
    expect(floats(t.get('row'))).toEqual([20, 21, 22, 23]);
    expect(floats(t.get('expanded'))).toEqual([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]);
    expect(t.get('half')!.dtype).toBe('float16');
    expect(floats(t.get('half'))).toEqual([0, 0.5, 1, 1.5, 2, 2.5]);
    expect(floats(t.get('half_t'))).toEqual([0, 1.5, 0.5, 2, 1, 2.5]);
    expect(t.get('bf16')!.dtype).toBe('bfloat16');
    expect(floats(t.get('bf16'))).toEqual([1.5, -2, 3.25]);
    expect(Array.from(t.get('f64')!.data as Float64Array)).toEqual([Math.PI, -1e300]);
    expect(Array.from(t.get('i64')!.data as BigInt64Array)).toEqual([-(2n ** 40n), 7n]);
    expect([t.get('i32'), t.get('i16'), t.get('i8'), t.get('u8'), t.get('bool')].map((x) => [x!.dtype, Array.from(x!.data as Int32Array)])).toEqual([
      ['int32', [-5, 6]],
      ['int16', [-300, 300]],
      ['int8', [-7, 7]],
      ['uint8', [0, 255]],
      ['bool', [1, 0, 1]],
    ]);
    expect([t.get('scalar')!.shape, floats(t.get('scalar'))]).toEqual([[], [2.5]]);
    expect([t.get('empty')!.shape, t.get('empty')!.data.length]).toEqual([[0, 3], 0]);
    expect(floats(t.get('param'))).toEqual([4, 4, 4, 4]);
    expect(floats(t.get('nested.a.b'))).toEqual([1, 1]);
    expect(floats(t.get('nested.list.1'))).toEqual([1]);
    const values = { number: 3, ratio: 0.25, name: 'hello', ints: [1, 2, 3], big: 2n ** 62n, nothing: null };
    expect(zip.values).toEqual(values);
    expect(legacy.values).toEqual(values);
  });

  it('flattens a plain-pickled network (stylegan2-ada persistence objects, nn.Modules, numpy) into state_dict names', async () => {
    const ck = await loadTorchCheckpoint(join(DATA, 'network.pkl'));
    expect(ck.format).toBe('pickle');
    expect([...ck.tensors.keys()]).toEqual([
      'G_ema.mapping.weight',
      'G_ema.mapping.bias',
      'G_ema.synthesis.resample_filter',
      'G_ema.synthesis.conv.weight',
      'G_ema.synthesis.conv.bias',
      'plain.0.weight',
      'np',
    ]);
    expect(floats(ck.tensors.get('G_ema.mapping.weight'))).toEqual(Array.from({ length: 16 }, (_, i) => i));
    expect(floats(ck.tensors.get('G_ema.synthesis.resample_filter'))).toEqual([0, 1, 2, 3]);
    expect(ck.tensors.get('G_ema.synthesis.conv.weight')!.shape).toEqual([3, 2, 1, 1]);
    expect(ck.tensors.get('np')).toMatchObject({ dtype: 'float32', shape: [2, 3] });
    expect(floats(ck.tensors.get('np'))).toEqual([0, 1, 2, 3, 4, 5]);
    expect(ck.values).toMatchObject({
      'G_ema.z_dim': 4,
      'G_ema._init_kwargs.z_dim': 4,
      'G_ema._init_kwargs.mapping_kwargs.num_layers': 2,
      'G_ema.synthesis.resolution': 4,
      'G_ema.synthesis.conv.kernel_size': [1, 1],
      'training_set_kwargs.resolution': 64,
      np_scalar: 1.5,
      np_int: -9,
    });
    const bookkeeping = Object.keys(ck.values).filter((k) => k.endsWith('.training') || /\._(?!init_kwargs\.)/.test(k));
    expect(bookkeeping).toEqual([]);
  });
});

describe('PyTorch checkpoints: bad input', () => {
  it('rejects truncated files, random bytes, non-checkpoint zips and missing paths with clear InputErrors', async () => {
    const zip = readFileSync(fixture('stylegan2_tiny.pt'));
    const legacy = readFileSync(fixture('stylegan2_tiny.legacy.pt'));
    let seed = 12345;
    const random = Uint8Array.from({ length: 4096 }, () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) >>> 16);
    random[0] = 0x42;
    const cases: [Uint8Array, RegExp][] = [
      [zip.subarray(0, zip.length >> 1), /truncated or not a zip/],
      [legacy.subarray(0, 2000), /truncated pickle/],
      [legacy.subarray(0, legacy.length - 100), /truncated/],
      [random, /not a PyTorch checkpoint/],
      [new Uint8Array(0), /not a PyTorch checkpoint/],
      [readFileSync(join(DATA, 'not_a_checkpoint.zip')), /without data\.pkl is not a PyTorch checkpoint/],
    ];
    for (const [bytes, message] of cases) {
      const e = errorOf(() => parseTorchCheckpoint(bytes, 'model.pt'));
      expect(e).toBeInstanceOf(InputError);
      expect(e.message).toMatch(message);
      expect(e.message).toMatch(/^model\.pt/);
    }
    await expect(loadTorchCheckpoint(join(DATA, 'no-such-file.pt'))).rejects.toThrow(/cannot read .*ENOENT/);
    // a truncated file read in place fails at parse time as in memory
    const dir = mkdtempSync(join(tmpdir(), 'styleclip-torch-'));
    try {
      for (const cut of [zip.length >> 1, zip.length - 30]) {
        writeFileSync(join(dir, 'cut.pt'), zip.subarray(0, cut));
        await expect(loadTorchCheckpoint(join(dir, 'cut.pt'))).rejects.toThrow(/truncated/);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('keeps hostile names as plain data', () => {
    // protocol 2 pickle of {'__proto__': 1, 'x': os.system('id')}
    const op = (...b: (number | string)[]): Buffer => Buffer.concat(b.map((x) => (typeof x === 'string' ? Buffer.from(x, 'latin1') : Buffer.from([x]))));
    const pickle = op(0x80, 2, 0x7d, 0x28, 0x58, 9, 0, 0, 0, '__proto__', 0x4b, 1, 0x58, 1, 0, 0, 0, 'x', 'cos\nsystem\n', 0x58, 2, 0, 0, 0, 'id', 0x85, 'R', 0x75, '.');
    const ck = parseTorchCheckpoint(pickle);
    expect(ck.format).toBe('pickle');
    expect(Object.getPrototypeOf(ck.values)).toBe(Object.prototype);
    expect(Object.keys(ck.values)).toEqual(['__proto__', 'x']);
    expect(ck.values.x).toMatchObject({ global: 'os.system', args: ['id'] });
  });
});
