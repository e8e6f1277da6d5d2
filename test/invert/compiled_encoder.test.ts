/**
 * An e4e checkpoint whose session was compiled before is not read again (src/invert/one_pass.ts inverterForPath):
 * after a first inversion, the checkpoint's bytes are replaced by zeros (same size and modification time, so the
 * same identity) and a new inverter still encodes the same codes, from its record and compiled session alone.
 */
import { copyFileSync, mkdtempSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Generator } from '../../src/generator/index.js';
import { readNpy } from '../../src/io/tensors/npy.js';
import { PhotoEncoder } from '../../src/invert/encoder.js';
import { inverterForPath } from '../../src/invert/one_pass.js';
import { fixture } from '../helpers/shared.js';

const dir = mkdtempSync(join(tmpdir(), 'styleclip-compiled-e4e-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('compiled e4e', () => {
  it('a second start encodes from the compiled session without reading the checkpoint (bit-equal codes)', async () => {
    const ckpt = join(dir, 'e4e.pt');
    copyFileSync(fixture('e4e_tiny.pt'), ckpt);
    const generator = await Generator.load(fixture('stylegan2_tiny.pt'));
    const x = await readNpy(fixture('e4e_input.npy'));
    const encode = async (): Promise<Float32Array> => {
      const inv = await inverterForPath(ckpt, generator);
      try {
        return (await (inv as unknown as { encoder: PhotoEncoder }).encoder.encode(x)).data as Float32Array;
      } finally {
        await inv.dispose();
      }
    };
    try {
      const first = await encode();
      const st = statSync(ckpt);
      writeFileSync(ckpt, new Uint8Array(st.size));
      utimesSync(ckpt, st.atimeMs / 1000, st.mtimeMs / 1000);
      const second = await encode();
      expect(Buffer.from(second.buffer).equals(Buffer.from(first.buffer))).toBe(true);
    } finally {
      await generator.dispose();
    }
  });
});
