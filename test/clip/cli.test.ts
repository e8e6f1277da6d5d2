/** `styleclip clip embed` and `styleclip classify` end to end through main(), on the fixture model and CLIP.png. */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hugePngHeader } from '../helpers/png.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readNpy } from '../../src/io/tensors/npy.js';
import { runCli } from '../helpers/cli.js';
import { fixture, maxAbsDiff, sharedPath } from '../helpers/shared.js';

const REL_TOL = 1e-3;
const PROB_TOL = 1e-3;

let dir: string;
let model: string;
let vocab: string;
let image: string;
let prompts: string[];

const base = (): string[] => ['--clip', model, '--vocab', vocab];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'styleclip-clip-cli-'));
  model = fixture('clip_vit_tiny.state_dict.pt');
  vocab = sharedPath('data', 'clip', 'bpe_simple_vocab_16e6.txt.gz');
  image = sharedPath('data', 'clip', 'CLIP.png');
  const manifest = JSON.parse(await readFile(fixture('manifest.json'), 'utf8'));
  prompts = manifest.cases.find((c: { kind: string }) => c.kind === 'clip').prompts;
  await writeFile(join(dir, 'not-an-image.png'), 'this is text, not a PNG\n');
  await writeFile(join(dir, 'empty.png'), new Uint8Array(0));
  await writeFile(join(dir, 'huge.png'), hugePngHeader(20000, 20000));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('styleclip clip embed', () => {
  it('--json prints embeddings, logits and probs matching openai/CLIP on CLIP.png and the manifest prompts', async () => {
    const r = await runCli(['clip', 'embed', ...base(), '--image', image, ...prompts.flatMap((p) => ['--text', p]), '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as Record<string, number[][]>;
    expect(Object.keys(out)).toEqual(['image_embeds', 'text_embeds', 'logits_per_image', 'probs']);
    expect([out.image_embeds.length, out.image_embeds[0].length, out.text_embeds.length, out.probs[0].length]).toEqual([1, 64, 5, 5]);
    const check = async (rowsOut: number[][], file: string): Promise<{ maxAbs: number; maxRef: number }> => {
      const want = await readNpy(fixture(file));
      return maxAbsDiff(rowsOut.flat(), want.data as Float32Array);
    };
    // The CLI preprocesses CLIP.png itself (pixels within 0.02 of the fixture's), so this also covers _transform.
    for (const [key, file] of [['image_embeds', 'clip_image_embeds.npy'], ['text_embeds', 'clip_text_embeds.npy'], ['logits_per_image', 'clip_logits_per_image.npy']]) {
      const { maxAbs, maxRef } = await check(out[key], file);
      expect(maxAbs, key).toBeLessThanOrEqual(REL_TOL * maxRef);
    }
    expect((await check(out.probs, 'clip_probs.npy')).maxAbs).toBeLessThanOrEqual(PROB_TOL);
  });

  it('texts alone give text embeddings and empty image outputs; the table form names each text', async () => {
    const r = await runCli(['clip', 'embed', ...base(), '--text', 'a dog', '--json']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect([out.image_embeds, out.text_embeds.length, out.logits_per_image, out.probs]).toEqual([[], 1, [], []]);
    const t = await runCli(['clip', 'embed', ...base(), '--image', image, '--text', 'a dog', '--text', 'a cat']);
    expect(t.code).toBe(0);
    expect(t.stdout).toMatch(/CLIP\.png\n.*%.*a dog\n.*%.*a cat\n1 image and 2 text embeddings of 64 dimensions/);
  });
});

describe('styleclip classify', () => {
  it('labels + template: one table per image, most probable first; --json agrees', async () => {
    const args = ['classify', ...base(), '--image', image, '--image', image, '--labels', 'diagram, dog,cat', '--template', 'a {}'];
    const table = await runCli(args);
    expect(table.code).toBe(0);
    const blocks = table.stdout.trim().split('\n\n');
    expect(blocks).toHaveLength(2);
    expect(blocks[0].split('\n')[0]).toBe(image);
    const json = await runCli([...args, '--json']);
    const { results } = JSON.parse(json.stdout) as { results: { image: string; predictions: { label: string; prob: number; logit: number }[] }[] };
    expect(results).toHaveLength(2);
    const preds = results[0].predictions;
    expect(preds.map((p) => p.label).sort()).toEqual(['cat', 'diagram', 'dog']);
    for (let i = 1; i < preds.length; i++) expect(preds[i - 1].prob).toBeGreaterThanOrEqual(preds[i].prob);
    // "a {}" with these labels are the manifest prompts "a diagram", "a dog", "a cat".
    const want = (await readNpy(fixture('clip_logits_per_image.npy'))).data as Float32Array;
    const maxRef = Math.max(...Array.from(want, Math.abs));
    const logit = (label: string): number => preds.find((p) => p.label === label)!.logit;
    expect(Math.abs(logit('diagram') - want[0])).toBeLessThanOrEqual(REL_TOL * maxRef);
    expect(Math.abs(logit('dog') - want[1])).toBeLessThanOrEqual(REL_TOL * maxRef);
    expect(Math.abs(logit('cat') - want[2])).toBeLessThanOrEqual(REL_TOL * maxRef);
    expect(blocks[0].split('\n')[2]).toContain(preds[0].label);
  });

  it('raw prompts are the classes', async () => {
    const r = await runCli(['classify', ...base(), '--image', image, '--prompt', prompts[3], '--prompt', prompts[4], '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).results[0].predictions[0].label).toBe(prompts[4]);
  });
});

describe('bad input exits 2 with one clear line', () => {
  const cases: [string, () => string[], RegExp][] = [
    ['a non-image file', () => ['classify', ...base(), '--image', join(dir, 'not-an-image.png'), '--labels', 'a,b'], /cannot decode .*not-an-image\.png/],
    ['a zero-byte image', () => ['clip', 'embed', ...base(), '--image', join(dir, 'empty.png')], /empty\.png is empty \(0 bytes\)/],
    ['a 20000x20000 PNG', () => ['classify', ...base(), '--image', join(dir, 'huge.png'), '--labels', 'a,b'], /20000x20000 = 400000000 pixels, above the limit/],
    ['text over 77 tokens', () => ['clip', 'embed', ...base(), '--text', 'word '.repeat(80)], /more than the context length 77.*--truncate/],
    ['an empty label list', () => ['classify', ...base(), '--image', image, '--labels', ' , '], /label list .* is empty/],
    ['a StyleGAN2 checkpoint as --clip', () => ['classify', '--clip', fixture('stylegan2_tiny.pt'), '--vocab', vocab, '--image', image, '--labels', 'a'], /not a CLIP checkpoint/],
    ['neither labels nor prompts', () => ['classify', ...base(), '--image', image], /no classes/],
    ['nothing to embed', () => ['clip', 'embed', ...base()], /nothing to embed/],
    ['a bad --activation', () => ['clip', 'embed', ...base(), '--text', 'a', '--activation', 'relu'], /--activation must be one of/],
  ];
  for (const [what, argv, message] of cases) {
    it(what, async () => {
      const r = await runCli(argv());
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(message);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    });
  }

  it('--truncate accepts the long text', async () => {
    const r = await runCli(['clip', 'embed', ...base(), '--text', 'word '.repeat(80), '--truncate', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).text_embeds).toHaveLength(1);
  });
});
