/**
 * safetensors reader/writer. Format (https://github.com/huggingface/safetensors#format and safetensors/src/tensor.rs):
 * an unsigned little-endian u64 N, then N bytes of UTF-8 JSON starting with '{' (optionally padded with spaces)
 * mapping each tensor name to {"dtype", "shape", "data_offsets": [begin, end]} relative to the data buffer that
 * follows, plus an optional "__metadata__" string->string map. The buffer must be fully indexed with no holes or
 * overlaps; data is little-endian and C-ordered. Like the reference writer, tensors are laid out by decreasing
 * alignment then name, and the header is space-padded to a multiple of 8 bytes so every tensor is naturally aligned.
 */
import { readFile } from 'node:fs/promises';
import { DTYPE_BYTES, bytesOf, numel, viewFromBytes, type DType, type HostTensor } from '../../engine/tensor.js';
import { InputError } from '../../errors.js';
import { writeFileAtomic } from '../atomic.js';

export class SafetensorsError extends InputError {
  override name = 'SafetensorsError';
}

/** Bytes of the header-length prefix. */
const LENGTH_BYTES = 8;
/** Header alignment of the reference writer (safetensors/src/tensor.rs `prepare`: N_LEN alignment of 8). */
const HEADER_ALIGN = 8;
/** Largest header the reference reader accepts (safetensors/src/tensor.rs MAX_HEADER_SIZE). */
const MAX_HEADER_SIZE = 100_000_000;
const METADATA_KEY = '__metadata__';
const SPACE = 0x20;

const DTYPES: Readonly<Record<string, DType>> = {
  F16: 'float16',
  BF16: 'bfloat16',
  F32: 'float32',
  F64: 'float64',
  I64: 'int64',
  I32: 'int32',
  I16: 'int16',
  I8: 'int8',
  U8: 'uint8',
  BOOL: 'bool',
};
const NAMES: Readonly<Record<DType, string>> = Object.fromEntries(Object.entries(DTYPES).map(([k, v]) => [v, k])) as Record<DType, string>;

export interface Safetensors {
  readonly tensors: Map<string, HostTensor>;
  readonly metadata: Record<string, string>;
}

interface HeaderEntry {
  name: string;
  dtype: DType;
  shape: number[];
  begin: number;
  end: number;
}

function parseEntry(name: string, v: unknown, where: string): HeaderEntry {
  const bad = (why: string): SafetensorsError => new SafetensorsError(`${where}: tensor '${name}' ${why}; the file is corrupt or not safetensors`);
  if (typeof v !== 'object' || v === null) throw bad('has no header entry');
  const { dtype, shape, data_offsets: offsets } = v as Record<string, unknown>;
  if (typeof dtype !== 'string') throw bad('has no dtype');
  const dt = DTYPES[dtype];
  if (dt === undefined) {
    throw new SafetensorsError(`${where}: tensor '${name}' has dtype ${dtype}; supported are ${Object.keys(DTYPES).join(', ')} — convert it before saving`);
  }
  const isDims = (a: unknown): a is number[] => Array.isArray(a) && a.every((d) => Number.isSafeInteger(d) && d >= 0);
  if (!isDims(shape)) throw bad('has a malformed shape');
  if (!isDims(offsets) || offsets.length !== 2 || offsets[1] < offsets[0]) throw bad('has malformed data_offsets');
  const [begin, end] = offsets;
  if (end - begin !== numel(shape) * DTYPE_BYTES[dt]) throw bad(`spans ${end - begin} bytes but ${dtype}[${shape.join(',')}] needs ${numel(shape) * DTYPE_BYTES[dt]}`);
  return { name, dtype: dt, shape, begin, end };
}

/** `true` when the bytes plausibly start a safetensors file (a sane header length, then '{'). */
export function looksLikeSafetensors(buf: Uint8Array): boolean {
  if (buf.length <= LENGTH_BYTES || buf[LENGTH_BYTES] !== '{'.charCodeAt(0)) return false;
  const n = new DataView(buf.buffer, buf.byteOffset, buf.byteLength).getBigUint64(0, true);
  return n <= BigInt(Math.min(MAX_HEADER_SIZE, buf.length - LENGTH_BYTES));
}

/** Parses safetensors bytes. `where` names the source in error messages. */
export function parseSafetensors(buf: Uint8Array, where = 'safetensors data'): Safetensors {
  if (buf.length < LENGTH_BYTES) throw new SafetensorsError(`${where}: too short for a safetensors file (${buf.length} bytes)`);
  const n = new DataView(buf.buffer, buf.byteOffset, buf.byteLength).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_SIZE)) throw new SafetensorsError(`${where}: header length ${n} exceeds ${MAX_HEADER_SIZE}; not a safetensors file`);
  const start = LENGTH_BYTES + Number(n);
  if (start > buf.length) throw new SafetensorsError(`${where}: header needs ${start} bytes but the file has ${buf.length}; it is truncated`);
  if (buf[LENGTH_BYTES] !== '{'.charCodeAt(0)) throw new SafetensorsError(`${where}: header does not start with '{'; not a safetensors file`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(buf.subarray(LENGTH_BYTES, start)));
  } catch (e) {
    throw new SafetensorsError(`${where}: header is not valid UTF-8 JSON (${(e as Error).message}); the file is corrupt`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw new SafetensorsError(`${where}: header is not a JSON object`);
  const metadata: [string, string][] = [];
  const entries: HeaderEntry[] = [];
  for (const [name, v] of Object.entries(header)) {
    if (name !== METADATA_KEY) {
      entries.push(parseEntry(name, v, where));
      continue;
    }
    if (typeof v !== 'object' || v === null) throw new SafetensorsError(`${where}: ${METADATA_KEY} must be an object of strings`);
    for (const [k, s] of Object.entries(v)) {
      if (typeof s !== 'string') throw new SafetensorsError(`${where}: ${METADATA_KEY}.${k} is not a string; metadata values must be strings`);
      metadata.push([k, s]);
    }
  }
  const data = buf.subarray(start);
  let covered = 0;
  for (const e of [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end)) {
    if (e.begin !== covered) {
      throw new SafetensorsError(`${where}: tensor '${e.name}' starts at byte ${e.begin}, expected ${covered} (holes or overlaps in the data buffer); the file is corrupt`);
    }
    covered = e.end;
  }
  if (covered !== data.length) {
    throw new SafetensorsError(`${where}: the header indexes ${covered} data bytes but the file has ${data.length}; it is ${covered > data.length ? 'truncated' : 'corrupt'}`);
  }
  const tensors = new Map<string, HostTensor>();
  // Views of the file's bytes where aligned (the reference writer pads the header to 8 bytes), copies elsewhere.
  for (const e of entries) tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data: viewFromBytes(e.dtype, data.subarray(e.begin, e.end)) });
  return { tensors, metadata: Object.fromEntries(metadata) };
}

export async function readSafetensors(path: string): Promise<Safetensors> {
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (e) {
    throw new SafetensorsError(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}; check the path`);
  }
  return parseSafetensors(buf, path);
}

/** Serialises tensors (and an optional string metadata map) as safetensors bytes. */
export function encodeSafetensors(tensors: ReadonlyMap<string, HostTensor>, metadata: Readonly<Record<string, string>> = {}): Uint8Array {
  if (tensors.has(METADATA_KEY)) throw new SafetensorsError(`'${METADATA_KEY}' is reserved and cannot name a tensor`);
  const order = [...tensors.keys()].sort((a, b) => {
    const d = DTYPE_BYTES[tensors.get(b)!.dtype] - DTYPE_BYTES[tensors.get(a)!.dtype];
    return d !== 0 ? d : a < b ? -1 : a > b ? 1 : 0;
  });
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header[METADATA_KEY] = { ...metadata };
  let offset = 0;
  for (const name of order) {
    const t = tensors.get(name)!;
    const size = numel(t.shape) * DTYPE_BYTES[t.dtype];
    if (t.data.byteLength !== size) throw new SafetensorsError(`tensor '${name}' has ${t.data.byteLength} data bytes but ${t.dtype}[${t.shape.join(',')}] needs ${size}`);
    header[name] = { dtype: NAMES[t.dtype], shape: [...t.shape], data_offsets: [offset, offset + size] };
    offset += size;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const headerLen = Math.ceil(json.length / HEADER_ALIGN) * HEADER_ALIGN;
  const out = new Uint8Array(LENGTH_BYTES + headerLen + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLen), true);
  out.set(json, LENGTH_BYTES);
  out.fill(SPACE, LENGTH_BYTES + json.length, LENGTH_BYTES + headerLen);
  let p = LENGTH_BYTES + headerLen;
  for (const name of order) {
    const bytes = bytesOf(tensors.get(name)!.data);
    out.set(bytes, p);
    p += bytes.length;
  }
  return out;
}

/** Writes atomically: a crash or error never leaves a partial file at `path`. */
export async function writeSafetensors(path: string, tensors: ReadonlyMap<string, HostTensor>, metadata: Readonly<Record<string, string>> = {}): Promise<void> {
  await writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}
