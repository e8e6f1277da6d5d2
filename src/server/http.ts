/**
 * Serving the app on Node (@hono/node-server) and stopping it gracefully: stop accepting connections, let the
 * queue finish or checkpoint running jobs, then close what is still open (long-lived SSE streams included).
 */
import { createServer, type AddressInfo } from 'node:net';
import { InputError } from '../errors.js';
import { serve, type ServerType } from '@hono/node-server';
import type { Hono } from 'hono';

export interface Listening {
  readonly url: string;
  readonly port: number;
  /** Stops accepting connections and closes idle ones; `closeAll` ends the rest. */
  stopAccepting(): void;
  closeAll(): void;
}

type AnyApp = Pick<Hono, 'fetch'>;

/** A bind failure a user can fix (port in use, no permission, unknown address) as a one-line InputError. */
function bindError(e: NodeJS.ErrnoException, port: number, host: string): Error {
  if (e.code === 'EADDRINUSE') return new InputError(`port ${port} on ${host} is already in use: stop the other server or pick another with --port`);
  if (e.code === 'EACCES') return new InputError(`no permission to listen on port ${port} on ${host}: use a port above 1023 with --port`);
  if (e.code === 'EADDRNOTAVAIL' || e.code === 'ENOTFOUND') return new InputError(`cannot listen on ${host}: not an address of this machine; check --host`);
  return e;
}

/** Checks that `host:port` can be bound, before anything slow (model loading) happens. */
export function assertPortFree(port: number, host: string): Promise<void> {
  if (port === 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (e: NodeJS.ErrnoException) => reject(bindError(e, port, host)));
    probe.listen(port, host, () => probe.close(() => resolve()));
  });
}

/** Listens on `host:port` (port 0 picks a free one); resolves once the socket is bound. */
export function listen(app: AnyApp, port: number, host: string): Promise<Listening> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error): void => reject(bindError(e, port, host));
    const server: ServerType = serve({ fetch: app.fetch, port, hostname: host }, (info: AddressInfo) => {
      server.off('error', onError);
      const shownHost = info.family === 'IPv6' ? `[${info.address}]` : info.address;
      resolve({
        url: `http://${shownHost}:${info.port}`,
        port: info.port,
        stopAccepting() {
          server.close();
          if ('closeIdleConnections' in server) server.closeIdleConnections();
        },
        closeAll() {
          if ('closeAllConnections' in server) server.closeAllConnections();
        },
      });
    });
    server.once('error', onError);
  });
}
