import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { runCli } from '../helpers/cli.js';
import { PROJECT_ROOT, fixture } from '../helpers/shared.js';
import { loadConverted } from '../../src/cli/models_convert.js';
import { loadClipCheckpoint } from '../../src/clip/weights.js';
import { loadGeneratorWeights } from '../../src/generator/load.js';
import { readSafetensors, writeSafetensors } from '../../src/io/tensors/safetensors.js';
import { startModelServer, type ModelServer } from '../io/model_server.js';

const G = randomBytes(200_000);
const C = randomBytes(30_000);
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

let dir: string;
let home: string;
let server: ModelServer;
const saved = { home: process.env.STYLECLIP_HOME, manifest: process.env.STYLECLIP_MANIFEST, mirror: process.env.STYLECLIP_MIRROR };

async function useManifest(base: string, gen: Partial<{ sha256: string | null; size: number | null; path: string }> = {}): Promise<void> {
  const common = { format: 'test', description: 'test model', citation: 'none' };
  const manifest = {
    version: 1,
    mirrorLayout: '{model}/{file}',
    models: [
      {
        ...common,
        name: 'gen',
        kind: 'generator',
        licence: 'NVIDIA Source Code License-NC (non-commercial)',
        files: [{ name: 'g.pt', url: `${base}${gen.path ?? '/g.pt'}`, size: gen.size === undefined ? G.length : gen.size, sha256: gen.sha256 === undefined ? sha(G) : gen.sha256 }],
      },
      { ...common, name: 'clipper', kind: 'clip', licence: 'MIT', files: [{ name: 'c.pt', url: `${base}/c.pt`, size: null, sha256: null }] },
    ],
  };
  await writeFile(process.env.STYLECLIP_MANIFEST as string, JSON.stringify(manifest));
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'styleclip-cli-models-'));
  home = join(dir, 'home');
  process.env.STYLECLIP_HOME = home;
  process.env.STYLECLIP_MANIFEST = join(dir, 'manifest.json');
  delete process.env.STYLECLIP_MIRROR;
  server = await startModelServer({ '/g.pt': { body: G }, '/c.pt': { body: C }, '/mirror/gen/g.pt': { body: G } });
  await useManifest(server.baseUrl);
});
afterEach(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
  for (const [k, v] of [['STYLECLIP_HOME', saved.home], ['STYLECLIP_MANIFEST', saved.manifest], ['STYLECLIP_MIRROR', saved.mirror]] as const) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
});

describe('styleclip models', () => {
  it('list shows name, kind, size, licence, status and path; --json has the details', async () => {
    let r = await runCli(['models', 'list']);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^NAME\s+KIND\s+SIZE\s+LICENCE\s+STATUS\s+PATH$/);
    expect(lines[1]).toMatch(new RegExp(`^gen\\s+generator\\s+200\\.0 kB\\s+NVIDIA Source Code License-NC\\s+absent\\s+${join(home, 'models', 'gen', 'g.pt')}$`));
    expect(lines[2]).toMatch(/^clipper\s+clip\s+\?\s+MIT\s+absent/);
    expect((await runCli(['models', 'pull', 'gen'])).code).toBe(0);
    r = await runCli(['models', 'list', '--json']);
    const json = JSON.parse(r.stdout);
    expect(json[0]).toMatchObject({ name: 'gen', kind: 'generator', size: G.length, present: true, path: join(home, 'models', 'gen', 'g.pt') });
    expect(json[0].files[0]).toMatchObject({ name: 'g.pt', sha256: sha(G), present: true });
    expect(json[1]).toMatchObject({ name: 'clipper', size: null, present: false });
  });

  it('pull prints NAME<TAB>PATH, stays quiet off a terminal, and notes a digest it had to record', async () => {
    const r = await runCli(['models', 'pull', 'gen', 'clipper']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`gen\t${join(home, 'models', 'gen', 'g.pt')}\nclipper\t${join(home, 'models', 'clipper', 'c.pt')}\n`);
    expect(r.stderr).toBe(
      `note: clipper/c.pt has no published sha256; recorded ${sha(C)} (checked by later pulls and 'styleclip models verify')\n`,
    );
    expect(await readFile(join(home, 'models', 'gen', 'g.pt'))).toEqual(G);
  });

  it('pull draws a progress bar with bytes and rate on a terminal', async () => {
    let err = '';
    const stderr = Object.assign(new Writable({ write: (c, _e, cb) => ((err += String(c)), cb()) }), { isTTY: true });
    const stdout = new Writable({ write: (_c, _e, cb) => cb() });
    const code = await main(['models', 'pull', 'gen'], { stdout, stderr, signal: new AbortController().signal });
    expect(code).toBe(0);
    expect(err).toMatch(/\rgen\/g\.pt \[=+\] 100% 200\.0 kB\/200\.0 kB [\d.]+ [kMG]?B\/s/);
    expect(err.endsWith('\n')).toBe(true);
  });

  it('pull --base-url and $STYLECLIP_MIRROR fetch <base>/<model>/<file>', async () => {
    expect((await runCli(['models', 'pull', 'gen', '--base-url', `${server.baseUrl}/mirror/`])).code).toBe(0);
    expect(server.requests.map((q) => q.path)).toEqual(['/mirror/gen/g.pt']);
    await runCli(['models', 'rm', 'gen']);
    process.env.STYLECLIP_MIRROR = `${server.baseUrl}/mirror`;
    expect((await runCli(['models', 'pull', 'gen'])).code).toBe(0);
    expect(server.requests.map((q) => q.path)).toEqual(['/mirror/gen/g.pt', '/mirror/gen/g.pt']);
    expect((await runCli(['models', 'pull', 'gen', '--base-url', 'mirror.example'])).stderr).toMatch(/--base-url must be an http/);
  });

  it('pull A B: a model that fails is reported and the next one is still pulled (exit 2)', async () => {
    await useManifest(server.baseUrl, { path: '/missing.pt' });
    const r = await runCli(['models', 'pull', 'gen', 'clipper']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/styleclip: gen: /);
    expect(r.stderr).toMatch(/1 of 2 models failed to download \(gen\); the others are in the cache/);
    expect(r.stdout).toMatch(/^clipper\t/m);
  });

  it('pull of an unknown name lists the known ones', async () => {
    const r = await runCli(['models', 'pull', 'nope']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("styleclip: unknown model 'nope': known models are gen, clipper ('styleclip models list' shows them all)\n");
  });

  it('a 404 is a one-line error and nothing is cached', async () => {
    await useManifest(server.baseUrl, { path: '/gone.pt' });
    const r = await runCli(['models', 'pull', 'gen']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^styleclip: http:\/\/127\.0\.0\.1:\d+\/gone\.pt: HTTP 404 Not Found: the URL is wrong.*\n$/);
    expect(await readdir(join(home, 'models', 'gen'))).toEqual([]);
  });

  it('a checksum mismatch is an error and nothing is cached', async () => {
    await useManifest(server.baseUrl, { sha256: sha(C) });
    const r = await runCli(['models', 'pull', 'gen']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/the download is corrupt \(sha256 [0-9a-f]{64}, expected [0-9a-f]{64}\) and was deleted/);
    expect(await readdir(join(home, 'models', 'gen'))).toEqual([]);
  });

  it('verify reports ok, then a mismatch with the fix (exit 1); a named absent model fails', async () => {
    await runCli(['models', 'pull', 'gen', 'clipper']);
    let r = await runCli(['models', 'verify']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('ok        gen/g.pt\nok        clipper/c.pt\n');
    await writeFile(join(home, 'models', 'clipper', 'c.pt'), G.subarray(0, C.length));
    r = await runCli(['models', 'verify', 'clipper']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^MISMATCH  clipper\/c\.pt: sha256 \w+, expected \w+; run 'styleclip models rm clipper' and pull it again\n$/);
    await runCli(['models', 'rm', 'clipper']);
    r = await runCli(['models', 'verify', 'clipper']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("absent    clipper (run 'styleclip models pull clipper')\n");
  });

  it('verify with nothing downloaded says so', async () => {
    const r = await runCli(['models', 'verify']);
    expect(r).toMatchObject({ code: 0, stdout: "no models downloaded ('styleclip models pull NAME')\n" });
  });

  it('path prints the cache path, exit 1 with a hint when absent', async () => {
    const path = join(home, 'models', 'gen', 'g.pt');
    let r = await runCli(['models', 'path', 'gen']);
    expect(r).toMatchObject({ code: 1, stdout: `${path}\n` });
    expect(r.stderr).toContain("run 'styleclip models pull gen'");
    await runCli(['models', 'pull', 'gen']);
    r = await runCli(['models', 'path', 'gen']);
    expect(r).toMatchObject({ code: 0, stdout: `${path}\n`, stderr: '' });
    expect((await runCli(['models', 'path'])).code).toBe(2);
  });

  it('rm removes the files and says when there was nothing', async () => {
    await runCli(['models', 'pull', 'gen']);
    expect((await runCli(['models', 'rm', 'gen'])).stdout).toBe('removed gen\n');
    expect(existsSync(join(home, 'models', 'gen'))).toBe(false);
    expect((await runCli(['models', 'rm', 'gen'])).stdout).toBe('gen was not downloaded\n');
  });

  it('two processes pulling the same model at once download it once, intact', async () => {
    await server.close();
    server = await startModelServer({ '/g.pt': { body: G, chunk: 8192, delayMs: 80 } });
    await useManifest(server.baseUrl);
    const env = { ...process.env };
    const run = (): Promise<{ code: number | null; out: string }> =>
      new Promise((resolve) => {
        const child = spawn(process.execPath, [join(PROJECT_ROOT, 'bin', 'styleclip.js'), 'models', 'pull', 'gen'], { env, cwd: PROJECT_ROOT });
        let out = '';
        child.stdout.on('data', (d) => (out += String(d)));
        child.stderr.on('data', (d) => (out += String(d)));
        child.on('exit', (code) => resolve({ code, out }));
      });
    const results = await Promise.all([run(), run()]);
    for (const r of results) expect(r.code, r.out).toBe(0);
    expect(results.map((r) => r.out).join('')).toMatch(/gen\/g\.pt: waiting for the download in process \d+/);
    expect(server.requests.filter((q) => q.range === undefined)).toHaveLength(1);
    expect(await readFile(join(home, 'models', 'gen', 'g.pt'))).toEqual(G);
    expect((await readdir(join(home, 'models', 'gen'))).sort()).toEqual(['g.pt', 'g.pt.sha256']);
  });
});

describe('styleclip models convert', () => {
  const fixtures = [
    ['stylegan2_tiny.pt', 'generator', 'torch-zip'],
    ['stylegan2_tiny.legacy.pt', 'generator', 'torch-legacy'],
    ['clip_vit_tiny.torchscript.pt', 'clip', 'openai-torchscript'],
    ['clip_vit_tiny.state_dict.pt', 'clip', 'state-dict'],
  ] as const;

  it.each(fixtures)('%s converts to our layout and loads back identical to the original loader', async (name, kind, sourceFormat) => {
    const out = join(dir, `${name}.safetensors`);
    const r = await runCli(['models', 'convert', fixture(name), out, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ kind, sourceFormat });
    const back = await loadConverted(out);
    const original = kind === 'generator' ? await loadGeneratorWeights(fixture(name)) : await loadClipCheckpoint(fixture(name));
    expect(back.kind).toBe(kind);
    expect(back.config).toEqual(original.config);
    expect([...back.weights.keys()].sort()).toEqual([...original.weights.keys()].sort());
    for (const [k, t] of original.weights) {
      const b = back.weights.get(k)!;
      expect(b.shape, k).toEqual(t.shape);
      expect(Buffer.compare(Buffer.from(b.data.buffer, b.data.byteOffset, b.data.byteLength), Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength)), k).toBe(0);
    }
    const meta = (await readSafetensors(out)).metadata;
    expect(meta).toMatchObject({ format: 'styleclip', format_version: '1', kind, source: name, source_format: sourceFormat });
    expect(meta.source_sha256).toBe(sha(await readFile(fixture(name))));
  });

  it('prints a one-line summary', async () => {
    const r = await runCli(['models', 'convert', fixture('stylegan2_tiny.pt'), join(dir, 'g.safetensors')]);
    expect(r.stdout).toMatch(/g\.safetensors: generator from torch-zip, 92 tensors, 1\.1 MB\n$/);
  });

  it('refuses what it cannot convert, with the reason', async () => {
    const out = join(dir, 'x.safetensors');
    let r = await runCli(['models', 'convert', fixture('sg2_z.npy'), out]);
    expect(r).toMatchObject({ code: 2 });
    expect(r.stderr).toMatch(/not a PyTorch checkpoint/);
    r = await runCli(['models', 'convert', fixture('clip_vit_tiny.state_dict.pt'), out, '--kind', 'generator']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/is a CLIP model checkpoint, not a StyleGAN2 generator/);
    await runCli(['models', 'convert', fixture('stylegan2_tiny.pt'), out]);
    r = await runCli(['models', 'convert', out, join(dir, 'y.safetensors')]);
    expect(r.stderr).toMatch(/already in our converted layout/);
    expect((await runCli(['models', 'convert', fixture('stylegan2_tiny.pt'), join(dir, 'g.pt')])).stderr).toMatch(/must end in \.safetensors/);
    expect((await runCli(['models', 'convert', fixture('stylegan2_tiny.pt'), out, '--kind', 'vae'])).stderr).toMatch(/--kind must be one of generator, clip/);
    expect((await runCli(['models', 'convert', 'no-such-model', out])).stderr).toMatch(/no such file or model name/);
    expect(existsSync(join(dir, 'y.safetensors'))).toBe(false);
  });

  it('a converted file whose metadata disagrees with its tensors is refused', async () => {
    const out = join(dir, 'c.safetensors');
    await runCli(['models', 'convert', fixture('clip_vit_tiny.torchscript.pt'), out]);
    const st = await readSafetensors(out);
    const config = { ...JSON.parse(st.metadata.config), embedDim: 999 };
    await writeSafetensors(out, st.tensors, { ...st.metadata, config: JSON.stringify(config) });
    await expect(loadConverted(out)).rejects.toThrow(/config in its metadata does not match its tensors/);
    await writeSafetensors(out, st.tensors, { ...st.metadata, format_version: '0' });
    await expect(loadConverted(out)).rejects.toThrow(/version 0 is not 1; convert the original checkpoint again/);
  });
});
