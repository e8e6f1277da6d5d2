/**
 * Throughput of edit jobs through the API (in-process queue, the tiny fixture models of ../shared, real job store):
 * steps per second of a 300-step and a 6000-step job, previews every 5 steps (the server's default). The long job's
 * rate must stay within 10% of the short one's: per-step bookkeeping (state writes, history, previews, SSE) is O(1).
 * Flags: --long N (default 6000).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createApp } from '../src/server/app.js';
import { LocalQueue } from '../src/jobs/queue.js';
import { JobStore } from '../src/jobs/store.js';
import { loadServices } from '../src/jobs/wiring.js';
import { machine, peakRssMiB } from './util.js';

const F = '../shared/fixtures/reference/';
/**
 * How often the bench asks for the job's status. GET /v1/edits/:id returns the whole loss history, so a client that
 * polls it fast pays O(steps) per poll; SSE followers read only new history. Polling slowly keeps the figure the job's.
 */
const POLL_MS = 500;

export async function run(argv: string[]): Promise<Record<string, unknown>> {
  const { values } = parseArgs({ args: argv, options: { long: { type: 'string' } } });
  const dir = await mkdtemp(join(tmpdir(), 'styleclip-bench-server-'));
  const store = await new JobStore(dir).init();
  const services = await loadServices({ generator: F + 'stylegan2_tiny.pt', clip: F + 'clip_vit_tiny.state_dict.pt', vocab: '../shared/data/clip/bpe_simple_vocab_16e6.txt.gz' });
  const queue = new LocalQueue({ store, editor: services.editor, concurrency: 1, capacity: 4 });
  const app = createApp({ ...services, store, queue, log: () => {} });
  const job = async (steps: number): Promise<number> => {
    const res = await app.request('/v1/edits', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'a person with purple hair', seed: 1, steps }) });
    const { id } = (await res.json()) as { id: string };
    const t0 = performance.now();
    for (;;) {
      const s = (await (await app.request(`/v1/edits/${id}`)).json()) as { status: string };
      if (s.status === 'done') break;
      if (s.status === 'failed') throw new Error(`job failed: ${JSON.stringify(s)}`);
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
    return steps / ((performance.now() - t0) / 1000);
  };
  await job(300); // sessions built, the JIT warm
  const longSteps = Number(values.long ?? 6000);
  // Short jobs before and after the long one, so drift of the machine itself (clock boost, other load) cancels.
  const shortBefore = await job(300);
  const long = await job(longSteps);
  const short = (shortBefore + (await job(300))) / 2;
  await queue.close(0);
  await services.dispose();
  await rm(dir, { recursive: true, force: true });
  return { machine: machine(), models: 'fixture (64 px generator, tiny ViT CLIP)', steps_per_s_300: short, [`steps_per_s_${longSteps}`]: long, ratio: long / short, peak_rss_mib: peakRssMiB() };
}
