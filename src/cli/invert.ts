/**
 * `styleclip invert`: photos -> w+ with an e4e/pSp encoder in one pass (src/invert/encoder.ts). Without --aligned each
 * photo is detected and FFHQ-aligned first. --image takes a file or a folder (every PNG/JPEG/WebP in it, sorted);
 * latents are saved as one [N, L, D] array, reconstructions as one image per photo. Outputs are written only when
 * every photo succeeded.
 */
import { readdir, stat } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { InputError } from '../errors.js';
import { FaceDetector } from '../faces/detect.js';
import { FACE_MODELS_ENV } from '../faces/models.js';
import { alignPhoto } from '../faces/pipeline.js';
import { FFHQ_TRANSFORM_SIZE } from '../faces/align.js';
import { readImage, tensorToRgb, writeImage, type RgbImage } from '../io/images/image.js';
import { writeNpy } from '../io/tensors/npy.js';
import { PhotoEncoder } from '../invert/encoder.js';
import { ALIGN_SUPERSAMPLING } from '../invert/photo.js';
import { UsageError, flag, modelFlag, num, requireStr, str, type Command } from './command.js';
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

export const invertCommand: Command = {
  path: ['invert'],
  summary: 'photo -> w+ latent with an e4e/pSp encoder, in one pass (GAN inversion)',
  usage: [
    '  styleclip invert --encoder E4E.pt --image PHOTO|FOLDER [--aligned] [--generator G] [--face-index 0]',
    '                   [--save-latent W.npy] [--out RECON.png|FOLDER] [--raw RECON.npy] [--models DIR]  (at least one output)',
    '',
    '  --encoder E       e4e or pSp checkpoint (e4e_ffhq_encode.pt, psp_ffhq_encode.pt) or a registry name (e4e-ffhq)',
    '  --aligned         the images are FFHQ-aligned faces already; otherwise the face is detected and aligned',
    "  --generator G     render reconstructions with this generator (default: the encoder checkpoint's decoder)",
    '  --save-latent F   the w+ codes, [N, L, D] float32 (N photos, in --image order)',
    '  --out F           the reconstruction G(w+) as an image; with a folder of photos, a folder (one PNG each)',
    '  --raw F.npy       reconstructions as unclamped NCHW float32',
    `  --models DIR      face models (default $${FACE_MODELS_ENV}, else the model cache)`,
  ].join('\n'),
  options: {
    encoder: { type: 'string' }, image: { type: 'string' }, aligned: { type: 'boolean' }, generator: { type: 'string' },
    'face-index': { type: 'string' }, 'save-latent': { type: 'string' }, out: { type: 'string' }, raw: { type: 'string' },
    models: { type: 'string' }, quiet: { type: 'boolean' }, json: { type: 'boolean' },
  },
  async run(args, io) {
    const latentPath = str(args, 'save-latent');
    const out = str(args, 'out');
    if (latentPath === undefined && out === undefined && str(args, 'raw') === undefined) {
      throw new UsageError('nothing to write: give --save-latent W.npy, --out RECON.png and/or --raw RECON.npy');
    }
    if (latentPath !== undefined && extname(latentPath) !== '.npy') throw new UsageError(`--save-latent ${latentPath}: use a .npy file`);
    const photos = await photoList(requireStr(args, 'image'));
    const folderOut = out !== undefined && photos.length > 1;
    if (out && !folderOut && !IMAGE_EXTS.includes(extname(out).toLowerCase())) throw new UsageError(`--out ${out}: use a .png/.jpg/.webp file`);
    if (folderOut && !(await stat(out!).then((s) => s.isDirectory()).catch(() => false))) throw new UsageError(`--out ${out}: with a folder of photos, give an existing folder`);
    const faceIndex = num(args, 'face-index', 0, { min: 0, integer: true });
    const aligned = flag(args, 'aligned');
    if (aligned && str(args, 'face-index') !== undefined) throw new UsageError('--face-index applies to photos that are aligned here; drop --aligned or --face-index');
    const encoder = await PhotoEncoder.load(await modelFlag(args, 'encoder', 'encoder', io.stderr), str(args, 'generator') === undefined ? undefined : await modelFlag(args, 'generator', 'generator', io.stderr));
    const detector = aligned ? undefined : await FaceDetector.load(str(args, 'models'));
    const bar = new ProgressBar(io.stderr, photos.length, !flag(args, 'quiet') && io.stderr.isTTY === true);
    try {
      const size = encoder.generator.config.resolution;
      const faces: RgbImage[] = [];
      for (const [i, p] of photos.entries()) {
        io.signal.throwIfAborted();
        const img = await readImage(p);
        if (aligned && img.width !== img.height) throw new InputError(`${p} is ${img.width}x${img.height}; --aligned images are square FFHQ crops`);
        faces.push(aligned ? img : (await alignPhoto(detector!, img, { size, transformSize: Math.min(FFHQ_TRANSFORM_SIZE, size * ALIGN_SUPERSAMPLING), faceIndex })).image);
        bar.update(i + 1, 'aligned');
      }
      const codes = await encoder.encodeImages(faces);
      const recon = out || str(args, 'raw') ? await encoder.generator.synthesize(codes) : undefined;
      bar.finish();
      const written: string[] = [];
      if (latentPath !== undefined) {
        await writeNpy(latentPath, codes);
        written.push(`${latentPath} [${codes.shape.join(', ')}]`);
      }
      if (recon && str(args, 'raw')) {
        await writeNpy(str(args, 'raw')!, recon);
        written.push(str(args, 'raw')!);
      }
      if (recon && out) {
        for (let i = 0; i < photos.length; i++) {
          const rgb = tensorToRgb(recon, i, '[-1,1]');
          await writeImage(folderOut ? join(out, `${basename(photos[i], extname(photos[i]))}.png`) : out, rgb.data, rgb.width, rgb.height);
        }
        written.push(folderOut ? `${photos.length} reconstructions in ${out}` : out);
      }
      if (flag(args, 'json')) io.stdout.write(JSON.stringify({ encoder: encoder.kind, photos: photos.length, latent: codes.shape, written }) + '\n');
      else if (!flag(args, 'quiet')) io.stdout.write(`inverted ${photos.length} photo(s) with ${encoder.kind}; wrote ${written.join(', ')}\n`);
      return 0;
    } finally {
      bar.finish();
      detector?.dispose();
      await encoder.dispose();
    }
  },
};
