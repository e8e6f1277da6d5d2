/**
 * A safe unpickler for Python pickle protocols 0-5. Nothing in the file is ever executed: GLOBAL/STACK_GLOBAL resolve
 * only through an allow-list of known constructors implemented here in TypeScript (extended by callers such as the
 * torch loader); any other global becomes an inert `PyGlobal`, and REDUCE/NEWOBJ/OBJ/INST/BUILD on it merely record
 * the arguments and state in a `PyObject`. References: CPython Lib/pickle.py (the `_Unpickler` load_* methods) and
 * Lib/pickletools.py (opcode table and argument encodings), PEP 307 (protocol 2), PEP 3154 (protocol 4), PEP 574
 * (protocol 5). Python values map to: int -> number (bigint beyond 2^53), float -> number, str -> string,
 * bytes -> Uint8Array (a view into the input), None -> null, bool -> boolean, list/tuple -> Array, dict -> Map,
 * set/frozenset -> Set, numpy.ndarray -> a HostTensor (`NumpyArray`), numpy scalars -> number/bigint/boolean.
 * numpy's pickled layout: numpy/core/src/multiarray/methods.c (array_reduce/array_setstate) and descriptor.c
 * (arraydescr_reduce/arraydescr_setstate).
 */
import { DTYPE_BYTES, dataFromBytes, halfToFloat, numel, type DType, type HostTensor, type TypedData } from '../../engine/tensor.js';
import { InputError } from '../../errors.js';

export class PickleError extends InputError {
  override name = 'PickleError';
}

/** A class or function the pickle names but that is not allow-listed: recorded by name, never resolved. */
export class PyGlobal {
  constructor(readonly qualname: string) {}
}

/** An instance of a class that is not allow-listed: its constructor arguments and BUILD state, inert. */
export class PyObject {
  state: unknown = undefined;
  /** Items stored by SETITEM(S) (dict subclasses) and APPEND(S) (list subclasses). */
  items: Map<unknown, unknown> | undefined;
  list: unknown[] | undefined;
  constructor(readonly global: string, readonly args: readonly unknown[], readonly kwargs?: Map<unknown, unknown>) {}
}

export type GlobalFn = (args: unknown[], kwargs?: Map<unknown, unknown>) => unknown;

/** An allow-listed constructor/function, implemented in TypeScript. */
export class PyCallable {
  constructor(readonly qualname: string, readonly call: GlobalFn) {}
}

/** Objects that implement BUILD (Python's `__setstate__`) themselves. */
const SET_STATE = Symbol('pickle.setState');
interface Stateful {
  [SET_STATE](state: unknown): void;
}

interface UnpickleOptions {
  /** Resolves persistent ids (PERSID/BINPERSID); pickles that use them fail without it. */
  readonly persistentLoad?: (pid: unknown) => unknown;
  /** Extra allow-listed globals, keyed 'module.name'. */
  readonly globals?: Readonly<Record<string, GlobalFn>>;
  /** Names the source in error messages. */
  readonly where?: string;
}

/** Python 2 module names that pickles of protocol < 3 use (a subset of Lib/_compat_pickle.py IMPORT_MAPPING). */
const PY2_MODULES: Readonly<Record<string, string>> = { __builtin__: 'builtins', copy_reg: 'copyreg' };

/** Highest protocol this reader understands (PEP 574). */
const HIGHEST_PROTOCOL = 5;

/** Instantiates `cls` with `args`: allow-listed callables run, anything else becomes an inert PyObject. */
export function construct(cls: unknown, args: unknown[], kwargs?: Map<unknown, unknown>): unknown {
  if (cls instanceof PyCallable) return cls.call(args, kwargs);
  if (cls instanceof PyGlobal) return new PyObject(cls.qualname, args, kwargs);
  throw new PickleError(`cannot call a ${describe(cls)}: the pickle is malformed`);
}

const latin1Bytes = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0));

function toInt(b: bigint): number | bigint {
  return b >= BigInt(Number.MIN_SAFE_INTEGER) && b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b;
}

const toMap = (v: unknown): Map<unknown, unknown> => new Map(v instanceof Map ? v : Array.isArray(v) ? (v as [unknown, unknown][]) : []);
const toSet = (v: unknown): Set<unknown> => new Set(v instanceof Set || Array.isArray(v) ? v : []);

/** numpy dtype descriptors (`dtype.str` without its byte-order character) -> host dtypes. */
const NUMPY_DTYPES: Readonly<Record<string, DType>> = {
  f2: 'float16', f4: 'float32', f8: 'float64', i1: 'int8', i2: 'int16', i4: 'int32', i8: 'int64', u1: 'uint8', b1: 'bool',
};

/** `numpy.dtype(descr, align, copy)` + BUILD (version, byteorder, ...), as arraydescr_setstate reads it. */
class NumpyDtype implements Stateful {
  byteorder = '=';
  constructor(readonly descr: string) {}
  [SET_STATE](state: unknown): void {
    if (Array.isArray(state) && typeof state[1] === 'string') this.byteorder = state[1];
  }
  hostDtype(): DType {
    const d = NUMPY_DTYPES[this.descr];
    if (d === undefined || this.byteorder === '>') {
      throw new PickleError(`numpy dtype '${this.byteorder}${this.descr}' is not supported; convert the array to a little-endian numeric dtype`);
    }
    return d;
  }
}

/** `numpy.core.multiarray._reconstruct(ndarray, (0,), b'b')` + BUILD (version, shape, dtype, is_fortran, rawdata). */
export class NumpyArray implements HostTensor, Stateful {
  dtype: DType = 'uint8';
  shape: number[] = [0];
  data: TypedData = new Uint8Array(0);
  [SET_STATE](state: unknown): void {
    const s = Array.isArray(state) && state.length === 5 ? state.slice(1) : Array.isArray(state) ? state : [];
    const [shape, dtype, fortran, raw] = s;
    if (!(dtype instanceof NumpyDtype) || !Array.isArray(shape)) throw new PickleError(`malformed numpy array state (${describe(state)})`);
    if (fortran === true) throw new PickleError('Fortran-ordered numpy arrays are not supported; pickle numpy.ascontiguousarray(a) instead');
    const bytes = raw instanceof Uint8Array ? raw : typeof raw === 'string' ? latin1Bytes(raw) : undefined;
    if (bytes === undefined) throw new PickleError('numpy object arrays are not supported; store numeric arrays');
    this.dtype = dtype.hostDtype();
    this.shape = shape.map(Number);
    if (bytes.length !== numel(this.shape) * DTYPE_BYTES[this.dtype]) throw new PickleError(`numpy array [${this.shape.join(',')}] has ${bytes.length} data bytes; the pickle is corrupt`);
    this.data = dataFromBytes(this.dtype, bytes);
  }
}

function numpyScalar(a: unknown[]): number | bigint | boolean {
  const [dtype, raw] = a;
  if (!(dtype instanceof NumpyDtype) || !(raw instanceof Uint8Array || typeof raw === 'string')) throw new PickleError('malformed numpy scalar');
  const host = dtype.hostDtype();
  const v = dataFromBytes(host, raw instanceof Uint8Array ? raw : latin1Bytes(raw))[0];
  if (host === 'float16') return halfToFloat(v as number);
  if (host === 'bool') return v !== 0;
  return typeof v === 'bigint' ? toInt(v) : v;
}

/** numpy 1.x keeps these in numpy.core.multiarray, numpy 2.x in numpy._core.multiarray. */
const NUMPY_GLOBALS: Readonly<Record<string, GlobalFn>> = {
  'numpy.dtype': (a) => new NumpyDtype(String(a[0])),
  'numpy.core.multiarray._reconstruct': () => new NumpyArray(),
  'numpy._core.multiarray._reconstruct': () => new NumpyArray(),
  'numpy.core.multiarray.scalar': numpyScalar,
  'numpy._core.multiarray.scalar': numpyScalar,
};

/** The built-in allow-list: containers and the copyreg/codecs helpers that pickle itself emits. */
const BUILTIN_GLOBALS: Readonly<Record<string, GlobalFn>> = {
  'collections.OrderedDict': (a) => toMap(a[0]),
  'builtins.dict': (a) => toMap(a[0]),
  'builtins.set': (a) => toSet(a[0]),
  'builtins.frozenset': (a) => toSet(a[0]),
  'builtins.bytearray': (a) => (a[0] instanceof Uint8Array ? new Uint8Array(a[0]) : typeof a[0] === 'string' ? latin1Bytes(a[0]) : new Uint8Array()),
  '_codecs.encode': (a) => {
    if (typeof a[0] !== 'string' || (a[1] !== 'latin1' && a[1] !== 'latin-1')) throw new PickleError(`unsupported _codecs.encode(${describe(a[0])}, ${String(a[1])})`);
    return latin1Bytes(a[0]);
  },
  'copyreg._reconstructor': (a) => construct(a[0], []),
  'copyreg.__newobj__': (a) => construct(a[0], a.slice(1)),
  ...NUMPY_GLOBALS,
};

export function describe(v: unknown): string {
  if (v === null) return 'None';
  if (v instanceof PyGlobal || v instanceof PyCallable) return `global ${v.qualname}`;
  if (v instanceof PyObject) return `${v.global} object`;
  if (v instanceof Map) return 'dict';
  if (v instanceof Set) return 'set';
  if (Array.isArray(v)) return 'list/tuple';
  if (v instanceof Uint8Array) return 'bytes';
  return typeof v;
}

/** Little-endian two's-complement integer of arbitrary length (LONG1/LONG4, pickletools `decode_long`). */
function decodeLong(bytes: Uint8Array): number | bigint {
  if (bytes.length === 0) return 0;
  let v = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i]);
  if (bytes[bytes.length - 1] & 0x80) v -= 1n << BigInt(8 * bytes.length);
  return toInt(v);
}

const ESCAPES: Readonly<Record<string, string>> = { n: '\n', r: '\r', t: '\t', a: '\x07', b: '\b', f: '\f', v: '\v', '\\': '\\', "'": "'", '"': '"' };

/** Python 2 `repr(str)` literal (the STRING opcode's argument) -> its characters. */
function unquote(s: string, where: string): string {
  const q = s[0];
  if (s.length < 2 || (q !== "'" && q !== '"') || s[s.length - 1] !== q) throw new PickleError(`${where}: STRING argument is not a quoted literal`);
  return s.slice(1, -1).replace(/\\(x[0-9a-fA-F]{2}|[0-7]{1,3}|.)/g, (_, e: string) => {
    if (e[0] === 'x') return String.fromCharCode(parseInt(e.slice(1), 16));
    if (/^[0-7]/.test(e)) return String.fromCharCode(parseInt(e, 8));
    return ESCAPES[e] ?? `\\${e}`;
  });
}

/** 'raw-unicode-escape' (the UNICODE opcode's argument): only \uXXXX and \UXXXXXXXX are escapes. */
function rawUnicodeUnescape(s: string): string {
  return s.replace(/\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g, (_, u?: string, U?: string) => String.fromCodePoint(parseInt(u ?? U ?? '0', 16)));
}

const UTF8 = new TextDecoder('utf-8');
const LATIN1 = new TextDecoder('latin1');

export class Unpickler {
  /** Byte offset of the next opcode; after `load()` it points just past STOP. */
  pos: number;
  private readonly view: DataView;
  private readonly where: string;
  private readonly globals: Readonly<Record<string, GlobalFn>>;

  constructor(
    private readonly buf: Uint8Array,
    private readonly opts: UnpickleOptions = {},
    start = 0,
  ) {
    this.pos = start;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.where = opts.where ?? 'pickle';
    this.globals = { ...BUILTIN_GLOBALS, ...opts.globals };
  }

  private fail(why: string): never {
    throw new PickleError(`${this.where}: ${why}`);
  }

  private take(n: number): Uint8Array {
    const end = this.pos + n;
    if (n < 0 || end > this.buf.length) this.fail(`truncated pickle at byte ${this.pos}: the file is incomplete — re-download or re-save it`);
    const out = this.buf.subarray(this.pos, end);
    this.pos = end;
    return out;
  }

  /** Consumes `n` bytes and returns their offset in `view`. */
  private at = (n: number): number => this.take(n).byteOffset - this.buf.byteOffset;
  private u8 = (): number => this.take(1)[0];
  private u16 = (): number => this.view.getUint16(this.at(2), true);
  private u32 = (): number => this.view.getUint32(this.at(4), true);
  private u64 = (): number => {
    const v = this.view.getBigUint64(this.at(8), true);
    if (v > BigInt(this.buf.length)) this.fail(`length ${v} exceeds the file; the pickle is corrupt`);
    return Number(v);
  };

  private line(): string {
    const nl = this.buf.indexOf(0x0a, this.pos);
    if (nl < 0) this.fail(`truncated pickle at byte ${this.pos}: missing newline`);
    return LATIN1.decode(this.take(nl - this.pos + 1).subarray(0, -1));
  }

  /** Decimal text of INT/LONG (an optional trailing 'L' is Python 2's long suffix). */
  private int(text: string): number | bigint {
    const digits = text.trim().replace(/L$/, '');
    if (!/^[-+]?\d+$/.test(digits)) this.fail(`malformed integer '${text}'; the pickle is corrupt`);
    return toInt(BigInt(digits));
  }

  private global(module: string, name: string): PyCallable | PyGlobal {
    const qualname = `${PY2_MODULES[module] ?? module}.${name}`;
    const fn = Object.hasOwn(this.globals, qualname) ? this.globals[qualname] : undefined;
    return fn ? new PyCallable(qualname, fn) : new PyGlobal(qualname);
  }

  /** Reads one pickle (up to STOP) starting at `pos` and returns its value. */
  load(): unknown {
    const stack: unknown[] = [];
    const marks: number[] = [];
    const memo = new Map<number, unknown>();
    const floor = (): number => (marks.length ? marks[marks.length - 1] : 0);
    const pop = (): unknown => (stack.length > floor() ? stack.pop() : this.fail('stack underflow; the pickle is corrupt'));
    const top = (): unknown => (stack.length > floor() ? stack[stack.length - 1] : this.fail('stack underflow; the pickle is corrupt'));
    const popMark = (): unknown[] => {
      const m = marks.pop();
      if (m === undefined) this.fail('missing MARK; the pickle is corrupt');
      return stack.splice(m);
    };
    const resolve = this.opts.persistentLoad;
    const persistent = (pid: unknown): unknown =>
      resolve ? resolve(pid) : this.fail('the pickle uses persistent ids but nothing resolves them; load it through the checkpoint reader');
    const get = (i: number): unknown => (memo.has(i) ? memo.get(i) : this.fail(`memo key ${i} is undefined; the pickle is corrupt`));
    const setItems = (target: unknown, kv: unknown[]): void => {
      const map = target instanceof Map ? target : target instanceof PyObject ? (target.items ??= new Map()) : this.fail(`SETITEM on a ${describe(target)}`);
      for (let i = 0; i + 1 < kv.length; i += 2) map.set(kv[i], kv[i + 1]);
    };
    const append = (target: unknown, vs: unknown[]): void => {
      const list = Array.isArray(target) ? target : target instanceof PyObject ? (target.list ??= []) : this.fail(`APPEND on a ${describe(target)}`);
      for (const v of vs) list.push(v);
    };
    for (;;) {
      const op = this.u8();
      switch (op) {
        case 0x80: { // PROTO
          const p = this.u8();
          if (p > HIGHEST_PROTOCOL) this.fail(`pickle protocol ${p} is newer than ${HIGHEST_PROTOCOL}; re-save with an older protocol`);
          break;
        }
        case 0x95: this.take(8); break; // FRAME: frames are contiguous, the length is only a read-ahead hint
        case 0x2e: return pop(); // STOP
        case 0x28: marks.push(stack.length); break; // MARK
        case 0x30: if (stack.length > floor()) stack.pop(); else popMark(); break; // POP (an empty frame pops its MARK)
        case 0x31: popMark(); break; // POP_MARK
        case 0x32: stack.push(top()); break; // DUP
        case 0x4e: stack.push(null); break; // NONE
        case 0x88: stack.push(true); break; // NEWTRUE
        case 0x89: stack.push(false); break; // NEWFALSE
        case 0x4a: stack.push(this.view.getInt32(this.at(4), true)); break; // BININT
        case 0x4b: stack.push(this.u8()); break; // BININT1
        case 0x4d: stack.push(this.u16()); break; // BININT2
        case 0x8a: stack.push(decodeLong(this.take(this.u8()))); break; // LONG1
        case 0x8b: stack.push(decodeLong(this.take(this.u32()))); break; // LONG4
        case 0x49: { // INT (protocol 0; "01"/"00" are True/False)
          const s = this.line();
          stack.push(s === '01' ? true : s === '00' ? false : this.int(s));
          break;
        }
        case 0x4c: stack.push(this.int(this.line())); break; // LONG
        case 0x47: stack.push(this.view.getFloat64(this.at(8), false)); break; // BINFLOAT (big-endian)
        case 0x46: stack.push(parseFloat(this.line())); break; // FLOAT
        case 0x8c: stack.push(UTF8.decode(this.take(this.u8()))); break; // SHORT_BINUNICODE
        case 0x58: stack.push(UTF8.decode(this.take(this.u32()))); break; // BINUNICODE
        case 0x8d: stack.push(UTF8.decode(this.take(this.u64()))); break; // BINUNICODE8
        case 0x56: stack.push(rawUnicodeUnescape(this.line())); break; // UNICODE
        case 0x55: stack.push(LATIN1.decode(this.take(this.u8()))); break; // SHORT_BINSTRING (Python 2 str, read as latin-1)
        case 0x54: stack.push(LATIN1.decode(this.take(this.u32()))); break; // BINSTRING
        case 0x53: stack.push(unquote(this.line(), this.where)); break; // STRING
        case 0x43: stack.push(this.take(this.u8())); break; // SHORT_BINBYTES
        case 0x42: stack.push(this.take(this.u32())); break; // BINBYTES
        case 0x8e: stack.push(this.take(this.u64())); break; // BINBYTES8
        case 0x96: stack.push(new Uint8Array(this.take(this.u64()))); break; // BYTEARRAY8 (a copy: Buffer.slice would alias)
        case 0x97: // NEXT_BUFFER
        case 0x98: // READONLY_BUFFER
          this.fail('out-of-band buffers (pickle protocol 5) are not supported; re-save with protocol 4 or lower');
        case 0x5d: stack.push([]); break; // EMPTY_LIST
        case 0x29: stack.push([]); break; // EMPTY_TUPLE
        case 0x7d: stack.push(new Map()); break; // EMPTY_DICT
        case 0x8f: stack.push(new Set()); break; // EMPTY_SET
        case 0x6c: // LIST
        case 0x74: stack.push(popMark()); break; // TUPLE
        case 0x85: stack.push([pop()]); break; // TUPLE1
        case 0x86: { const b = pop(); stack.push([pop(), b]); break; } // TUPLE2
        case 0x87: { const c = pop(); const b = pop(); stack.push([pop(), b, c]); break; } // TUPLE3
        case 0x64: { const m = new Map(); setItems(m, popMark()); stack.push(m); break; } // DICT
        case 0x91: stack.push(new Set(popMark())); break; // FROZENSET
        case 0x73: { const v = pop(); const k = pop(); setItems(top(), [k, v]); break; } // SETITEM
        case 0x75: { const kv = popMark(); setItems(top(), kv); break; } // SETITEMS
        case 0x61: { const v = pop(); append(top(), [v]); break; } // APPEND
        case 0x65: { const vs = popMark(); append(top(), vs); break; } // APPENDS
        case 0x90: { // ADDITEMS
          const vs = popMark();
          const s = top();
          if (!(s instanceof Set)) this.fail(`ADDITEMS on a ${describe(s)}`);
          for (const v of vs) s.add(v);
          break;
        }
        case 0x71: memo.set(this.u8(), top()); break; // BINPUT
        case 0x72: memo.set(this.u32(), top()); break; // LONG_BINPUT
        case 0x70: memo.set(Number(this.line()), top()); break; // PUT
        case 0x94: memo.set(memo.size, top()); break; // MEMOIZE
        case 0x68: stack.push(get(this.u8())); break; // BINGET
        case 0x6a: stack.push(get(this.u32())); break; // LONG_BINGET
        case 0x67: stack.push(get(Number(this.line()))); break; // GET
        case 0x63: { const m = this.line(); stack.push(this.global(m, this.line())); break; } // GLOBAL
        case 0x93: { // STACK_GLOBAL
          const name = pop();
          const m = pop();
          if (typeof m !== 'string' || typeof name !== 'string') this.fail('STACK_GLOBAL needs two strings; the pickle is corrupt');
          stack.push(this.global(m, name));
          break;
        }
        case 0x82: // EXT1
        case 0x83: // EXT2
        case 0x84: // EXT4
          this.fail('the pickle uses copyreg extension codes, which are not supported; re-save it without copyreg.add_extension');
        case 0x52: // REDUCE
        case 0x81: { const args = pop(); stack.push(construct(pop(), this.tuple(args))); break; } // NEWOBJ
        case 0x92: { // NEWOBJ_EX
          const kwargs = pop();
          const args = pop();
          stack.push(construct(pop(), this.tuple(args), kwargs instanceof Map ? kwargs : undefined));
          break;
        }
        case 0x6f: { const items = popMark(); stack.push(construct(items[0], items.slice(1))); break; } // OBJ
        case 0x69: { const m = this.line(); const cls = this.global(m, this.line()); stack.push(construct(cls, popMark())); break; } // INST
        case 0x62: this.build(pop(), top()); break; // BUILD
        case 0x50: stack.push(persistent(this.line())); break; // PERSID
        case 0x51: stack.push(persistent(pop())); break; // BINPERSID
        default:
          this.fail(`unknown pickle opcode 0x${op.toString(16)} at byte ${this.pos - 1}; the file is corrupt or not a pickle`);
      }
    }
  }

  private tuple(args: unknown): unknown[] {
    return Array.isArray(args) ? args : this.fail(`call arguments must be a tuple, got a ${describe(args)}`);
  }

  /** BUILD: custom setters first; inert objects record their state; dict attributes (e.g. OrderedDict._metadata) are dropped. */
  private build(state: unknown, obj: unknown): void {
    if (typeof obj === 'object' && obj !== null && SET_STATE in obj) (obj as Stateful)[SET_STATE](state);
    else if (obj instanceof PyObject) obj.state = obj.state instanceof Map && state instanceof Map ? new Map([...obj.state, ...state]) : state;
    else if (!(obj instanceof Map)) this.fail(`BUILD on a ${describe(obj)}; the pickle is malformed`);
  }
}

/** Unpickles one value from `buf`. */
export function unpickle(buf: Uint8Array, opts: UnpickleOptions = {}): unknown {
  return new Unpickler(buf, opts).load();
}
