/**
 * Winograd minimal filtering for stride-1 3x3 convolutions, built from ordinary ONNX ops.
 *
 * Reference: A. Lavin, S. Gray, "Fast Algorithms for Convolutional Neural Networks", CVPR 2016 (arXiv:1509.09308).
 * F(m x m, 3 x 3) computes an m x m output tile from an a x a input tile (a = m + 2) as, eq. (8),
 *   Y = A^T [ (G g G^T) ⊙ (B^T d B) ] A,
 * with a*a multiplies per tile instead of 9 m^2 (F(2x2): 2.25x fewer, F(4x4): 4x fewer). Summed over input
 * channels, the elementwise products become one matrix product per tile position (xi, nu), eq. (12):
 *   M[xi,nu] = U[xi,nu] V[xi,nu],  U = G g G^T [a*a, K, C],  V = B^T d B [a*a, C, P]
 * (U once at build time for constant weights, in the graph for graph-valued ones).
 * (Lavin's "convolution" is the correlation ONNX Conv computes, so no kernel flip.)
 *
 * The graph, for x [N,C,H,W] and weight [K,C,3,3] (P = tiles per image):
 *   1. input transform: one Conv of x viewed as [N*C, 1, H, W] with the a*a kernels B^T[xi,:] (x) B^T[nu,:], stride
 *      m (it also cuts the overlapping tiles and pads) -> [N, C, a*a, P];
 *   2. Transpose -> [a*a, C, N*P]; 3. batched MatMul U [a*a, K, C] x V -> [a*a, K, N*P];
 *   4. output transform: MatMul with A^T (x) A^T [m*m, a*a] -> [m*m, K, N, P];
 *   5. [N, m*m*K, TH, TW] and DepthToSpace (DCR) -> [N, K, TH*m, TW*m]; a Slice crops the last partial tiles.
 * Transform matrices: built by Toom-Cook from interpolation points (`POINTS`, below).
 *
 * The weight gradient of the same conv, dW[k, c, i, j] = sum_{n, p} gy[n, k, p] xpad[n, c, p + (i, j)], is a
 * correlation with 3 outputs per axis and the m x m output-gradient tile as its filter: F(3x3, m x m) (Lavin & Gray
 * sec. 4 use the same duality for their F(2x2,3x3) backward pass), with the same a x a input tiles of x, a*a multiplies
 * per tile instead of 9 m^2, and the sum over tiles and batch as the matrix products' long axis (`winogradWeightGrad`).
 */
import { Value } from './graph.js';
import { add, matmul } from './ops_math.js';
import { conv, type ResolvedConv } from './ops_nn.js';
import type { DType } from './tensor.js';
import { reshape, slice, transpose } from './ops_shape.js';

export type WinogradTile = 2 | 4;

/** A row of the measured rule (./winograd_table.ts): the tile (0: direct) for a conv shape. */
export interface WinogradRow {
  readonly channels: number;
  readonly size: number;
  readonly batch: number;
  readonly tile: 0 | WinogradTile;
}

/** Convs the Winograd forms take (forward and weight gradient): float32, 3x3, stride and dilation 1, group 1, pads <= 2. */
export function winogradTakes(dtype: DType, weightShape: readonly number[], c: ResolvedConv): boolean {
  const unit = c.strides.every((s) => s === 1) && c.dilations.every((d) => d === 1);
  return dtype === 'float32' && weightShape[2] === KERNEL && weightShape[3] === KERNEL && c.group === 1 && unit && c.pads.every((p) => p <= 2);
}

/**
 * Interpolation points of each tile size (the point at infinity is implicit). F(2x2): Lavin & Gray's 0, ±1. F(4x4):
 * 0, ±1, 1/2, -2 instead of Lavin & Gray's 0, ±1, ±2 — Barabasz, Anderson, Soodhalter, Gregg, "Error analysis and
 * improving the accuracy of Winograd convolution for deep neural networks" (ACM TOMS 2020, arXiv:1803.10986), sec. 6:
 * the same multiplies with a smaller float32 error (measured here: see bench/engine_winograd.ts).
 */
const POINTS: Readonly<Record<WinogradTile, readonly number[]>> = { 2: [0, 1, -1], 4: [0, 1, -1, 1 / 2, -2] };

interface Transforms {
  /** B^T [a, a], G [a, r], A^T [out, a]. */
  readonly bt: readonly (readonly number[])[];
  readonly g: readonly (readonly number[])[];
  readonly at: readonly (readonly number[])[];
}

/** Rows [1, p, ..., p^(cols-1)] for each finite point and [0, ..., 0, 1] for infinity: polynomial evaluation. */
function evaluation(points: readonly number[], cols: number): number[][] {
  return [...points.map((p) => Array.from({ length: cols }, (_, j) => p ** j)), Array.from({ length: cols }, (_, j) => (j === cols - 1 ? 1 : 0))];
}

/** Inverse of a small square matrix (Gauss-Jordan with partial pivoting, float64). */
function inverse(m: readonly (readonly number[])[]): number[][] {
  const n = m.length;
  const a = m.map((r, i) => [...r, ...Array.from({ length: n }, (_, j) => (i === j ? 1 : 0))]);
  for (let c = 0; c < n; c++) {
    const p = a.reduce((best, r, i) => (i >= c && Math.abs(r[c]) > Math.abs(a[best][c]) ? i : best), c);
    [a[c], a[p]] = [a[p], a[c]];
    const d = a[c][c];
    a[c] = a[c].map((v) => v / d);
    for (let r = 0; r < n; r++) if (r !== c && a[r][c] !== 0) a[r] = a[r].map((v, j) => v - a[r][c] * a[c][j]);
  }
  return a.map((r) => r.slice(n));
}

const transposed = (m: readonly (readonly number[])[]): number[][] => m[0].map((_, j) => m.map((r) => r[j]));

/**
 * Toom-Cook F(out, r) on the a = out + r - 1 points of `POINTS[tile]`: a linear convolution s = g * h is
 * C [(E_r g) ⊙ (E_out h)] with E the evaluation matrices at the points and C = E_a^-1 the interpolation; the
 * correlation y = conv^T is its transpose, y = E_out^T [(E_r g) ⊙ (C^T d)], so A^T = E_out^T, G = E_r, B^T = C^T
 * (Lavin & Gray sec. 3 and 4). Each row of B^T is scaled to max |entry| 1 and the matching row of G by the inverse
 * (a diagonal moved across the product), so the run-time transform stays well scaled. The forward conv is
 * F(tile, 3), its weight gradient F(3, tile): the same points and B^T, G and A^T exchanged in size.
 */
function toomCook(tile: WinogradTile, out: number, r: number): Transforms {
  const pts = POINTS[tile];
  const a = out + r - 1;
  const bt = transposed(inverse(evaluation(pts, a)));
  const g = evaluation(pts, r);
  const scale = bt.map((row) => Math.max(...row.map(Math.abs)));
  return { bt: bt.map((row, i) => row.map((v) => v / scale[i])), g: g.map((row, i) => row.map((v) => v * scale[i])), at: transposed(evaluation(pts, out)) };
}

const KERNEL = 3;

const TRANSFORMS: Readonly<Record<WinogradTile, Transforms>> = { 2: toomCook(2, 2, KERNEL), 4: toomCook(4, 4, KERNEL) };
const WEIGHT_GRAD_TRANSFORMS: Readonly<Record<WinogradTile, Transforms>> = { 2: toomCook(2, KERNEL, 2), 4: toomCook(4, KERNEL, 4) };

/** Kronecker product of the rows of `p` [r, s] and `q` [t, u]: [(r t), (s u)] flattened row-major. */
function kron(p: readonly (readonly number[])[], q: readonly (readonly number[])[]): Float32Array {
  const s = p[0].length;
  const u = q[0].length;
  const out = new Float32Array(p.length * q.length * s * u);
  for (let i = 0; i < p.length; i++)
    for (let j = 0; j < q.length; j++)
      for (let k = 0; k < s; k++) for (let l = 0; l < u; l++) out[(i * q.length + j) * s * u + k * u + l] = p[i][k] * q[j][l];
  return out;
}

/** (k, c) pairs transformed per block: U's a*a rows are then written in runs of this length, not element-wise. */
const TRANSFORM_BLOCK = 256;

/** U[xi*a+nu, k, c] = (G w[k,c] G^T)[xi, nu] for w [K, C, 3, 3], in float64 then rounded once. */
export function transformWeight(w: Float32Array, k: number, c: number, tile: WinogradTile): Float32Array {
  const a = tile + KERNEL - 1;
  const g = Float64Array.from(TRANSFORMS[tile].g.flat()); // [a, 3] row-major
  const plane = k * c;
  const u = new Float32Array(a * a * plane);
  const tmp = new Float64Array(a * KERNEL);
  const block = new Float32Array(a * a * TRANSFORM_BLOCK);
  for (let p0 = 0; p0 < plane; p0 += TRANSFORM_BLOCK) {
    const n = Math.min(TRANSFORM_BLOCK, plane - p0);
    for (let q = 0; q < n; q++) {
      const b = (p0 + q) * KERNEL * KERNEL;
      for (let xi = 0; xi < a; xi++) {
        const [g0, g1, g2] = [g[xi * 3], g[xi * 3 + 1], g[xi * 3 + 2]];
        for (let j = 0; j < KERNEL; j++) tmp[xi * 3 + j] = g0 * w[b + j] + g1 * w[b + 3 + j] + g2 * w[b + 6 + j]; // G w
      }
      for (let xi = 0; xi < a; xi++) {
        const [t0, t1, t2] = [tmp[xi * 3], tmp[xi * 3 + 1], tmp[xi * 3 + 2]];
        for (let nu = 0; nu < a; nu++) block[(xi * a + nu) * TRANSFORM_BLOCK + q] = t0 * g[nu * 3] + t1 * g[nu * 3 + 1] + t2 * g[nu * 3 + 2]; // (G w) G^T
      }
    }
    for (let r = 0; r < a * a; r++) u.set(block.subarray(r * TRANSFORM_BLOCK, r * TRANSFORM_BLOCK + n), r * plane + p0);
  }
  return u;
}

/** Multiplies of one Winograd conv (the batched MatMul) and of the direct conv it replaces, for the bench report. */
export function winogradMultiplies(n: number, c: number, k: number, oh: number, ow: number, tile: WinogradTile): { winograd: number; direct: number } {
  const a = tile + KERNEL - 1;
  const p = Math.ceil(oh / tile) * Math.ceil(ow / tile);
  return { winograd: a * a * n * p * c * k, direct: n * oh * ow * c * k * KERNEL * KERNEL };
}

/**
 * U [a*a, K, C] of a graph-valued weight w [K, C, 3, 3] (HyperStyle's adapted weights, NADA's trained ones): one
 * MatMul by G (x) G [a*a, 9] per run, ~a*a/(4 N P) of the conv's own multiplies.
 */
function transformWeightInGraph(w: Value, tile: WinogradTile): Value {
  const { g } = TRANSFORMS[tile];
  const a = tile + KERNEL - 1;
  const [k, c] = w.shape;
  const gg = w.graph.constant({ dtype: 'float32', shape: [a * a, KERNEL * KERNEL], data: kron(g, g) }, 'winograd_g');
  // w as [K*C, 9] transposed: onnxruntime fuses the Transpose into the MatMul (transB), no [9, K*C] copy is made.
  return reshape(matmul(gg, transpose(reshape(w, [k * c, KERNEL * KERNEL]), [1, 0])), [a * a, k, c]);
}

/** A per-image transform's output [N*ch, a*a, TH, TW] as one matrix per tile position: [a*a, ch, N*TH*TW]. */
function byPosition(t: Value, n: number, ch: number): Value {
  const [, aa, th, tw] = t.shape;
  return reshape(transpose(reshape(t, [n, ch, aa, th * tw]), [2, 1, 0, 3]), [aa, ch, n * th * tw]);
}

/**
 * The input transform B^T d B of x's a x a tiles at stride m (steps 1-2 of the header): one Conv of x as N*C
 * one-channel images with a*a kernels, one per (xi, nu); the bottom/right pads grow so the last of the TH x TW tiles
 * is whole (its extra outputs are cropped or multiply zeros). -> [a*a, C, N*P]. The weight gradient's F(3, m) has the
 * same points and tile size a, so the same B^T.
 */
function inputTiles(x: Value, pads: readonly [number, number, number, number], tile: WinogradTile, th: number, tw: number): Value {
  const [n, c, h, wd] = x.shape;
  const a = tile + KERNEL - 1;
  const { bt } = TRANSFORMS[tile];
  const bk = x.graph.constant({ dtype: 'float32', shape: [a * a, 1, a, a], data: kron(bt, bt) }, 'winograd_bt');
  const tilePads: [number, number, number, number] = [pads[0], pads[1], th * tile + KERNEL - 1 - h - pads[0], tw * tile + KERNEL - 1 - wd - pads[1]];
  const v = conv(reshape(x, [n * c, 1, h, wd]), bk, undefined, { strides: [tile, tile], pads: tilePads }); // [N*C, a*a, TH, TW]
  return byPosition(v, n, c);
}

/**
 * y = conv(x, w, bias, pads) for a 3x3 stride-1 ungrouped conv by F(tile, 3); `w` [K, C, 3, 3] is host data (its
 * transform is computed once, here) or a graph value (transformed in the graph).
 */
export function winogradConv(x: Value, w: Float32Array | Value, k: number, bias: Value | undefined, pads: readonly [number, number, number, number], tile: WinogradTile, name = 'w'): Value {
  const g = x.graph;
  const [n, c, h, wd] = x.shape;
  const a = tile + KERNEL - 1;
  const oh = h + pads[0] + pads[2] - (KERNEL - 1);
  const ow = wd + pads[1] + pads[3] - (KERNEL - 1);
  const th = Math.ceil(oh / tile);
  const tw = Math.ceil(ow / tile);
  const { at } = TRANSFORMS[tile];
  const vt = inputTiles(x, pads, tile, th, tw); // 1.-2. [a*a, C, N*P]
  // 3. One product per tile position: U [a*a, K, C].
  const u = w instanceof Value ? transformWeightInGraph(w, tile) : g.constant({ dtype: 'float32', shape: [a * a, k, c], data: transformWeight(w, k, c, tile) }, `${name}_winograd${tile}`);
  const m = matmul(u, vt); // [a*a, K, N*P]
  // 4. Output transform as one MatMul over the a*a positions.
  const ak = g.constant({ dtype: 'float32', shape: [tile * tile, a * a], data: kron(at, at) }, 'winograd_at');
  const y = matmul(ak, reshape(m, [a * a, k * n * th * tw])); // [m*m, K*N*P]
  // 5. Tiles back into the image: [N, m*m*K, TH, TW] -> DepthToSpace (DCR: channel = (i*m + j)*K + k).
  const perTile = n === 1 ? reshape(y, [1, tile * tile * k, th, tw]) : reshape(transpose(reshape(y, [tile * tile, k, n, th * tw]), [2, 0, 1, 3]), [n, tile * tile * k, th, tw]);
  const img = g.node('DepthToSpace', [perTile], [{ dtype: x.dtype, shape: [n, k, th * tile, tw * tile] }], { blocksize: { i: tile }, mode: { s: 'DCR' } })[0];
  const out = th * tile === oh && tw * tile === ow ? img : slice(img, [2, 3], [0, 0], [oh, ow]);
  return bias ? add(out, reshape(bias, [1, k, 1, 1])) : out;
}

/**
 * dW [K, C, 3, 3] of y = conv(x, W, pads) (3x3, stride 1, group 1) applied to the output gradient `gy` [N, K, OH, OW],
 * by F(3x3, tile x tile) (see the header):
 *   1. x's a x a tiles at stride m (m = tile), B^T d B: the forward input transform (`inputTiles`) -> [a*a, C, N*P];
 *   2. gy's m x m tiles, G g G^T: a Conv of gy as N*K one-channel images with the a*a kernels G[xi,:] (x) G[nu,:],
 *      stride m (the grown bottom/right pads are zeros of gy: they add nothing) -> [a*a, K, N*P];
 *   3. one batched product over the tiles, U V^T (onnxruntime fuses the Transpose into its MatMul's transB)
 *      -> [a*a, K, C];
 *   4. output transform A^T M A as one MatMul, M^T [K*C, a*a] by (A^T (x) A^T)^T [a*a, 9] -> [K, C, 3, 3].
 */
export function winogradWeightGrad(x: Value, gy: Value, pads: readonly [number, number, number, number], tile: WinogradTile): Value {
  const g = x.graph;
  const [n, c] = x.shape;
  const [, k, oh, ow] = gy.shape;
  const a = tile + KERNEL - 1;
  const th = Math.ceil(oh / tile);
  const tw = Math.ceil(ow / tile);
  const { g: gt, at } = WEIGHT_GRAD_TRANSFORMS[tile];
  const v = inputTiles(x, pads, tile, th, tw); // [a*a, C, N*P]
  const gk = g.constant({ dtype: 'float32', shape: [a * a, 1, tile, tile], data: kron(gt, gt) }, 'winograd_wgrad_g');
  const u = conv(reshape(gy, [n * k, 1, oh, ow]), gk, undefined, { strides: [tile, tile], pads: [0, 0, th * tile - oh, tw * tile - ow] }); // [N*K, a*a, TH, TW]
  const m = matmul(byPosition(u, n, k), transpose(v, [0, 2, 1])); // [a*a, K, C]
  const akT = g.constant({ dtype: 'float32', shape: [a * a, KERNEL * KERNEL], data: kron(transposed(at), transposed(at)) }, 'winograd_wgrad_a');
  const dw = matmul(transpose(reshape(m, [a * a, k * c]), [1, 0]), akT); // [K*C, 9]: the Transpose fuses (transA)
  return reshape(dw, [k, c, KERNEL, KERNEL]);
}
