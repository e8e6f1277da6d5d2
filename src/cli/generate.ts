/**
 * `styleclip generate`: images from a StyleGAN2 generator checkpoint, from a seed or from z / w / w+ latents in .npy
 * files, with optional truncation (psi toward the checkpoint's latent_avg) and const or seeded random noise.
 * Seeds are documented in src/generator/sample.ts: image i of `--seed N --batch B` uses z from seed N + i.
 * Everything is validated before anything is written; the outputs are written all or none (io/atomic.ts).
 */
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { dirname, extname } from 'node:path';
import type { HostTensor } from '../engine/tensor.js';
import { InputError } from '../errors.js';
import { Generator, broadcastW, checkLatent, sampleZ, truncate, type LatentKind, type NoiseMode, type SynthesisOptions } from '../generator/index.js';
import { concatRows, sliceRows } from '../engine/batching.js';
import { readOffsets } from '../invert/offsets_file.js';
import { MAX_SEED } from '../generator/sample.js';
import { tensorToRgb, writeImage } from '../io/images/image.js';
import { readNpy, writeNpy } from '../io/tensors/npy.js';
import { writeAllOrNothing } from '../io/atomic.js';
import { UsageError, distinctOutputs, modelFlag, num, str, type Command } from './command.js';

/** Latent-source flags; exactly one is required. */
const SOURCES = ['seed', 'z', 'w', 'w-plus'] as const;
const NOISE_MODES: readonly NoiseMode[] = ['const', 'random'];
/** Upper bound of `--batch` for seeded generation. */
const MAX_BATCH = 1024;
/** Extensions `--out` accepts: the formats io/images/image.ts `writeImage` encodes. */
const IMAGE_EXTS = ['.png', '.jpg', '.jpeg', '.webp'];

/** `out.png` -> `out_0.png`, `out_1.png`, ... when there are several images (indices zero-padded to equal width). */
function numberedPaths(path: string, count: number): string[] {
  if (count === 1) return [path];
  const ext = extname(path);
  const stem = path.slice(0, path.length - ext.length);
  const width = String(count - 1).length;
  return Array.from({ length: count }, (_, i) => `${stem}_${String(i).padStart(width, '0')}${ext}`);
}

async function checkWritableDir(path: string, flag: string): Promise<void> {
  try {
    await access(dirname(path), constants.W_OK);
  } catch {
    throw new InputError(`--${flag} ${path}: directory ${dirname(path)} does not exist or is not writable`);
  }
}

interface Latents {
  /** What is fed to the synthesis network: [N,L,D]. */
  readonly wPlus: HostTensor;
  /** What `--save-w` writes: w [N,D] for seed/z/w sources, w+ [N,L,D] for w+ (after truncation). */
  readonly saved: HostTensor;
}

async function latents(gen: Generator, kind: LatentKind | 'seed', input: HostTensor, psi: number): Promise<Latents> {
  const w = kind === 'seed' || kind === 'z' ? await gen.map(input) : input; // [N,D] or [N,L,D]
  const used = psi === 1 ? w : truncate(w, await gen.meanLatent(), psi);
  return { wPlus: kind === 'w+' ? used : broadcastW(used, gen.nLatent), saved: used };
}

/** Image i rendered by the generator with photo i's HyperStyle offsets (invert --save-offsets). */
async function withOffsets(gen: Generator, wPlus: HostTensor, offsets: readonly ReadonlyMap<string, HostTensor>[], synth: SynthesisOptions, file: string): Promise<HostTensor> {
  const n = wPlus.shape[0];
  if (offsets.length !== n) throw new InputError(`--offsets ${file} holds offsets of ${offsets.length} photo(s) but there are ${n} latents: give the latents saved with them`);
  const parts: HostTensor[] = [];
  for (let i = 0; i < n; i++) {
    const adapted = gen.withOffsets(offsets[i]);
    try {
      parts.push(await adapted.synthesize(sliceRows(wPlus, i, 1), { ...synth, noiseSeed: (synth.noiseSeed ?? 0) + i }));
    } finally {
      await adapted.dispose();
    }
  }
  return concatRows(parts);
}

export const generateCommand: Command = {
  path: ['generate'],
  summary: 'generate images with a StyleGAN2 generator (rosinality .pt or NVIDIA .pkl)',
  usage: [
    '  styleclip generate --generator CKPT (--seed N | --z Z.npy | --w W.npy | --w-plus WP.npy)',
    '                     [--truncation PSI] [--noise const|random] [--noise-seed S] [--batch N] [--offsets O.safetensors]',
    '                     [--out OUT.png] [--raw OUT.npy] [--save-w OUT.npy]',
    '',
    '  --generator CKPT  rosinality/stylegan2-pytorch .pt (g_ema, latent_avg) or NVIDIA stylegan2-ada-pytorch .pkl',
    `  --seed N          draw z from seed N (0..${MAX_SEED}); image i of a batch uses seed N+i (xoshiro128**, Box-Muller)`,
    '  --z Z.npy         z latents [N,D] or [D]',
    '  --w W.npy         w latents [N,D] or [D]',
    '  --w-plus WP.npy   w+ latents [N,L,D] or [L,D]',
    '  --truncation PSI  w <- w_avg + PSI (w - w_avg) toward latent_avg (or a seeded mean when absent); default 1',
    "                    (no truncation; 'styleclip edit --seed N' starts at StyleCLIP's 0.7: pass --truncation 0.7 for its face)",
    '  --noise MODE      const: the checkpoint\'s noise maps (default); random: seeded per image (image i from',
    '                    --noise-seed + i; --noise-seed defaults to --seed, else 0)',
    '  --batch N         images to draw with --seed (default 1)',
    '  --offsets F       HyperStyle weight offsets (invert --save-offsets): latent i renders with photo i\'s offsets',
    '  --out OUT.png     images, clamped [-1,1] -> [0,255]; several images are numbered OUT_0.png, OUT_1.png, ...',
    '  --raw OUT.npy     the unclamped float32 NCHW image tensor',
    '  --save-w OUT.npy  the latents used, after truncation: w [N,D] (from --seed/--z/--w) or w+ [N,L,D] (from --w-plus)',
  ].join('\n'),
  options: {
    generator: { type: 'string' },
    seed: { type: 'string' },
    z: { type: 'string' },
    w: { type: 'string' },
    'w-plus': { type: 'string' },
    truncation: { type: 'string' },
    noise: { type: 'string' },
    'noise-seed': { type: 'string' },
    batch: { type: 'string' },
    out: { type: 'string' },
    raw: { type: 'string' },
    'save-w': { type: 'string' },
    offsets: { type: 'string' },
  },
  async run(args, io) {
    const ckpt = await modelFlag(args, 'generator', 'generator', io.stderr);
    const given = SOURCES.filter((s) => str(args, s) !== undefined);
    if (given.length !== 1) {
      throw new UsageError(`give exactly one of --seed, --z, --w, --w-plus${given.length ? ` (got ${given.map((s) => `--${s}`).join(', ')})` : ''}`);
    }
    const source = given[0];
    const psi = num(args, 'truncation', 1);
    const noise = (str(args, 'noise') ?? 'const') as NoiseMode;
    if (!NOISE_MODES.includes(noise)) throw new UsageError(`--noise must be one of ${NOISE_MODES.join(', ')}, got '${noise}'`);
    if (source !== 'seed' && str(args, 'batch') !== undefined) throw new UsageError('--batch applies to --seed only; a latent file sets the batch');
    const batch = num(args, 'batch', 1, { min: 1, max: MAX_BATCH, integer: true });
    const seed = source === 'seed' ? num(args, 'seed', 0, { min: 0, max: MAX_SEED - (batch - 1), integer: true }) : 0;
    const outputs = { out: str(args, 'out'), raw: str(args, 'raw'), 'save-w': str(args, 'save-w') };
    if (!outputs.out && !outputs.raw && !outputs['save-w']) throw new UsageError('nothing to write: give --out, --raw and/or --save-w');
    distinctOutputs(outputs);
    for (const [flag, path] of Object.entries(outputs)) if (path) await checkWritableDir(path, flag);
    if (outputs.out && !IMAGE_EXTS.includes(extname(outputs.out).toLowerCase())) {
      throw new UsageError(`--out ${outputs.out}: use one of ${IMAGE_EXTS.join(', ')}`);
    }

    const gen = await Generator.load(ckpt);
    try {
      const kind: LatentKind | 'seed' = source === 'w-plus' ? 'w+' : source;
      let input: HostTensor;
      if (kind === 'seed') input = sampleZ(seed, batch, gen.wDim);
      else {
        const file = str(args, source)!;
        input = checkLatent(await readNpy(file), kind, gen.wDim, gen.nLatent, file);
      }
      const { wPlus, saved } = await latents(gen, kind, input, psi);
      const synth = { noise, noiseSeed: num(args, 'noise-seed', seed, { min: 0, max: MAX_SEED, integer: true }) };
      const offsetsFile = str(args, 'offsets');
      const image = offsetsFile ? await withOffsets(gen, wPlus, await readOffsets(offsetsFile, gen.config), synth, offsetsFile) : await gen.synthesize(wPlus, synth); // [N,3,R,R]
      io.signal.throwIfAborted();
      const images = outputs.out ? numberedPaths(outputs.out, image.shape[0]) : [];
      const written = await writeAllOrNothing([
        [outputs.raw, (p) => writeNpy(p, image)],
        [outputs['save-w'], (p) => writeNpy(p, saved)],
        ...images.map((path, i) => [path, (p: string) => {
          const rgb = tensorToRgb(image, i, '[-1,1]');
          return writeImage(p, rgb.data, rgb.width, rgb.height);
        }] as const),
      ]);
      const [n, , h, w] = image.shape;
      io.stdout.write(`generated ${n} image${n === 1 ? '' : 's'} ${w}x${h}; wrote ${written.join(', ')}\n`);
      return 0;
    } finally {
      await gen.dispose();
    }
  },
};
