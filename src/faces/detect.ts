/**
 * Face detection and 68-point landmarks with the real pretrained face-api.js networks (Vincent Mühler, face-api.js;
 * run through @vladmandic/face-api on TensorFlow.js): the tiny face detector (a Tiny-YOLOv2-style net, after Redmon
 * and Farhadi, "YOLO9000", CVPR 2017) finds boxes, the 68-point landmark net (dlib / iBUG 300-W point order) places
 * landmarks inside each box.
 *
 * - Photos larger than `DETECTION_MAX_SIDE` are downscaled (Lanczos) before detection; boxes are mapped back.
 * - The tiny detector's recall depends on face size relative to its input, so it runs at each of
 *   `DETECTOR_INPUT_SIZES` and the boxes are merged by non-maximum suppression.
 * - First landmarks come from a crop of the full-resolution photo: the box, padded to a square with zeros (centred)
 *   and resized to the net's 112x112 input, as face-api's `FaceLandmark68Net` prepares its input.
 * - They are then refined `REFINE_ITERATIONS` times in the FFHQ-aligned frame: the net's input is resampled from the
 *   photo upright and at a fixed scale (the square around the landmarks in the frame the current landmarks define),
 *   and its answers on that input and on its mirror image (points swapped by `MIRROR_68`) are averaged. At the fixed
 *   point the net sees the same picture whatever the face's rotation, scale and position in the photo, which removes
 *   most of the net's pose-dependent error (test/faces measures the crop's consistency under similarity transforms).
 * The net's outputs are taken as pixel-index coordinates of its input.
 */
import sharp from 'sharp';
import type * as TF from '@tensorflow/tfjs';
import { resizeLikePil } from '../io/images/resample.js';
import { InputError } from '../errors.js';
import type { RgbImage } from '../io/images/image.js';
import { FFHQ_SIZE } from './align.js';
import { alignedToImage, applyAffine, composeAffine, ffhqCrop, invertAffine, LANDMARK_COUNT, type Affine, type Point } from './geometry.js';
import { locateFaceModel } from './models.js';
import { cropRgb, warpAffine } from './raster.js';
import { loadWeightsManifest } from './tfjs_model.js';
import { loadTfjs, toNamedTensorMap, type FaceApiModule, type Tfjs } from './tfjs.js';

/** Longer side (pixels) photos are downscaled to before detection. */
export const DETECTION_MAX_SIDE = 1024;
/** Tiny face detector input sizes (multiples of 32) run on every photo: large faces are found at the small sizes. */
export const DETECTOR_INPUT_SIZES: readonly number[] = [224, 416, 608];
/** Minimum detector score (face-api's TinyFaceDetectorOptions default is 0.5). */
export const DETECTION_SCORE_THRESHOLD = 0.5;
/** Boxes overlapping more than this intersection-over-union are the same face. */
export const NMS_IOU_THRESHOLD = 0.4;
/** Input side of face-api's FaceLandmark68Net. */
export const LANDMARK_INPUT_SIZE = 112;
/** The refinement crop is this multiple of the landmarks' bounding-box side, centred on it (in the aligned frame). */
export const LANDMARK_BOX_SCALE = 1.25;
/** Refinement passes in the aligned frame. */
export const REFINE_ITERATIONS = 3;
/**
 * Index of each point's mirror image in the 68-point scheme (jaw, brows, nostrils, eyes and mouth swap left and right;
 * the nose bridge and the mouth's centre line map to themselves), from the iBUG 300-W point definitions.
 */
export const MIRROR_68: readonly number[] = [
  16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 27, 28, 29, 30, 35, 34, 33,
  32, 31, 45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40, 54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55, 64, 63, 62, 61, 60, 67,
  66, 65,
];

export interface FaceBox {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

export interface DetectedFace {
  /** Detector box in photo pixels. */
  readonly box: FaceBox;
  readonly score: number;
  /** 68 landmarks in photo pixel-index coordinates. */
  readonly landmarks: readonly Point[];
}

type TinyFaceDetector = InstanceType<FaceApiModule['TinyFaceDetector']>;
type FaceLandmark68Net = InstanceType<FaceApiModule['FaceLandmark68Net']>;
type FaceApiTensor3D = Parameters<FaceLandmark68Net['detectLandmarks']>[0];

const area = (b: FaceBox): number => b.width * b.height;

function iou(a: FaceBox, b: FaceBox): number {
  const w = Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x);
  const h = Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y);
  const inter = w > 0 && h > 0 ? w * h : 0;
  return inter / (area(a) + area(b) - inter);
}

/** Greedy non-maximum suppression, highest score first. */
export function nonMaxSuppression<T extends { box: FaceBox; score: number }>(items: readonly T[], threshold: number): T[] {
  const kept: T[] = [];
  for (const d of [...items].sort((p, q) => q.score - p.score)) {
    if (kept.every((k) => iou(k.box, d.box) <= threshold)) kept.push(d);
  }
  return kept;
}

/** Downscaled copy for detection (Lanczos through sharp) and the factor from photo to copy. */
async function detectionImage(photo: RgbImage): Promise<{ image: RgbImage; scale: number }> {
  const side = Math.max(photo.width, photo.height);
  if (side <= DETECTION_MAX_SIDE) return { image: photo, scale: 1 };
  const scale = DETECTION_MAX_SIDE / side;
  const width = Math.max(1, Math.round(photo.width * scale));
  const height = Math.max(1, Math.round(photo.height * scale));
  const data = await sharp(photo.data, { raw: { width: photo.width, height: photo.height, channels: 3 } })
    .resize(width, height, { fit: 'fill', kernel: 'lanczos3' })
    .raw()
    .toBuffer();
  return { image: { width, height, channels: 3, data: new Uint8Array(data.buffer, data.byteOffset, data.length) }, scale: width / photo.width };
}

/**
 * The landmark net's input for a box: the part of the box inside the photo, resized (antialiased) so its longer side
 * is 112 and centred on a black 112x112 square. Returns the pixels and the map back to photo coordinates.
 */
function landmarkCrop(photo: RgbImage, box: FaceBox): { input: RgbImage; toPhoto: (p: Point) => Point } {
  const x0 = Math.max(0, Math.round(box.x));
  const y0 = Math.max(0, Math.round(box.y));
  const x1 = Math.min(photo.width, Math.round(box.x + box.width));
  const y1 = Math.min(photo.height, Math.round(box.y + box.height));
  if (x1 - x0 < 2 || y1 - y0 < 2) throw new InputError('a detected face box lies outside the image');
  const w = x1 - x0;
  const h = y1 - y0;
  const f = LANDMARK_INPUT_SIZE / Math.max(w, h);
  const rw = Math.max(1, Math.round(w * f));
  const rh = Math.max(1, Math.round(h * f));
  const resized = resizeLikePil(cropRgb(photo, x0, y0, x1, y1), rw, rh, 'lanczos');
  const ox = Math.floor((LANDMARK_INPUT_SIZE - rw) / 2);
  const oy = Math.floor((LANDMARK_INPUT_SIZE - rh) / 2);
  const data = new Uint8Array(LANDMARK_INPUT_SIZE * LANDMARK_INPUT_SIZE * 3);
  for (let y = 0; y < rh; y++) data.set(resized.data.subarray(y * rw * 3, (y + 1) * rw * 3), ((y + oy) * LANDMARK_INPUT_SIZE + ox) * 3);
  const sx = w / rw;
  const sy = h / rh;
  return {
    input: { width: LANDMARK_INPUT_SIZE, height: LANDMARK_INPUT_SIZE, channels: 3, data },
    toPhoto: ([px, py]) => [x0 + (px - ox + 0.5) * sx - 0.5, y0 + (py - oy + 0.5) * sy - 0.5],
  };
}

/** The square (side `LANDMARK_BOX_SCALE` x the points' extent) centred on their bounding box. */
function landmarkBox(points: readonly Point[]): FaceBox {
  const xs = points.map((p) => p[0]);
  const ys = points.map((p) => p[1]);
  const [minX, maxX, minY, maxY] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const side = Math.max(maxX - minX, maxY - minY) * LANDMARK_BOX_SCALE;
  return { x: (minX + maxX - side) / 2, y: (minY + maxY - side) / 2, width: side, height: side };
}

/** Left-right mirror image. */
function mirror(img: RgbImage): RgbImage {
  const { width: w, height: h, data } = img;
  const out = new Uint8Array(data.length);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const s = (y * w + x) * 3;
      const d = (y * w + (w - 1 - x)) * 3;
      out[d] = data[s];
      out[d + 1] = data[s + 1];
      out[d + 2] = data[s + 2];
    }
  }
  return { width: w, height: h, channels: 3, data: out };
}

export class FaceDetector {
  private constructor(
    private readonly tf: Tfjs,
    private readonly faceapi: FaceApiModule,
    private readonly detector: TinyFaceDetector,
    private readonly landmarkNet: FaceLandmark68Net,
  ) {}

  /** Loads the detector and landmark weights from `modelsDir` (see ./models.ts for the search order). */
  static async load(modelsDir?: string): Promise<FaceDetector> {
    const { tf, faceapi } = await loadTfjs();
    const [det, lm] = await Promise.all([
      loadWeightsManifest(locateFaceModel('detector', modelsDir)),
      loadWeightsManifest(locateFaceModel('landmarks', modelsDir)),
    ]);
    const detector = new faceapi.TinyFaceDetector();
    const landmarkNet = new faceapi.FaceLandmark68Net();
    detector.loadFromWeightMap(toNamedTensorMap(tf, det) as never);
    landmarkNet.loadFromWeightMap(toNamedTensorMap(tf, lm) as never);
    return new FaceDetector(tf, faceapi, detector, landmarkNet);
  }

  private tensor(img: RgbImage): TF.Tensor3D {
    return this.tf.tensor3d(Int32Array.from(img.data), [img.height, img.width, 3], 'int32');
  }

  /** Detector boxes (photo coordinates) merged over the input sizes. */
  private async boxes(photo: RgbImage): Promise<{ box: FaceBox; score: number }[]> {
    const { image, scale } = await detectionImage(photo);
    const t = this.tensor(image);
    try {
      const found: { box: FaceBox; score: number }[] = [];
      for (const inputSize of DETECTOR_INPUT_SIZES) {
        const options = new this.faceapi.TinyFaceDetectorOptions({ inputSize, scoreThreshold: DETECTION_SCORE_THRESHOLD });
        for (const d of await this.detector.locateFaces(t as unknown as FaceApiTensor3D, options)) {
          const b = d.box;
          found.push({ box: { x: b.x / scale, y: b.y / scale, width: b.width / scale, height: b.height / scale }, score: d.score });
        }
      }
      return nonMaxSuppression(found, NMS_IOU_THRESHOLD);
    } finally {
      t.dispose();
    }
  }

  /** The net's 68 points on a 112x112 input, in its pixel-index coordinates. */
  private async runNet(input: RgbImage): Promise<Point[]> {
    const t = this.tensor(input);
    try {
      const res = await this.landmarkNet.detectLandmarks(t as unknown as FaceApiTensor3D);
      const marks = Array.isArray(res) ? res[0] : res;
      if (marks.positions.length !== LANDMARK_COUNT) throw new Error(`landmark net returned ${marks.positions.length} points`);
      return marks.positions.map((p) => [p.x, p.y]);
    } finally {
      t.dispose();
    }
  }

  /** First landmarks from the detector box (photo coordinates). */
  private async boxLandmarks(photo: RgbImage, box: FaceBox): Promise<Point[]> {
    const { input, toPhoto } = landmarkCrop(photo, box);
    return (await this.runNet(input)).map(toPhoto);
  }

  /** One refinement pass in the aligned frame (see the file header). */
  private async refine(photo: RgbImage, landmarks: readonly Point[]): Promise<Point[]> {
    const frameToPhoto = alignedToImage(ffhqCrop(landmarks).quad, FFHQ_SIZE);
    const sq = landmarkBox(landmarks.map((p) => applyAffine(invertAffine(frameToPhoto), p)));
    const s = sq.width / LANDMARK_INPUT_SIZE;
    const inputToFrame: Affine = [s, 0, sq.x + 0.5 * s - 0.5, 0, s, sq.y + 0.5 * s - 0.5];
    const inputToPhoto = composeAffine(frameToPhoto, inputToFrame);
    const input = warpAffine(photo, inputToPhoto, LANDMARK_INPUT_SIZE, LANDMARK_INPUT_SIZE);
    const direct = await this.runNet(input);
    const mirrored = await this.runNet(mirror(input));
    const last = LANDMARK_INPUT_SIZE - 1;
    return direct.map((p, i) => {
      const q = mirrored[MIRROR_68[i]];
      return applyAffine(inputToPhoto, [(p[0] + last - q[0]) / 2, (p[1] + q[1]) / 2]);
    });
  }

  /** Every face, largest box first. */
  async detect(photo: RgbImage): Promise<DetectedFace[]> {
    if (photo.width < 2 || photo.height < 2) return [];
    const faces: DetectedFace[] = [];
    for (const { box, score } of await this.boxes(photo)) {
      let landmarks = await this.boxLandmarks(photo, box);
      for (let i = 0; i < REFINE_ITERATIONS; i++) landmarks = await this.refine(photo, landmarks);
      faces.push({ box, score, landmarks });
    }
    return faces.sort((a, b) => area(b.box) - area(a.box));
  }

  /** Face number `faceIndex` (0 = largest) and how many were found; an InputError when there is none. */
  async detectOne(photo: RgbImage, faceIndex = 0): Promise<{ face: DetectedFace; count: number }> {
    const faces = await this.detect(photo);
    if (faces.length === 0) {
      throw new InputError(`no face found in the ${photo.width}x${photo.height} image; use a photo with a clearly visible face`);
    }
    if (!Number.isInteger(faceIndex) || faceIndex < 0 || faceIndex >= faces.length) {
      throw new InputError(`face index ${faceIndex} is out of range: ${faces.length} face(s) found (0 = largest)`);
    }
    return { face: faces[faceIndex], count: faces.length };
  }

  dispose(): void {
    this.detector.dispose();
    this.landmarkNet.dispose();
  }
}
