/**
 * Writes a float32 state dict as PyTorch's `torch.save` zip format (PyTorch >= 1.6, torch/serialization.py `_save`):
 * `archive/data.pkl` is a protocol-2 pickle of an OrderedDict whose values are
 * `torch._utils._rebuild_tensor_v2(storage, 0, size, stride, False, OrderedDict())`, each storage a persistent id
 * `('storage', torch.FloatStorage, key, 'cpu', numel)` naming the raw little-endian bytes `archive/data/<key>`.
 * The zip is written with stored (uncompressed) entries (PKWARE APPNOTE 4.3.7, 4.3.12, 4.3.16).
 */
import { writeFileSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import type { HostTensor } from '../../src/engine/tensor.js';

class PickleWriter {
  private readonly parts: Uint8Array[] = [];
  byte(...b: number[]): void {
    this.parts.push(Uint8Array.from(b));
  }
  private u32(v: number): void {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v, true);
    this.parts.push(b);
  }
  op(c: string): void {
    this.byte(c.charCodeAt(0));
  }
  global(module: string, name: string): void {
    this.parts.push(new TextEncoder().encode(`c${module}\n${name}\n`));
  }
  str(s: string): void {
    const b = new TextEncoder().encode(s);
    this.op('X');
    this.u32(b.length);
    this.parts.push(b);
  }
  int(v: number): void {
    this.op('J');
    const b = new Uint8Array(4);
    new DataView(b.buffer).setInt32(0, v, true);
    this.parts.push(b);
  }
  tuple(values: readonly number[]): void {
    this.op('(');
    for (const v of values) this.int(v);
    this.op('t');
  }
  orderedDict(): void {
    this.global('collections', 'OrderedDict');
    this.op(')');
    this.op('R');
  }
  bytes(): Uint8Array {
    return Buffer.concat(this.parts);
  }
  start(): void {
    this.byte(0x80, 2);
  }
}

function pickleStateDict(names: readonly string[], tensors: readonly HostTensor[]): Uint8Array {
  const p = new PickleWriter();
  p.start();
  p.orderedDict();
  p.op('(');
  names.forEach((name, i) => {
    const t = tensors[i];
    p.str(name);
    p.global('torch._utils', '_rebuild_tensor_v2');
    p.op('(');
    p.op('(');
    p.str('storage');
    p.global('torch', 'FloatStorage');
    p.str(String(i));
    p.str('cpu');
    p.int(t.data.length);
    p.op('t');
    p.op('Q'); // BINPERSID
    p.int(0);
    p.tuple(t.shape);
    p.tuple(t.shape.map((_, d) => t.shape.slice(d + 1).reduce((a, b) => a * b, 1)));
    p.byte(0x89); // NEWFALSE
    p.orderedDict();
    p.op('t');
    p.op('R');
  });
  p.op('u'); // SETITEMS
  p.op('.');
  return p.bytes();
}

/** A stored-entry zip archive. */
function zip(entries: readonly { name: string; data: Uint8Array }[]): Uint8Array {
  const chunks: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = new TextEncoder().encode(e.name);
    const crc = crc32(e.data);
    const local = new DataView(new ArrayBuffer(30));
    local.setUint32(0, 0x04034b50, true);
    local.setUint16(4, 20, true);
    local.setUint32(14, crc, true);
    local.setUint32(18, e.data.length, true);
    local.setUint32(22, e.data.length, true);
    local.setUint16(26, name.length, true);
    chunks.push(new Uint8Array(local.buffer), name, e.data);
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
    offset += 30 + name.length + e.data.length;
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

/** Writes `stateDict` (float32 tensors) to `path` as `torch.save(state_dict, path)` would. */
export function saveTorchStateDict(path: string, stateDict: ReadonlyMap<string, HostTensor>): void {
  const names = [...stateDict.keys()];
  const tensors = names.map((n) => stateDict.get(n)!);
  const entries = [
    { name: 'archive/data.pkl', data: pickleStateDict(names, tensors) },
    ...tensors.map((t, i) => ({ name: `archive/data/${i}`, data: new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength) })),
    { name: 'archive/version', data: new TextEncoder().encode('3\n') },
  ];
  writeFileSync(path, zip(entries));
}
