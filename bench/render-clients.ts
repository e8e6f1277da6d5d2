/**
 * /v1/render under concurrent slider clients (issue 21 part 4): 1, 4 and 8 clients, each sending its next render as
 * soon as its previous one is answered (a slider dragged as fast as the server answers), a seed start each and one
 * global direction, through the server's render path (DirectionsApi: S codes, the shared synthesis queue of
 * src/server/render_batch.ts, JPEG encoding). Figures per client count: renders/s, p50/p95 latency, synthesis calls
 * per render (batching), and the targets' ratios (renders/s at 8 clients / at 1; p95 at 8 / p50 at 1).
 * Models: `--models fixture` (the 64 px fixture generator, its fs3 and S statistics, the tiny CLIP) or `full` (FFHQ
 * config-f 1024 px and ViT-B/32, random weights; FFHQ's S_mean_std; random unit fs3 rows), default both.
 * Flags: --renders N per client (default 100 fixture, 3 full), --clients 1,4,8, --thread worker|main (where
 * inferences run; default worker, as `serve`). Each row also gives the event loop's longest gap without a timer run:
 * what any other request (an upload, a progress event) waited at worst meanwhile.
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { VIT_B_32 } from '../src/clip/config.js';
import { Clip } from '../src/clip/clip.js';
import { ClipTokenizer } from '../src/clip/tokenizer.js';
import { GlobalDirections, channelDirections, parseStyleStats } from '../src/edit/global/index.js';
import * as E from '../src/engine/index.js';
import { Generator, randomWeights, resolveGeneratorConfig, styleSpaceLayout } from '../src/generator/index.js';
import { DirectionsApi } from '../src/server/directions.js';
import { randomClipWeights } from './clip.js';
import { machine, peakRssMiB, randomUnitRows } from './util.js';

const SHARED = '../shared';
const VOCAB = `${SHARED}/data/clip/bpe_simple_vocab_16e6.txt.gz`;
const FIXTURES = `${SHARED}/fixtures/reference`;
/** Resolution up to which FFHQ's fs3 covers conv layers (StyleCLIP global_torch). */
const FS3_MAX_RESOLUTION = 128;

async function fixtureModels(): Promise<{ generator: Generator; dirs: GlobalDirections }> {
  const dirs = await GlobalDirections.load({
    generator: `${FIXTURES}/stylegan2_tiny.pt`,
    clip: `${FIXTURES}/clip_vit_tiny.state_dict.pt`,
    vocab: VOCAB,
    fs3: `${FIXTURES}/fs3.npy`,
    stats: `${FIXTURES}/S_mean_std`,
  });
  return { generator: dirs.generator, dirs };
}

async function fullModels(): Promise<{ generator: Generator; dirs: GlobalDirections }> {
  const config = resolveGeneratorConfig({ resolution: 1024, wDim: 512, mappingLayers: 8, channelMultiplier: 2 });
  const generator = Generator.fromWeights(randomWeights(config, 2024), config);
  const layout = styleSpaceLayout(config);
  const stats = parseStyleStats(await readFile(`${SHARED}/data/stylespace/ffhq_S_mean_std`), layout);
  const rows = layout.layers.filter((l) => l.kind === 'conv' && l.resolution <= FS3_MAX_RESOLUTION).reduce((n, l) => n + l.channels, 0);
  const clip = new Clip(randomClipWeights(VIT_B_32), VIT_B_32);
  const dirs = new GlobalDirections(generator, clip, await ClipTokenizer.load(VOCAB), stats, channelDirections(randomUnitRows(rows, 512), layout, 512));
  return { generator, dirs };
}

/** The longest gap between runs of a 1 ms timer until `stop()`. */
function eventLoopLag(): { stop(): number } {
  let worst = 0;
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last);
    last = now;
  }, 1);
  return {
    stop() {
      clearInterval(timer);
      return Math.max(worst, performance.now() - last);
    },
  };
}

const quantile = (sorted: number[], q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

async function clients(api: DirectionsApi, direction: string, n: number, renders: number): Promise<Record<string, number>> {
  const latencies: number[] = [];
  const before = { ...api.batcher.stats };
  const lag = eventLoopLag();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: n }, async (_, c) => {
      for (let r = 0; r < renders; r++) {
        const t = performance.now();
        await api.render({ seed: c, client: `client-${c}`, format: 'jpeg', edits: [{ direction, alpha: -5 + (10 * r) / renders }] });
        latencies.push(performance.now() - t);
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  const gap = lag.stop();
  latencies.sort((a, b) => a - b);
  const calls = api.batcher.stats.calls - before.calls;
  return {
    clients: n,
    renders: latencies.length,
    renders_per_s: Number((latencies.length / seconds).toFixed(2)),
    p50_ms: Number(quantile(latencies, 0.5).toFixed(1)),
    p95_ms: Number(quantile(latencies, 0.95).toFixed(1)),
    synthesis_calls: calls,
    renders_per_call: Number((latencies.length / calls).toFixed(2)),
    // the longest the event loop went without running a timer: what any other request waited at worst
    event_loop_max_gap_ms: Math.round(gap),
  };
}

export async function run(argv: string[]): Promise<Record<string, unknown>> {
  const { values } = parseArgs({ args: argv, options: { models: { type: 'string' }, renders: { type: 'string' }, clients: { type: 'string' }, thread: { type: 'string' } } });
  // Where inferences run: a worker thread, as `serve` runs them, or the event loop (engine/session_worker.ts).
  const thread = (values.thread ?? 'worker') as E.SessionThread;
  if (!E.SESSION_THREADS.includes(thread)) throw new Error(`--thread must be one of ${E.SESSION_THREADS.join(', ')}`);
  E.setDefaultSessionThread(thread);
  const kinds = (values.models ?? 'fixture,full').split(',');
  const counts = (values.clients ?? '1,4,8').split(',').map(Number);
  const out: Record<string, unknown> = { machine: machine(), threads: E.defaultThreads(), session_thread: thread };
  for (const kind of kinds) {
    const { generator, dirs } = kind === 'full' ? await fullModels() : await fixtureModels();
    const info = { generator: kind, clip: kind, resolution: generator.config.resolution, nLatent: generator.nLatent, wDim: generator.wDim, clipEmbedDim: dirs.embedDim };
    const api = new DirectionsApi({ generator, info, directions: dirs, mappers: new Map(), inversions: [] });
    const { id } = await api.create({ prompt: 'make the hair red' });
    const renders = Number(values.renders ?? (kind === 'full' ? 3 : 100));
    await clients(api, id, Math.max(...counts), 1); // warm-up: the sessions of every batch size the runs use
    const rows = [];
    for (const n of counts) rows.push(await clients(api, id, n, renders));
    const one = rows.find((r) => r.clients === 1);
    const eight = rows.find((r) => r.clients === 8);
    out[kind] = {
      resolution: generator.config.resolution,
      rows,
      ...(one && eight ? { throughput_8_vs_1: Number((eight.renders_per_s / one.renders_per_s).toFixed(2)), p95_8_vs_p50_1: Number((eight.p95_ms / one.p50_ms).toFixed(2)) } : {}),
      peak_rss_mib: peakRssMiB(),
    };
    await dirs.dispose();
  }
  return out;
}
