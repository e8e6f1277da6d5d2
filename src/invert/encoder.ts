/**
 * Photo -> w+ in one pass: the e4e / pSp encoder (encoder_net.ts) loaded from its official checkpoint, the Coach's
 * save `{'state_dict': {'encoder.*', 'decoder.*'}, 'opts': {...}, 'latent_avg': [L, D]}`. The decoder is the
 * generator the encoder was trained for (read by src/generator). Which forward (e4e or pSp) comes from
 * `opts.encoder_type`; widths, depths, block counts and the pyramid come from the tensor shapes.
 *
 * Preprocessing is e4e's test transform exactly: torchvision `Resize((256, 256))` on the PIL image (bilinear,
 * antialiased when downscaling, as PIL does it), ToTensor, Normalize(0.5, 0.5) -> [-1, 1].
 */
import { readCheckpoint, type Checkpoint } from '../io/tensors/checkpoint.js';
import { resizeLikePil } from '../io/images/resample.js';
import { mapBatches } from '../engine/batching.js';
import { Graph } from '../engine/graph.js';
import { SessionCache, type Session, type SessionOptions } from '../engine/session.js';
import { toFloat32, type HostTensor } from '../engine/tensor.js';
import { InputError } from '../errors.js';
import { parseIrSeBody } from '../faces/irse_weights.js';
import { Generator } from '../generator/index.js';
import type { Pixels } from '../io/images/image.js';
import { applyRules, scaled, type MapRule } from '../io/tensors/weight_map.js';
import { EncoderGraph, type EncoderKind, type EncoderWeights, type StyleBlock } from './encoder_net.js';
import { compiledCacheFor } from '../io/models/compiled.js';
import { resolveModelPath } from '../io/models/registry.js';

/** The encoders' input side (e4e/pSp `transforms.Resize((256, 256))`). */
const ENCODER_INPUT_SIZE = 256;
/** Batch sizes the encoder sessions are built for (engine/batching.ts). */
const ENCODER_BATCHES = [8, 1];
const ENCODER_PREFIX = 'state_dict.encoder.';
/** `opts.encoder_type` of the two supported forwards. */
const ENCODER_TYPES: Readonly<Record<string, EncoderKind>> = { Encoder4Editing: 'e4e', GradualStyleEncoder: 'psp' };

/** Rules for the style heads and the lateral 1x1 convs (keys relative to `encoder.`). */
function headRules(sd: ReadonlyMap<string, HostTensor>, what: string): { rules: MapRule[]; blocks: number; convs: number[] } {
  const blocks = new Set([...sd.keys()].map((k) => /^styles\.(\d+)\./.exec(k)?.[1]).filter((v) => v !== undefined)).size;
  if (blocks === 0) throw new InputError(`${what}: no 'encoder.styles.N' blocks: not an e4e/pSp encoder checkpoint`);
  const width = sd.get('styles.0.linear.weight')?.shape[0];
  if (!width) throw new InputError(`${what}: 'encoder.styles.0.linear.weight' is missing`);
  const rules: MapRule[] = [];
  const convs: number[] = [];
  for (let i = 0; i < blocks; i++) {
    const n = [...sd.keys()].filter((k) => k.startsWith(`styles.${i}.convs.`) && k.endsWith('.weight')).length;
    convs.push(n);
    for (let k = 0; k < n; k++) {
      // nn.Sequential(conv, LeakyReLU, conv, LeakyReLU, ...): convs at even indices
      const cin = sd.get(`styles.${i}.convs.${2 * k}.weight`)?.shape[1] ?? width;
      rules.push({ src: `styles.${i}.convs.${2 * k}.weight`, shape: [width, cin, 3, 3], dst: `s${i}.c${k}.w` }, { src: `styles.${i}.convs.${2 * k}.bias`, shape: [width], dst: `s${i}.c${k}.b` });
    }
    // EqualLinear(out_c, out_c, lr_mul=1): W / sqrt(in)
    rules.push({ src: `styles.${i}.linear.weight`, shape: [width, width], dst: `s${i}.lin.w`, transform: scaled(1 / Math.sqrt(width)) }, { src: `styles.${i}.linear.bias`, shape: [width], dst: `s${i}.lin.b` });
  }
  for (const l of ['latlayer1', 'latlayer2']) {
    const cin = sd.get(`${l}.weight`)?.shape[1] ?? width;
    rules.push({ src: `${l}.weight`, shape: [width, cin, 1, 1], dst: `${l}.w` }, { src: `${l}.bias`, shape: [width], dst: `${l}.b` });
  }
  return { rules, blocks, convs };
}

/** The encoder's weights from a flattened checkpoint; `what` names the file in errors. */
export function encoderFromCheckpoint(ckpt: Pick<Checkpoint, 'tensors' | 'values'>, what: string): EncoderWeights {
  const all = new Map<string, HostTensor>();
  for (const [k, v] of ckpt.tensors) if (k.startsWith(ENCODER_PREFIX)) all.set(k.slice(ENCODER_PREFIX.length), v);
  if (all.size === 0) {
    const mapper = [...ckpt.tensors.keys()].some((k) => k.startsWith('state_dict.mapper.'));
    throw new InputError(`${what} is not an e4e/pSp encoder checkpoint (no 'encoder.*' weights)${mapper ? '; it is a StyleCLIP mapper: use it with --method mapper --mapper' : ''}`);
  }
  const type = ckpt.values['opts.encoder_type'];
  const kind = ENCODER_TYPES[String(type)];
  if (!kind) throw new InputError(`${what}: encoder_type '${String(type)}' is not supported; e4e (Encoder4Editing) and pSp (GradualStyleEncoder) are`);
  const body = parseIrSeBody(all, `${what} (encoder body)`);
  const heads = new Map([...all].filter(([k]) => !k.startsWith('input_layer.') && !k.startsWith('body.')));
  const { rules, blocks, convs } = headRules(heads, what);
  const w = applyRules(heads, rules, `${what} (encoder heads)`);
  const pick = (name: string) => ({ w: w.get(`${name}.w`)!, b: w.get(`${name}.b`)! });
  const styles: StyleBlock[] = Array.from({ length: blocks }, (_, i) => ({
    convs: Array.from({ length: convs[i] }, (_, k) => pick(`s${i}.c${k}`)),
    linear: pick(`s${i}.lin`),
  }));
  const avg = ckpt.tensors.get('latent_avg');
  if (!avg) throw new InputError(`${what}: no 'latent_avg' (the encoders predict offsets from it; start_from_latent_avg)`);
  return { kind, body, styles, latlayer1: pick('latlayer1'), latlayer2: pick('latlayer2'), latentAvg: toFloat32(avg) };
}

/**
 * e4e's test transform on an aligned face: Resize((256,256)) bilinear as PIL, ToTensor, Normalize(0.5,0.5); other
 * sides for other domains (HyperStyle's cars: Resize((192, 256)), configs/transforms_config.py).
 */
export function encoderInput(images: readonly Pixels[], height = ENCODER_INPUT_SIZE, width = ENCODER_INPUT_SIZE): HostTensor {
  const plane = height * width;
  const out = new Float32Array(images.length * 3 * plane);
  images.forEach((img, n) => {
    const r = resizeLikePil(img, width, height, 'bilinear');
    for (let i = 0; i < plane; i++) {
      for (let c = 0; c < 3; c++) out[(n * 3 + c) * plane + i] = Math.fround(Math.fround(r.data[i * r.channels + c] / 255 - 0.5) / 0.5);
    }
  });
  return { dtype: 'float32', shape: [images.length, 3, height, width], data: out };
}

/** What an encoder is: its forward, and the w+ shape it predicts. */
export interface EncoderInfo {
  readonly kind: EncoderKind;
  readonly styleCount: number;
  readonly wDim: number;
}

export class PhotoEncoder {
  private readonly net: EncoderGraph;
  private readonly sessions: SessionCache;
  readonly info: EncoderInfo;

  constructor(
    weights: EncoderWeights,
    readonly generator: Generator,
    readonly name: string,
    opts: SessionOptions = {},
    private readonly ownsGenerator = false,
  ) {
    this.net = new EncoderGraph(weights);
    this.info = { kind: weights.kind, styleCount: this.net.styleCount, wDim: weights.styles[0].linear.w.shape[0] };
    if (this.info.styleCount !== generator.nLatent || this.info.wDim !== generator.wDim) {
      throw new InputError(`${name} predicts ${this.info.styleCount} styles of ${this.info.wDim} dims, but the generator takes w+ [${generator.nLatent}, ${generator.wDim}]: use the generator the encoder was trained with`);
    }
    // A checkpoint read in place has its weights mapped by onnxruntime (no compiled copy); one parsed in memory is
    // compiled once per machine (a 7.5 s build at full size; src/engine/compiled.ts).
    this.sessions = new SessionCache({ ...opts, compiled: opts.compiled ?? compiledCacheFor(name) });
  }

  get kind(): EncoderKind {
    return this.info.kind;
  }

  /** Reads an e4e/pSp checkpoint; without `generatorPath` its decoder is the generator. */
  static async load(pathOrName: string, generatorPath?: string, opts: SessionOptions = {}): Promise<PhotoEncoder> {
    const path = await resolveModelPath(pathOrName, 'encoder');
    return PhotoEncoder.fromCheckpoint(await readCheckpoint(path, 'encoder checkpoint'), path, generatorPath, opts);
  }

  /** From a checkpoint read already (`path` names it); without `generatorPath` its decoder is the generator. */
  static async fromCheckpoint(ckpt: Checkpoint, path: string, generatorPath?: string, opts: SessionOptions = {}): Promise<PhotoEncoder> {
    const weights = encoderFromCheckpoint(ckpt, path);
    const generator = await Generator.givenOrEmbedded(generatorPath, ckpt.tensors, path, opts);
    try {
      return new PhotoEncoder(weights, generator, path, opts, true);
    } catch (e) {
      await generator.dispose();
      throw e;
    }
  }

  /** Encoder input [N,3,256,256] in [-1,1] -> w+ codes [N, L, D]. */
  encode(x: HostTensor): Promise<HostTensor> {
    return mapBatches([x], ENCODER_BATCHES, async ([chunk], n) => (await (await this.session(n)).run({ x: chunk })).codes);
  }

  /** Builds (or opens) the session of one photo now. */
  async prepare(): Promise<void> {
    await this.session(1);
  }

  private session(n: number): Promise<Session> {
    return this.sessions.get(`encode:${n}`, () => {
      const g = new Graph(`${this.kind}_encoder`);
      g.output(this.net.build(g, g.input('x', 'float32', [n, 3, ENCODER_INPUT_SIZE, ENCODER_INPUT_SIZE])), 'codes');
      return g;
    });
  }

  /** Aligned faces (any size, RGB) -> w+ codes [N, L, D]. */
  encodeImages(images: readonly Pixels[]): Promise<HostTensor> {
    return this.encode(encoderInput(images));
  }

  async dispose(): Promise<void> {
    await this.sessions.dispose();
    if (this.ownsGenerator) await this.generator.dispose();
  }
}
