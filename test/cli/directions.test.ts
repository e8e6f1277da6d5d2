/**
 * The global-directions CLI on the tiny fixtures: `edit --method global` (exact flags, stacked prompts, every output,
 * bad input), `directions stats` against the fixture's S_mean_std, and `directions compute` against the fixture's fs3
 * rows, including a resumed run.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import sharp from 'sharp';
import { COMPARE_GAP } from '../../src/io/images/frames.js';
import { afterAll, describe, expect, it } from 'vitest';
import { parseStyleStats } from '../../src/edit/global/index.js';
import { Generator, styleSpaceLayout } from '../../src/generator/index.js';
import { readNpy, writeNpy } from '../../src/io/tensors/npy.js';
import { readFile } from 'node:fs/promises';
import { runCli } from '../helpers/cli.js';
import { fixtureModelFlags, referenceStart } from '../helpers/models.js';
import { fixture, maxAbsDiff } from '../helpers/shared.js';

const dir = mkdtempSync(join(tmpdir(), 'styleclip-gd-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const directionFlags = (): string[] => ['--fs3', fixture('fs3.npy'), '--stats', fixture('S_mean_std')];

async function wplusStart(): Promise<string> {
  const p = join(dir, 'start.npy');
  if (!existsSync(p)) {
    await writeNpy(p, await referenceStart());
  }
  return p;
}

describe('styleclip edit --method global', () => {
  it('writes out, compare, raw (vs gd_img_edited row 0, <= 1e-3 x max) and the edited S vector; --json reports the channels kept', async () => {
    const [out, cmp, raw, lat] = ['g.png', 'gc.png', 'g.npy', 'gs.npy'].map((f) => join(dir, f));
    const r = await runCli([
      'edit', '--method', 'global', ...fixtureModelFlags(), ...directionFlags(), '--w-plus', await wplusStart(),
      '--prompt', 'face with purple hair', '--neutral', 'face with hair', '--alpha', '4', '--beta', '0.1',
      '--out', out, '--compare', cmp, '--raw', raw, '--save-latent', lat, '--json',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).edits[0]).toMatchObject({ prompt: 'face with purple hair', alpha: 4, beta: 0.1, channels: 90 });
    const img = await readNpy(raw);
    const ref = await readNpy(fixture('gd_img_edited.npy'));
    const d = maxAbsDiff(img.data as Float32Array, (ref.data as Float32Array).slice(0, 3 * 64 * 64));
    expect(d.maxAbs).toBeLessThanOrEqual(1e-3 * d.maxRef);
    const s = await readNpy(lat);
    expect(s.shape).toEqual([1, 656]);
    const sRef = await readNpy(fixture('gd_s_edited.npy'));
    const ds = maxAbsDiff(s.data as Float32Array, (sRef.data as Float32Array).slice(0, 656));
    expect(ds.maxAbs).toBeLessThanOrEqual(1e-3 * ds.maxRef);
    expect((await sharp(out).metadata()).width).toBe(64);
    expect((await sharp(cmp).metadata()).width).toBe(64 * 2 + COMPARE_GAP);
  });

  it('stacks several --prompt/--alpha pairs into one edit (= the sum of both S steps)', async () => {
    const [a, b, both] = ['a.npy', 'b.npy', 'ab.npy'].map((f) => join(dir, f));
    const common = ['edit', '--method', 'global', ...fixtureModelFlags(), ...directionFlags(), '--w-plus', await wplusStart(), '--beta', '0.1', '--quiet'];
    expect((await runCli([...common, '--prompt', 'face with purple hair', '--alpha', '3', '--save-latent', a])).code).toBe(0);
    expect((await runCli([...common, '--prompt', 'a smiling face', '--alpha', '-2', '--save-latent', b])).code).toBe(0);
    const r = await runCli([...common, '--prompt', 'face with purple hair', '--alpha', '3', '--prompt', 'a smiling face', '--alpha', '-2', '--save-latent', both]);
    expect(r.code).toBe(0);
    const s0 = (await readNpy(fixture('s_codes.npy'))).data as Float32Array;
    const [sa, sb, sab] = await Promise.all([a, b, both].map(async (p) => (await readNpy(p)).data as Float32Array));
    const expected = Float32Array.from(sab, (_, i) => sa[i] + sb[i] - s0[i]);
    expect(maxAbsDiff(sab, expected).maxAbs).toBeLessThanOrEqual(1e-5);
  });

  it.each([
    [['--beta', '0.99'], /keeps no channel: the largest channel relevance for this prompt is/],
    [['--alpha', 'NaN'], /--alpha must be a number/],
    [['--alpha', '11'], /alpha must be a number in -10\.\.10/],
    [['--alpha', '1', '--alpha', '2'], /give --alpha once \(for every prompt\) or once per --prompt \(1\), got 2/],
    [['--steps', '3'], /--steps belongs to --method optimize/],
    [['--stats', 'SHARED:/data/stylespace/ffhq_S_mean_std'], /has 26 layers, but this generator's StyleSpace has 14/],
  ])('bad input %j -> exit 2, one line, nothing written', async (extra, msg) => {
    const out = join(dir, 'bad.png');
    const args = extra.map((a) => (a.startsWith('SHARED:') ? fixture('../..' + a.slice(7)) : a));
    const flags = args.includes('--stats') ? ['--fs3', fixture('fs3.npy')] : directionFlags();
    const r = await runCli(['edit', '--method', 'global', ...fixtureModelFlags(), ...flags, '--w-plus', await wplusStart(), '--prompt', 'face with purple hair', ...args, '--out', out]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(msg);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(readdirSync(dir)).not.toContain('bad.png');
  });

  it('optimize refuses global-only flags and stacked prompts', async () => {
    const r = await runCli(['edit', ...fixtureModelFlags(), '--seed', '1', '--prompt', 'a', '--prompt', 'b', '--out', join(dir, 'x.png')]);
    expect(r.stderr).toMatch(/takes one --prompt; stacked prompts need --method global/);
    const r2 = await runCli(['edit', '--method', 'optimize', ...fixtureModelFlags(), '--seed', '1', '--prompt', 'a', '--alpha', '3', '--out', join(dir, 'x.png')]);
    expect(r2.stderr).toMatch(/--alpha belongs to --method global/);
  });
});

describe('styleclip directions', () => {
  it('stats --z gd_z.npy reproduces the fixture S_mean_std (<= 1e-3 x max)', async () => {
    const out = join(dir, 'S_mean_std');
    const r = await runCli(['directions', 'stats', '--generator', fixture('stylegan2_tiny.pt'), '--z', fixture('gd_z.npy'), '--out', out, '--quiet']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const gen = await Generator.load(fixture('stylegan2_tiny.pt'));
    const layout = styleSpaceLayout(gen.config);
    await gen.dispose();
    const ours = parseStyleStats(await readFile(out), layout);
    const ref = parseStyleStats(await readFile(fixture('S_mean_std')), layout);
    for (const k of ['mean', 'std'] as const) {
      const d = maxAbsDiff(ours[k], ref[k]);
      expect(d.maxAbs, k).toBeLessThanOrEqual(1e-3 * d.maxRef);
    }
  });

  it('compute --max-resolution 4 on the first 8 gd_z rows equals the first 64 fs3 rows; a resumed run gives the same rows', async () => {
    const out = join(dir, 'fs3_4.npy');
    const args = ['directions', 'compute', '--generator', fixture('stylegan2_tiny.pt'), '--clip', fixture('clip_vit_tiny.state_dict.pt'), '--stats', fixture('S_mean_std'), '--z', fixture('gd_z.npy'), '--images', '8', '--max-resolution', '4', '--out', out, '--json'];
    const r = await runCli(args);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ rows: 64, resumed_from: 0 });
    const rows = (await readNpy(out)).data as Float32Array;
    const ref = ((await readNpy(fixture('fs3.npy'))).data as Float32Array).slice(0, 64 * 64);
    expect(maxAbsDiff(rows, ref).maxAbs).toBeLessThanOrEqual(2e-3);
    expect(readdirSync(dir).filter((f) => f.includes('.partial'))).toEqual([]);
    // A run interrupted after 40 channels: the partial files a run leaves, then the same command resumes.
    rmSync(out);
    await writeNpy(`${out}.partial.npy`, { dtype: 'float32', shape: [40, 64], data: rows.slice(0, 40 * 64) });
    const state = { rows: 64, dim: 64, images: 8, alpha: 5, z: fixture('gd_z.npy'), generator: fixture('stylegan2_tiny.pt'), stats: fixture('S_mean_std') };
    await writeFile(`${out}.partial.json`, JSON.stringify(state));
    const r2 = await runCli(args);
    expect(r2.code).toBe(0);
    expect(JSON.parse(r2.stdout)).toMatchObject({ rows: 64, resumed_from: 40 });
    expect(maxAbsDiff((await readNpy(out)).data as Float32Array, rows).maxAbs).toBe(0);
  });
});
