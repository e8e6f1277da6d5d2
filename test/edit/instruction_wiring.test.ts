/**
 * The instruction reading reaches every way an edit is asked for: the CLI (optimisation and global directions, a
 * line for people and `interpreted` in --json), the API (the submission's answer and the job's status) and batch
 * lines (through the same job preparation).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prepareOnePassJob, prepareOptimiseJob } from '../../src/jobs/submission.js';
import { globalMethod, type OnePassService } from '../../src/jobs/one_pass.js';
import { runCli } from '../helpers/cli.js';
import { fixtureModelFlags } from '../helpers/models.js';
import { fixture } from '../helpers/shared.js';
import { fixtureApp, json, type TestServer } from '../server/helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'styleclip-instr-'));
const env = { info: { resolution: 64, nLatent: 10, wDim: 64, clipEmbedDim: 64, generator: 'g', clip: 'c' }, maxPixels: 1e6, previewEvery: 0 };

describe('the reading of an instruction, everywhere', () => {
  it('CLI optimisation: the prompt is the reading\'s text; --json has interpreted, the summary says how it was read', async () => {
    const base = ['edit', ...fixtureModelFlags(), '--seed', '1', '--steps', '1', '--prompt', 'remove the glasses', '--out', join(dir, 'o.png')];
    const r = await runCli([...base, '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).interpreted).toEqual({ target: 'a face with glasses', neutral: 'a face', alpha_sign: -1, rule: 'removal' });
    const t = await runCli(base);
    expect(t.stdout).toMatch(/read "remove the glasses" as target "a face with glasses", neutral "a face", alpha negated/);
  });

  it('CLI global directions: target and neutral from the reading, alpha negated for a removal, --neutral wins', async () => {
    const flags = ['edit', '--method', 'global', ...fixtureModelFlags(), '--fs3', fixture('fs3.npy'), '--stats', fixture('S_mean_std'), '--seed', '1', '--out', join(dir, 'g.png'), '--json'];
    const r = await runCli([...flags, '--prompt', 'make the hair red', '--prompt', 'remove the beard', '--alpha', '3']);
    expect(r.code).toBe(0);
    const { edits } = JSON.parse(r.stdout);
    expect(edits.map((e: { prompt: string; neutral: string; alpha: number }) => [e.prompt, e.neutral, e.alpha])).toEqual([
      ['a face with red hair', 'a face with hair', 3],
      ['a face with a beard', 'a face', -3],
    ]);
    expect(edits[0].interpreted).toMatchObject({ alpha_sign: 1, rule: 'feature' });
    const n = await runCli([...flags, '--prompt', 'make the hair red', '--neutral', 'a face with black hair']);
    expect(JSON.parse(n.stdout).edits[0].neutral).toBe('a face with black hair');
  });

  it('jobs (API bodies and batch lines): optimisation prompts and global edits are stored as read', async () => {
    const opt = await prepareOptimiseJob({ prompt: 'give him a beard', seed: 1 } as never, async () => new Uint8Array(), env);
    expect(opt.request).toMatchObject({ options: { prompt: 'a face with a beard' }, interpreted: [{ target: 'a face with a beard', neutral: 'a face', alphaSign: 1 }] });
    const onePass = { check: () => undefined, edit: async () => { throw new Error('unused'); } } as unknown as OnePassService;
    const glob = await prepareOnePassJob(globalMethod([{ prompt: 'without glasses', alpha: 4 }]), { seed: 1 }, async () => new Uint8Array(), env, onePass);
    expect(glob.request).toMatchObject({ method: { edits: [{ prompt: 'a face with glasses', neutral: 'a face', alpha: -4 }] }, interpreted: [{ alphaSign: -1 }] });
  });
});

describe('the reading in the API', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await fixtureApp();
  });
  afterAll(async () => t?.close());

  it('POST /v1/edits answers how the prompt was read, and so does the status', async () => {
    const res = await t.app.request('/v1/edits', json({ prompt: 'make her smile', seed: 1, steps: 1 }));
    expect(res.status).toBe(202);
    const body = (await res.json()) as { id: string; interpreted: unknown[] };
    expect(body.interpreted).toEqual([{ target: 'a smiling face', neutral: 'a face', alpha_sign: 1, rule: 'expression' }]);
    const status = (await (await t.app.request(`/v1/edits/${body.id}`)).json()) as { interpreted: unknown[]; prompt: string };
    expect(status.interpreted).toEqual(body.interpreted);
    expect(status.prompt).toBe('a smiling face');
  });
});
