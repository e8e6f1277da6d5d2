/**
 * Resumable, verified HTTP(S) downloads into a cache (node's fetch, WHATWG Fetch Standard). Bytes go to
 * `<dest>.partial`; an interrupted transfer resumes from its length with a Range request (RFC 9110 §14: `Range:
 * bytes=N-`, answered by 206 + `Content-Range: bytes N-M/TOTAL`, by 200 when the server ignores ranges, or by 416 +
 * `Content-Range: bytes * /TOTAL` when N is past the end). The sha256 (FIPS 180-4) covers the whole file including the
 * resumed prefix; only a verified file is renamed (POSIX rename(2), atomic) onto its final name, so a failed or killed
 * download never leaves a file that looks complete. The digest seen is recorded beside it in `<dest>.sha256`
 * (`sha256sum` format). A lock file created with O_CREAT|O_EXCL (`wx`) serialises concurrent pulls of one file; a lock
 * left by a dead process on this host is taken over.
 * Google Drive answers large files with a virus-scan page instead of the bytes: the page's download form (or a
 * `confirm=` link / `download_warning` cookie, as older Drive pages had) gives the URL that serves the file.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readFile, rename, rm, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { makeDirs, writeFileAtomic } from '../atomic.js';
import { InputError } from '../../errors.js';

/** A download that cannot complete; the message names the URL and what to do. */
export class DownloadError extends InputError {
  override name = 'DownloadError';
  constructor(message: string, readonly retryable = false) {
    super(message);
  }
}

/** The bytes arrived but are not the expected file (wrong digest or size); nothing is kept. */
export class ChecksumError extends DownloadError {
  override name = 'ChecksumError';
}

export interface DownloadProgress {
  readonly url: string;
  /** Bytes of the file on disk so far, including a resumed prefix. */
  readonly bytes: number;
  /** File size when the server or the manifest says it, else null. */
  readonly total: number | null;
  /** Bytes per second received in this attempt. */
  readonly rate: number;
}

/** Who holds a download lock (the lock file's JSON). */
export interface LockHolder {
  readonly pid: number;
  readonly host: string;
  readonly started: string;
}

export interface DownloadOptions {
  /** Expected size in bytes; null or absent = unknown. */
  readonly size?: number | null;
  /** Expected lowercase hex sha256; null or absent = unknown (the digest seen is recorded). */
  readonly sha256?: string | null;
  readonly onProgress?: (p: DownloadProgress) => void;
  /** Called once when another process holds the lock and this one waits for it. */
  readonly onWait?: (holder: LockHolder) => void;
  readonly signal?: AbortSignal;
  /** Further attempts after a network failure, each resuming where the last stopped. */
  readonly retries?: number;
  /** Delay before the first retry, doubled for each further one. */
  readonly retryDelayMs?: number;
  /** An attempt that receives nothing for this long is abandoned (and retried). */
  readonly stallMs?: number;
}

export interface DownloadResult {
  readonly path: string;
  readonly sha256: string;
  readonly bytes: number;
  /** False when the file was already complete in the cache (possibly just finished by another process). */
  readonly downloaded: boolean;
}

const DOWNLOAD_DEFAULTS = Object.freeze({
  retries: 3,
  retryDelayMs: 1000,
  /** undici's own body timeout is 300 s; a minute without a byte is a dead connection in practice. */
  stallMs: 60_000,
});
/** How often a waiting pull re-checks the lock of another process. */
const LOCK_POLL_MS = 200;
/** A lock file without readable JSON that is older than this was left by a process killed while creating it. */
const UNREADABLE_LOCK_STALE_MS = 10_000;
/** HTTP statuses worth retrying (RFC 9110 §15.5.9 408, RFC 6585 §4 429, and every 5xx). */
const RETRY_STATUS = (s: number): boolean => s === 408 || s === 429 || s >= 500;
const SHA256_HEX = /^[0-9a-f]{64}$/;

export const partialPath = (dest: string): string => `${dest}.partial`;
export const lockPath = (dest: string): string => `${dest}.lock`;
export const digestPath = (dest: string): string => `${dest}.sha256`;

export async function fileSize(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).size;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

type Sha256 = ReturnType<typeof createHash>;

async function hashInto(path: string, hash: Sha256): Promise<void> {
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
}

/** Lowercase hex sha256 of a file, streamed. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  await hashInto(path, hash);
  return hash.digest('hex');
}

/** The digest recorded in `<dest>.sha256` when the file was downloaded or first verified. */
export async function readRecordedDigest(dest: string): Promise<string | undefined> {
  try {
    const hex = (await readFile(digestPath(dest), 'utf8')).split(/\s+/)[0].toLowerCase();
    return SHA256_HEX.test(hex) ? hex : undefined;
  } catch {
    return undefined;
  }
}

export async function recordDigest(dest: string, hex: string): Promise<void> {
  await writeFileAtomic(digestPath(dest), `${hex}  ${basename(dest)}\n`);
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The holder of a lock, undefined when the lock is free; `stale` when its holder is gone. */
export async function lockHolder(path: string): Promise<{ holder?: LockHolder; stale: boolean } | undefined> {
  let text: string;
  let age: number;
  try {
    [text, age] = await Promise.all([readFile(path, 'utf8'), stat(path).then((s) => Date.now() - s.mtimeMs)]);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  try {
    const holder = JSON.parse(text) as LockHolder;
    return { holder, stale: holder.host === hostname() && !pidAlive(holder.pid) };
  } catch {
    return { stale: age > UNREADABLE_LOCK_STALE_MS };
  }
}

/** Takes `path` with O_EXCL, waiting while a live process holds it; returns the release function. */
async function acquireLock(path: string, opts: DownloadOptions): Promise<() => Promise<void>> {
  const me: LockHolder = { pid: process.pid, host: hostname(), started: new Date().toISOString() };
  let told = false;
  for (;;) {
    try {
      const fh = await open(path, 'wx');
      try {
        await fh.writeFile(JSON.stringify(me));
      } finally {
        await fh.close();
      }
      return () => rm(path, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const held = await lockHolder(path);
    if (held?.stale) {
      await rm(path, { force: true });
      continue;
    }
    if (held?.holder && !told) {
      opts.onWait?.(held.holder);
      told = true;
    }
    await sleep(LOCK_POLL_MS, undefined, { signal: opts.signal });
  }
}

const decodeEntities = (s: string): string =>
  s.replace(/&amp;/g, '&').replace(/&quot;/g, '"').replace(/&#39;|&#x27;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>');

/**
 * The URL a Google-Drive-style confirmation page leads to: its form's action with the hidden inputs as the query
 * (drive.usercontent.google.com today), else a `confirm=` link, else the original URL plus the `download_warning`
 * cookie's token. Undefined when the page is something else (e.g. Drive's download-quota page).
 */
export function confirmationUrl(page: string, pageUrl: string, setCookies: readonly string[]): string | undefined {
  const form = /<form\b[^>]*\baction="([^"]+)"[^>]*>([\s\S]*?)<\/form>/i.exec(page);
  if (form) {
    const url = new URL(decodeEntities(form[1]), pageUrl);
    for (const input of form[2].matchAll(/<input\b[^>]*>/gi)) {
      const name = /\bname="([^"]*)"/i.exec(input[0])?.[1];
      const value = /\bvalue="([^"]*)"/i.exec(input[0])?.[1] ?? '';
      if (name && /\btype="hidden"/i.test(input[0])) url.searchParams.set(decodeEntities(name), decodeEntities(value));
    }
    return url.href;
  }
  const link = /href="([^"]*[?&](?:amp;)?confirm=[^"]*)"/i.exec(page);
  if (link) return new URL(decodeEntities(link[1]), pageUrl).href;
  for (const c of setCookies) {
    const token = /^download_warning[^=]*=([^;]+)/.exec(c)?.[1];
    if (token) {
      const url = new URL(pageUrl);
      url.searchParams.set('confirm', token);
      return url.href;
    }
  }
  return undefined;
}

const isHtml = (res: Response): boolean => (res.headers.get('content-type') ?? '').toLowerCase().startsWith('text/html');
const pageTitle = (page: string): string => /<title>([^<]*)<\/title>/i.exec(page)?.[1].trim() ?? 'an HTML page';

/** GET with an optional `Range: bytes=offset-`, passing through a confirmation page if one comes back. */
async function request(url: string, offset: number, signal: AbortSignal): Promise<Response> {
  const headers: Record<string, string> = offset > 0 ? { range: `bytes=${offset}-` } : {};
  const get = (u: string, extra: Record<string, string> = {}): Promise<Response> =>
    fetch(u, { headers: { ...headers, ...extra }, signal, redirect: 'follow' }).catch((e: unknown) => {
      if (signal.aborted) throw e;
      throw new DownloadError(`cannot reach ${u}: ${((e as Error).cause as Error | undefined)?.message ?? (e as Error).message}`, true);
    });
  const res = await get(url);
  if (!res.ok || !isHtml(res)) return res;
  const page = await res.text();
  const next = confirmationUrl(page, res.url, res.headers.getSetCookie());
  const noFile = (what: string): DownloadError =>
    new DownloadError(
      `${url} returned ${what} instead of the file (Google Drive does this when a file's download quota is used up): ` +
        `try again later, pull from a mirror with --base-url, or download it in a browser and place it at the path ` +
        `'styleclip models path NAME' prints, then run 'styleclip models verify NAME'`,
    );
  if (!next) throw noFile(`'${pageTitle(page)}'`);
  const cookie = res.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
  const confirmed = await get(next, cookie ? { cookie } : {});
  if (confirmed.ok && isHtml(confirmed)) throw noFile(`'${pageTitle(await confirmed.text())}' after confirming`);
  return confirmed;
}

/** `Content-Range: bytes START-END/TOTAL` (206) or `bytes * /TOTAL` (416); fields undefined when absent or `*`. */
function contentRange(res: Response): { start?: number; total?: number } {
  const m = /^bytes\s+(?:(\d+)-\d+|\*)\/(\d+|\*)\s*$/.exec(res.headers.get('content-range') ?? '');
  const num = (s: string | undefined): number | undefined => (s === undefined || s === '*' ? undefined : Number(s));
  return { start: num(m?.[1]), total: num(m?.[2]) };
}

/** Streams one response onto the partial file; resolves with the whole file's byte count. */
async function receive(
  res: Response,
  partial: string,
  offset: number,
  total: number | null,
  hash: Sha256,
  url: string,
  opts: DownloadOptions,
  stall: AbortController,
): Promise<number> {
  const stallMs = opts.stallMs ?? DOWNLOAD_DEFAULTS.stallMs;
  let timer = setTimeout(() => stall.abort(), stallMs);
  const fh = await open(partial, offset > 0 ? 'a' : 'w');
  const started = performance.now();
  let bytes = offset;
  try {
    for await (const chunk of (res.body ?? []) as AsyncIterable<Uint8Array>) {
      clearTimeout(timer);
      timer = setTimeout(() => stall.abort(), stallMs);
      await fh.write(chunk);
      hash.update(chunk);
      bytes += chunk.byteLength;
      if (total !== null && bytes > total) {
        throw new ChecksumError(`${url} sent more than the expected ${total} bytes: wrong URL or mirror?`);
      }
      const seconds = (performance.now() - started) / 1000;
      opts.onProgress?.({ url, bytes, total, rate: seconds > 0 ? (bytes - offset) / seconds : 0 });
    }
    await fh.sync();
  } catch (e) {
    if (opts.signal?.aborted || e instanceof DownloadError) throw e;
    const why = stall.signal.aborted ? `no data for ${stallMs / 1000} s` : `connection lost (${(e as Error).message})`;
    throw new DownloadError(`${url}: ${why} after ${bytes} bytes`, true);
  } finally {
    clearTimeout(timer);
    await fh.close();
  }
  return bytes;
}

/** One attempt: resume or start, stream, verify, rename. Throws DownloadError (retryable or not). */
async function attempt(url: string, dest: string, opts: DownloadOptions): Promise<DownloadResult> {
  const partial = partialPath(dest);
  const expectedSize = opts.size ?? null;
  let offset = (await fileSize(partial)) ?? 0;
  if (expectedSize !== null && offset > expectedSize) offset = 0;
  const stall = new AbortController();
  const signal = opts.signal ? AbortSignal.any([opts.signal, stall.signal]) : stall.signal;
  const res = await request(url, offset, signal);
  let bytes: number;
  const hash = createHash('sha256');
  if (res.status === 416 && offset > 0) {
    await res.body?.cancel();
    if (contentRange(res).total !== offset) {
      await rm(partial, { force: true });
      throw new DownloadError(`${url}: the partial download is longer than the file; starting again`, true);
    }
    bytes = offset;
    await hashInto(partial, hash);
  } else {
    if (!res.ok) {
      await res.body?.cancel();
      const hint = res.status === 404 ? ': the URL is wrong or the file was moved (check --base-url / STYLECLIP_MIRROR)' : '';
      throw new DownloadError(`${url}: HTTP ${res.status} ${res.statusText}${hint}`, RETRY_STATUS(res.status));
    }
    if (res.status === 206 && contentRange(res).start !== offset) {
      await res.body?.cancel();
      await rm(partial, { force: true });
      throw new DownloadError(`${url}: the server sent a different range than asked for; starting again`, true);
    }
    if (res.status !== 206) offset = 0;
    if (offset > 0) await hashInto(partial, hash);
    const length = res.headers.get('content-length');
    const total = (res.status === 206 ? contentRange(res).total : undefined) ?? (length !== null ? offset + Number(length) : undefined);
    if (expectedSize !== null && total !== undefined && total !== expectedSize) {
      await res.body?.cancel();
      throw new ChecksumError(`${url} is ${total} bytes but ${expectedSize} were expected: wrong URL or mirror?`);
    }
    bytes = await receive(res, partial, offset, total ?? expectedSize, hash, url, opts, stall).catch(async (e: unknown) => {
      if (e instanceof ChecksumError) await rm(partial, { force: true });
      throw e;
    });
    if (total !== undefined && bytes < total) {
      throw new DownloadError(`${url}: connection closed after ${bytes} of ${total} bytes`, true);
    }
  }
  const digest = hash.digest('hex');
  const wrongSize = expectedSize !== null && bytes !== expectedSize;
  if (wrongSize || (opts.sha256 && digest !== opts.sha256.toLowerCase())) {
    await rm(partial, { force: true });
    const what = wrongSize ? `${bytes} bytes, expected ${expectedSize}` : `sha256 ${digest}, expected ${opts.sha256}`;
    throw new ChecksumError(`${url}: the download is corrupt (${what}) and was deleted; pull again or use another mirror`);
  }
  await recordDigest(dest, digest);
  await rename(partial, dest);
  return { path: dest, sha256: digest, bytes, downloaded: true };
}

/** A file already in the cache: its recorded digest (computed and recorded when missing), checked against `sha256`. */
async function existing(dest: string, bytes: number, opts: DownloadOptions): Promise<DownloadResult> {
  let digest = await readRecordedDigest(dest);
  if (digest === undefined) {
    digest = await sha256File(dest);
    await recordDigest(dest, digest);
  }
  const wrongSize = opts.size != null && bytes !== opts.size;
  if (wrongSize || (opts.sha256 && digest !== opts.sha256.toLowerCase())) {
    throw new ChecksumError(
      `${dest} is in the cache but is not the expected file (${wrongSize ? `${bytes} bytes, expected ${opts.size}` : `sha256 ${digest}, expected ${opts.sha256}`}); ` +
        `remove it ('styleclip models rm NAME') and pull again`,
    );
  }
  return { path: dest, sha256: digest, bytes, downloaded: false };
}

/**
 * Downloads `url` to `dest` unless it is already there: resumable, verified, atomic, and safe to run concurrently for
 * the same `dest` (the second caller waits for the first and then returns the finished file).
 */
export async function downloadFile(url: string, dest: string, opts: DownloadOptions = {}): Promise<DownloadResult> {
  await makeDirs(dirname(dest));
  const release = await acquireLock(lockPath(dest), opts);
  try {
    const have = await fileSize(dest);
    if (have !== undefined) return await existing(dest, have, opts);
    const retries = opts.retries ?? DOWNLOAD_DEFAULTS.retries;
    for (let i = 0; ; i++) {
      try {
        return await attempt(url, dest, opts);
      } catch (e) {
        if (opts.signal?.aborted || !(e instanceof DownloadError) || !e.retryable) throw e;
        if (i >= retries) {
          const kept = (await fileSize(partialPath(dest))) ?? 0;
          const resume = kept > 0 ? `; run the pull again to resume from the ${kept} bytes kept in ${partialPath(dest)}` : '';
          throw new DownloadError(`${e.message} (gave up after ${i + 1} attempts)${resume}`);
        }
        await sleep((opts.retryDelayMs ?? DOWNLOAD_DEFAULTS.retryDelayMs) * 2 ** i, undefined, { signal: opts.signal });
      }
    }
  } finally {
    await release();
  }
}
