/**
 * `styleclip invert`: photos -> w+ with an e4e/pSp encoder in one pass (src/invert/encoder.ts), or w+ plus generator
 * weight offsets with HyperStyle (src/invert/hyperstyle.ts); the checkpoint says which (src/invert/one_pass.ts).
 * Without --aligned each photo is detected and FFHQ-aligned first. --image takes a file or a folder (every PNG/JPEG/
 * WebP in it, sorted); latents are saved as one [N, L, D] array, offsets as one safetensors file, reconstructions as
 * one image per photo. Outputs are written all or none, only when every photo succeeded.
 */
import { readdir, stat } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { InputError } from '../errors.js';
import { FaceDetector } from '../faces/detect.js';
import { FACE_MODELS_ENV } from '../faces/models.js';
import { alignPhoto } from '../faces/pipeline.js';
import { readImage, tensorToRgb, writeImage } from '../io/images/image.js';
import { writeNpy } from '../io/tensors/npy.js';
import { writeAllOrNothing } from '../io/atomic.js';
import { concatRows } from '../engine/batching.js';
import type { HostTensor } from '../engine/tensor.js';
import type { Generator } from '../generator/index.js';
import { DEFAULT_ITERATIONS, FFHQ_W_ENCODER, MAX_ITERATIONS } from '../invert/hyperstyle.js';
import { loadInverter, type OnePassInversion } from '../invert/one_pass.js';
import { writeOffsets } from '../invert/offsets_file.js';
import { photoAlignOptions } from '../invert/photo.js';
import { AlignEngine } from '../faces/align_engine.js';
import { UsageError, distinctOutputs, flag, modelFlag, num, requireStr, str, type Command } from './command.js';
import { pullFaceModels } from './photo_flags.js';
import { ProgressBar } from './progress.js';

const IMAGE_EXTS = ['.png', '.jpg', '.jpeg', '.webp'];

async function photoList(path: string): Promise<string[]> {
  const s = await stat(path).catch(() => {
    throw new InputError(`--image ${path}: no such file or folder`);
  });
  if (!s.isDirectory()) return [path];
  const files = (await readdir(path)).filter((f) => IMAGE_EXTS.includes(extname(f).toLowerCase())).sort();
  if (files.length === 0) throw new InputError(`--image ${path}: the folder holds no PNG, JPEG or WebP images`);
  return files.map((f) => join(path, f));
}

/** Reconstructions [N,3,R,R]: each photo rendered with its own offsets when the inverter gives any. */
async function reconstruct(generator: Generator, inv: readonly OnePassInversion[]): Promise<HostTensor> {
  if (!inv.some((r) => r.offsets)) return generator.synthesize(concatRows(inv.map((r) => r.latent)));
  const parts: HostTensor[] = [];
  for (const r of inv) {
    const adapted = generator.withOffsets(r.offsets!);
    try {
      parts.push(await adapted.synthesize(r.latent));
    } finally {
      await adapted.dispose();
    }
  }
  return concatRows(parts);
}

export const invertCommand: Command = {
  path: ['invert'],
  summary: 'photo -> w+ latent in one pass (e4e / pSp) or a few (HyperStyle: w+ and generator weight offsets)',
  usage: [
    '  styleclip invert --encoder E4E.pt|HYPERSTYLE.pt --image PHOTO|FOLDER [--aligned] [--generator G] [--face-index 0]',
    '                   [--iterations 5] [--w-encoder W.pt] [--save-latent W.npy] [--save-offsets O.safetensors]',
    '                   [--out RECON.png|FOLDER] [--raw RECON.npy] [--models DIR]  (at least one output)',
    '',
    '  --encoder E       e4e / pSp (e4e_ffhq_encode.pt, psp_ffhq_encode.pt) or HyperStyle (hyperstyle_ffhq.pt) checkpoint,',
    '                    or a registry name (e4e-ffhq, hyperstyle-ffhq)',
    '  --aligned         the images are FFHQ-aligned faces already; otherwise the face is detected and aligned',
    "  --generator G     render reconstructions with this generator (default: the encoder checkpoint's decoder)",
    `  --iterations N    HyperStyle passes, 1..${MAX_ITERATIONS} (default ${DEFAULT_ITERATIONS})`,
    "  --w-encoder F     HyperStyle's W encoder (default: the checkpoint's w_encoder_checkpoint_path, beside it, else",
    `                    the registry's ${FFHQ_W_ENCODER})`,
    '  --save-latent F   the w+ codes, [N, L, D] float32 (N photos, in --image order)',
    '  --save-offsets F  HyperStyle weight offsets, .safetensors (render with generate --w-plus W.npy --offsets F)',
    '  --out F           the reconstruction as an image; with a folder of photos, a folder (one PNG each)',
    '  --raw F.npy       reconstructions as unclamped NCHW float32',
    `  --models DIR      face models (default $${FACE_MODELS_ENV}, else the model cache)`,
    '',
    'Outputs are written all or none, after every photo succeeded.',
  ].join('\n'),
  options: {
    encoder: { type: 'string' }, image: { type: 'string' }, aligned: { type: 'boolean' }, generator: { type: 'string' },
    'face-index': { type: 'string' }, 'save-latent': { type: 'string' }, out: { type: 'string' }, raw: { type: 'string' },
    iterations: { type: 'string' }, 'w-encoder': { type: 'string' }, 'save-offsets': { type: 'string' },
    models: { type: 'string' }, quiet: { type: 'boolean' }, json: { type: 'boolean' },
  },
  async run(args, io) {
    const latentPath = str(args, 'save-latent');
    const offsetsPath = str(args, 'save-offsets');
    const out = str(args, 'out');
    const raw = str(args, 'raw');
    if (latentPath === undefined && out === undefined && raw === undefined && offsetsPath === undefined) {
      throw new UsageError('nothing to write: give --save-latent W.npy, --save-offsets O.safetensors, --out RECON.png and/or --raw RECON.npy');
    }
    if (latentPath !== undefined && extname(latentPath) !== '.npy') throw new UsageError(`--save-latent ${latentPath}: use a .npy file`);
    if (raw !== undefined && extname(raw) !== '.npy') throw new UsageError(`--raw ${raw}: use a .npy file`);
    if (offsetsPath !== undefined && extname(offsetsPath) !== '.safetensors') throw new UsageError(`--save-offsets ${offsetsPath}: use a .safetensors file`);
    const photos = await photoList(requireStr(args, 'image'));
    const folderOut = out !== undefined && photos.length > 1;
    if (out && !folderOut && !IMAGE_EXTS.includes(extname(out).toLowerCase())) throw new UsageError(`--out ${out}: use a .png/.jpg/.webp file`);
    if (folderOut && !(await stat(out!).then((s) => s.isDirectory()).catch(() => false))) throw new UsageError(`--out ${out}: with a folder of photos, give an existing folder`);
    distinctOutputs({ 'save-latent': latentPath, 'save-offsets': offsetsPath, out: folderOut ? undefined : out, raw });
    const faceIndex = num(args, 'face-index', 0, { min: 0, integer: true });
    const iterations = str(args, 'iterations') === undefined ? undefined : num(args, 'iterations', DEFAULT_ITERATIONS, { min: 1, max: MAX_ITERATIONS, integer: true });
    const aligned = flag(args, 'aligned');
    if (aligned && str(args, 'face-index') !== undefined) throw new UsageError('--face-index applies to photos that are aligned here; drop --aligned or --face-index');
    const generator = str(args, 'generator') === undefined ? undefined : await modelFlag(args, 'generator', 'generator', io.stderr);
    const wEncoder = str(args, 'w-encoder') === undefined ? undefined : await modelFlag(args, 'w-encoder', 'encoder', io.stderr);
    const inverter = await loadInverter(await modelFlag(args, 'encoder', 'encoder', io.stderr), { generator, wEncoder });
    if (!aligned) await pullFaceModels(args, io);
    const detector = aligned ? undefined : await FaceDetector.load(str(args, 'models'));
    const aligner = aligned ? undefined : new AlignEngine();
    const bar = new ProgressBar(io.stderr, photos.length, !flag(args, 'quiet') && io.stderr.isTTY === true);
    try {
      if (iterations !== undefined && inverter.kind !== 'hyperstyle') throw new UsageError(`--iterations applies to HyperStyle checkpoints; ${inverter.kind} inverts in one pass`);
      if (offsetsPath !== undefined && inverter.kind !== 'hyperstyle') throw new UsageError(`--save-offsets applies to HyperStyle checkpoints; ${inverter.kind} predicts no weight offsets`);
      if (!aligned && inverter.domain !== 'faces') throw new UsageError(`${inverter.kind} model of ${inverter.domain}: its images are not faces to detect and align; give them as they are with --aligned`);
      const size = inverter.generator.config.resolution;
      const inv: OnePassInversion[] = [];
      for (const [i, p] of photos.entries()) {
        io.signal.throwIfAborted();
        const img = await readImage(p);
        if (aligned && inverter.domain !== 'cars' && img.width !== img.height) throw new InputError(`${p} is ${img.width}x${img.height}; --aligned images are square FFHQ crops`);
        const face = aligned ? img : (await alignPhoto(detector!, img, photoAlignOptions(size, aligner!, faceIndex))).image;
        inv.push(...(await inverter.invertFaces([face], { iterations })));
        bar.update(i + 1, 'inverted');
      }
      const codes = concatRows(inv.map((r) => r.latent));
      const recon = out || raw ? await reconstruct(inverter.generator, inv) : undefined;
      bar.finish();
      const images = recon && out ? photos.map((p, i) => [folderOut ? join(out, `${basename(p, extname(p))}.png`) : out, (path: string) => {
        const rgb = tensorToRgb(recon, i, '[-1,1]');
        return writeImage(path, rgb.data, rgb.width, rgb.height);
      }] as const) : [];
      const written = await writeAllOrNothing([
        [latentPath, (path) => writeNpy(path, codes)],
        [offsetsPath, (path) => writeOffsets(path, inv.map((r) => r.offsets!), inverter.generator.config)],
        [recon ? raw : undefined, (path) => writeNpy(path, recon!)],
        ...images,
      ]);
      const shown = folderOut ? [...written.filter((w) => !images.some(([p]) => p === w)), `${photos.length} reconstructions in ${out}`] : written;
      if (flag(args, 'json')) io.stdout.write(JSON.stringify({ encoder: inverter.kind, photos: photos.length, latent: codes.shape, iterations: inverter.kind === 'hyperstyle' ? (iterations ?? DEFAULT_ITERATIONS) : undefined, written: shown }) + '\n');
      else if (!flag(args, 'quiet')) io.stdout.write(`inverted ${photos.length} photo(s) with ${inverter.kind}; wrote ${shown.join(', ')}\n`);
      return 0;
    } finally {
      bar.finish();
      await detector?.dispose();
      await aligner?.dispose();
      await inverter.dispose();
    }
  },
};
