/**
 * A loopback HTTP server for the download tests (node:http on 127.0.0.1, random port): serves in-memory files with
 * single-range support (RFC 9110 §14: `Range: bytes=N-[M]` -> 206 + Content-Range, past the end -> 416
 * `bytes * /SIZE`), can cut the connection after N bytes of the first response for a path, throttle responses, and
 * imitate Google Drive's virus-scan confirmation page (a form to /download with hidden id/export/confirm/uuid inputs).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ServedFile {
  readonly body: Uint8Array;
  /** Destroy the socket after this many body bytes, on the first request for this path only. */
  readonly cutAfter?: number;
  /** Send the body in chunks of this size with this delay between them. */
  readonly chunk?: number;
  readonly delayMs?: number;
}

export interface LoggedRequest {
  readonly path: string;
  readonly range?: string;
  readonly cookie?: string;
}

/** Drive imitation: `/uc?export=download&id=ID` -> confirmation page; the page's form -> the file with that id. */
export interface DriveFile {
  readonly id: string;
  readonly file: ServedFile;
  /** Serve the quota-exceeded page instead of a confirmation form. */
  readonly quotaExceeded?: boolean;
}

export interface ModelServer {
  readonly baseUrl: string;
  readonly requests: LoggedRequest[];
  close(): Promise<void>;
}

const DRIVE_UUID = '0f5c2c1e-test';

function confirmPage(id: string): string {
  return [
    '<!DOCTYPE html><html><head><title>Google Drive - Virus scan warning</title></head><body>',
    '<p>Google Drive can&#39;t scan this file for viruses.</p>',
    '<form id="download-form" action="/download" method="get">',
    '<input type="submit" id="uc-download-link" value="Download anyway"/>',
    `<input type="hidden" name="id" value="${id}"><input type="hidden" name="export" value="download">`,
    `<input type="hidden" name="confirm" value="t"><input type="hidden" name="uuid" value="${DRIVE_UUID}">`,
    '</form></body></html>',
  ].join('\n');
}

const QUOTA_PAGE =
  '<html><head><title>Google Drive - Quota exceeded</title></head><body>Too many users have viewed or downloaded this file recently.</body></html>';

function sendHtml(res: ServerResponse, html: string): void {
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(html) });
  res.end(html);
}

async function sendFile(req: IncomingMessage, res: ServerResponse, file: ServedFile, first: boolean): Promise<void> {
  const size = file.body.byteLength;
  let start = 0;
  let end = size - 1;
  const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
  if (range) {
    start = Number(range[1]);
    if (range[2]) end = Math.min(Number(range[2]), size - 1);
    if (start >= size) {
      res.writeHead(416, { 'content-range': `bytes */${size}` });
      res.end();
      return;
    }
    res.writeHead(206, {
      'content-type': 'application/octet-stream',
      'content-length': end - start + 1,
      'content-range': `bytes ${start}-${end}/${size}`,
      'accept-ranges': 'bytes',
    });
  } else {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': size, 'accept-ranges': 'bytes' });
  }
  const body = Buffer.from(file.body.subarray(start, end + 1));
  if (first && file.cutAfter !== undefined) {
    res.write(body.subarray(0, file.cutAfter), () => setTimeout(() => req.socket.destroy(), 20));
    return;
  }
  const step = file.chunk ?? body.length;
  for (let i = 0; i < body.length; i += step) {
    if (res.destroyed) return;
    res.write(body.subarray(i, i + step));
    if (file.delayMs) await new Promise((r) => setTimeout(r, file.delayMs));
  }
  res.end();
}

export async function startModelServer(files: Record<string, ServedFile>, drive: DriveFile[] = []): Promise<ModelServer> {
  const requests: LoggedRequest[] = [];
  const seen = new Set<string>();
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    requests.push({ path: req.url ?? '/', range: req.headers.range, cookie: req.headers.cookie });
    const firstTime = (key: string): boolean => {
      const first = !seen.has(key);
      seen.add(key);
      return first;
    };
    const driveFile = drive.find((d) => d.id === url.searchParams.get('id'));
    if (driveFile && url.pathname === '/uc') {
      sendHtml(res, driveFile.quotaExceeded ? QUOTA_PAGE : confirmPage(driveFile.id));
      return;
    }
    if (driveFile && url.pathname === '/download') {
      if (url.searchParams.get('confirm') === 't' && url.searchParams.get('uuid') === DRIVE_UUID) {
        void sendFile(req, res, driveFile.file, firstTime(`drive:${driveFile.id}`));
      } else {
        sendHtml(res, confirmPage(driveFile.id));
      }
      return;
    }
    const file = files[url.pathname];
    if (!file) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
      return;
    }
    void sendFile(req, res, file, firstTime(url.pathname));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
