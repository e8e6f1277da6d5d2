/**
 * TensorFlow.js model files read without TensorFlow.js: a weights manifest (a list of groups, each with shard `paths`
 * and `weights` specs) and a graph model JSON (`modelTopology` GraphDef as JSON + `weightsManifest`). Shards of all
 * groups are concatenated in order and the specs index that buffer sequentially, as tfjs-core io (`decodeWeights`)
 * does. Quantised weights (`quantization: {dtype: 'uint8' | 'uint16', scale, min}`, value = q * scale + min, or
 * `{dtype: 'float16'}`) are dequantised to float32.
 *
 * Reference: tfjs-core src/io/types.ts (WeightsManifestConfig, WeightsManifestEntry) and src/io/io_utils.ts.
 */
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { halfToFloat, permute, type HostTensor } from '../engine/tensor.js';
import { InputError } from '../errors.js';

interface WeightQuantization {
  readonly dtype: 'uint8' | 'uint16' | 'float16';
  readonly scale?: number;
  readonly min?: number;
}

/** A TF Conv2D filter [kh, kw, in, out] as the ONNX Conv weight [out, in, kh, kw]. */
export const tfFilterToOihw = (w: HostTensor): HostTensor => permute(w, [3, 2, 0, 1]);

/**
 * A TF depthwise filter [kh, kw, in, mult] as the grouped ONNX Conv weight [in * mult, 1, kh, kw] (group = in; output
 * channel c * mult + m, as TF orders them).
 */
export function tfDepthwiseToOihw(w: HostTensor): HostTensor {
  const [kh, kw, cin, mult] = w.shape;
  return { ...permute(w, [2, 3, 0, 1]), shape: [cin * mult, 1, kh, kw] };
}

export interface WeightSpec {
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype: 'float32' | 'int32';
  readonly quantization?: WeightQuantization;
}

interface WeightGroup {
  readonly paths: readonly string[];
  readonly weights: readonly WeightSpec[];
}

/** A GraphDef node as tfjs-converter writes it. */
export interface TfNode {
  readonly name: string;
  readonly op: string;
  readonly input?: readonly string[];
  readonly attr?: Readonly<Record<string, TfAttr>>;
}

export interface TfAttr {
  readonly s?: string;
  readonly i?: string;
  readonly f?: number;
  readonly b?: boolean;
  readonly list?: { readonly i?: readonly string[]; readonly s?: readonly string[] };
}

export interface TfjsGraphJson {
  readonly format: string;
  readonly modelTopology: { readonly node: readonly TfNode[] } & Record<string, unknown>;
  readonly weightsManifest: readonly WeightGroup[];
  readonly signature?: {
    readonly inputs?: Readonly<Record<string, { readonly name: string }>>;
    readonly outputs?: Readonly<Record<string, { readonly name: string }>>;
  };
  readonly [key: string]: unknown;
}

/** Decoded weights by name. */
type TfjsWeights = ReadonlyMap<string, HostTensor>;

const STORED_BYTES: Readonly<Record<string, number>> = { float32: 4, int32: 4, uint8: 1, uint16: 2, float16: 2 };

function storedType(s: WeightSpec): string {
  return s.quantization?.dtype ?? s.dtype;
}

/** Decodes the weights of `specs` from the concatenated shard bytes. */
export function decodeWeights(specs: readonly WeightSpec[], data: Uint8Array, where: string): Map<string, HostTensor> {
  const out = new Map<string, HostTensor>();
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let offset = 0;
  for (const s of specs) {
    const stored = storedType(s);
    const bytes = STORED_BYTES[stored];
    if (bytes === undefined) throw new InputError(`${where}: weight ${s.name} has unsupported stored dtype ${stored}`);
    const n = s.shape.reduce((a, b) => a * b, 1);
    if (offset + n * bytes > data.byteLength) throw new InputError(`${where}: weight data ends inside ${s.name}`);
    const read = (i: number): number => {
      const p = offset + i * bytes;
      switch (stored) {
        case 'float32':
          return view.getFloat32(p, true);
        case 'int32':
          return view.getInt32(p, true);
        case 'uint8':
          return view.getUint8(p);
        case 'uint16':
          return view.getUint16(p, true);
        default:
          return halfToFloat(view.getUint16(p, true));
      }
    };
    const q = s.quantization;
    const affine = q && q.dtype !== 'float16';
    const scale = q?.scale ?? 1;
    const min = q?.min ?? 0;
    const values = s.dtype === 'int32' ? new Int32Array(n) : new Float32Array(n);
    for (let i = 0; i < n; i++) values[i] = affine ? read(i) * scale + min : read(i);
    out.set(s.name, { dtype: s.dtype, shape: [...s.shape], data: values });
    offset += n * bytes;
  }
  if (offset !== data.byteLength) throw new InputError(`${where}: ${data.byteLength - offset} bytes of weight data are not described by the manifest`);
  return out;
}

/** Reads and concatenates the shards of `groups` (paths relative to `dir`). */
async function readWeights(groups: readonly WeightGroup[], dir: string, where: string): Promise<TfjsWeights> {
  const parts: Uint8Array[] = [];
  for (const g of groups) {
    for (const p of g.paths) {
      try {
        parts.push(await readFile(join(dir, p)));
      } catch (e) {
        throw new InputError(`${where}: cannot read weight shard ${join(dir, p)} (${(e as NodeJS.ErrnoException).code ?? e})`);
      }
    }
  }
  const data = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    data.set(p, at);
    at += p.length;
  }
  return decodeWeights(groups.flatMap((g) => g.weights), data, where);
}

async function readJson(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new InputError(`cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? e})`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new InputError(`${path} is not valid JSON (${(e as Error).message})`);
  }
}

/** A face-api.js style weights manifest (`*-weights_manifest.json`) and its shards. */
export async function loadWeightsManifest(path: string): Promise<TfjsWeights> {
  const groups = await readJson(path);
  if (!Array.isArray(groups) || !groups.every((g) => Array.isArray(g?.paths) && Array.isArray(g?.weights))) {
    throw new InputError(`${path} is not a tfjs weights manifest (a list of {paths, weights} groups)`);
  }
  return readWeights(groups as WeightGroup[], dirname(path), path);
}

/** A tfjs graph model (`model.json` with format "graph-model") and its weights. */
export async function loadTfjsGraphModel(path: string): Promise<{ json: TfjsGraphJson; weights: TfjsWeights }> {
  const json = (await readJson(path)) as TfjsGraphJson;
  if (json?.format !== 'graph-model' || !Array.isArray(json.modelTopology?.node) || !Array.isArray(json.weightsManifest)) {
    throw new InputError(`${path} is not a tfjs graph model (expected format "graph-model" with modelTopology and weightsManifest)`);
  }
  return { json, weights: await readWeights(json.weightsManifest, dirname(path), path) };
}
