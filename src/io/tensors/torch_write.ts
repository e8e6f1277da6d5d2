/**
 * `torch.save` in its zip format (PyTorch >= 1.6, torch/serialization.py `_save`): `archive/data.pkl` is the pickled
 * object whose tensors are persistent ids naming `archive/data/<key>` (raw little-endian bytes), plus
 * `archive/version`; float32 and int64 tensors. Entries are stored uncompressed (PKWARE APPNOTE 4.3.7, 4.3.12, 4.3.16). ./torch.ts reads it
 * back, and so does PyTorch. Written atomically.
 */
import { crc32 } from 'node:zlib';
import type { HostTensor } from '../../engine/tensor.js';
import { writeFileAtomic } from '../atomic.js';
import { TorchTensor, pickleDump, type DictKey, type Picklable } from './pickle_write.js';

/** A value to save: Picklable, with HostTensors (float32) anywhere a tensor goes. */
export type Saveable = Picklable | HostTensor | readonly Saveable[] | { readonly tuple: readonly Saveable[] } | { readonly dict: readonly (readonly [DictKey, Saveable])[]; readonly ordered?: boolean };

/** torch storage classes of the dtypes written. */
const STORAGES: Partial<Record<HostTensor['dtype'], 'FloatStorage' | 'LongStorage'>> = { float32: 'FloatStorage', int64: 'LongStorage' };

const isTensor = (v: unknown): v is HostTensor => typeof v === 'object' && v !== null && 'dtype' in v && 'shape' in v && 'data' in v;

/**
 * PyTorch's record alignment (caffe2/serialize/inline_container.cc `kFieldAlignment`, `getPadding`): every entry's
 * data starts at a multiple of 64 bytes, padded by a local-header extra field with id "FB" filled with 'Z'. Readers
 * can then view the tensors in place (engine/tensor.ts viewFromBytes).
 */
const FIELD_ALIGNMENT = 64;
const LOCAL_HEADER_BYTES = 30;
const EXTRA_HEADER_BYTES = 4;

/** The "FB" extra field that pads an entry's data starting after `start` bytes (header and name) to the alignment. */
function alignmentExtra(start: number): Uint8Array {
  const pad = (FIELD_ALIGNMENT - ((start + EXTRA_HEADER_BYTES) % FIELD_ALIGNMENT)) % FIELD_ALIGNMENT;
  const extra = new Uint8Array(EXTRA_HEADER_BYTES + pad).fill(0x5a); // 'Z'
  extra.set([0x46, 0x42, pad & 0xff, pad >> 8]); // 'F', 'B', the padding's length (little-endian)
  return extra;
}

/** A stored-entry zip archive. */
function zip(entries: readonly { name: string; data: Uint8Array }[]): Uint8Array {
  const chunks: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = new TextEncoder().encode(e.name);
    const crc = crc32(e.data);
    const extra = alignmentExtra(offset + LOCAL_HEADER_BYTES + name.length);
    const local = new DataView(new ArrayBuffer(LOCAL_HEADER_BYTES));
    local.setUint32(0, 0x04034b50, true);
    local.setUint16(4, 20, true);
    local.setUint32(14, crc, true);
    local.setUint32(18, e.data.length, true);
    local.setUint32(22, e.data.length, true);
    local.setUint16(26, name.length, true);
    local.setUint16(28, extra.length, true);
    chunks.push(new Uint8Array(local.buffer), name, extra, e.data);
    const cd = new DataView(new ArrayBuffer(46));
    cd.setUint32(0, 0x02014b50, true);
    cd.setUint16(4, 20, true);
    cd.setUint16(6, 20, true);
    cd.setUint32(16, crc, true);
    cd.setUint32(20, e.data.length, true);
    cd.setUint32(24, e.data.length, true);
    cd.setUint16(28, name.length, true);
    cd.setUint32(42, offset, true);
    central.push(new Uint8Array(cd.buffer), name);
    offset += LOCAL_HEADER_BYTES + name.length + extra.length + e.data.length;
  }
  const cdSize = central.reduce((s, c) => s + c.length, 0);
  const end = new DataView(new ArrayBuffer(22));
  end.setUint32(0, 0x06054b50, true);
  end.setUint16(8, entries.length, true);
  end.setUint16(10, entries.length, true);
  end.setUint32(12, cdSize, true);
  end.setUint32(16, offset, true);
  return Buffer.concat([...chunks, ...central, new Uint8Array(end.buffer)]);
}

/** The bytes of `torch.save(value)`. */
function encodeTorchSave(value: Saveable): Uint8Array {
  const storages: Uint8Array[] = [];
  const convert = (v: Saveable): Picklable => {
    if (isTensor(v)) {
      const storage = STORAGES[v.dtype];
      if (!storage) throw new Error(`torch.save writer: float32 and int64 tensors only, got ${v.dtype}`);
      const key = String(storages.length);
      storages.push(new Uint8Array(v.data.buffer, v.data.byteOffset, v.data.byteLength));
      return new TorchTensor(key, v.shape, v.data.length, storage);
    }
    if (Array.isArray(v)) return v.map(convert);
    if (typeof v === 'object' && v !== null && 'tuple' in v) return { tuple: v.tuple.map(convert) };
    if (typeof v === 'object' && v !== null && 'dict' in v) return { dict: v.dict.map(([k, x]) => [k, convert(x)] as const), ordered: v.ordered };
    return v as Picklable;
  };
  const pkl = pickleDump(convert(value));
  return zip([
    { name: 'archive/data.pkl', data: pkl },
    ...storages.map((data, i) => ({ name: `archive/data/${i}`, data })),
    { name: 'archive/version', data: new TextEncoder().encode('3\n') },
  ]);
}

/** `torch.save(state_dict, path)` for a flat state dict (an OrderedDict). */
export function saveTorchStateDict(path: string, stateDict: ReadonlyMap<string, HostTensor>): Promise<void> {
  return writeFileAtomic(path, encodeTorchSave({ dict: [...stateDict], ordered: true }));
}

/** `torch.save(value, path)`. */
export function saveTorch(path: string, value: Saveable): Promise<void> {
  return writeFileAtomic(path, encodeTorchSave(value));
}
