/**
 * `styleclip worker`: runs edit jobs from a Redis queue (BullMQ) filled by `styleclip serve --queue`; run any number
 * of them on any number of machines that share the job store directory. A worker that dies mid-job loses its lock
 * and the job is retried by another after `--stall-timeout`. SIGTERM: running jobs get `--grace` seconds, then go
 * back to the queue.
 */
import { DEFAULT_STALL_MS } from '../jobs/queue.js';
import { JobStore } from '../jobs/store.js';
import { loadServices } from '../jobs/wiring.js';
import { num, requireStr, str, type Command } from './command.js';
import { setDefaultSessionThread } from '../engine/session_options.js';
import { withRegisteredModels } from './service_defaults.js';
import { DEFAULT_GRACE_SECONDS, DEFAULT_STORE, DOMAINS_USAGE, MODEL_USAGE, ONE_PASS_OPTIONS, SERVICE_OPTIONS, STORE_USAGE, modelPaths, onePassPaths, untilAborted } from './serve.js';

export const workerCommand: Command = {
  path: ['worker'],
  summary: 'process edit jobs from a Redis queue (scale `styleclip serve --queue` past one machine)',
  usage: [
    '  styleclip worker --queue redis://host:port --generator G --clip C --vocab V [--store DIR] [--concurrency N]',
    '                   [--grace SECONDS] [--stall-timeout SECONDS]',
    '',
    '  --queue URL        the Redis URL given to `styleclip serve --queue`',
    ...MODEL_USAGE,
    STORE_USAGE,
    '                     (the same directory as the server\'s, e.g. on a shared file system)',
    '  --concurrency N    edits this worker runs at once (default 1)',
    `  --grace SECONDS    on SIGTERM, time running edits get to finish before going back to the queue (default ${DEFAULT_GRACE_SECONDS})`,
    `  --stall-timeout S  a job whose worker is silent this long is retried elsewhere (default ${DEFAULT_STALL_MS / 1000})`,
    '  --fs3/--stats      global directions for /v1/edits/global jobs (the same files as the serving process)',
    '  --mappers M,M      latent mappers for /v1/edits/mapper jobs (the same names as the serving process)',
    ...DOMAINS_USAGE,
  ].join('\n'),
  options: { ...SERVICE_OPTIONS, ...ONE_PASS_OPTIONS, queue: { type: 'string' }, concurrency: { type: 'string' }, 'stall-timeout': { type: 'string' } },
  async run(given, io) {
    const url = requireStr(given, 'queue');
    // The serving process's defaults: the generator's registered directions and encoder (src/cli/service_defaults.ts).
    const { args } = await withRegisteredModels(given);
    const paths = { ...(await modelPaths(args, io)), ...(await onePassPaths(args, io)) };
    const concurrency = num(args, 'concurrency', 1, { min: 1, max: 64, integer: true });
    const graceMs = num(args, 'grace', DEFAULT_GRACE_SECONDS, { min: 0, max: 3600 }) * 1000;
    const stallMs = num(args, 'stall-timeout', DEFAULT_STALL_MS / 1000, { min: 1, max: 3600 }) * 1000;
    const log = (m: string): void => void io.stderr.write(`styleclip worker: ${m}\n`);

    const store = await new JobStore(str(args, 'store') ?? DEFAULT_STORE).init();
    // Inferences off the event loop, which keeps the queue's lock renewals and heartbeats on time during a step.
    setDefaultSessionThread('worker');
    try {
      const services = await loadServices(paths);
      const { startWorker } = await import('../jobs/redis_queue.js'); // BullMQ loads only when a worker runs
      const worker = await startWorker({ url, store, editor: services.editor, onePass: services.onePass, domains: services.domains, concurrency, stallMs, log });
      io.stdout.write(`styleclip worker: ready (pid ${process.pid}, store ${store.root})\n`);
      await untilAborted(io.signal);
      log('shutting down: running edits get the grace period');
      await worker.close(graceMs);
      await services.dispose();
      return 0;
    } finally {
      setDefaultSessionThread(undefined);
    }
  },
};
