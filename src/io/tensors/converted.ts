/**
 * Our converted-checkpoint layout: a safetensors file (./safetensors.ts) whose tensors are already in the names,
 * dtypes and scaling the model code uses, with the architecture in `__metadata__` (safetensors allows a
 * string-to-string map there): `format` = "styleclip", `format_version`, `kind` (generator | clip), `config` (the
 * architecture config as JSON), and the provenance `source` (file name), `source_format` and `source_sha256`.
 * Loading one needs no unpickling, no name mapping and no dtype widening. `styleclip models convert` writes them;
 * loaders recognise them with `isConverted` and read them with `convertedFromSafetensors`.
 */
import type { HostTensor } from '../../engine/tensor.js';
import { InputError } from '../../errors.js';
import { writeSafetensors, type Safetensors } from './safetensors.js';

/** `__metadata__.format` of our files, and the layout version this code writes and reads. */
const CONVERTED_FORMAT = 'styleclip';
const CONVERTED_VERSION = '1';
export const CONVERTED_KINDS = Object.freeze(['generator', 'clip'] as const);
export type ConvertedKind = (typeof CONVERTED_KINDS)[number];

interface ConvertedProvenance {
  /** File name of the original checkpoint. */
  readonly source: string;
  /** Its layout as the loader reported it, e.g. `openai-torchscript`, `torch-zip`. */
  readonly sourceFormat: string;
  readonly sourceSha256: string;
}

export interface ConvertedCheckpoint extends ConvertedProvenance {
  readonly kind: ConvertedKind;
  /** The architecture config as written (a GeneratorConfig or ClipConfig); the kind's loader validates it. */
  readonly config: unknown;
  readonly tensors: Map<string, HostTensor>;
}

/** True for a parsed safetensors file in our layout (any version). */
export function isConverted(st: Safetensors): boolean {
  return st.metadata.format === CONVERTED_FORMAT;
}

/** Reads the metadata of one of our files; InputErrors say what is wrong and how to redo the conversion. */
export function convertedFromSafetensors(st: Safetensors, where: string): ConvertedCheckpoint {
  const m = st.metadata;
  if (m.format !== CONVERTED_FORMAT) throw new InputError(`${where}: not a file written by 'styleclip models convert'`);
  if (m.format_version !== CONVERTED_VERSION) {
    throw new InputError(
      `${where}: converted-file version ${m.format_version ?? '(none)'} is not ${CONVERTED_VERSION}; ` +
        `convert the original checkpoint again with this version ('styleclip models convert IN OUT.safetensors')`,
    );
  }
  if (!CONVERTED_KINDS.includes(m.kind as ConvertedKind)) throw new InputError(`${where}: unknown kind '${m.kind}' in its metadata`);
  let config: unknown;
  try {
    config = JSON.parse(m.config ?? '');
  } catch {
    throw new InputError(`${where}: its metadata has no valid 'config' JSON; convert the original checkpoint again`);
  }
  return {
    kind: m.kind as ConvertedKind,
    config,
    tensors: st.tensors,
    source: m.source ?? '',
    sourceFormat: m.source_format ?? '',
    sourceSha256: m.source_sha256 ?? '',
  };
}

/** Writes tensors + config in our layout, atomically. */
export async function writeConverted(
  path: string,
  kind: ConvertedKind,
  config: unknown,
  tensors: ReadonlyMap<string, HostTensor>,
  provenance: ConvertedProvenance,
): Promise<void> {
  await writeSafetensors(path, tensors, {
    format: CONVERTED_FORMAT,
    format_version: CONVERTED_VERSION,
    kind,
    config: JSON.stringify(config),
    source: provenance.source,
    source_format: provenance.sourceFormat,
    source_sha256: provenance.sourceSha256,
  });
}
