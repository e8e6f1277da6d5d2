/**
 * PyTorch zip archives: `torch.save` since 1.6 and TorchScript (`torch.jit.save`). References (PyTorch 1.13):
 * torch/serialization.py (`_save`, `_load`: `<archive>/data.pkl` is a protocol-2 pickle whose persistent ids
 * ('storage', storage_type, key, location, numel) name raw little-endian storages `<archive>/data/<key>`; optional
 * `<archive>/byteorder`), caffe2/serialize/inline_container.h (the archive layout, any top-level folder name) and
 * torch/csrc/jit/serialization/import.cpp / export_module.cpp (TorchScript: `data.pkl` holds the module tree as
 * `__torch__.*` objects whose BUILD state is a dict of attributes, with tensors in `data/`; `constants.pkl` holds
 * code constants stored in `constants/`, which are not module state; `code/` holds the TorchScript source).
 */
import { TorchCheckpointError, Storage, parsePickledCheckpoint, parseStoragePid, torchGlobals } from './torch_legacy.js';
import { Unpickler } from './pickle.js';
import type { ZipArchive } from './zip.js';

interface ZipCheckpoint {
  readonly format: 'zip' | 'torchscript';
  readonly root: unknown;
}

/** The archive's top folder: the prefix of its shallowest `data.pkl`. */
function archivePrefix(zip: ZipArchive): string | undefined {
  const candidates = zip.names().filter((n) => /^([^/]*\/)?data\.pkl$/.test(n));
  candidates.sort((a, b) => a.length - b.length);
  return candidates.length ? candidates[0].slice(0, -'data.pkl'.length) : undefined;
}

/** Parses a torch zip checkpoint or TorchScript archive; tensors stay lazy `TensorRef`s. */
export function parseZipCheckpoint(zip: ZipArchive): ZipCheckpoint {
  const where = zip.where;
  const prefix = archivePrefix(zip);
  if (prefix === undefined) {
    throw new TorchCheckpointError(`${where}: a zip archive without data.pkl is not a PyTorch checkpoint; pass a file written by torch.save or torch.jit.save`);
  }
  const byteorder = zip.has(`${prefix}byteorder`) ? new TextDecoder().decode(zip.read(`${prefix}byteorder`)).trim() : 'little';
  if (byteorder !== 'little') throw new TorchCheckpointError(`${where}: the checkpoint was saved ${byteorder}-endian; re-save it on a little-endian machine`);
  const storages = new Map<string, Storage>();
  const persistentLoad = (pid: unknown): Storage => {
    const p = parseStoragePid(pid, where);
    const known = storages.get(p.key);
    if (known) return known;
    const name = `${prefix}data/${p.key}`;
    if (!zip.has(name)) throw new TorchCheckpointError(`${where}: storage ${name} is missing; the checkpoint is incomplete — re-download it`);
    const s = new Storage(p.dtype, p.numel, `${where}:${name}`);
    // read when a tensor of it is first used (an archive opened from a file reads just that entry then)
    s.defer(zip.entry(name)!.size, () => zip.read(name), zip.fileRegion(name));
    storages.set(p.key, s);
    return s;
  };
  const globals = torchGlobals((bytes) => parsePickledCheckpoint(bytes, `${where} (embedded torch.save bytes)`).root);
  const root = new Unpickler(zip.read(`${prefix}data.pkl`), { where: `${where}:${prefix}data.pkl`, globals, persistentLoad }).load();
  const torchscript = zip.has(`${prefix}constants.pkl`) || zip.names().some((n) => n.startsWith(`${prefix}code/`));
  return { format: torchscript ? 'torchscript' : 'zip', root };
}
