/**
 * StyleCLIP global directions against the official global_torch code on the tiny fixtures (../shared/fixtures/reference
 * case `global_directions`): S statistics (S_mean_std, from the 2000 gd_z rows), fs3 (8 images, alpha 5), the text
 * direction dt over the 79 templates, the boundary at beta 0.1, edited S codes and their renders; and the real FFHQ
 * S_mean_std from ../shared/data/stylespace.
 */
import { readFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HostTensor } from '../../src/engine/tensor.js';
import {
  GlobalDirections, channelDirections, computeChannelDirections, computeStyleStats, coveredLayers, parseStyleStats, styleStatsPickle, stylesOfZ,
} from '../../src/edit/global/index.js';
import { CONFIG_F_FFHQ, styleSpaceLayout } from '../../src/generator/index.js';
import { readNpy } from '../../src/io/tensors/npy.js';
import { fixtureSources } from '../helpers/models.js';
import { fixture, maxAbsDiff, sharedPath } from '../helpers/shared.js';

interface GdCase {
  kind: string;
  step: string;
  target: string;
  neutral: string;
  beta: number;
  channels_kept: number;
  alphas: number[];
}
const gd = (step: string): GdCase =>
  (JSON.parse(readFileSync(fixture('manifest.json'), 'utf8')) as { cases: GdCase[] }).cases.find((c) => c.kind === 'global_directions' && c.step === step)!;

const npy = (f: string): Promise<HostTensor> => readNpy(fixture(f));
const err = (a: ArrayLike<number>, b: ArrayLike<number>): { abs: number; rel: number } => {
  const { maxAbs, maxRef } = maxAbsDiff(a, b);
  return { abs: maxAbs, rel: maxAbs / maxRef };
};

let dirs: GlobalDirections;
beforeAll(async () => {
  const src = fixtureSources();
  dirs = await GlobalDirections.load({ ...src, fs3: fixture('fs3.npy'), stats: fixture('S_mean_std') });
});
afterAll(async () => dirs?.dispose());

describe('global directions parity (global_torch on the tiny fixtures)', () => {
  it('reads S_mean_std (numpy protocol-3 pickle) and fs3 coverage: 5 conv layers to 16 px, 304 channels', () => {
    expect(dirs.fs3.count).toBe(304);
    expect(dirs.fs3.layers.map((l) => l.name)).toEqual(['conv1_resolution_4', 'conv0_resolution_8', 'conv1_resolution_8', 'conv0_resolution_16', 'conv1_resolution_16']);
  });

  it('S statistics of the 2000 gd_z rows (truncation 0.7) vs S_mean_std: mean and std <= 1e-3 x max', async () => {
    const stats = await computeStyleStats(dirs.generator, await npy('gd_z.npy'));
    const m = err(stats.mean, dirs.stats.mean);
    const s = err(stats.std, dirs.stats.std);
    console.log(`S stats: mean ${m.abs.toExponential(2)} abs (${m.rel.toExponential(2)} rel), std ${s.abs.toExponential(2)} abs (${s.rel.toExponential(2)} rel)`);
    expect(m.rel).toBeLessThanOrEqual(1e-3);
    expect(s.rel).toBeLessThanOrEqual(1e-3);
    const back = parseStyleStats(styleStatsPickle(stats, dirs.layout), dirs.layout);
    expect([...back.mean]).toEqual([...stats.mean]);
    expect([...back.std]).toEqual([...stats.std]);
  });

  it('text direction dt ("face with purple hair" vs "face with hair", 79 templates) vs gd_dt.npy (<= 1e-4 abs)', async () => {
    const c = gd('dt');
    const { dt } = await dirs.direction(c.target, c.neutral);
    const e = err(dt, (await npy('gd_dt.npy')).data as Float32Array);
    console.log(`dt: ${e.abs.toExponential(2)} abs`);
    expect(e.abs).toBeLessThanOrEqual(1e-4);
  });

  it('boundary at beta 0.1 (90 channels kept) vs gd_ds_imp.npy and gd_boundary.npy (<= 1e-4 abs)', async () => {
    const c = gd('boundary');
    const b = await dirs.boundaryOf({ prompt: gd('dt').target, neutral: gd('dt').neutral, beta: c.beta });
    expect(b.kept).toBe(c.channels_kept);
    expect(err(b.dsImp, (await npy('gd_ds_imp.npy')).data as Float32Array).abs).toBeLessThanOrEqual(1e-4);
    const e = err(b.ds, (await npy('gd_boundary.npy')).data as Float32Array);
    console.log(`boundary: ${e.abs.toExponential(2)} abs`);
    expect(e.abs).toBeLessThanOrEqual(1e-4);
  });

  it('edited S codes (alpha 4, -2) vs gd_s_edited.npy and their renders vs gd_img_edited.npy (<= 1e-3 x max)', async () => {
    const c = gd('boundary');
    const s0 = await npy('s_codes.npy');
    const row0: HostTensor = { dtype: 'float32', shape: [1, 656], data: (s0.data as Float32Array).slice(0, 656) };
    const edited: number[] = [];
    for (const alpha of c.alphas) edited.push(...((await dirs.apply(row0, [{ prompt: gd('dt').target, neutral: gd('dt').neutral, beta: c.beta, alpha }])).data as Float32Array));
    const se = err(edited, (await npy('gd_s_edited.npy')).data as Float32Array);
    expect(se.rel).toBeLessThanOrEqual(1e-3);
    const img = await dirs.generator.synthesizeFromStyles({ dtype: 'float32', shape: [2, 656], data: Float32Array.from(edited) });
    const ie = err(img.data as Float32Array, (await npy('gd_img_edited.npy')).data as Float32Array);
    console.log(`edited S ${se.rel.toExponential(2)}, images ${ie.rel.toExponential(2)} relative`);
    expect(ie.rel).toBeLessThanOrEqual(1e-3);
  });

  it('fs3 of the first 8 gd_z images (alpha 5, uint8 truncation, set-to-mean quirk) vs fs3.npy (<= 2e-3 abs)', async () => {
    const z = await npy('gd_z.npy');
    const codes = await stylesOfZ(dirs.generator, { dtype: 'float32', shape: [8, 64], data: (z.data as Float32Array).slice(0, 8 * 64) });
    const rows = await computeChannelDirections(dirs.generator, await dirs.clip(), dirs.stats, codes, coveredLayers(dirs.layout, 304));
    const e = err(rows, dirs.fs3.rows);
    console.log(`fs3: ${e.abs.toExponential(2)} abs`);
    expect(e.abs).toBeLessThanOrEqual(2e-3);
  }, 300_000);
});

describe('global directions: bad input', () => {
  it('beta that keeps no channel names the largest relevance; alpha/beta NaN or out of range are refused', async () => {
    await expect(dirs.boundaryOf({ prompt: 'face with purple hair', beta: 0.99 })).rejects.toThrow(/keeps no channel: the largest channel relevance for this prompt is 0\.\d+/);
    await expect(dirs.apply({ dtype: 'float32', shape: [1, 656], data: new Float32Array(656) }, [{ prompt: 'red hair', alpha: NaN }])).rejects.toThrow(/alpha must be a number in -10\.\.10/);
    await expect(dirs.boundaryOf({ prompt: 'red hair', beta: 2 })).rejects.toThrow(/beta must be a number in 0\.\.1/);
  });

  it('a prompt over 77 tokens with its templates is refused with the context length', async () => {
    await expect(dirs.direction('very '.repeat(80) + 'red hair')).rejects.toThrow(/77/);
  });

  it('fs3 rows that match no conv-layer prefix, or of another CLIP width, are refused', () => {
    expect(() => coveredLayers(dirs.layout, 300)).toThrow(/300 rows, which does not match.*64, 128, 192, 256, 304/);
    expect(() => channelDirections({ dtype: 'float32', shape: [304, 32], data: new Float32Array(304 * 32) }, dirs.layout, 64)).toThrow(/32 dims, but this CLIP embeds to 64/);
  });

  it('S_mean_std of another generator (the real FFHQ file on the tiny generator) names the layer counts', async () => {
    const bytes = await readFile(sharedPath('data', 'stylespace', 'ffhq_S_mean_std'));
    expect(() => parseStyleStats(bytes, dirs.layout)).toThrow(/has 26 layers, but this generator's StyleSpace has 14/);
  });
});

describe('the real FFHQ S_mean_std (hyperstyle/StyleCLIP)', () => {
  it('loads on the config-f 1024 layout: 26 layers, 9088 channels, every value finite and every conv std positive', async () => {
    const layout = styleSpaceLayout(CONFIG_F_FFHQ);
    const stats = parseStyleStats(await readFile(sharedPath('data', 'stylespace', 'ffhq_S_mean_std')), layout);
    expect(stats.mean.length).toBe(9088);
    for (const l of layout.layers) {
      const std = stats.std.subarray(l.offset, l.offset + l.channels);
      expect([...std, ...stats.mean.subarray(l.offset, l.offset + l.channels)].every(Number.isFinite), l.name).toBe(true);
      if (l.kind === 'conv') expect(Math.min(...std), l.name).toBeGreaterThan(0);
    }
  });
});
