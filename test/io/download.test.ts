import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ChecksumError,
  DownloadError,
  confirmationUrl,
  digestPath,
  downloadFile,
  lockPath,
  partialPath,
  type DownloadProgress,
} from '../../src/io/models/download.js';
import { PROJECT_ROOT } from '../helpers/shared.js';
import { startModelServer, type ModelServer } from './model_server.js';

const BODY = randomBytes(300_000);
const SHA = createHash('sha256').update(BODY).digest('hex');
const FAST = { retryDelayMs: 5 } as const;

let dir: string;
let server: ModelServer | undefined;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'styleclip-dl-'));
});
afterEach(async () => {
  await server?.close();
  server = undefined;
  await rm(dir, { recursive: true, force: true });
});

/** Nothing but the finished file (if any) and its digest record may remain. */
async function expectNoLeftovers(dest: string): Promise<void> {
  expect(existsSync(partialPath(dest))).toBe(false);
  expect(existsSync(lockPath(dest))).toBe(false);
}

describe('downloadFile', () => {
  it('downloads, checks size and sha256, records the digest, reports progress', async () => {
    server = await startModelServer({ '/m.bin': { body: BODY, chunk: 65_536 } });
    const dest = join(dir, 'm', 'm.bin');
    const seen: DownloadProgress[] = [];
    const r = await downloadFile(`${server.baseUrl}/m.bin`, dest, { size: BODY.length, sha256: SHA, onProgress: (p) => seen.push(p) });
    expect(r).toMatchObject({ path: dest, sha256: SHA, bytes: BODY.length, downloaded: true });
    expect(Buffer.compare(await readFile(dest), BODY)).toBe(0);
    expect(await readFile(digestPath(dest), 'utf8')).toBe(`${SHA}  m.bin\n`);
    expect(seen.at(-1)).toMatchObject({ bytes: BODY.length, total: BODY.length });
    expect(seen.every((p) => p.rate >= 0)).toBe(true);
    await expectNoLeftovers(dest);
    const again = await downloadFile(`${server.baseUrl}/m.bin`, dest, { size: BODY.length, sha256: SHA });
    expect(again.downloaded).toBe(false);
    expect(server.requests).toHaveLength(1);
  });

  it('a corrupted byte is a checksum error and leaves nothing behind', async () => {
    const bad = Buffer.from(BODY);
    bad[12_345] ^= 0xff;
    server = await startModelServer({ '/m.bin': { body: bad } });
    const dest = join(dir, 'm.bin');
    const err = await downloadFile(`${server.baseUrl}/m.bin`, dest, { size: BODY.length, sha256: SHA, ...FAST }).catch((e) => e);
    expect(err).toBeInstanceOf(ChecksumError);
    expect(err.message).toMatch(/corrupt.*sha256.*expected/);
    expect(existsSync(dest)).toBe(false);
    expect(existsSync(digestPath(dest))).toBe(false);
    await expectNoLeftovers(dest);
    expect(server.requests).toHaveLength(1);
  });

  it('a size that disagrees with the manifest fails before downloading', async () => {
    server = await startModelServer({ '/m.bin': { body: BODY } });
    const dest = join(dir, 'm.bin');
    const err = await downloadFile(`${server.baseUrl}/m.bin`, dest, { size: BODY.length + 1 }).catch((e) => e);
    expect(err).toBeInstanceOf(ChecksumError);
    expect(err.message).toMatch(/300000 bytes but 300001 were expected/);
    expect(existsSync(dest)).toBe(false);
  });

  it('a connection cut mid-file resumes with a Range request within the same pull', async () => {
    server = await startModelServer({ '/m.bin': { body: BODY, cutAfter: 100_000 } });
    const dest = join(dir, 'm.bin');
    const r = await downloadFile(`${server.baseUrl}/m.bin`, dest, { size: BODY.length, sha256: SHA, ...FAST });
    expect(r.downloaded).toBe(true);
    expect(Buffer.compare(await readFile(dest), BODY)).toBe(0);
    expect(server.requests.map((q) => q.range)).toEqual([undefined, 'bytes=100000-']);
    await expectNoLeftovers(dest);
  });

  it('without retries a cut leaves only a .partial, and the next pull resumes it', async () => {
    server = await startModelServer({ '/m.bin': { body: BODY, cutAfter: 120_000 } });
    const dest = join(dir, 'm.bin');
    const err = await downloadFile(`${server.baseUrl}/m.bin`, dest, { sha256: SHA, retries: 0 }).catch((e) => e);
    expect(err).toBeInstanceOf(DownloadError);
    expect(err.message).toMatch(/connection (lost|closed).*resume from the 120000 bytes/);
    expect(existsSync(dest)).toBe(false);
    expect((await stat(partialPath(dest))).size).toBe(120_000);
    expect(existsSync(lockPath(dest))).toBe(false);
    const r = await downloadFile(`${server.baseUrl}/m.bin`, dest, { sha256: SHA });
    expect(r.sha256).toBe(SHA);
    expect(server.requests.at(-1)?.range).toBe('bytes=120000-');
    await expectNoLeftovers(dest);
  });

  it('a complete .partial is finished from a 416 answer without downloading again', async () => {
    server = await startModelServer({ '/m.bin': { body: BODY } });
    const dest = join(dir, 'm.bin');
    await writeFile(partialPath(dest), BODY);
    const r = await downloadFile(`${server.baseUrl}/m.bin`, dest, { sha256: SHA });
    expect(r).toMatchObject({ sha256: SHA, bytes: BODY.length });
    expect(server.requests.map((q) => q.range)).toEqual([`bytes=${BODY.length}-`]);
  });

  it('a corrupt .partial fails the checksum, is deleted, and the next pull starts afresh', async () => {
    server = await startModelServer({ '/m.bin': { body: BODY } });
    const dest = join(dir, 'm.bin');
    await writeFile(partialPath(dest), randomBytes(1000));
    await expect(downloadFile(`${server.baseUrl}/m.bin`, dest, { sha256: SHA })).rejects.toBeInstanceOf(ChecksumError);
    expect(existsSync(partialPath(dest))).toBe(false);
    expect((await downloadFile(`${server.baseUrl}/m.bin`, dest, { sha256: SHA })).sha256).toBe(SHA);
  });

  it('404 is a clear error and is not retried', async () => {
    server = await startModelServer({});
    const dest = join(dir, 'm.bin');
    const err = await downloadFile(`${server.baseUrl}/nope.bin`, dest, { ...FAST }).catch((e) => e);
    expect(err).toBeInstanceOf(DownloadError);
    expect(err.message).toMatch(/nope\.bin: HTTP 404 Not Found: the URL is wrong/);
    expect(server.requests).toHaveLength(1);
    expect(existsSync(dest)).toBe(false);
    await expectNoLeftovers(dest);
  });

  it('an unreachable server is retried, then reported', async () => {
    server = await startModelServer({});
    const url = `${server.baseUrl}/m.bin`;
    await server.close();
    server = undefined;
    const err = await downloadFile(url, join(dir, 'm.bin'), { retries: 1, ...FAST }).catch((e) => e);
    expect(err).toBeInstanceOf(DownloadError);
    expect(err.message).toMatch(/cannot reach .*gave up after 2 attempts/);
  });

  it('a stalled connection is abandoned and resumable', async () => {
    server = await startModelServer({ '/m.bin': { body: BODY, chunk: 50_000, delayMs: 10_000 } });
    const dest = join(dir, 'm.bin');
    const err = await downloadFile(`${server.baseUrl}/m.bin`, dest, { retries: 0, stallMs: 300 }).catch((e) => e);
    expect(err).toBeInstanceOf(DownloadError);
    expect(err.message).toMatch(/no data for 0.3 s after 50000 bytes.*resume from the 50000 bytes/);
    expect(existsSync(dest)).toBe(false);
  });

  it('an unknown digest is recorded at the first download', async () => {
    server = await startModelServer({ '/m.bin': { body: BODY } });
    const dest = join(dir, 'm.bin');
    const r = await downloadFile(`${server.baseUrl}/m.bin`, dest, { size: null, sha256: null });
    expect(r.sha256).toBe(SHA);
    expect((await readFile(digestPath(dest), 'utf8')).startsWith(SHA)).toBe(true);
  });

  it('concurrent pulls of one file download it once and both get the finished file', async () => {
    server = await startModelServer({ '/m.bin': { body: BODY, chunk: 16_384, delayMs: 5 } });
    const dest = join(dir, 'm.bin');
    const waits: number[] = [];
    const pulls = [0, 1, 2].map(() =>
      downloadFile(`${server!.baseUrl}/m.bin`, dest, { sha256: SHA, onWait: (h) => waits.push(h.pid) }),
    );
    const results = await Promise.all(pulls);
    expect(results.filter((r) => r.downloaded)).toHaveLength(1);
    expect(results.every((r) => r.sha256 === SHA)).toBe(true);
    expect(waits).toEqual([process.pid, process.pid]);
    expect(server.requests).toHaveLength(1);
    expect(Buffer.compare(await readFile(dest), BODY)).toBe(0);
    await expectNoLeftovers(dest);
  });

  it('a lock left by a dead process is taken over', async () => {
    server = await startModelServer({ '/m.bin': { body: BODY } });
    const dest = join(dir, 'm.bin');
    const dead = spawn(process.execPath, ['-e', '']);
    await new Promise((r) => dead.on('exit', r));
    await writeFile(lockPath(dest), JSON.stringify({ pid: dead.pid, host: (await import('node:os')).hostname(), started: '' }));
    expect((await downloadFile(`${server.baseUrl}/m.bin`, dest, { sha256: SHA })).downloaded).toBe(true);
    await expectNoLeftovers(dest);
  });

  it('a killed download leaves no complete-looking file, and the next pull resumes it', async () => {
    server = await startModelServer({ '/m.bin': { body: BODY, chunk: 8192, delayMs: 20 } });
    const dest = join(dir, 'm.bin');
    const script = join(dir, 'pull.mts');
    const mod = join(PROJECT_ROOT, 'src', 'io', 'models', 'download.ts');
    await writeFile(script, `import { downloadFile } from ${JSON.stringify(mod)};\nawait downloadFile(process.argv[2], process.argv[3]);\n`);
    const child = spawn(process.execPath, ['--import', 'tsx', script, `${server.baseUrl}/m.bin`, dest], { cwd: PROJECT_ROOT });
    const exited = new Promise((r) => child.on('exit', r));
    while (((await stat(partialPath(dest)).catch(() => undefined))?.size ?? 0) < 50_000) await new Promise((r) => setTimeout(r, 20));
    child.kill('SIGKILL');
    await exited;
    expect(existsSync(dest)).toBe(false);
    expect(existsSync(lockPath(dest))).toBe(true);
    const kept = (await stat(partialPath(dest))).size;
    expect(kept).toBeGreaterThanOrEqual(50_000);
    expect(kept).toBeLessThan(BODY.length);
    const r = await downloadFile(`${server.baseUrl}/m.bin`, dest, { sha256: SHA });
    expect(r.sha256).toBe(SHA);
    expect(server.requests.at(-1)?.range).toMatch(/^bytes=\d+-$/);
    expect(Number(/\d+/.exec(server.requests.at(-1)!.range!)![0])).toBeGreaterThanOrEqual(kept);
    await expectNoLeftovers(dest);
  });

  it('an abort keeps the partial download and releases the lock', async () => {
    server = await startModelServer({ '/m.bin': { body: BODY, chunk: 8192, delayMs: 20 } });
    const dest = join(dir, 'm.bin');
    const ac = new AbortController();
    const p = downloadFile(`${server.baseUrl}/m.bin`, dest, { signal: ac.signal, onProgress: (q) => q.bytes > 30_000 && ac.abort() });
    await expect(p).rejects.toThrow();
    expect(existsSync(dest)).toBe(false);
    expect((await stat(partialPath(dest))).size).toBeGreaterThan(30_000);
    expect(existsSync(lockPath(dest))).toBe(false);
  });
});

describe('Google Drive confirmation', () => {
  it('follows the virus-scan form to the file, and resumes through it', async () => {
    server = await startModelServer({}, [{ id: 'FILEID', file: { body: BODY, cutAfter: 70_000 } }]);
    const dest = join(dir, 'g.pt');
    const r = await downloadFile(`${server.baseUrl}/uc?export=download&id=FILEID`, dest, { sha256: SHA, ...FAST });
    expect(r.sha256).toBe(SHA);
    const paths = server.requests.map((q) => `${q.path.split('?')[0]} ${q.range ?? ''}`.trim());
    expect(paths).toEqual(['/uc', '/download', '/uc bytes=70000-', '/download bytes=70000-']);
  });

  it('a quota page is an error that names the ways out', async () => {
    server = await startModelServer({}, [{ id: 'FILEID', file: { body: BODY }, quotaExceeded: true }]);
    const err = await downloadFile(`${server.baseUrl}/uc?export=download&id=FILEID`, join(dir, 'g.pt')).catch((e) => e);
    expect(err).toBeInstanceOf(DownloadError);
    expect(err.message).toMatch(/'Google Drive - Quota exceeded' instead of the file.*--base-url.*models path/);
  });

  it('reads the older confirm link and download_warning cookie forms', () => {
    const page = '<a id="uc-download-link" href="/uc?export=download&amp;confirm=AbC1&amp;id=X">Download anyway</a>';
    expect(confirmationUrl(page, 'https://drive.google.com/uc?export=download&id=X', [])).toBe(
      'https://drive.google.com/uc?export=download&confirm=AbC1&id=X',
    );
    const cookie = ['download_warning_13058876669334088843=Zz9; Domain=.drive.google.com; Path=/uc'];
    expect(confirmationUrl('<html></html>', 'https://drive.google.com/uc?export=download&id=X', cookie)).toBe(
      'https://drive.google.com/uc?export=download&id=X&confirm=Zz9',
    );
    expect(confirmationUrl('<html><title>Quota</title></html>', 'https://drive.google.com/uc?id=X', [])).toBeUndefined();
  });
});
