/**
 * Minimal read-only zip reader over an in-memory buffer or a file (read piece by piece: the directory, then only the
 * entries asked for), enough for PyTorch checkpoints (torch.save's zip format and TorchScript archives) and ordinary
 * archives. Format reference: PKWARE APPNOTE.TXT 6.3.10
 * (https://pkware.cachefly.net/webdocs/casestudies/APPNOTE.TXT): 4.3.7 local file header, 4.3.12 central directory
 * header, 4.3.14-4.3.16 ZIP64 end of central directory record/locator and end of central directory record,
 * 4.5.3 ZIP64 extended information extra field. Supports stored (method 0, returned as zero-copy views) and
 * deflated (method 8) entries; CRCs are not verified so that multi-hundred-megabyte checkpoints open instantly.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { inflateRawSync } from 'node:zlib';
import type { FileRegion } from '../../engine/tensor.js';
import { InputError } from '../../errors.js';

/** Signatures and fixed record sizes from APPNOTE sections 4.3.7, 4.3.12, 4.3.14, 4.3.15, 4.3.16. */
const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const LOCAL_FIXED = 30;
const CENTRAL_FIXED = 46;
const EOCD_FIXED = 22;
const ZIP64_LOCATOR_SIZE = 20;
const ZIP64_EOCD_FIXED = 56;
/** The archive comment is at most 0xffff bytes, so the EOCD lies within this many bytes of the end. */
const EOCD_SEARCH = EOCD_FIXED + 0xffff;
/** APPNOTE 4.5.2: header id of the ZIP64 extended information extra field. */
const ZIP64_EXTRA_ID = 0x0001;
/** A 32-bit field holding this value defers to the ZIP64 record (APPNOTE 4.4.8). */
const U32_MAX = 0xffffffff;
/** APPNOTE 4.4.4: general purpose flag bit 0 marks an encrypted entry. */
const FLAG_ENCRYPTED = 0x1;
const METHOD_STORED = 0;
const METHOD_DEFLATE = 8;

export class ZipError extends InputError {
  override name = 'ZipError';
}

interface ZipEntry {
  readonly name: string;
  readonly method: number;
  readonly flags: number;
  readonly compressedSize: number;
  readonly size: number;
  readonly localHeaderOffset: number;
}

/** `true` when the bytes start with a local file header (or an empty archive's EOCD). */
export function looksLikeZip(buf: Uint8Array): boolean {
  if (buf.length < 4) return false;
  const sig = (buf[0] | (buf[1] << 8) | (buf[2] << 16) | (buf[3] << 24)) >>> 0;
  return sig === SIG_LOCAL || sig === SIG_EOCD;
}

/** An archive's bytes: a buffer, or a file read piece by piece. */
interface ByteSource {
  readonly length: number;
  /** The file, for a file source. */
  readonly path?: string;
  /** Bytes [start, end) (within length): a view of the buffer, or a fresh read of the file. */
  bytes(start: number, end: number): Uint8Array;
}

const memorySource = (buf: Uint8Array): ByteSource => ({ length: buf.length, bytes: (a, b) => buf.subarray(a, b) });

/** A file as a byte source: each read opens it (no descriptor outlives a call), reading exactly the range. */
function fileSource(path: string, where: string): ByteSource {
  const fd = openSync(path, 'r');
  let length: number;
  try {
    length = fstatSync(fd).size;
  } finally {
    closeSync(fd);
  }
  return {
    length,
    path,
    bytes(start: number, end: number): Uint8Array {
      const out = new Uint8Array(end - start);
      const f = openSync(path, 'r');
      try {
        for (let got = 0; got < out.length; ) {
          const n = readSync(f, out, got, out.length - got, start + got);
          if (n === 0) throw new ZipError(`${where}: the file ended at byte ${start + got} (it was ${length} bytes when opened); it changed or is truncated — re-download it`);
          got += n;
        }
      } finally {
        closeSync(f);
      }
      return out;
    },
  };
}


export class ZipArchive {
  private readonly byName: Map<string, ZipEntry>;

  private constructor(
    private readonly src: ByteSource,
    readonly where: string,
    readonly entries: readonly ZipEntry[],
  ) {
    this.byName = new Map(entries.map((e) => [e.name, e]));
  }

  /** Parses the central directory. `where` names the source in error messages. */
  static open(buf: Uint8Array, where = 'zip data'): ZipArchive {
    const src = memorySource(buf);
    return new ZipArchive(src, where, readCentralDirectory(src, where));
  }

  /** Opens a zip file reading only its central directory; entries are read when asked for. */
  static openFile(path: string, where = path): ZipArchive {
    const src = fileSource(path, where);
    return new ZipArchive(src, where, readCentralDirectory(src, where));
  }

  names(): string[] {
    return this.entries.map((e) => e.name);
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  entry(name: string): ZipEntry | undefined {
    return this.byName.get(name);
  }

  /** Where an entry's data starts, from its local header; `bad` words a damage error. */
  private dataStart(name: string): { e: ZipEntry; start: number; bad: (why: string) => ZipError } {
    const e = this.byName.get(name);
    if (!e) throw new ZipError(`${this.where}: the archive has no entry '${name}'`);
    const bad = (why: string): ZipError =>
      new ZipError(`${this.where}: entry '${name}' ${why}; the archive is truncated or corrupt — re-download or re-save it`);
    if (e.flags & FLAG_ENCRYPTED) throw new ZipError(`${this.where}: entry '${name}' is encrypted; decrypt the archive first`);
    const at = e.localHeaderOffset;
    if (at + LOCAL_FIXED > this.src.length) throw bad('has no local header');
    const header = viewOf(this.src.bytes(at, at + LOCAL_FIXED));
    if (header.getUint32(0, true) !== SIG_LOCAL) throw bad('has no local header');
    // APPNOTE 4.3.7: the local header's own name and extra lengths (at 26 and 28) may differ from the central copy
    const start = at + LOCAL_FIXED + header.getUint16(26, true) + header.getUint16(28, true);
    if (start + e.compressedSize > this.src.length) throw bad(`needs ${start + e.compressedSize} bytes but the file has ${this.src.length}`);
    return { e, start, bad };
  }

  /**
   * Where a stored entry's bytes lie in the archive's file; undefined for an archive in memory or a compressed
   * entry. Its size is the entry's.
   */
  fileRegion(name: string): FileRegion | undefined {
    if (this.src.path === undefined || this.byName.get(name)?.method !== METHOD_STORED) return undefined;
    return { path: this.src.path, offset: this.dataStart(name).start };
  }

  /**
   * An entry's bytes: for stored entries a view into the archive buffer (or a read of just that range of the file),
   * a fresh buffer for deflated ones.
   */
  read(name: string): Uint8Array {
    const { e, start, bad } = this.dataStart(name);
    const raw = this.src.bytes(start, start + e.compressedSize);
    if (e.method === METHOD_STORED) return raw;
    if (e.method === METHOD_DEFLATE) {
      let out: Buffer;
      try {
        out = inflateRawSync(raw);
      } catch (err) {
        throw bad(`does not inflate (${(err as Error).message})`);
      }
      if (out.length !== e.size) throw bad(`inflates to ${out.length} bytes instead of ${e.size}`);
      return out;
    }
    throw new ZipError(`${this.where}: entry '${name}' uses compression method ${e.method}; only stored and deflate are supported — re-create the archive with deflate`);
  }
}

function u64(view: DataView, at: number, where: string): number {
  const v = view.getBigUint64(at, true);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ZipError(`${where}: ZIP64 field ${v} is out of range; the archive is corrupt`);
  return Number(v);
}

const viewOf = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength);

/** The end-of-central-directory record's offset in the archive, searched in its last EOCD_SEARCH bytes. */
function findEocd(src: ByteSource, where: string): number {
  const base = Math.max(0, src.length - EOCD_SEARCH);
  const tail = src.bytes(base, src.length);
  const view = viewOf(tail);
  for (let i = tail.length - EOCD_FIXED; i >= 0; i--) {
    if (tail[i] === 0x50 && view.getUint32(i, true) === SIG_EOCD) return base + i;
  }
  throw new ZipError(`${where}: no zip end-of-central-directory record; the file is truncated or not a zip archive`);
}

interface Directory {
  count: number;
  offset: number;
  size: number;
}

function locateDirectory(src: ByteSource, where: string): Directory {
  const eocd = findEocd(src, where);
  const rec = viewOf(src.bytes(eocd, eocd + EOCD_FIXED));
  // APPNOTE 4.3.16: total entries at 10, directory size at 12, directory offset at 16; 4.3.15/4.3.14 for ZIP64
  const dir: Directory = { count: rec.getUint16(10, true), size: rec.getUint32(12, true), offset: rec.getUint32(16, true) };
  const loc = eocd - ZIP64_LOCATOR_SIZE;
  const locator = loc >= 0 ? viewOf(src.bytes(loc, eocd)) : undefined;
  if (locator && locator.getUint32(0, true) === SIG_ZIP64_LOCATOR) {
    const z = u64(locator, 8, where);
    const z64 = z + ZIP64_EOCD_FIXED <= src.length ? viewOf(src.bytes(z, z + ZIP64_EOCD_FIXED)) : undefined;
    if (!z64 || z64.getUint32(0, true) !== SIG_ZIP64_EOCD) {
      throw new ZipError(`${where}: bad ZIP64 end-of-central-directory record; the archive is truncated or corrupt`);
    }
    dir.count = u64(z64, 32, where);
    dir.size = u64(z64, 40, where);
    dir.offset = u64(z64, 48, where);
  }
  if (dir.offset + dir.size > src.length) {
    throw new ZipError(`${where}: central directory lies beyond the end of the file (${src.length} bytes); the archive is truncated`);
  }
  return dir;
}

/** Applies the ZIP64 extra field (APPNOTE 4.5.3): each saturated 32-bit field is replaced, in this order. */
function applyZip64(view: DataView, extraStart: number, extraEnd: number, sizes: number[], where: string): void {
  let p = extraStart;
  while (p + 4 <= extraEnd) {
    const id = view.getUint16(p, true);
    const len = view.getUint16(p + 2, true);
    if (id === ZIP64_EXTRA_ID) {
      let q = p + 4;
      for (let i = 0; i < sizes.length; i++) {
        if (sizes[i] !== U32_MAX) continue;
        if (q + 8 > p + 4 + len) throw new ZipError(`${where}: short ZIP64 extra field; the archive is corrupt`);
        sizes[i] = u64(view, q, where);
        q += 8;
      }
      return;
    }
    p += 4 + len;
  }
}

function readCentralDirectory(src: ByteSource, where: string): ZipEntry[] {
  const dir = locateDirectory(src, where);
  const buf = src.bytes(dir.offset, dir.offset + dir.size);
  const view = viewOf(buf);
  const decoder = new TextDecoder('utf-8');
  const entries: ZipEntry[] = [];
  let p = 0;
  const end = dir.size;
  for (let i = 0; i < dir.count; i++) {
    if (p + CENTRAL_FIXED > end || view.getUint32(p, true) !== SIG_CENTRAL) {
      throw new ZipError(`${where}: central directory entry ${i} of ${dir.count} is damaged; the archive is corrupt`);
    }
    const nameLen = view.getUint16(p + 28, true);
    const extraLen = view.getUint16(p + 30, true);
    const commentLen = view.getUint16(p + 32, true);
    const next = p + CENTRAL_FIXED + nameLen + extraLen + commentLen;
    if (next > end) throw new ZipError(`${where}: central directory entry ${i} overruns the directory; the archive is corrupt`);
    // APPNOTE 4.3.12: flags at 8, method at 10, compressed size at 20, size at 24, lengths at 28-32, offset at 42
    const sizes = [view.getUint32(p + 24, true), view.getUint32(p + 20, true), view.getUint32(p + 42, true)];
    const nameStart = p + CENTRAL_FIXED;
    applyZip64(view, nameStart + nameLen, nameStart + nameLen + extraLen, sizes, where);
    entries.push({
      name: decoder.decode(buf.subarray(nameStart, nameStart + nameLen)),
      flags: view.getUint16(p + 8, true),
      method: view.getUint16(p + 10, true),
      size: sizes[0],
      compressedSize: sizes[1],
      localHeaderOffset: sizes[2],
    });
    p = next;
  }
  return entries;
}
