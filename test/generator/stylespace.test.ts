/**
 * StyleSpace (S) against the official layout and values (../shared/fixtures/reference case `stylespace`): layer order,
 * widths, w+ rows and offsets; the S codes of sg2_wplus.npy; rendering from S (unmodified and with a delta on two
 * conv layers and one toRGB layer); and S-space edits that change conv channels only, as StyleCLIP's do.
 */
import { readFileSync } from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HostTensor } from '../../src/engine/tensor.js';
import { CONFIG_F_FFHQ, Generator, styleSpaceLayout } from '../../src/generator/index.js';
import { readNpy, writeNpy } from '../../src/io/tensors/npy.js';
import { runCli } from '../helpers/cli.js';
import { fixtureModelFlags } from '../helpers/models.js';
import { fixture, maxAbsDiff } from '../helpers/shared.js';

interface FixtureLayer {
  name: string;
  kind: 'conv' | 'torgb';
  resolution: number;
  channels: number;
  w_index: number;
  offset: number;
}
const stylespaceCase = (): { layout: FixtureLayer[]; total_channels: number } =>
  (JSON.parse(readFileSync(fixture('manifest.json'), 'utf8')) as { cases: { kind: string; layout: FixtureLayer[]; total_channels: number }[] }).cases.find(
    (c) => c.kind === 'stylespace',
  )!;

const relErr = (a: HostTensor, b: HostTensor): number => {
  expect(a.shape).toEqual(b.shape);
  const { maxAbs, maxRef } = maxAbsDiff(a.data as Float32Array, b.data as Float32Array);
  return maxAbs / maxRef;
};

const dir = mkdtempSync(join(tmpdir(), 'styleclip-s-'));
let gen: Generator;
beforeAll(async () => {
  gen = await Generator.load(fixture('stylegan2_tiny.pt'));
});
afterAll(async () => {
  await gen?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

describe('StyleSpace layout', () => {
  it('order, kinds, resolutions, widths, w+ rows and offsets equal the fixture layout exactly', () => {
    const c = stylespaceCase();
    const ours = styleSpaceLayout(gen.config);
    expect(ours.layers.map((l) => ({ name: l.name, kind: l.kind, resolution: l.resolution, channels: l.channels, w_index: l.wIndex, offset: l.offset }))).toEqual(
      c.layout.map(({ name, kind, resolution, channels, w_index, offset }) => ({ name, kind, resolution, channels, w_index, offset })),
    );
    expect(ours.total).toBe(c.total_channels);
  });

  it('FFHQ config-f 1024: 26 layers, 9088 channels, 17 conv layers with 6048', () => {
    const l = styleSpaceLayout(CONFIG_F_FFHQ);
    expect([l.layers.length, l.total, l.layers.filter((x) => x.kind === 'conv').length, l.convChannels]).toEqual([26, 9088, 17, 6048]);
  });
});

describe('StyleSpace values and rendering', () => {
  it('S codes of sg2_wplus.npy vs s_codes.npy (<= 1e-5 relative)', async () => {
    const err = relErr(await gen.styles(await readNpy(fixture('sg2_wplus.npy'))), await readNpy(fixture('s_codes.npy')));
    console.log(`S codes: ${err.toExponential(2)} relative`);
    expect(err).toBeLessThanOrEqual(1e-5);
  });

  it('render of s_codes vs sg2_img_wplus.npy and of s_codes + s_render_delta vs s_img_delta.npy (<= 1e-3 relative)', async () => {
    const s = await readNpy(fixture('s_codes.npy'));
    expect(relErr(await gen.synthesizeFromStyles(s), await readNpy(fixture('sg2_img_wplus.npy')))).toBeLessThanOrEqual(1e-3);
    const delta = (await readNpy(fixture('s_render_delta.npy'))).data as Float32Array;
    const shifted = (s.data as Float32Array).map((v, i) => v + delta[i % delta.length]);
    const err = relErr(await gen.synthesizeFromStyles({ ...s, data: shifted }), await readNpy(fixture('s_img_delta.npy')));
    console.log(`render from S + delta: ${err.toExponential(2)} relative`);
    expect(err).toBeLessThanOrEqual(1e-3);
  });

  it('refuses S codes of the wrong width, naming the expected shape', async () => {
    await expect(gen.synthesizeFromStyles({ dtype: 'float32', shape: [1, 9], data: new Float32Array(9) })).rejects.toThrow(/\[N, 656\]/);
  });
});

describe('edit --space s', () => {
  it('saves the full S vector [1, 656] in StyleCLIP order; every toRGB channel keeps its start value, conv channels move', async () => {
    const wp = join(dir, 'start.npy');
    const src = await readNpy(fixture('sg2_wplus.npy'));
    await writeNpy(wp, { ...src, shape: [1, 10, 64], data: (src.data as Float32Array).slice(0, 640) });
    const out = join(dir, 's.npy');
    const r = await runCli(['edit', ...fixtureModelFlags(), '--w-plus', wp, '--space', 's', '--prompt', 'a person with purple hair', '--steps', '3', '--save-latent', out, '--quiet']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const s = (await readNpy(out)).data as Float32Array;
    const s0 = (await readNpy(fixture('s_codes.npy'))).data as Float32Array;
    expect(s.length).toBe(656);
    const layout = styleSpaceLayout(gen.config);
    for (const l of layout.layers) {
      const moved = s.subarray(l.offset, l.offset + l.channels).some((v, i) => Math.abs(v - s0[l.offset + i]) > 1e-3);
      if (l.kind === 'torgb') {
        // Held exactly: the start styles are computed by the same session, so compare with our own start codes too.
        expect(moved, l.name).toBe(false);
      }
    }
    const start = (await gen.styles((await readNpy(wp)))).data as Float32Array;
    for (const l of layout.layers.filter((x) => x.kind === 'torgb')) expect([...s.subarray(l.offset, l.offset + l.channels)]).toEqual([...start.subarray(l.offset, l.offset + l.channels)]);
    expect(layout.layers.filter((l) => l.kind === 'conv').some((l) => s.subarray(l.offset, l.offset + l.channels).some((v, i) => v !== start[l.offset + i]))).toBe(true);
  });
});
