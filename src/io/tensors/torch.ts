/**
 * PyTorch checkpoint reader: `torch.save` zip archives (PyTorch >= 1.6), the legacy pre-1.6 format, TorchScript
 * archives (`torch.jit.save`, e.g. the official OpenAI CLIP downloads) and plain pickles of modules (e.g. NVIDIA
 * stylegan2-ada `.pkl` networks). The object graph is read by the safe unpickler (./pickle.ts) and flattened into
 * state_dict-style names: nested dicts join with '.', nn.Module-like objects contribute their `_parameters`,
 * `_buffers` and `_modules` (torch/nn/modules/module.py `state_dict`), TorchScript modules their tensor and submodule
 * attributes. Format details are in ./torch_zip.ts and ./torch_legacy.ts; the stylegan2-ada pickle layout is
 * torch_utils/persistence.py (`_reconstruct_persistent_obj(meta)` with the module's `__dict__` in `meta['state']`).
 */
import { open, readFile } from 'node:fs/promises';
import type { HostTensor } from '../../engine/tensor.js';
import { NumpyArray, PyGlobal, PyObject } from './pickle.js';
import { TensorRef, TorchCheckpointError, materialize, parsePickledCheckpoint } from './torch_legacy.js';
import { parseZipCheckpoint } from './torch_zip.js';
import { ZipArchive, looksLikeZip } from './zip.js';

export { TorchCheckpointError } from './torch_legacy.js';

export type CheckpointFormat = 'zip' | 'legacy' | 'torchscript' | 'pickle';

export interface TorchCheckpoint {
  readonly format: CheckpointFormat;
  /** Every tensor by state_dict-style name, e.g. `g_ema.style.1.weight`. */
  readonly tensors: Map<string, HostTensor>;
  /** Non-tensor leaves by the same naming: numbers, strings, lists of them, and inert records of unknown objects. */
  readonly values: Record<string, unknown>;
}

/** First byte of a pickle of protocol >= 2 (the PROTO opcode), as every legacy torch.save and .pkl file starts. */
const PICKLE_PROTO = 0x80;
/** POSIX tar "ustar" magic at byte 257: the pre-0.1.10 torch.save tar format. */
const TAR_MAGIC_OFFSET = 257;
const TAR_MAGIC = 'ustar';
/** Name used when the whole checkpoint is a single tensor or value. */
const ROOT_NAME = '(root)';
/** nn.Module containers flattened into state_dict names (torch/nn/modules/module.py). */
const MODULE_CONTAINERS = ['_parameters', '_buffers', '_modules'];
/** Underscored attributes that are configuration, not bookkeeping (torch_utils/persistence.py `_init_kwargs`). */
const KEPT_PRIVATE_ATTRS = new Set(['_init_args', '_init_kwargs']);
/** The stylegan2-ada/stylegan3 persistent-class reconstructor. */
const PERSISTENT_OBJ = 'torch_utils.persistence._reconstruct_persistent_obj';

const isPrimitive = (v: unknown): boolean => v === null || (typeof v !== 'object' && typeof v !== 'function');

/** The attribute dict of a pickled object: its BUILD state, or the state inside a persistent-class meta dict. */
function attributes(obj: PyObject): Map<unknown, unknown> | undefined {
  if (obj.state instanceof Map) return obj.state;
  if (Array.isArray(obj.state) && obj.state[0] instanceof Map) return obj.state[0];
  const meta = obj.args[0];
  if (obj.global === PERSISTENT_OBJ && meta instanceof Map && meta.get('state') instanceof Map) return meta.get('state') as Map<unknown, unknown>;
  return undefined;
}

class Flattener {
  readonly tensors = new Map<string, HostTensor>();
  /** Collected as entries so that keys like '__proto__' from the file become plain own properties. */
  readonly values: [string, unknown][] = [];
  private readonly cache = new Map<TensorRef, HostTensor>();
  private readonly active = new Set<object>();

  private join = (prefix: string, key: unknown): string => (prefix ? `${prefix}.${String(key)}` : String(key));

  visit(name: string, v: unknown): void {
    const key = name || ROOT_NAME;
    if (v instanceof TensorRef) {
      let t = this.cache.get(v);
      if (!t) this.cache.set(v, (t = materialize(v)));
      this.tensors.set(key, t);
    } else if (v instanceof NumpyArray) {
      this.tensors.set(key, v);
    } else if (isPrimitive(v) || v instanceof Uint8Array || v instanceof PyGlobal) {
      this.values.push([key, v]);
    } else if (!this.active.has(v as object)) {
      this.active.add(v as object);
      this.visitContainer(name, v);
      this.active.delete(v as object);
    }
  }

  private visitContainer(name: string, v: unknown): void {
    if (v instanceof Map) {
      for (const [k, x] of v) this.visit(this.join(name, k), x);
    } else if (Array.isArray(v) || v instanceof Set) {
      const items = [...v];
      if (items.every(isPrimitive)) this.values.push([name || ROOT_NAME, items]);
      else items.forEach((x, i) => this.visit(this.join(name, i), x));
    } else if (v instanceof PyObject) {
      this.visitObject(name, v);
    } else {
      this.values.push([name || ROOT_NAME, v]);
    }
  }

  private visitObject(name: string, obj: PyObject): void {
    const attrs = attributes(obj);
    if (!attrs && !obj.items && !obj.list) {
      this.values.push([name || ROOT_NAME, obj]);
      return;
    }
    for (const c of MODULE_CONTAINERS) {
      const m = attrs?.get(c);
      if (m instanceof Map) for (const [k, x] of m) if (x !== null) this.visit(this.join(name, k), x);
    }
    for (const [k, x] of attrs ?? []) {
      if (typeof k === 'string' && k !== 'training' && (!k.startsWith('_') || KEPT_PRIVATE_ATTRS.has(k))) this.visit(this.join(name, k), x);
    }
    for (const [k, x] of obj.items ?? []) this.visit(this.join(name, k), x);
    obj.list?.forEach((x, i) => this.visit(this.join(name, i), x));
  }
}

/** Flattens an unpickled object graph into named tensors and values. */
function flattenPickled(root: unknown): { tensors: Map<string, HostTensor>; values: Record<string, unknown> } {
  const f = new Flattener();
  f.visit('', root);
  return { tensors: f.tensors, values: Object.fromEntries(f.values) };
}

/** Bytes read to recognise a file's container by its magic (zip: 4). */
const HEAD_BYTES = 8;

/** A file's first bytes (fewer for a shorter file). */
export async function fileHead(path: string): Promise<Uint8Array> {
  const f = await open(path, 'r');
  try {
    const b = new Uint8Array(HEAD_BYTES);
    const { bytesRead } = await f.read(b, 0, HEAD_BYTES, 0);
    return b.subarray(0, bytesRead);
  } finally {
    await f.close();
  }
}

function isTar(buf: Uint8Array): boolean {
  const end = TAR_MAGIC_OFFSET + TAR_MAGIC.length;
  return buf.length >= end && new TextDecoder('latin1').decode(buf.subarray(TAR_MAGIC_OFFSET, end)) === TAR_MAGIC;
}

/** Parses checkpoint bytes. `where` names the source in error messages. */
export function parseTorchCheckpoint(buf: Uint8Array, where = 'checkpoint'): TorchCheckpoint {
  let parsed: { format: CheckpointFormat; root: unknown };
  if (looksLikeZip(buf)) {
    parsed = parseZipCheckpoint(ZipArchive.open(buf, where));
  } else if (buf[0] === PICKLE_PROTO) {
    parsed = parsePickledCheckpoint(buf, where);
  } else if (isTar(buf)) {
    throw new TorchCheckpointError(`${where}: tar-format checkpoints (PyTorch < 0.1.10) are not supported; re-save it with torch.save in a current PyTorch`);
  } else {
    throw new TorchCheckpointError(
      `${where}: not a PyTorch checkpoint (neither a zip archive nor a pickle); pass a .pt/.pth/.pkl file written by torch.save, torch.jit.save or pickle`,
    );
  }
  return { format: parsed.format, ...flattenPickled(parsed.root) };
}

/**
 * Parses a torch zip archive (torch.save / torch.jit.save) in place: its directory and pickles are read, each tensor
 * is read from the file when first used (engine/tensor.ts `fileTensor`; onnxruntime maps those a session is built
 * with). `where` names the file in errors.
 */
export function parseTorchZipFile(path: string, where = path): TorchCheckpoint {
  const parsed = parseZipCheckpoint(ZipArchive.openFile(path, where));
  return { format: parsed.format, ...flattenPickled(parsed.root) };
}

/** Reads a checkpoint file (a zip archive in place, other formats once into memory) or parses bytes in memory. */
export async function loadTorchCheckpoint(pathOrBytes: string | Uint8Array): Promise<TorchCheckpoint> {
  if (typeof pathOrBytes !== 'string') return parseTorchCheckpoint(pathOrBytes);
  let buf: Buffer | undefined;
  try {
    if (!looksLikeZip(await fileHead(pathOrBytes))) buf = await readFile(pathOrBytes);
  } catch (e) {
    throw new TorchCheckpointError(`cannot read ${pathOrBytes}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}; check the path`);
  }
  return buf ? parseTorchCheckpoint(buf, pathOrBytes) : parseTorchZipFile(pathOrBytes);
}
