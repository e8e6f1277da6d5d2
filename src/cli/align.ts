/**
 * `styleclip align`: detect the faces in a photo and cut one out as the FFHQ dataset did (src/faces/align.ts), ready
 * for projection and editing. `--json` prints the face count, the 68 landmarks and the crop quad (photo pixel-index
 * coordinates; corners top-left, bottom-left, bottom-right, top-right) for `pasteBack`.
 */
import { FFHQ_SIZE, FFHQ_TRANSFORM_SIZE } from '../faces/align.js';
import { DETECTION_MAX_SIDE, FaceDetector } from '../faces/detect.js';
import { FACE_MODELS_ENV } from '../faces/models.js';
import { alignPhoto } from '../faces/pipeline.js';
import { readImage, writeImage } from '../io/images/image.js';
import { flag, num, requireStr, str, type Command } from './command.js';
import { pullFaceModels } from './photo_flags.js';

const round = (v: number): number => Math.round(v * 1000) / 1000;

export const alignCommand: Command = {
  path: ['align'],
  summary: 'detect a face in a photo and align it as FFHQ (for projection and editing)',
  usage: [
    '  styleclip align --image IN.jpg --out ALIGNED.png [--size 1024] [--face-index 0] [--models DIR] [--json]',
    '',
    '  --image IN        photo (PNG, JPEG, WebP, ...; EXIF orientation applied, CMYK/greyscale converted, alpha on white)',
    '  --out OUT.png     the aligned face (png/jpg/webp)',
    `  --size N          output side (default ${FFHQ_SIZE}; use the generator's resolution)`,
    '  --face-index I    which face, 0 = the largest (default)',
    `  --models DIR      face models directory (default $${FACE_MODELS_ENV}, else the model cache; see docs)`,
    '  --json            print {"faces": n, "landmarks": [[x,y] x68], "quad": [[x,y] x4]}',
    '',
    `  Photos are downscaled to ${DETECTION_MAX_SIDE} px on the longer side for detection; landmarks and the crop use`,
    '  the full-resolution photo.',
  ].join('\n'),
  options: {
    image: { type: 'string' },
    out: { type: 'string' },
    size: { type: 'string' },
    'face-index': { type: 'string' },
    models: { type: 'string' },
    json: { type: 'boolean' },
  },
  async run(args, io) {
    const image = requireStr(args, 'image');
    const out = requireStr(args, 'out');
    const size = num(args, 'size', FFHQ_SIZE, { min: 1, max: FFHQ_TRANSFORM_SIZE, integer: true });
    const faceIndex = num(args, 'face-index', 0, { min: 0, integer: true });
    const photo = await readImage(image);
    await pullFaceModels(args, io);
    const detector = await FaceDetector.load(str(args, 'models'));
    try {
      const aligned = await alignPhoto(detector, photo, { size, faceIndex });
      io.signal.throwIfAborted();
      await writeImage(out, aligned.image.data, aligned.size, aligned.size);
      const result = {
        faces: aligned.faces,
        landmarks: aligned.landmarks.map(([x, y]) => [round(x), round(y)]),
        quad: aligned.quad.map(([x, y]) => [round(x), round(y)]),
      };
      io.stdout.write(
        flag(args, 'json')
          ? JSON.stringify(result) + '\n'
          : `aligned face ${faceIndex + 1} of ${aligned.faces} in ${image} -> ${out} (${aligned.size}x${aligned.size})\n`,
      );
      return 0;
    } finally {
      await detector.dispose();
    }
  },
};
