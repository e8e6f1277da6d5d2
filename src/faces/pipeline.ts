/**
 * The photo-level steps the CLI and the editing pipeline share: detect -> pick a face -> FFHQ-align, and identity
 * embeddings of aligned images computed with an `IdentityNet` in an engine session.
 */
import { Graph } from '../engine/graph.js';
import { Session } from '../engine/session.js';
import { InputError } from '../errors.js';
import { rgbToTensor, type RgbImage } from '../io/images/image.js';
import { alignFace, planAlignment, type AlignedFace, type AlignOptions } from './align.js';
import type { AlignEngine } from './align_engine.js';
import type { DetectedFace, FaceDetector } from './detect.js';
import { ID_CROP, type IdentityNet } from './identity.js';

/** Alignment size used for identity embeddings of photos: the frame StyleCLIP's ID crop is defined in. */
export const IDENTITY_ALIGN_SIZE = ID_CROP.frame;
/**
 * QUAD-transform render size for those alignments: 4x supersampling of the 256 output instead of the recipe's 4096
 * (16x), which costs ~10x the time and changes no embedding noticeably.
 */
export const IDENTITY_TRANSFORM_SIZE = 1024;

export interface AlignPhotoOptions extends AlignOptions {
  /** Which face, 0 = largest (default). */
  readonly faceIndex?: number;
  /** Run the alignment's blur and resize on the engine (photo edits; float32, ./align_engine.ts); default: JavaScript, bit-identical to the recipe. */
  readonly engine?: AlignEngine;
}

/**
 * Smallest face (side of the FFHQ crop quad, photo pixels) accepted: below 64 px the crop is upsampled 4x or more to
 * a 256 px encoder input and 16x to 1024, and inversions come out as blur.
 */
export const MIN_FACE_SIDE = 64;

export interface AlignedPhoto extends AlignedFace {
  /** Number of faces found in the photo. */
  readonly faces: number;
  readonly face: DetectedFace;
}

/** Detects the faces in `photo` and aligns face `faceIndex` (largest first) as FFHQ does. */
export async function alignPhoto(detector: FaceDetector, photo: RgbImage, opts: AlignPhotoOptions = {}): Promise<AlignedPhoto> {
  const { face, count } = await detector.detectOne(photo, opts.faceIndex ?? 0);
  const aligned = opts.engine ? await opts.engine.align(planAlignment(photo, face.landmarks, opts), face.landmarks) : alignFace(photo, face.landmarks, opts);
  const [a, , , d] = aligned.quad;
  const side = Math.hypot(d[0] - a[0], d[1] - a[1]);
  if (side < MIN_FACE_SIDE) {
    throw new InputError(`face ${(opts.faceIndex ?? 0) + 1} of ${count} is only ${Math.round(side)} px across (at least ${MIN_FACE_SIDE} needed): use a larger or closer photo`);
  }
  return { ...aligned, faces: count, face };
}

/** Unit identity embeddings of square aligned images (any sizes; one session per distinct size). */
export async function embedAligned(net: IdentityNet, images: readonly RgbImage[]): Promise<Float32Array[]> {
  for (const img of images) {
    if (img.width !== img.height) throw new InputError(`aligned faces must be square, got ${img.width}x${img.height}`);
  }
  const out = new Array<Float32Array>(images.length);
  for (const size of new Set(images.map((i) => i.width))) {
    const idx = images.map((img, i) => (img.width === size ? i : -1)).filter((i) => i >= 0);
    const g = new Graph('identity');
    const x = g.input('images', 'float32', [idx.length, 3, size, size]);
    g.output(net.buildEmbedding(g, x), 'embeddings');
    const plane = 3 * size * size;
    const data = new Float32Array(idx.length * plane);
    idx.forEach((i, k) => data.set(rgbToTensor(images[i], '[-1,1]').data as Float32Array, k * plane));
    const session = await Session.create(g);
    try {
      const e = (await session.run({ images: { dtype: 'float32', shape: [idx.length, 3, size, size], data } })).embeddings.data as Float32Array;
      idx.forEach((i, k) => (out[i] = e.slice(k * net.dim, (k + 1) * net.dim)));
    } finally {
      await session.dispose();
    }
  }
  return out;
}

/** Pairwise dot products of unit embeddings (cosine similarities). */
export function cosineMatrix(embeddings: readonly Float32Array[]): number[][] {
  return embeddings.map((a) =>
    embeddings.map((b) => {
      let s = 0;
      for (let i = 0; i < a.length; i++) s += a[i] * b[i];
      return s;
    }),
  );
}
