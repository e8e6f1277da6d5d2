/**
 * Elementwise, matrix and reduction operators (ONNX opset 17). Binary ops broadcast numpy-style and accept plain
 * numbers, which become scalar constants of the other operand's dtype.
 */
import { Graph, Value, broadcastShapes, normAxis, type Shape } from './graph.js';

export type Operand = Value | number;

function pair(a: Operand, b: Operand, op: string): [Value, Value] {
  if (typeof a === 'number' && typeof b === 'number') throw new Error(`${op}: at least one operand must be a Value`);
  const g: Graph = (typeof a === 'number' ? (b as Value) : a).graph;
  const va = typeof a === 'number' ? g.scalar(a, (b as Value).dtype) : a;
  const vb = typeof b === 'number' ? g.scalar(b, va.dtype) : b;
  if (va.dtype !== vb.dtype) throw new Error(`${op}: dtype mismatch ${va} vs ${vb}`);
  return [va, vb];
}

function binary(op: string, a: Operand, b: Operand): Value {
  const [va, vb] = pair(a, b, op);
  const shape = broadcastShapes(va.shape, vb.shape, op);
  return va.graph.node(op, [va, vb], [{ dtype: va.dtype, shape }])[0];
}

function unary(op: string, x: Value, attrs = {}): Value {
  return x.graph.node(op, [x], [{ dtype: x.dtype, shape: x.shape }], attrs)[0];
}

export const add = (a: Operand, b: Operand): Value => binary('Add', a, b);
export const sub = (a: Operand, b: Operand): Value => binary('Sub', a, b);
export const mul = (a: Operand, b: Operand): Value => binary('Mul', a, b);
export const div = (a: Operand, b: Operand): Value => binary('Div', a, b);
export const pow = (a: Operand, b: Operand): Value => binary('Pow', a, b);

export const sqrt = (x: Value): Value => unary('Sqrt', x);
export const reciprocal = (x: Value): Value => unary('Reciprocal', x);
export const neg = (x: Value): Value => unary('Neg', x);
export const exp = (x: Value): Value => unary('Exp', x);
export const log = (x: Value): Value => unary('Log', x);
export const abs = (x: Value): Value => unary('Abs', x);
export const sigmoid = (x: Value): Value => unary('Sigmoid', x);
export const tanh = (x: Value): Value => unary('Tanh', x);
export const erf = (x: Value): Value => unary('Erf', x);
export const identity = (x: Value): Value => unary('Identity', x);
/** Round half to even (numpy `rint`); not differentiable (engine/grad.ts). */
export const round = (x: Value): Value => unary('Round', x);
export const leakyRelu = (x: Value, alpha: number): Value => unary('LeakyRelu', x, { alpha: { f: alpha } });

/** Clip(x, min, max) with scalar bounds. */
export function clip(x: Value, min: number, max: number): Value {
  const g = x.graph;
  return g.node('Clip', [x, g.scalar(min, x.dtype), g.scalar(max, x.dtype)], [{ dtype: x.dtype, shape: x.shape }])[0];
}

/** ReLU as Clip(x, 0, +inf): max(0, x), differentiated by the Clip rule. */
export const relu = (x: Value): Value => clip(x, 0, Infinity);

/** Matrix product with numpy semantics for rank >= 2 (batch dimensions broadcast). */
export function matmul(a: Value, b: Value): Value {
  if (a.rank < 2 || b.rank < 2) throw new Error(`MatMul: operands must have rank >= 2, got ${a} and ${b}`);
  if (a.dtype !== b.dtype) throw new Error(`MatMul: dtype mismatch ${a} vs ${b}`);
  const [m, k] = a.shape.slice(-2);
  const [k2, n] = b.shape.slice(-2);
  if (k !== k2) throw new Error(`MatMul: inner dimensions differ: ${a} @ ${b}`);
  const batch = broadcastShapes(a.shape.slice(0, -2), b.shape.slice(0, -2), 'MatMul');
  return a.graph.node('MatMul', [a, b], [{ dtype: a.dtype, shape: [...batch, m, n] }])[0];
}

export interface GemmOptions {
  readonly transA?: boolean;
  readonly transB?: boolean;
  readonly alpha?: number;
  readonly beta?: number;
}

/** Y = alpha * A' B' + beta * C for 2-D A, B (C broadcast to [M,N]). */
export function gemm(a: Value, b: Value, c: Value | undefined, o: GemmOptions = {}): Value {
  if (a.rank !== 2 || b.rank !== 2) throw new Error(`Gemm: operands must be 2-D, got ${a} and ${b}`);
  const [m, k] = o.transA ? [a.shape[1], a.shape[0]] : a.shape;
  const [k2, n] = o.transB ? [b.shape[1], b.shape[0]] : b.shape;
  if (k !== k2) throw new Error(`Gemm: inner dimensions differ: ${a} and ${b}`);
  if (c) broadcastShapes(c.shape, [m, n], 'Gemm C');
  const attrs = {
    transA: { i: o.transA ? 1 : 0 },
    transB: { i: o.transB ? 1 : 0 },
    alpha: { f: o.alpha ?? 1 },
    beta: { f: o.beta ?? 1 },
  };
  return a.graph.node('Gemm', c ? [a, b, c] : [a, b], [{ dtype: a.dtype, shape: [m, n] }], attrs)[0];
}

function reducedShape(shape: Shape, axes: readonly number[], keepdims: boolean): number[] {
  const out: number[] = [];
  shape.forEach((d, i) => {
    if (axes.includes(i)) {
      if (keepdims) out.push(1);
    } else out.push(d);
  });
  return out;
}

/** Sorted, normalised reduction axes; all axes when `axes` is undefined. */
export function reductionAxes(x: Value, axes: readonly number[] | undefined): number[] {
  const all = x.shape.map((_, i) => i);
  return axes === undefined ? all : [...new Set(axes.map((a) => normAxis(a, x.rank, 'reduce axis')))].sort((p, q) => p - q);
}

/** ReduceSum (opset 13+: axes as an input). */
export function reduceSum(x: Value, axes?: readonly number[], keepdims = false): Value {
  const ax = reductionAxes(x, axes);
  const g = x.graph;
  return g.node('ReduceSum', [x, g.ints(ax, 'axes')], [{ dtype: x.dtype, shape: reducedShape(x.shape, ax, keepdims) }], {
    keepdims: { i: keepdims ? 1 : 0 },
  })[0];
}

/** A reduction whose axes are an attribute at opset 17 (ReduceMean, ReduceSumSquare). */
function attrReduce(op: string, x: Value, axes: readonly number[] | undefined, keepdims: boolean): Value {
  const ax = reductionAxes(x, axes);
  return x.graph.node(op, [x], [{ dtype: x.dtype, shape: reducedShape(x.shape, ax, keepdims) }], {
    axes: { ints: ax },
    keepdims: { i: keepdims ? 1 : 0 },
  })[0];
}

/** ReduceMean (opset < 18: axes as an attribute). */
export const reduceMean = (x: Value, axes?: readonly number[], keepdims = false): Value => attrReduce('ReduceMean', x, axes, keepdims);

/** ReduceSumSquare, sum of x^2 (axes as an attribute); its VJP is one broadcast Mul, 2 x g. */
export const reduceSumSquare = (x: Value, axes?: readonly number[], keepdims = false): Value => attrReduce('ReduceSumSquare', x, axes, keepdims);

export function softmax(x: Value, axis = -1): Value {
  return unary('Softmax', x, { axis: { i: normAxis(axis, x.rank) } });
}

/**
 * LayerNormalization over the last dimension (Ba et al. 2016): (x - mean) / sqrt(var + eps) * scale + bias.
 * The node also emits Mean and InvStdDev, which the gradient pass reuses.
 */
export function layerNorm(x: Value, scale: Value, bias: Value, epsilon = 1e-5): Value {
  const d = x.shape[x.rank - 1];
  if (scale.rank !== 1 || scale.shape[0] !== d || bias.rank !== 1 || bias.shape[0] !== d) {
    throw new Error(`LayerNormalization: scale ${scale} and bias ${bias} must be [${d}] for input ${x}`);
  }
  const statShape = [...x.shape.slice(0, -1), 1];
  // Mean and InvStdDev have the stash type, float32 by default (ONNX LayerNormalization-17).
  return x.graph.node(
    'LayerNormalization',
    [x, scale, bias],
    [
      { dtype: x.dtype, shape: x.shape },
      { dtype: 'float32', shape: statShape },
      { dtype: 'float32', shape: statShape },
    ],
    { axis: { i: -1 }, epsilon: { f: epsilon } },
  )[0];
}

/** Elementwise comparison producing bool. */
export function greater(a: Operand, b: Operand): Value {
  const [va, vb] = pair(a, b, 'Greater');
  return va.graph.node('Greater', [va, vb], [{ dtype: 'bool', shape: broadcastShapes(va.shape, vb.shape, 'Greater') }])[0];
}

export function less(a: Operand, b: Operand): Value {
  const [va, vb] = pair(a, b, 'Less');
  return va.graph.node('Less', [va, vb], [{ dtype: 'bool', shape: broadcastShapes(va.shape, vb.shape, 'Less') }])[0];
}

/** where(cond, a, b) with broadcasting. */
export function where(cond: Value, a: Operand, b: Operand): Value {
  const [va, vb] = pair(a, b, 'Where');
  const shape = broadcastShapes(cond.shape, broadcastShapes(va.shape, vb.shape, 'Where'), 'Where');
  return cond.graph.node('Where', [cond, va, vb], [{ dtype: va.dtype, shape }])[0];
}

/** Row-wise L2 normalisation of [N, D] embeddings: x / ||x||_2 per row. */
export function normalizeRows(x: Value): Value {
  return div(x, sqrt(reduceSum(mul(x, x), [1], true))); // [N, D]
}
