/**
 * PyTorch pickles: the allow-listed tensor-rebuilding globals every torch pickle uses, storage references, tensor
 * materialisation (size/stride/storage offset -> C-contiguous host data), the pre-1.6 "legacy" `torch.save` format,
 * and plain pickles holding tensors (e.g. NVIDIA stylegan2-ada network `.pkl` files).
 * References (PyTorch 1.13 sources): torch/serialization.py (`MAGIC_NUMBER`, `PROTOCOL_VERSION`, `_legacy_save`,
 * `_legacy_load`: magic, protocol and sys_info pickles, the object pickle with persistent ids
 * ('storage', storage_type, root_key, location, numel, view_metadata), the storage key list pickle, then each storage
 * as an int64 element count followed by its raw little-endian bytes), torch/_utils.py (`_rebuild_tensor_v2`,
 * `_rebuild_parameter`, `_rebuild_from_type_v2`), torch/storage.py (`_load_from_bytes`: storages pickled outside
 * torch.save carry the bytes of a nested legacy torch.save), torch/jit/_pickle.py (TorchScript list builders).
 */
import { DTYPE_BYTES, allocData, fileTensor, numel, viewFromBytes, type DType, type FileRegion, type HostTensor, type TypedData } from '../../engine/tensor.js';
import { InputError } from '../../errors.js';
import { Unpickler, construct, describe, type GlobalFn } from './pickle.js';

export class TorchCheckpointError extends InputError {
  override name = 'TorchCheckpointError';
}

/** torch/serialization.py MAGIC_NUMBER and PROTOCOL_VERSION of the legacy format. */
const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL = 1001;
/** Bytes of the int64 element count that precedes each legacy storage (torch/csrc/generic/serialization.cpp). */
const LEGACY_COUNT_BYTES = 8;

/** Element types of the storage classes torch pickles name (torch/__init__.py, torch/cuda/__init__.py). */
const STORAGE_TYPES: Readonly<Record<string, DType>> = {
  HalfStorage: 'float16',
  FloatStorage: 'float32',
  DoubleStorage: 'float64',
  BFloat16Storage: 'bfloat16',
  LongStorage: 'int64',
  IntStorage: 'int32',
  ShortStorage: 'int16',
  CharStorage: 'int8',
  ByteStorage: 'uint8',
  BoolStorage: 'bool',
  UntypedStorage: 'uint8',
};

function storageDtype(type: unknown, where: string): DType {
  const qualname = typeof type === 'object' && type !== null && 'qualname' in type ? String(type.qualname) : describe(type);
  const m = /^torch\.(?:cuda\.)?(\w+)$/.exec(qualname);
  const dtype = m ? STORAGE_TYPES[m[1]] : undefined;
  if (dtype === undefined) {
    throw new TorchCheckpointError(`${where}: tensors stored as ${qualname} are not supported; convert them to float32/float16 before saving`);
  }
  return dtype;
}

/** A torch storage: raw bytes (known once the file section holding them is read) or a view into another storage. */
export class Storage {
  private data: Uint8Array | undefined;
  private load?: () => Uint8Array;
  /** Where the storage's bytes lie in the checkpoint file, when they are read from it on demand. */
  region?: FileRegion;

  constructor(
    readonly dtype: DType,
    readonly numel: number,
    readonly where: string,
    private readonly base?: { storage: Storage; offset: number },
  ) {}

  private checkSize(bytes: number): void {
    const need = this.numel * DTYPE_BYTES[this.dtype];
    if (bytes < need) {
      throw new TorchCheckpointError(`${this.where}: a ${this.dtype} storage needs ${need} bytes but the file holds ${bytes}; the checkpoint is truncated — re-download it`);
    }
  }

  fill(bytes: Uint8Array): void {
    this.checkSize(bytes.length);
    this.data = bytes.subarray(0, this.numel * DTYPE_BYTES[this.dtype]);
  }

  /** The storage's `size` bytes are read by `load` when first needed; `region` says where they lie in the file. */
  defer(size: number, load: () => Uint8Array, region: FileRegion | undefined): void {
    this.checkSize(size);
    this.load = load;
    this.region = region;
  }

  bytes(): Uint8Array {
    if (this.base) {
      const size = DTYPE_BYTES[this.dtype];
      return this.base.storage.bytes().subarray(this.base.offset * size, (this.base.offset + this.numel) * size);
    }
    if (!this.data && this.load) this.fill(this.load());
    if (!this.data) throw new TorchCheckpointError(`${this.where}: a tensor's storage is missing from the file; the checkpoint is corrupt`);
    return this.data;
  }
}

interface StoragePid {
  readonly dtype: DType;
  readonly key: string;
  readonly numel: number;
  /** Legacy format only: (view_key, offset, size) when the tensor's storage is a slice of another. */
  readonly view?: { key: string; offset: number; numel: number };
}

const asKey = (v: unknown): string => (v instanceof Uint8Array ? new TextDecoder('latin1').decode(v) : String(v));

/** Decodes a storage persistent id ('storage', storage_type, key, location, numel[, view_metadata]). */
export function parseStoragePid(pid: unknown, where: string): StoragePid {
  if (!Array.isArray(pid) || asKey(pid[0]) !== 'storage' || pid.length < 5) {
    throw new TorchCheckpointError(`${where}: unknown persistent id ${describe(pid)}; the checkpoint is corrupt or from an unsupported PyTorch version`);
  }
  const view = pid[5];
  return {
    dtype: storageDtype(pid[1], where),
    key: asKey(pid[2]),
    numel: Number(pid[4]),
    view: Array.isArray(view) ? { key: asKey(view[0]), offset: Number(view[1]), numel: Number(view[2]) } : undefined,
  };
}

/** A tensor as the pickle describes it: a strided view of a storage, materialised on demand. */
export class TensorRef {
  constructor(
    readonly storage: Storage,
    readonly offset: number,
    readonly shape: readonly number[],
    readonly stride: readonly number[],
  ) {}
}

function ints(v: unknown, what: string): number[] {
  if (!Array.isArray(v) || !v.every((x) => Number.isInteger(Number(x)) && Number(x) >= 0)) {
    throw new TorchCheckpointError(`tensor ${what} ${describe(v)} is not a tuple of non-negative integers; the checkpoint is corrupt`);
  }
  return v.map(Number);
}

/** `_rebuild_tensor(storage, storage_offset, size, stride)` and `_rebuild_tensor_v2(..., requires_grad, hooks)`. */
function rebuildTensor(a: unknown[]): TensorRef {
  const [storage, offset, size, stride] = a;
  if (!(storage instanceof Storage)) throw new TorchCheckpointError(`a tensor is built from a ${describe(storage)} instead of a storage; the checkpoint is corrupt`);
  const shape = ints(size, 'size');
  const strides = ints(stride, 'stride');
  if (strides.length !== shape.length) throw new TorchCheckpointError(`tensor size [${shape}] and stride [${strides}] differ in rank; the checkpoint is corrupt`);
  return new TensorRef(storage, ints([offset], 'offset')[0], shape, strides);
}

const first: GlobalFn = (a) => a[0];

/** The torch allow-list. `loadFromBytes` parses the bytes of a nested legacy torch.save (torch.storage._load_from_bytes). */
export function torchGlobals(loadFromBytes: (bytes: Uint8Array) => unknown): Record<string, GlobalFn> {
  const rebuildFromType: GlobalFn = (a) => construct(a[0], Array.isArray(a[2]) ? a[2] : []);
  return {
    'torch._utils._rebuild_tensor': rebuildTensor,
    'torch._utils._rebuild_tensor_v2': rebuildTensor,
    'torch._utils._rebuild_parameter': first,
    'torch._utils._rebuild_parameter_with_state': first,
    'torch._utils._rebuild_from_type_v2': rebuildFromType,
    'torch._tensor._rebuild_from_type_v2': rebuildFromType,
    'torch.Size': (a) => (Array.isArray(a[0]) ? [...a[0]] : []),
    'torch.storage._load_from_bytes': (a) => {
      if (!(a[0] instanceof Uint8Array)) throw new TorchCheckpointError(`_load_from_bytes of a ${describe(a[0])}; the pickle is corrupt`);
      return loadFromBytes(a[0]);
    },
    'torch.jit._pickle.build_intlist': first,
    'torch.jit._pickle.build_doublelist': first,
    'torch.jit._pickle.build_boollist': first,
    'torch.jit._pickle.build_tensorlist': first,
    'torch.jit._pickle.restore_type_tag': first,
  };
}

function isContiguous(shape: readonly number[], stride: readonly number[]): boolean {
  let expect = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] !== 1 && stride[i] !== expect) return false;
    expect *= shape[i];
  }
  return true;
}

/** Word views for bit-exact strided copies: 1-, 2- or 4-byte words, `per` words per element. */
function words(bytes: ArrayBuffer, offset: number, length: number, size: number): { w: Uint8Array | Uint16Array | Uint32Array; per: number } {
  if (size === 1) return { w: new Uint8Array(bytes, offset, length), per: 1 };
  if (size === 2) return { w: new Uint16Array(bytes, offset, length / 2), per: 1 };
  return { w: new Uint32Array(bytes, offset, length / 4), per: size / 4 };
}

/** Copies a strided view (element offsets relative to `src`) into C-contiguous `dst`. */
function gather(src: Uint8Array, dst: Uint8Array, shape: readonly number[], stride: readonly number[], size: number): void {
  const s = words(src.buffer as ArrayBuffer, src.byteOffset, src.byteLength, size);
  const d = words(dst.buffer as ArrayBuffer, dst.byteOffset, dst.byteLength, size);
  const rank = shape.length;
  const inner = shape[rank - 1];
  const innerStride = stride[rank - 1] * s.per;
  const index = new Array<number>(rank - 1).fill(0);
  const rows = numel(shape) / inner;
  let o = 0;
  for (let r = 0; r < rows; r++) {
    let base = 0;
    for (let i = 0; i < rank - 1; i++) base += index[i] * stride[i];
    base *= s.per;
    if (innerStride === s.per) {
      d.w.set(s.w.subarray(base, base + inner * s.per), o);
      o += inner * s.per;
    } else {
      for (let k = 0; k < inner; k++, base += innerStride) for (let j = 0; j < s.per; j++) d.w[o++] = s.w[base + j];
    }
    for (let i = rank - 2; i >= 0 && ++index[i] === shape[i]; i--) index[i] = 0;
  }
}

/** The tensor's elements as a C-contiguous host tensor: a view of the file's bytes when contiguous and aligned, else one copy. */
export function materialize(t: TensorRef): HostTensor {
  const { dtype } = t.storage;
  const size = DTYPE_BYTES[dtype];
  const n = numel(t.shape);
  const shape = [...t.shape];
  if (n === 0) return { dtype, shape, data: allocData(dtype, 0) };
  let last = t.offset;
  for (let i = 0; i < shape.length; i++) last += (shape[i] - 1) * t.stride[i];
  if (last >= t.storage.numel) {
    throw new TorchCheckpointError(`${t.storage.where}: a tensor [${shape}] at offset ${t.offset} reaches element ${last} of a ${t.storage.numel}-element storage; the checkpoint is corrupt`);
  }
  if (isContiguous(shape, t.stride)) {
    const view = (): TypedData => viewFromBytes(dtype, t.storage.bytes().subarray(t.offset * size, (t.offset + n) * size));
    const region = t.storage.region;
    // A storage read from its file on demand: the tensor is too (and onnxruntime can map it from there).
    return region ? fileTensor(dtype, shape, { path: region.path, offset: region.offset + t.offset * size }, view) : { dtype, shape, data: view() };
  }
  const bytes = t.storage.bytes();
  const data = allocData(dtype, n);
  gather(new Uint8Array(bytes.subarray(t.offset * size, (last + 1) * size)), new Uint8Array(data.buffer, data.byteOffset, data.byteLength), shape, t.stride, size);
  return { dtype, shape, data };
}

/** Parsed pickle-based checkpoint: `legacy` torch.save, or a plain `pickle` (no torch.save framing). */
interface PickledCheckpoint {
  readonly format: 'legacy' | 'pickle';
  readonly root: unknown;
}

/** Parses a legacy torch.save file or a plain pickle holding tensors; tensors stay lazy `TensorRef`s. */
export function parsePickledCheckpoint(buf: Uint8Array, where: string): PickledCheckpoint {
  const storages = new Map<string, Storage>();
  const persistentLoad = (pid: unknown): Storage => {
    const p = parseStoragePid(pid, where);
    let root = storages.get(p.key);
    if (!root) storages.set(p.key, (root = new Storage(p.dtype, p.numel, where)));
    if (!p.view) return root;
    const view = new Storage(p.dtype, p.view.numel, where, { storage: root, offset: p.view.offset });
    storages.set(p.view.key, view);
    return view;
  };
  const globals = torchGlobals((bytes) => parsePickledCheckpoint(bytes, `${where} (embedded torch.save bytes)`).root);
  const u = new Unpickler(buf, { where, globals, persistentLoad });
  const first = u.load();
  if (first !== LEGACY_MAGIC) return { format: 'pickle', root: first };
  const protocol = u.load();
  if (protocol !== LEGACY_PROTOCOL) throw new TorchCheckpointError(`${where}: legacy torch.save protocol ${String(protocol)} is not supported; re-save the checkpoint with a current PyTorch`);
  const sysInfo = u.load();
  if (sysInfo instanceof Map && sysInfo.get('little_endian') === false) {
    throw new TorchCheckpointError(`${where}: the checkpoint was saved on a big-endian machine; re-save it on a little-endian one`);
  }
  const root = u.load();
  const keys = u.load();
  if (!Array.isArray(keys)) throw new TorchCheckpointError(`${where}: the legacy storage key list is missing; the checkpoint is corrupt`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let pos = u.pos;
  for (const k of keys) {
    const s = storages.get(asKey(k));
    if (!s) throw new TorchCheckpointError(`${where}: storage '${asKey(k)}' is listed but never used; the checkpoint is corrupt`);
    if (pos + LEGACY_COUNT_BYTES > buf.length) throw new TorchCheckpointError(`${where}: the file ends inside its storages; the checkpoint is truncated — re-download it`);
    const count = Number(view.getBigInt64(pos, true));
    const end = pos + LEGACY_COUNT_BYTES + count * DTYPE_BYTES[s.dtype];
    if (count !== s.numel) {
      throw new TorchCheckpointError(`${where}: storage '${asKey(k)}' should hold ${s.numel} elements but the file records ${count}; the checkpoint is corrupt`);
    }
    if (end > buf.length) {
      const want = end - pos - LEGACY_COUNT_BYTES;
      const have = Math.max(0, buf.length - pos - LEGACY_COUNT_BYTES);
      throw new TorchCheckpointError(`${where}: storage '${asKey(k)}' needs ${want} bytes but the file has only ${have} left (${buf.length} bytes in all); the checkpoint is truncated — re-download it`);
    }
    s.fill(buf.subarray(pos + LEGACY_COUNT_BYTES, end));
    pos = end;
  }
  return { format: 'legacy', root };
}
