/**
 * face-api.js's tiny face detector (Vincent Mühler, face-api.js `TinyFaceDetector`: a Tiny-YOLOv2 head on a
 * MobileNet-style body of separable convs; Redmon and Farhadi, "YOLO9000: Better, Faster, Stronger", CVPR 2017, sec. 2
 * "Direct location prediction") as an engine graph, with its input preparation and box decoding.
 *
 * Network (face-api.js TinyYolov2Base `runMobilenet`, `isFirstLayerConv2d`), x [N,3,S,S] RGB in [0,255], S % 32 = 0:
 *   (x - MEAN_RGB) / 255
 *   conv0 3x3 'valid' + bias, leaky        [N, 16, S-2, S-2]
 *   maxpool 2x2/2 'same'                   [N, 16, S/2 - 1, ..]
 *   conv1..conv4 separable 3x3 (pad 1) + bias, leaky, each followed by maxpool 2x2/2 'same'
 *   conv5 separable, leaky, maxpool 2x2/1 'same'  [N, 512, S/32, S/32]
 *   conv6, conv7 separable when present (face-api's face detector has none)
 *   conv8 1x1 + bias                       [N, 5 anchors x 5, S/32, S/32]
 * Output channel a*5 + k of cell (row, col) holds anchor a's tx, ty, tw, th, objectness (TinyYolov2 `extractBoxes`).
 *
 * Input preparation (face-api.js NetInput `toBatchTensor(S, false)`): the photo padded with zeros after its shorter
 * side to a square (`padToSquare`, not centred), then `tf.image.resizeBilinear(.., [S, S], alignCorners = false,
 * halfPixelCenters = false)`: source coordinate = destination x (side / S), no half-pixel offset.
 */
import { Graph, type Value } from '../engine/graph.js';
import { leakyRelu } from '../engine/ops_math.js';
import { maxPool } from '../engine/ops_nn.js';
import type { RgbImage } from '../io/images/image.js';
import { BOX_ENCODING_SIZE, type TinyDetectorWeights } from './face_api_weights.js';
import { normalizeRgb, plainConv, separableConv, tfSamePads } from './face_api_layers.js';

/** The detector's anchors (w, h in cells), face-api.js tinyFaceDetector/const.ts BOX_ANCHORS. */
export const TINY_FACE_ANCHORS: readonly (readonly [number, number])[] = [
  [1.603231, 2.094468],
  [6.041143, 7.080126],
  [2.882459, 3.518061],
  [4.266906, 5.178857],
  [9.041765, 10.66308],
];
/** Per-channel mean subtracted from the input (face-api.js tinyFaceDetector/const.ts MEAN_RGB). */
export const TINY_FACE_MEAN_RGB: readonly [number, number, number] = [117.001, 114.697, 97.404];
/** The input is divided by this after the mean (TinyYolov2Base `forwardInput`: `.div(255)`). */
export const TINY_FACE_INPUT_DIVISOR = 255;
/** Leaky ReLU slope (face-api.js tinyYolov2/leaky.ts: float32 0.1). */
export const TINY_YOLO_LEAKY_SLOPE = 0.1;
/** The network's total stride: one output cell per 32 input pixels. */
export const TINY_FACE_STRIDE = 32;
/** Separable convs followed by a stride-2 max pool (conv1..conv4; conv0's pool is the fifth); conv5's pool has stride 1. */
const STRIDED_POOLS_AFTER_SEPARABLE = 4;

/** A detector box relative to the photo ([0,1] of its width and height) and its objectness. */
export interface RelativeDetection {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
  readonly score: number;
}

/** face-api.js's `tf.maxPool(x, [2, 2], [s, s], 'same')`. */
function samePool(x: Value, stride: number): Value {
  return maxPool(x, [2, 2], { strides: [stride, stride], pads: tfSamePads(x.shape[2], x.shape[3], 2, stride) });
}

/** The detector graph at input side `inputSize`: `image` [batch,3,S,S] in [0,255] -> `boxes` [batch, 25, S/32, S/32]. */
export function tinyFaceDetectorGraph(w: TinyDetectorWeights, inputSize: number, batch = 1): Graph {
  if (!Number.isInteger(inputSize) || inputSize <= 0 || inputSize % TINY_FACE_STRIDE !== 0) {
    throw new Error(`tiny face detector: input size must be a positive multiple of ${TINY_FACE_STRIDE}, got ${inputSize}`);
  }
  const g = new Graph(`tiny-face-detector-${inputSize}x${batch}`);
  const x = g.input('image', 'float32', [batch, 3, inputSize, inputSize]);
  let h = normalizeRgb(g, x, TINY_FACE_MEAN_RGB, TINY_FACE_INPUT_DIVISOR);
  h = samePool(leakyRelu(plainConv(g, h, w.conv0, 'conv0'), TINY_YOLO_LEAKY_SLOPE), 2);
  w.separable.forEach((layer, i) => {
    // face-api.js tinyYolov2/depthwiseSeparableConv.ts: tf.pad by 1, separableConv2d 'valid', bias, leaky.
    h = leakyRelu(separableConv(g, h, layer, `conv${i + 1}`, 1, [1, 1, 1, 1]), TINY_YOLO_LEAKY_SLOPE);
    if (i <= STRIDED_POOLS_AFTER_SEPARABLE) h = samePool(h, i < STRIDED_POOLS_AFTER_SEPARABLE ? 2 : 1);
  });
  g.output(plainConv(g, h, w.head, 'conv8'), 'boxes');
  return g;
}

/**
 * The detector's input for a photo: [1,3,S,S] float32 NCHW, the photo zero-padded after its shorter side to a square
 * and resized bilinearly as tf.image.resizeBilinear without corner alignment or half-pixel centres (file header).
 */
export function detectorInput(photo: RgbImage, inputSize: number): Float32Array {
  const { width: w, height: h, data } = photo;
  const side = Math.max(w, h);
  const plane = inputSize * inputSize;
  const out = new Float32Array(3 * plane);
  const scale = side / inputSize;
  // Per output column: the two source columns (-1 when in the zero padding) and the weight of the second.
  const x0 = new Int32Array(inputSize);
  const x1 = new Int32Array(inputSize);
  const fx = new Float64Array(inputSize);
  for (let ox = 0; ox < inputSize; ox++) {
    const sx = ox * scale;
    const a = Math.floor(sx);
    const b = Math.min(side - 1, Math.ceil(sx));
    x0[ox] = a < w ? a * 3 : -1;
    x1[ox] = b < w ? b * 3 : -1;
    fx[ox] = sx - a;
  }
  for (let oy = 0; oy < inputSize; oy++) {
    const sy = oy * scale;
    const ya = Math.floor(sy);
    const yb = Math.min(side - 1, Math.ceil(sy));
    const fy = sy - ya;
    const ra = ya < h ? ya * w * 3 : -1;
    const rb = yb < h ? yb * w * 3 : -1;
    const o = oy * inputSize;
    for (let ox = 0; ox < inputSize; ox++) {
      const ca = x0[ox];
      const cb = x1[ox];
      const f = fx[ox];
      for (let c = 0; c < 3; c++) {
        const p00 = ra >= 0 && ca >= 0 ? data[ra + ca + c] : 0;
        const p01 = ra >= 0 && cb >= 0 ? data[ra + cb + c] : 0;
        const p10 = rb >= 0 && ca >= 0 ? data[rb + ca + c] : 0;
        const p11 = rb >= 0 && cb >= 0 ? data[rb + cb + c] : 0;
        const top = p00 + (p01 - p00) * f;
        const bottom = p10 + (p11 - p10) * f;
        out[c * plane + o + ox] = top + (bottom - top) * fy;
      }
    }
  }
  return out;
}

const sigmoid = (v: number): number => 1 / (1 + Math.exp(-v));

/**
 * Boxes above `threshold` from the head's output [1, A*5, cells, cells] (cells = inputSize / TINY_FACE_STRIDE) for a
 * `photoWidth` x `photoHeight` photo at input side `inputSize` (TinyYolov2Base `extractBoxes`): centre = (cell + sigmoid(t)) / cells, size = anchor x
 * exp(t) / cells, both in units of the padded square, then divided by the photo's share of that square (face-api.js
 * measures it on the rounded resized size, `computeReshapedDimensions`).
 */
export function decodeDetections(out: Float32Array, photoWidth: number, photoHeight: number, inputSize: number, threshold: number): RelativeDetection[] {
  const cells = inputSize / TINY_FACE_STRIDE;
  const scale = inputSize / Math.max(photoWidth, photoHeight);
  const [rw, rh] = [Math.round(photoWidth * scale), Math.round(photoHeight * scale)];
  const side = Math.max(rw, rh);
  const [cx, cy] = [side / rw, side / rh];
  const plane = cells * cells;
  const found: RelativeDetection[] = [];
  for (let row = 0; row < cells; row++) {
    for (let col = 0; col < cells; col++) {
      TINY_FACE_ANCHORS.forEach(([aw, ah], a) => {
        const t = (k: number): number => out[(a * BOX_ENCODING_SIZE + k) * plane + row * cells + col];
        const score = sigmoid(t(4));
        if (score <= threshold) return;
        const width = ((Math.exp(t(2)) * aw) / cells) * cx;
        const height = ((Math.exp(t(3)) * ah) / cells) * cy;
        const x = ((col + sigmoid(t(0))) / cells) * cx - width / 2;
        const y = ((row + sigmoid(t(1))) / cells) * cy - height / 2;
        found.push({ x, y, width, height, score });
      });
    }
  }
  return found;
}
