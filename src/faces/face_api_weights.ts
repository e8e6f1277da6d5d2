/**
 * The face-api.js networks' weights (tfjs weights manifests, read by ./tfjs_model.ts) for the engine graphs in
 * ./tiny_face_detector.ts and ./landmark68.ts: one rule table per network through io/tensors/weight_map.ts
 * `applyRules`, asserting every key and shape. TF's NHWC filters become ONNX's: Conv2D [kh, kw, in, out] ->
 * [out, in, kh, kw], depthwise [kh, kw, in, 1] -> [in, 1, kh, kw] (group = in), pointwise [1, 1, in, out] ->
 * [out, in, 1, 1]. Widths and layer counts are read from the tensors' shapes.
 *
 * Key layouts (face-api.js `extractParamsFromWeightMap` of each net):
 * - tiny face detector (`TinyFaceDetector`: a TinyYolov2 with separable convs and `isFirstLayerConv2d`):
 *   `conv0/{filters,bias}`, `convI/{depthwise_filter,pointwise_filter,bias}` for I = 1..5 (and 6, 7 when the net's
 *   `filterSizes` has 8 or 9 entries; face-api's face detector has 7), `conv8/{filters,bias}` (1x1, 5 numbers per
 *   anchor: the net has one class, so no class scores);
 * - 68-point landmark net (`FaceLandmark68Net`: `FaceFeatureExtractor` + `fc`): `denseK/conv0` (a plain conv in
 *   block 0, separable otherwise), `denseK/conv{1,2,3}` separable, for K = 0..3, then `fc/{weights,bias}`.
 */
import type { HostTensor, WeightMap } from '../engine/index.js';
import { InputError } from '../errors.js';
import { applyRules, type MapRule } from '../io/tensors/weight_map.js';
import { tfDepthwiseToOihw, tfFilterToOihw } from './tfjs_model.js';

/** A convolution with bias, ONNX layout. */
export interface PlainConv {
  readonly weight: HostTensor;
  readonly bias: HostTensor;
}

/** `tf.separableConv2d` + bias: a depthwise 3x3 conv (group = channels), a pointwise 1x1 conv, one bias after both. */
export interface SeparableConv {
  readonly depthwise: HostTensor;
  readonly pointwise: HostTensor;
  readonly bias: HostTensor;
}

export interface TinyDetectorWeights {
  /** conv0: 3x3, 3 -> c0, 'valid'. */
  readonly conv0: PlainConv;
  /** conv1.. (5 to 7 of them). */
  readonly separable: readonly SeparableConv[];
  /** conv8: 1x1 -> 5 numbers per anchor. */
  readonly head: PlainConv;
}

export interface DenseBlockWeights {
  /** The block's first (stride 2) conv: plain in the first block, separable after. */
  readonly conv0: PlainConv | SeparableConv;
  readonly convs: readonly [SeparableConv, SeparableConv, SeparableConv];
}

export interface Landmark68Weights {
  readonly blocks: readonly DenseBlockWeights[];
  /** fc: [features, 136] (x @ weight + bias) and [136]. */
  readonly fc: { readonly weight: HostTensor; readonly bias: HostTensor };
}

/** Numbers each anchor of the detector's head predicts: box (x, y, w, h) and objectness (TinyYolov2 boxEncodingSize). */
export const BOX_ENCODING_SIZE = 5;
/** Layers of the landmark net's dense blocks (face-api.js denseBlock4). */
const DENSE_BLOCK_CONVS = 4;

const dimOf = (source: WeightMap, key: string, axis: number, what: string): number => {
  const t = source.get(key);
  if (!t) throw new InputError(`${what}: missing key ${key} (expected face-api.js's weights manifest)`);
  return t.shape[axis];
};

const plainRules = (p: string, k: number, cin: number, cout: number): MapRule[] => [
  { src: `${p}/filters`, shape: [k, k, cin, cout], dst: `${p}.weight`, transform: tfFilterToOihw },
  { src: `${p}/bias`, shape: [cout], dst: `${p}.bias` },
];

const separableRules = (p: string, cin: number, cout: number): MapRule[] => [
  { src: `${p}/depthwise_filter`, shape: [3, 3, cin, 1], dst: `${p}.depthwise`, transform: tfDepthwiseToOihw },
  { src: `${p}/pointwise_filter`, shape: [1, 1, cin, cout], dst: `${p}.pointwise`, transform: tfFilterToOihw },
  { src: `${p}/bias`, shape: [cout], dst: `${p}.bias` },
];

const plain = (m: WeightMap, p: string): PlainConv => ({ weight: m.get(`${p}.weight`)!, bias: m.get(`${p}.bias`)! });
const separable = (m: WeightMap, p: string): SeparableConv => ({
  depthwise: m.get(`${p}.depthwise`)!,
  pointwise: m.get(`${p}.pointwise`)!,
  bias: m.get(`${p}.bias`)!,
});

/** The tiny face detector's weights; `anchors` is the anchor count the head must predict for. */
export function tinyDetectorWeights(source: WeightMap, anchors: number, what = 'tiny face detector'): TinyDetectorWeights {
  const c0 = dimOf(source, 'conv0/filters', 3, what);
  const rules = plainRules('conv0', 3, 3, c0);
  const layers: string[] = [];
  let c = c0;
  for (let i = 1; source.has(`conv${i}/depthwise_filter`); i++) {
    const cout = dimOf(source, `conv${i}/pointwise_filter`, 3, what);
    rules.push(...separableRules(`conv${i}`, c, cout));
    layers.push(`conv${i}`);
    c = cout;
  }
  if (layers.length < 5 || layers.length > 7) throw new InputError(`${what}: expected 5 to 7 separable convs conv1.., found ${layers.length}`);
  rules.push(...plainRules('conv8', 1, c, anchors * BOX_ENCODING_SIZE));
  const m = applyRules(source, rules, what);
  return { conv0: plain(m, 'conv0'), separable: layers.map((p) => separable(m, p)), head: plain(m, 'conv8') };
}

/** The 68-point landmark net's weights (136 outputs: x, y per point). */
export function landmark68Weights(source: WeightMap, outputs: number, what = '68-point landmark net'): Landmark68Weights {
  const rules: MapRule[] = [];
  let c = 3;
  let count = 0;
  for (; source.has(`dense${count}/conv1/depthwise_filter`); count++) {
    const p = `dense${count}`;
    const cout = dimOf(source, `${p}/conv1/pointwise_filter`, 3, what);
    rules.push(...(count === 0 ? plainRules(`${p}/conv0`, 3, c, cout) : separableRules(`${p}/conv0`, c, cout)));
    for (let j = 1; j < DENSE_BLOCK_CONVS; j++) rules.push(...separableRules(`${p}/conv${j}`, cout, cout));
    c = cout;
  }
  if (count === 0) throw new InputError(`${what}: no dense blocks dense0.. found (expected face-api.js's weights manifest)`);
  rules.push(
    { src: 'fc/weights', shape: [c, outputs], dst: 'fc.weight' },
    { src: 'fc/bias', shape: [outputs], dst: 'fc.bias' },
  );
  const m = applyRules(source, rules, what);
  const blocks = Array.from({ length: count }, (_, k): DenseBlockWeights => {
    const p = `dense${k}`;
    return {
      conv0: k === 0 ? plain(m, `${p}/conv0`) : separable(m, `${p}/conv0`),
      convs: [separable(m, `${p}/conv1`), separable(m, `${p}/conv2`), separable(m, `${p}/conv3`)],
    };
  });
  return { blocks, fc: { weight: m.get('fc.weight')!, bias: m.get('fc.bias')! } };
}
