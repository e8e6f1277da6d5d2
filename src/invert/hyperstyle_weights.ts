/**
 * HyperStyle's official checkpoints -> the parsed weights of ./hypernet.ts and the W encoder, one rule table each
 * (io/tensors/weight_map.ts asserts every key and shape).
 *
 * - HyperStyle (training/coach_hyperstyle.py `__get_save_dict`): `{'state_dict': {'hypernet.*', 'decoder.*'},
 *   'opts': {...}, 'latent_avg': [L, D]}`. The decoder is a rosinality generator (src/generator). `opts.layers_to_tune`
 *   ("0,2,3,...", empty = every layer) names the tuned layers; the shared hypernet's tensors appear under
 *   `hypernet.shared_weight_hypernet.*` and again under `hypernet.refinement_blocks.<j>.hypernet.*` of every shared
 *   layer (one module registered twice): the copies are checked equal. The W encoder is another file,
 *   `opts.w_encoder_checkpoint_path`.
 * - W encoder (pSp `WEncoder`, models/encoders/w_encoder.py): `{'state_dict': {'encoder.*', 'decoder.*'}, 'opts',
 *   'latent_avg'}`: IR-SE body (`input_layer.*`, `body.*`, src/faces/irse_weights.ts), then AdaptiveAvgPool(1),
 *   EqualLinear `linear` (W / sqrt(in)), repeated to every style; codes = that + latent_avg (hyperstyle.py
 *   `__get_w_inversion`).
 */
import type { Checkpoint } from '../io/tensors/checkpoint.js';
import { f32, toFloat32, type HostTensor } from '../engine/tensor.js';
import { InputError } from '../errors.js';
import { convBn, parseIrSeBody, type ConvLayer, type IrSeBody } from '../faces/irse_weights.js';
import { synthesisLayers, type GeneratorConfig } from '../generator/index.js';
import { applyRules, scaled, type MapRule } from '../io/tensors/weight_map.js';
import type { BasicBlock, HypernetWeights, OffsetHead } from './hypernet.js';

const HYPERNET = 'state_dict.hypernet.';
const W_ENCODER = 'state_dict.encoder.';
/** hypernetwork.py: the layers whose offsets come from the one SharedWeightsHypernet (the 512-channel convs). */
export const SHARED_LAYERS: readonly number[] = [0, 2, 3, 5, 6, 8, 9, 11, 12];
/** hyperstyle.py `set_hypernet`: `encoder_type` values with the forward built here. */
const HYPERNET_TYPE = 'SharedWeightsHyperNetResNet';
/** The hypernet input: the photo and the current reconstruction, RGB each (`opts.input_nc`). */
const HYPERNET_INPUT_CHANNELS = 6;
const SHARED_KEYS = ['w1', 'b1', 'w2', 'b2'] as const;

/** Tensors under `prefix`, the prefix removed. */
function under(ckpt: Pick<Checkpoint, 'tensors'>, prefix: string): Map<string, HostTensor> {
  return new Map([...ckpt.tensors].filter(([k]) => k.startsWith(prefix)).map(([k, v]) => [k.slice(prefix.length), v]));
}

/** BatchNorm2d's tensors (its int64 training counter `num_batches_tracked` is unused at inference and dropped). */
const bnKeys = (prefix: string, c: number): MapRule[] => ['weight', 'bias', 'running_mean', 'running_var'].map((n) => ({ src: `${prefix}.${n}`, shape: [c] }));
const TRAINING_COUNTER = /\.num_batches_tracked$/;

const sameValues = (a: HostTensor, b: HostTensor): boolean => {
  const x = toFloat32(a).data as Float32Array;
  const y = toFloat32(b).data as Float32Array;
  return x.length === y.length && x.every((v, i) => v === y[i]);
};

/** `opts.layers_to_tune` -> layer indices (empty: every layer, hypernetwork.py). */
export function layersToTune(value: unknown, layers: number, what: string): number[] {
  const text = String(value ?? '').trim();
  const list = text === '' ? Array.from({ length: layers }, (_, i) => i) : text.split(',').map((s) => Number(s.trim()));
  const bad = list.filter((j) => !Number.isInteger(j) || j < 0 || j >= layers);
  if (bad.length) throw new InputError(`${what}: layers_to_tune '${text}' names layers outside the generator's 0..${layers - 1} (${bad.join(', ')}): the checkpoint does not fit its decoder`);
  return list;
}

/** The refinement convs `convs.0, convs.2, ...` of head j (nn.Sequential of conv, LeakyReLU pairs), with their rules. */
function headConvs(sd: ReadonlyMap<string, HostTensor>, j: number, firstStride: number, rules: MapRule[]): ConvLayer[] {
  const convs: ConvLayer[] = [];
  for (let k = 0; sd.has(`refinement_blocks.${j}.convs.${2 * k}.weight`); k++) {
    const key = `refinement_blocks.${j}.convs.${2 * k}`;
    const w = sd.get(`${key}.weight`)!;
    rules.push({ src: `${key}.weight`, shape: [w.shape[0], w.shape[1], 3, 3] }, { src: `${key}.bias`, shape: [w.shape[0]] });
    convs.push({ w: toFloat32(w), b: toFloat32(sd.get(`${key}.bias`) ?? f32([w.shape[0]], new Float32Array(w.shape[0]))), stride: k === 0 ? firstStride : 2, pad: 1 });
  }
  if (convs.length === 0) throw new InputError(`hypernet head ${j} has no 'refinement_blocks.${j}.convs.*'`);
  return convs;
}

/** ResNet34 BasicBlocks `body.N` (torchvision key layout); stride 2 where a downsample branch exists. */
function basicBlocks(sd: ReadonlyMap<string, HostTensor>, c0: number, rules: MapRule[]): { blocks: BasicBlock[]; channels: number } {
  const blocks: BasicBlock[] = [];
  let inC = c0;
  for (let i = 0; sd.has(`body.${i}.conv1.weight`); i++) {
    const p = `body.${i}`;
    const out = sd.get(`${p}.conv1.weight`)!.shape[0];
    const down = sd.has(`${p}.downsample.0.weight`);
    const stride = down ? 2 : 1;
    rules.push({ src: `${p}.conv1.weight`, shape: [out, inC, 3, 3] }, ...bnKeys(`${p}.bn1`, out), { src: `${p}.conv2.weight`, shape: [out, out, 3, 3] }, ...bnKeys(`${p}.bn2`, out));
    if (down) rules.push({ src: `${p}.downsample.0.weight`, shape: [out, inC, 1, 1] }, ...bnKeys(`${p}.downsample.1`, out));
    blocks.push({
      conv1: convBn(sd, `${p}.conv1.weight`, `${p}.bn1`, stride, 1),
      conv2: convBn(sd, `${p}.conv2.weight`, `${p}.bn2`, 1, 1),
      downsample: down ? convBn(sd, `${p}.downsample.0.weight`, `${p}.downsample.1`, stride, 0) : undefined,
    });
    inC = out;
  }
  if (blocks.length === 0) throw new InputError("no ResNet blocks 'hypernet.body.N'");
  return { blocks, channels: inC };
}

/** The hypernetwork of a HyperStyle checkpoint for the generator `c` (its decoder); `what` names the file. */
export function hypernetFromCheckpoint(ckpt: Pick<Checkpoint, 'tensors' | 'values'>, c: GeneratorConfig, what: string): HypernetWeights {
  const sd = new Map([...under(ckpt, HYPERNET)].filter(([k]) => !TRAINING_COUNTER.test(k)));
  if (sd.size === 0) throw new InputError(`${what} is not a HyperStyle checkpoint (no 'hypernet.*' weights)`);
  const type = ckpt.values['opts.encoder_type'];
  if (type !== undefined && type !== HYPERNET_TYPE) throw new InputError(`${what}: hypernet type '${String(type)}' is not supported; ${HYPERNET_TYPE} is`);
  const layers = synthesisLayers(c);
  const tuned = layersToTune(ckpt.values['opts.layers_to_tune'], layers.length, what);
  const stemW = sd.get('conv1.weight');
  if (!stemW) throw new InputError(`${what}: 'hypernet.conv1.weight' is missing`);
  const c0 = stemW.shape[0];
  const rules: MapRule[] = [{ src: 'conv1.weight', shape: [c0, HYPERNET_INPUT_CHANNELS, 7, 7] }, ...bnKeys('bn1', c0), { src: 'relu.weight', shape: [c0] }];
  const { blocks, channels } = basicBlocks(sd, c0, rules);
  const shared = sd.has('shared_weight_hypernet.w1') ? Object.fromEntries(SHARED_KEYS.map((k) => [k, toFloat32(sd.get(`shared_weight_hypernet.${k}`)!)])) as HypernetWeights['shared'] : undefined;
  const heads = new Map<number, OffsetHead>();
  const shapes = new Map<number, [number, number, number, number]>();
  const mismatched: string[] = [];
  for (const j of tuned) {
    const l = layers[j];
    const k = l.kind === 'torgb' ? 1 : 3;
    const shape: [number, number, number, number] = [l.outChannels, l.inChannels, k, k];
    shapes.set(j, shape);
    if (SHARED_LAYERS.includes(j)) {
      if (!shared) throw new InputError(`${what}: layer ${j} is shared but 'hypernet.shared_weight_hypernet.*' is missing`);
      const z = shared.w2.shape[0];
      rules.push(
        { src: `shared_weight_hypernet.w2`, shape: [z, l.inChannels * z] }, { src: `shared_weight_hypernet.b2`, shape: [l.inChannels * z] },
        { src: `shared_weight_hypernet.w1`, shape: [z, l.outChannels * k * k] }, { src: `shared_weight_hypernet.b1`, shape: [l.outChannels * k * k] },
      );
      for (const key of SHARED_KEYS) {
        const copy = sd.get(`refinement_blocks.${j}.hypernet.${key}`);
        rules.push({ src: `refinement_blocks.${j}.hypernet.${key}`, shape: shared[key].shape });
        if (copy && !sameValues(copy, shared[key])) mismatched.push(`refinement_blocks.${j}.hypernet.${key}`);
      }
      const convs = headConvs(sd, j, 1, rules);
      const width = convs[convs.length - 1].w.shape[0];
      rules.push({ src: `refinement_blocks.${j}.linear.weight`, shape: [z, width] }, { src: `refinement_blocks.${j}.linear.bias`, shape: [z] });
      const lw = sd.get(`refinement_blocks.${j}.linear.weight`);
      const lb = sd.get(`refinement_blocks.${j}.linear.bias`);
      if (!lw || !lb) throw new InputError(`${what}: 'hypernet.refinement_blocks.${j}.linear.*' is missing`);
      // EqualLinear(512, 512, lr_mul=1): x (W / sqrt(in))^T + b
      heads.set(j, { kind: 'shared', convs, linear: { w: scaled(1 / Math.sqrt(lw.shape[1]))(toFloat32(lw)), b: toFloat32(lb) } });
    } else {
      const convs = headConvs(sd, j, 2, rules);
      const width = convs[convs.length - 1].w.shape[0];
      const pool = k !== 1; // RefinementBlock: Sequential(AdaptiveAvgPool2d, conv) -> `output.1`; ToRGB layers: `output.0`
      const key = `refinement_blocks.${j}.output.${pool ? 1 : 0}`;
      rules.push({ src: `${key}.weight`, shape: [l.inChannels * l.outChannels, width, 1, 1] }, { src: `${key}.bias`, shape: [l.inChannels * l.outChannels] });
      const ow = sd.get(`${key}.weight`);
      const ob = sd.get(`${key}.bias`);
      if (!ow || !ob) throw new InputError(`${what}: '${HYPERNET.slice('state_dict.'.length)}${key}.*' is missing (layer ${j} is in layers_to_tune)`);
      heads.set(j, { kind: 'own', convs, pool, output: { w: toFloat32(ow), b: toFloat32(ob) } });
    }
  }
  // Every key of the hypernet must be one of the table's (the shared tensors are listed once per shared layer).
  applyRules(sd, [...new Map(rules.map((r) => [r.src, r])).values()], `${what} (hypernet)`);
  if (mismatched.length) throw new InputError(`${what}: the shared hypernet's copies differ from 'hypernet.shared_weight_hypernet.*': ${mismatched.join(', ')}`);
  if (channels !== (shared?.w2.shape[0] ?? channels)) throw new InputError(`${what}: the ResNet body ends at ${channels} channels but the shared hypernet takes ${shared!.w2.shape[0]}`);
  const stem = convBn(sd, 'conv1.weight', 'bn1', 2, 3);
  const stemPrelu = f32([c0, 1, 1], toFloat32(sd.get('relu.weight')!).data as Float32Array);
  return { stem, stemPrelu, blocks, shared, heads, shapes };
}

/** The W encoder: IR-SE body, average pool, EqualLinear, repeated to every style, + latent_avg. */
export interface WEncoderWeights {
  readonly body: IrSeBody;
  /** EqualLinear with its gain applied: W / sqrt(in) [D, C], b [D]. */
  readonly linear: { readonly w: HostTensor; readonly b: HostTensor };
  /** [L, D] or [D]. */
  readonly latentAvg: HostTensor;
}

/** A pSp WEncoder checkpoint (`faces_w_encoder.pt`); `what` names the file. */
export function wEncoderFromCheckpoint(ckpt: Pick<Checkpoint, 'tensors' | 'values'>, what: string): WEncoderWeights {
  const sd = under(ckpt, W_ENCODER);
  if (sd.size === 0) throw new InputError(`${what} is not a HyperStyle W encoder (no 'encoder.*' weights)`);
  const type = ckpt.values['opts.encoder_type'];
  if (type !== undefined && type !== 'WEncoder') throw new InputError(`${what} is a '${String(type)}' encoder, not the W encoder HyperStyle starts from (faces_w_encoder.pt, encoder_type WEncoder)`);
  const body = parseIrSeBody(new Map([...sd].filter(([k]) => /^(input_layer|body)\./.test(k))), `${what} (W encoder body)`);
  const lw = sd.get('linear.weight');
  const d = lw?.shape[0] ?? 0;
  const rules: MapRule[] = [
    { src: 'linear.weight', shape: [d, body.channels], dst: 'w', transform: scaled(1 / Math.sqrt(body.channels)) },
    { src: 'linear.bias', shape: [d], dst: 'b' },
  ];
  const lin = applyRules(new Map([...sd].filter(([k]) => k.startsWith('linear.'))), rules, `${what} (W encoder)`);
  const rest = [...sd.keys()].filter((k) => !/^(input_layer|body|linear)\./.test(k));
  if (rest.length) throw new InputError(`${what} (W encoder): unknown keys: ${rest.slice(0, 8).join(', ')}`);
  const avg = ckpt.tensors.get('latent_avg');
  if (!avg) throw new InputError(`${what}: no 'latent_avg' (the W encoder predicts an offset from it)`);
  return { body, linear: { w: lin.get('w')!, b: lin.get('b')! }, latentAvg: toFloat32(avg) };
}
