/**
 * Cold start and memory as a new user meets them (issue 21 part 3): full-size random-weight checkpoints in the
 * official formats (bench/cold_start_models.ts) in a model cache under the registry's default names, then fresh
 * processes of the built CLI (`npm run build` first):
 * - `cli_photo_edit`: `styleclip edit --image PHOTO --prompt "make the hair red" --out edited.jpg` (the fast path:
 *   global directions + e4e + paste-back), a first and a second run, and a run with another prompt;
 * - `seed_edit`: `styleclip edit --seed 42 --prompt "make the hair red" --out seed.png`;
 * - `classify`: `styleclip classify --images PHOTO --labels "a photo of a fat red cat,not a photo of a fat red cat"`;
 * - `serve_first_render_s`: `styleclip serve` started to its first /v1/render answer (a new direction, a seed).
 * Wall seconds and peak RSS (GNU time) each, and the breakdown the processes trace (STYLECLIP_TRACE=1): checkpoint
 * reads (file + parse), session builds (serialise + onnxruntime; opening a compiled session counts here too), the rest
 * (mapping, inference, images). The compiled-session cache (src/engine/compiled.ts) is emptied before the first run.
 * Flags: --cache DIR (default $TMPDIR/styleclip-cold-start; written once), --photo PATH.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { writeColdStartCache } from './cold_start_models.js';
import { machine } from './util.js';

const BIN = resolve('bin', 'styleclip.js');
const PROMPT = 'make the hair red';

interface Run {
  readonly wall_s: number;
  readonly peak_rss_mib: number;
  /** CPU seconds in user space and in the kernel (GNU time): the kernel's share is mostly first touches of memory. */
  readonly user_s: number;
  readonly sys_s: number;
  readonly read_s: number;
  readonly session_build_s: number;
  readonly rest_s: number;
}

/** Sums the trace lines of one process: checkpoint reads and session builds (serialise + build). */
function breakdown(stderr: string, wall: number): Pick<Run, 'read_s' | 'session_build_s' | 'rest_s'> {
  let read = 0;
  let build = 0;
  for (const m of stderr.matchAll(/^trace: read .*: file (\d+) ms, parse (\d+) ms$/gm)) read += Number(m[1]) + Number(m[2]);
  for (const m of stderr.matchAll(/^trace: session .*: serialise (\d+) ms, build (\d+) ms( \(weights mapped\))?$/gm)) build += Number(m[1]) + Number(m[2]);
  for (const m of stderr.matchAll(/^trace: session .*: compiled, open (\d+) ms$/gm)) build += Number(m[1]);
  const r = (x: number): number => Number(x.toFixed(2));
  return { read_s: r(read / 1000), session_build_s: r(build / 1000), rest_s: r(wall - read / 1000 - build / 1000) };
}

/** Runs the CLI under GNU time in a fresh process; resolves when `until` (stdout so far) is true, or at exit. */
function timed(args: string[], env: NodeJS.ProcessEnv, cwd: string, until?: (out: string) => Promise<boolean>): Promise<Run> {
  return new Promise((resolvePromise, reject) => {
    const t0 = performance.now();
    // Its own process group: a server measured `until` it answers is stopped with GNU time and the CLI under it (a
    // signal to time alone would leave the server running).
    const child = spawn('/usr/bin/time', ['-f', 'peak_rss_kib %M user_s %U sys_s %S', process.execPath, BIN, ...args], { env, cwd, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let out = '';
    let err = '';
    let wall: number | undefined;
    child.stdout.on('data', (d) => {
      out += String(d);
      if (until && wall === undefined) {
        void until(out).then((done) => {
          if (done && wall === undefined) {
            wall = (performance.now() - t0) / 1000;
            process.kill(-child.pid!, 'SIGTERM');
          }
        });
      }
    });
    child.stderr.on('data', (d) => (err += String(d)));
    child.once('exit', (code) => {
      const rss = /peak_rss_kib (\d+) user_s ([\d.]+) sys_s ([\d.]+)/.exec(err);
      const w = wall ?? (performance.now() - t0) / 1000;
      if (!until && code !== 0) return reject(new Error(`styleclip ${args.join(' ')} exited ${code}:\n${err}`));
      if (until && wall === undefined) return reject(new Error(`styleclip ${args.join(' ')} ended before it answered:\n${err}`));
      resolvePromise({ wall_s: Number(w.toFixed(2)), peak_rss_mib: rss ? Math.round(Number(rss[1]) / 1024) : -1, user_s: rss ? Number(rss[2]) : -1, sys_s: rss ? Number(rss[3]) : -1, ...breakdown(err, w) });
    });
  });
}

export async function run(argv: string[]): Promise<Record<string, unknown>> {
  const { values } = parseArgs({ args: argv, options: { cache: { type: 'string' }, photo: { type: 'string' } } });
  const home = resolve(values.cache ?? join(tmpdir(), 'styleclip-cold-start'));
  const photo = resolve(values.photo ?? '../shared/data/faces/ffhq_0.jpg');
  const manifest = await writeColdStartCache(home);
  const work = await mkdtemp(join(tmpdir(), 'styleclip-cold-run-'));
  const env = { ...process.env, STYLECLIP_HOME: home, STYLECLIP_MANIFEST: manifest, STYLECLIP_OFFLINE: '1', STYLECLIP_FACE_MODELS: resolve('../shared/models'), STYLECLIP_TRACE: '1' };
  try {
    const photoEdit = ['edit', '--image', photo, '--prompt', PROMPT, '--out', join(work, 'edited.jpg'), '--quiet'];
    await rm(join(home, 'compiled'), { recursive: true, force: true }); // the first run compiles, as a new user's does
    const first = await timed(photoEdit, env, work);
    const second = await timed(photoEdit, env, work);
    // The same warm cache, another prompt: its texts are not recorded yet, so CLIP is read and 79 texts encoded.
    const newPrompt = await timed(photoEdit.map((a) => (a === PROMPT ? 'give him a beard' : a)), env, work);
    const seed = await timed(['edit', '--seed', '42', '--prompt', PROMPT, '--out', join(work, 'seed.png'), '--quiet'], env, work);
    const classify = await timed(['classify', '--images', photo, '--labels', 'a photo of a fat red cat,not a photo of a fat red cat'], env, work);
    const serve = await timed(['serve', '--port', '0', '--store', join(work, 'store')], env, work, async (out) => {
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (!m) return false;
      const post = (path: string, body: object) => fetch(`${m[1]}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const d = (await (await post('/v1/directions', { prompt: PROMPT })).json()) as { id: string };
      return (await post('/v1/render', { seed: 1, edits: [{ direction: d.id, alpha: 3 }] })).status === 200;
    });
    return {
      machine: machine(),
      cache: home,
      cli_photo_edit: { first_s: first.wall_s, second_s: second.wall_s, peak_rss_mib: second.peak_rss_mib, first_run: first, second_run: second, new_prompt_run: newPrompt },
      seed_edit: seed,
      classify,
      serve_first_render_s: serve.wall_s,
      serve,
      targets: { cli_photo_edit_second_s: 6, cli_photo_edit_peak_rss_mib: 2560, cli_photo_edit_first_vs_second: 2, serve_first_render_s: 10 },
    };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
