/**
 * A model registry whose default names serve the tiny fixture models: a manifest that maps
 * stylegan2-ffhq-config-f, clip-vit-b32, clip-bpe-vocab, fs3-ffhq-vit-b32, stylespace-stats-ffhq and e4e-ffhq (with
 * the FFHQ generator's companions, as models/manifest.json) onto ../shared's fixture files, behind a loopback mirror,
 * with an empty cache. Commands given no model flags then pull and use the fixtures exactly as a new user's
 * first run pulls the real models.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startModelServer, type ModelServer } from '../io/model_server.js';
import { fixture, sharedPath } from './shared.js';

interface Served {
  readonly name: string;
  readonly kind: string;
  readonly format: string;
  readonly file: string;
  readonly path: string;
  readonly companions?: object;
}

const SERVED: readonly Served[] = [
  {
    name: 'stylegan2-ffhq-config-f', kind: 'generator', format: 'rosinality-pt', file: 'stylegan2-ffhq-config-f.pt', path: fixture('stylegan2_tiny.pt'),
    companions: { encoder: 'e4e-ffhq', directions: { clip: 'clip-vit-b32', fs3: 'fs3-ffhq-vit-b32', stats: 'stylespace-stats-ffhq' } },
  },
  { name: 'clip-vit-b32', kind: 'clip', format: 'openai-torchscript', file: 'ViT-B-32.pt', path: fixture('clip_vit_tiny.torchscript.pt') },
  { name: 'clip-bpe-vocab', kind: 'vocab', format: 'clip-bpe-gz', file: 'bpe_simple_vocab_16e6.txt.gz', path: sharedPath('data', 'clip', 'bpe_simple_vocab_16e6.txt.gz') },
  { name: 'fs3-ffhq-vit-b32', kind: 'directions', format: 'styleclip-fs3-npy', file: 'fs3.npy', path: fixture('fs3.npy') },
  { name: 'stylespace-stats-ffhq', kind: 'directions', format: 'styleclip-s-mean-std', file: 'S_mean_std', path: fixture('S_mean_std') },
  { name: 'e4e-ffhq', kind: 'encoder', format: 'e4e-pt', file: 'e4e_ffhq_encode.pt', path: fixture('e4e_tiny.pt') },
];

export interface FixtureRegistry {
  readonly dir: string;
  readonly server: ModelServer;
  /** Environment that points the registry at it (manifest, mirror, empty cache, downloads on). */
  readonly env: Record<string, string | undefined>;
  /** Restores the environment and stops the server. */
  close(): Promise<void>;
}

/** Starts the mirror and sets STYLECLIP_MANIFEST / _MIRROR / _HOME (and clears _OFFLINE) until `close()`. */
export async function startFixtureRegistry(): Promise<FixtureRegistry> {
  const dir = mkdtempSync(join(tmpdir(), 'styleclip-registry-'));
  const bodies = await Promise.all(SERVED.map((s) => readFile(s.path)));
  const server = await startModelServer(Object.fromEntries(SERVED.map((s, i) => [`/${s.name}/${s.file}`, { body: bodies[i] }])));
  const models = SERVED.map((s, i) => ({
    name: s.name, aliases: [], kind: s.kind, format: s.format, description: `fixture served as ${s.name}`, licence: 'test', citation: 'none',
    files: [{ name: s.file, url: `https://example.invalid/${s.file}`, size: bodies[i].length, sha256: createHash('sha256').update(bodies[i]).digest('hex') }],
    ...(s.companions ? { companions: s.companions } : {}),
  }));
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ version: 1, mirrorLayout: '{model}/{file}', models }));
  const env = { STYLECLIP_MANIFEST: join(dir, 'manifest.json'), STYLECLIP_MIRROR: server.baseUrl, STYLECLIP_HOME: join(dir, 'cache'), STYLECLIP_OFFLINE: undefined, STYLECLIP_FACE_MODELS: sharedPath('models') };
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  const set = (vars: Record<string, string | undefined>): void => {
    for (const [k, v] of Object.entries(vars)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
  set(env);
  return {
    dir,
    server,
    env,
    async close() {
      set(saved);
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
