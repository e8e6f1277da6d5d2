/**
 * face-api.js's 68-point landmark net (Vincent Mühler, face-api.js `FaceLandmark68Net`: the `FaceFeatureExtractor`
 * body of densely connected blocks, after Huang et al., "Densely Connected Convolutional Networks", CVPR 2017, with
 * separable convs, then one fully connected layer) as an engine graph. Points follow dlib / iBUG 300-W order.
 *
 * x [N,3,112,112] RGB in [0,255] (face-api.js `toBatchTensor(112, true)`: an input of that size is used as it is):
 *   (x - LANDMARK_MEAN_RGB) / 255
 *   4 dense blocks (face-api.js faceFeatureExtractor/denseBlock.ts `denseBlock4`), 112 -> 56 -> 28 -> 14 -> 7:
 *     out1 = relu(conv0(x))   stride 2, TF 'SAME' (plain 3x3 in block 0, separable after)
 *     out2 = sep1(out1);  out3 = sep2(relu(out1 + out2));  out4 = sep3(relu(out1 + out2 + out3))
 *     y    = relu(out1 + out2 + out3 + out4)          (separable convs: stride 1, 'SAME', + bias, no activation)
 *   avgpool 7x7 stride 2 'valid' -> [N, 256, 1, 1];  fc: [N, 256] @ W + b -> [N, 136]
 * The outputs are (x, y) pairs in units of the input side (FaceLandmark68NetBase `postProcess` for a square input
 * without padding: output x 112 / 112, then FaceLandmarks68 scales by the 112 x 112 input): points in input pixels
 * are `output x LANDMARK_INPUT_SIZE`.
 */
import { Graph, type Value } from '../engine/graph.js';
import { add, matmul, relu } from '../engine/ops_math.js';
import { averagePool } from '../engine/ops_nn.js';
import { reshape } from '../engine/ops_shape.js';
import type { DenseBlockWeights, Landmark68Weights, PlainConv, SeparableConv } from './face_api_weights.js';
import { normalizeRgb, plainConv, separableConv, tfSamePads } from './face_api_layers.js';

/** Input side (face-api.js FaceFeatureExtractor `toBatchTensor(112, ...)`). */
export const LANDMARK_INPUT_SIZE = 112;
/** Points and outputs (x, y per point). */
export const LANDMARK_POINTS = 68;
export const LANDMARK_OUTPUTS = 2 * LANDMARK_POINTS;
/** Per-channel mean subtracted from the input (FaceFeatureExtractor `forwardInput`). */
export const LANDMARK_MEAN_RGB: readonly [number, number, number] = [122.782, 117.001, 104.298];
/** The input is divided by this after the mean (`.div(255)`). */
export const LANDMARK_INPUT_DIVISOR = 255;
/** The final average pool (FaceFeatureExtractor: `tf.avgPool(out, [7, 7], [2, 2], 'valid')`). */
const FINAL_POOL = 7;
const FINAL_POOL_STRIDE = 2;

const isPlain = (c: PlainConv | SeparableConv): c is PlainConv => 'weight' in c;

function denseBlock(g: Graph, x: Value, b: DenseBlockWeights, name: string): Value {
  const pads2 = tfSamePads(x.shape[2], x.shape[3], 3, 2);
  const first = isPlain(b.conv0) ? plainConv(g, x, b.conv0, `${name}_conv0`, 2, pads2) : separableConv(g, x, b.conv0, `${name}_conv0`, 2, pads2);
  const out1 = relu(first);
  const sep = (v: Value, j: number): Value => separableConv(g, v, b.convs[j - 1], `${name}_conv${j}`, 1, [1, 1, 1, 1]);
  const out2 = sep(out1, 1);
  const out3 = sep(relu(add(out1, out2)), 2);
  const out4 = sep(relu(add(out1, add(out2, out3))), 3);
  return relu(add(out1, add(out2, add(out3, out4))));
}

/** The landmark graph: `image` [batch,3,112,112] in [0,255] -> `landmarks` [batch, 136] in units of the input side. */
export function landmark68Graph(w: Landmark68Weights, batch = 1): Graph {
  const g = new Graph(`landmark68x${batch}`);
  const x = g.input('image', 'float32', [batch, 3, LANDMARK_INPUT_SIZE, LANDMARK_INPUT_SIZE]);
  let h = normalizeRgb(g, x, LANDMARK_MEAN_RGB, LANDMARK_INPUT_DIVISOR);
  w.blocks.forEach((b, k) => (h = denseBlock(g, h, b, `dense${k}`)));
  const pooled = averagePool(h, [FINAL_POOL, FINAL_POOL], { strides: [FINAL_POOL_STRIDE, FINAL_POOL_STRIDE] });
  if (pooled.shape[2] !== 1 || pooled.shape[3] !== 1) throw new Error(`landmark net: features pool to ${pooled.shape.slice(2)}, expected 1x1`);
  const features = reshape(pooled, [batch, pooled.shape[1]]);
  g.output(add(matmul(features, g.constant(w.fc.weight, 'fc_w')), g.constant(w.fc.bias, 'fc_b')), 'landmarks');
  return g;
}
