/**
 * Photo edits inverted by HyperStyle (the shared `hyperstyle` fixture: a 128 px decoder, random weights, official
 * format) through every method: the edit renders with the photo's adapted generator, so its "before" is the HyperStyle
 * reconstruction (equal to `invert --raw` of the same photo, <= 1e-6) and not the W encoder's G(codes); the offsets
 * stay fixed while the latent moves. Global directions use seeded random fs3 and S statistics of the decoder's
 * layout (plumbing, not parity), the mapper a 1-step `mapper train` on that decoder.
 */
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Clip } from '../../src/clip/clip.js';
import { GlobalDirections } from '../../src/edit/global/index.js';
import { Generator } from '../../src/generator/index.js';
import { ClipTokenizer } from '../../src/clip/tokenizer.js';
import { FacePhotoSource } from '../../src/invert/photo.js';
import { readNpy } from '../../src/io/tensors/npy.js';
import { hyperstyleDirections, hyperstyleFixture } from '../helpers/hyperstyle.js';
import { runCli } from '../helpers/cli.js';
import { fixture, maxAbsDiff, sharedPath } from '../helpers/shared.js';

const dir = mkdtempSync(join(tmpdir(), 'styleclip-hsedit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const HS = hyperstyleFixture;
const clipFlags = (): string[] => ['--clip', fixture('clip_vit_tiny.state_dict.pt'), '--vocab', sharedPath('data', 'clip', 'bpe_simple_vocab_16e6.txt.gz')];
const photo = (): string => sharedPath('data', 'faces', 'ffhq_2.jpg');
const faceModels = (): string[] => ['--models', sharedPath('models')];
let fs3 = '';
let stats = '';
beforeAll(async () => {
  ({ fs3, stats } = await hyperstyleDirections(dir));
});

describe('photo edits inverted by HyperStyle', () => {
  it('global directions: "before" is the HyperStyle reconstruction (= invert --raw), not G(W-encoder codes); the edit moves it', async () => {
    const recon = join(dir, 'recon.npy');
    const inv = await runCli(['invert', '--encoder', HS(), '--image', photo(), ...faceModels(), '--raw', recon, '--iterations', '2']);
    expect(inv.stderr).toBe('');
    const generator = await Generator.load(HS());
    const [clip, tokenizer] = await Promise.all([Clip.load(fixture('clip_vit_tiny.state_dict.pt')), ClipTokenizer.load(sharedPath('data', 'clip', 'bpe_simple_vocab_16e6.txt.gz'))]);
    const dirs = await GlobalDirections.forModels(generator, clip, tokenizer, { fs3, stats });
    const photos = new FacePhotoSource({ encoder: HS(), modelsDir: sharedPath('models') });
    try {
      const r = await dirs.edit({ kind: 'image', path: photo(), iterations: 2 }, [{ prompt: 'a face with red hair', neutral: 'a face', alpha: 4, beta: 0.05 }], { photos });
      const ref = await readNpy(recon);
      expect(r.before, 'the start is rendered by default').toBeDefined();
      const d = maxAbsDiff(r.before!.data as Float32Array, ref.data as Float32Array);
      expect(d.maxAbs).toBeLessThanOrEqual(1e-5 * d.maxRef);
      const w = await photos.project({ path: photo(), iterations: 2 }, { generator }, {});
      const plain = await generator.synthesize(w.latent, { noiseMaps: w.noise });
      await w.generator?.dispose();
      expect(maxAbsDiff(plain.data as Float32Array, ref.data as Float32Array).maxAbs).toBeGreaterThan(0.05);
      expect(maxAbsDiff(r.after.data as Float32Array, r.before!.data as Float32Array).maxAbs).toBeGreaterThan(0);
      expect(r.photo?.pasteBack).toBeTypeOf('function');
    } finally {
      await Promise.all([photos.dispose(), dirs.dispose(), generator.dispose(), clip.dispose()]);
    }
  }, 120_000);

  it('every method from the CLI with --encoder HYPERSTYLE.pt --iterations 2: optimisation, global directions, a mapper; each writes its edit and the pasted photo', async () => {
    const photoFlags = ['--generator', HS(), '--image', photo(), '--encoder', HS(), '--iterations', '2', ...faceModels()];
    const base = [...photoFlags, ...clipFlags()];
    const opt = await runCli(['edit', '--method', 'optimize', ...base, '--prompt', 'a smile', '--steps', '2', '--crop', '--out', join(dir, 'o.png'), '--paste-back', join(dir, 'op.png'), '--quiet']);
    expect(opt.stderr).toBe('');
    expect(opt.code).toBe(0);
    const glob = await runCli(['edit', '--method', 'global', ...base, '--fs3', fs3, '--stats', stats, '--prompt', 'make the hair red', '--beta', '0.05', '--crop', '--out', join(dir, 'g.png'), '--paste-back', join(dir, 'gp.png'), '--quiet']);
    expect(glob.stderr).toBe('');
    expect(glob.code).toBe(0);
    const mapper = join(dir, 'm.pt');
    const train = await runCli(['mapper', 'train', '--prompt', 'purple hair', '--generator', HS(), ...clipFlags(), '--samples', '2', '--steps', '1', '--batch', '1', '--out', mapper, '--quiet']);
    expect(train.code).toBe(0);
    const map = await runCli(['edit', '--method', 'mapper', '--mapper', mapper, ...photoFlags, '--crop', '--out', join(dir, 'm.png'), '--paste-back', join(dir, 'mp.png'), '--quiet']);
    expect(map.stderr).toBe('');
    expect(map.code).toBe(0);
  }, 180_000);

  it('a batch line with photo_inversion faithful and iterations runs the photo through HyperStyle and writes photo.png', async () => {
    const jobs = join(dir, 'jobs.jsonl');
    writeFileSync(jobs, JSON.stringify({ prompt: 'a smile', image: photo(), iterations: 2, photo_inversion: 'faithful', steps: 1 }) + '\n');
    const out = join(dir, 'batch');
    const r = await runCli(['batch', jobs, '--generator', HS(), ...clipFlags(), '--encoder', HS(), ...faceModels(), '--out', out, '--quiet']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const [job] = readdirSync(join(out, 'edits'));
    expect(readdirSync(join(out, 'edits', job))).toContain('photo.png');
  }, 120_000);

  it('--iterations without a HyperStyle encoder and --refine with one are refused in one line', async () => {
    const e4e = await runCli(['edit', '--method', 'global', '--image', photo(), '--encoder', fixture('e4e_tiny.pt'), '--iterations', '3', ...faceModels(), '--generator', fixture('stylegan2_tiny.pt'), ...clipFlags(), '--fs3', fixture('fs3.npy'), '--stats', fixture('S_mean_std'), '--prompt', 'red hair', '--out', join(dir, 'x.png')]);
    expect(e4e.code).toBe(2);
    expect(e4e.stderr).toMatch(/iterations apply to HyperStyle inversion; e4e encodes in one pass/);
    const refine = await runCli(['edit', '--image', photo(), '--encoder', HS(), '--refine', '2', ...faceModels(), '--generator', HS(), ...clipFlags(), '--prompt', 'a smile', '--steps', '1', '--out', join(dir, 'y.png')]);
    expect(refine.code).toBe(2);
    expect(refine.stderr).toMatch(/refinement steps refine an e4e\/pSp code; HyperStyle refines by its iterations/);
  }, 60_000);
});
