/**
 * Translates a TensorFlow.js graph model (a frozen TF GraphDef as tfjs-converter writes it, see ./tfjs_model.ts) into
 * engine ops, so the network becomes part of a differentiable engine graph with its real weights.
 *
 * TF works in NHWC; the engine's convolutions are NCHW. Every 4-D value is kept NCHW and the few operators whose
 * meaning depends on the layout translate their constants: Pad amounts and per-channel [C] operands are permuted,
 * and Reshape of a 4-D value first transposes back to NHWC so flattening keeps TF's element order. Conv2D weights
 * [kh, kw, in, out] become [out, in, kh, kw]; DepthwiseConv2dNative weights [kh, kw, in, mult] become grouped
 * convolutions [in * mult, 1, kh, kw] with group = in (output channel c * mult + m, as TF orders them). A zero Pad
 * feeding a VALID convolution is folded into the convolution's pads. Maximum / Minimum with a scalar constant are
 * Clip with one open bound (so x -> max(0,x) + g * min(0,x), MobileFace's PReLU, differentiates with the engine's
 * Clip rule).
 *
 * Supported operators are the ones the shipped face models use; anything else is reported by name.
 * Reference: TensorFlow op definitions (tensorflow/core/ops/nn_ops.cc, math_ops.cc, array_ops.cc).
 */
import { Graph, Value } from '../engine/graph.js';
import { add, clip, matmul, mul, sub } from '../engine/ops_math.js';
import { conv } from '../engine/ops_nn.js';
import { pad, reshape, transpose } from '../engine/ops_shape.js';
import type { HostTensor } from '../engine/tensor.js';
import { InputError } from '../errors.js';
import { tfDepthwiseToOihw, tfFilterToOihw, type TfAttr, type TfNode } from './tfjs_model.js';

/** NHWC axis -> NCHW axis. */
const NHWC_TO_NCHW = [0, 3, 1, 2];

/** A translated tensor: an engine value (4-D ones stored NCHW) or a not yet materialised constant. */
type Slot = { readonly kind: 'value'; readonly v: Value } | { readonly kind: 'const'; readonly t: HostTensor } | PendingPad;

/** A constant zero Pad waiting to be folded into the convolution that consumes it. */
interface PendingPad {
  readonly kind: 'pad';
  readonly x: Value;
  /** NCHW [before, after] per axis. */
  readonly pads: readonly (readonly [number, number])[];
}

interface TfjsGraphOptions {
  /** The model's input (placeholder name -> engine value, NCHW for images). */
  readonly inputs: Readonly<Record<string, Value>>;
  /** Node whose value is returned. */
  readonly output: string;
  /** Weights by Const node name. */
  readonly weights: ReadonlyMap<string, HostTensor>;
  /** Engine constants already added for these weights (shared across calls on one graph). */
  readonly constants?: Map<string, Value>;
}

const decodeStr = (a: TfAttr | undefined): string | undefined => (a?.s === undefined ? undefined : Buffer.from(a.s, 'base64').toString());
const ints = (a: TfAttr | undefined): number[] | undefined => a?.list?.i?.map(Number);
const baseName = (input: string): string => {
  const [name, index] = input.split(':');
  if (index !== undefined && index !== '0') throw new InputError(`tfjs graph: output ${input} of a multi-output node is not supported`);
  return name;
};

export class TfjsGraphTranslator {
  private readonly slots = new Map<string, Slot>();
  private readonly constants: Map<string, Value>;

  constructor(
    private readonly g: Graph,
    private readonly nodes: readonly TfNode[],
    private readonly opts: TfjsGraphOptions,
  ) {
    this.constants = opts.constants ?? new Map();
  }

  /** Translates every node the output depends on and returns the output value. */
  run(): Value {
    const byName = new Map(this.nodes.map((n) => [n.name, n]));
    const visit = (name: string): Slot => {
      const done = this.slots.get(name);
      if (done) return done;
      const node = byName.get(name);
      if (!node) throw new InputError(`tfjs graph: node '${name}' is not in the model`);
      const inputs = (node.input ?? []).filter((i) => !i.startsWith('^')).map((i) => visit(baseName(i)));
      const slot = this.translate(node, inputs);
      this.slots.set(name, slot);
      return slot;
    };
    return this.value(visit(this.opts.output), this.opts.output);
  }

  private constant(name: string, t: HostTensor): Value {
    let v = this.constants.get(name);
    if (!v) {
      v = this.g.constant(t, name.replace(/[^A-Za-z0-9_]/g, '_'));
      this.constants.set(name, v);
    }
    return v;
  }

  private value(s: Slot, where: string): Value {
    if (s.kind === 'value') return s.v;
    if (s.kind === 'pad') return pad(s.x, s.pads);
    throw new InputError(`tfjs graph: ${where} needs a tensor, got a constant`);
  }

  private hostConst(s: Slot, where: string): HostTensor {
    if (s.kind !== 'const') throw new InputError(`tfjs graph: ${where} must be a constant`);
    return s.t;
  }

  private translate(node: TfNode, inputs: Slot[]): Slot {
    const where = `${node.op} '${node.name}'`;
    const val = (v: Value): Slot => ({ kind: 'value', v });
    switch (node.op) {
      case 'Placeholder': {
        const v = this.opts.inputs[node.name];
        if (!v) throw new InputError(`tfjs graph: no value given for input '${node.name}'`);
        return val(v);
      }
      case 'Const': {
        const t = this.opts.weights.get(node.name);
        if (!t) throw new InputError(`tfjs graph: weights have no tensor for constant '${node.name}'`);
        return { kind: 'const', t };
      }
      case 'Identity':
        return inputs[0];
      case 'Sub':
      case 'Mul':
      case 'Add':
      case 'AddV2':
        return val(this.binary(node, inputs, where));
      case 'Maximum':
      case 'Minimum':
        return val(this.clipScalar(node.op, inputs, where));
      case 'Pad':
        return this.pad(inputs, where);
      case 'Conv2D':
      case 'DepthwiseConv2dNative':
        return val(this.conv(node, inputs, where));
      case 'Reshape':
        return val(this.reshape(inputs, where));
      case 'MatMul': {
        if (node.attr?.transpose_a?.b || node.attr?.transpose_b?.b) throw new InputError(`tfjs graph: ${where} with transposes is not supported`);
        const b = inputs[1].kind === 'const' ? this.constant(node.input![1], inputs[1].t) : this.value(inputs[1], where);
        return val(matmul(this.value(inputs[0], where), b));
      }
      default:
        throw new InputError(`tfjs graph: operator ${where} is not supported by this translator`);
    }
  }

  /** A constant operand in the layout of `other` (per-channel [C] vectors become [C,1,1] next to NCHW values). */
  private operand(s: Slot, other: Value, name: string): Value | number {
    if (s.kind !== 'const') return this.value(s, name);
    const t = s.t;
    if (t.data.length === 1) return Number(t.data[0]);
    if (other.rank === 4 && t.shape.length === 1) return reshape(this.constant(name, t), [t.shape[0], 1, 1]);
    if (other.rank === 4) throw new InputError(`tfjs graph: constant ${name} of shape [${t.shape}] next to a 4-D tensor`);
    return this.constant(name, t);
  }

  private binary(node: TfNode, inputs: Slot[], where: string): Value {
    const [a, b] = inputs;
    const names = node.input!.map(baseName);
    const anchor = a.kind !== 'const' ? this.value(a, where) : this.value(b, where);
    const x = this.operand(a, anchor, names[0]);
    const y = this.operand(b, anchor, names[1]);
    const f = node.op === 'Sub' ? sub : node.op === 'Mul' ? mul : add;
    return f(x, y);
  }

  private clipScalar(op: string, inputs: Slot[], where: string): Value {
    const ci = inputs.findIndex((s) => s.kind === 'const');
    if (ci < 0) throw new InputError(`tfjs graph: ${where} between two tensors is not supported`);
    const c = this.hostConst(inputs[ci], where);
    if (c.data.length !== 1) throw new InputError(`tfjs graph: ${where} needs a scalar constant`);
    const x = this.value(inputs[1 - ci], where);
    const bound = Number(c.data[0]);
    return op === 'Maximum' ? clip(x, bound, Infinity) : clip(x, -Infinity, bound);
  }

  private pad(inputs: Slot[], where: string): Slot {
    const x = this.value(inputs[0], where);
    const p = this.hostConst(inputs[1], where).data;
    if (x.rank !== 4 || p.length !== 8) throw new InputError(`tfjs graph: ${where} supports 4-D inputs only`);
    const pads = NHWC_TO_NCHW.map((axis) => [Number(p[axis * 2]), Number(p[axis * 2 + 1])] as const);
    return { kind: 'pad', x, pads };
  }

  private conv(node: TfNode, inputs: Slot[], where: string): Value {
    const attr = node.attr ?? {};
    if (decodeStr(attr.data_format) !== 'NHWC' || decodeStr(attr.padding) !== 'VALID') {
      throw new InputError(`tfjs graph: ${where} must be NHWC with VALID padding`);
    }
    const strides = ints(attr.strides) ?? [1, 1, 1, 1];
    const dilations = ints(attr.dilations) ?? [1, 1, 1, 1];
    const w = this.hostConst(inputs[1], where);
    const cin = w.shape[2];
    const depthwise = node.op === 'DepthwiseConv2dNative';
    const key = `${node.input![1]}/oihw`;
    let weight = this.constants.get(key);
    if (!weight) {
      const t = depthwise ? tfDepthwiseToOihw(w) : tfFilterToOihw(w);
      weight = this.constant(key, t);
    }
    const src = inputs[0];
    let x: Value;
    let pads: [number, number, number, number] = [0, 0, 0, 0];
    if (src.kind === 'pad' && src.pads[0].every((v) => v === 0) && src.pads[1].every((v) => v === 0)) {
      x = src.x;
      pads = [src.pads[2][0], src.pads[3][0], src.pads[2][1], src.pads[3][1]];
    } else {
      x = this.value(src, where);
    }
    return conv(x, weight, undefined, {
      strides: [strides[1], strides[2]],
      dilations: [dilations[1], dilations[2]],
      pads,
      group: depthwise ? cin : 1,
    });
  }

  private reshape(inputs: Slot[], where: string): Value {
    const x = this.value(inputs[0], where);
    const shape = Array.from(this.hostConst(inputs[1], where).data, Number);
    if (shape.length === 4) throw new InputError(`tfjs graph: ${where} to a 4-D shape is not supported`);
    const nhwc = x.rank === 4 ? transpose(x, [0, 2, 3, 1]) : x;
    return reshape(nhwc, shape.map((d, i) => (d === -1 && i === 0 ? x.shape[0] : d)));
  }
}
