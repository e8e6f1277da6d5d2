/**
 * HyperStyle's hypernetwork (Alaluf, Tov, Mokady, Gal and Bermano 2022, "HyperStyle: StyleGAN Inversion with
 * HyperNetworks for Real Image Editing", sec. 3.1-3.2, fig. 3; yuval-alaluf/hyperstyle models/hypernetworks/) as an
 * engine graph: the input image and the current reconstruction -> one weight offset per tuned generator layer.
 *
 *   x6 = cat[x, y_hat]                                      [N,6,256,256]  (hyperstyle.py forward)
 *   h  = PReLU(BN(conv7x7 s2 (x6)))                          [N,64,128,128]
 *   h  = ResNet34 layer1..layer4 BasicBlocks (no max-pool)   [N,512,16,16]  (torchvision resnet34 blocks)
 *   per tuned layer j (generator layer j, kernel k, in, out):
 *     shared layers (sec. 3.2 "shared weights"): HyperRefinementBlock: conv3x3 s1, then conv3x3 s2 down to 1x1,
 *       LeakyReLU(0.01) after each, EqualLinear -> z [N,512]; SharedWeightsHypernet:
 *       h_in = z . w2 + b2 viewed [N, in, z_dim];  h_final = h_in . w1 + b1 [N, in, out*k*k], viewed [N,out,in,k,k]
 *       (a plain view, not a transpose: reproduced, shared_weights_hypernet.py forward); all shared layers go through
 *       it in one pair of products
 *     other layers: RefinementBlock: conv3x3 s2 (LeakyReLU(0.01)) down to 2x2 (k = 3) or 1x1 (k = 1), then for k = 3
 *       AdaptiveAvgPool(1) + conv1x1 -> [N, out*in] viewed [N,out,in] and repeated over the k x k window (one offset
 *       per channel pair); for ToRGB layers conv1x1 -> [N,out,in,1,1] (refinement_blocks.py RefinementBlock)
 *
 * Inference BatchNorms are folded into the convolutions before them. Weights: ./hyperstyle_weights.ts.
 */
import type { Graph, Value } from '../engine/graph.js';
import { bindWeights, type Param } from '../engine/bind.js';
import { add, gemm, leakyRelu, matmul, reduceMean, relu } from '../engine/ops_math.js';
import { conv } from '../engine/ops_nn.js';
import { concat, expand, reshape, slice } from '../engine/ops_shape.js';
import type { HostTensor } from '../engine/tensor.js';
import type { ConvLayer } from '../faces/irse_weights.js';
import { prelu } from '../faces/irse.js';

/** refinement_blocks.py: `nn.LeakyReLU()` (torch default slope) after every refinement conv. */
const REFINEMENT_SLOPE = 0.01;

/** torchvision BasicBlock: relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)), BNs folded. */
export interface BasicBlock {
  readonly conv1: ConvLayer;
  readonly conv2: ConvLayer;
  /** conv1x1 (stride 2) + BN when the block changes resolution or width; else the identity. */
  readonly downsample?: ConvLayer;
}

/** The offset head of one tuned layer. */
export type OffsetHead =
  | { readonly kind: 'shared'; readonly convs: readonly ConvLayer[]; readonly linear: { readonly w: HostTensor; readonly b: HostTensor } }
  | { readonly kind: 'own'; readonly convs: readonly ConvLayer[]; readonly pool: boolean; readonly output: { readonly w: HostTensor; readonly b: HostTensor } };

export interface HypernetWeights {
  /** conv7x7 stride 2 (6 -> C0) with bn1 folded, and relu (a PReLU) slopes [C0,1,1]. */
  readonly stem: ConvLayer;
  readonly stemPrelu: HostTensor;
  readonly blocks: readonly BasicBlock[];
  /** SharedWeightsHypernet: w1 [z, out*k*k], b1, w2 [z, in*z], b2. */
  readonly shared?: { readonly w1: HostTensor; readonly b1: HostTensor; readonly w2: HostTensor; readonly b2: HostTensor };
  /** Generator layer index (hypernet output index: 0 conv1, 1 to_rgb1, then conv0, conv1, to_rgb per resolution) -> head. */
  readonly heads: ReadonlyMap<number, OffsetHead>;
  /** The offset shape [out, in, k, k] of every tuned layer. */
  readonly shapes: ReadonlyMap<number, readonly [number, number, number, number]>;
}

export class HypernetGraph {
  private readonly tensors = new Map<string, HostTensor>();
  private readonly names = new Map<HostTensor, string>();

  constructor(readonly weights: HypernetWeights) {}

  /** A parsed tensor as a graph constant, one initializer per tensor and graph. */
  private param(g: Graph): (t: HostTensor) => Value {
    let p: Param | undefined;
    return (t) => {
      let key = this.names.get(t);
      if (!key) {
        key = `hypernet_${this.tensors.size}`;
        this.names.set(t, key);
        this.tensors.set(key, t);
      }
      p ??= bindWeights(g, this.tensors, 'HyperStyle hypernetwork');
      return p(key);
    };
  }

  /** x [N,3,256,256] and y_hat [N,3,256,256] in [-1,1] -> offset per tuned layer j, [N,out,in,k,k]. */
  build(g: Graph, x: Value, yHat: Value): Map<number, Value> {
    const c = this.param(g);
    const convL = (h: Value, l: ConvLayer): Value => conv(h, c(l.w), l.b && c(l.b), { strides: [l.stride, l.stride], pads: [l.pad, l.pad, l.pad, l.pad] });
    const w = this.weights;
    let h = prelu(convL(concat([x, yHat], 1), w.stem), c(w.stemPrelu)); // [N,C0,128,128]
    for (const b of w.blocks) {
      const r = convL(relu(convL(h, b.conv1)), b.conv2);
      h = relu(add(r, b.downsample ? convL(h, b.downsample) : h));
    } // [N,C,16,16]
    const n = x.shape[0];
    const out = new Map<number, Value>();
    const shared: { j: number; z: Value }[] = [];
    for (const [j, head] of w.heads) {
      const [o, i, k] = w.shapes.get(j)!;
      let f = h;
      for (const l of head.convs) f = leakyRelu(convL(f, l), REFINEMENT_SLOPE);
      if (head.kind === 'shared') {
        shared.push({ j, z: gemm(reshape(f, [n, f.shape[1]]), c(head.linear.w), c(head.linear.b), { transB: true }) }); // [N,z]
      } else {
        const pooled = head.pool ? reduceMean(f, [2, 3], true) : f; // [N,C,1,1]
        const y = conv(pooled, c(head.output.w), c(head.output.b)); // [N,out*in,1,1]
        out.set(j, k === 1 ? reshape(y, [n, o, i, 1, 1]) : expand(reshape(y, [n, o, i, 1, 1]), [n, o, i, k, k]));
      }
    }
    if (shared.length) {
      // Every shared layer through the one hypernet in a single product each (w2 is 512 x 262144 at full size: read
      // once, not once per layer). The shared layers all have [out, in, k, k] = the hypernet's (512, 512, 3, 3).
      const s = w.shared!;
      const [o, i, k] = w.shapes.get(shared[0].j)!;
      const zDim = s.w2.shape[0];
      const z = concat(shared.map((e) => e.z), 0); // [S*N, z]
      const hIn = reshape(add(matmul(z, c(s.w2)), c(s.b2)), [shared.length * n * i, zDim]); // [S*N*in, z]
      const kernels = reshape(add(matmul(hIn, c(s.w1)), c(s.b1)), [shared.length, n, o, i, k, k]); // plain view
      shared.forEach((e, t) => out.set(e.j, reshape(slice(kernels, [0], [t], [t + 1]), [n, o, i, k, k])));
    }
    return out;
  }
}
