/**
 * The graph builder: symbolic tensors (`Value`) with a dtype and a fully static shape, nodes that are ONNX operators
 * (opset `OPSET`), and initializers for weights and constants. Op functions (ops_*.ts) append nodes and compute output
 * shapes eagerly, so every shape mistake is reported where the model code makes it, not inside onnxruntime.
 *
 * Reference: ONNX IR spec (https://onnx.ai/onnx/repo-docs/IR.html) and operator docs for opset 17.
 */
import { numel, scalarTensor, shapeStr, type DType, type HostTensor } from './tensor.js';

/** ONNX default-domain opset the builder emits (LayerNormalization needs >= 17). */
export const OPSET = 17;

export type Shape = readonly number[];

export type AttrValue =
  | { readonly i: number }
  | { readonly f: number }
  | { readonly ints: readonly number[] }
  | { readonly floats: readonly number[] }
  | { readonly s: string }
  | { readonly t: HostTensor };

export type Attrs = Readonly<Record<string, AttrValue>>;

export class Value {
  constructor(
    readonly graph: Graph,
    readonly name: string,
    readonly dtype: DType,
    readonly shape: Shape,
    /** The node that produced this value; undefined for graph inputs and initializers. */
    readonly producer?: Node,
  ) {}

  get rank(): number {
    return this.shape.length;
  }

  get size(): number {
    return numel(this.shape);
  }

  toString(): string {
    return `${this.name}:${this.dtype}${shapeStr(this.shape)}`;
  }
}

export interface Node {
  readonly op: string;
  readonly inputs: readonly (Value | undefined)[];
  readonly outputs: Value[];
  readonly attrs: Attrs;
  readonly domain: string;
}

export interface OutputSpec {
  readonly dtype: DType;
  readonly shape: Shape;
}

export class Graph {
  readonly nodes: Node[] = [];
  readonly inputs: Value[] = [];
  readonly outputs: Value[] = [];
  readonly initializers = new Map<string, HostTensor>();
  private readonly used = new Set<string>();
  private readonly scalarCache = new Map<string, Value>();
  private counter = 0;

  constructor(readonly name = 'styleclip') {}

  /** A unique name derived from `base`. */
  fresh(base: string): string {
    let n = base;
    while (this.used.has(n)) n = `${base}_${++this.counter}`;
    this.used.add(n);
    return n;
  }

  /** Declares a graph input that is fed at run time. */
  input(name: string, dtype: DType, shape: Shape): Value {
    if (this.used.has(name)) throw new Error(`graph input name '${name}' is already used`);
    checkShape(shape, name);
    this.used.add(name);
    const v = new Value(this, name, dtype, [...shape]);
    this.inputs.push(v);
    return v;
  }

  /** Adds a weight/constant as an initializer. */
  constant(t: HostTensor, name = 'const'): Value {
    checkShape(t.shape, name);
    const n = this.fresh(name);
    this.initializers.set(n, t);
    return new Value(this, n, t.dtype, [...t.shape]);
  }

  /** A shared scalar (or rank-0 int64 list) constant of `dtype`, deduplicated by value. */
  scalar(v: number, dtype: DType = 'float32'): Value {
    const key = `${dtype}:${Object.is(v, -0) ? '-0' : v}`;
    let c = this.scalarCache.get(key);
    if (!c) {
      c = this.constant(scalarTensor(v, dtype), 'scalar');
      this.scalarCache.set(key, c);
    }
    return c;
  }

  /** A 1-D int64 constant (shapes, axes, pads, slice bounds). */
  ints(values: readonly number[], name = 'ints'): Value {
    return this.constant({ dtype: 'int64', shape: [values.length], data: BigInt64Array.from(values.map(BigInt)) }, name);
  }

  /** Appends a node; `specs` are the output dtypes/shapes computed by the op function. */
  node(op: string, inputs: readonly (Value | undefined)[], specs: readonly OutputSpec[], attrs: Attrs = {}, domain = ''): Value[] {
    for (const v of inputs) {
      if (v && v.graph !== this) throw new Error(`${op}: input ${v.name} belongs to another graph`);
    }
    const outputs: Value[] = [];
    const node: Node = { op, inputs: [...inputs], outputs, attrs, domain };
    for (const s of specs) {
      checkShape(s.shape, op);
      outputs.push(new Value(this, this.fresh(op.toLowerCase()), s.dtype, [...s.shape], node));
    }
    this.nodes.push(node);
    return outputs;
  }

  /** Marks `v` as a graph output under `name` (an Identity node renames it when needed). */
  output(v: Value, name?: string): Value {
    let out = v;
    if (name !== undefined && name !== v.name) {
      if (this.used.has(name)) throw new Error(`graph output name '${name}' is already used`);
      this.used.add(name);
      const node: Node = { op: 'Identity', inputs: [v], outputs: [], attrs: {}, domain: '' };
      out = new Value(this, name, v.dtype, v.shape, node);
      node.outputs.push(out);
      this.nodes.push(node);
    }
    this.outputs.push(out);
    return out;
  }
}

function checkShape(shape: Shape, where: string): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new Error(`${where}: invalid shape ${shapeStr(shape)}`);
  }
}


/** Normalises a possibly negative axis for a tensor of `rank`. */
export function normAxis(axis: number, rank: number, where = 'axis'): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) throw new Error(`${where} ${axis} is out of range for rank ${rank}`);
  return a;
}

/** Numpy-style broadcast of two shapes. */
export function broadcastShapes(a: Shape, b: Shape, where: string): number[] {
  const r = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < r; i++) {
    const da = a[a.length - r + i] ?? 1;
    const db = b[b.length - r + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new Error(`${where}: shapes ${shapeStr(a)} and ${shapeStr(b)} do not broadcast`);
    }
    out.push(da === 1 ? db : da);
  }
  return out;
}

/** A vector-Jacobian rule: the gradients of a node's inputs (where `want`) from the gradients of its outputs. */
export type VjpRule = (node: Node, gouts: readonly (Value | undefined)[], want: readonly boolean[]) => (Value | undefined)[];
