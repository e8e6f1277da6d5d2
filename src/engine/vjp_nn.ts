/**
 * VJP rules for convolution, transposed convolution, average and max pooling and nearest resizing.
 *
 * Conv input-gradient: ConvTranspose with the same weight — or, when the weight is a constant and the conv has unit
 * stride and dilation, a plain Conv with the weight transposed per group and flipped spatially (precomputed), which
 * onnxruntime runs with its fastest kernels; a graph-valued weight gets the same flipped Conv with the weight
 * transposed and flipped in the graph. Conv weight-gradient: for stride-1 3x3 convolutions an engine-internal
 * ConvWeightGrad node, expanded by the lowering (./lower.ts) into Winograd F(3x3, m x m) or the per-tap GEMMs below;
 * for other ungrouped, undilated convolutions with small kernels, one GEMM per kernel tap,
 * dW[:, :, i, j] = gy [M, N·OH·OW] · x_ij^T with x_ij the padded input sampled at (i + s·oh, j + s·ow) (MLAS's GEMM
 * runs these long-K products near its peak; measured 2.4x faster than the conv form at 128 ch, 256 px); otherwise a
 * Conv of the input (batch and channel axes swapped) with the output gradient as the kernel, stride and dilation
 * exchanged (Dumoulin & Visin 2016, "A guide to convolution arithmetic", sec. 4). ConvTranspose swaps the roles.
 */
import { Value, type VjpRule } from './graph.js';
import { gemm, mul, reduceSum } from './ops_math.js';
import { conv, convOptionsOf, convTranspose, averagePool, scatterNDAdd, type ResolvedConv } from './ops_nn.js';
import { concat, expand, gather, pad, reshape, slice, stridedSlice, transpose } from './ops_shape.js';
import { numel } from './tensor.js';
import { winogradTakes } from './winograd.js';

/** `w[m, c, i, j]` (M x C/g per group) -> `w'[c, m, kh-1-i, kw-1-j]` (C x M/g per group), on host data. */
function flipTransposeWeight(w: Float32Array, shape: readonly number[], group: number): Float32Array {
  const [m, cpg, kh, kw] = shape;
  const mpg = m / group;
  const out = new Float32Array(w.length);
  for (let gi = 0; gi < group; gi++)
    for (let mo = 0; mo < mpg; mo++)
      for (let c = 0; c < cpg; c++)
        for (let i = 0; i < kh; i++)
          for (let j = 0; j < kw; j++) {
            const src = (((gi * mpg + mo) * cpg + c) * kh + i) * kw + j;
            const dst = (((gi * cpg + c) * mpg + mo) * kh + (kh - 1 - i)) * kw + (kw - 1 - j);
            out[dst] = w[src];
          }
  return out;
}

/** d conv(x, w) / d x applied to `gy`. */
function convInputGrad(x: Value, w: Value, gy: Value, c: ResolvedConv): Value {
  const [, , kh, kw] = w.shape;
  const host = w.graph.initializers.get(w.name);
  const unit = c.strides.every((s) => s === 1) && c.dilations.every((d) => d === 1);
  const padsFit = c.pads[0] <= kh - 1 && c.pads[2] <= kh - 1 && c.pads[1] <= kw - 1 && c.pads[3] <= kw - 1;
  if (unit && padsFit && (host ? host.dtype === 'float32' : c.group === 1)) {
    const [m, cpg] = w.shape;
    const wt = host
      ? x.graph.constant({ dtype: 'float32', shape: [cpg * c.group, m / c.group, kh, kw], data: flipTransposeWeight(host.data as Float32Array, w.shape, c.group) }, `${w.name}_flipT`)
      : flipSpatial(transpose(w, [1, 0, 2, 3])); // [C, M, kh, kw], flipped
    const pads: [number, number, number, number] = [kh - 1 - c.pads[0], kw - 1 - c.pads[1], kh - 1 - c.pads[2], kw - 1 - c.pads[3]];
    const gx = conv(gy, wt, undefined, { pads, group: c.group });
    return fitSpatial(gx, x.shape);
  }
  const outH = c.strides[0] * (gy.shape[2] - 1) + c.dilations[0] * (kh - 1) + 1 - c.pads[0] - c.pads[2];
  const outW = c.strides[1] * (gy.shape[3] - 1) + c.dilations[1] * (kw - 1) + 1 - c.pads[1] - c.pads[3];
  return convTranspose(gy, w, undefined, { ...c, outputPadding: [x.shape[2] - outH, x.shape[3] - outW] });
}

/**
 * w[..., kh-1-i, kw-1-j] (a graph-valued kernel flipped spatially): one Gather reversing the kh*kw taps of each
 * filter, since reversing the row-major tap index i*kw + j flips both axes.
 */
function flipSpatial(w: Value): Value {
  const [a, b, kh, kw] = w.shape;
  const taps = kh * kw;
  const rev = w.graph.constant({ dtype: 'int64', shape: [taps], data: BigInt64Array.from({ length: taps }, (_, i) => BigInt(taps - 1 - i)) }, `flip${taps}`);
  return reshape(gather(reshape(w, [a, b, taps]), rev, 2), w.shape);
}

/** Crops trailing rows/columns a stride left uncovered; zero-pads are never needed by construction. */
function fitSpatial(v: Value, shape: readonly number[]): Value {
  if (v.shape[2] === shape[2] && v.shape[3] === shape[3]) return v;
  if (v.shape[2] < shape[2] || v.shape[3] < shape[3]) throw new Error(`grad: spatial size ${v} smaller than ${shape}`);
  return slice(v, [2, 3], [0, 0], [shape[2], shape[3]]);
}

/**
 * d conv(x, w) / d w applied to `gy`, for w of shape `wShape` [M, C/g, kh, kw]:
 * dW[m, c, i, j] = sum_{n, oh, ow} gy[n, m, oh, ow] * xpad[n, g(m) C/g + c, oh*s + i*d, ow*s + j*d].
 */
function convWeightGrad(x: Value, gy: Value, wShape: readonly number[], c: ResolvedConv): Value {
  if (winogradTakes(x.dtype, wShape, c)) {
    const attrs = { pads: { ints: [...c.pads] } };
    return x.graph.node(CONV_WEIGHT_GRAD.op, [x, gy], [{ dtype: x.dtype, shape: [...wShape] }], attrs, CONV_WEIGHT_GRAD.domain)[0];
  }
  if (c.group === 1 && c.dilations.every((d) => d === 1) && wShape[2] * wShape[3] <= MAX_GEMM_TAPS) return convWeightGradGemm(x, gy, wShape, c);
  const [n, , h, wd] = x.shape;
  const [m, cpg, kh, kw] = wShape;
  const g = c.group;
  const mpg = m / g;
  const [, , oh, ow] = gy.shape;
  const xT = reshape(transpose(reshape(x, [n, g, cpg, h, wd]), [2, 1, 0, 3, 4]), [cpg, g * n, h, wd]); // [C/g, g*N, H, W]
  const gyT = reshape(transpose(reshape(gy, [n, g, mpg, oh, ow]), [1, 2, 0, 3, 4]), [m, n, oh, ow]); // [M, N, OH, OW]
  const dw = conv(xT, gyT, undefined, { strides: c.dilations, dilations: c.strides, pads: c.pads, group: g }); // [C/g, M, kh', kw']
  const cropped = dw.shape[2] === kh && dw.shape[3] === kw ? dw : slice(dw, [2, 3], [0, 0], [kh, kw]);
  return transpose(cropped, [1, 0, 2, 3]); // [M, C/g, kh, kw]
}

/**
 * The engine-internal node a stride-1 3x3 conv's weight gradient is left as: inputs (x, gy), attribute pads, output
 * dW. The lowering (./lower.ts, run on every graph before it is serialised) expands it into the per-tap GEMMs or
 * Winograd F(3x3, m x m) (./winograd.ts) by the measured rule; it never reaches onnxruntime.
 */
export const CONV_WEIGHT_GRAD = { op: 'ConvWeightGrad', domain: 'styleclip.engine' } as const;

/** Kernels up to this many taps take the per-tap GEMM weight gradient (3x3 and 4x4; 7x7 stems keep the conv form). */
const MAX_GEMM_TAPS = 16;

/** The weight gradient as one GEMM per tap (see the header); group 1, dilation 1. */
export function convWeightGradGemm(x: Value, gy: Value, wShape: readonly number[], c: ResolvedConv): Value {
  const [n, ch] = x.shape;
  const [m, , kh, kw] = wShape;
  const [, , oh, ow] = gy.shape;
  const [sh, sw] = c.strides;
  const a = n === 1 ? reshape(gy, [m, oh * ow]) : reshape(transpose(gy, [1, 0, 2, 3]), [m, n * oh * ow]); // [M, N·OH·OW]
  const padded = c.pads.some((p) => p > 0) ? pad(x, [[0, 0], [0, 0], [c.pads[0], c.pads[2]], [c.pads[1], c.pads[3]]]) : x;
  const xt = n === 1 ? padded : transpose(padded, [1, 0, 2, 3]); // [C, N, Hp, Wp]
  const taps: Value[] = [];
  for (let i = 0; i < kh; i++)
    for (let j = 0; j < kw; j++) {
      const b = reshape(stridedSlice(xt, [2, 3], [i, j], [oh, ow], [sh, sw]), [ch, n * oh * ow]); // [C, N·OH·OW]
      taps.push(reshape(gemm(a, b, undefined, { transB: true }), [m, ch, 1])); // [M, C, 1]
    }
  return reshape(concat(taps, 2), [m, ch, kh, kw]);
}

const biasGrad = (gy: Value): Value => reduceSum(gy, [0, 2, 3]);

export const NN_RULES: Readonly<Record<string, VjpRule>> = {
  Conv: (n, go, want) => {
    const [x, w] = [n.inputs[0] as Value, n.inputs[1] as Value];
    const gy = go[0] as Value;
    const c = convOptionsOf(n);
    return [
      want[0] ? convInputGrad(x, w, gy, c) : undefined,
      want[1] ? convWeightGrad(x, gy, w.shape, c) : undefined,
      want[2] ? biasGrad(gy) : undefined,
    ];
  },
  ConvTranspose: (n, go, want) => {
    const [x, w] = [n.inputs[0] as Value, n.inputs[1] as Value];
    const gy = go[0] as Value;
    const c = convOptionsOf(n);
    // y = conv^T(x, w)  <=>  x-space adjoint: gx = conv(gy, w); gw from the conv weight rule with x and gy exchanged.
    return [
      want[0] ? fitSpatial(conv(gy, w, undefined, c), x.shape) : undefined,
      want[1] ? convWeightGrad(gy, x, w.shape, c) : undefined,
      want[2] ? biasGrad(gy) : undefined,
    ];
  },
  AveragePool: (n, go) => {
    const x = n.inputs[0] as Value;
    const ints = (k: string): number[] => (n.attrs[k] as { ints: number[] }).ints;
    const [kh, kw] = ints('kernel_shape');
    const pads = ints('pads') as [number, number, number, number];
    const strides = ints('strides') as [number, number];
    const includePad = (n.attrs.count_include_pad as { i: number }).i === 1;
    if (!includePad && pads.some((p) => p > 0)) {
      throw new Error('grad: AveragePool with padding needs count_include_pad=1 to be differentiated');
    }
    const ch = x.shape[1];
    const ones = x.graph.constant({ dtype: 'float32', shape: [ch, 1, kh, kw], data: new Float32Array(ch * kh * kw).fill(1 / (kh * kw)) }, 'avgpool_vjp');
    const gy = go[0] as Value;
    const outH = strides[0] * (gy.shape[2] - 1) + kh - pads[0] - pads[2];
    const outW = strides[1] * (gy.shape[3] - 1) + kw - pads[1] - pads[3];
    return [
      convTranspose(gy, ones, undefined, { strides, pads, group: ch, outputPadding: [x.shape[2] - outH, x.shape[3] - outW] }),
    ];
  },
  MaxPool: (n, go) => {
    // The gradient goes to each window's winner: MaxPool's second output (the winners' flat NCHW indices, ONNX spec)
    // scatters the output gradient into zeros; a cell that wins several windows collects all their gradients.
    const x = n.inputs[0] as Value;
    const y = n.outputs[0];
    const [, winners] = x.graph.node('MaxPool', [x], [{ dtype: x.dtype, shape: y.shape }, { dtype: 'int64', shape: y.shape }], n.attrs);
    const zeros = expand(x.graph.scalar(0, x.dtype), [numel(x.shape)]);
    const flat = scatterNDAdd(zeros, reshape(winners, [numel(y.shape), 1]), reshape(go[0] as Value, [numel(y.shape)]));
    return [reshape(flat, x.shape)];
  },
  Resize: (n, go) => {
    const x = n.inputs[0] as Value;
    const mode = (n.attrs.mode as { s: string }).s;
    const y = n.outputs[0];
    const f = y.shape[2] / x.shape[2];
    if (mode !== 'nearest' || !Number.isInteger(f) || y.shape[3] / x.shape[3] !== f) {
      throw new Error('grad: Resize is differentiable for nearest upsampling by an integer factor only');
    }
    return [mul(averagePool(go[0] as Value, [f, f]), f * f)];
  },
};
