/**
 * Names that come from users (edit ids in URLs, upload file names, model names, batch job names) and may end up
 * in a path. Only a conservative character set is accepted, so `../`, separators, NUL bytes and hidden files are
 * refused before any file system call.
 */
import { randomUUID } from 'node:crypto';
import { basename, extname } from 'node:path';
import { RequestError } from './errors.js';

/** Letters, digits, `_`, `-` and inner dots; must start with a letter or digit; at most 128 characters. */
const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Job ids: like names but without dots, so they never look like a file extension or `..`. */
const SAFE_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

function isSafeName(name: string): boolean {
  return SAFE_NAME.test(name) && !name.includes('..');
}

export function isSafeId(id: string): boolean {
  return SAFE_ID.test(id);
}

/** Throws a 400 unless `name` is a safe file or model name. */
export function checkName(what: string, name: string): string {
  if (!isSafeName(name)) {
    throw new RequestError('invalid_name',
      `${what} '${name.slice(0, 80)}' is not allowed: use letters, digits, '.', '_' and '-' only (no paths)`,
    );
  }
  return name;
}

/** Throws a 400 unless `id` has the shape of a job id. */
export function checkId(id: string): string {
  if (!isSafeId(id)) throw new RequestError('invalid_name', `'${id.slice(0, 80)}' is not a valid edit id`);
  return id;
}

/** Control characters and path separators: an upload's file name must contain none of them. */
const UNSAFE_FILE_NAME = /[\/\\\u0000-\u001f\u007f]/;

/**
 * Throws a 400 when an upload's file name is a path (`../x`, `a/b`, `C:\\x`) or contains control characters. The
 * name is never used for storage (jobs store fixed names), but a client sending a path is refused rather than
 * silently trusted. Ordinary names with spaces or brackets, as browsers send them, pass.
 */
export function checkUploadName(name: string): string {
  if (UNSAFE_FILE_NAME.test(name) || name === '..' || name === '.') {
    throw new RequestError('invalid_name', `upload file name '${name.slice(0, 80)}' is a path; send a plain file name`);
  }
  return name;
}

/** A fresh job id (RFC 4122 v4 UUID). */
export function newJobId(): string {
  return randomUUID();
}

/** The name a model is known by in the API: the file's base name without its extension. */
export function modelName(pathOrName: string): string {
  const base = basename(pathOrName);
  const ext = extname(base);
  return ext && ext.length < base.length ? base.slice(0, -ext.length) : base;
}
