import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors.js';
import { ZipArchive, ZipError, looksLikeZip } from '../../src/io/tensors/zip.js';
import { fixture } from '../helpers/shared.js';

interface Spec {
  name: string;
  data: Uint8Array;
  deflate?: boolean;
}

/** A minimal zip writer (APPNOTE 4.3), optionally with ZIP64 records, for exercising the reader. CRCs are left 0. */
function makeZip(specs: Spec[], zip64 = false): Uint8Array {
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  const u16 = (v: DataView, at: number, x: number): void => v.setUint16(at, x, true);
  const u32 = (v: DataView, at: number, x: number): void => v.setUint32(at, x, true);
  for (const s of specs) {
    const name = new TextEncoder().encode(s.name);
    const body = s.deflate ? deflateRawSync(s.data) : s.data;
    const local = new Uint8Array(30 + name.length);
    const lv = new DataView(local.buffer);
    u32(lv, 0, 0x04034b50);
    u16(lv, 8, s.deflate ? 8 : 0);
    u32(lv, 18, body.length);
    u32(lv, 22, s.data.length);
    u16(lv, 26, name.length);
    local.set(name, 30);
    const extra = zip64 ? 4 + 24 : 0;
    const cd = new Uint8Array(46 + name.length + extra);
    const cv = new DataView(cd.buffer);
    u32(cv, 0, 0x02014b50);
    u16(cv, 10, s.deflate ? 8 : 0);
    u32(cv, 20, zip64 ? 0xffffffff : body.length);
    u32(cv, 24, zip64 ? 0xffffffff : s.data.length);
    u16(cv, 28, name.length);
    u16(cv, 30, extra);
    u32(cv, 42, zip64 ? 0xffffffff : offset);
    cd.set(name, 46);
    if (zip64) {
      const at = 46 + name.length;
      u16(cv, at, 0x0001);
      u16(cv, at + 2, 24);
      cv.setBigUint64(at + 4, BigInt(s.data.length), true);
      cv.setBigUint64(at + 12, BigInt(body.length), true);
      cv.setBigUint64(at + 20, BigInt(offset), true);
    }
    parts.push(local, body);
    central.push(cd);
    offset += local.length + body.length;
  }
  const cdSize = central.reduce((n, c) => n + c.length, 0);
  const tail: Uint8Array[] = [...central];
  if (zip64) {
    const rec = new Uint8Array(56 + 20);
    const rv = new DataView(rec.buffer);
    u32(rv, 0, 0x06064b50);
    rv.setBigUint64(4, 44n, true);
    rv.setBigUint64(24, BigInt(specs.length), true);
    rv.setBigUint64(32, BigInt(specs.length), true);
    rv.setBigUint64(40, BigInt(cdSize), true);
    rv.setBigUint64(48, BigInt(offset), true);
    u32(rv, 56, 0x07064b50);
    rv.setBigUint64(56 + 8, BigInt(offset + cdSize), true);
    u32(rv, 56 + 16, 1);
    tail.push(rec);
  }
  const eocd = new Uint8Array(22);
  const ev = new DataView(eocd.buffer);
  u32(ev, 0, 0x06054b50);
  u16(ev, 8, zip64 ? 0xffff : specs.length);
  u16(ev, 10, zip64 ? 0xffff : specs.length);
  u32(ev, 12, zip64 ? 0xffffffff : cdSize);
  u32(ev, 16, zip64 ? 0xffffffff : offset);
  tail.push(eocd);
  return Buffer.concat([...parts, ...tail]);
}

const text = (b: Uint8Array): string => new TextDecoder().decode(b);
const SPECS: Spec[] = [
  { name: 'a/stored.txt', data: new TextEncoder().encode('hello stored') },
  { name: 'a/deflated.txt', data: new TextEncoder().encode('deflate me '.repeat(50)), deflate: true },
  { name: 'empty', data: new Uint8Array(0) },
];

describe('zip reader', () => {
  it('lists entries and reads stored (zero-copy) and deflated data', () => {
    const buf = makeZip(SPECS);
    expect(looksLikeZip(buf)).toBe(true);
    const zip = ZipArchive.open(buf);
    expect(zip.names()).toEqual(['a/stored.txt', 'a/deflated.txt', 'empty']);
    const stored = zip.read('a/stored.txt');
    expect(text(stored)).toBe('hello stored');
    expect(stored.buffer).toBe(buf.buffer);
    expect(text(zip.read('a/deflated.txt'))).toBe('deflate me '.repeat(50));
    expect(zip.read('empty').length).toBe(0);
    expect(zip.has('nope')).toBe(false);
    expect(() => zip.read('nope')).toThrow(/no entry 'nope'/);
  });

  it('reads ZIP64 end-of-central-directory records and extra fields', () => {
    const zip = ZipArchive.open(makeZip(SPECS, true));
    expect(zip.names()).toHaveLength(3);
    expect(zip.entry('a/deflated.txt')?.size).toBe(550);
    expect(text(zip.read('a/deflated.txt'))).toBe('deflate me '.repeat(50));
    expect(text(zip.read('a/stored.txt'))).toBe('hello stored');
  });

  it('a zip file opened in place reads the same entries as from memory (plain and ZIP64), and gives stored entries a file region', () => {
    const dir = mkdtempSync(join(tmpdir(), 'styleclip-zip-'));
    try {
      for (const zip64 of [false, true]) {
        const buf = makeZip(SPECS, zip64);
        const path = join(dir, `a${zip64 ? '64' : ''}.zip`);
        writeFileSync(path, buf);
        const file = ZipArchive.openFile(path);
        const mem = ZipArchive.open(buf);
        expect(file.names()).toEqual(mem.names());
        for (const n of mem.names()) expect(text(file.read(n))).toBe(text(mem.read(n)));
        const r = file.fileRegion('a/stored.txt')!;
        expect(r.path).toBe(path);
        expect(text(buf.subarray(r.offset, r.offset + 12))).toBe('hello stored');
        expect(file.fileRegion('a/deflated.txt')).toBeUndefined();
        expect(mem.fileRegion('a/stored.txt')).toBeUndefined();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads a torch.save archive', () => {
    const zip = ZipArchive.open(readFileSync(fixture('stylegan2_tiny.pt')));
    expect(zip.names()).toContain('stylegan2_tiny/data.pkl');
    expect(zip.read('stylegan2_tiny/version').length).toBeGreaterThan(0);
  });

  it('rejects truncated, corrupt and non-zip data with InputErrors', () => {
    const buf = makeZip(SPECS);
    const err = (f: () => unknown): Error => {
      try {
        f();
      } catch (e) {
        return e as Error;
      }
      throw new Error('expected an error');
    };
    const truncated = err(() => ZipArchive.open(buf.subarray(0, buf.length - 30)));
    expect(truncated).toBeInstanceOf(ZipError);
    expect(truncated).toBeInstanceOf(InputError);
    expect(truncated.message).toMatch(/truncated or not a zip/);
    expect(() => ZipArchive.open(new TextEncoder().encode('definitely not a zip file'))).toThrow(/truncated or not a zip/);
    const cut = Buffer.concat([buf.subarray(0, 40), buf.subarray(buf.length - 22 - 200)]);
    expect(() => ZipArchive.open(cut)).toThrow(ZipError);
    const badDeflate = Uint8Array.from(buf);
    const start = 30 + 'a/stored.txt'.length + 12 + 30 + 'a/deflated.txt'.length;
    badDeflate.fill(0xff, start, start + 8);
    expect(() => ZipArchive.open(badDeflate).read('a/deflated.txt')).toThrow(/truncated or corrupt/);
  });
});
