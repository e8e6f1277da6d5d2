/**
 * `styleclip classify` over folders: template sets, labels files, sentence labels, top-k, CSV/JSON reports, images
 * that fail to decode, a ResNet CLIP; and its bad input (one line, exit 2, nothing left at --out).
 */
import { copyFile, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLIP_IMAGENET_TEMPLATES } from '../../src/clip/templates.js';
import { readNpy } from '../../src/io/tensors/npy.js';
import { runCli } from '../helpers/cli.js';
import { fixture, sharedPath } from '../helpers/shared.js';

const PROB_TOL = 1e-3;
const REL_TOL = 1e-3;
let dir: string;
let folder: string;
let vocab: string;
const vit = (): string[] => ['--clip', fixture('clip_vit_tiny.state_dict.pt'), '--vocab', vocab];

/** Softmax over two logits. */
const pair = (a: number, b: number): [number, number] => {
  const m = Math.max(a, b);
  const ea = Math.exp(a - m);
  const eb = Math.exp(b - m);
  return [ea / (ea + eb), eb / (ea + eb)];
};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'styleclip-classify-'));
  vocab = sharedPath('data', 'clip', 'bpe_simple_vocab_16e6.txt.gz');
  folder = join(dir, 'photos');
  await mkdir(folder);
  await copyFile(sharedPath('data', 'clip', 'CLIP.png'), join(folder, 'a_clip.png'));
  for (const i of [0, 1, 2]) await copyFile(sharedPath('data', 'faces', `ffhq_${i}.jpg`), join(folder, `face_${i}.jpg`));
  await writeFile(join(folder, 'broken.jpg'), 'not a jpeg');
  await writeFile(join(folder, 'notes.txt'), 'ignored: not an image extension');
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('styleclip classify over a folder', () => {
  it('the seed example: sentence labels are used as written and give softmax(logits) of the reference prompts', async () => {
    const r = await runCli(['classify', ...vit(), '--images', sharedPath('data', 'clip', 'CLIP.png'), '--labels', 'a photo of a fat red cat.,not a photo of a fat red cat.', '--json']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { as_written: string[]; results: { predictions: { label: string; prob: number }[] }[] };
    expect(out.as_written).toEqual(['a photo of a fat red cat.', 'not a photo of a fat red cat.']);
    // The `clip` case's prompts 3 and 4 are exactly these sentences.
    const logits = (await readNpy(fixture('clip_logits_per_image.npy'))).data as Float32Array;
    const [pCat, pNot] = pair(logits[3], logits[4]);
    const prob = (label: string): number => out.results[0].predictions.find((p) => p.label === label)!.prob;
    expect(Math.abs(prob('a photo of a fat red cat.') - pCat)).toBeLessThanOrEqual(PROB_TOL);
    expect(Math.abs(prob('not a photo of a fat red cat.') - pNot)).toBeLessThanOrEqual(PROB_TOL);
  });

  it('a folder with --labels-file, --templates imagenet, --top-k 2 and a CSV report; a broken image is skipped and named', async () => {
    const labels = join(dir, 'labels.txt');
    await writeFile(labels, 'diagram\nface\ncat\n');
    const out = join(dir, 'report.csv');
    const r = await runCli(['classify', ...vit(), '--images', folder, '--labels-file', labels, '--templates', 'imagenet', '--top-k', '2', '--out', out]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/skipped .*broken\.jpg: /);
    expect(r.stderr).toMatch(/80 templates \(ensemble\)/);
    const csv = (await readFile(out, 'utf8')).trim().split('\n');
    expect(csv[0]).toBe('file,label_1,prob_1,label_2,prob_2');
    expect(csv.slice(1).map((l) => l.split(',')[0].split('/').pop())).toEqual(['a_clip.png', 'face_0.jpg', 'face_1.jpg', 'face_2.jpg']);
    for (const line of csv.slice(1)) {
      const f = line.split(',');
      expect(['diagram', 'face', 'cat']).toContain(f[1]);
      expect(Number(f[2])).toBeGreaterThanOrEqual(Number(f[4]));
    }
    expect(CLIP_IMAGENET_TEMPLATES).toHaveLength(80);
  });

  it('a JSON report lists results, failures and the templates; --json on stdout agrees with it', async () => {
    const out = join(dir, 'report.json');
    const r = await runCli(['classify', ...vit(), '--images', folder, '--labels', 'diagram,face', '--templates', 'simple', '--out', out, '--json']);
    expect(r.code).toBe(0);
    const report = JSON.parse(await readFile(out, 'utf8'));
    expect(report.templates).toEqual(['a photo of a {}.']);
    expect(report.results).toHaveLength(4);
    expect(report.failures.map((f: { file: string }) => f.file.split('/').pop())).toEqual(['broken.jpg']);
    const printed = JSON.parse(r.stdout);
    expect(printed.results.map((x: { predictions: unknown }) => x.predictions)).toEqual(report.results.map((x: { predictions: unknown }) => x.predictions));
  });

  it('a ResNet CLIP (clip_rn state dict): logits of CLIP.png vs clip_rn_logits_per_image.npy row 0 (<= 1e-3 relative)', async () => {
    const manifest = JSON.parse(await readFile(fixture('manifest.json'), 'utf8'));
    const prompts: string[] = manifest.cases.find((c: { kind: string }) => c.kind === 'clip_rn').prompts;
    const rn = ['--clip', fixture('clip_rn_tiny.state_dict.pt'), '--vocab', vocab];
    const r = await runCli(['classify', ...rn, '--images', sharedPath('data', 'clip', 'CLIP.png'), ...prompts.flatMap((p) => ['--prompt', p]), '--json']);
    expect(r.code).toBe(0);
    const preds = JSON.parse(r.stdout).results[0].predictions as { label: string; logit: number }[];
    const want = (await readNpy(fixture('clip_rn_logits_per_image.npy'))).data as Float32Array;
    const maxRef = Math.max(...Array.from(want, Math.abs));
    prompts.forEach((p, j) => expect(Math.abs(preds.find((x) => x.label === p)!.logit - want[j]), p).toBeLessThanOrEqual(REL_TOL * maxRef));
  });
});

describe('classify bad input: one line, exit 2, no report left', () => {
  const cases: [string, () => Promise<string[]>, RegExp][] = [
    ['a labels file with duplicates', async () => {
      await writeFile(join(dir, 'dup.txt'), 'cat\ndog\ncat\n');
      return ['--labels-file', join(dir, 'dup.txt')];
    }, /label 'cat' is given twice \(1 and 3\)/],
    ['a labels file with an empty line', async () => {
      await writeFile(join(dir, 'blank.txt'), 'cat\n\ndog\n');
      return ['--labels-file', join(dir, 'blank.txt')];
    }, /line 2 is empty/],
    ['a template without {}', async () => ['--labels', 'cat,dog', '--template', 'a photo'], /has no '\{\}'/],
    ['a templates file line without {}', async () => {
      await writeFile(join(dir, 'tpl.txt'), 'a photo of {}\na drawing\n');
      return ['--labels', 'cat,dog', '--templates', join(dir, 'tpl.txt')];
    }, /line 2 \('a drawing'\) has no '\{\}'/],
    ['duplicate --labels', async () => ['--labels', 'cat,dog,cat'], /label 'cat' is given twice/],
    ['a report of another format', async () => ['--labels', 'cat,dog', '--out', join(dir, 'r.txt')], /the report is \.csv or \.json/],
    ['a folder without images', async () => {
      await mkdir(join(dir, 'empty'), { recursive: true });
      return ['--labels', 'cat,dog', '--images', join(dir, 'empty')];
    }, /a folder with no images/],
    ['--top-k 0', async () => ['--labels', 'cat,dog', '--top-k', '0'], /--top-k must be an integer in 1\.\.inf/],
  ];
  for (const [what, extra, message] of cases) {
    it(what, async () => {
      const out = join(dir, 'bad', 'report.csv');
      await mkdir(join(dir, 'bad'), { recursive: true });
      const args = await extra();
      const images = args.includes('--images') ? [] : ['--images', folder];
      const r = await runCli(['classify', ...vit(), ...images, ...args, ...(args.includes('--out') ? [] : ['--out', out])]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(await readdir(join(dir, 'bad'))).toEqual([]);
    });
  }
});
