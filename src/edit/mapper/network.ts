/**
 * StyleCLIP latent mappers (Patashnik et al. 2021, sec. 5; orpatashnik/StyleCLIP mapper/latent_mappers.py): a small
 * network per text prompt that maps a latent to its edit in one pass, applied as w_hat = w + 0.1 * M(w)
 * (mapper/scripts/inference.py).
 *
 *   Mapper(x) = 4 x [EqualLinear(D, D, lr_mul 0.01) + fused leaky ReLU] (PixelNorm(x))
 *
 * QUIRKS of the official code, reproduced:
 * - PixelNorm divides by sqrt(mean(x^2, dim=1) + 1e-8). The LevelsMapper feeds [B, L, D] row groups, so dim 1 is the
 *   group's L latents (an RMS across rows per feature), not the D features; the StyleSpace mapper feeds [B, C] styles,
 *   where dim 1 is the channels.
 * - Every layer, the last included, is activated: leaky_relu(x W^T + b, 0.2) * sqrt(2), so the output has no linear head.
 *
 * Variants (which one, and which groups, are derived from the checkpoint's keys, never from its opts):
 * - `levels` (LevelsMapper): w+ rows 0-3 (coarse, attribute `course_mapping` [sic]), 4-7 (medium), 8+ (fine), each its
 *   own Mapper; a disabled group outputs zeros.
 * - `single` (SingleMapper): one Mapper over all rows.
 * - `stylespace` (WithoutToRGBStyleSpaceMapper): one Mapper per conv layer of S (`mapper_{c}`, c the layer index in
 *   StyleSpace order, ToRGB layers unmapped: zero delta).
 */
import type { Graph, Value } from '../../engine/graph.js';
import { gemm, leakyRelu, mul } from '../../engine/ops_math.js';
import { concat, expand, reshape, slice } from '../../engine/ops_shape.js';
import type { HostTensor } from '../../engine/tensor.js';
import { ACTIVATION_GAIN, LEAKY_SLOPE } from '../../generator/config.js';
import { pixelNorm } from '../../generator/stylegan2.js';
import type { OptionSet } from '../options.js';
import { bindWeights } from '../../engine/bind.js';

/** Linear layers per Mapper (latent_mappers.py `Mapper`: `for i in range(4)`). */
export const MAPPER_DEPTH = 4;
/** EqualLinear learning-rate multiplier of the mapper layers (`lr_mul=0.01`). */
export const MAPPER_LR_MUL = 0.01;
/** LevelsMapper row split: coarse [0, 4), medium [4, 8), fine [8, L) (latent_mappers.py `forward`). */
export const LEVEL_GROUPS = Object.freeze([
  { name: 'coarse', key: 'course_mapping', start: 0, end: 4 },
  { name: 'medium', key: 'medium_mapping', start: 4, end: 8 },
  { name: 'fine', key: 'fine_mapping', start: 8, end: Infinity },
] as const);
/** inference.py `run_on_batch`: `w_hat = w + 0.1 * net.mapper(w)`. */
export const MAPPER_STRENGTH = 0.1;
/** Largest |strength|: 100x the published 0.1 is far past any useful edit. */
const MAX_MAPPER_STRENGTH = 10;

/** The options of a mapper edit; see src/edit/options.ts. */
export const MAPPER_OPTION_SPECS = Object.freeze({
  strength: { kind: 'number', min: -MAX_MAPPER_STRENGTH, max: MAX_MAPPER_STRENGTH, flag: 'strength', field: 'strength', help: `w_hat = w + strength * M(w) (StyleCLIP: ${MAPPER_STRENGTH})` },
} as const satisfies OptionSet);

/** One Mapper's effective weights (gains applied): 4 x {weight [D,D] (out,in), bias [D]}. */
export type MapperNet = readonly { readonly weight: HostTensor; readonly bias: HostTensor }[];

export type MapperKind = 'levels' | 'single' | 'stylespace';

export interface LatentMapper {
  readonly kind: MapperKind;
  /** Width of the latent (w) or, for `stylespace`, undefined (per-layer widths). */
  readonly wDim?: number;
  /** `levels`/`single`: row groups [start, end) and their nets (undefined: disabled, zero delta). */
  readonly groups: readonly { readonly name: string; readonly start: number; readonly end: number; readonly net?: MapperNet }[];
  /** `stylespace`: StyleSpace layer index -> net. */
  readonly layers: ReadonlyMap<number, MapperNet>;
}

/** One Mapper's layers as graph values (effective weight [D,D] (out,in) and bias [D]). */
export type MapperLayers = readonly { readonly weight: Value; readonly bias: Value }[];

/** PixelNorm over axis 1 (see the header), then the four activated EqualLinears on the last axis. */
function mapperForward(x: Value, layers: MapperLayers): Value {
  let h = pixelNorm(x, 1);
  const shape = h.shape;
  const d = shape[shape.length - 1];
  h = reshape(h, [-1, d]);
  for (const l of layers) {
    const y = gemm(h, l.weight, l.bias, { transB: true });
    h = mul(leakyRelu(y, LEAKY_SLOPE), ACTIVATION_GAIN); // leaky_relu(x W^T + b) * sqrt 2 (bias inside, as fused_lrelu)
  }
  return reshape(h, shape);
}

function mapperNet(g: Graph, x: Value, net: MapperNet, name: string): Value {
  const p = bindWeights(g, new Map(net.flatMap((l, i) => [[`${name}.${i}.w`, l.weight], [`${name}.${i}.b`, l.bias]])), 'mapper weights');
  return mapperForward(x, net.map((_, i) => ({ weight: p(`${name}.${i}.w`), bias: p(`${name}.${i}.b`) })));
}

/**
 * delta = M(w+) for w+ [N, L, D] (`levels`, `single`): [N, L, D]. `layersOf` overrides a group's layers with graph
 * values (training feeds the weights as inputs).
 */
export function buildLatentDelta(g: Graph, wPlus: Value, m: LatentMapper, layersOf?: (group: string) => MapperLayers | undefined): Value {
  const [n, rows, d] = wPlus.shape;
  const parts: Value[] = [];
  for (const grp of m.groups) {
    const end = Math.min(grp.end, rows);
    if (end <= grp.start) continue;
    const x = slice(wPlus, [1], [grp.start], [end]); // [N, Lg, D]
    const given = layersOf?.(grp.name);
    parts.push(given ? mapperForward(x, given) : grp.net ? mapperNet(g, x, grp.net, `mapper_${grp.name}`) : expand(g.scalar(0), [n, end - grp.start, d]));
  }
  return parts.length === 1 ? parts[0] : concat(parts, 1);
}

/** delta = M(S) over S codes [N, total] (`stylespace`), given the layer offsets/widths: [N, total]. */
export function buildStyleDelta(g: Graph, s: Value, m: LatentMapper, layout: readonly { readonly offset: number; readonly channels: number }[]): Value {
  const n = s.shape[0];
  const parts = layout.map((l, c) => {
    const net = m.layers.get(c);
    const x = slice(s, [1], [l.offset], [l.offset + l.channels]); // [N, C]
    return net ? mapperNet(g, x, net, `mapper_${c}`) : expand(g.scalar(0), [n, l.channels]);
  });
  return concat(parts, 1);
}
