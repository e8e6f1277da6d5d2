/**
 * `styleclip batch` end to end on the fixture models (real library): good lines run, bad lines are reported with
 * their line numbers and skipped, results and report.json / report.html are written, a second run skips finished
 * jobs and re-runs a changed line, and an interrupted run leaves nothing partial and resumes.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeNpy, parseNpy } from '../../src/io/tensors/npy.js';
import type { Report } from '../../src/jobs/report.js';
import { runCli } from '../helpers/cli.js';
import { fixture, maxAbsDiff } from '../helpers/shared.js';
import { modelFlags } from '../server/helpers.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'styleclip-batch-'));
  const all = parseNpy(await readFile(fixture('sg2_wplus.npy')));
  const row = (all.data as Float32Array).slice(0, all.shape[1] * all.shape[2]);
  await writeFile(join(dir, 'start.npy'), encodeNpy({ dtype: 'float32', shape: [1, all.shape[1], all.shape[2]], data: row }));
  await writeFile(join(dir, 'wrong.npy'), encodeNpy({ dtype: 'float32', shape: [10, 32], data: new Float32Array(320) }));
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

const GOOD = [
  { name: 'purple', prompt: 'a person with purple hair', seed: 1, steps: 4 },
  { prompt: 'a smiling face', seed: 2, steps: 3, l2: 0.02, layers: '0-5' },
  { name: 'from-latent', prompt: 'a face with glasses', w_plus: 'start.npy', steps: 3 },
];
/** Lines 4..11 (line 8 is blank and ignored): each is reported and skipped. */
const BAD = [
  '{"prompt": "unterminated", ',
  JSON.stringify({ prompt: '', seed: 1 }),
  JSON.stringify({ name: '../escape', prompt: 'x', seed: 1 }),
  JSON.stringify({ prompt: 'x', w_plus: 'missing.npy' }),
  '',
  JSON.stringify({ prompt: 'x', seed: 1, colour: 'red' }),
  JSON.stringify({ prompt: 'x', w_plus: 'wrong.npy' }),
  JSON.stringify({ name: 'purple', prompt: 'again', seed: 9 }),
];

const writeJobs = (name: string, lines: string[]): Promise<void> => writeFile(join(dir, name), lines.join('\n') + '\n');
const batch = (jobs: string, out: string, signal?: AbortSignal) =>
  runCli(['batch', join(dir, jobs), '--out', join(dir, out), ...modelFlags(), '--concurrency', '2'], signal);
const report = async (out: string): Promise<Report> => JSON.parse(await readFile(join(dir, out, 'report.json'), 'utf8')) as Report;

describe('styleclip batch', () => {
  it('runs good lines, reports and skips bad ones, writes results and reports', async () => {
    await writeJobs('jobs.jsonl', [...GOOD.map((j) => JSON.stringify(j)), ...BAD]);
    const r = await batch('jobs.jsonl', 'out');
    expect(r.code).toBe(2);
    expect(r.stdout).toMatch(/^3 done \(0 from an earlier run\), 0 failed, 0 not finished, 7 line\(s\) skipped/);
    for (const line of [4, 5, 6, 7, 9, 10, 11]) expect(r.stderr).toMatch(new RegExp(`line ${line} skipped: `));
    const rep = await report('out');
    expect(rep.skipped.map((s) => s.line)).toEqual([4, 5, 6, 7, 9, 10, 11]);
    expect(rep.skipped.map((s) => s.error).join('\n')).toMatch(/not valid JSON[\s\S]*prompt[\s\S]*not allowed[\s\S]*missing\.npy[\s\S]*colour[\s\S]*\[10,64\][\s\S]*duplicate/);
    expect(rep.jobs.map((j) => [j.line, j.status])).toEqual([[1, 'done'], [2, 'done'], [3, 'done']]);
    for (const j of rep.jobs) {
      expect(Number.isFinite(j.final?.loss)).toBe(true);
      const png = await readFile(join(dir, 'out', j.files!.result));
      expect((await sharp(png).metadata()).width).toBe(64);
      expect(parseNpy(await readFile(join(dir, 'out', j.files!.latent))).shape).toEqual([1, 10, 64]);
    }
    const html = await readFile(join(dir, 'out', 'report.html'), 'utf8');
    expect(html.match(/<img src="data:image\/png;base64,/g)).toHaveLength(6);
    expect(html).toContain('a person with purple hair');
    expect(html).toContain('line 6: name &#39;../escape&#39; is not allowed');
    expect(existsSync(join(dir, 'escape'))).toBe(false);
    expect((await readdir(join(dir, 'out', 'edits'))).filter((n) => n.startsWith('.'))).toEqual([]);
  });

  it('resumes: skips finished jobs, re-runs a changed line', async () => {
    const resultOf = (id: string) => join(dir, 'out', 'edits', id, 'result.png');
    const before = (await stat(resultOf('purple'))).mtimeMs;
    const again = await batch('jobs.jsonl', 'out');
    expect(again.stdout).toMatch(/^3 done \(3 from an earlier run\)/);
    expect((await stat(resultOf('purple'))).mtimeMs).toBe(before);

    const changed = [{ ...GOOD[0], steps: 5 }, ...GOOD.slice(1)].map((j) => JSON.stringify(j));
    await writeJobs('jobs.jsonl', changed);
    const third = await batch('jobs.jsonl', 'out');
    expect(third.code).toBe(0);
    expect(third.stdout).toMatch(/^3 done \(2 from an earlier run\), 0 failed, 0 not finished, 0 line/);
    expect((await report('out')).jobs[0].final?.step).toBe(5);
  });

  // 300 steps (~2 s here): long enough that the interrupt always lands mid-run (60 steps finished first once under load).
  it('an interrupted run writes no partial results and finishes on the next run', async () => {
    await writeJobs('long.jsonl', [JSON.stringify({ name: 'long', prompt: 'a person with purple hair', seed: 3, steps: 300 })]);
    const controller = new AbortController();
    const run = batch('long.jsonl', 'long-out', controller.signal);
    const state = join(dir, 'long-out', 'edits', 'long', 'state.json');
    for (let i = 0; i < 400; i++) {
      const s = existsSync(state) ? (JSON.parse(await readFile(state, 'utf8')) as { step: number }) : undefined;
      if (s && s.step >= 2) break;
      await new Promise((res) => setTimeout(res, 25));
    }
    controller.abort(new Error('interrupted'));
    const r = await run;
    expect(r.code).toBe(130);
    expect(JSON.parse(await readFile(state, 'utf8'))).toMatchObject({ status: 'queued', step: 0 });
    expect(existsSync(join(dir, 'long-out', 'edits', 'long', 'result.png'))).toBe(false);
    const resumed = await batch('long.jsonl', 'long-out');
    expect(resumed.code).toBe(0);
    expect((await report('long-out')).jobs[0]).toMatchObject({ status: 'done', final: { step: 300 } });
  });

  it('"method" global and mapper lines: S codes vs gd_s_edited row 0 and w_hat vs mapper_w_hat row 0 (<= 1e-3 x max), same outputs and report; bad method lines are named', async () => {
    const lines = [
      { name: 'gd', method: 'global', w_plus: 'start.npy', edits: [{ prompt: 'face with purple hair', neutral: 'face with hair', alpha: 4, beta: 0.1 }] },
      { name: 'mp', method: 'mapper', w_plus: 'start.npy', mapper: 'mapper_tiny', strength: 0.1 },
      { name: 'bad1', method: 'styleflow', seed: 1 },
      { name: 'bad2', method: 'mapper', seed: 1, mapper: 'mapper_unknown' },
      { name: 'bad3', method: 'global', seed: 1, edits: [{ prompt: 'red hair', alpha: 99 }] },
      { name: 'bad4', method: 'global', seed: 1, edits: [{ prompt: 'red hair' }], steps: 5 },
    ];
    await writeJobs('methods.jsonl', lines.map((l) => JSON.stringify(l)));
    const flags = ['--fs3', fixture('fs3.npy'), '--stats', fixture('S_mean_std'), '--mappers', fixture('mapper_tiny.pt')];
    const r = await runCli(['batch', join(dir, 'methods.jsonl'), '--out', join(dir, 'methods-out'), ...modelFlags(), ...flags]);
    expect(r.stdout).toMatch(/^2 done \(0 from an earlier run\), 0 failed, 0 not finished, 4 line\(s\) skipped/);
    expect(r.code).toBe(2);
    const rep = await report('methods-out');
    expect(rep.skipped.map((s) => s.error)).toEqual([
      expect.stringMatching(/method: 'styleflow' is not one of optimize, global, mapper/),
      expect.stringMatching(/mapper 'mapper_unknown' is not loaded; loaded: mapper_tiny/),
      expect.stringMatching(/edits\.0\.alpha/),
      expect.stringMatching(/steps/),
    ]);
    expect(rep.jobs.map((j) => [j.name, j.status, j.prompt, j.steps])).toEqual([
      ['gd', 'done', 'face with purple hair', 1],
      ['mp', 'done', 'mapper mapper_tiny (strength 0.1)', 1],
    ]);
    const latent = async (id: string): Promise<Float32Array> => parseNpy(await readFile(join(dir, 'methods-out', 'edits', id, 'latent.npy'))).data as Float32Array;
    const s = maxAbsDiff(await latent('gd'), (parseNpy(await readFile(fixture('gd_s_edited.npy'))).data as Float32Array).slice(0, 656));
    expect(s.maxAbs).toBeLessThanOrEqual(1e-3 * s.maxRef);
    const w = maxAbsDiff(await latent('mp'), (parseNpy(await readFile(fixture('mapper_w_hat.npy'))).data as Float32Array).slice(0, 640));
    expect(w.maxAbs).toBeLessThanOrEqual(1e-3 * w.maxRef);
    for (const id of ['gd', 'mp']) {
      const cmp = await sharp(join(dir, 'methods-out', 'edits', id, 'compare.png')).metadata();
      expect([cmp.width, cmp.height]).toEqual([64 * 2 + 8, 64]);
    }
    const without = await runCli(['batch', join(dir, 'methods.jsonl'), '--out', join(dir, 'methods-none'), ...modelFlags()]);
    expect(without.stderr).toMatch(/line 1 skipped: method global needs global directions: pass --fs3 FS3\.npy --stats S_MEAN_STD/);
    expect(without.stderr).toMatch(/line 2 skipped: mapper 'mapper_tiny' is not loaded; load it with --mappers M/);
  });
});
