/**
 * Serialises a `Graph` as an ONNX ModelProto (onnx/onnx.proto, proto2) with a small hand-written protobuf encoder.
 * Repeated scalar fields are written unpacked, as proto2 declares them. Weights go into `raw_data` (little-endian),
 * so a 100M-parameter model serialises with a few large memcpy's; weights that lie unchanged in a file
 * (engine/tensor.ts `fileTensor`) can instead be written as references into it (ONNX external data), which
 * onnxruntime maps when it builds the session.
 */
import { basename, dirname } from 'node:path';
import { OPSET, type AttrValue, type Graph, type Value } from './graph.js';
import { onnxDtype } from './ops_shape.js';
import { bytesOf, fileRegionOf, tensorBytes, type HostTensor } from './tensor.js';

/** IR version matching opset 17 (ONNX 1.12). */
const IR_VERSION = 8;
const PRODUCER = 'styleclip';

const WIRE_VARINT = 0;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

/** AttributeProto.AttributeType codes. */
const ATTR_FLOAT = 1;
const ATTR_INT = 2;
const ATTR_STRING = 3;
const ATTR_TENSOR = 4;
const ATTR_FLOATS = 6;
const ATTR_INTS = 7;
/** TensorProto.DataLocation.EXTERNAL: the bytes are named by `external_data` (location, offset, length). */
const DATA_EXTERNAL = 1;

/** A protobuf message under construction: a list of byte chunks. */
class Msg {
  readonly chunks: Uint8Array[] = [];
  length = 0;
  private scratch: number[] = [];

  private flush(): void {
    if (this.scratch.length) {
      const b = Uint8Array.from(this.scratch);
      this.chunks.push(b);
      this.length += b.length;
      this.scratch = [];
    }
  }

  private varint(v: number | bigint): void {
    let x = BigInt.asUintN(64, BigInt(v));
    if (typeof v === 'number' && v >= 0 && v < 2 ** 31) {
      let n = v;
      while (n > 0x7f) {
        this.scratch.push((n & 0x7f) | 0x80);
        n >>>= 7;
      }
      this.scratch.push(n);
      return;
    }
    while (x > 0x7fn) {
      this.scratch.push(Number(x & 0x7fn) | 0x80);
      x >>= 7n;
    }
    this.scratch.push(Number(x));
  }

  private tag(field: number, wire: number): void {
    this.varint((field << 3) | wire);
  }

  int(field: number, v: number | bigint): this {
    this.tag(field, WIRE_VARINT);
    this.varint(v);
    return this;
  }

  float(field: number, v: number): this {
    this.tag(field, WIRE_I32);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    this.scratch.push(...b);
    return this;
  }

  bytes(field: number, data: Uint8Array): this {
    this.tag(field, WIRE_LEN);
    this.varint(data.length);
    this.flush();
    this.chunks.push(data);
    this.length += data.length;
    return this;
  }

  string(field: number, s: string): this {
    return this.bytes(field, new TextEncoder().encode(s));
  }

  msg(field: number, m: Msg): this {
    m.flush();
    this.tag(field, WIRE_LEN);
    this.varint(m.length);
    this.flush();
    this.chunks.push(...m.chunks);
    this.length += m.length;
    return this;
  }

  finish(): Uint8Array {
    this.flush();
    const out = new Uint8Array(this.length);
    let o = 0;
    for (const c of this.chunks) {
      out.set(c, o);
      o += c.length;
    }
    return out;
  }
}

/** TensorProto (onnx.proto fields 1 dims, 2 data_type, 8 name, 9 raw_data, 13 external_data, 14 data_location). */
function tensorProto(name: string, t: HostTensor, externalDir?: string): Msg {
  const m = new Msg();
  for (const d of t.shape) m.int(1, d);
  m.int(2, onnxDtype(t.dtype));
  m.string(8, name);
  const region = externalDir === undefined ? undefined : fileRegionOf(t);
  if (region && dirname(region.path) === externalDir) {
    // onnxruntime resolves `location` in the folder the session names (session.ts) and maps the file there.
    const entries = { location: basename(region.path), offset: String(region.offset), length: String(tensorBytes(t)) };
    for (const [k, v] of Object.entries(entries)) m.msg(13, new Msg().string(1, k).string(2, v));
    m.int(14, DATA_EXTERNAL);
  } else {
    m.bytes(9, bytesOf(t.data));
  }
  return m;
}

/**
 * The folder whose files hold most of the graph's file-backed weights (onnxruntime takes external data from one
 * folder per session) and how many bytes of them lie there; undefined when no initializer lies in a file.
 */
export function externalWeightsOf(g: Graph): { readonly dir: string; readonly bytes: number } | undefined {
  const bytes = new Map<string, number>();
  for (const t of g.initializers.values()) {
    const r = fileRegionOf(t);
    if (r) bytes.set(dirname(r.path), (bytes.get(dirname(r.path)) ?? 0) + tensorBytes(t));
  }
  const [dir, n] = [...bytes].sort((a, b) => b[1] - a[1])[0] ?? [];
  return dir === undefined ? undefined : { dir, bytes: n! };
}

function attributeProto(name: string, a: AttrValue): Msg {
  const m = new Msg().string(1, name);
  if ('i' in a) m.int(3, a.i).int(20, ATTR_INT);
  else if ('f' in a) m.float(2, a.f).int(20, ATTR_FLOAT);
  else if ('s' in a) m.string(4, a.s).int(20, ATTR_STRING);
  else if ('t' in a) m.msg(5, tensorProto('', a.t)).int(20, ATTR_TENSOR);
  else if ('ints' in a) {
    for (const v of a.ints) m.int(8, v);
    m.int(20, ATTR_INTS);
  } else {
    for (const v of a.floats) m.float(7, v);
    m.int(20, ATTR_FLOATS);
  }
  return m;
}

function valueInfo(v: Value): Msg {
  const shape = new Msg();
  for (const d of v.shape) shape.msg(1, new Msg().int(1, d));
  const tensorType = new Msg().int(1, onnxDtype(v.dtype)).msg(2, shape);
  return new Msg().string(1, v.name).msg(2, new Msg().msg(1, tensorType));
}

/**
 * Encodes the graph (nodes in insertion order, which is topological by construction). With `externalDir`, weights
 * lying in files of that folder are written as external data (the session must name the folder).
 */
export function toOnnx(g: Graph, externalDir?: string): Uint8Array {
  const graph = new Msg();
  g.nodes.forEach((n, idx) => {
    const node = new Msg();
    for (const i of n.inputs) node.string(1, i ? i.name : '');
    for (const o of n.outputs) node.string(2, o.name);
    node.string(3, `n${idx}_${n.op}`);
    node.string(4, n.op);
    for (const [k, a] of Object.entries(n.attrs)) node.msg(5, attributeProto(k, a));
    if (n.domain) node.string(7, n.domain);
    graph.msg(1, node);
  });
  graph.string(2, g.name);
  for (const [name, t] of g.initializers) graph.msg(5, tensorProto(name, t, externalDir));
  for (const v of g.inputs) graph.msg(11, valueInfo(v));
  for (const v of g.outputs) graph.msg(12, valueInfo(v));
  const model = new Msg()
    .int(1, IR_VERSION)
    .string(2, PRODUCER)
    .msg(7, graph)
    .msg(8, new Msg().string(1, '').int(2, OPSET));
  return model.finish();
}
