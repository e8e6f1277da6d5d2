/**
 * Vector-Jacobian products for elementwise, matrix, reduction and shape operators. A rule receives the forward node,
 * the upstream gradients of its outputs, and which inputs need a gradient; it emits backward nodes with the ordinary
 * op functions and returns one gradient (or undefined) per input. Convolution-family rules are in vjp_nn.ts.
 */
import { Value, type Node, type VjpRule } from './graph.js';
import {
  clip,
  div,
  exp,
  greater,
  less,
  log,
  matmul,
  mul,
  neg,
  pow,
  reduceMean,
  reduceSum,
  sub,
  where,
} from './ops_math.js';
import { cast, expand, pad, reshape, slice, transpose } from './ops_shape.js';
import { scatterNDAdd } from './ops_nn.js';
import { NN_RULES } from './vjp_nn.js';

export type { VjpRule } from './graph.js';

/** Sums `d` over the axes that broadcasting expanded so it has `shape`. */
export function unbroadcast(d: Value, shape: readonly number[]): Value {
  if (d.rank === shape.length && d.shape.every((s, i) => s === shape[i])) return d;
  const lead = d.rank - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < d.rank; i++) {
    if (i < lead || (shape[i - lead] === 1 && d.shape[i] !== 1)) axes.push(i);
  }
  return reshape(axes.length ? reduceSum(d, axes, true) : d, shape);
}

const inp = (n: Node, k: number): Value => n.inputs[k] as Value;
const out = (n: Node, k = 0): Value => n.outputs[k];
const g0 = (gouts: readonly (Value | undefined)[]): Value => gouts[0] as Value;

/** Swaps the last two axes. */
function mT(x: Value): Value {
  const perm = x.shape.map((_, i) => i);
  [perm[x.rank - 2], perm[x.rank - 1]] = [perm[x.rank - 1], perm[x.rank - 2]];
  return transpose(x, perm);
}

/** The upstream gradient of a reduction reshaped to the input's rank, reduced axes kept as 1 (broadcastable). */
function keptDims(n: Node, d: Value): Value {
  const x = inp(n, 0);
  const axes = 'axes' in n.attrs ? (n.attrs.axes as { ints: number[] }).ints : readIntsInput(n, 1);
  return reshape(d, x.shape.map((s, i) => (axes.includes(i) ? 1 : s)));
}

/** Reshapes a reduced gradient back to keepdims form and broadcasts it over the reduced axes. */
const unreduce = (n: Node, d: Value): Value => expand(keptDims(n, d), inp(n, 0).shape);

const ELEMENTWISE: Record<string, VjpRule> = {
  Identity: (_n, go) => [g0(go)],
  Neg: (_n, go) => [neg(g0(go))],
  Add: (n, go, w) => [w[0] ? unbroadcast(g0(go), inp(n, 0).shape) : undefined, w[1] ? unbroadcast(g0(go), inp(n, 1).shape) : undefined],
  Sub: (n, go, w) => [
    w[0] ? unbroadcast(g0(go), inp(n, 0).shape) : undefined,
    w[1] ? unbroadcast(neg(g0(go)), inp(n, 1).shape) : undefined,
  ],
  Mul: (n, go, w) => [
    w[0] ? unbroadcast(mul(g0(go), inp(n, 1)), inp(n, 0).shape) : undefined,
    w[1] ? unbroadcast(mul(g0(go), inp(n, 0)), inp(n, 1).shape) : undefined,
  ],
  Div: (n, go, w) => [
    w[0] ? unbroadcast(div(g0(go), inp(n, 1)), inp(n, 0).shape) : undefined,
    w[1] ? unbroadcast(neg(div(mul(g0(go), out(n)), inp(n, 1))), inp(n, 1).shape) : undefined,
  ],
  Pow: (n, go, w) => {
    const [a, b] = [inp(n, 0), inp(n, 1)];
    return [
      w[0] ? unbroadcast(mul(g0(go), mul(b, pow(a, sub(b, 1)))), a.shape) : undefined,
      w[1] ? unbroadcast(mul(g0(go), mul(out(n), log(a))), b.shape) : undefined,
    ];
  },
  Sqrt: (n, go) => [div(mul(g0(go), 0.5), out(n))],
  Reciprocal: (n, go) => [neg(mul(g0(go), mul(out(n), out(n))))],
  Exp: (n, go) => [mul(g0(go), out(n))],
  Log: (n, go) => [div(g0(go), inp(n, 0))],
  Abs: (n, go) => [where(less(inp(n, 0), 0), neg(g0(go)), g0(go))],
  Sigmoid: (n, go) => [mul(g0(go), mul(out(n), sub(1, out(n))))],
  Tanh: (n, go) => [mul(g0(go), sub(1, mul(out(n), out(n))))],
  // d erf(x)/dx = 2/sqrt(pi) exp(-x^2)
  Erf: (n, go) => [mul(g0(go), mul(2 / Math.sqrt(Math.PI), exp(neg(mul(inp(n, 0), inp(n, 0))))))],
  LeakyRelu: (n, go) => {
    const alpha = (n.attrs.alpha as { f: number }).f;
    const x = inp(n, 0);
    // The slope 1 or alpha as Clip(Cast(x > 0), alpha, 1) — exactly 1 and alpha — times the gradient: the same bits
    // as Where(x > 0, g, g * alpha), and at 256 px x 128 ch x 2 half its time (onnxruntime's Where is a generic
    // broadcasting select; Cast, Clip and Mul are vectorised).
    if (alpha >= 0 && alpha <= 1) return [mul(g0(go), clip(cast(greater(x, 0), x.dtype), alpha, 1))];
    return [where(greater(x, 0), g0(go), mul(g0(go), alpha))];
  },
  Clip: (n, go) => {
    const [x, lo, hi] = [inp(n, 0), inp(n, 1), inp(n, 2)];
    return [where(greater(x, hi), 0, where(less(x, lo), 0, g0(go)))];
  },
  Where: (n, go, w) => {
    const c = inp(n, 0);
    return [
      undefined,
      w[1] ? unbroadcast(where(c, g0(go), 0), inp(n, 1).shape) : undefined,
      w[2] ? unbroadcast(where(c, 0, g0(go)), inp(n, 2).shape) : undefined,
    ];
  },
  Cast: (n, go) => [cast(g0(go), inp(n, 0).dtype)],
};

const LINALG: Record<string, VjpRule> = {
  MatMul: (n, go, w) => {
    const [a, b] = [inp(n, 0), inp(n, 1)];
    return [
      w[0] ? unbroadcast(matmul(g0(go), mT(b)), a.shape) : undefined,
      w[1] ? unbroadcast(matmul(mT(a), g0(go)), b.shape) : undefined,
    ];
  },
  Gemm: (n, go, w) => {
    const [a, b, c] = [inp(n, 0), inp(n, 1), n.inputs[2]];
    const at = (n.attrs.transA as { i: number }).i === 1;
    const bt = (n.attrs.transB as { i: number }).i === 1;
    const alpha = (n.attrs.alpha as { f: number }).f;
    const beta = (n.attrs.beta as { f: number }).f;
    const d = g0(go);
    const aEff = at ? transpose(a, [1, 0]) : a;
    const bEff = bt ? transpose(b, [1, 0]) : b;
    const ga = w[0] ? mul(matmul(d, transpose(bEff, [1, 0])), alpha) : undefined;
    const gb = w[1] ? mul(matmul(transpose(aEff, [1, 0]), d), alpha) : undefined;
    return [
      ga && at ? transpose(ga, [1, 0]) : ga,
      gb && bt ? transpose(gb, [1, 0]) : gb,
      c && w[2] ? unbroadcast(mul(d, beta), c.shape) : undefined,
    ];
  },
  ReduceSum: (n, go) => [unreduce(n, g0(go))],
  // d/dx sum x^2 = 2 x g: the kept-dims gradient broadcasts in the Mul, so no Expand (the demodulation sums of a
  // trained generator's weights: one Mul per weight instead of an Expand, two Muls and an Add).
  ReduceSumSquare: (n, go) => [mul(inp(n, 0), mul(keptDims(n, g0(go)), 2))],
  ReduceMean: (n, go) => {
    const x = inp(n, 0);
    const y = out(n);
    return [div(unreduce(n, g0(go)), x.size / y.size)];
  },
  Softmax: (n, go) => {
    const axis = (n.attrs.axis as { i: number }).i;
    const y = out(n);
    const d = g0(go);
    return [mul(y, sub(d, reduceSum(mul(d, y), [axis], true)))];
  },
  LayerNormalization: (n, go, w) => {
    const [x, scale] = [inp(n, 0), inp(n, 1)];
    const [mean, invStd] = [cast(out(n, 1), x.dtype), cast(out(n, 2), x.dtype)];
    const d = g0(go);
    const xhat = mul(sub(x, mean), invStd);
    const dxhat = mul(d, scale);
    const lead = x.shape.slice(0, -1).map((_, i) => i);
    const gx = mul(invStd, sub(sub(dxhat, reduceMean(dxhat, [-1], true)), mul(xhat, reduceMean(mul(dxhat, xhat), [-1], true))));
    return [
      w[0] ? gx : undefined,
      w[1] ? reshape(reduceSum(mul(d, xhat), lead), scale.shape) : undefined,
      w[2] ? reshape(reduceSum(d, lead), scale.shape) : undefined,
    ];
  },
};

const SHAPE: Record<string, VjpRule> = {
  Reshape: (n, go) => [reshape(g0(go), inp(n, 0).shape)],
  Transpose: (n, go) => {
    const perm = (n.attrs.perm as { ints: number[] }).ints;
    const inv = perm.map((_, i) => perm.indexOf(i));
    return [transpose(g0(go), inv)];
  },
  Expand: (n, go) => [unbroadcast(g0(go), inp(n, 0).shape)],
  Slice: (n, go) => {
    const x = inp(n, 0);
    if (n.inputs[4] && readIntsInput(n, 4).some((v) => v !== 1)) throw new Error('grad: Slice with steps other than 1 is not differentiable here');
    const consts = [1, 2, 3].map((k) => readIntsInput(n, k));
    const [starts, ends, axes] = consts;
    const pads: [number, number][] = x.shape.map(() => [0, 0]);
    axes.forEach((a, i) => (pads[a] = [starts[i], x.shape[a] - ends[i]]));
    return [pad(g0(go), pads)];
  },
  Concat: (n, go) => {
    const axis = (n.attrs.axis as { i: number }).i;
    let offset = 0;
    return n.inputs.map((x) => {
      const v = x as Value;
      const s = slice(g0(go), [axis], [offset], [offset + v.shape[axis]]);
      offset += v.shape[axis];
      return s;
    });
  },
  Pad: (n, go) => {
    const mode = (n.attrs.mode as { s: string }).s;
    if (mode !== 'constant') throw new Error(`grad: Pad mode '${mode}' is not differentiable here; use constant padding`);
    const x = inp(n, 0);
    const p = readIntsInput(n, 1);
    if (p.some((v) => v < 0)) throw new Error('grad: Pad with negative (cropping) pads is not supported');
    const axes = x.shape.map((_, i) => i);
    return [slice(g0(go), axes, axes.map((a) => p[a]), axes.map((a) => p[a] + x.shape[a]))];
  },
  Gather: (n, go) => {
    const [x, idx] = [inp(n, 0), inp(n, 1)];
    const axis = (n.attrs.axis as { i: number }).i;
    if (axis !== 0) throw new Error('grad: Gather is differentiable along axis 0 only');
    const zeros = expand(x.graph.scalar(0, x.dtype), x.shape);
    const indices = reshape(cast(idx, 'int64'), [...idx.shape, 1]);
    return [scatterNDAdd(zeros, indices, g0(go)), undefined];
  },
};

function readIntsInput(n: Node, k: number): number[] {
  const v = n.inputs[k] as Value;
  const t = v.graph.initializers.get(v.name);
  if (!t) throw new Error(`grad: ${n.op} input ${k} must be a constant`);
  return Array.from(t.data as BigInt64Array, Number);
}

export const VJP_RULES: Readonly<Record<string, VjpRule>> = { ...ELEMENTWISE, ...LINALG, ...SHAPE, ...NN_RULES };

