import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tensor, type HostTensor } from '../../src/engine/tensor.js';
import { InputError } from '../../src/errors.js';
import {
  SafetensorsError,
  encodeSafetensors,
  looksLikeSafetensors,
  parseSafetensors,
  readSafetensors,
  writeSafetensors,
} from '../../src/io/tensors/safetensors.js';

const dir = mkdtempSync(join(tmpdir(), 'styleclip-safetensors-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const TENSORS = new Map<string, HostTensor>([
  ['z.f32', tensor('float32', [2, 3], Float32Array.from([1, 2, 3, 4, 5, -6.5]))],
  ['a.f16', tensor('float16', [3], Uint16Array.from([0x3c00, 0xc000, 0x7bff]))],
  ['bf16', tensor('bfloat16', [1], Uint16Array.from([0x3fc0]))],
  ['f64', tensor('float64', [2], Float64Array.from([Math.PI, -1e300]))],
  ['i64', tensor('int64', [2], BigInt64Array.from([-(2n ** 40n), 5n]))],
  ['i32', tensor('int32', [1, 1], Int32Array.from([-7]))],
  ['i16', tensor('int16', [2], Int16Array.from([-300, 300]))],
  ['i8', tensor('int8', [3], Int8Array.from([-1, 0, 1]))],
  ['u8', tensor('uint8', [1], Uint8Array.from([255]))],
  ['bool', tensor('bool', [2], Uint8Array.from([1, 0]))],
  ['scalar', tensor('float32', [], Float32Array.from([0.5]))],
  ['empty', tensor('float32', [0, 4])],
]);

function header(buf: Uint8Array): { len: number; json: Record<string, { data_offsets: number[] }> } {
  const len = Number(new DataView(buf.buffer, buf.byteOffset).getBigUint64(0, true));
  return { len, json: JSON.parse(new TextDecoder().decode(buf.subarray(8, 8 + len))) };
}

/** A file with a hand-written header (padded as the spec allows) and `data` bytes. */
function raw(h: unknown, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(h) + '  ');
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

describe('safetensors', () => {
  it('round-trips every dtype, shape and the metadata through a file, written atomically', async () => {
    const path = join(dir, 'model.safetensors');
    await writeSafetensors(path, TENSORS, { format: 'pt', note: 'ünïcode' });
    expect(readdirSync(dir)).toEqual(['model.safetensors']);
    const back = await readSafetensors(path);
    expect(back.metadata).toEqual({ format: 'pt', note: 'ünïcode' });
    expect([...back.tensors.keys()].sort()).toEqual([...TENSORS.keys()].sort());
    for (const [name, t] of TENSORS) {
      const u = back.tensors.get(name)!;
      expect({ name, dtype: u.dtype, shape: u.shape, data: Array.from(u.data as ArrayLike<unknown>) }).toEqual({
        name,
        dtype: t.dtype,
        shape: t.shape,
        data: Array.from(t.data as ArrayLike<unknown>),
      });
    }
    expect(looksLikeSafetensors(readFileSync(path))).toBe(true);
  });

  it('pads the header with spaces to 8 bytes and lays tensors out by alignment, then name', () => {
    const buf = encodeSafetensors(TENSORS);
    const { len, json } = header(buf);
    expect(len % 8).toBe(0);
    expect(buf[8 + len - 1] === 0x20 || buf[8 + len - 1] === '}'.charCodeAt(0)).toBe(true);
    expect(Object.keys(json)).not.toContain('__metadata__');
    const order = Object.entries(json).sort((a, b) => a[1].data_offsets[0] - b[1].data_offsets[0]).map(([k]) => k);
    expect(order).toEqual(['f64', 'i64', 'empty', 'i32', 'scalar', 'z.f32', 'a.f16', 'bf16', 'i16', 'bool', 'i8', 'u8']);
    for (const [name, e] of Object.entries(json)) {
      expect({ name, aligned: e.data_offsets[0] % TENSORS.get(name)!.data.BYTES_PER_ELEMENT }).toEqual({ name, aligned: 0 });
    }
  });

  it('rejects malformed files with clear SafetensorsErrors', () => {
    const f32 = { dtype: 'F32', shape: [2], data_offsets: [0, 8] };
    const cases: [Uint8Array, RegExp][] = [
      [new Uint8Array(3), /too short/],
      [Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0x7b]), /exceeds/],
      [Uint8Array.from([100, 0, 0, 0, 0, 0, 0, 0, 0x7b]), /truncated/],
      [raw([1, 2]).map((b, i) => (i === 8 ? 0x20 : b)), /does not start with '\{'/],
      [raw('x'), /does not start with '\{'/],
      [Uint8Array.from([4, 0, 0, 0, 0, 0, 0, 0, 0x7b, 0x7b, 0x7d, 0x7d]), /not valid UTF-8 JSON/],
      [raw({ w: f32 }, new Uint8Array(4)), /truncated/],
      [raw({ w: f32 }, new Uint8Array(12)), /corrupt/],
      [raw({ w: { ...f32, dtype: 'U32' } }, new Uint8Array(8)), /dtype U32; supported are F16, BF16/],
      [raw({ w: { ...f32, shape: [3] } }, new Uint8Array(8)), /needs 12/],
      [raw({ w: { ...f32, shape: [-1] } }, new Uint8Array(8)), /malformed shape/],
      [raw({ w: f32, v: { ...f32, data_offsets: [4, 12] } }, new Uint8Array(12)), /holes or overlaps/],
      [raw({ __metadata__: { a: 1 } }), /metadata values must be strings/],
    ];
    for (const [bytes, message] of cases) {
      let error: unknown;
      try {
        parseSafetensors(bytes, 'bad.safetensors');
      } catch (e) {
        error = e;
      }
      expect(error, String(message)).toBeInstanceOf(SafetensorsError);
      expect(error).toBeInstanceOf(InputError);
      expect((error as Error).message).toMatch(message);
    }
    expect(() => encodeSafetensors(new Map([['__metadata__', TENSORS.get('u8')!]]))).toThrow(/reserved/);
  });
});
