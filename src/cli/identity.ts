/**
 * `styleclip identity`: identity embeddings of faces and their pairwise cosine similarities, with the differentiable
 * MobileFace port (src/faces/mobileface.ts) or, given `--arcface`, StyleCLIP's ArcFace IR-SE50. Photos are detected
 * and FFHQ-aligned at 256 first (the largest face); `--aligned` takes square aligned crops as they are.
 */
import { ArcFaceIrSe } from '../faces/arcface.js';
import { FaceDetector } from '../faces/detect.js';
import type { IdentityNet } from '../faces/identity.js';
import { MobileFace } from '../faces/mobileface.js';
import { FACE_MODELS_ENV } from '../faces/models.js';
import { IDENTITY_ALIGN_SIZE, IDENTITY_TRANSFORM_SIZE, alignPhoto, cosineMatrix, embedAligned } from '../faces/pipeline.js';
import { readImage, type RgbImage } from '../io/images/image.js';
import { resolveModelPath } from '../io/models/registry.js';
import { UsageError, flag, str, strs, type Command } from './command.js';
import { pullFaceModels } from './photo_flags.js';

const round = (v: number): number => Math.round(v * 1e6) / 1e6;

async function alignedFaces(paths: readonly string[], aligned: boolean, models: string | undefined): Promise<RgbImage[]> {
  const photos = await Promise.all(paths.map((p) => readImage(p)));
  if (aligned) return photos;
  const detector = await FaceDetector.load(models);
  try {
    const out: RgbImage[] = [];
    for (const photo of photos) out.push((await alignPhoto(detector, photo, { size: IDENTITY_ALIGN_SIZE, transformSize: IDENTITY_TRANSFORM_SIZE })).image);
    return out;
  } finally {
    await detector.dispose();
  }
}

export const identityCommand: Command = {
  path: ['identity'],
  summary: 'identity embeddings of faces and their cosine similarities',
  usage: [
    '  styleclip identity --image A --image B [...] [--aligned] [--models DIR] [--arcface model_ir_se50.pth] [--json]',
    '',
    '  --image PATH      a photo (the largest face is detected and aligned) or, with --aligned, an aligned face',
    '  --aligned         the images are square FFHQ-aligned crops (any size); skip detection',
    `  --models DIR      face models directory (default $${FACE_MODELS_ENV}, else the model cache)`,
    '  --arcface CKPT    use ArcFace IR-SE50 (StyleCLIP\'s model_ir_se50.pth) instead of MobileFace',
    '  --json            print {"embeddings": [[...]], "cosine": [[...]]} (unit embeddings, pairwise cosines)',
  ].join('\n'),
  options: {
    image: { type: 'string', multiple: true },
    aligned: { type: 'boolean' },
    models: { type: 'string' },
    arcface: { type: 'string' },
    json: { type: 'boolean' },
  },
  async run(args, io) {
    const paths = strs(args, 'image');
    if (paths.length === 0) throw new UsageError('--image is required (give it once per face, e.g. --image a.jpg --image b.jpg)');
    const models = str(args, 'models');
    const arcface = str(args, 'arcface');
    await pullFaceModels(args, io, [...(flag(args, 'aligned') ? [] : (['detector', 'landmarks'] as const)), ...(arcface ? [] : (['mobileface'] as const))]);
    const faces = await alignedFaces(paths, flag(args, 'aligned'), models);
    io.signal.throwIfAborted();
    const net: IdentityNet = arcface ? await ArcFaceIrSe.load(await resolveModelPath(arcface, 'face')) : await MobileFace.load(models);
    try {
      const embeddings = await embedAligned(net, faces);
      const cosine = cosineMatrix(embeddings);
      if (flag(args, 'json')) {
        io.stdout.write(JSON.stringify({ embeddings: embeddings.map((e) => Array.from(e, round)), cosine: cosine.map((r) => r.map(round)) }) + '\n');
      } else {
        const rows = cosine.map((r, i) => `${paths[i]}\t${r.map((v) => v.toFixed(4)).join('\t')}`);
        io.stdout.write(`${net.name} cosine similarities:\n${rows.join('\n')}\n`);
      }
      return 0;
    } finally {
      net.dispose();
    }
  },
};
