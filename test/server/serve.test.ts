/**
 * `styleclip serve` as a real process (fixture models): SIGTERM with a short grace checkpoints the running edit,
 * the process exits 0, a restart on the same store re-queues and finishes it while finished edits are still served;
 * SIGTERM with a long grace lets the running edit finish before exiting.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../helpers/shared.js';
import { json, modelFlags, waitFor } from './helpers.js';

let dir: string;
const children: ChildProcess[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'styleclip-serve-'));
});
afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface Served {
  readonly url: string;
  readonly child: ChildProcess;
  readonly stderr: () => string;
}

function serve(grace: string): Promise<Served> {
  return new Promise((resolve, reject) => {
    const args = [join(PROJECT_ROOT, 'bin', 'styleclip.js'), 'serve', '--port', '0', '--store', dir, '--grace', grace, ...modelFlags()];
    const child = spawn(process.execPath, args, { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let out = '';
    let err = '';
    child.stderr!.on('data', (d) => (err += String(d)));
    child.stdout!.on('data', (d) => {
      out += String(d);
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve({ url: m[1], child, stderr: () => err });
    });
    child.once('exit', (code) => reject(new Error(`serve exited with ${code}:\n${out}\n${err}`)));
  });
}

const exitCode = (c: ChildProcess): Promise<number | null> => new Promise((r) => c.once('exit', (code) => r(code)));
const status = async (s: Served, id: string) =>
  (await (await fetch(`${s.url}/v1/edits/${id}`)).json()) as { status: string; step: number; attempts: number };
async function submit(s: Served, body: object): Promise<string> {
  const res = await fetch(`${s.url}/v1/edits`, json(body));
  expect(res.status).toBe(202);
  return ((await res.json()) as { id: string }).id;
}

describe('styleclip serve', () => {
  it('checkpoints on SIGTERM, then a restart finishes the edit and still serves finished ones', async () => {
    const first = await serve('0.2');
    const quick = await submit(first, { prompt: 'a person with purple hair', seed: 1, steps: 3 });
    await waitFor(async () => (await status(first, quick)).status === 'done', 'the quick edit');
    const long = await submit(first, { prompt: 'a person with purple hair', seed: 2, steps: 80 });
    await waitFor(async () => (await status(first, long)).step >= 2, 'the long edit to run');
    const code = exitCode(first.child);
    first.child.kill('SIGTERM');
    expect(await code).toBe(0);
    expect(first.stderr()).toMatch(/shutting down/);

    const second = await serve('30');
    expect(second.stderr()).toMatch(/re-queued 1 unfinished job/);
    expect((await fetch(`${second.url}/v1/edits/${quick}/result.png`)).status).toBe(200);
    await waitFor(async () => (await status(second, long)).step >= 2, 'the re-queued edit to run');
    const code2 = exitCode(second.child);
    second.child.kill('SIGTERM');
    expect(await code2).toBe(0);

    const third = await serve('1');
    expect(third.stderr()).not.toMatch(/re-queued/);
    expect(await status(third, long)).toMatchObject({ status: 'done', step: 80, attempts: 2 });
    const code3 = exitCode(third.child);
    third.child.kill('SIGTERM');
    expect(await code3).toBe(0);
  });

  it('the grace period bounds the whole shutdown: SIGTERM with --grace 2 during a long edit exits within 2.5 s, the edit checkpointed', async () => {
    const s = await serve('2');
    const id = await submit(s, { prompt: 'a person with purple hair', seed: 3, steps: 10000, preview_every: 0 });
    await waitFor(async () => (await status(s, id)).step >= 5, 'the long edit to run');
    const code = exitCode(s.child);
    const t0 = Date.now();
    s.child.kill('SIGTERM');
    expect(await code).toBe(0);
    const took = Date.now() - t0;
    console.log(`SIGTERM with --grace 2: exited after ${took} ms`);
    expect(took).toBeLessThanOrEqual(2500);
    const state = JSON.parse(await readFile(join(dir, 'edits', id, 'state.json'), 'utf8')) as { status: string };
    expect(state.status).toBe('queued');
  });
});
