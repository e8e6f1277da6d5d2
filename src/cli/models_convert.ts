/**
 * `styleclip models convert IN OUT.safetensors`: any checkpoint the generator and CLIP loaders read (rosinality
 * `.pt`, NVIDIA stylegan2-ada `.pkl`, OpenAI TorchScript `.pt`, openai/CLIP state dicts, open_clip, Hugging Face
 * safetensors) rewritten in our layout (src/io/tensors/converted.ts): float32 tensors already mapped to the names the graph
 * builders use, the architecture config in the metadata. The mapping itself is the loaders' (src/generator/load.ts
 * `weightsFromTensors`, src/clip/weights.ts `clipFromTensors`); `loadConverted` reads the result back through the
 * same config validation and weight checks.
 */
import { parseCheckpoint } from '../io/tensors/checkpoint.js';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { basename, resolve as resolvePath } from 'node:path';
import type { ClipActivation } from '../clip/config.js';
import type { HostTensor } from '../engine/tensor.js';
import { clipFromConverted, clipFromTensors, loadClipCheckpoint, type LoadedClip } from '../clip/weights.js';
import type { LoadedWeights } from '../generator/layout.js';
import { fromConverted, weightsFromTensors } from '../generator/load.js';
import { InputError } from '../errors.js';
import { CONVERTED_KINDS, convertedFromSafetensors, isConverted, writeConverted, type ConvertedKind } from '../io/tensors/converted.js';
import { findModel, formatBytes, loadManifest, resolveModelPath } from '../io/models/registry.js';
import { readSafetensors } from '../io/tensors/safetensors.js';
import { UsageError, flag, str, type Command } from './command.js';

const ACTIVATIONS: readonly ClipActivation[] = ['quick_gelu', 'gelu'];
const OUT_EXTENSION = '.safetensors';

interface ConvertOptions {
  /** Skip detection: convert as this kind. */
  readonly kind?: ConvertedKind;
  /** CLIP MLP activation when the file cannot tell (open_clip `*-quickgelu` models). */
  readonly activation?: ClipActivation;
}

interface ConvertResult {
  readonly kind: ConvertedKind;
  readonly sourceFormat: string;
  readonly config: unknown;
  readonly tensors: number;
  readonly bytes: number;
}

interface Loaded {
  readonly kind: ConvertedKind;
  readonly sourceFormat: string;
  readonly config: unknown;
  readonly weights: ReadonlyMap<string, HostTensor>;
}

/** Maps the checkpoint with the generator loader, else the CLIP loader; InputError with both reasons if neither fits. */
async function loadAny(input: string, bytes: Uint8Array, opts: ConvertOptions): Promise<Loaded> {
  const { tensors, container, format, safetensors } = parseCheckpoint(bytes, input);
  if (safetensors && isConverted(safetensors)) throw new InputError(`${input} is already in our converted layout; nothing to do`);
  const containerFormat = container === 'safetensors' ? format : `torch-${format}`;
  let generatorError: Error | undefined;
  if (opts.kind !== 'clip') {
    try {
      const g = weightsFromTensors(tensors, input);
      return { kind: 'generator', sourceFormat: containerFormat, config: g.config, weights: g.weights };
    } catch (e) {
      if (!(e instanceof InputError) || opts.kind === 'generator') throw e;
      generatorError = e;
    }
  }
  try {
    const overrides = { activation: opts.activation };
    const c: LoadedClip =
      container === 'safetensors' ? await loadClipCheckpoint(input, overrides) : clipFromTensors({ tensors, container }, input, overrides);
    return { kind: 'clip', sourceFormat: c.format, config: c.config, weights: c.weights };
  } catch (e) {
    if (!(e instanceof InputError) || generatorError === undefined) throw e;
    throw new InputError(
      `${input} is neither a StyleGAN2 generator nor a CLIP checkpoint we can convert. As a generator: ${generatorError.message}. As CLIP: ${e.message}`,
    );
  }
}

/** Converts `input` to our layout at `output` (written atomically). */
export async function convertCheckpoint(input: string, output: string, opts: ConvertOptions = {}): Promise<ConvertResult> {
  if (resolvePath(input) === resolvePath(output)) throw new InputError('the output must be a different file from the input');
  let bytes: Uint8Array;
  try {
    bytes = await readFile(input);
  } catch (e) {
    throw new InputError(`cannot read ${input}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}; check the path`);
  }
  const loaded = await loadAny(input, bytes, opts);
  const sourceSha256 = createHash('sha256').update(bytes).digest('hex');
  await writeConverted(output, loaded.kind, loaded.config, loaded.weights, { source: basename(input), sourceFormat: loaded.sourceFormat, sourceSha256 });
  return { kind: loaded.kind, sourceFormat: loaded.sourceFormat, config: loaded.config, tensors: loaded.weights.size, bytes: (await stat(output)).size };
}

type LoadedConverted = ({ kind: 'generator' } & LoadedWeights) | ({ kind: 'clip' } & LoadedClip);

/** Reads a converted file back through the generator / CLIP loaders (config validated, every weight checked). */
export async function loadConverted(path: string): Promise<LoadedConverted> {
  const c = convertedFromSafetensors(await readSafetensors(path), path);
  return c.kind === 'generator' ? { kind: 'generator', ...fromConverted(c, path) } : { kind: 'clip', ...clipFromConverted(c, path) };
}

export const modelsConvertCommand: Command = {
  path: ['models', 'convert'],
  summary: 'rewrite a generator or CLIP checkpoint as safetensors in our layout (loads faster)',
  usage: [
    '  styleclip models convert IN OUT.safetensors [--kind generator|clip] [--activation quick_gelu|gelu] [--json]',
    '',
    '  IN            a checkpoint path or a downloaded model name: rosinality .pt, NVIDIA .pkl, OpenAI CLIP',
    '                TorchScript .pt, openai/CLIP state dict, open_clip, Hugging Face CLIP safetensors',
    '  --kind        skip detection (default: tried as a generator, then as CLIP)',
    '  --activation  CLIP MLP activation for open_clip *-quickgelu models (the file does not record it)',
    '  --json        print {kind, sourceFormat, config, tensors, bytes}',
    '',
    '  OUT holds float32 tensors in our names and scaling with the architecture config in its metadata.',
  ].join('\n'),
  options: { kind: { type: 'string' }, activation: { type: 'string' }, json: { type: 'boolean' } },
  allowPositionals: true,
  async run(args, io) {
    if (args.positionals.length !== 2) throw new UsageError('give the input checkpoint and the output .safetensors path');
    const [nameOrPath, output] = args.positionals;
    if (!output.endsWith(OUT_EXTENSION)) throw new UsageError(`the output must end in ${OUT_EXTENSION}, got '${output}'`);
    const kind = str(args, 'kind');
    if (kind !== undefined && !CONVERTED_KINDS.includes(kind as ConvertedKind)) {
      throw new UsageError(`--kind must be one of ${CONVERTED_KINDS.join(', ')}, got '${kind}'`);
    }
    const activation = str(args, 'activation');
    if (activation !== undefined && !ACTIVATIONS.includes(activation as ClipActivation)) {
      throw new UsageError(`--activation must be one of ${ACTIVATIONS.join(', ')}, got '${activation}'`);
    }
    let input = nameOrPath;
    if (!existsSync(nameOrPath)) {
      const entry = findModel(await loadManifest(), nameOrPath);
      if (!entry) throw new InputError(`${nameOrPath}: no such file or model name ('styleclip models list' shows the names)`);
      input = await resolveModelPath(nameOrPath, entry.kind);
    }
    const r = await convertCheckpoint(input, output, { kind: kind as ConvertedKind | undefined, activation: activation as ClipActivation | undefined });
    if (flag(args, 'json')) io.stdout.write(JSON.stringify(r) + '\n');
    else io.stdout.write(`${output}: ${r.kind} from ${r.sourceFormat}, ${r.tensors} tensors, ${formatBytes(r.bytes)}\n`);
    return 0;
  },
};
