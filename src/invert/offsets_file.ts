/**
 * HyperStyle weight offsets on disk (`invert --save-offsets`, `generate --offsets`): one safetensors file, one tensor
 * per offset layer named by the generator layer (layout.ts, e.g. `b8.conv0`), [N, Cout, Cin, k, k] for N photos in
 * the order of the latents saved beside it; metadata `format` = OFFSETS_FORMAT and `hyperstyle_layers` = the
 * official hypernet output indices ("0,2,3,...", 0 = conv1, 1 = to_rgb1, then conv0, conv1, to_rgb per resolution).
 */
import type { HostTensor } from '../engine/tensor.js';
import { InputError } from '../errors.js';
import { synthesisLayers, type GeneratorConfig } from '../generator/index.js';
import { readSafetensors, writeSafetensors } from '../io/tensors/safetensors.js';

export const OFFSETS_FORMAT = 'styleclip-hyperstyle-offsets';

/** Per-photo offsets [Cout,Cin,k,k] by layer name -> one [N, ...] tensor per layer. */
export async function writeOffsets(path: string, photos: readonly ReadonlyMap<string, HostTensor>[], c: GeneratorConfig): Promise<void> {
  const names = [...(photos[0]?.keys() ?? [])];
  const index = new Map(synthesisLayers(c).map((l, i) => [l.name, i]));
  const tensors = new Map<string, HostTensor>();
  for (const name of names) {
    const per = photos[0].get(name)!;
    const data = new Float32Array(per.data.length * photos.length);
    photos.forEach((p, i) => data.set(p.get(name)!.data as Float32Array, i * per.data.length));
    tensors.set(name, { dtype: 'float32', shape: [photos.length, ...per.shape], data });
  }
  await writeSafetensors(path, tensors, { format: OFFSETS_FORMAT, hyperstyle_layers: names.map((n) => index.get(n)).join(',') });
}

/** Reads an offsets file for `c`: per photo, offsets by layer name (shapes checked against the generator). */
export async function readOffsets(path: string, c: GeneratorConfig): Promise<Map<string, HostTensor>[]> {
  const st = await readSafetensors(path);
  if (st.metadata.format !== OFFSETS_FORMAT) throw new InputError(`${path} is not a weight-offsets file (write one with 'styleclip invert --encoder hyperstyle-ffhq --save-offsets F.safetensors')`);
  const layers = new Map(synthesisLayers(c).map((l) => [l.name, l]));
  let n: number | undefined;
  for (const [name, t] of st.tensors) {
    const l = layers.get(name);
    if (!l) throw new InputError(`${path}: offsets for layer '${name}', which the generator does not have: use the generator the photos were inverted with`);
    const k = l.kind === 'torgb' ? 1 : 3;
    const want = [l.outChannels, l.inChannels, k, k];
    if (t.shape.length !== 5 || want.some((d, i) => t.shape[i + 1] !== d)) throw new InputError(`${path}: offsets of '${name}' are [${t.shape.join(',')}], expected [N,${want.join(',')}] for this generator`);
    if (n !== undefined && t.shape[0] !== n) throw new InputError(`${path}: layers hold offsets of different photo counts (${n} and ${t.shape[0]})`);
    n = t.shape[0];
  }
  return Array.from({ length: n ?? 0 }, (_, i) => new Map([...st.tensors].map(([name, t]) => {
    const per = t.data.length / t.shape[0];
    return [name, { dtype: 'float32' as const, shape: t.shape.slice(1), data: (t.data as Float32Array).slice(i * per, (i + 1) * per) }];
  })));
}
