/**
 * Sessions compiled once per machine (issue 21 part 3). Building a session of a large graph is mostly onnxruntime's
 * graph optimisation at level 'all' (the NCHWc layout transform reordering every conv weight). So the first build
 * saves ORT's optimised model with its weights (`optimizedModelFilePath`), and later processes open that file with
 * optimisation off: the same kernels at the same speed. The process that built it serves from the entry too
 * (`reopened`). Graphs whose weights onnxruntime maps from their checkpoint (./session_options.ts `serialise`: e4e's
 * 1 GB encoder) are not compiled: built at 'extended' from the mapped file they open in ~0.4 s, faster than a
 * compiled copy would (1.1-1.8 s with its digest), and the first run writes no 1 GB file (its 'all' build took 14.5 s
 * and +3.9 GB of fresh memory on this VM).
 *
 * Entries live in `<dir>/<id>.onnx` (the graph), `<id>.<nonce>.bin` (its weights: onnxruntime's external
 * initializers, which it maps into memory when it opens the model instead of copying them: no fresh memory) and a
 * sidecar `<id>.json` (the key, both files' sizes and SHA-256, the graph's inputs); `id` is the SHA-256 of the key,
 * which names the weights' source (the caller's identity of its checkpoint), the graph and its shapes, a digest of
 * this program's code (builders change), this cache's format, the onnxruntime version and the CPU (the optimised
 * layout is specific to the machine's vector width). An entry whose digest does not match, or that onnxruntime cannot
 * open, is removed and rebuilt; a cache directory that cannot be written is skipped (the session is built as before).
 * A new entry removes the entries it supersedes (same weights and graph, built by other code or another runtime). The
 * model is written under a temporary name and renamed, the weights under a name of their own that the model records,
 * the sidecar last: a killed process leaves no entry that opens, and the next save of that key removes what it left.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import type { Graph } from './graph.js';
import { serialise, specsOf, winogradOf, type CompiledCache, type InputSpec, type SessionOptions } from './session_options.js';
import { trace } from './trace.js';

/** Bumped when what a compiled entry holds changes. */
const COMPILED_FORMAT = 2;

/** Opens serialised ONNX bytes as a session (Session.open, passed in: this module sits below it). */
export type OpenSession<S extends { dispose(): Promise<void> }> = (model: Uint8Array | string, inputs: readonly InputSpec[], opts: SessionOptions) => Promise<S>;

interface FileDigest {
  readonly sha256: string;
  readonly bytes: number;
}

interface Sidecar extends FileDigest {
  readonly key: string;
  /** The weights file (in the same directory) and its digest. */
  readonly weights: FileDigest & { readonly file: string };
  readonly inputs: readonly InputSpec[];
}

/** An entry's files: the sidecar names its weights file. */
function entryFiles(dir: string, sidecarName: string, side: Partial<Sidecar> | undefined): string[] {
  const base = join(dir, sidecarName.replace(/\.json$/, ''));
  return [`${base}.onnx`, `${base}.json`, ...(side?.weights?.file ? [join(dir, side.weights.file)] : [])];
}

const sha256 = (b: Uint8Array | string): string => createHash('sha256').update(b).digest('hex');

let fingerprint: string | undefined;

/**
 * A digest of this program's own code (every .js/.ts file of the tree this module was loaded from: src/ or dist/):
 * graph keys name shapes, not how graphs are built, so any change of the builders must miss the cache. ~10 ms.
 */
function codeFingerprint(): string {
  if (fingerprint) return fingerprint;
  const root = dirname(dirname(fileURLToPath(import.meta.url)));
  const h = createHash('sha256');
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.(js|ts)$/.test(e.name)) h.update(e.name).update(readFileSync(p));
    }
  };
  walk(root);
  fingerprint = h.digest('hex');
  return fingerprint;
}

/** The full key of one session: weights, graph, shapes, the code that built it, format, runtime and CPU. */
function keyOf(cache: CompiledCache, graphKey: string, opts: SessionOptions): string {
  return JSON.stringify({ format: COMPILED_FORMAT, source: cache.source, graph: graphKey, code: codeFingerprint(), ort: ort.env.versions?.common ?? '', cpu: cpus()[0]?.model ?? '', device: opts.device ?? 'cpu', winograd: winogradOf(opts) });
}

/**
 * The parts of a key that name what an entry is and where it runs (the rest names what built it: code, format,
 * runtime); a cache shared by machines of other CPUs keeps each one's entries.
 */
const IDENTITY_FIELDS = ['source', 'graph', 'device', 'winograd', 'cpu'] as const;

/** Sidecar names of entries (`<32 hex>.json`), as opposed to other records sharing the directory. */
const SIDECAR = /^[0-9a-f]{32}\.json$/;

/** Removes entry `sidecarName`'s files and every weights file of its id but `keep` (an earlier or killed save's). */
async function removeEntry(dir: string, sidecarName: string, keep: string): Promise<void> {
  const id = sidecarName.replace(/\.json$/, '');
  const stray = readdirSync(dir).filter((f) => f.startsWith(`${id}.`) && f.endsWith('.bin') && f !== keep).map((f) => join(dir, f));
  await Promise.all([...entryFiles(dir, sidecarName, undefined), ...stray].map((f) => rm(f, { force: true })));
}

/**
 * Removes the entries `key` supersedes: the same weights, graph, device, lowering and CPU built by other code,
 * another format or runtime. Without this every upgrade left a full copy of each model behind (the 1024 px synthesis:
 * 160 MB). Unreadable sidecars are left alone.
 */
async function sweepSuperseded(dir: string, key: string, keep: string): Promise<void> {
  const mine = JSON.parse(key) as Record<string, unknown>;
  for (const name of readdirSync(dir).filter((f) => SIDECAR.test(f) && f !== keep)) {
    try {
      const side = JSON.parse(await readFile(join(dir, name), 'utf8')) as Partial<Sidecar>;
      const other = JSON.parse(side.key as string) as Record<string, unknown>;
      if (IDENTITY_FIELDS.every((f) => other[f] === mine[f]) && JSON.stringify(other) !== key) {
        trace(`compiled ${name}: superseded, removed`);
        await Promise.all(entryFiles(dir, name, side).map((f) => rm(f, { force: true })));
      }
    } catch {
      // another process's half-written or foreign file: not ours to judge
    }
  }
}

/** Read size of the digest stream: 64 KiB (the default) costs 3.7 s per GB in a busy process, 8 MiB about 0.8 s. */
const DIGEST_CHUNK = 8 * 2 ** 20;

/**
 * The digest stream as a worker thread's code: hashing a GB takes ~1.5 s of CPU, which on the main thread would hold
 * up everything else a starting process does (onnxruntime's session build, face detection) while it runs.
 */
const DIGEST_WORKER = `
const { createHash } = require('node:crypto');
const { createReadStream } = require('node:fs');
const { parentPort, workerData } = require('node:worker_threads');
const h = createHash('sha256');
let bytes = 0;
createReadStream(workerData.path, { highWaterMark: workerData.chunk })
  .on('data', (c) => { bytes += c.length; h.update(c); })
  .on('error', (e) => parentPort.postMessage({ error: String(e && e.message) }))
  .on('end', () => parentPort.postMessage({ sha256: h.digest('hex'), bytes }));
`;

/** SHA-256 and size of a file, streamed in a worker thread (the file is not held in memory). */
function fileDigest(path: string): Promise<FileDigest> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(DIGEST_WORKER, { eval: true, workerData: { path, chunk: DIGEST_CHUNK } });
    worker.once('message', (m: { sha256?: string; bytes?: number; error?: string }) => {
      void worker.terminate();
      if (m.error !== undefined || m.sha256 === undefined) reject(new Error(m.error ?? 'digest failed'));
      else resolve({ sha256: m.sha256, bytes: m.bytes! });
    });
    worker.once('error', reject);
  });
}

/**
 * An entry's session if it is present and intact; undefined (and the entry removed when damaged) otherwise.
 * onnxruntime reads the file itself while its digest is checked alongside (in a worker thread); a mismatch discards
 * the session.
 */
async function openEntry<S extends { dispose(): Promise<void> }>(path: string, sidecarPath: string, key: string, opts: SessionOptions, open: OpenSession<S>): Promise<S | undefined> {
  let side: Sidecar;
  try {
    side = JSON.parse(await readFile(sidecarPath, 'utf8')) as Sidecar;
  } catch {
    return undefined;
  }
  const files = entryFiles(dirname(sidecarPath), basename(sidecarPath), side);
  try {
    if (side.key !== key || !side.weights?.file) throw new Error('another key');
    const weightsPath = join(dirname(path), side.weights.file);
    // A weights file shorter than recorded is refused before onnxruntime maps it (reading past its end would crash).
    if (statSync(weightsPath).size !== side.weights.bytes) throw new Error('weights file of another size');
    // The digests' workers start first: onnxruntime's session build holds the main thread while it opens the files.
    const digesting = Promise.all([fileDigest(path), fileDigest(weightsPath)]);
    const [session, digest] = await Promise.allSettled([open(path, side.inputs, { ...opts, optimization: 'disabled' }), digesting]);
    const same = (d: FileDigest, want: FileDigest): boolean => d.bytes === want.bytes && d.sha256 === want.sha256;
    const damaged = digest.status === 'rejected' || !same(digest.value[0], side) || !same(digest.value[1], side.weights);
    if (session.status === 'fulfilled' && !damaged) return session.value;
    if (session.status === 'fulfilled') await session.value.dispose();
    throw new Error(damaged ? 'digest mismatch' : String((session as PromiseRejectedResult).reason));
  } catch (e) {
    trace(`compiled ${path}: ${(e as Error).message}; rebuilding`);
    await Promise.all(files.map((f) => rm(f, { force: true })));
    return undefined;
  }
}

/**
 * The session of `build()`'s graph, opened from the compiled cache when it holds this key, else built (at level
 * 'all') and saved there for the next process.
 */
export async function compiledSession<S extends { dispose(): Promise<void> }>(cache: CompiledCache, graphKey: string, build: () => Graph | Promise<Graph>, opts: SessionOptions, open: OpenSession<S>): Promise<S> {
  const key = keyOf(cache, graphKey, opts);
  const id = sha256(key).slice(0, 32);
  const path = join(cache.dir, `${id}.onnx`);
  const sidecarPath = join(cache.dir, `${id}.json`);
  const t0 = performance.now();
  const hit = await openEntry(path, sidecarPath, key, opts, open);
  if (hit) {
    trace(`session ${graphKey}: compiled, open ${(performance.now() - t0).toFixed(0)} ms`);
    return hit;
  }
  const g = await build();
  const t1 = performance.now();
  const m = serialise(g, opts);
  const t2 = performance.now();
  if (m.mapped) {
    // onnxruntime maps the weights from their checkpoint: no compiled copy to save (session_options.ts `serialise`)
    const session = await open(m.bytes, specsOf(g), m.opts);
    trace(`session ${g.name}: serialise ${(t2 - t1).toFixed(0)} ms, build ${(performance.now() - t2).toFixed(0)} ms (weights mapped)`);
    // what earlier versions compiled of these weights (e4e's encoder: a 1.1 GB copy) is not needed any more
    if (existsSync(cache.dir)) await sweepSuperseded(cache.dir, key, '');
    return session;
  }
  const tmp = `${path}.${process.pid}.tmp`;
  const weightsFile = `${id}.${process.pid}-${randomBytes(4).toString('hex')}.bin`;
  let writable = true;
  try {
    await mkdir(cache.dir, { recursive: true });
  } catch {
    writable = false;
  }
  const session = await open(m.bytes, specsOf(g), writable ? { ...opts, saveOptimizedTo: { model: tmp, weights: weightsFile } } : opts);
  trace(`session ${g.name}: serialise ${(t2 - t1).toFixed(0)} ms, build ${(performance.now() - t2).toFixed(0)} ms`);
  if (writable) {
    const weightsPath = join(cache.dir, weightsFile);
    try {
      // onnxruntime writes no weights file for a graph without initializers over its threshold: an empty one keeps
      // every entry three files.
      if (!existsSync(weightsPath)) await writeFile(weightsPath, new Uint8Array(0));
      const [saved, weights] = await Promise.all([fileDigest(tmp), fileDigest(weightsPath)]);
      const side: Sidecar = { key, ...saved, weights: { file: weightsFile, ...weights }, inputs: specsOf(g) };
      await removeEntry(cache.dir, `${id}.json`, weightsFile); // what an earlier save of this key left
      await writeFile(`${sidecarPath}.${process.pid}.tmp`, JSON.stringify(side));
      await rename(tmp, path);
      await rename(`${sidecarPath}.${process.pid}.tmp`, sidecarPath);
      await sweepSuperseded(cache.dir, key, `${id}.json`);
    } catch (e) {
      trace(`compiled ${path}: not saved (${(e as Error).message})`);
      await Promise.all([tmp, weightsPath, `${sidecarPath}.${process.pid}.tmp`].map((f) => rm(f, { force: true })));
      return session;
    }
    return reopened(session, path, specsOf(g), opts, open);
  }
  return session;
}

/**
 * The saved entry opened in place of the session that built it (its digests were just taken): its weights mapped
 * from the file rather than held in fresh memory, and it runs as fast as every later process's does. The built one
 * did not: FFHQ 1024 synthesis ran 2.5 s, then 1.4-1.8 s, against 1.5 s, then 1.24-1.27 s from the entry (+0.2 s to
 * open it). Where the entry cannot be opened the built session serves.
 */
async function reopened<S extends { dispose(): Promise<void> }>(built: S, path: string, inputs: readonly InputSpec[], opts: SessionOptions, open: OpenSession<S>): Promise<S> {
  try {
    const session = await open(path, inputs, { ...opts, optimization: 'disabled' });
    await built.dispose();
    return session;
  } catch (e) {
    trace(`compiled ${path}: saved but not opened (${(e as Error).message}); the built session serves`);
    return built;
  }
}
