/**
 * Shared pieces of the server tests: the fixture models (the REAL library: tiny StyleGAN2 and CLIP from
 * ../shared/fixtures/reference), an app or a listening server over a temporary job store, polling, and an SSE reader.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp, type AppDeps } from '../../src/server/app.js';
import { listen, type Listening } from '../../src/server/http.js';
import { LocalQueue } from '../../src/jobs/queue.js';
import { JobStore } from '../../src/jobs/store.js';
import { loadServices, type ModelPaths, type Services } from '../../src/jobs/wiring.js';
import { fixtureModelFlags, fixtureSources } from '../helpers/models.js';
import { fixture, sharedPath } from '../helpers/shared.js';

export function modelPaths(): ModelPaths {
  return {
    ...fixtureSources(),
    faceModels: sharedPath('models'),
    identityModel: 'mobileface',
    directions: { fs3: fixture('fs3.npy'), stats: fixture('S_mean_std') },
    mappers: new Map([['purple_hair_tiny', fixture('mapper_tiny.pt')]]),
  };
}

/** Flags of `styleclip serve|worker|batch` for the fixture models. */
export const modelFlags = fixtureModelFlags;

export interface TestServer {
  readonly services: Services;
  readonly store: JobStore;
  readonly queue: LocalQueue;
  readonly app: ReturnType<typeof createApp>;
  readonly dir: string;
  close(): Promise<void>;
}

/** The app over the real fixture models, an in-process queue and a fresh temporary store. */
export async function fixtureApp(
  opts: { concurrency?: number; capacity?: number; extra?: Partial<AppDeps>; paths?: Partial<ModelPaths> } = {},
): Promise<TestServer> {
  const dir = await mkdtemp(join(tmpdir(), 'styleclip-server-'));
  const store = await new JobStore(dir).init();
  const services = await loadServices({ ...modelPaths(), ...opts.paths });
  const queue = new LocalQueue({ store, editor: services.editor, onePass: services.onePass, domains: services.domains, concurrency: opts.concurrency ?? 1, capacity: opts.capacity ?? 16 });
  const app = createApp({ ...services, store, queue, log: () => {}, ...opts.extra });
  return {
    services,
    store,
    queue,
    app,
    dir,
    async close() {
      await queue.close(0);
      await queue.idle();
      await services.dispose();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Serves `app` on 127.0.0.1 with a free port. */
export function listenLocal(app: TestServer['app']): Promise<Listening> {
  return listen(app, 0, '127.0.0.1');
}

export async function waitFor<T>(fn: () => Promise<T | undefined | false>, what: string, timeoutMs = 60_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface SseEvent {
  readonly event: string;
  readonly data: unknown;
}

/** Reads an SSE response to its end (the server closes it after the final event). */
export async function readSse(res: Response): Promise<SseEvent[]> {
  if (!res.body) throw new Error('no body');
  const text = await res.text();
  return text
    .split('\n\n')
    .filter((block) => /^data: /m.test(block))
    .map((block) => ({
      event: /^event: (.*)$/m.exec(block)?.[1] ?? 'message',
      data: JSON.parse(
        block
          .split('\n')
          .filter((l) => l.startsWith('data: '))
          .map((l) => l.slice(6))
          .join('\n'),
      ),
    }));
}

export const json = (body: unknown): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

/** Settings for fast edits on the tiny models. */
export const FEW_STEPS = 6;
