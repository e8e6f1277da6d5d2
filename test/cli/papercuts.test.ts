/** Defects a new user hit (issue 25 part 2), each checked as it was reported. */
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { makeDirs } from '../../src/io/atomic.js';
import { fixture, sharedPath } from '../helpers/shared.js';
import { fixtureModelFlags } from '../helpers/models.js';
import { fixtureApp, json, type TestServer } from '../server/helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'styleclip-papercuts-'));

describe('papercuts', () => {
  it('invert --out without --save-latent writes the reconstruction and names it', async () => {
    const recon = join(dir, 'recon.png');
    const r = await runCli(['invert', '--encoder', fixture('e4e_tiny.pt'), '--image', sharedPath('data', 'faces', 'ffhq_0.jpg'), '--aligned', '--out', recon]);
    expect(r.code).toBe(0);
    expect(existsSync(recon)).toBe(true);
    expect(r.stdout).toContain(`wrote ${recon}`);
    const none = await runCli(['invert', '--encoder', fixture('e4e_tiny.pt'), '--image', sharedPath('data', 'faces', 'ffhq_0.jpg'), '--aligned']);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/nothing to write: give --save-latent/);
  });

  it('swapped --fs3 / --stats name the mix-up instead of "stack underflow; the pickle is corrupt"', async () => {
    const base = ['edit', '--method', 'global', ...fixtureModelFlags(), '--seed', '1', '--prompt', 'red hair', '--out', join(dir, 'g.png')];
    const swapped = await runCli([...base, '--fs3', fixture('S_mean_std'), '--stats', fixture('fs3.npy')]);
    expect(swapped.code).toBe(2);
    // Both files load in parallel, so either one's complaint may come first; each names the mix-up.
    expect(swapped.stderr).toMatch(/(fs3\.npy is a \.npy array \(an fs3 file\?\), not the S_mean_std pickle|--fs3 takes the fs3 \.npy array).*swapped\?/);
    expect(swapped.stderr).not.toMatch(/stack underflow/);
    const both = await runCli([...base, '--fs3', fixture('S_mean_std'), '--stats', fixture('S_mean_std')]);
    expect(both.stderr).toMatch(/--fs3 takes the fs3 \.npy array; were --fs3 and --stats swapped\?/);
  });

  it('batch reports list the pasted-back photo.png of a photo job (report.json and report.html)', async () => {
    const jobs = join(dir, 'photo.jsonl');
    await writeFile(jobs, JSON.stringify({ name: 'selfie', prompt: 'a person with purple hair', image: sharedPath('data', 'faces', 'ffhq_0.jpg'), steps: 1, project_steps: 2 }) + '\n');
    const out = join(dir, 'photo-out');
    const r = await runCli(['batch', jobs, '--out', out, ...fixtureModelFlags(), '--models', sharedPath('models')]);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8')) as { jobs: { files: { photo?: string } }[] };
    expect(report.jobs[0].files.photo).toMatch(/photo\.png$/);
    expect(existsSync(join(out, report.jobs[0].files.photo!))).toBe(true);
    expect(await readFile(join(out, 'report.html'), 'utf8')).toMatch(/<a href="[^"]*photo\.png">photo<\/a>/);
  });

  it('help texts: batch names the registry mapper, serve lists its model flags in the usage line', async () => {
    expect((await runCli(['batch', '--help'])).stdout).toContain('"mapper":"mapper-afro"');
    expect((await runCli(['serve', '--help'])).stdout).toMatch(/\[--encoder E\] \[--faithful-encoder H\] \[--mappers M,M\] \[--domains D,D\] \[--identity-model M\] \[--models DIR\]/);
  });

  it('a write that fails after the checks (--raw /proc/x.npy): one line, exit 2, and none of the other outputs left', async () => {
    const out = mkdtempSync(join(tmpdir(), 'styleclip-writefault-'));
    const gen = await runCli(['generate', '--generator', fixture('stylegan2_tiny.pt'), '--seed', '1', '--out', join(out, 'a.png'), '--raw', '/proc/x.npy']);
    expect(gen.code).toBe(2);
    expect(gen.stderr).toMatch(/^styleclip: cannot write \/proc\/x\.npy: .*nothing was written there\n$/);
    const edit = await runCli(['edit', ...fixtureModelFlags(), '--seed', '1', '--steps', '1', '--prompt', 'red hair', '--out', join(out, 'e.png'), '--save-latent', '/proc/w.npy']);
    expect(edit.code).toBe(2);
    expect(edit.stderr.trim().split('\n')).toHaveLength(1);
    expect(edit.stderr).toMatch(/cannot write \/proc\/w\.npy/);
    expect(readdirSync(out)).toEqual([]);
  });

  it('batch --out /proc/bo fails at once (it spun forever in Node\'s recursive mkdir): one line, exit 2; a file in the way is named', async () => {
    const jobs = join(dir, 'proc_jobs.jsonl');
    await writeFile(jobs, JSON.stringify({ prompt: 'a smile', seed: 1, steps: 1 }) + '\n');
    const t0 = Date.now();
    const r = await runCli(['batch', jobs, '--out', '/proc/bo/run', ...fixtureModelFlags()]);
    expect(Date.now() - t0).toBeLessThan(30_000);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('styleclip: cannot create directory /proc/bo/run: no such directory (ENOENT)\n');
    const file = join(dir, 'a-file');
    await writeFile(file, 'x');
    await expect(makeDirs(join(file, 'sub'))).rejects.toThrow(/cannot create directory .*a-file\/sub: a part of the path is not a directory \(ENOTDIR\)/);
    await makeDirs(join(dir, 'new', 'deeper'));
    expect(existsSync(join(dir, 'new', 'deeper'))).toBe(true);
  });

  it('edit --help describes every flag people asked about (--fs3, --stats, --neutral, --beta, --strength, --out, --compare, --gif, --save-latent)', async () => {
    const help = (await runCli(['edit', '--help'])).stdout;
    for (const f of ['--fs3', '--stats', '--neutral', '--beta', '--strength', '--out', '--compare', '--gif', '--save-latent']) {
      expect(help, f).toMatch(new RegExp(`^  ${f}\\b.*\\S|; ${f} F:|/ ${f} [A-Z]`, 'm'));
    }
  });

  it('generate and edit say that the same seed starts at different truncations', async () => {
    expect((await runCli(['generate', '--help'])).stdout).toMatch(/styleclip edit --seed N' starts at StyleCLIP's 0\.7/);
    expect((await runCli(['edit', '--help'])).stdout).toMatch(/'styleclip generate' defaults to 1/);
  });
});

describe('API messages (one fixture server)', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await fixtureApp();
  });
  afterAll(async () => t?.close());

  it('/v1/embed {} names what it needs instead of asking for a JSON object', async () => {
    const res = await t.app.request('/v1/embed', json({}));
    expect(res.status).toBe(400);
    expect(await res.text()).toMatch(/give texts, images, or both/);
  });

  it('(curl -d: sent as a urlencoded form) is told to send the header, not an "Unrecognized key" of the whole JSON text', async () => {
    const headers = { 'content-type': 'application/x-www-form-urlencoded' };
    const res = await t.app.request('/v1/edits', { method: 'POST', headers, body: JSON.stringify({ prompt: 'red hair', seed: 1 }) });
    expect(res.status).toBe(400);
    const text = await res.text();
    expect(text).toMatch(/Content-Type: application\/json/);
    expect(text).not.toMatch(/Unrecognized key/);
  });
});

describe('nothing created before the checks', () => {
  it('serve --fs3 without --stats fails before creating its store; batch with a missing jobs file before creating --out', async () => {
    const root = mkdtempSync(join(tmpdir(), 'styleclip-nocreate-'));
    const serve = await runCli(['serve', ...fixtureModelFlags(), '--fs3', fixture('fs3.npy'), '--store', join(root, 'store'), '--port', '0']);
    expect(serve.code).toBe(2);
    expect(serve.stderr).toMatch(/need both --fs3 and --stats/);
    const batch = await runCli(['batch', join(root, 'missing.jsonl'), '--out', join(root, 'out'), ...fixtureModelFlags()]);
    expect(batch.code).toBe(2);
    expect(batch.stderr).toMatch(/cannot read jobs file .*missing\.jsonl: ENOENT/);
    expect(readdirSync(root)).toEqual([]);
  });
});

describe('serve checks its encoder at start-up', () => {
  it('serve --encoder notes.txt: one line naming the file, exit 2 (no server that accepts photos and fails each)', async () => {
    const root = mkdtempSync(join(tmpdir(), 'styleclip-badenc-'));
    await writeFile(join(root, 'notes.txt'), 'not a checkpoint\n');
    const r = await runCli(['serve', ...fixtureModelFlags(), '--encoder', join(root, 'notes.txt'), '--store', join(root, 'store'), '--port', '0']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/notes\.txt: not a PyTorch checkpoint/);
  });
});

describe('long phases say what they do on a terminal, and nothing on a pipe', () => {
  const photoEdit = (out: string): string[] => [
    'edit', '--method', 'global', '--image', sharedPath('data', 'faces', 'ffhq_1.jpg'), '--models', sharedPath('models'), '--project-steps', '3',
    ...fixtureModelFlags(), '--fs3', fixture('fs3.npy'), '--stats', fixture('S_mean_std'), '--prompt', 'red hair', '--out', out,
  ];
  it('edit --method global --image without an encoder: a loading line and a projection bar on a TTY; a pipe gets neither', async () => {
    const tty = await runCli(photoEdit(join(dir, 'g_tty.png')), undefined, { tty: true });
    expect(tty.code, tty.stderr).toBe(0);
    expect(tty.stderr).toMatch(/^styleclip: loading the generator, CLIP and the global directions\.\.\.\n/);
    expect(tty.stderr).toMatch(/\r\[#+-*\] 3\/3 projecting: mse \d/);
    const pipe = await runCli(photoEdit(join(dir, 'g_pipe.png')));
    expect(pipe.code).toBe(0);
    expect(pipe.stderr).toBe('');
    const quiet = await runCli([...photoEdit(join(dir, 'g_quiet.png')), '--quiet'], undefined, { tty: true });
    expect(quiet.stderr).toBe('');
  }, 120_000);
});
