/**
 * Host tensors: plain typed arrays with a dtype and a static shape, the currency between file readers (src/io),
 * the session runner and task code. Data is C-contiguous (row-major). float16/bfloat16 are kept as raw Uint16 bits
 * and widened with `toFloat32`.
 */
export type DType =
  | 'float32'
  | 'float64'
  | 'float16'
  | 'bfloat16'
  | 'int64'
  | 'int32'
  | 'int16'
  | 'int8'
  | 'uint8'
  | 'bool';

export type TypedData =
  | Float32Array
  | Float64Array
  | Uint16Array
  | BigInt64Array
  | Int32Array
  | Int16Array
  | Int8Array
  | Uint8Array;

export interface HostTensor {
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly data: TypedData;
}

/** Where a tensor's bytes lie unchanged in a file: raw little-endian, C order, from `offset`. */
export interface FileRegion {
  readonly path: string;
  readonly offset: number;
}

const REGIONS = new WeakMap<HostTensor, FileRegion>();

/**
 * A tensor whose bytes lie in a file (a checkpoint's storage) and are read on first use of `data` (`load`). A
 * session hands such a weight to onnxruntime as external data (./onnx.ts), which maps the file: weights that no
 * JavaScript code reads are never copied into memory (e4e's 1.07 GB encoder: no read, no serialised copy). Anything
 * derived from it — a spread copy `{...t}`, a transform — reads `data` and is an ordinary tensor.
 */
export function fileTensor(dtype: DType, shape: readonly number[], region: FileRegion, load: () => TypedData): HostTensor {
  let data: TypedData | undefined;
  const t = { dtype, shape } as { dtype: DType; shape: readonly number[]; data: TypedData };
  Object.defineProperty(t, 'data', { enumerable: true, get: () => (data ??= load()) });
  REGIONS.set(t, region);
  return t;
}

/** The file region a tensor of `fileTensor` lies in; undefined for every other tensor. */
export function fileRegionOf(t: HostTensor): FileRegion | undefined {
  return REGIONS.get(t);
}

/** Bytes per element of each dtype. */
export const DTYPE_BYTES: Readonly<Record<DType, number>> = Object.freeze({
  float32: 4,
  float64: 8,
  float16: 2,
  bfloat16: 2,
  int64: 8,
  int32: 4,
  int16: 2,
  int8: 1,
  uint8: 1,
  bool: 1,
});

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Bytes of a tensor's data, from its shape (a file-backed tensor's data is not read). */
export function tensorBytes(t: HostTensor): number {
  return numel(t.shape) * DTYPE_BYTES[t.dtype];
}

/** The typed-array constructor of each dtype (allocData allocates it, viewFromBytes views with it). */
const ARRAY_OF: Readonly<Record<DType, new (b: ArrayBufferLike, offset: number, length: number) => TypedData>> = Object.freeze({
  float32: Float32Array,
  float64: Float64Array,
  float16: Uint16Array,
  bfloat16: Uint16Array,
  int64: BigInt64Array,
  int32: Int32Array,
  int16: Int16Array,
  int8: Int8Array,
  uint8: Uint8Array,
  bool: Uint8Array,
});

/** Allocates a typed array of `n` elements for `dtype`. */
export function allocData(dtype: DType, n: number): TypedData {
  return new ARRAY_OF[dtype](new ArrayBuffer(n * DTYPE_BYTES[dtype]), 0, n);
}

/** Wraps little-endian bytes (copied, so alignment never matters) as a typed array of `dtype`. */
export function dataFromBytes(dtype: DType, bytes: Uint8Array): TypedData {
  const size = DTYPE_BYTES[dtype];
  if (bytes.byteLength % size !== 0) {
    throw new Error(`${bytes.byteLength} bytes is not a whole number of ${dtype} elements`);
  }
  const out = allocData(dtype, bytes.byteLength / size);
  new Uint8Array(out.buffer, out.byteOffset, out.byteLength).set(bytes);
  return out;
}


/**
 * Little-endian bytes as a typed array of `dtype`: a view sharing their memory when they sit at an offset aligned to
 * the element size (a checkpoint's storages do: torch.save aligns them to 64 bytes), else a copy (dataFromBytes).
 * Loading a 1.2 GB checkpoint then costs no second copy (e4e's file: 3.7 s -> 0.1 s to parse on a VM where fresh
 * memory costs ~3 s/GB); the views keep the file's buffer alive while any of them is.
 */
export function viewFromBytes(dtype: DType, bytes: Uint8Array): TypedData {
  const size = DTYPE_BYTES[dtype];
  if (bytes.byteOffset % size !== 0 || bytes.byteLength % size !== 0) return dataFromBytes(dtype, bytes);
  return new ARRAY_OF[dtype](bytes.buffer, bytes.byteOffset, bytes.byteLength / size);
}

/** The raw little-endian bytes of a typed array (a view, not a copy). */
export function bytesOf(data: TypedData): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

export function tensor(dtype: DType, shape: readonly number[], data?: TypedData): HostTensor {
  const n = numel(shape);
  const d = data ?? allocData(dtype, n);
  if (d.length !== n) throw new Error(`data has ${d.length} elements but shape [${shape.join(',')}] needs ${n}`);
  return { dtype, shape: [...shape], data: d };
}

export function f32(shape: readonly number[], data?: ArrayLike<number>): HostTensor {
  const d = data === undefined ? new Float32Array(numel(shape)) : Float32Array.from(data);
  return tensor('float32', shape, d);
}

/** IEEE 754 half -> float. */
export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

const F32_SCRATCH = new Float32Array(1);
const U32_SCRATCH = new Uint32Array(F32_SCRATCH.buffer);

/** float -> IEEE 754 half, round to nearest even. */
export function floatToHalf(v: number): number {
  F32_SCRATCH[0] = v;
  const x = U32_SCRATCH[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++;
  return sign | half;
}

let HALF_TABLE: Float32Array | undefined;

/** All 65,536 half values as floats, built on first use (fp16 checkpoints widen through it). */
function halfTable(): Float32Array {
  if (!HALF_TABLE) {
    HALF_TABLE = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) HALF_TABLE[h] = halfToFloat(h);
  }
  return HALF_TABLE;
}

/** Any numeric host tensor widened/narrowed to float32. */
export function toFloat32(t: HostTensor): HostTensor {
  if (t.dtype === 'float32') return t;
  const n = t.data.length;
  const out = new Float32Array(n);
  const src = t.data;
  if (t.dtype === 'float16') {
    const lut = halfTable();
    for (let i = 0; i < n; i++) out[i] = lut[(src as Uint16Array)[i]];
  } else if (t.dtype === 'bfloat16') {
    const u = new Uint32Array(out.buffer);
    for (let i = 0; i < n; i++) u[i] = (src as Uint16Array)[i] << 16;
  } else if (t.dtype === 'int64') {
    for (let i = 0; i < n; i++) out[i] = Number((src as BigInt64Array)[i]);
  } else {
    for (let i = 0; i < n; i++) out[i] = Number(src[i]);
  }
  return { dtype: 'float32', shape: t.shape, data: out };
}

export function shapeStr(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

/** The transpose of a 2-D float32 tensor [r, c] -> [c, r] (host side, e.g. a weight laid out for Gemm/MatMul). */
export function transpose2d(t: HostTensor): HostTensor {
  if (t.shape.length !== 2) throw new Error(`transpose2d: expected a 2-D tensor, got [${t.shape.join(',')}]`);
  const [r, c] = t.shape;
  const out = new Float32Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = Number(t.data[i * c + j]);
  return { dtype: 'float32', shape: [c, r], data: out };
}

/** A float32 tensor with its axes permuted: out axis d is input axis perm[d] (host side, numpy's `transpose`). */
export function permute(t: HostTensor, perm: readonly number[]): HostTensor {
  if (perm.length !== t.shape.length) throw new Error(`permute: ${perm.length} axes for a rank-${t.shape.length} tensor`);
  const shape = perm.map((p) => t.shape[p]);
  const src = t.data as Float32Array;
  const out = new Float32Array(src.length);
  const inStrides = t.shape.map((_, i) => t.shape.slice(i + 1).reduce((a, b) => a * b, 1));
  const idx = new Array<number>(shape.length).fill(0);
  for (let o = 0; o < out.length; o++) {
    let s = 0;
    for (let d = 0; d < shape.length; d++) s += idx[d] * inStrides[perm[d]];
    out[o] = src[s];
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
  return { dtype: 'float32', shape, data: out };
}

/** A 0-d tensor holding `v` (float32 unless another dtype is asked for). */
export function scalarTensor(v: number, dtype: DType = 'float32'): HostTensor {
  switch (dtype) {
    case 'float32':
      return { dtype, shape: [], data: Float32Array.of(v) };
    case 'float64':
      return { dtype, shape: [], data: Float64Array.of(v) };
    case 'int64':
      return { dtype, shape: [], data: BigInt64Array.of(BigInt(v)) };
    case 'int32':
      return { dtype, shape: [], data: Int32Array.of(v) };
    case 'bool':
      return { dtype, shape: [], data: Uint8Array.of(v ? 1 : 0) };
    default:
      throw new Error(`scalar constants of dtype ${dtype} are not supported`);
  }
}
