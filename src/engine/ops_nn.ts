/**
 * Convolution, pooling and resampling operators on NCHW tensors (ONNX opset 17).
 * Output sizes follow the ONNX Conv/ConvTranspose/AveragePool specs.
 */
import { Value, type Attrs, type Node } from './graph.js';
import { shapeStr } from './tensor.js';

export interface ConvOptions {
  /** [sh, sw]; default 1. */
  readonly strides?: readonly [number, number];
  /** [top, left, bottom, right] as ONNX orders them; default 0. */
  readonly pads?: readonly [number, number, number, number];
  readonly dilations?: readonly [number, number];
  readonly group?: number;
}

export interface ConvTransposeOptions extends ConvOptions {
  readonly outputPadding?: readonly [number, number];
}

export interface ResolvedConv {
  readonly strides: [number, number];
  readonly pads: [number, number, number, number];
  readonly dilations: [number, number];
  readonly group: number;
}

export function resolveConv(o: ConvOptions): ResolvedConv {
  return {
    strides: [...(o.strides ?? [1, 1])] as [number, number],
    pads: [...(o.pads ?? [0, 0, 0, 0])] as [number, number, number, number],
    dilations: [...(o.dilations ?? [1, 1])] as [number, number],
    group: o.group ?? 1,
  };
}

/** The resolved options of a Conv or ConvTranspose node, from its attributes. */
export function convOptionsOf(n: Node): ResolvedConv {
  const ints = (k: string): number[] => (n.attrs[k] as { ints: number[] }).ints;
  return resolveConv({
    strides: ints('strides') as [number, number],
    pads: ints('pads') as [number, number, number, number],
    dilations: ints('dilations') as [number, number],
    group: (n.attrs.group as { i: number }).i,
  });
}

function convAttrs(c: ResolvedConv, kh: number, kw: number) {
  return {
    strides: { ints: c.strides },
    pads: { ints: c.pads },
    dilations: { ints: c.dilations },
    group: { i: c.group },
    kernel_shape: { ints: [kh, kw] },
  };
}

/** Output spatial size of a convolution along one axis. */
export function convOutSize(n: number, k: number, stride: number, padBegin: number, padEnd: number, dil: number): number {
  return Math.floor((n + padBegin + padEnd - dil * (k - 1) - 1) / stride) + 1;
}

/** 2-D convolution: x [N,C,H,W], w [M, C/group, kh, kw], optional bias [M]. */
export function conv(x: Value, w: Value, bias?: Value, o: ConvOptions = {}): Value {
  const c = resolveConv(o);
  if (x.rank !== 4 || w.rank !== 4) throw new Error(`Conv: expected 4-D input and weight, got ${x} and ${w}`);
  const [n, ch, h, wd] = x.shape;
  const [m, cpg, kh, kw] = w.shape;
  if (cpg * c.group !== ch || m % c.group !== 0) {
    throw new Error(`Conv: weight ${shapeStr(w.shape)} with group ${c.group} does not fit input ${x}`);
  }
  if (bias && (bias.rank !== 1 || bias.shape[0] !== m)) throw new Error(`Conv: bias ${bias} must be [${m}]`);
  const oh = convOutSize(h, kh, c.strides[0], c.pads[0], c.pads[2], c.dilations[0]);
  const ow = convOutSize(wd, kw, c.strides[1], c.pads[1], c.pads[3], c.dilations[1]);
  if (oh <= 0 || ow <= 0) throw new Error(`Conv: kernel ${kh}x${kw} is larger than padded input ${x}`);
  const inputs = bias ? [x, w, bias] : [x, w];
  return x.graph.node('Conv', inputs, [{ dtype: x.dtype, shape: [n, m, oh, ow] }], convAttrs(c, kh, kw))[0];
}

/** 2-D transposed convolution: x [N,C,H,W], w [C, M/group, kh, kw]. */
export function convTranspose(x: Value, w: Value, bias?: Value, o: ConvTransposeOptions = {}): Value {
  const c = resolveConv(o);
  const op = o.outputPadding ?? [0, 0];
  if (x.rank !== 4 || w.rank !== 4) throw new Error(`ConvTranspose: expected 4-D input and weight, got ${x} and ${w}`);
  const [n, ch, h, wd] = x.shape;
  const [cw, mpg, kh, kw] = w.shape;
  if (cw !== ch || ch % c.group !== 0) {
    throw new Error(`ConvTranspose: weight ${shapeStr(w.shape)} with group ${c.group} does not fit input ${x}`);
  }
  const m = mpg * c.group;
  if (bias && (bias.rank !== 1 || bias.shape[0] !== m)) throw new Error(`ConvTranspose: bias ${bias} must be [${m}]`);
  const oh = c.strides[0] * (h - 1) + op[0] + c.dilations[0] * (kh - 1) + 1 - c.pads[0] - c.pads[2];
  const ow = c.strides[1] * (wd - 1) + op[1] + c.dilations[1] * (kw - 1) + 1 - c.pads[1] - c.pads[3];
  const inputs = bias ? [x, w, bias] : [x, w];
  const attrs = { ...convAttrs(c, kh, kw), output_padding: { ints: [...op] } };
  return x.graph.node('ConvTranspose', inputs, [{ dtype: x.dtype, shape: [n, m, oh, ow] }], attrs)[0];
}

export interface PoolOptions {
  readonly strides?: readonly [number, number];
  readonly pads?: readonly [number, number, number, number];
  readonly countIncludePad?: boolean;
}

/** A 2-D pooling node: output size by the ONNX pooling formula (as Conv's, no dilation), the attributes shared. */
function pool(op: 'AveragePool' | 'MaxPool', x: Value, kernel: readonly [number, number], o: PoolOptions, attrs: Attrs = {}): Value {
  const strides = o.strides ?? kernel;
  const pads = o.pads ?? [0, 0, 0, 0];
  const [n, ch, h, w] = x.shape;
  const oh = convOutSize(h, kernel[0], strides[0], pads[0], pads[2], 1);
  const ow = convOutSize(w, kernel[1], strides[1], pads[1], pads[3], 1);
  return x.graph.node(op, [x], [{ dtype: x.dtype, shape: [n, ch, oh, ow] }], {
    kernel_shape: { ints: [...kernel] },
    strides: { ints: [...strides] },
    pads: { ints: [...pads] },
    ...attrs,
  })[0];
}

/** AveragePool over kernel [kh, kw] (stride defaults to the kernel, as torch.nn.AvgPool2d). */
export function averagePool(x: Value, kernel: readonly [number, number], o: PoolOptions = {}): Value {
  return pool('AveragePool', x, kernel, o, { count_include_pad: { i: o.countIncludePad ? 1 : 0 } });
}

/**
 * MaxPool over kernel [kh, kw] (stride defaults to the kernel). Padded cells never win: ONNX pads MaxPool with -inf,
 * which is TensorFlow's 'SAME' max pooling when the pads are TF's (extra cell at the end).
 */
export function maxPool(x: Value, kernel: readonly [number, number], o: Omit<PoolOptions, 'countIncludePad'> = {}): Value {
  return pool('MaxPool', x, kernel, o);
}

/** Nearest-neighbour upsampling of the spatial axes by integer factors (torch.nn.Upsample(mode='nearest')). */
export function upsampleNearest(x: Value, factor: number): Value {
  if (!Number.isInteger(factor) || factor < 1) throw new Error(`upsampleNearest: factor must be a positive integer`);
  const g = x.graph;
  const scales = g.constant({ dtype: 'float32', shape: [4], data: Float32Array.of(1, 1, factor, factor) }, 'scales');
  const [n, c, h, w] = x.shape;
  return g.node('Resize', [x, undefined, scales], [{ dtype: x.dtype, shape: [n, c, h * factor, w * factor] }], {
    mode: { s: 'nearest' },
    coordinate_transformation_mode: { s: 'asymmetric' },
    nearest_mode: { s: 'floor' },
  })[0];
}

/** ScatterND with reduction 'add': data[indices[i]] += updates[i] (used by the Gather gradient). */
export function scatterNDAdd(data: Value, indices: Value, updates: Value): Value {
  return data.graph.node('ScatterND', [data, indices, updates], [{ dtype: data.dtype, shape: data.shape }], {
    reduction: { s: 'add' },
  })[0];
}
