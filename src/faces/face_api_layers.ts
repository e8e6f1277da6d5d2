/**
 * The layers face-api.js builds its networks from, as engine ops on NCHW values: TensorFlow's 'SAME' padding (the odd
 * cell goes after, tensorflow/core/framework/kernel_shape_util.cc `GetWindowedOutputSize`), `tf.separableConv2d`
 * (+ bias) and mean subtraction. Used by ./tiny_face_detector.ts and ./landmark68.ts.
 */
import type { Graph, Value } from '../engine/graph.js';
import { div, sub } from '../engine/ops_math.js';
import { conv } from '../engine/ops_nn.js';
import { f32 } from '../engine/tensor.js';
import type { PlainConv, SeparableConv } from './face_api_weights.js';

/** ONNX pads [top, left, bottom, right] equal to TF 'SAME' for a k x k window at stride s on an h x w input. */
export function tfSamePads(h: number, w: number, k: number, s: number): [number, number, number, number] {
  const total = (n: number): number => Math.max((Math.ceil(n / s) - 1) * s + k - n, 0);
  const [th, tw] = [total(h), total(w)];
  return [Math.floor(th / 2), Math.floor(tw / 2), th - Math.floor(th / 2), tw - Math.floor(tw / 2)];
}

/** A plain conv with bias; `pads` as ONNX orders them. */
export function plainConv(g: Graph, x: Value, c: PlainConv, name: string, stride = 1, pads: readonly [number, number, number, number] = [0, 0, 0, 0]): Value {
  return conv(x, g.constant(c.weight, `${name}_w`), g.constant(c.bias, `${name}_b`), { strides: [stride, stride], pads });
}

/** `tf.separableConv2d` + bias: depthwise (group = channels, with the window's stride and pads), then pointwise. */
export function separableConv(g: Graph, x: Value, c: SeparableConv, name: string, stride: number, pads: readonly [number, number, number, number]): Value {
  const depthwise = conv(x, g.constant(c.depthwise, `${name}_dw`), undefined, { strides: [stride, stride], pads, group: x.shape[1] });
  return conv(depthwise, g.constant(c.pointwise, `${name}_pw`), g.constant(c.bias, `${name}_b`));
}

/** face-api.js `normalize(x, meanRgb).div(divisor)` on x [N,3,H,W] in [0, 255]. */
export function normalizeRgb(g: Graph, x: Value, meanRgb: readonly [number, number, number], divisor: number): Value {
  return div(sub(x, g.constant(f32([1, 3, 1, 1], Float32Array.from(meanRgb)), 'mean_rgb')), divisor);
}
