/**
 * The IR-SE backbone as an engine graph (ArcFace's body, arcface.ts, and the e4e / pSp encoders' body,
 * src/invert/encoder_net.ts), from the parsed weights of irse_weights.ts: input layer (conv + BN folded, PReLU), then
 * every unit: BN, conv 3x3, PReLU, conv 3x3 with the unit's stride (+ BN folded), squeeze-excitation, plus the
 * shortcut (a folded 1x1 conv, or subsampling).
 */
import type { Graph, Value } from '../engine/graph.js';
import { bindWeights, type Param } from '../engine/bind.js';
import { add, clip, mul, reduceMean, relu, sigmoid } from '../engine/ops_math.js';
import { conv } from '../engine/ops_nn.js';
import { f32, type HostTensor } from '../engine/tensor.js';
import type { ConvLayer, IrSeBody } from './irse_weights.js';

/** PReLU with per-channel slopes a [C,1,1]: max(0, x) + a * min(0, x). */
export function prelu(x: Value, a: Value): Value {
  return add(relu(x), mul(clip(x, -Infinity, 0), a));
}

/** Adds the backbone's weights to graphs once per graph, and builds the forward pass. */
export class IrSeGraph {
  /** The parsed (BN-folded) tensors under names of their own, bound per graph through `bindWeights`. */
  private readonly weights = new Map<string, HostTensor>();
  private readonly names = new Map<HostTensor, string>();
  private readonly perGraph = new WeakMap<Graph, Param>();
  private readonly subsample = new Map<number, HostTensor>();

  constructor(
    readonly body: IrSeBody,
    private readonly prefix: string,
  ) {}

  /** The engine constant of a parsed tensor, bound once per graph (engine/bind.ts) so repeated passes share it. */
  constant(g: Graph, t: HostTensor, name: string): Value {
    let key = this.names.get(t);
    if (!key) {
      key = `${this.prefix}_${name}_${this.weights.size}`;
      this.names.set(t, key);
      this.weights.set(key, t);
    }
    let p = this.perGraph.get(g);
    if (!p) this.perGraph.set(g, (p = bindWeights(g, this.weights, `${this.prefix} IR-SE weights`)));
    return p(key);
  }

  conv(g: Graph, x: Value, l: ConvLayer): Value {
    const b = l.b ? this.constant(g, l.b, 'b') : undefined;
    return conv(x, this.constant(g, l.w, 'w'), b, { strides: [l.stride, l.stride], pads: [l.pad, l.pad, l.pad, l.pad] });
  }

  /** Depthwise 1x1 all-ones kernel [c,1,1,1]: with a stride it is `MaxPool2d(1, stride)`, i.e. subsampling. */
  private ones(c: number): HostTensor {
    let t = this.subsample.get(c);
    if (!t) this.subsample.set(c, (t = f32([c, 1, 1, 1], new Float32Array(c).fill(1))));
    return t;
  }

  /** The input layer and units 0..last; returns the output of every unit in `taps` (and of the last unit). */
  forward(g: Graph, x: Value, taps: readonly number[] = []): { out: Value; taps: Map<number, Value> } {
    const { input, inputPrelu, units } = this.body;
    let h = prelu(this.conv(g, x, input), this.constant(g, inputPrelu, 'prelu'));
    const out = new Map<number, Value>();
    units.forEach((u, i) => {
      const r0 = add(mul(h, this.constant(g, u.scale, 'bn_scale')), this.constant(g, u.shift, 'bn_shift'));
      const r1 = prelu(this.conv(g, r0, u.conv1), this.constant(g, u.prelu, 'prelu'));
      let res = this.conv(g, r1, u.conv2);
      if (u.se) {
        const squeeze = reduceMean(res, [2, 3], true);
        const excite = relu(conv(squeeze, this.constant(g, u.se.fc1, 'se1')));
        res = mul(res, sigmoid(conv(excite, this.constant(g, u.se.fc2, 'se2'))));
      }
      const c = h.shape[1];
      const shortcut = u.shortcut
        ? this.conv(g, h, u.shortcut)
        : u.stride === 1
          ? h
          : conv(h, this.constant(g, this.ones(c), 'subsample'), undefined, { strides: [u.stride, u.stride], group: c });
      h = add(res, shortcut);
      if (taps.includes(i)) out.set(i, h);
    });
    return { out: h, taps: out };
  }
}
