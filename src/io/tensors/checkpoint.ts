/**
 * The one checkpoint front end: a file (or bytes) -> its container detected -> named tensors and values. Every model
 * loader (generator, CLIP, latent mappers, e4e/pSp, ArcFace) and the CLI's `inspect` / `models convert` start here;
 * each model's rule table (io/weight_map.ts) then maps the tensors onto its own names.
 *
 * Containers: safetensors (Hugging Face, open_clip, and our converted files, recognised by their metadata) and
 * PyTorch (torch.save zip, legacy pickle, TorchScript archives, plain pickles such as NVIDIA's .pkl; io/torch.ts).
 */
import { readFile } from 'node:fs/promises';
import type { HostTensor } from '../../engine/tensor.js';
import { trace } from '../../engine/trace.js';
import { InputError } from '../../errors.js';
import { convertedFromSafetensors, isConverted, type ConvertedCheckpoint } from './converted.js';
import { looksLikeSafetensors, parseSafetensors, type Safetensors } from './safetensors.js';
import { fileHead, parseTorchCheckpoint, parseTorchZipFile, type CheckpointFormat, type TorchCheckpoint } from './torch.js';
import { looksLikeZip } from './zip.js';

export interface Checkpoint {
  /** What holds the tensors: a safetensors file, a TorchScript archive, or any other PyTorch/pickle file. */
  readonly container: 'safetensors' | 'torchscript' | 'torch';
  /** The detailed format: 'safetensors' or the PyTorch one (zip, legacy, torchscript, pickle). */
  readonly format: 'safetensors' | CheckpointFormat;
  /** Every tensor by state_dict-style name. */
  readonly tensors: Map<string, HostTensor>;
  /** Non-tensor values: pickled leaves (PyTorch) or `__metadata__.<key>` strings (safetensors). */
  readonly values: Record<string, unknown>;
  /** The safetensors header (metadata included), for loaders that recognise their own files by it. */
  readonly safetensors?: Safetensors;
}

/** Parses checkpoint bytes of any supported container; `where` names the source in errors. */
export function parseCheckpoint(bytes: Uint8Array, where: string): Checkpoint {
  if (bytes.length === 0) throw new InputError(`${where}: the file is empty; pass a .pt/.pth/.pkl or .safetensors checkpoint`);
  if (looksLikeSafetensors(bytes)) {
    const st = parseSafetensors(bytes, where);
    const values = Object.fromEntries(Object.entries(st.metadata).map(([k, v]) => [`__metadata__.${k}`, v]));
    return { container: 'safetensors', format: 'safetensors', tensors: st.tensors, values, safetensors: st };
  }
  return fromTorch(parseTorchCheckpoint(bytes, where));
}

function fromTorch(ckpt: TorchCheckpoint): Checkpoint {
  return { container: ckpt.format === 'torchscript' ? 'torchscript' : 'torch', format: ckpt.format, tensors: ckpt.tensors, values: ckpt.values };
}

/** The contents of a file written by `styleclip models convert` (its metadata validated), else undefined. */
export function convertedOf(ckpt: Checkpoint, where: string): ConvertedCheckpoint | undefined {
  return ckpt.safetensors && isConverted(ckpt.safetensors) ? convertedFromSafetensors(ckpt.safetensors, where) : undefined;
}

/** Reads and parses a checkpoint file (or bytes already in memory); `what` names the kind in errors ("CLIP checkpoint"). */
export async function readCheckpoint(src: string | Uint8Array, what: string): Promise<Checkpoint> {
  if (typeof src !== 'string') return parseCheckpoint(src, what);
  let bytes: Uint8Array | undefined;
  const t0 = performance.now();
  try {
    // a zip archive (torch.save, TorchScript) is read in place: its tensors when used (io/tensors/torch.ts)
    if (!looksLikeZip(await fileHead(src))) bytes = await readFile(src);
  } catch (e) {
    throw new InputError(`cannot read ${what} ${src}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}; check the path`);
  }
  const t1 = performance.now();
  const ckpt = bytes ? parseCheckpoint(bytes, src) : fromTorch(parseTorchZipFile(src));
  trace(`read ${src}: file ${(t1 - t0).toFixed(0)} ms, parse ${(performance.now() - t1).toFixed(0)} ms`);
  return ckpt;
}
