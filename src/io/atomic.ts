/**
 * Atomic file writes: data goes to a temporary sibling that is renamed over the target only when complete, so an
 * error, a kill or Ctrl-C never leaves a partial file that looks finished; `writeAllOrNothing` extends that to a set
 * of outputs. A write the system refuses (no space, read-only, not permitted, no such directory) is an InputError
 * naming the file, not a stack trace.
 */
import { createHash, randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { InputError } from '../errors.js';

/** errno codes of writes that fail for the user's reason (disk, permissions, path), with what they mean. */
const WRITE_FAULTS: Readonly<Record<string, string>> = {
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'read-only file system',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOENT: 'no such directory',
  ENOTDIR: 'a part of the path is not a directory',
  EISDIR: 'it is a directory',
  EIO: 'input/output error',
  EXDEV: 'cannot rename across devices',
};

/** A write the system refused, named by the file the user asked for. */
export class WriteFault extends InputError {
  override name = 'WriteFault';
  constructor(
    readonly path: string,
    readonly code: string,
  ) {
    super(`cannot write ${path}: ${WRITE_FAULTS[code]} (${code}); nothing was written there`);
  }
}

/** `e` as a WriteFault of `path` when it is a write fault (of `path` or of a temporary for it), else `e` itself. */
export function writeFault(e: unknown, path: string): unknown {
  const code = e instanceof WriteFault ? e.code : (e as NodeJS.ErrnoException)?.code;
  return code && WRITE_FAULTS[code] ? new WriteFault(path, code) : e;
}

/** A directory the system refused to create, named by the directory the user asked for. */
export class DirectoryFault extends InputError {
  override name = 'DirectoryFault';
  constructor(path: string, code: string) {
    super(`cannot create directory ${path}: ${WRITE_FAULTS[code] ?? code} (${code})`);
  }
}

/**
 * `mkdir -p`, one level at a time. Node's own `mkdir(p, { recursive: true })` never returns when a parent exists but
 * refuses new entries with ENOENT (e.g. /proc: measured spinning at full CPU, deaf to SIGTERM): here that is a
 * DirectoryFault at once.
 */
export async function makeDirs(path: string): Promise<void> {
  const missing: string[] = [];
  for (let p = resolve(path); ; p = dirname(p)) {
    const st = await stat(p).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return undefined;
      throw new DirectoryFault(path, e.code ?? 'EIO');
    });
    if (st && !st.isDirectory()) throw new DirectoryFault(path, 'ENOTDIR');
    if (st) break;
    missing.push(p);
    if (dirname(p) === p) break;
  }
  for (const p of missing.reverse()) {
    await mkdir(p).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'EEXIST') throw new DirectoryFault(path, e.code ?? 'EIO');
    });
  }
}

/** This machine in temporary names (a short hash of the host name: stores may be shared between machines). */
export const HOST_TAG = createHash('sha256').update(hostname()).digest('hex').slice(0, 8);

/** `.<file>.<host tag>-<pid>.<random>.partial`: whose write it is can be told from the name (see `partialOwner`). */
export function tempSibling(path: string): string {
  return join(dirname(path), `.${basename(path)}.${HOST_TAG}-${process.pid}.${randomBytes(4).toString('hex')}.partial`);
}

/** The host tag and pid of a temporary file's writer, when its name says (`tempSibling`). */
export function partialOwner(name: string): { host: string; pid: number } | undefined {
  const m = /\.([0-9a-f]{8})-(\d+)\.[0-9a-f]{8}\.partial$/.exec(name);
  return m ? { host: m[1], pid: Number(m[2]) } : undefined;
}

export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const tmp = tempSibling(path);
  try {
    await writeFile(tmp, data);
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw writeFault(e, path);
  }
}

/** A staging sibling that keeps the extension (writers that infer the format from it still can). */
function stagingSibling(path: string): string {
  const ext = extname(path);
  return join(dirname(path), `.${basename(path, ext)}.${process.pid}.${randomBytes(4).toString('hex')}.staged${ext}`);
}

/**
 * Writes every output or none: each `[path, write]` with a path writes to a staging sibling, and all are renamed
 * into place only when every write succeeded; on any failure the staged files are removed. Returns the paths written.
 */
export async function writeAllOrNothing(outputs: readonly (readonly [string | undefined, (path: string) => Promise<void>])[]): Promise<string[]> {
  const staged: [string, string][] = [];
  try {
    for (const [path, write] of outputs) {
      if (!path) continue;
      const tmp = stagingSibling(path);
      staged.push([tmp, path]);
      await write(tmp).catch((e: unknown) => {
        throw writeFault(e, path);
      });
    }
    for (const [tmp, path] of staged) await rename(tmp, path).catch((e: unknown) => Promise.reject(writeFault(e, path)));
    return staged.map(([, path]) => path);
  } catch (e) {
    await Promise.all(staged.map(([tmp]) => rm(tmp, { force: true })));
    throw e;
  }
}
