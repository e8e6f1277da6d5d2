/**
 * CLIP's ViT image encoder and text transformer as engine graphs, following openai/CLIP `clip/model.py`
 * (`ResidualAttentionBlock`, `Transformer`, `VisionTransformer`, `CLIP.encode_image` / `encode_text`).
 *
 * References: Radford et al. 2021, "Learning Transferable Visual Models From Natural Language Supervision"
 * (arXiv:2103.00020); Dosovitskiy et al. 2020, "An Image is Worth 16x16 Words" (arXiv:2010.11929) for the ViT;
 * Vaswani et al. 2017 for multi-head attention (torch.nn.MultiheadAttention semantics: fused in_proj, q scaled by
 * 1/sqrt(head_dim)).
 *
 * The ModifiedResNet image tower (RN50 family) is in resnet.ts; the Clip class that loads and runs either is in clip.ts.
 * Weights are a plain `name -> float32 HostTensor` map in openai/CLIP's state-dict naming (`visual.conv1.weight`,
 * `transformer.resblocks.0.attn.in_proj_weight`, ...); src/clip/weights.ts maps other checkpoint layouts onto it.
 * Activations run batch-first: token rows are kept flat as [N*L, D] so every Linear is one Gemm; openai/CLIP's
 * [L, N, D] layout is the same computation. The builders add nodes into a caller's Graph, so a generator, a
 * resampler, the image encoder and a loss can share one graph and one gradient pass.
 */
import {
  add, concat, conv, erf, expand, gather, gemm, layerNorm, matmul, mul, reshape, sigmoid, slice, softmax, transpose,
  type HostTensor, type Param, type Value,
} from '../engine/index.js';
import { CLIP_LN_EPS, QUICK_GELU_ALPHA, type ClipActivation, type ClipConfig } from './config.js';

/** nn.Linear on rows: x [M, in] @ W[out, in]^T + b -> [M, out]. */
function linear(p: Param, x: Value, prefix: string): Value {
  return gemm(x, p(`${prefix}.weight`), p(`${prefix}.bias`), { transB: true });
}

function layerNormP(p: Param, x: Value, prefix: string): Value {
  return layerNorm(x, p(`${prefix}.weight`), p(`${prefix}.bias`), CLIP_LN_EPS);
}

/** QuickGELU x * sigmoid(1.702 x) (OpenAI) or exact GELU 0.5 x (1 + erf(x / sqrt 2)) (open_clip). */
export function activate(x: Value, kind: ClipActivation): Value {
  if (kind === 'quick_gelu') return mul(x, sigmoid(mul(x, QUICK_GELU_ALPHA)));
  return mul(mul(x, 0.5), add(erf(mul(x, Math.SQRT1_2)), 1));
}

/** Additive causal mask [L, L]: 0 on and below the diagonal, -inf above (CLIP.build_attention_mask). */
export function causalMask(length: number): HostTensor {
  const data = new Float32Array(length * length);
  for (let i = 0; i < length; i++) for (let j = i + 1; j < length; j++) data[i * length + j] = -Infinity;
  return { dtype: 'float32', shape: [length, length], data };
}

interface Dims {
  readonly batch: number;
  readonly length: number;
  readonly width: number;
  readonly heads: number;
}

/**
 * nn.MultiheadAttention self-attention on rows x [N*L, D]: the fused in_proj [3D, D] gives q, k, v; per head
 * softmax(q k^T / sqrt(dh) + mask) v; heads concatenated -> out_proj.
 */
function attention(p: Param, x: Value, prefix: string, d: Dims, mask?: Value): Value {
  const dh = d.width / d.heads;
  const inProj = gemm(x, p(`${prefix}.in_proj_weight`), p(`${prefix}.in_proj_bias`), { transB: true }); // [N*L, 3D]
  const qkv = reshape(inProj, [d.batch, d.length, 3, d.heads, dh]);
  const part = (i: number): Value => reshape(slice(qkv, [2], [i], [i + 1]), [d.batch, d.length, d.heads, dh]);
  const q = transpose(mul(part(0), 1 / Math.sqrt(dh)), [0, 2, 1, 3]); // [N, H, L, dh]
  const kT = transpose(part(1), [0, 2, 3, 1]); // [N, H, dh, L]
  const v = transpose(part(2), [0, 2, 1, 3]); // [N, H, L, dh]
  const scores = matmul(q, kT); // [N, H, L, L]
  const weights = softmax(mask ? add(scores, mask) : scores, -1);
  const heads = transpose(matmul(weights, v), [0, 2, 1, 3]); // [N, L, H, dh]
  return linear(p, reshape(heads, [d.batch * d.length, d.width]), `${prefix}.out_proj`);
}

/** MLP: c_fc (D -> M, M = 4D in OpenAI's models) -> activation -> c_proj (M -> D). */
function mlp(p: Param, x: Value, prefix: string, act: ClipActivation): Value {
  return linear(p, activate(linear(p, x, `${prefix}.c_fc`), act), `${prefix}.c_proj`);
}

/** ResidualAttentionBlock: x + attn(ln_1(x)), then x + mlp(ln_2(x)). */
function residualBlock(p: Param, x: Value, prefix: string, d: Dims, act: ClipActivation, mask?: Value): Value {
  const h = add(x, attention(p, layerNormP(p, x, `${prefix}.ln_1`), `${prefix}.attn`, d, mask));
  return add(h, mlp(p, layerNormP(p, h, `${prefix}.ln_2`), `${prefix}.mlp`, act));
}

/** Transformer: `layers` residual blocks on rows [N*L, D]. */
function transformer(p: Param, x: Value, prefix: string, layers: number, d: Dims, act: ClipActivation, mask?: Value): Value {
  let h = x;
  for (let i = 0; i < layers; i++) h = residualBlock(p, h, `${prefix}.resblocks.${i}`, d, act, mask);
  return h;
}

/**
 * VisionTransformer.forward: pixels [N, 3, R, R] (CLIP-normalised) -> image embeddings [N, embed_dim].
 * conv1 (stride = patch, no bias) -> [N, W, g, g] -> tokens [N, g², W]; class token prepended; + positional
 * embedding; ln_pre; transformer; ln_post of the class token; @ proj.
 */
export function vitImageEncoder(p: Param, pixels: Value, cfg: ClipConfig): Value {
  const { visionWidth: w, visionPatchSize: ps, imageResolution: r } = cfg;
  if (pixels.rank !== 4 || pixels.shape[1] !== 3 || pixels.shape[2] !== r || pixels.shape[3] !== r) {
    throw new Error(`CLIP image encoder: pixels must be [N,3,${r},${r}], got ${pixels}`);
  }
  const n = pixels.shape[0];
  const grid = r / ps;
  const length = grid * grid + 1;
  const patches = conv(pixels, p('visual.conv1.weight'), undefined, { strides: [ps, ps] }); // [N, W, g, g]
  const tokens = transpose(reshape(patches, [n, w, grid * grid]), [0, 2, 1]); // [N, g², W]
  const cls = expand(reshape(p('visual.class_embedding'), [1, 1, w]), [n, 1, w]);
  const x = add(concat([cls, tokens], 1), p('visual.positional_embedding')); // [N, L, W]
  const rows = layerNormP(p, reshape(x, [n * length, w]), 'visual.ln_pre');
  const d: Dims = { batch: n, length, width: w, heads: cfg.visionHeads };
  const h = reshape(transformer(p, rows, 'visual.transformer', cfg.visionLayers, d, cfg.activation), [n, length, w]);
  const clsOut = layerNormP(p, reshape(slice(h, [1], [0], [1]), [n, w]), 'visual.ln_post'); // [N, W]
  return matmul(clsOut, p('visual.proj')); // [N, E]
}

/**
 * CLIP.encode_text: tokens [N, L] (int32/int64) -> text embeddings [N, embed_dim]. token_embedding + positional
 * embedding -> causal transformer -> ln_final -> the row of each text's EOT token -> @ text_projection.
 * `eotRows` [N] int64 holds the flat row index n * L + argmax(tokens[n]) (see `eotRowIndices`), computed on the
 * host because token ids are host data. L may be shorter than the context length C when every text ends before L:
 * with the causal mask no position sees a later one, so the EOT rows are exactly those of the full [N, C] pass.
 */
export function textEncoder(p: Param, tokens: Value, eotRows: Value, cfg: ClipConfig): Value {
  const { contextLength: c, transformerWidth: w } = cfg;
  const length = tokens.shape[1];
  if (tokens.rank !== 2 || length > c) throw new Error(`CLIP text encoder: tokens must be [N,<=${c}], got ${tokens}`);
  const n = tokens.shape[0];
  const pos = length === c ? p('positional_embedding') : slice(p('positional_embedding'), [0], [0], [length]);
  const x = add(gather(p('token_embedding.weight'), tokens, 0), pos); // [N, L, W]
  const mask = tokens.graph.constant(causalMask(length), 'attn_mask');
  const d: Dims = { batch: n, length, width: w, heads: cfg.transformerHeads };
  const h = transformer(p, reshape(x, [n * length, w]), 'transformer', cfg.transformerLayers, d, cfg.activation, mask);
  const eot = gather(layerNormP(p, h, 'ln_final'), eotRows, 0); // [N, W]
  return matmul(eot, p('text_projection')); // [N, E]
}

/**
 * Token lengths text sessions are built for (multiples of 4 up to 24, then coarser: few sessions, little padding).
 * A template ensemble's texts end at 9-16 tokens: sorted by length, its chunks of 16 run at 12 and 16.
 */
export const TEXT_LENGTHS = [8, 12, 16, 20, 24, 32, 48, 64];

/** Row order shortest text first (stable), from each row's EOT position. */
export function byLength(eot: readonly number[]): number[] {
  return eot.map((_, i) => i).sort((a, b) => eot[a] - eot[b] || a - b);
}

/** Index of each row's EOT token: the first maximum, as torch.argmax. */
export function eotPositions(tokens: HostTensor): number[] {
  const [n, c] = tokens.shape;
  return Array.from({ length: n }, (_, i) => {
    let best = 0;
    for (let j = 1; j < c; j++) if (Number(tokens.data[i * c + j]) > Number(tokens.data[i * c + best])) best = j;
    return best;
  });
}

/** Flat EOT row indices n * L + argmax(tokens[n]) for tokens [N, L], int64 [N]. */
export function eotRowIndices(tokens: HostTensor): HostTensor {
  const c = tokens.shape[1];
  return { dtype: 'int64', shape: [tokens.shape[0]], data: BigInt64Array.from(eotPositions(tokens), (p, i) => BigInt(i * c + p)) };
}

/** The first `length` columns of tokens [N, C]. */
export function leadingColumns(t: HostTensor, length: number): HostTensor {
  const [n, c] = t.shape;
  if (length === c) return t;
  const src = t.data as Int32Array;
  const out = new Int32Array(n * length);
  for (let i = 0; i < n; i++) out.set(src.subarray(i * c, i * c + length), i * length);
  return { dtype: 'int32', shape: [n, length], data: out };
}

export function asInt32(t: HostTensor): HostTensor {
  if (t.dtype === 'int32') return t;
  if (t.dtype !== 'int64') throw new Error(`CLIP tokens must be int32 or int64, got ${t.dtype}`);
  return { dtype: 'int32', shape: t.shape, data: Int32Array.from(t.data as BigInt64Array, Number) };
}

