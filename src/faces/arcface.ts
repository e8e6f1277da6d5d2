/**
 * ArcFace IR-SE50 — StyleCLIP's identity network (`model_ir_se50.pth`, from TreB1eN/InsightFace_Pytorch; Deng, Guo,
 * Xue and Zafeiriou, "ArcFace: Additive Angular Margin Loss for Deep Face Recognition", CVPR 2019) as an engine graph,
 * from a PyTorch state dict in the official key layout (StyleCLIP `models/facial_recognition/model_irse.py`,
 * `Backbone(112, 50, 'ir_se')`): the IR-SE body (irse.ts), then `output_layer`: BatchNorm2d (0), Dropout (1),
 * Flatten (2), Linear (3), BatchNorm1d (4) -> `l2_norm`. The output layer's two BNs are folded around the Linear.
 * Input: 112x112 RGB in [-1, 1].
 */
import { readCheckpoint } from '../io/tensors/checkpoint.js';
import type { Graph, Value } from '../engine/graph.js';
import { gemm, normalizeRows } from '../engine/ops_math.js';
import { reshape } from '../engine/ops_shape.js';
import type { HostTensor } from '../engine/tensor.js';
import { InputError } from '../errors.js';
import { buildIdCrop, type IdentityNet } from './identity.js';
import { IrSeGraph } from './irse.js';
import { batchNorm, get, parseIrSeBody } from './irse_weights.js';
import { f32 } from '../engine/tensor.js';
import type { WeightMap } from '../engine/bind.js';

export { BATCHNORM_EPS } from './irse_weights.js';

/** Input side of the 112 variant (`Backbone(input_size=112)`, output_layer Linear(512 * 7 * 7, 512)). */
export const ARCFACE_INPUT_SIZE = 112;
/** output_layer: BN2d -> flatten -> Linear -> BN1d folded into one Linear: W' = diag(s1) W diag(s0), b' = s1 (W t0 + b) + t1. */
function parseOutput(sd: WeightMap, channels: number): { w: HostTensor; b: HostTensor } {
  const lin = get(sd, 'output_layer.3.weight');
  const [out, inFeatures] = lin.shape;
  const spatial = inFeatures / channels;
  const side = ARCFACE_INPUT_SIZE / 16;
  if (spatial !== side * side) throw new InputError(`ArcFace IR-SE state dict: 'output_layer.3.weight' is [${lin.shape}], expected [*, ${channels * side * side}] for 112x112 input`);
  const bias = get(sd, 'output_layer.3.bias', [out]).data as Float32Array;
  const bn0 = batchNorm(sd, 'output_layer.0', channels);
  const bn1 = batchNorm(sd, 'output_layer.4', out);
  const w = lin.data as Float32Array;
  const wf = new Float32Array(w.length);
  const bf = new Float32Array(out);
  for (let o = 0; o < out; o++) {
    let acc = bias[o];
    for (let k = 0; k < inFeatures; k++) {
      const c = Math.floor(k / spatial);
      wf[o * inFeatures + k] = bn1.scale[o] * w[o * inFeatures + k] * bn0.scale[c];
      acc += w[o * inFeatures + k] * bn0.shift[c];
    }
    bf[o] = bn1.scale[o] * acc + bn1.shift[o];
  }
  return { w: f32([out, inFeatures], wf), b: f32([out], bf) };
}

export class ArcFaceIrSe implements IdentityNet {
  readonly name: string;
  readonly inputSize = ARCFACE_INPUT_SIZE;
  readonly dim: number;
  private parts: { net: IrSeGraph; output: { w: HostTensor; b: HostTensor } } | undefined;

  private constructor(sd: WeightMap) {
    const body = parseIrSeBody(sd, 'ArcFace IR-SE state dict');
    const output = parseOutput(sd, body.channels);
    this.parts = { net: new IrSeGraph(body, 'arcface'), output };
    this.dim = output.w.shape[0];
    this.name = `arcface-ir${body.units[0].se ? '-se' : ''}${body.depth ?? `-${body.units.length}-units`}`;
  }

  /** From a state dict in the model_irse.py key layout (float32 or float16 tensors). */
  static fromStateDict(sd: WeightMap): ArcFaceIrSe {
    return new ArcFaceIrSe(sd);
  }

  /** Reads `model_ir_se50.pth` (any format src/io/tensors/torch.ts reads). */
  static async load(path: string): Promise<ArcFaceIrSe> {
    return new ArcFaceIrSe((await readCheckpoint(path, 'ArcFace checkpoint')).tensors);
  }

  /** The network: x [N,3,112,112] in [-1,1] -> unit embeddings [N, dim]. */
  buildNetwork(g: Graph, x: Value): Value {
    if (!this.parts) throw new Error('ArcFace IR-SE has been disposed');
    if (x.rank !== 4 || x.shape[1] !== 3 || x.shape[2] !== this.inputSize || x.shape[3] !== this.inputSize) {
      throw new Error(`ArcFace IR-SE: expected [N,3,${this.inputSize},${this.inputSize}], got ${x}`);
    }
    const { net, output } = this.parts;
    const h = net.forward(g, x).out;
    const flat = reshape(h, [h.shape[0], -1]);
    return normalizeRows(gemm(flat, net.constant(g, output.w, 'fc'), net.constant(g, output.b, 'fc_b'), { transB: true }));
  }

  buildEmbedding(g: Graph, alignedImage: Value): Value {
    return this.buildNetwork(g, buildIdCrop(alignedImage, this.inputSize));
  }

  dispose(): void {
    this.parts = undefined;
  }
}
