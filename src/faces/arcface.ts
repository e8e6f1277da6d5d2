/**
 * ArcFace IR-SE50 — StyleCLIP's identity network (`model_ir_se50.pth`, from TreB1eN/InsightFace_Pytorch; Deng, Guo,
 * Xue and Zafeiriou, "ArcFace: Additive Angular Margin Loss for Deep Face Recognition", CVPR 2019; SE blocks: Hu, Shen
 * and Sun, "Squeeze-and-Excitation Networks", CVPR 2018) as an engine graph, from a PyTorch state dict in the
 * official key layout (StyleCLIP `models/facial_recognition/model_irse.py`, `Backbone(112, 50, 'ir_se')`):
 *
 * - `input_layer`: Conv 3x3 (0) -> BatchNorm2d (1) -> PReLU (2);
 * - `body.N`: `bottleneck_IR_SE`: `res_layer` = BatchNorm2d (0), Conv 3x3 (1), PReLU (2), Conv 3x3 with the unit's
 *   stride (3), BatchNorm2d (4), SEModule (5: `fc1`, `fc2` 1x1 convs, reduction 16); `shortcut_layer` = Conv 1x1 with
 *   stride (0) + BatchNorm2d (1) when the channel count changes, else `MaxPool2d(1, stride)`, i.e. subsampling;
 *   plain `bottleneck_IR` units (IR-50) have no SEModule. The first unit of each stage has stride 2 (`get_block`); a
 *   stage starts at unit 0 and wherever the channel count changes, i.e. where `shortcut_layer.0.weight` exists;
 * - `output_layer`: BatchNorm2d (0), Dropout (1), Flatten (2), Linear (3), BatchNorm1d (4) -> `l2_norm`.
 *
 * Inference-mode BatchNorms are folded into the convolution or linear layer before them (the input layer's, each
 * unit's last and shortcut BN) or after them (the output layer's two BNs around the Linear); `res_layer.0` precedes a
 * zero-padded convolution, so it stays a per-channel scale and shift. Input: 112x112 RGB in [-1, 1].
 */
import type { Graph, Value } from '../engine/graph.js';
import { add, clip, gemm, mul, normalizeRows, reduceMean, sigmoid } from '../engine/ops_math.js';
import { conv } from '../engine/ops_nn.js';
import { reshape } from '../engine/ops_shape.js';
import { toFloat32, type HostTensor } from '../engine/tensor.js';
import { InputError } from '../errors.js';
import { loadTorchCheckpoint } from '../io/torch.js';
import { buildIdCrop, type IdentityNet } from './identity.js';

/** Input side of the 112 variant (`Backbone(input_size=112)`, output_layer Linear(512 * 7 * 7, 512)). */
export const ARCFACE_INPUT_SIZE = 112;
/** torch.nn.BatchNorm1d/2d default epsilon. */
export const BATCHNORM_EPS = 1e-5;
/** Units per stage by total unit count (model_irse.py `get_blocks` for depths 50, 100, 152). */
const STAGES_BY_UNITS: Readonly<Record<number, { readonly depth: number; readonly stages: readonly number[] }>> = {
  24: { depth: 50, stages: [3, 4, 14, 3] },
  49: { depth: 100, stages: [3, 13, 30, 3] },
  50: { depth: 152, stages: [3, 8, 36, 3] },
};

/**
 * Indices of the units that open a stage, i.e. have stride 2 (model_irse.py `get_block`: the first bottleneck of each
 * stage has stride 2, whether or not its channel count changes). For the standard depths they come from the unit
 * counts; otherwise a stage is taken to start at unit 0 and wherever a conv shortcut (a channel change) appears.
 */
function stageStarts(sd: StateDict, units: number): Set<number> {
  const known = STAGES_BY_UNITS[units];
  if (known) return new Set(known.stages.map((_, i) => known.stages.slice(0, i).reduce((a, b) => a + b, 0)));
  const starts = new Set([0]);
  for (let i = 0; i < units; i++) if (sd.has(`body.${i}.shortcut_layer.0.weight`)) starts.add(i);
  return starts;
}

type StateDict = ReadonlyMap<string, HostTensor>;

interface ConvLayer {
  readonly w: HostTensor;
  readonly b?: HostTensor;
  readonly stride: number;
  readonly pad: number;
}

interface Unit {
  readonly scale: HostTensor;
  readonly shift: HostTensor;
  readonly conv1: ConvLayer;
  readonly prelu: HostTensor;
  readonly conv2: ConvLayer;
  readonly se?: { readonly fc1: HostTensor; readonly fc2: HostTensor };
  readonly shortcut?: ConvLayer;
  readonly stride: number;
  readonly channels: number;
}

const f32 = (shape: readonly number[], data: Float32Array): HostTensor => ({ dtype: 'float32', shape: [...shape], data });

function get(sd: StateDict, key: string, shape?: readonly number[]): HostTensor {
  const t = sd.get(key);
  if (!t) throw new InputError(`ArcFace IR-SE state dict: missing '${key}' (expected the model_irse.py Backbone key layout)`);
  if (shape && (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i]))) {
    throw new InputError(`ArcFace IR-SE state dict: '${key}' has shape [${t.shape}], expected [${shape}]`);
  }
  return toFloat32(t);
}

/** Inference BatchNorm as y = x * scale + shift (per channel). */
function batchNorm(sd: StateDict, prefix: string, channels: number): { scale: Float32Array; shift: Float32Array } {
  const mean = get(sd, `${prefix}.running_mean`, [channels]).data as Float32Array;
  const variance = get(sd, `${prefix}.running_var`, [channels]).data as Float32Array;
  const gamma = sd.has(`${prefix}.weight`) ? (get(sd, `${prefix}.weight`, [channels]).data as Float32Array) : undefined;
  const beta = sd.has(`${prefix}.bias`) ? (get(sd, `${prefix}.bias`, [channels]).data as Float32Array) : undefined;
  const scale = new Float32Array(channels);
  const shift = new Float32Array(channels);
  for (let c = 0; c < channels; c++) {
    scale[c] = (gamma ? gamma[c] : 1) / Math.sqrt(variance[c] + BATCHNORM_EPS);
    shift[c] = (beta ? beta[c] : 0) - mean[c] * scale[c];
  }
  return { scale, shift };
}

/** Conv (no bias) followed by a BatchNorm, folded into one conv with bias. */
function convBn(sd: StateDict, convKey: string, bnPrefix: string, stride: number, pad: number): ConvLayer {
  const w = get(sd, convKey);
  const [out, , kh, kw] = w.shape;
  const { scale, shift } = batchNorm(sd, bnPrefix, out);
  const per = w.data.length / out;
  const src = w.data as Float32Array;
  const folded = new Float32Array(src.length);
  for (let o = 0; o < out; o++) for (let i = o * per; i < (o + 1) * per; i++) folded[i] = src[i] * scale[o];
  if (kh !== kw) throw new InputError(`ArcFace IR-SE state dict: '${convKey}' is not a square kernel`);
  return { w: f32(w.shape, folded), b: f32([out], shift), stride, pad };
}

function squeezeExcite(sd: StateDict, prefix: string, channels: number): { fc1: HostTensor; fc2: HostTensor } {
  const fc1 = get(sd, `${prefix}.fc1.weight`);
  const reduced = fc1.shape[0];
  get(sd, `${prefix}.fc1.weight`, [reduced, channels, 1, 1]);
  return { fc1, fc2: get(sd, `${prefix}.fc2.weight`, [channels, reduced, 1, 1]) };
}

function parseUnit(sd: StateDict, i: number, inChannels: number, stride: number): Unit {
  const p = `body.${i}`;
  const bn0 = batchNorm(sd, `${p}.res_layer.0`, inChannels);
  const conv1 = get(sd, `${p}.res_layer.1.weight`);
  const depth = conv1.shape[0];
  if (conv1.shape[1] !== inChannels) throw new InputError(`ArcFace IR-SE state dict: '${p}.res_layer.1.weight' takes ${conv1.shape[1]} channels, expected ${inChannels}`);
  const hasShortcut = sd.has(`${p}.shortcut_layer.0.weight`);
  const hasSe = sd.has(`${p}.res_layer.5.fc1.weight`);
  return {
    scale: f32([inChannels, 1, 1], bn0.scale),
    shift: f32([inChannels, 1, 1], bn0.shift),
    conv1: { w: get(sd, `${p}.res_layer.1.weight`, [depth, inChannels, 3, 3]), stride: 1, pad: 1 },
    prelu: f32([depth, 1, 1], get(sd, `${p}.res_layer.2.weight`, [depth]).data as Float32Array),
    conv2: convBn(sd, `${p}.res_layer.3.weight`, `${p}.res_layer.4`, stride, 1),
    se: hasSe ? squeezeExcite(sd, `${p}.res_layer.5`, depth) : undefined,
    shortcut: hasShortcut ? convBn(sd, `${p}.shortcut_layer.0.weight`, `${p}.shortcut_layer.1`, stride, 0) : undefined,
    stride,
    channels: depth,
  };
}

/** output_layer: BN2d -> flatten -> Linear -> BN1d folded into one Linear: W' = diag(s1) W diag(s0), b' = s1 (W t0 + b) + t1. */
function parseOutput(sd: StateDict, channels: number): { w: HostTensor; b: HostTensor } {
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

/** PReLU with per-channel slopes a [C,1,1]: max(0, x) + a * min(0, x). */
function prelu(x: Value, a: Value): Value {
  return add(clip(x, 0, Infinity), mul(clip(x, -Infinity, 0), a));
}

export class ArcFaceIrSe implements IdentityNet {
  readonly name: string;
  readonly inputSize = ARCFACE_INPUT_SIZE;
  readonly dim: number;
  private readonly perGraph = new WeakMap<Graph, Map<HostTensor, Value>>();
  private readonly subsample = new Map<number, HostTensor>();
  private parts: { input: ConvLayer; inputPrelu: HostTensor; units: Unit[]; output: { w: HostTensor; b: HostTensor } } | undefined;

  private constructor(sd: StateDict) {
    const input = convBn(sd, 'input_layer.0.weight', 'input_layer.1', 1, 1);
    const c0 = input.w.shape[0];
    const inputPrelu = f32([c0, 1, 1], get(sd, 'input_layer.2.weight', [c0]).data as Float32Array);
    let count = 0;
    while (sd.has(`body.${count}.res_layer.0.running_mean`)) count++;
    if (count === 0) throw new InputError("ArcFace IR-SE state dict: no 'body.N' units found");
    const starts = stageStarts(sd, count);
    const units: Unit[] = [];
    let channels = c0;
    for (let i = 0; i < count; i++) {
      units.push(parseUnit(sd, i, channels, starts.has(i) ? 2 : 1));
      channels = units[i].channels;
    }
    const output = parseOutput(sd, channels);
    this.parts = { input, inputPrelu, units, output };
    this.dim = output.w.shape[0];
    const depth = STAGES_BY_UNITS[units.length]?.depth;
    this.name = `arcface-ir${units[0].se ? '-se' : ''}${depth ?? `-${units.length}-units`}`;
  }

  /** From a state dict in the model_irse.py key layout (float32 or float16 tensors). */
  static fromStateDict(sd: StateDict): ArcFaceIrSe {
    return new ArcFaceIrSe(sd);
  }

  /** Reads `model_ir_se50.pth` (any format src/io/torch.ts reads). */
  static async load(path: string): Promise<ArcFaceIrSe> {
    return new ArcFaceIrSe((await loadTorchCheckpoint(path)).tensors);
  }

  /** The engine constant of a weight, added once per graph so repeated embeddings share it. */
  private c(g: Graph, t: HostTensor, name: string): Value {
    let m = this.perGraph.get(g);
    if (!m) this.perGraph.set(g, (m = new Map()));
    let v = m.get(t);
    if (!v) m.set(t, (v = g.constant(t, name)));
    return v;
  }

  private conv(g: Graph, x: Value, l: ConvLayer): Value {
    const b = l.b ? this.c(g, l.b, 'arcface_b') : undefined;
    return conv(x, this.c(g, l.w, 'arcface_w'), b, { strides: [l.stride, l.stride], pads: [l.pad, l.pad, l.pad, l.pad] });
  }

  /** Depthwise 1x1 all-ones kernel [c,1,1,1]: with a stride it is `MaxPool2d(1, stride)`, i.e. subsampling. */
  private ones(c: number): HostTensor {
    let t = this.subsample.get(c);
    if (!t) this.subsample.set(c, (t = f32([c, 1, 1, 1], new Float32Array(c).fill(1))));
    return t;
  }

  /** The network: x [N,3,112,112] in [-1,1] -> unit embeddings [N, dim]. */
  buildNetwork(g: Graph, x: Value): Value {
    if (!this.parts) throw new Error('ArcFace IR-SE has been disposed');
    if (x.rank !== 4 || x.shape[1] !== 3 || x.shape[2] !== this.inputSize || x.shape[3] !== this.inputSize) {
      throw new Error(`ArcFace IR-SE: expected [N,3,${this.inputSize},${this.inputSize}], got ${x}`);
    }
    const { input, inputPrelu, units, output } = this.parts;
    let h = prelu(this.conv(g, x, input), this.c(g, inputPrelu, 'arcface_prelu'));
    for (const u of units) {
      const r0 = add(mul(h, this.c(g, u.scale, 'arcface_bn_scale')), this.c(g, u.shift, 'arcface_bn_shift'));
      const r1 = prelu(this.conv(g, r0, u.conv1), this.c(g, u.prelu, 'arcface_prelu'));
      let res = this.conv(g, r1, u.conv2);
      if (u.se) {
        const squeeze = reduceMean(res, [2, 3], true);
        const excite = clip(conv(squeeze, this.c(g, u.se.fc1, 'arcface_se1')), 0, Infinity);
        res = mul(res, sigmoid(conv(excite, this.c(g, u.se.fc2, 'arcface_se2'))));
      }
      const c = h.shape[1];
      const shortcut = u.shortcut
        ? this.conv(g, h, u.shortcut)
        : u.stride === 1
          ? h
          : conv(h, this.c(g, this.ones(c), 'arcface_subsample'), undefined, { strides: [u.stride, u.stride], group: c });
      h = add(res, shortcut);
    }
    const flat = reshape(h, [h.shape[0], -1]);
    return normalizeRows(gemm(flat, this.c(g, output.w, 'arcface_fc'), this.c(g, output.b, 'arcface_fc_b'), { transB: true }));
  }

  buildEmbedding(g: Graph, alignedImage: Value): Value {
    return this.buildNetwork(g, buildIdCrop(alignedImage, this.inputSize));
  }

  dispose(): void {
    this.parts = undefined;
  }
}
