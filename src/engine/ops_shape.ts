/**
 * Shape and data-movement operators (ONNX opset 17): Reshape, Transpose, Slice, Concat, Gather, Expand, Cast, Pad.
 */
import { Value, broadcastShapes, normAxis, type Shape } from './graph.js';
import { numel, shapeStr, type DType } from './tensor.js';

/** Reshape to a static shape; at most one -1 is inferred. */
export function reshape(x: Value, shape: readonly number[]): Value {
  const known = shape.filter((d) => d !== -1);
  const infer = shape.length - known.length;
  if (infer > 1) throw new Error(`Reshape: more than one -1 in ${shapeStr(shape)}`);
  const k = numel(known);
  const out = shape.map((d) => (d === -1 ? x.size / k : d));
  if (numel(out) !== x.size || out.some((d) => !Number.isInteger(d))) {
    throw new Error(`Reshape: cannot reshape ${x} to ${shapeStr(shape)}`);
  }
  if (out.length === x.rank && out.every((d, i) => d === x.shape[i])) return x;
  const g = x.graph;
  return g.node('Reshape', [x, g.ints(out, 'shape')], [{ dtype: x.dtype, shape: out }])[0];
}

export function transpose(x: Value, perm: readonly number[]): Value {
  if (perm.length !== x.rank || [...perm].sort((a, b) => a - b).some((p, i) => p !== i)) {
    throw new Error(`Transpose: bad permutation [${perm.join(',')}] for ${x}`);
  }
  if (perm.every((p, i) => p === i)) return x;
  return x.graph.node('Transpose', [x], [{ dtype: x.dtype, shape: perm.map((p) => x.shape[p]) }], {
    perm: { ints: [...perm] },
  })[0];
}

/** Slice with step 1: `[start, end)` along each listed axis (negative indices count from the end). */
export function slice(x: Value, axes: readonly number[], starts: readonly number[], ends: readonly number[]): Value {
  const shape = [...x.shape];
  const ax = axes.map((a) => normAxis(a, x.rank, 'Slice axis'));
  const st: number[] = [];
  const en: number[] = [];
  ax.forEach((a, i) => {
    const d = x.shape[a];
    const clampIdx = (v: number): number => Math.min(Math.max(v < 0 ? v + d : v, 0), d);
    st.push(clampIdx(starts[i]));
    en.push(Math.max(clampIdx(ends[i]), st[i]));
    shape[a] = en[i] - st[i];
  });
  const g = x.graph;
  return g.node('Slice', [x, g.ints(st, 'starts'), g.ints(en, 'ends'), g.ints(ax, 'axes')], [{ dtype: x.dtype, shape }])[0];
}

/** Every `step`-th element from `start` along each listed axis, `count` of them (ONNX Slice with positive steps). */
export function stridedSlice(x: Value, axes: readonly number[], starts: readonly number[], counts: readonly number[], steps: readonly number[]): Value {
  const shape = [...x.shape];
  const ax = axes.map((a) => normAxis(a, x.rank, 'Slice axis'));
  const ends = ax.map((a, i) => {
    const end = starts[i] + steps[i] * (counts[i] - 1) + 1;
    if (starts[i] < 0 || steps[i] < 1 || counts[i] < 1 || end > x.shape[a]) throw new Error(`stridedSlice: ${counts[i]} elements from ${starts[i]} by ${steps[i]} do not fit axis ${a} of ${x}`);
    shape[a] = counts[i];
    return end;
  });
  const g = x.graph;
  return g.node('Slice', [x, g.ints(starts, 'starts'), g.ints(ends, 'ends'), g.ints(ax, 'axes'), g.ints(steps, 'steps')], [{ dtype: x.dtype, shape }])[0];
}

export function concat(xs: readonly Value[], axis: number): Value {
  if (xs.length === 0) throw new Error('Concat: no inputs');
  if (xs.length === 1) return xs[0];
  const a = normAxis(axis, xs[0].rank, 'Concat axis');
  const shape = [...xs[0].shape];
  shape[a] = 0;
  for (const x of xs) {
    if (x.rank !== shape.length || x.dtype !== xs[0].dtype || x.shape.some((d, i) => i !== a && d !== xs[0].shape[i])) {
      throw new Error(`Concat: ${x} does not match ${xs[0]} outside axis ${a}`);
    }
    shape[a] += x.shape[a];
  }
  return xs[0].graph.node('Concat', xs, [{ dtype: xs[0].dtype, shape }], { axis: { i: a } })[0];
}

/** Gather along `axis` with an int64/int32 index tensor (indices must be in range). */
export function gather(x: Value, indices: Value, axis = 0): Value {
  const a = normAxis(axis, x.rank, 'Gather axis');
  if (indices.dtype !== 'int64' && indices.dtype !== 'int32') throw new Error(`Gather: indices must be integer, got ${indices}`);
  const shape = [...x.shape.slice(0, a), ...indices.shape, ...x.shape.slice(a + 1)];
  return x.graph.node('Gather', [x, indices], [{ dtype: x.dtype, shape }], { axis: { i: a } })[0];
}

/** Broadcast to `shape` (numpy rules). */
export function expand(x: Value, shape: Shape): Value {
  const out = broadcastShapes(x.shape, shape, 'Expand');
  if (out.length === x.rank && out.every((d, i) => d === x.shape[i])) return x;
  const g = x.graph;
  return g.node('Expand', [x, g.ints(shape, 'shape')], [{ dtype: x.dtype, shape: out }])[0];
}

const ONNX_DTYPE: Readonly<Partial<Record<DType, number>>> = {
  float32: 1,
  uint8: 2,
  int8: 3,
  int16: 5,
  int32: 6,
  int64: 7,
  bool: 9,
  float16: 10,
  float64: 11,
  bfloat16: 16,
};

/** TensorProto.DataType code of a dtype (onnx.proto). */
export function onnxDtype(d: DType): number {
  const c = ONNX_DTYPE[d];
  if (c === undefined) throw new Error(`dtype ${d} has no ONNX code`);
  return c;
}

export function cast(x: Value, to: DType): Value {
  if (x.dtype === to) return x;
  return x.graph.node('Cast', [x], [{ dtype: to, shape: x.shape }], { to: { i: onnxDtype(to) } })[0];
}

export type PadMode = 'constant' | 'reflect' | 'edge';

/** Pad with per-axis [before, after] amounts (negative amounts crop), constant value 0 unless given. */
export function pad(x: Value, pads: readonly (readonly [number, number])[], mode: PadMode = 'constant', value = 0): Value {
  if (pads.length !== x.rank) throw new Error(`Pad: need ${x.rank} [before, after] pairs, got ${pads.length}`);
  const shape = x.shape.map((d, i) => d + pads[i][0] + pads[i][1]);
  if (shape.some((d) => d < 0)) throw new Error(`Pad: pads crop ${x} below zero`);
  if (mode === 'reflect' && pads.some(([b, e], i) => b >= x.shape[i] || e >= x.shape[i])) {
    throw new Error(`Pad: reflect padding must be smaller than the padded dimension of ${x}`);
  }
  const g = x.graph;
  const flat = [...pads.map((p) => p[0]), ...pads.map((p) => p[1])];
  const inputs = [x, g.ints(flat, 'pads'), ...(mode === 'constant' ? [g.scalar(value, x.dtype)] : [])];
  return g.node('Pad', inputs, [{ dtype: x.dtype, shape }], { mode: { s: mode } })[0];
}
