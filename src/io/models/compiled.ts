/**
 * Where the engine keeps compiled sessions (src/engine/compiled.ts): `<cache home>/compiled`, beside the downloaded
 * models. A checkpoint's identity there is its real path, size and modification time (hashing a 1 GB checkpoint on
 * every start would cost what the cache saves). `STYLECLIP_COMPILED=0` turns the cache off.
 */
import { realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { CompiledCache } from '../../engine/session.js';
import { cacheHome } from './registry.js';

export const COMPILED_ENV = 'STYLECLIP_COMPILED';

/** The compiled cache of the weights read from `checkpoint`; undefined when off or the file cannot be stat'ed. */
export function compiledCacheFor(checkpoint: string, env: NodeJS.ProcessEnv = process.env): CompiledCache | undefined {
  if (env[COMPILED_ENV] === '0') return undefined;
  try {
    const st = statSync(checkpoint);
    return { dir: join(cacheHome(env), 'compiled'), source: `${realpathSync(checkpoint)}:${st.size}:${st.mtimeMs}` };
  } catch {
    return undefined;
  }
}
