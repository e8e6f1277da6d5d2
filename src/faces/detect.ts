/**
 * Face detection and 68-point landmarks with the real pretrained face-api.js networks (Vincent Mühler, face-api.js),
 * built as engine graphs from their weights and run on onnxruntime: the tiny face detector (./tiny_face_detector.ts,
 * a Tiny-YOLOv2-style net) finds boxes, the 68-point landmark net (./landmark68.ts, dlib / iBUG 300-W point order)
 * places landmarks inside each box. Detection per input size is face-api.js's `TinyFaceDetector.locateFaces`
 * (threshold, decoding, its non-maximum suppression), test/faces/face_api.test.ts compares both nets with face-api.js.
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
import { concatRows } from '../engine/batching.js';
import { SessionCache, type Session, type SessionOptions } from '../engine/session.js';
import type { HostTensor } from '../engine/tensor.js';
import { resizeLikePil } from '../io/images/resample.js';
import { InputError } from '../errors.js';
import { rgbToTensor, type RgbImage } from '../io/images/image.js';
import { FFHQ_SIZE } from './align.js';
import { alignedToImage, applyAffine, composeAffine, ffhqCrop, invertAffine, LANDMARK_COUNT, type Affine, type Point } from './geometry.js';
import { locateFaceModel } from './models.js';
import { cropRgb, warpAffine } from './raster.js';
import { landmark68Weights, tinyDetectorWeights, type Landmark68Weights, type TinyDetectorWeights } from './face_api_weights.js';
import { LANDMARK_INPUT_SIZE, LANDMARK_OUTPUTS, landmark68Graph } from './landmark68.js';
import { decodeDetections, detectorInput, TINY_FACE_ANCHORS, tinyFaceDetectorGraph } from './tiny_face_detector.js';
import { loadWeightsManifest } from './tfjs_model.js';

export { LANDMARK_INPUT_SIZE } from './landmark68.js';

/** Longer side (pixels) photos are downscaled to before detection. */
export const DETECTION_MAX_SIDE = 1024;
/** Tiny face detector input sizes (multiples of 32) run on every photo: large faces are found at the small sizes. */
export const DETECTOR_INPUT_SIZES: readonly number[] = [224, 416, 608];
/** Minimum detector score (face-api's TinyFaceDetectorOptions default is 0.5). */
export const DETECTION_SCORE_THRESHOLD = 0.5;
/**
 * Boxes overlapping more than this intersection-over-union are the same face: within one input size (face-api.js
 * tinyFaceDetector/const.ts IOU_THRESHOLD) and across sizes.
 */
export const NMS_IOU_THRESHOLD = 0.4;
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
  private readonly sessions: SessionCache;

  private constructor(
    private readonly detectorWeights: TinyDetectorWeights,
    private readonly landmarkWeights: Landmark68Weights,
    options: SessionOptions,
  ) {
    this.sessions = new SessionCache({ memoryArena: false, ...options });
  }

  /** Loads the detector and landmark weights from `modelsDir` (see ./models.ts for the search order). */
  static async load(modelsDir?: string, options: SessionOptions = {}): Promise<FaceDetector> {
    const [det, lm] = await Promise.all([
      locateFaceModel('detector', modelsDir).then(loadWeightsManifest),
      locateFaceModel('landmarks', modelsDir).then(loadWeightsManifest),
    ]);
    return new FaceDetector(tinyDetectorWeights(det, TINY_FACE_ANCHORS.length), landmark68Weights(lm, LANDMARK_OUTPUTS), options);
  }

  private detectorSession(inputSize: number): Promise<Session> {
    return this.sessions.get(`detector-${inputSize}`, () => tinyFaceDetectorGraph(this.detectorWeights, inputSize));
  }

  /** Detector boxes (photo coordinates) merged over the input sizes. */
  private async boxes(photo: RgbImage): Promise<{ box: FaceBox; score: number }[]> {
    const { image, scale } = await detectionImage(photo);
    // Relative boxes -> photo pixels: the detection image's size, undone by its downscale.
    const [sx, sy] = [image.width / scale, image.height / scale];
    const found: { box: FaceBox; score: number }[] = [];
    for (const inputSize of DETECTOR_INPUT_SIZES) {
      const session = await this.detectorSession(inputSize);
      const feed: HostTensor = { dtype: 'float32', shape: [1, 3, inputSize, inputSize], data: detectorInput(image, inputSize) };
      const { boxes } = await session.run({ image: feed });
      const relative = decodeDetections(boxes.data as Float32Array, image.width, image.height, inputSize, DETECTION_SCORE_THRESHOLD);
      const perSize = nonMaxSuppression(relative.map((d) => ({ box: d, score: d.score })), NMS_IOU_THRESHOLD);
      for (const { box: b, score } of perSize) {
        found.push({ box: { x: b.x * sx, y: b.y * sy, width: b.width * sx, height: b.height * sy }, score });
      }
    }
    return nonMaxSuppression(found, NMS_IOU_THRESHOLD);
  }

  /** The net's 68 points on each 112x112 input (one run), in its pixel-index coordinates. */
  private async runNet(inputs: readonly RgbImage[]): Promise<Point[][]> {
    const session = await this.sessions.get(`landmarks-${inputs.length}`, () => landmark68Graph(this.landmarkWeights, inputs.length));
    const batch = concatRows(inputs.map((img) => rgbToTensor(img, '[0,255]')));
    const out = (await session.run({ image: batch })).landmarks.data as Float32Array;
    return inputs.map((_, n) =>
      Array.from({ length: LANDMARK_COUNT }, (_, i): Point => {
        const k = n * LANDMARK_OUTPUTS + 2 * i;
        return [out[k] * LANDMARK_INPUT_SIZE, out[k + 1] * LANDMARK_INPUT_SIZE];
      }),
    );
  }

  /** First landmarks from the detector box (photo coordinates). */
  private async boxLandmarks(photo: RgbImage, box: FaceBox): Promise<Point[]> {
    const { input, toPhoto } = landmarkCrop(photo, box);
    return (await this.runNet([input]))[0].map(toPhoto);
  }

  /** One refinement pass in the aligned frame (see the file header). */
  private async refine(photo: RgbImage, landmarks: readonly Point[]): Promise<Point[]> {
    const frameToPhoto = alignedToImage(ffhqCrop(landmarks).quad, FFHQ_SIZE);
    const sq = landmarkBox(landmarks.map((p) => applyAffine(invertAffine(frameToPhoto), p)));
    const s = sq.width / LANDMARK_INPUT_SIZE;
    const inputToFrame: Affine = [s, 0, sq.x + 0.5 * s - 0.5, 0, s, sq.y + 0.5 * s - 0.5];
    const inputToPhoto = composeAffine(frameToPhoto, inputToFrame);
    const input = warpAffine(photo, inputToPhoto, LANDMARK_INPUT_SIZE, LANDMARK_INPUT_SIZE);
    const [direct, mirrored] = await this.runNet([input, mirror(input)]);
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

  dispose(): Promise<void> {
    return this.sessions.dispose();
  }
}
