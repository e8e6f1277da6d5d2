import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname, homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { digestPath, lockPath, sha256File } from '../../src/io/models/download.js';
import {
  cacheHome,
  cachedFilePath,
  fileUrl,
  loadManifest,
  modelStatus,
  parseManifest,
  pullModel,
  removeModel,
  requireModel,
  resolveModelPath,
  verifyModel,
  type Manifest,
} from '../../src/io/models/registry.js';
import { InputError } from '../../src/errors.js';
import { sharedPath } from '../helpers/shared.js';
import { startModelServer, type ModelServer } from './model_server.js';

const G = randomBytes(50_000);
const J = Buffer.from('{"graph": true}');
const W = randomBytes(20_000);
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** A test manifest: a generator with a known digest, a CLIP model with an unknown one, a two-file face model. */
function testManifest(base: string): Manifest {
  const common = { format: 'test', description: 'test model', licence: 'MIT (test)', citation: 'none' };
  return parseManifest({
    version: 1,
    mirrorLayout: '{model}/{file}',
    models: [
      { ...common, name: 'gen', kind: 'generator', aliases: [], files: [{ name: 'g.pt', url: `${base}/origin/g.pt`, size: G.length, sha256: sha(G) }] },
      { ...common, name: 'clipper', kind: 'clip', aliases: ['Clip/X'], files: [{ name: 'c.pt', url: `${base}/origin/c.pt`, size: null, sha256: null }] },
      {
        ...common,
        name: 'facenet',
        kind: 'face',
        aliases: [],
        entry: 'f.json',
        files: [
          { name: 'f.json', url: `${base}/origin/f.json`, size: J.length, sha256: sha(J) },
          { name: 'f.bin', url: `${base}/origin/f.bin`, size: W.length, sha256: sha(W) },
        ],
      },
    ],
  });
}

let home: string;
let server: ModelServer;
let manifest: Manifest;

beforeEach(async () => {
  home = await mkdtemp(join(tmpdir(), 'styleclip-home-'));
  server = await startModelServer({
    '/origin/g.pt': { body: G },
    '/origin/c.pt': { body: W },
    '/origin/f.json': { body: J },
    '/origin/f.bin': { body: W },
    '/mirror/gen/g.pt': { body: G },
  });
  manifest = testManifest(server.baseUrl);
});
afterEach(async () => {
  await server.close();
  await rm(home, { recursive: true, force: true });
});

describe('the bundled manifest', () => {
  it('validates, and its recorded digests match the copies in ../shared', async () => {
    const m = await loadManifest(undefined, {});
    const checks: [string, string[]][] = [
      ['clip-bpe-vocab', ['data', 'clip']],
      ['face-api-tiny-face-detector', ['models', 'face-api']],
      ['face-api-landmark-68', ['models', 'face-api']],
      ['human-blazeface', ['models', 'human']],
      ['human-mobileface', ['models', 'human']],
    ];
    for (const [name, dir] of checks) {
      for (const f of requireModel(m, name).files) {
        const path = sharedPath(...dir, f.name);
        expect(await sha256File(path), `${name}/${f.name}`).toBe(f.sha256);
        expect((await readFile(path)).length, `${name}/${f.name}`).toBe(f.size);
      }
    }
  });

  it('has the real models by name, the OpenAI digests taken from their URLs', async () => {
    const m = await loadManifest(undefined, {});
    for (const name of ['stylegan2-ffhq-config-f', 'stylegan2-ada-ffhq']) expect(requireModel(m, name, 'generator').files).toHaveLength(1);
    for (const alias of ['ViT-B/32', 'ViT-B/16']) {
      const f = requireModel(m, alias, 'clip').files[0];
      expect(f.url.split('/').at(-2)).toBe(f.sha256);
    }
    expect(requireModel(m, 'stylegan2-ffhq-config-f').files[0].url).toContain('1EM87UquaoQmk17Q8d5kYIAHqu0dkYqdT');
  });
});

describe('parseManifest', () => {
  const good = { version: 1, mirrorLayout: '{model}/{file}', models: [] as unknown[] };
  const model = (over: Record<string, unknown> = {}, file: Record<string, unknown> = {}): unknown => ({
    name: 'm',
    kind: 'clip',
    format: 'f',
    description: 'd',
    licence: 'l',
    citation: 'c',
    files: [{ name: 'a.pt', url: 'https://x/a.pt', size: 1, sha256: null, ...file }],
    ...over,
  });
  it.each([
    [{ ...good, version: 2 }, /version/],
    [{ ...good, models: [model({ kind: 'vae' })] }, /kind must be one of/],
    [{ ...good, models: [model({}, { sha256: 'ABC' })] }, /sha256 must be 64 lowercase hex/],
    [{ ...good, models: [model({}, { name: '../evil' })] }, /bad file name/],
    [{ ...good, models: [model({}, { url: 'ftp://x' })] }, /url must be http/],
    [{ ...good, models: [model({ entry: 'b.pt' })] }, /entry "b.pt" is not one of its files/],
    [{ ...good, models: [model(), model({ name: 'n', aliases: ['m'] })] }, /"m" is used twice/],
    [{ ...good, models: [model({ companions: { encoder: 'e' } })] }, /companions: only generators have companions/],
    [{ ...good, models: [model({ kind: 'generator', companions: { encoder: 'nope' } })] }, /companions: 'nope' is not in the manifest/],
    [{ ...good, models: [model({ kind: 'generator', companions: { encoder: 'c' } }), model({ name: 'c' })] }, /'c' is a clip model, not an encoder/],
    [{ ...good, models: [model({ kind: 'generator', companions: { directions: { clip: 'c' } } })] }, /directions must be \{clip, fs3, stats\}/],
    [{ ...good, models: [model({ kind: 'generator', companions: { mappers: [] } })] }, /unknown key 'mappers'/],
  ])('rejects %j', (value, message) => {
    expect(() => parseManifest(value)).toThrow(message);
  });
});

describe('cache home and mirrors', () => {
  it('prefers $STYLECLIP_HOME, then $XDG_CACHE_HOME/styleclip, then ~/.cache/styleclip', () => {
    expect(cacheHome({ STYLECLIP_HOME: '/a', XDG_CACHE_HOME: '/b' })).toBe('/a');
    expect(cacheHome({ XDG_CACHE_HOME: '/b' })).toBe('/b/styleclip');
    expect(cacheHome({})).toBe(join(homedir(), '.cache', 'styleclip'));
  });

  it('a mirror replaces the origin with <base>/<model>/<file>', () => {
    const e = requireModel(manifest, 'gen');
    expect(fileUrl(manifest, e, e.files[0])).toBe(`${server.baseUrl}/origin/g.pt`);
    expect(fileUrl(manifest, e, e.files[0], 'https://mirror.example/models/')).toBe('https://mirror.example/models/gen/g.pt');
  });
});

describe('resolveModelPath', () => {
  it('returns an existing path as it is', async () => {
    const p = join(home, 'mine.pt');
    await writeFile(p, 'x');
    expect(await resolveModelPath(p, 'generator', { manifest, home })).toBe(p);
  });

  it('an unknown name lists the known names of that kind and the list command', async () => {
    const err = await resolveModelPath('nope', 'generator', { manifest, home }).catch((e) => e);
    expect(err).toBeInstanceOf(InputError);
    expect(err.message).toBe("unknown model 'nope': known generators are gen ('styleclip models list' shows them all)");
  });

  it('a missing file path says so', async () => {
    await expect(resolveModelPath('ckpt/g.pt', 'generator', { manifest, home })).rejects.toThrow(/ckpt\/g\.pt: no such file.*gen/);
  });

  it('a model of another kind is refused', async () => {
    await expect(resolveModelPath('gen', 'clip', { manifest, home })).rejects.toThrow("'gen' is a generator model, not a clip; clips: clipper");
  });

  it('with downloads off, a model not downloaded names the pull command', async () => {
    await expect(resolveModelPath('gen', 'generator', { manifest, home, download: false })).rejects.toThrow(
      "model 'gen' is not downloaded yet and downloads are off (--offline / STYLECLIP_OFFLINE=1): run 'styleclip models pull gen' (50.0 kB)",
    );
  });

  it('a named model not in the cache is pulled on first use (sha256 checked), with progress', async () => {
    const seen: number[] = [];
    let pulled = '';
    const path = await resolveModelPath('gen', 'generator', { manifest, home, download: true, onPull: (e) => (pulled = e.name), onProgress: (_f, p) => seen.push(p.bytes) });
    expect(path).toBe(join(home, 'models', 'gen', 'g.pt'));
    expect(pulled).toBe('gen');
    expect(seen[seen.length - 1]).toBe(G.length);
    expect(sha(await readFile(path))).toBe(sha(G));
  });

  it('after a pull, names and aliases resolve to the cached file (or the entry file of a multi-file model)', async () => {
    for (const name of ['gen', 'clipper', 'facenet']) await pullModel(manifest, requireModel(manifest, name), { home });
    expect(await resolveModelPath('gen', 'generator', { manifest, home })).toBe(join(home, 'models', 'gen', 'g.pt'));
    expect(await resolveModelPath('Clip/X', 'clip', { manifest, home })).toBe(join(home, 'models', 'clipper', 'c.pt'));
    expect(await resolveModelPath('facenet', 'face', { manifest, home })).toBe(join(home, 'models', 'facenet', 'f.json'));
  });
});

describe('pull, status, verify, remove', () => {
  it('pulls every file of a model and reports it present', async () => {
    const e = requireModel(manifest, 'facenet');
    expect((await modelStatus(home, e)).present).toBe(false);
    const results = await pullModel(manifest, e, { home });
    expect(results.map((r) => r.downloaded)).toEqual([true, true]);
    const s = await modelStatus(home, e);
    expect(s.present).toBe(true);
    expect(s.files.map((f) => f.present)).toEqual([true, true]);
    expect(await readFile(join(home, 'models', 'facenet', 'f.bin'))).toEqual(W);
  });

  it('pulls from a mirror given as baseUrl', async () => {
    const e = requireModel(manifest, 'gen');
    await pullModel(manifest, e, { home, baseUrl: `${server.baseUrl}/mirror` });
    expect(server.requests.map((r) => r.path)).toEqual(['/mirror/gen/g.pt']);
    expect((await modelStatus(home, e)).present).toBe(true);
  });

  it('verify: ok, recorded for an unknown digest, mismatch after corruption', async () => {
    const gen = requireModel(manifest, 'gen');
    const clipper = requireModel(manifest, 'clipper');
    await pullModel(manifest, gen, { home });
    await pullModel(manifest, clipper, { home });
    expect((await verifyModel(home, gen)).map((r) => r.state)).toEqual(['ok']);
    expect((await verifyModel(home, clipper)).map((r) => r.state)).toEqual(['ok']);
    const c = cachedFilePath(home, clipper, clipper.files[0]);
    await rm(digestPath(c));
    expect((await verifyModel(home, clipper))[0]).toMatchObject({ state: 'recorded', sha256: sha(W) });
    expect((await verifyModel(home, clipper))[0].state).toBe('ok');
    const g = cachedFilePath(home, gen, gen.files[0]);
    const bad = Buffer.from(G);
    bad[7] ^= 1;
    await writeFile(g, bad);
    expect((await verifyModel(home, gen))[0]).toMatchObject({ state: 'mismatch', sha256: sha(bad), expected: sha(G) });
    await writeFile(c, bad);
    expect((await verifyModel(home, clipper))[0]).toMatchObject({ state: 'mismatch', expected: sha(W) });
  });

  it('a cached file that does not match the manifest is reported by pull', async () => {
    const gen = requireModel(manifest, 'gen');
    const g = cachedFilePath(home, gen, gen.files[0]);
    await mkdir(join(home, 'models', 'gen'), { recursive: true });
    await writeFile(g, W);
    await expect(pullModel(manifest, gen, { home })).rejects.toThrow(/is in the cache but is not the expected file.*models rm/);
  });

  it('rm deletes the model directory but refuses during a download', async () => {
    const gen = requireModel(manifest, 'gen');
    await pullModel(manifest, gen, { home });
    const lock = lockPath(cachedFilePath(home, gen, gen.files[0]));
    await writeFile(lock, JSON.stringify({ pid: process.pid, host: hostname(), started: '' }));
    await expect(removeModel(home, gen)).rejects.toThrow(/'gen' is being downloaded \(pid \d+/);
    await rm(lock);
    expect(await removeModel(home, gen)).toBe(true);
    expect(existsSync(join(home, 'models', 'gen'))).toBe(false);
    expect(await removeModel(home, gen)).toBe(false);
  });
});
