/**
 * The fast path by default (issue 21 part 1): `styleclip edit --image PHOTO --prompt "make the hair red" --out F` with
 * no other flag pulls the registry's default models on first use (here a loopback mirror serving the fixture models
 * under the default names: test/helpers/fixture_registry.ts), edits with global directions because the generator
 * lists registered directions, inverts the photo with the registered e4e encoder, and writes the whole photo with
 * the edited face pasted back. Generators without companions (a checkpoint path) keep StyleCLIP optimisation and
 * projection.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readImage } from '../../src/io/images/image.js';
import { editDefaults } from '../../src/edit/defaults.js';
import { loadManifest } from '../../src/io/models/registry.js';
import { runCli } from '../helpers/cli.js';
import { startFixtureRegistry, type FixtureRegistry } from '../helpers/fixture_registry.js';
import { PROJECT_ROOT, fixture, sharedPath } from '../helpers/shared.js';

let reg: FixtureRegistry;
const photo = sharedPath('data', 'faces', 'ffhq_1.jpg');

beforeAll(async () => {
  reg = await startFixtureRegistry();
});
afterAll(async () => reg?.close());

describe('the fast path is the default', () => {
  it('edit --image PHOTO --prompt "make the hair red" --out edited.jpg: pulls the defaults (the face nets too), global directions + e4e, the whole photo pasted back', async () => {
    const out = join(reg.dir, 'edited.jpg');
    const r = await runCli(['edit', '--image', photo, '--prompt', 'make the hair red', '--out', out], undefined, { tty: true });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/styleclip: method: global directions \(the generator's registered fs3-ffhq-vit-b32 and stylespace-stats-ffhq; --method optimize for StyleCLIP optimisation\); photo inverted by e4e-ffhq in one pass \(--project-steps N projects instead\)\n/);
    for (const name of ['stylegan2-ffhq-config-f', 'clip-vit-b32', 'fs3-ffhq-vit-b32', 'stylespace-stats-ffhq', 'e4e-ffhq']) expect(r.stderr).toContain(`downloading ${name}`);
    for (const [name, file] of [
      ['face-api-tiny-face-detector', 'tiny_face_detector_model-shard1'],
      ['face-api-landmark-68', 'face_landmark_68_model-shard1'],
    ]) {
      expect(r.stderr).toContain(`downloading ${name}`);
      expect(existsSync(join(reg.env.STYLECLIP_HOME!, 'models', name, file)), `${name} pulled into the cache`).toBe(true);
    }
    expect(r.stdout).toMatch(/read "make the hair red" as target "a face with red hair", neutral "a face with hair"/);
    const [edited, original] = await Promise.all([readImage(out), readImage(photo)]);
    expect([edited.width, edited.height]).toEqual([original.width, original.height]);
  });

  it('--crop makes --out the aligned face; --json reports what the defaults chose', async () => {
    const out = join(reg.dir, 'face.png');
    const r = await runCli(['edit', '--image', photo, '--prompt', 'make the hair red', '--crop', '--out', out, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).defaults).toEqual({ method: 'global', encoder: 'e4e-ffhq' });
    const face = await readImage(out);
    expect([face.width, face.height]).toEqual([64, 64]);
  });

  it('a seed edit with no model flags takes global directions too', async () => {
    const r = await runCli(['edit', '--seed', '42', '--prompt', 'make the hair red', '--out', join(reg.dir, 'seed.png'), '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).defaults).toEqual({ method: 'global' });
  });

  it('a flag only optimisation takes (--steps) picks optimisation; --project-steps asks for projection', async () => {
    const r = await runCli(['edit', '--image', photo, '--prompt', 'make the hair red', '--steps', '2', '--project-steps', '2', '--out', join(reg.dir, 'opt.png'), '--json']);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.defaults).toEqual({ method: 'optimize' });
    expect(report.projection).toHaveLength(2);
  });

  it('a photo with two faces: the largest is edited and the line says so (--face-index picks the other; --json has faces)', async () => {
    const sharp = (await import('sharp')).default;
    const two = join(reg.dir, 'two.jpg');
    const left = await sharp(sharedPath('data', 'faces', 'ffhq_0.jpg')).resize(600, 600).toBuffer();
    const right = await sharp(sharedPath('data', 'faces', 'ffhq_3.jpg')).resize(400, 400).toBuffer();
    await sharp({ create: { width: 1000, height: 600, channels: 3, background: { r: 128, g: 128, b: 128 } } })
      .composite([{ input: left, left: 0, top: 0 }, { input: right, left: 600, top: 100 }])
      .jpeg()
      .toFile(two);
    const r = await runCli(['edit', '--image', two, '--prompt', 'make the hair red', '--out', join(reg.dir, 'two_out.jpg')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^the photo has 2 faces: edited face 0 \(the largest\); --face-index 0\.\.1 picks another$/m);
    const other = await runCli(['edit', '--image', two, '--face-index', '1', '--prompt', 'make the hair red', '--out', join(reg.dir, 'two_out1.jpg'), '--json']);
    expect(other.code, other.stderr).toBe(0);
    expect(JSON.parse(other.stdout).faces).toBe(2);
  });

  it('--out and a different --paste-back for a photo without --crop: one line naming --crop, nothing written', async () => {
    const r = await runCli(['edit', '--image', photo, '--prompt', 'red hair', '--out', join(reg.dir, 'a.png'), '--paste-back', join(reg.dir, 'b.png')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('styleclip: for a photo, --out is already the photo with the edited face pasted back: add --crop to make --out the aligned face and --paste-back the photo\n');
  });
});

describe('styleclip serve with no flags', () => {
  let child: ChildProcess | undefined;
  afterAll(() => void child?.kill('SIGKILL'));

  it('serves the fast mode and photo uploads with the registered directions and encoder; a photo renders by id', async () => {
    const args = [join(PROJECT_ROOT, 'bin', 'styleclip.js'), 'serve', '--port', '0', '--store', join(reg.dir, 'store')];
    child = spawn(process.execPath, args, { cwd: reg.dir, env: process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (d) => (err += String(d)));
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      child!.stdout!.on('data', (d) => {
        out += String(d);
        const m = /listening on (http:\/\/\S+)/.exec(out);
        if (m) resolve(m[1]);
      });
      child!.once('exit', (code) => reject(new Error(`serve exited with ${code}: ${err}`)));
    });
    expect(err).toMatch(/fast path: global directions fs3-ffhq-vit-b32 \+ stylespace-stats-ffhq and photo inversion by e4e-ffhq \(registered with the generator/);
    const models = (await (await fetch(`${url}/v1/models`)).json()) as { directions: object | null; photo_inversion: string };
    expect(models.directions).not.toBeNull();
    expect(models.photo_inversion).toBe('encoder');
    const post = (path: string, body: object) => fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const up = await post('/v1/photos', { image: (await readFile(photo)).toString('base64') });
    expect(up.status).toBe(201);
    const { photo_id } = (await up.json()) as { photo_id: string };
    const d = (await (await post('/v1/directions', { prompt: 'make the hair red' })).json()) as { id: string };
    const render = await post('/v1/render', { photo_id, paste_back: true, format: 'jpeg', edits: [{ direction: d.id, alpha: 3 }] });
    expect(render.status).toBe(200);
    expect(render.headers.get('content-type')).toBe('image/jpeg');
  });
});

describe('editDefaults (src/edit/defaults.ts)', () => {
  const req = { given: [] as string[], photo: true, projection: false };
  it('a checkpoint path has no companions: StyleCLIP optimisation and projection, said', async () => {
    const m = await loadManifest();
    const d = await editDefaults({ ...req, generator: fixture('stylegan2_tiny.pt') }, m);
    expect(d).toEqual({
      method: 'optimize',
      said: 'method: StyleCLIP optimisation (no global directions are registered for this generator and CLIP; --method global for the fast path, with --fs3/--stats); photo projected (no encoder is registered for this generator; --encoder E inverts in one pass)',
    });
  });

  it('the default generator with another CLIP: the directions do not apply, the encoder does', async () => {
    const d = await editDefaults({ ...req, clip: 'clip-vit-b16' }, await loadManifest(join(process.cwd(), 'models', 'manifest.json')));
    expect(d.method).toBe('optimize');
    expect(d.encoder).toBe('e4e-ffhq');
  });

  it("the project's manifest: FFHQ's generator lists its fs3, S statistics and e4e", async () => {
    const d = await editDefaults(req, await loadManifest(join(process.cwd(), 'models', 'manifest.json')));
    expect(d).toMatchObject({ method: 'global', directions: { fs3: 'fs3-ffhq-vit-b32', stats: 'stylespace-stats-ffhq' }, encoder: 'e4e-ffhq' });
  });

  it('named choices win: --method, --encoder, a mapper flag', async () => {
    const m = await loadManifest(join(process.cwd(), 'models', 'manifest.json'));
    expect((await editDefaults({ ...req, method: 'optimize' }, m)).method).toBe('optimize');
    expect((await editDefaults({ ...req, encoder: 'psp-ffhq' }, m)).encoder).toBeUndefined();
    expect((await editDefaults({ ...req, given: ['mapper'] }, m)).method).toBe('mapper');
  });
});
