/**
 * A small pickle writer (protocol 3, Python's pickletools opcodes) for the files StyleCLIP's Python code reads:
 * nested lists/tuples/dicts of numbers, strings, float32 numpy arrays and (for torch.save, ./torch_write.ts) tensors. Arrays are written the way numpy pickles them
 * (numpy/core/src/multiarray/methods.c `array_reduce`): `numpy.core.multiarray._reconstruct(numpy.ndarray, (0,), b'b')`
 * then BUILD with (1, shape, dtype('<f4'), False, raw little-endian bytes); the dtype is `numpy.dtype('f4', False, True)`
 * with BUILD (3, '<', None, None, None, -1, -1, 0) (descriptor.c `arraydescr_reduce`). src/io/pickle.ts reads it back.
 */

/** A 1-D float32 numpy array to pickle. */
export class NumpyFloat32 {
  constructor(readonly data: Float32Array) {}
}

/**
 * A torch tensor stored outside the pickle (torch.save): `torch._utils._rebuild_tensor_v2(storage, 0, size, stride,
 * False, OrderedDict())` with the storage a persistent id `('storage', torch.<Storage>, key, 'cpu', numel)`.
 */
export class TorchTensor {
  constructor(
    readonly key: string,
    readonly shape: readonly number[],
    readonly numel: number,
    readonly storage: 'FloatStorage' | 'LongStorage' = 'FloatStorage',
  ) {}
}

/** A dict key: a string, or an int (torch optimiser state dicts key their `state` by parameter index). */
export type DictKey = string | number;

export type Picklable =
  | number
  | string
  | boolean
  | null
  | Uint8Array
  | NumpyFloat32
  | TorchTensor
  | readonly Picklable[]
  | { readonly tuple: readonly Picklable[] }
  /** A dict (`ordered`: collections.OrderedDict, as state dicts are). */
  | { readonly dict: readonly (readonly [DictKey, Picklable])[]; readonly ordered?: boolean };

const OP = {
  EMPTY_DICT: 0x7d, SETITEMS: 0x75, BINPERSID: 0x51,
  PROTO: 0x80, STOP: 0x2e, MARK: 0x28, EMPTY_LIST: 0x5d, APPENDS: 0x65, TUPLE: 0x74, TUPLE1: 0x85, TUPLE2: 0x86,
  TUPLE3: 0x87, EMPTY_TUPLE: 0x29, GLOBAL: 0x63, REDUCE: 0x52, BUILD: 0x62, BININT: 0x4a, BINFLOAT: 0x47,
  BINUNICODE: 0x58, BINBYTES: 0x42, NONE: 0x4e, NEWTRUE: 0x88, NEWFALSE: 0x89,
} as const;
/** Pickle protocol numpy's own `pickle.dump` files use in StyleCLIP's S_mean_std. */
const PROTOCOL = 3;

class Writer {
  private readonly chunks: Uint8Array[] = [];
  op(...bytes: number[]): void {
    this.chunks.push(Uint8Array.from(bytes));
  }
  raw(b: Uint8Array): void {
    this.chunks.push(b);
  }
  u32(n: number): void {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, n, true);
    this.raw(b);
  }
  global(module: string, name: string): void {
    this.op(OP.GLOBAL);
    this.raw(new TextEncoder().encode(`${module}\n${name}\n`));
  }
  bytes(): Uint8Array {
    return Buffer.concat(this.chunks);
  }
}

function writeTuple(w: Writer, items: readonly Picklable[]): void {
  if (items.length === 0) return w.op(OP.EMPTY_TUPLE);
  if (items.length <= 3) {
    items.forEach((v) => write(w, v));
    return w.op([OP.TUPLE1, OP.TUPLE2, OP.TUPLE3][items.length - 1]);
  }
  w.op(OP.MARK);
  items.forEach((v) => write(w, v));
  w.op(OP.TUPLE);
}

function writeNumpy(w: Writer, a: NumpyFloat32): void {
  w.global('numpy.core.multiarray', '_reconstruct');
  w.global('numpy', 'ndarray');
  writeTuple(w, [0]);
  write(w, new TextEncoder().encode('b'));
  w.op(OP.TUPLE3);
  w.op(OP.REDUCE);
  // State: (1, shape, dtype, is_fortran, data)
  w.op(OP.MARK);
  write(w, 1);
  writeTuple(w, [a.data.length]);
  w.global('numpy', 'dtype');
  writeTuple(w, ['f4', false, true]);
  w.op(OP.REDUCE);
  writeTuple(w, [3, '<', null, null, null, -1, -1, 0]);
  w.op(OP.BUILD);
  write(w, false);
  write(w, new Uint8Array(a.data.buffer.slice(a.data.byteOffset, a.data.byteOffset + a.data.byteLength)));
  w.op(OP.TUPLE);
  w.op(OP.BUILD);
}

function writeDict(w: Writer, items: readonly (readonly [DictKey, Picklable])[], ordered: boolean): void {
  if (ordered) {
    w.global('collections', 'OrderedDict');
    w.op(OP.EMPTY_TUPLE, OP.REDUCE);
  } else w.op(OP.EMPTY_DICT);
  if (items.length === 0) return;
  w.op(OP.MARK);
  for (const [k, v] of items) {
    write(w, k);
    write(w, v);
  }
  w.op(OP.SETITEMS);
}

function writeTorchTensor(w: Writer, t: TorchTensor): void {
  w.global('torch._utils', '_rebuild_tensor_v2');
  w.op(OP.MARK);
  w.op(OP.MARK);
  write(w, 'storage');
  w.global('torch', t.storage);
  write(w, t.key);
  write(w, 'cpu');
  write(w, t.numel);
  w.op(OP.TUPLE, OP.BINPERSID);
  write(w, 0);
  writeTuple(w, [...t.shape]);
  writeTuple(w, t.shape.map((_, d) => t.shape.slice(d + 1).reduce((a, b) => a * b, 1)));
  write(w, false);
  writeDict(w, [], true);
  w.op(OP.TUPLE, OP.REDUCE);
}

function write(w: Writer, v: Picklable): void {
  if (v === null) return w.op(OP.NONE);
  if (v === true) return w.op(OP.NEWTRUE);
  if (v === false) return w.op(OP.NEWFALSE);
  if (typeof v === 'number') {
    if (Number.isInteger(v) && v >= -(2 ** 31) && v < 2 ** 31) {
      w.op(OP.BININT);
      const b = new Uint8Array(4);
      new DataView(b.buffer).setInt32(0, v, true);
      return w.raw(b);
    }
    w.op(OP.BINFLOAT);
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, v, false);
    return w.raw(b);
  }
  if (typeof v === 'string') {
    const b = new TextEncoder().encode(v);
    w.op(OP.BINUNICODE);
    w.u32(b.length);
    return w.raw(b);
  }
  if (v instanceof Uint8Array) {
    w.op(OP.BINBYTES);
    w.u32(v.length);
    return w.raw(v);
  }
  if (v instanceof NumpyFloat32) return writeNumpy(w, v);
  if (v instanceof TorchTensor) return writeTorchTensor(w, v);
  if ('tuple' in v) return writeTuple(w, v.tuple);
  if ('dict' in v) return writeDict(w, v.dict, v.ordered ?? false);
  w.op(OP.EMPTY_LIST);
  if (v.length === 0) return;
  w.op(OP.MARK);
  v.forEach((x) => write(w, x));
  w.op(OP.APPENDS);
}

/** The pickle (protocol 3) of `value`. */
export function pickleDump(value: Picklable): Uint8Array {
  const w = new Writer();
  w.op(OP.PROTO, PROTOCOL);
  write(w, value);
  w.op(OP.STOP);
  return w.bytes();
}
