/**
 * StyleCLIP mapper checkpoints -> `LatentMapper` (network.ts). The file is the training Coach's save
 * (mapper/training/coach.py): `{'state_dict': StyleCLIPMapper.state_dict(), 'opts': {...}}` with `mapper.*` (the
 * mapper) and `decoder.*` (the rosinality generator, read by src/generator). Which variant and which groups exist
 * come from the `mapper.*` keys (the published opts can disagree with the weights); every key is mapped through one
 * rule table (src/io/tensors/weight_map.ts) that checks its shape and that nothing is left over.
 */
import type { HostTensor } from '../../engine/tensor.js';
import { InputError } from '../../errors.js';
import { applyRules, scaled, type MapRule } from '../../io/tensors/weight_map.js';
import { LEVEL_GROUPS, MAPPER_DEPTH, MAPPER_LR_MUL, type LatentMapper, type MapperNet } from './network.js';

/** Prefix of the mapper's parameters in the flattened checkpoint. */
const MAPPER_PREFIX = 'state_dict.mapper.';

/** The rules of one Mapper under `prefix` (`<prefix>.mapping.{1..4}`; `mapping.0` is the parameter-free PixelNorm). */
function netRules(prefix: string, d: number): MapRule[] {
  return Array.from({ length: MAPPER_DEPTH }, (_, i) => [
    // EqualLinear: W * lr_mul / sqrt(in), b * lr_mul (model.py EqualLinear with lr_mul 0.01)
    { src: `${prefix}.mapping.${i + 1}.weight`, shape: [d, d], dst: `${prefix}.${i}.weight`, transform: scaled(MAPPER_LR_MUL / Math.sqrt(d)) },
    { src: `${prefix}.mapping.${i + 1}.bias`, shape: [d], dst: `${prefix}.${i}.bias`, transform: scaled(MAPPER_LR_MUL) },
  ]).flat();
}

function netOf(w: ReadonlyMap<string, HostTensor>, prefix: string): MapperNet {
  return Array.from({ length: MAPPER_DEPTH }, (_, i) => ({ weight: w.get(`${prefix}.${i}.weight`)!, bias: w.get(`${prefix}.${i}.bias`)! }));
}

/** The width of the net under `prefix` from its first layer, or an error naming the key. */
function widthOf(sd: ReadonlyMap<string, HostTensor>, prefix: string, what: string): number {
  const t = sd.get(`${prefix}.mapping.1.weight`);
  if (!t || t.shape.length !== 2) throw new InputError(`${what}: '${MAPPER_PREFIX}${prefix}.mapping.1.weight' is missing or not a matrix`);
  return t.shape[1];
}

/** Maps a mapper checkpoint's flattened tensors; `what` names the file in errors. */
export function mapperFromTensors(tensors: ReadonlyMap<string, HostTensor>, what: string): LatentMapper {
  const sd = new Map<string, HostTensor>();
  for (const [k, v] of tensors) if (k.startsWith(MAPPER_PREFIX)) sd.set(k.slice(MAPPER_PREFIX.length), v);
  if (sd.size === 0) {
    const e4e = [...tensors.keys()].some((k) => k.startsWith('state_dict.encoder.'));
    throw new InputError(`${what} is not a StyleCLIP mapper checkpoint (no 'mapper.*' weights)${e4e ? '; it is an encoder (e4e/pSp): use it with --encoder' : ''}`);
  }
  const keys = [...sd.keys()];
  const styleLayers = [...new Set(keys.map((k) => /^mapper_(\d+)\./.exec(k)?.[1]).filter((v) => v !== undefined).map(Number))].sort((a, b) => a - b);
  if (styleLayers.length) {
    const rules = styleLayers.flatMap((c) => netRules(`mapper_${c}`, widthOf(sd, `mapper_${c}`, what)));
    const w = applyRules(sd, rules, `${what} (StyleSpace mapper)`);
    return { kind: 'stylespace', groups: [], layers: new Map(styleLayers.map((c) => [c, netOf(w, `mapper_${c}`)])) };
  }
  if (keys.some((k) => k.startsWith('mapping.'))) {
    const d = widthOf(sd, 'mapping', what);
    const w = applyRules(sd, netRules('mapping', d), `${what} (SingleMapper)`);
    return { kind: 'single', wDim: d, groups: [{ name: 'all', start: 0, end: Infinity, net: netOf(w, 'mapping') }], layers: new Map() };
  }
  const present = LEVEL_GROUPS.filter((grp) => keys.some((k) => k.startsWith(`${grp.key}.`)));
  if (present.length === 0) throw new InputError(`${what}: unrecognised mapper weights (${keys.slice(0, 4).join(', ')}, ...); expected LevelsMapper, SingleMapper or the StyleSpace mapper of StyleCLIP`);
  const d = widthOf(sd, present[0].key, what);
  const w = applyRules(sd, present.flatMap((grp) => netRules(grp.key, d)), `${what} (LevelsMapper)`);
  return {
    kind: 'levels',
    wDim: d,
    groups: LEVEL_GROUPS.map((grp) => ({ name: grp.name, start: grp.start, end: grp.end, net: present.includes(grp) ? netOf(w, grp.key) : undefined })),
    layers: new Map(),
  };
}
