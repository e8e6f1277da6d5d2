/**
 * The IR-SE backbone's weights (Deng et al. 2019, ArcFace; SE blocks: Hu, Shen and Sun 2018) from a state dict in
 * the official `model_irse.py` / `psp_encoders.py` key layout (keys relative to the module: `input_layer.*`,
 * `body.N.*`), checked by one rule table through io/tensors/weight_map.ts `applyRules` like every loader; the graph
 * is irse.ts.
 *
 * - `input_layer`: Conv 3x3 (0) -> BatchNorm2d (1) -> PReLU (2);
 * - `body.N`: `bottleneck_IR_SE`: `res_layer` = BatchNorm2d (0), Conv 3x3 (1), PReLU (2), Conv 3x3 with the unit's
 *   stride (3), BatchNorm2d (4), SEModule (5: `fc1`, `fc2` 1x1 convs, reduction 16); `shortcut_layer` = Conv 1x1 with
 *   stride (0) + BatchNorm2d (1) when the channel count changes, else `MaxPool2d(1, stride)`, i.e. subsampling;
 *   plain `bottleneck_IR` units (IR-50) have no SEModule. The first unit of each stage has stride 2 (`get_block`).
 *
 * Inference-mode BatchNorms are folded into the convolution before them (the input layer's, each unit's last and
 * shortcut BN); `res_layer.0` precedes a zero-padded convolution, so it stays a per-channel scale and shift.
 */
import { f32, toFloat32, type HostTensor, type WeightMap } from '../engine/index.js';
import { InputError } from '../errors.js';
import { applyRules, type MapRule } from '../io/tensors/weight_map.js';

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
function stageStarts(sd: WeightMap, units: number): Set<number> {
  const known = STAGES_BY_UNITS[units];
  if (known) return new Set(known.stages.map((_, i) => known.stages.slice(0, i).reduce((a, b) => a + b, 0)));
  const starts = new Set([0]);
  for (let i = 0; i < units; i++) if (sd.has(`body.${i}.shortcut_layer.0.weight`)) starts.add(i);
  return starts;
}

export interface ConvLayer {
  readonly w: HostTensor;
  readonly b?: HostTensor;
  readonly stride: number;
  readonly pad: number;
}

export interface Unit {
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

export function get(sd: WeightMap, key: string, shape?: readonly number[]): HostTensor {
  const t = sd.get(key);
  if (!t) throw new InputError(`IR-SE state dict: missing '${key}' (expected the model_irse.py Backbone key layout)`);
  if (shape && (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i]))) {
    throw new InputError(`IR-SE state dict: '${key}' has shape [${t.shape}], expected [${shape}]`);
  }
  return toFloat32(t);
}

/** Inference BatchNorm as y = x * scale + shift (per channel). */
export function batchNorm(sd: WeightMap, prefix: string, channels: number): { scale: Float32Array; shift: Float32Array } {
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
export function convBn(sd: WeightMap, convKey: string, bnPrefix: string, stride: number, pad: number): ConvLayer {
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

function squeezeExcite(sd: WeightMap, prefix: string, channels: number): { fc1: HostTensor; fc2: HostTensor } {
  const fc1 = get(sd, `${prefix}.fc1.weight`);
  const reduced = fc1.shape[0];
  get(sd, `${prefix}.fc1.weight`, [reduced, channels, 1, 1]);
  return { fc1, fc2: get(sd, `${prefix}.fc2.weight`, [channels, reduced, 1, 1]) };
}

function parseUnit(sd: WeightMap, i: number, inChannels: number, stride: number): Unit {
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


/** A parsed backbone: the input layer and every unit, BatchNorms folded. */
export interface IrSeBody {
  readonly input: ConvLayer;
  readonly inputPrelu: HostTensor;
  readonly units: readonly Unit[];
  /** Channels of the last unit's output. */
  readonly channels: number;
  /** Network depth for the standard unit counts (50, 100, 152). */
  readonly depth?: number;
}

/** Parses `input_layer.*` and `body.N.*`; `what` names the network in errors. */
export function parseIrSeBody(sd: WeightMap, what: string): IrSeBody {
  const input = convBn(sd, 'input_layer.0.weight', 'input_layer.1', 1, 1);
  const c0 = input.w.shape[0];
  const inputPrelu = f32([c0, 1, 1], get(sd, 'input_layer.2.weight', [c0]).data as Float32Array);
  let count = 0;
  while (sd.has(`body.${count}.res_layer.0.running_mean`)) count++;
  if (count === 0) throw new InputError(`${what}: no 'body.N' units found`);
  const starts = stageStarts(sd, count);
  const units: Unit[] = [];
  let channels = c0;
  for (let i = 0; i < count; i++) {
    units.push(parseUnit(sd, i, channels, starts.has(i) ? 2 : 1));
    channels = units[i].channels;
  }
  const body: IrSeBody = { input, inputPrelu, units, channels, depth: STAGES_BY_UNITS[count]?.depth };
  const own = new Map([...sd].filter(([k]) => /^(input_layer|body)\./.test(k) && !TRAINING_COUNTER.test(k)));
  applyRules(own, irseRules(sd, body), what);
  return body;
}

/** BatchNorm's training counter (int64, no weight): present in every PyTorch state dict, not used at inference. */
const TRAINING_COUNTER = /\.num_batches_tracked$/;

function bnRules(sd: WeightMap, prefix: string, channels: number): MapRule[] {
  const stats = ['running_mean', 'running_var'].map((n) => ({ src: `${prefix}.${n}`, shape: [channels] }));
  const affine = ['weight', 'bias'].filter((n) => sd.has(`${prefix}.${n}`)).map((n) => ({ src: `${prefix}.${n}`, shape: [channels] }));
  return [...stats, ...affine];
}

/**
 * The body's rule table (io/weight_map.ts), one check-only rule per tensor with the shape the parsed body implies:
 * applying it asserts that every `input_layer.*` / `body.*` tensor was used and has that shape.
 */
function irseRules(sd: WeightMap, body: IrSeBody): MapRule[] {
  const [c0, inC] = body.input.w.shape;
  const rules: MapRule[] = [
    { src: 'input_layer.0.weight', shape: [c0, inC, 3, 3] },
    ...bnRules(sd, 'input_layer.1', c0),
    { src: 'input_layer.2.weight', shape: [c0] },
  ];
  let inChannels = c0;
  body.units.forEach((u, i) => {
    const [p, d] = [`body.${i}`, u.channels];
    rules.push(
      ...bnRules(sd, `${p}.res_layer.0`, inChannels),
      { src: `${p}.res_layer.1.weight`, shape: [d, inChannels, 3, 3] },
      { src: `${p}.res_layer.2.weight`, shape: [d] },
      { src: `${p}.res_layer.3.weight`, shape: [d, d, 3, 3] },
      ...bnRules(sd, `${p}.res_layer.4`, d),
    );
    if (u.se) {
      const r = u.se.fc1.shape[0];
      rules.push({ src: `${p}.res_layer.5.fc1.weight`, shape: [r, d, 1, 1] }, { src: `${p}.res_layer.5.fc2.weight`, shape: [d, r, 1, 1] });
    }
    if (u.shortcut) rules.push({ src: `${p}.shortcut_layer.0.weight`, shape: [d, inChannels, 1, 1] }, ...bnRules(sd, `${p}.shortcut_layer.1`, d));
    inChannels = d;
  });
  return rules;
}
