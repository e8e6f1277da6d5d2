/**
 * A model registry whose default names serve the tiny fixture models: a manifest that maps
 * stylegan2-ffhq-config-f, clip-vit-b32, clip-bpe-vocab, fs3-ffhq-vit-b32, stylespace-stats-ffhq and e4e-ffhq (with
 * the FFHQ generator's companions, as models/manifest.json) onto ../shared's fixture files, and the face models
 * (face-api-tiny-face-detector, face-api-landmark-68, human-mobileface) onto ../shared's real ones, behind a loopback
 * mirror, with an empty cache. Commands given no model flags then pull and use them exactly as a new user's first
 * run pulls the real models.
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
  /** File names in the model's directory -> where the bytes come from. */
  readonly files: Readonly<Record<string, string>>;
  /** The file a loader opens, when the model has several. */
  readonly entry?: string;
  readonly companions?: object;
}

const face = (dir: string, ...names: string[]): Record<string, string> => Object.fromEntries(names.map((n) => [n, sharedPath('models', dir, n)]));

const SERVED: readonly Served[] = [
  {
    name: 'stylegan2-ffhq-config-f', kind: 'generator', format: 'rosinality-pt', files: { 'stylegan2-ffhq-config-f.pt': fixture('stylegan2_tiny.pt') },
    companions: { encoder: 'e4e-ffhq', directions: { clip: 'clip-vit-b32', fs3: 'fs3-ffhq-vit-b32', stats: 'stylespace-stats-ffhq' } },
  },
  { name: 'clip-vit-b32', kind: 'clip', format: 'openai-torchscript', files: { 'ViT-B-32.pt': fixture('clip_vit_tiny.torchscript.pt') } },
  { name: 'clip-bpe-vocab', kind: 'vocab', format: 'clip-bpe-gz', files: { 'bpe_simple_vocab_16e6.txt.gz': sharedPath('data', 'clip', 'bpe_simple_vocab_16e6.txt.gz') } },
  { name: 'fs3-ffhq-vit-b32', kind: 'directions', format: 'styleclip-fs3-npy', files: { 'fs3.npy': fixture('fs3.npy') } },
  { name: 'stylespace-stats-ffhq', kind: 'directions', format: 'styleclip-s-mean-std', files: { S_mean_std: fixture('S_mean_std') } },
  { name: 'e4e-ffhq', kind: 'encoder', format: 'e4e-pt', files: { 'e4e_ffhq_encode.pt': fixture('e4e_tiny.pt') } },
  { name: 'face-api-tiny-face-detector', kind: 'face', format: 'tfjs-layers', files: face('face-api', 'tiny_face_detector_model-weights_manifest.json', 'tiny_face_detector_model-shard1') },
  { name: 'face-api-landmark-68', kind: 'face', format: 'tfjs-layers', files: face('face-api', 'face_landmark_68_model-weights_manifest.json', 'face_landmark_68_model-shard1') },
  { name: 'human-mobileface', kind: 'face', format: 'tfjs-graph', files: face('human', 'mobileface.json', 'mobileface.bin'), entry: 'mobileface.json' },
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
  const files = SERVED.flatMap((s) => Object.entries(s.files).map(([file, path]) => ({ model: s.name, file, path })));
  const bodies = new Map(await Promise.all(files.map(async (f) => [`/${f.model}/${f.file}`, await readFile(f.path)] as const)));
  const server = await startModelServer(Object.fromEntries([...bodies].map(([url, body]) => [url, { body }])));
  const models = SERVED.map((s) => ({
    name: s.name, aliases: [], kind: s.kind, format: s.format, description: `fixture served as ${s.name}`, licence: 'test', citation: 'none',
    files: Object.keys(s.files).map((file) => {
      const body = bodies.get(`/${s.name}/${file}`)!;
      return { name: file, url: `https://example.invalid/${file}`, size: body.length, sha256: createHash('sha256').update(body).digest('hex') };
    }),
    ...(s.entry ? { entry: s.entry } : {}),
    ...(s.companions ? { companions: s.companions } : {}),
  }));
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ version: 1, mirrorLayout: '{model}/{file}', models }));
  const env = { STYLECLIP_MANIFEST: join(dir, 'manifest.json'), STYLECLIP_MIRROR: server.baseUrl, STYLECLIP_HOME: join(dir, 'cache'), STYLECLIP_OFFLINE: undefined, STYLECLIP_FACE_MODELS: undefined };
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
