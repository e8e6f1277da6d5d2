/**
 * `styleclip directions stats|compute`: StyleCLIP's global-direction files for any generator (AFHQ, cars, custom
 * ones), by the official recipe (src/edit/global): the StyleSpace statistics `S_mean_std` (GetCode.py) and the
 * per-channel CLIP directions `fs3.npy` (SingleChannel.py + GetFs). `compute` saves its rows as it goes
 * (`OUT.partial.npy` + `OUT.partial.json`) and resumes from them; the final file appears only when complete.
 */
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { Clip } from '../clip/clip.js';
import { FS3_ALPHA, FS3_IMAGES, STATS_SAMPLES, STATS_TRUNCATION, computeChannelDirections, computeStyleStats, loadStyleStats, styleStatsPickle, stylesOfZ } from '../edit/global/index.js';
import type { HostTensor } from '../engine/tensor.js';
import { Cancelled, InputError } from '../errors.js';
import { Generator, sampleZ, styleSpaceLayout, type StyleLayer } from '../generator/index.js';
import { writeFileAtomic } from '../io/atomic.js';
import { readNpy, writeNpy } from '../io/tensors/npy.js';
import { UsageError, flag, modelFlag, num, requireStr, str, type Command, type ParsedArgs } from './command.js';
import { EXIT_INTERRUPTED } from './edit.js';
import { ProgressBar } from './progress.js';

/** StyleCLIP's FFHQ fs3 covers the conv layers up to 128 px (global_torch/SingleChannel.py, `num_layers`). */
const FS3_MAX_RESOLUTION = 128;
/** Rows between saves of the partial file. */
const SAVE_EVERY_ROWS = 16;

/**
 * z rows: the first `count` rows of `--z Z.npy` (all of them when `count` is undefined), else `count` seeded rows
 * (row i from seed N + i, as `generate`).
 */
async function zRows(args: ParsedArgs, count: number | undefined, fallback: number, dim: number, countFlag: string): Promise<HostTensor> {
  const file = str(args, 'z');
  if (file === undefined) return sampleZ(num(args, 'seed', 0, { min: 0, integer: true }), count ?? fallback, dim);
  const z = await readNpy(file);
  if (z.shape.length !== 2 || z.shape[1] !== dim || z.dtype !== 'float32') throw new InputError(`--z ${file} must be float32 [N, ${dim}], got ${z.dtype} [${z.shape.join(',')}]`);
  const n = count ?? z.shape[0];
  if (z.shape[0] < n) throw new InputError(`--z ${file} has ${z.shape[0]} rows; ${n} are needed (--${countFlag})`);
  return { dtype: 'float32', shape: [n, dim], data: (z.data as Float32Array).slice(0, n * dim) };
}

function outPath(args: ParsedArgs, ext: string | undefined): string {
  const out = requireStr(args, 'out');
  if (ext && !out.endsWith(ext)) throw new UsageError(`--out ${out}: use a ${ext} file`);
  return out;
}

export const directionsStatsCommand: Command = {
  path: ['directions', 'stats'],
  summary: 'StyleSpace statistics (S_mean_std) of a generator for global directions',
  usage: [
    '  styleclip directions stats --generator G --out S_MEAN_STD [--samples 100000 | --z Z.npy] [--truncation 0.7] [--seed 0]',
    '',
    '  Per-channel mean and std of every StyleSpace layer over generated images (StyleCLIP global_torch/GetCode.py:',
    `  ${STATS_SAMPLES} z at truncation ${STATS_TRUNCATION}), written as StyleCLIP's numpy pickle. --z uses those z rows instead.`,
  ].join('\n'),
  options: { generator: { type: 'string' }, out: { type: 'string' }, samples: { type: 'string' }, z: { type: 'string' }, truncation: { type: 'string' }, seed: { type: 'string' }, quiet: { type: 'boolean' } },
  async run(args, io) {
    const out = outPath(args, undefined);
    const generator = await Generator.load(await modelFlag(args, 'generator', 'generator', io.stderr));
    try {
      if (str(args, 'z') !== undefined && str(args, 'samples') !== undefined) throw new UsageError('give --samples or --z, not both');
      const samples = str(args, 'samples') === undefined ? undefined : num(args, 'samples', STATS_SAMPLES, { min: 2, integer: true });
      const z = await zRows(args, samples, STATS_SAMPLES, generator.wDim, 'samples');
      const bar = new ProgressBar(io.stderr, z.shape[0], !flag(args, 'quiet') && io.stderr.isTTY === true);
      const stats = await computeStyleStats(generator, z, {
        truncation: num(args, 'truncation', STATS_TRUNCATION, { min: 0, max: 1 }),
        onProgress: (done) => bar.update(done, 'samples'),
        signal: io.signal,
      });
      bar.finish();
      await writeFileAtomic(out, styleStatsPickle(stats, styleSpaceLayout(generator.config)));
      if (!flag(args, 'quiet')) io.stdout.write(`wrote ${out} (${z.shape[0]} samples)\n`);
      return 0;
    } catch (e) {
      if (e instanceof Cancelled) {
        io.stderr.write('styleclip: interrupted; nothing was written\n');
        return EXIT_INTERRUPTED;
      }
      throw e;
    } finally {
      await generator.dispose();
    }
  },
};

interface PartialState {
  readonly rows: number;
  readonly dim: number;
  readonly images: number;
  readonly alpha: number;
  readonly z: string;
  readonly generator: string;
  readonly stats: string;
}

/** Rows of a matching partial run, or none; a partial run with other settings is refused rather than mixed in. */
async function resumeRows(out: string, state: PartialState): Promise<Float32Array | undefined> {
  if (!existsSync(`${out}.partial.json`) || !existsSync(`${out}.partial.npy`)) return undefined;
  const saved = JSON.parse(await readFile(`${out}.partial.json`, 'utf8')) as PartialState;
  if (JSON.stringify(saved) !== JSON.stringify(state)) {
    throw new InputError(`${out}.partial.json is from a run with other settings (${JSON.stringify(saved)}); delete ${out}.partial.* to start over`);
  }
  return (await readNpy(`${out}.partial.npy`)).data as Float32Array;
}

export const directionsComputeCommand: Command = {
  path: ['directions', 'compute'],
  summary: 'per-channel CLIP directions (fs3.npy) of a generator for global directions',
  usage: [
    '  styleclip directions compute --generator G --clip C [--vocab V] --stats S_MEAN_STD --out fs3.npy',
    `                               [--images ${FS3_IMAGES} | --z Z.npy] [--alpha ${FS3_ALPHA}] [--max-resolution ${FS3_MAX_RESOLUTION}] [--truncation 0.7] [--seed 0]`,
    '',
    '  StyleCLIP global_torch/SingleChannel.py + GetFs: for every channel of the conv layers up to --max-resolution,',
    '  the mean CLIP direction between images with that channel at mean - alpha std and mean + alpha std. Images: the',
    '  first --images rows of --z (else seeded z), truncated as the statistics. Resumable: rerun the same command.',
    '  --vocab is accepted for symmetry with `edit` (fs3 needs no text).',
  ].join('\n'),
  options: {
    generator: { type: 'string' }, clip: { type: 'string' }, vocab: { type: 'string' }, stats: { type: 'string' }, out: { type: 'string' },
    images: { type: 'string' }, z: { type: 'string' }, alpha: { type: 'string' }, 'max-resolution': { type: 'string' }, truncation: { type: 'string' },
    seed: { type: 'string' }, quiet: { type: 'boolean' }, json: { type: 'boolean' },
  },
  async run(args, io) {
    const out = outPath(args, '.npy');
    const statsPath = await modelFlag(args, 'stats', 'directions', io.stderr);
    const [generator, clip] = await Promise.all([Generator.load(await modelFlag(args, 'generator', 'generator', io.stderr)), Clip.load(await modelFlag(args, 'clip', 'clip', io.stderr))]);
    try {
      const layout = styleSpaceLayout(generator.config);
      const stats = await loadStyleStats(statsPath, layout);
      const maxRes = num(args, 'max-resolution', FS3_MAX_RESOLUTION, { min: 4, integer: true });
      const layers: StyleLayer[] = layout.layers.filter((l) => l.kind === 'conv' && l.resolution <= maxRes);
      const images = num(args, 'images', FS3_IMAGES, { min: 1, integer: true });
      const alpha = num(args, 'alpha', FS3_ALPHA, { min: 0 });
      const z = await zRows(args, images, images, generator.wDim, 'images');
      const codes = await stylesOfZ(generator, z, num(args, 'truncation', STATS_TRUNCATION, { min: 0, max: 1 }));
      const rows = layers.reduce((n, l) => n + l.channels, 0);
      const dim = clip.config.embedDim;
      const state: PartialState = { rows, dim, images, alpha, z: str(args, 'z') ?? `seed ${num(args, 'seed', 0, { min: 0, integer: true })}`, generator: str(args, 'generator')!, stats: statsPath };
      const done = await resumeRows(out, state);
      const first = done ? done.length / dim : 0;
      const bar = new ProgressBar(io.stderr, rows - first, !flag(args, 'quiet') && io.stderr.isTTY === true);
      const result = new Float32Array(rows * dim);
      if (done) result.set(done);
      const save = async (count: number): Promise<void> => {
        await writeNpy(`${out}.partial.npy`, { dtype: 'float32', shape: [count, dim], data: result.slice(0, count * dim) });
        await writeFileAtomic(`${out}.partial.json`, JSON.stringify(state));
      };
      const t0 = performance.now();
      let computed = first;
      try {
        await computeChannelDirections(generator, clip, stats, codes, layers, {
          alpha,
          done,
          signal: io.signal,
          onRow: async (k, _total, row) => {
            result.set(row, k * dim);
            computed = k + 1;
            bar.update(computed - first, `channels (of ${rows})`);
            if (computed % SAVE_EVERY_ROWS === 0) await save(computed);
          },
        });
      } catch (e) {
        bar.finish();
        if (!(e instanceof Cancelled)) throw e;
        if (computed > 0) await save(computed);
        io.stderr.write(`styleclip: interrupted after ${computed} of ${rows} channels; rerun the same command to resume from ${out}.partial.npy\n`);
        return EXIT_INTERRUPTED;
      }
      bar.finish();
      await writeNpy(out, { dtype: 'float32', shape: [rows, dim], data: result });
      await Promise.all([rm(`${out}.partial.npy`, { force: true }), rm(`${out}.partial.json`, { force: true })]);
      const perChannel = (performance.now() - t0) / 1000 / Math.max(1, rows - first);
      if (flag(args, 'json')) io.stdout.write(JSON.stringify({ written: out, rows, resumed_from: first, seconds_per_channel: perChannel }) + '\n');
      else if (!flag(args, 'quiet')) io.stdout.write(`wrote ${out} (${rows} channels, ${perChannel.toFixed(3)} s per channel)\n`);
      return 0;
    } finally {
      await Promise.all([generator.dispose(), clip.dispose()]);
    }
  },
};
