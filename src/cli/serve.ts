/**
 * `styleclip serve`: the HTTP API and web form (docs/server.md). Jobs run in this process by default; with
 * `--queue redis://...` they go to Redis and `styleclip worker` processes run them. SIGTERM/SIGINT stop accepting
 * connections, give running jobs `--grace` seconds to finish, checkpoint the rest (back to 'queued', run again on
 * restart or by another worker), then exit 0.
 */
import { DEFAULT_MAX_BODY_BYTES } from '../server/limits.js';
import { DEFAULT_QUEUE_CAPACITY, LocalQueue, type JobQueue } from '../jobs/queue.js';
import { JobStore } from '../jobs/store.js';
import { loadServices, type ModelPaths } from '../jobs/wiring.js';
import { basename } from 'node:path';
import { resolveModelPath } from '../io/models/registry.js';
import { UsageError, modelFlag, num, str, type CliIO, type Command } from './command.js';
import { setDefaultSessionThread } from '../engine/session_options.js';
import { withRegisteredModels } from './service_defaults.js';

/** Default port: the example (`--port 8787`). */
const DEFAULT_PORT = 8787;
/** Loopback by default; `--host 0.0.0.0` exposes the server to the network on purpose. */
const DEFAULT_HOST = '127.0.0.1';
/** Default job store directory, relative to the working directory. */
export const DEFAULT_STORE = 'styleclip-store';
/** Seconds running jobs get to finish on shutdown (Kubernetes' default terminationGracePeriodSeconds is 30). */
export const DEFAULT_GRACE_SECONDS = 25;

export const MODEL_USAGE = [
  '  --generator G      StyleGAN2 checkpoint (rosinality .pt or NVIDIA .pkl) or a downloaded model name',
  '  --clip C           CLIP checkpoint (OpenAI .pt, state dict, open_clip or Hugging Face) or a model name',
  '  --vocab V          CLIP BPE merges (bpe_simple_vocab_16e6.txt.gz) or a model name',
  '  --models DIR       face models for photo edits (default $STYLECLIP_FACE_MODELS, else the model cache)',
  '  --identity-model M identity net for the id weight: mobileface, a MobileFace .json or an ArcFace .pth',
  '  --encoder E        e4e/pSp checkpoint (or e4e-ffhq): photo starts are inverted in one pass, not projected',
  "                     (serve/worker default: the generator's registered encoder, e4e-ffhq for FFHQ's)",
  "  --faithful-encoder H  HyperStyle checkpoint (or hyperstyle-ffhq): photos asking for photo_inversion 'faithful'",
  "                     (the form's choice) keep the likeness; --w-encoder W: its W encoder if not found beside it",
];
export const STORE_USAGE = `  --store DIR        job store: inputs, progress and results of every job (default ./${DEFAULT_STORE})`;

export const MODEL_OPTIONS = {
  encoder: { type: 'string' },
  'faithful-encoder': { type: 'string' },
  'w-encoder': { type: 'string' },
  generator: { type: 'string' },
  clip: { type: 'string' },
  vocab: { type: 'string' },
  models: { type: 'string' },
  'identity-model': { type: 'string' },
} as const;
/** Flags of the long-running commands (serve, worker). */
export const SERVICE_OPTIONS = { ...MODEL_OPTIONS, store: { type: 'string' }, grace: { type: 'string' } } as const;

/** Model flags: file paths, or names of downloaded models (`styleclip models list`). */
export async function modelPaths(args: Parameters<Command['run']>[0], io: CliIO) {
  return {
    generator: await modelFlag(args, 'generator', 'generator', io.stderr),
    clip: await modelFlag(args, 'clip', 'clip', io.stderr),
    vocab: await modelFlag(args, 'vocab', 'vocab', io.stderr),
    faceModels: str(args, 'models'),
    identityModel: str(args, 'identity-model'),
    encoder: await encoderFlag(args, 'encoder'),
    faithfulEncoder: await encoderFlag(args, 'faithful-encoder'),
    wEncoder: await encoderFlag(args, 'w-encoder'),
  };
}

/** An encoder flag resolved to a file (path or registry name), if given. */
function encoderFlag(args: Parameters<Command['run']>[0], name: string): Promise<string | undefined> {
  const v = str(args, name);
  return v === undefined ? Promise.resolve(undefined) : resolveModelPath(v, 'encoder');
}

/** Flags of the one-pass methods (serve, batch). */
export const ONE_PASS_OPTIONS = { fs3: { type: 'string' }, stats: { type: 'string' }, mappers: { type: 'string' }, domains: { type: 'string' } } as const;

/** Help of `--domains` (serve, worker, batch). */
export const DOMAINS_USAGE = [
  '  --domains D,D      StyleGAN-NADA generators edits may render with (`domain`): NAME=G.pt, a file (named after it)',
  '                     or a registry name (nada-ffhq-sketch, ...); GET /v1/models lists them, the form offers them',
];

/** The name a model file or registry name goes by in --mappers / --domains: its base name without the extension. */
const fileStem = (spec: string): string => basename(spec).replace(/\.(pt|pth|pkl|safetensors)$/, '');

/** `--fs3`/`--stats` (both or neither), `--mappers M,M` and `--domains D,D` (files or registry names), resolved to files. */
export async function onePassPaths(args: Parameters<Command['run']>[0], io: CliIO): Promise<Pick<ModelPaths, 'directions' | 'mappers' | 'domains'>> {
  if ((str(args, 'fs3') === undefined) !== (str(args, 'stats') === undefined)) throw new UsageError('global directions need both --fs3 and --stats');
  const directions = str(args, 'fs3') ? { fs3: await modelFlag(args, 'fs3', 'directions', io.stderr), stats: await modelFlag(args, 'stats', 'directions', io.stderr) } : undefined;
  const mappers = new Map<string, string>();
  for (const spec of (str(args, 'mappers') ?? '').split(',').map((x) => x.trim()).filter(Boolean)) {
    mappers.set(fileStem(spec), await resolveModelPath(spec, 'mapper'));
  }
  const domains = new Map<string, string>();
  for (const spec of (str(args, 'domains') ?? '').split(',').map((x) => x.trim()).filter(Boolean)) {
    const [named, file] = spec.includes('=') ? [spec.slice(0, spec.indexOf('=')), spec.slice(spec.indexOf('=') + 1)] : [fileStem(spec), spec];
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(named)) throw new UsageError(`--domains: '${named}' is not a usable name (letters, digits, _ . -; NAME=G.pt sets one)`);
    domains.set(named, await resolveModelPath(file, 'generator'));
  }
  return { directions, mappers, domains };
}

/** Resolves when `signal` aborts. */
export function untilAborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })));
}

export const serveCommand: Command = {
  path: ['serve'],
  summary: 'HTTP API and web form for edits, generation and CLIP (docs/server.md)',
  usage: [
    '  styleclip serve [--generator G] [--clip C] [--vocab V] [--fs3 FS3.npy --stats S_MEAN_STD] [--port 8787] [--host 127.0.0.1] [--store DIR]',
    '                  [--encoder E] [--faithful-encoder H] [--mappers M,M] [--domains D,D] [--identity-model M] [--models DIR]',
    '                  [--queue redis://host:port] [--concurrency N] [--queue-size N] [--grace SECONDS] [--max-body-mb N]',
    '',
    ...MODEL_USAGE,
    STORE_USAGE,
    '  --mappers M,M      latent mappers (files or registry names, e.g. mapper-afro,mapper-bobcut) for /v1/render,',
    '                     /v1/edits/mapper jobs and the form',
    '  --fs3/--stats      global directions (fs3.npy, S_mean_std) for /v1/directions, /v1/render, /v1/edits/global jobs',
    '                     and the form\'s fast mode (default: the generator\'s registered ones, FFHQ\'s by name; with',
    '                     no flags at all the form opens in fast mode with photo uploads, every model pulled on first use)',
    ...DOMAINS_USAGE,
    `  --port N           TCP port (default ${DEFAULT_PORT}; 0 picks a free one)`,
    `  --host H           address to listen on (default ${DEFAULT_HOST}; 0.0.0.0 for all interfaces)`,
    '  --queue URL        redis://host:port: queue jobs in Redis for `styleclip worker` processes (default: in-process)',
    '  --concurrency N    edits run at once by this process without --queue (default 1)',
    `  --queue-size N     edits allowed to wait; more get HTTP 429 (default ${DEFAULT_QUEUE_CAPACITY})`,
    `  --grace SECONDS    on SIGTERM, time running edits get to finish before they are checkpointed (default ${DEFAULT_GRACE_SECONDS})`,
    `  --max-body-mb N    largest request body in MiB (default ${DEFAULT_MAX_BODY_BYTES / 2 ** 20})`,
  ].join('\n'),
  options: {
    ...SERVICE_OPTIONS,
    port: { type: 'string' },
    host: { type: 'string' },
    queue: { type: 'string' },
    concurrency: { type: 'string' },
    'queue-size': { type: 'string' },
    'max-body-mb': { type: 'string' },
    ...ONE_PASS_OPTIONS,
  },
  async run(given, io) {
    const { args, said } = await withRegisteredModels(given);
    const port = num(args, 'port', DEFAULT_PORT, { min: 0, max: 65535, integer: true });
    const host = str(args, 'host') ?? DEFAULT_HOST;
    const concurrency = num(args, 'concurrency', 1, { min: 1, max: 64, integer: true });
    const capacity = num(args, 'queue-size', DEFAULT_QUEUE_CAPACITY, { min: 0, max: 100_000, integer: true });
    const graceMs = num(args, 'grace', DEFAULT_GRACE_SECONDS, { min: 0, max: 3600 }) * 1000;
    const maxBodyBytes = num(args, 'max-body-mb', DEFAULT_MAX_BODY_BYTES / 2 ** 20, { min: 1, max: 1024 }) * 2 ** 20;
    const log = (m: string): void => void io.stderr.write(`styleclip serve: ${m}\n`);
    // The HTTP server (Hono) loads only when serving: other commands start without it.
    const [{ createApp }, { assertPortFree, listen }] = await Promise.all([import('../server/app.js'), import('../server/http.js')]);
    await assertPortFree(port, host);
    // Every flag and model is checked before the store's directories are created.
    const onePass = await onePassPaths(args, io);
    const paths = await modelPaths(args, io);

    if (said) log(said);
    for (const [what, path] of Object.entries(paths)) if (typeof path === 'string') log(`model ${what}: ${path}`);
    const store = await new JobStore(str(args, 'store') ?? DEFAULT_STORE).init();
    // Inferences off the event loop: requests, uploads and progress events are answered while a render or a job's
    // step runs (engine/session_worker.ts); back to the default when serving ends (the CLI runs in tests' processes).
    setDefaultSessionThread('worker');
    try {
      const services = await loadServices({ ...paths, ...onePass });
      const url = str(args, 'queue');
      let queue: JobQueue;
      if (url) {
        // BullMQ and ioredis (~0.5 s to import) load only for a Redis queue.
        const { RedisQueue } = await import('../jobs/redis_queue.js');
        queue = new RedisQueue(url, store, capacity, log);
      } else {
        const local = new LocalQueue({ store, editor: services.editor, onePass: services.onePass, domains: services.domains, concurrency, capacity, log });
        const recovered = await local.recover();
        if (recovered) log(`re-queued ${recovered} unfinished job(s) from ${store.root}`);
        queue = local;
      }
      const app = createApp({ ...services, store, queue, maxBodyBytes, log });
      const server = await listen(app, port, host);
      io.stdout.write(`styleclip serve: listening on ${server.url} (store ${store.root}, queue ${url ? 'redis' : 'in-process'})\n`);

      await untilAborted(io.signal);
      const deadline = Date.now() + graceMs;
      log(`shutting down: no new connections; running edits get the grace period (${graceMs / 1000} s)`);
      server.stopAccepting();
      await queue.close(graceMs);
      server.closeAll();
      await Promise.race([services.dispose(), new Promise((r) => setTimeout(r, Math.max(0, deadline - Date.now())).unref())]);
      log('stopped');
      return 0;
    } finally {
      setDefaultSessionThread(undefined);
    }
  },
};
