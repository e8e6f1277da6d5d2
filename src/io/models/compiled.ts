/**
 * Where the engine keeps compiled sessions (src/engine/compiled.ts): `<cache home>/compiled`, beside the downloaded
 * models. A checkpoint's identity there is its real path, size and modification time (hashing a 1 GB checkpoint on
 * every start would cost what the cache saves). `STYLECLIP_COMPILED=0` turns the cache off.
 */
import { createHash } from 'node:crypto';
import { realpathSync, statSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../atomic.js';
import { join } from 'node:path';
import type { CompiledCache } from '../../engine/session.js';
import { cacheHome } from './registry.js';

export const COMPILED_ENV = 'STYLECLIP_COMPILED';

/** The compiled cache of the weights read from `checkpoint`; undefined when off or the file cannot be stat'ed. */
export function compiledCacheFor(checkpoint: string, env: NodeJS.ProcessEnv = process.env): CompiledCache | undefined {
  if (env[COMPILED_ENV] === '0') return undefined;
  try {
    const st = statSync(checkpoint);
    return { dir: join(cacheHome(env), 'compiled'), source: `${realpathSync(checkpoint)}:${st.size}:${Math.round(st.mtimeMs)}` };
  } catch {
    return undefined;
  }
}

const recordPath = (cache: CompiledCache, name: string): string => join(cache.dir, `${createHash('sha256').update(cache.source).digest('hex').slice(0, 32)}.${name}.json`);

/**
 * A small record kept beside the compiled sessions of one checkpoint: what its loader needs to build the model
 * without reading the checkpoint (CLIP's embedding width, a prompt's text embeddings). Undefined when absent or
 * written for another file.
 */
export async function readCompiledRecord<T>(cache: CompiledCache, name: string): Promise<T | undefined> {
  try {
    const r = JSON.parse(await readFile(recordPath(cache, name), 'utf8')) as { source: string; value: T };
    return r.source === cache.source ? r.value : undefined;
  } catch {
    return undefined;
  }
}

/** Writes the record (atomically); a cache that cannot be written is skipped. */
export async function writeCompiledRecord(cache: CompiledCache, name: string, value: unknown): Promise<void> {
  try {
    await mkdir(cache.dir, { recursive: true });
    await writeFileAtomic(recordPath(cache, name), JSON.stringify({ source: cache.source, value }));
  } catch {
    // a cache that cannot be written only means no record
  }
}
