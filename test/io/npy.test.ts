import { describe, expect, it } from 'vitest';
import { encodeNpy, parseNpy } from '../../src/io/tensors/npy.js';
import { readNpy } from '../../src/io/tensors/npy.js';
import { fixture } from '../helpers/shared.js';
import { tensor } from '../../src/engine/tensor.js';

describe('npy', () => {
  it('round-trips float32/float64/int32/int64', () => {
    for (const t of [
      tensor('float32', [2, 3], Float32Array.from([1, 2, 3, 4, 5, -6.5])),
      tensor('float64', [3], Float64Array.from([1e-300, 2, Math.PI])),
      tensor('int32', [1, 2], Int32Array.from([-7, 9])),
      tensor('int64', [2], BigInt64Array.from([-(2n ** 40n), 5n])),
      tensor('float32', [], Float32Array.from([3])),
    ]) {
      const back = parseNpy(encodeNpy(t));
      expect(back.dtype).toBe(t.dtype);
      expect(back.shape).toEqual(t.shape);
      expect(Array.from(back.data as ArrayLike<unknown>)).toEqual(Array.from(t.data as ArrayLike<unknown>));
    }
  });

  it('data starts on a 64-byte boundary', () => {
    const bytes = encodeNpy(tensor('float32', [5, 7]));
    const headerLen = bytes[8] | (bytes[9] << 8);
    expect((10 + headerLen) % 64).toBe(0);
  });

  it('reads the reference fixtures', async () => {
    const wp = await readNpy(fixture('sg2_wplus.npy'));
    expect(wp.dtype).toBe('float32');
    expect(wp.shape).toEqual([2, 10, 64]);
    const tok = await readNpy(fixture('tokenizer_tokens.npy'));
    expect(tok.dtype).toBe('int32');
    expect(tok.shape[1]).toBe(77);
  });

  it('rejects Fortran order, object arrays, truncation and junk with clear errors', () => {
    const good = encodeNpy(tensor('float32', [2, 2]));
    const text = new TextDecoder('latin1').decode(good);
    const fortran = Uint8Array.from(text.replace("'fortran_order': False", "'fortran_order': True "), (c) => c.charCodeAt(0));
    expect(() => parseNpy(fortran)).toThrow(/Fortran-ordered.*ascontiguousarray/);
    const obj = Uint8Array.from(text.replace("'<f4'", "'|O' "), (c) => c.charCodeAt(0));
    expect(() => parseNpy(obj)).toThrow(/object arrays/);
    expect(() => parseNpy(good.subarray(0, good.length - 3))).toThrow(/truncated/);
    expect(() => parseNpy(new TextEncoder().encode('hello world, not numpy'))).toThrow(/not a .npy file/);
  });
});
