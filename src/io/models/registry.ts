/**
 * The model registry: `models/manifest.json` names every pretrained model the project can use (download URL, byte
 * size, sha256, licence, citation, kind, format), and a per-user cache holds the downloaded files as
 * `<home>/models/<name>/<file>`. The home is `$STYLECLIP_HOME`, else `$XDG_CACHE_HOME/styleclip`, else
 * `~/.cache/styleclip` (XDG Base Directory Specification 0.8). Every command that takes a model accepts a manifest name
 * (or alias) as well as a path through `resolveModelPath`. A mirror replaces each file's URL with
 * `<base>/<mirrorLayout>`, by default `<base>/<model>/<file>`: the cache's own layout, so a copy of `<home>/models`
 * behind any static HTTP server is a mirror. Downloads (resume, checksums, locking) are ./download.ts.
 */
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  downloadFile,
  fileSize,
  lockHolder,
  lockPath,
  partialPath,
  readRecordedDigest,
  recordDigest,
  sha256File,
  type DownloadOptions,
  type DownloadResult,
  type LockHolder,
} from './download.js';
import { InputError } from '../../errors.js';
import { checkCompanionNames, parseCompanions, type Companions } from './companions.js';

const MODEL_KINDS = Object.freeze(['generator', 'clip', 'vocab', 'face', 'directions', 'mapper', 'encoder'] as const);
export type ModelKind = (typeof MODEL_KINDS)[number];

interface ModelFile {
  readonly name: string;
  readonly url: string;
  /** Bytes; null when it could not be confirmed offline (verify-on-first-download). */
  readonly size: number | null;
  /** Lowercase hex sha256; null when unknown (the digest seen at the first download is recorded beside the file). */
  readonly sha256: string | null;
  /** Approximate bytes for display when `size` is unknown (never checked). */
  readonly approxSize?: number;
}

export interface ModelEntry {
  readonly name: string;
  /** Other names accepted on the command line, e.g. CLIP's own `ViT-B/32`. */
  readonly aliases: readonly string[];
  readonly kind: ModelKind;
  /** Checkpoint format, e.g. `rosinality-pt`, `nvidia-pkl`, `openai-torchscript`, `tfjs-graph`. */
  readonly format: string;
  readonly description: string;
  readonly licence: string;
  readonly citation: string;
  readonly homepage?: string;
  /** The file a loader opens when the model has several; without it a multi-file model's path is its directory. */
  readonly entry?: string;
  readonly files: readonly ModelFile[];
  readonly notes?: string;
  /** Generators: the encoder and global directions made for it (./companions.ts), the fast path's defaults. */
  readonly companions?: Companions;
}

export interface Manifest {
  readonly version: 1;
  /** Path under a mirror's base URL, with `{model}` and `{file}` substituted. */
  readonly mirrorLayout: string;
  readonly models: readonly ModelEntry[];
}

/** Environment variables the registry reads. */
export const ENV = Object.freeze({
  home: 'STYLECLIP_HOME',
  xdgCache: 'XDG_CACHE_HOME',
  mirror: 'STYLECLIP_MIRROR',
  manifest: 'STYLECLIP_MANIFEST',
  /** '1' forbids downloads: a named model must be in the cache already (`--offline` sets it). */
  offline: 'STYLECLIP_OFFLINE',
});

/**
 * The models used when none are named (StyleCLIP's own: the FFHQ config-f generator, CLIP ViT-B/32 and its BPE
 * vocabulary, FFHQ's global-direction files), by model flag / source field.
 */
export const DEFAULT_MODEL_NAMES = Object.freeze({
  generator: 'stylegan2-ffhq-config-f',
  clip: 'clip-vit-b32',
  vocab: 'clip-bpe-vocab',
  fs3: 'fs3-ffhq-vit-b32',
  stats: 'stylespace-stats-ffhq',
});

/** Whether downloads are allowed ($STYLECLIP_OFFLINE is not '1'). */
export function downloadsAllowed(env: NodeJS.ProcessEnv = process.env): boolean {
  return env[ENV.offline] !== '1';
}
const MANIFEST_RELATIVE = join('models', 'manifest.json');
/** Model and file names become path components: no separators, no leading dot. */
const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const SHA256_HEX = /^[0-9a-f]{64}$/;

class ManifestError extends InputError {
  override name = 'ManifestError';
}

/** The project's manifest: the first `models/manifest.json` above this module (works from src/ and dist/). */
function bundledManifestPath(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, MANIFEST_RELATIVE);
    if (existsSync(candidate)) return candidate;
    const up = dirname(dir);
    if (up === dir) throw new Error(`${MANIFEST_RELATIVE} not found above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

function check(ok: boolean, where: string, what: string): void {
  if (!ok) throw new ManifestError(`${where}: ${what}`);
}

function parseFile(v: unknown, where: string): ModelFile {
  const f = v as Record<string, unknown>;
  check(typeof f === 'object' && f !== null, where, 'a file must be an object');
  check(typeof f.name === 'string' && SAFE_NAME.test(f.name), where, `bad file name ${JSON.stringify(f.name)}`);
  check(typeof f.url === 'string' && /^https?:\/\//.test(f.url), where, `${String(f.name)}: url must be http(s)`);
  check(f.size === null || (Number.isSafeInteger(f.size) && (f.size as number) >= 0), where, `${String(f.name)}: size must be bytes or null`);
  check(f.sha256 === null || (typeof f.sha256 === 'string' && SHA256_HEX.test(f.sha256)), where, `${String(f.name)}: sha256 must be 64 lowercase hex digits or null`);
  check(f.approxSize === undefined || (Number.isSafeInteger(f.approxSize) && (f.approxSize as number) > 0), where, `${String(f.name)}: approxSize must be bytes`);
  const approx = f.approxSize === undefined ? {} : { approxSize: f.approxSize as number };
  return Object.freeze({ name: f.name as string, url: f.url as string, size: f.size as number | null, sha256: f.sha256 as string | null, ...approx });
}

function parseEntry(v: unknown, where: string): ModelEntry {
  const m = v as Record<string, unknown>;
  check(typeof m === 'object' && m !== null, where, 'a model must be an object');
  const at = `${where} model ${JSON.stringify(m.name)}`;
  check(typeof m.name === 'string' && SAFE_NAME.test(m.name), at, 'bad model name');
  check(MODEL_KINDS.includes(m.kind as ModelKind), at, `kind must be one of ${MODEL_KINDS.join(', ')}`);
  for (const key of ['format', 'description', 'licence', 'citation']) check(typeof m[key] === 'string' && m[key] !== '', at, `${key} is required`);
  const aliases = m.aliases ?? [];
  check(Array.isArray(aliases) && aliases.every((a) => typeof a === 'string' && a !== ''), at, 'aliases must be strings');
  check(Array.isArray(m.files) && m.files.length > 0, at, 'files must be a non-empty array');
  const files = (m.files as unknown[]).map((f) => parseFile(f, at));
  check(new Set(files.map((f) => f.name)).size === files.length, at, 'file names must be unique');
  check(m.entry === undefined || files.some((f) => f.name === m.entry), at, `entry ${JSON.stringify(m.entry)} is not one of its files`);
  const companions = parseCompanions(m.companions, m.kind as string, at);
  return Object.freeze({ ...(m as object), aliases: Object.freeze([...(aliases as string[])]), files: Object.freeze(files), companions }) as ModelEntry;
}

/** Validates a parsed manifest; `where` names its source in errors. */
export function parseManifest(value: unknown, where = 'manifest'): Manifest {
  const m = value as Record<string, unknown>;
  check(typeof m === 'object' && m !== null && m.version === 1, where, 'expected {"version": 1, ...}');
  check(typeof m.mirrorLayout === 'string' && m.mirrorLayout.includes('{file}'), where, 'mirrorLayout must contain {file}');
  check(Array.isArray(m.models), where, 'models must be an array');
  const models = (m.models as unknown[]).map((e) => parseEntry(e, where));
  const names = models.flatMap((e) => [e.name, ...e.aliases]);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  check(dup === undefined, where, `name or alias ${JSON.stringify(dup)} is used twice`);
  checkCompanionNames(models, (name) => findIn(models, name), where);
  return Object.freeze({ version: 1, mirrorLayout: m.mirrorLayout as string, models: Object.freeze(models) });
}

/** Reads a manifest: `path`, else `$STYLECLIP_MANIFEST`, else the project's models/manifest.json. */
export async function loadManifest(path?: string, env: NodeJS.ProcessEnv = process.env): Promise<Manifest> {
  const file = path ?? env[ENV.manifest] ?? bundledManifestPath();
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new ManifestError(`cannot read the model manifest ${file}: ${(e as Error).message}`);
  }
  try {
    return parseManifest(JSON.parse(text), file);
  } catch (e) {
    if (e instanceof InputError) throw e;
    throw new ManifestError(`${file}: not valid JSON (${(e as Error).message})`);
  }
}

/** The cache home: $STYLECLIP_HOME, else $XDG_CACHE_HOME/styleclip, else ~/.cache/styleclip. */
export function cacheHome(env: NodeJS.ProcessEnv = process.env): string {
  if (env[ENV.home]) return resolve(env[ENV.home] as string);
  if (env[ENV.xdgCache]) return resolve(env[ENV.xdgCache] as string, 'styleclip');
  return join(homedir(), '.cache', 'styleclip');
}

/** The model of that name, else the one with that alias. */
const findIn = (models: readonly ModelEntry[], name: string): ModelEntry | undefined => models.find((m) => m.name === name) ?? models.find((m) => m.aliases.includes(name));
export const findModel = (manifest: Manifest, name: string): ModelEntry | undefined => findIn(manifest.models, name);

const knownNames = (manifest: Manifest, kind?: ModelKind): string =>
  manifest.models.filter((m) => kind === undefined || m.kind === kind).map((m) => m.name).join(', ');

/** The entry for a name or alias; an InputError listing the known names when there is none, or when it is another kind. */
export function requireModel(manifest: Manifest, name: string, kind?: ModelKind): ModelEntry {
  const entry = findModel(manifest, name);
  if (!entry) {
    throw new InputError(
      `unknown model '${name}': known ${kind ?? 'model'}s are ${knownNames(manifest, kind)} ('styleclip models list' shows them all)`,
    );
  }
  if (kind !== undefined && entry.kind !== kind) {
    throw new InputError(`'${name}' is a ${entry.kind} model, not a ${kind}; ${kind}s: ${knownNames(manifest, kind)}`);
  }
  return entry;
}

const modelDir = (home: string, entry: ModelEntry): string => join(home, 'models', entry.name);
export const cachedFilePath = (home: string, entry: ModelEntry, file: ModelFile): string => join(modelDir(home, entry), file.name);

/** What a loader opens: the `entry` file, the only file, or the model's directory. */
export function modelPath(home: string, entry: ModelEntry): string {
  const main = entry.entry ?? (entry.files.length === 1 ? entry.files[0].name : undefined);
  return main === undefined ? modelDir(home, entry) : join(modelDir(home, entry), main);
}

/** A byte count in SI units, as download sizes are usually quoted. */
export function formatBytes(n: number): string {
  if (n < 1e3) return `${n} B`;
  const [unit, div] = n < 1e6 ? ['kB', 1e3] : n < 1e9 ? ['MB', 1e6] : ['GB', 1e9];
  return `${(n / div).toFixed(1)} ${unit}`;
}

/** Sum of the file sizes, null if any is unknown. */
export function modelSize(entry: ModelEntry): number | null {
  return entry.files.every((f) => f.size !== null) ? entry.files.reduce((s, f) => s + (f.size as number), 0) : null;
}

/** The exact size, else the approximate one when every file has one of the two; null when neither is known. */
export function approxModelSize(entry: ModelEntry): { bytes: number; exact: boolean } | null {
  const exact = modelSize(entry);
  if (exact !== null) return { bytes: exact, exact: true };
  if (!entry.files.every((f) => f.size !== null || f.approxSize !== undefined)) return null;
  return { bytes: entry.files.reduce((s, f) => s + (f.size ?? (f.approxSize as number)), 0), exact: false };
}

interface FileStatus {
  readonly name: string;
  readonly path: string;
  readonly present: boolean;
  /** Bytes of an unfinished download waiting to be resumed, 0 when there is none. */
  readonly partialBytes: number;
}

interface ModelStatus {
  readonly present: boolean;
  readonly path: string;
  readonly files: readonly FileStatus[];
  /** Bytes of unfinished downloads. */
  readonly partialBytes: number;
}

/** Presence from the file system only (no hashing): a file counts when it exists with its expected size, if known. */
export async function modelStatus(home: string, entry: ModelEntry): Promise<ModelStatus> {
  const files = await Promise.all(
    entry.files.map(async (f): Promise<FileStatus> => {
      const path = cachedFilePath(home, entry, f);
      const [size, partial] = await Promise.all([fileSize(path), fileSize(partialPath(path))]);
      return { name: f.name, path, present: size !== undefined && (f.size === null || size === f.size), partialBytes: partial ?? 0 };
    }),
  );
  return {
    present: files.every((f) => f.present),
    path: modelPath(home, entry),
    files,
    partialBytes: files.reduce((s, f) => s + f.partialBytes, 0),
  };
}

/** The URL a file is fetched from: its own, or `<baseUrl>/<mirrorLayout>` when a mirror is given. */
export function fileUrl(manifest: Manifest, entry: ModelEntry, file: ModelFile, baseUrl?: string): string {
  if (!baseUrl) return file.url;
  const path = manifest.mirrorLayout
    .replaceAll('{model}', encodeURIComponent(entry.name))
    .replaceAll('{file}', encodeURIComponent(file.name));
  return `${baseUrl.replace(/\/+$/, '')}/${path}`;
}

interface ResolveOptions {
  readonly manifest?: Manifest;
  readonly home?: string;
  /** Pull a named model that is not in the cache (default: unless $STYLECLIP_OFFLINE=1). */
  readonly download?: boolean;
  /** Download progress of an automatic pull (the CLI draws a bar; the library is silent by default). */
  readonly onProgress?: PullOptions['onProgress'];
  /** Told once before an automatic pull starts. */
  readonly onPull?: (entry: ModelEntry) => void;
}

/**
 * The path of a model given by name or path (`--generator`, `--clip`, `Generator.load(...)`, ...): an existing file
 * or directory is returned as it is; otherwise `nameOrPath` is looked up in the manifest by name or alias and must be
 * of `kind`. A named model not in the cache is pulled first (checked against its sha256), as transformers.js and the
 * Hugging Face hub do, unless downloads are off (`download: false`, $STYLECLIP_OFFLINE=1, `--offline`). Errors are
 * InputErrors naming the fix: the known names for an unknown name, `styleclip models pull NAME` when offline.
 */
export async function resolveModelPath(nameOrPath: string, kind: ModelKind, opts: ResolveOptions = {}): Promise<string> {
  if (existsSync(nameOrPath)) return resolve(nameOrPath);
  const manifest = opts.manifest ?? (await loadManifest());
  if (!findModel(manifest, nameOrPath) && /[\\/]|\.[A-Za-z0-9]+$/.test(nameOrPath)) {
    throw new InputError(
      `${nameOrPath}: no such file; give a ${kind === 'vocab' ? 'vocab file' : `${kind} checkpoint`} path or a model name (${knownNames(manifest, kind)}; see 'styleclip models list')`,
    );
  }
  const entry = requireModel(manifest, nameOrPath, kind);
  const home = opts.home ?? cacheHome();
  const status = await modelStatus(home, entry);
  if (status.present) return status.path;
  if (!(opts.download ?? downloadsAllowed())) {
    const size = modelSize(entry);
    const bytes = size === null ? '' : ` (${formatBytes(size)})`;
    throw new InputError(`model '${entry.name}' is not downloaded yet and downloads are off (--offline / ${ENV.offline}=1): run 'styleclip models pull ${entry.name}'${bytes}`);
  }
  opts.onPull?.(entry);
  await pullModel(manifest, entry, { home, onProgress: opts.onProgress });
  return (await modelStatus(home, entry)).path;
}

interface PullOptions extends Omit<DownloadOptions, 'size' | 'sha256' | 'onProgress' | 'onWait'> {
  readonly home?: string;
  /** Mirror base URL (see fileUrl); defaults to $STYLECLIP_MIRROR. */
  readonly baseUrl?: string;
  readonly onProgress?: (file: ModelFile, p: Parameters<NonNullable<DownloadOptions['onProgress']>>[0]) => void;
  readonly onFileWait?: (file: ModelFile, holder: LockHolder) => void;
}

/** Downloads every file of a model that is not in the cache yet. */
export async function pullModel(manifest: Manifest, entry: ModelEntry, opts: PullOptions = {}): Promise<DownloadResult[]> {
  const home = opts.home ?? cacheHome();
  const baseUrl = opts.baseUrl ?? process.env[ENV.mirror];
  const results: DownloadResult[] = [];
  for (const file of entry.files) {
    results.push(
      await downloadFile(fileUrl(manifest, entry, file, baseUrl), cachedFilePath(home, entry, file), {
        ...opts,
        size: file.size,
        sha256: file.sha256,
        onProgress: opts.onProgress && ((p) => opts.onProgress?.(file, p)),
        onWait: opts.onFileWait && ((h) => opts.onFileWait?.(file, h)),
      }),
    );
  }
  return results;
}

type VerifyState = 'ok' | 'mismatch' | 'absent' | 'recorded';

interface FileVerification {
  readonly name: string;
  readonly path: string;
  /** ok: matches the manifest digest (or, when that is unknown, the digest recorded at download); recorded: no digest
   * was known, the one computed now is recorded for next time. */
  readonly state: VerifyState;
  readonly sha256?: string;
  readonly expected?: string;
  readonly detail?: string;
}

/** Re-hashes every cached file of a model and compares it with the manifest, or with the digest recorded at download. */
export async function verifyModel(home: string, entry: ModelEntry): Promise<FileVerification[]> {
  const out: FileVerification[] = [];
  for (const f of entry.files) {
    const path = cachedFilePath(home, entry, f);
    const size = await fileSize(path);
    if (size === undefined) {
      out.push({ name: f.name, path, state: 'absent' });
      continue;
    }
    const sha256 = await sha256File(path);
    const expected = f.sha256 ?? (await readRecordedDigest(path));
    if (f.size !== null && size !== f.size) {
      out.push({ name: f.name, path, state: 'mismatch', sha256, expected, detail: `${size} bytes, expected ${f.size}` });
    } else if (expected === undefined) {
      await recordDigest(path, sha256);
      out.push({ name: f.name, path, state: 'recorded', sha256 });
    } else {
      out.push({ name: f.name, path, state: sha256 === expected ? 'ok' : 'mismatch', sha256, expected });
    }
  }
  return out;
}

/** Deletes a model's cache directory (files, partial downloads, recorded digests); refuses while it is being pulled. */
export async function removeModel(home: string, entry: ModelEntry): Promise<boolean> {
  const dir = modelDir(home, entry);
  for (const f of entry.files) {
    const held = await lockHolder(lockPath(cachedFilePath(home, entry, f)));
    if (held && !held.stale) {
      const who = held.holder ? ` (pid ${held.holder.pid} on ${held.holder.host})` : '';
      throw new InputError(`'${entry.name}' is being downloaded${who}; wait for it or stop it, then remove it`);
    }
  }
  const existed = existsSync(dir);
  await rm(dir, { recursive: true, force: true });
  return existed;
}
