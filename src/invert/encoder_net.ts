/**
 * The e4e and pSp encoders (Tov et al. 2021, "Designing an Encoder for StyleGAN Image Manipulation", omertov/
 * encoder4editing models/encoders/psp_encoders.py; Richardson et al. 2021, "Encoding in Style", eladrich/
 * pixel2style2pixel) as an engine graph: an IR-SE50 body (src/faces/irse.ts) with feature taps, a feature pyramid and
 * one GradualStyleBlock per w+ row.
 *
 *   c1, c2, c3 = outputs of body units 6, 20, 23          (128x64x64, 256x32x32, 512x16x16 at full width)
 *   p2 = up(c3 -> c2 size) + latlayer1(c2);  p1 = up(p2 -> c1 size) + latlayer2(c1)   (bilinear, align_corners=True)
 *   style i reads c3 (i < 3), p2 (3 <= i < 7), p1 (i >= 7)
 *   e4e:  w_i = block_0(c3) + block_i(features_i) for i >= 1, w_0 = block_0(c3)  (Encoder4Editing.forward)
 *   pSp:  w_i = block_i(features_i)                                               (GradualStyleEncoder.forward)
 *   codes = w + latent_avg                                   (psp.py / e4e psp.py, start_from_latent_avg)
 *
 * GradualStyleBlock: log2(spatial) x [conv3x3 stride 2 pad 1 with bias, LeakyReLU(0.01)] down to 1x1, then an
 * EqualLinear x (W / sqrt(in))^T + b.
 */
import type { Graph, Value } from '../engine/graph.js';
import { add, gemm, leakyRelu, matmul } from '../engine/ops_math.js';
import { conv } from '../engine/ops_nn.js';
import { concat, expand, reshape } from '../engine/ops_shape.js';
import { transpose2d, type HostTensor } from '../engine/tensor.js';
import { IrSeGraph } from '../faces/irse.js';
import type { IrSeBody } from '../faces/irse_weights.js';

/** psp_encoders.py: the body units whose outputs are the pyramid's inputs (`if i == 6: c1 ... 20: c2 ... 23: c3`). */
const FEATURE_TAPS = Object.freeze({ c1: 6, c2: 20, c3: 23 });
/** psp_encoders.py `coarse_ind = 3`, `middle_ind = 7` (constants, not scaled with the generator's size). */
const COARSE_IND = 3;
const MIDDLE_IND = 7;
/** torch.nn.LeakyReLU() default negative slope, used in GradualStyleBlock. */
const STYLE_BLOCK_SLOPE = 0.01;

export type EncoderKind = 'e4e' | 'psp';

export interface StyleBlock {
  /** The stride-2 convs [C,C,3,3] with bias, in order. */
  readonly convs: readonly { readonly w: HostTensor; readonly b: HostTensor }[];
  /** EqualLinear, gain applied: W / sqrt(in) [C,C] (out,in), b [C]. */
  readonly linear: { readonly w: HostTensor; readonly b: HostTensor };
}

export interface EncoderWeights {
  readonly kind: EncoderKind;
  readonly body: IrSeBody;
  readonly styles: readonly StyleBlock[];
  readonly latlayer1: { readonly w: HostTensor; readonly b: HostTensor };
  readonly latlayer2: { readonly w: HostTensor; readonly b: HostTensor };
  /** [L, D] (e4e, pSp at 1024: the mean w+ of the generator). */
  readonly latentAvg: HostTensor;
}

/** [out, in] matrix of 1-D linear interpolation with align_corners=True (F.interpolate bilinear is separable). */
export function alignCornersMatrix(inSize: number, outSize: number): HostTensor {
  const m = new Float32Array(outSize * inSize);
  for (let o = 0; o < outSize; o++) {
    const src = outSize === 1 ? 0 : (o * (inSize - 1)) / (outSize - 1);
    const i0 = Math.min(Math.floor(src), inSize - 1);
    const frac = src - i0;
    m[o * inSize + i0] += 1 - frac;
    if (frac > 0) m[o * inSize + i0 + 1] += frac;
  }
  return { dtype: 'float32', shape: [outSize, inSize], data: m };
}

export class EncoderGraph {
  private readonly net: IrSeGraph;

  constructor(readonly weights: EncoderWeights) {
    this.net = new IrSeGraph(weights.body, weights.kind);
  }

  get styleCount(): number {
    return this.weights.styles.length;
  }

  /** `_upsample_add`: bilinear (align_corners) resize of x to y's size, plus y. */
  private upsampleAdd(g: Graph, x: Value, y: Value, name: string): Value {
    const [, , h, w] = x.shape;
    const [, , oh, ow] = y.shape;
    const rows = g.constant(alignCornersMatrix(h, oh), `${name}_rows`);
    const colsT = g.constant(transpose2d(alignCornersMatrix(w, ow)), `${name}_cols_t`);
    return add(matmul(matmul(rows, x), colsT), y);
  }

  private lateral(g: Graph, x: Value, l: { w: HostTensor; b: HostTensor }): Value {
    return conv(x, this.net.constant(g, l.w, 'lat_w'), this.net.constant(g, l.b, 'lat_b'));
  }

  /** GradualStyleBlock: [N,C,s,s] -> [N,C]. */
  private block(g: Graph, x: Value, b: StyleBlock): Value {
    let h = x;
    for (const c of b.convs) h = leakyRelu(conv(h, this.net.constant(g, c.w, 'style_w'), this.net.constant(g, c.b, 'style_b'), { strides: [2, 2], pads: [1, 1, 1, 1] }), STYLE_BLOCK_SLOPE);
    const flat = reshape(h, [h.shape[0], h.shape[1]]);
    return gemm(flat, this.net.constant(g, b.linear.w, 'style_lin_w'), this.net.constant(g, b.linear.b, 'style_lin_b'), { transB: true });
  }

  /** x [N,3,256,256] in [-1,1] -> w+ codes [N, L, D] (latent_avg added). */
  build(g: Graph, x: Value): Value {
    const { taps } = this.net.forward(g, x, [FEATURE_TAPS.c1, FEATURE_TAPS.c2, FEATURE_TAPS.c3]);
    const [c1, c2, c3] = [taps.get(FEATURE_TAPS.c1)!, taps.get(FEATURE_TAPS.c2)!, taps.get(FEATURE_TAPS.c3)!];
    const p2 = this.upsampleAdd(g, c3, this.lateral(g, c2, this.weights.latlayer1), 'p2');
    const p1 = this.upsampleAdd(g, p2, this.lateral(g, c1, this.weights.latlayer2), 'p1');
    const featuresOf = (i: number): Value => (i < COARSE_IND ? c3 : i < MIDDLE_IND ? p2 : p1);
    const n = x.shape[0];
    const blocks = this.weights.styles.map((b, i) => this.block(g, featuresOf(i), b)); // each [N, D]
    const d = blocks[0].shape[1];
    const rows = this.weights.kind === 'e4e' ? blocks.map((b, i) => (i === 0 ? b : add(blocks[0], b))) : blocks;
    const w = concat(rows.map((r) => reshape(r, [n, 1, d])), 1); // [N, L, D]
    const avg = this.weights.latentAvg;
    const avgC = g.constant({ ...avg, shape: avg.shape.length === 1 ? [1, 1, d] : [1, ...avg.shape] }, `${this.weights.kind}_latent_avg`);
    return add(w, avg.shape.length === 1 ? expand(avgC, [1, this.styleCount, d]) : avgC);
  }
}
