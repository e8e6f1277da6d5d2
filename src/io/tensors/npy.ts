/**
 * NumPy `.npy` format, versions 1.0-3.0 (https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html):
 * magic "\x93NUMPY", major/minor version, header length (u16 for 1.x, u32 for 2.x/3.x), a Python-literal dict
 * {'descr', 'fortran_order', 'shape'} padded so the data starts on a 64-byte boundary.
 * Only C-ordered little-endian numeric arrays are supported.
 */
import { readFile } from 'node:fs/promises';
import { DTYPE_BYTES, bytesOf, dataFromBytes, numel, type DType, type HostTensor } from '../../engine/tensor.js';
import { writeFileAtomic } from '../atomic.js';
import { InputError } from '../../errors.js';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // "\x93NUMPY"
const ALIGN = 64;

const DESCR_TO_DTYPE: Readonly<Record<string, DType>> = {
  '<f4': 'float32',
  '<f8': 'float64',
  '<f2': 'float16',
  '<i4': 'int32',
  '<i8': 'int64',
  '<i2': 'int16',
  '|i1': 'int8',
  '|u1': 'uint8',
  '|b1': 'bool',
};
const DTYPE_TO_DESCR: Readonly<Partial<Record<DType, string>>> = Object.fromEntries(
  Object.entries(DESCR_TO_DTYPE).map(([k, v]) => [v, k]),
);

class NpyError extends InputError {
  override name = 'NpyError';
}

function parseHeader(text: string, where: string): { descr: string; fortran: boolean; shape: number[] } {
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(text)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(text)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(text)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    if (/'descr'\s*:\s*\[/.test(text)) throw new NpyError(`${where}: structured arrays are not supported; save a plain numeric array`);
    throw new NpyError(`${where}: malformed .npy header ${JSON.stringify(text.trim())}`);
  }
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((s) => {
      const v = Number(s.replace(/L$/, ''));
      if (!Number.isInteger(v) || v < 0) throw new NpyError(`${where}: bad dimension '${s}' in .npy shape`);
      return v;
    });
  return { descr, fortran: fortran === 'True', shape };
}

/** Parses .npy bytes. `where` names the source in error messages. */
export function parseNpy(buf: Uint8Array, where = '.npy data'): HostTensor {
  if (buf.length < 10 || !MAGIC.every((b, i) => buf[i] === b)) {
    throw new NpyError(`${where}: not a .npy file (bad magic); save arrays with numpy.save`);
  }
  const major = buf[6];
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let headerLen: number;
  let offset: number;
  if (major === 1) {
    headerLen = view.getUint16(8, true);
    offset = 10;
  } else if (major === 2 || major === 3) {
    if (buf.length < 12) throw new NpyError(`${where}: truncated .npy header`);
    headerLen = view.getUint32(8, true);
    offset = 12;
  } else {
    throw new NpyError(`${where}: unsupported .npy version ${major}.${buf[7]}`);
  }
  if (offset + headerLen > buf.length) throw new NpyError(`${where}: truncated .npy header`);
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(buf.subarray(offset, offset + headerLen));
  const { descr, fortran, shape } = parseHeader(header, where);
  if (descr === '|O') throw new NpyError(`${where}: object arrays are not supported (they need pickle); save a numeric array`);
  if (fortran) throw new NpyError(`${where}: Fortran-ordered arrays are not supported; save with numpy.ascontiguousarray(a)`);
  const dtype = DESCR_TO_DTYPE[descr];
  if (dtype === undefined) {
    throw new NpyError(
      `${where}: unsupported dtype '${descr}'; use one of ${Object.keys(DESCR_TO_DTYPE).join(', ')} (little-endian)`,
    );
  }
  const start = offset + headerLen;
  const n = numel(shape);
  const bytes = n * DTYPE_BYTES[dtype];
  if (buf.length - start < bytes) {
    throw new NpyError(`${where}: truncated: shape [${shape.join(',')}] needs ${bytes} data bytes, file has ${buf.length - start}`);
  }
  return { dtype, shape, data: dataFromBytes(dtype, buf.subarray(start, start + bytes)) };
}

/** Serialises a host tensor as .npy version 1.0 (2.0 when the header is too long for a u16). */
export function encodeNpy(t: HostTensor): Uint8Array {
  const descr = DTYPE_TO_DESCR[t.dtype];
  if (descr === undefined) throw new NpyError(`cannot write dtype ${t.dtype} to .npy`);
  const shapeText = t.shape.length === 1 ? `(${t.shape[0]},)` : `(${t.shape.join(', ')})`;
  let dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  let pre = 10;
  let total = pre + dict.length + 1;
  let pad = (ALIGN - (total % ALIGN)) % ALIGN;
  if (dict.length + pad + 1 > 0xffff) {
    pre = 12;
    total = pre + dict.length + 1;
    pad = (ALIGN - (total % ALIGN)) % ALIGN;
  }
  dict = dict + ' '.repeat(pad) + '\n';
  const data = bytesOf(t.data);
  const out = new Uint8Array(pre + dict.length + data.length);
  out.set(MAGIC, 0);
  out[6] = pre === 10 ? 1 : 2;
  out[7] = 0;
  const view = new DataView(out.buffer);
  if (pre === 10) view.setUint16(8, dict.length, true);
  else view.setUint32(8, dict.length, true);
  for (let i = 0; i < dict.length; i++) out[pre + i] = dict.charCodeAt(i);
  out.set(data, pre + dict.length);
  return out;
}

export async function readNpy(path: string): Promise<HostTensor> {
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (e) {
    throw new NpyError(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return parseNpy(buf, path);
}

/** Writes atomically: a crash or error never leaves a partial file at `path`. */
export async function writeNpy(path: string, t: HostTensor): Promise<void> {
  await writeFileAtomic(path, encodeNpy(t));
}
