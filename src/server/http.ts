/**
 * Serving the app on Node (@hono/node-server) and stopping it gracefully: stop accepting connections, let the
 * queue finish or checkpoint running jobs, then close what is still open (long-lived SSE streams included).
 */
import type { AddressInfo } from 'node:net';
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

/** Listens on `host:port` (port 0 picks a free one); resolves once the socket is bound. */
export function listen(app: AnyApp, port: number, host: string): Promise<Listening> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error): void => reject(e);
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
