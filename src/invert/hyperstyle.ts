/**
 * Photo -> w+ codes + generator weight offsets with HyperStyle (Alaluf et al. 2022; yuval-alaluf/hyperstyle
 * utils/inference_utils.py `run_inversion`, models/hyperstyle.py `forward`):
 *
 *   x      = the aligned face, Resize((256,256)) bilinear, Normalize(0.5, 0.5)          (e4e's transform, ./encoder.ts)
 *   codes  = WEncoder(x) + latent_avg, fixed from here on                                 (`__get_w_inversion`)
 *   y_0    = face_pool(G(codes)), stored noise                                            (AdaptiveAvgPool2d(256))
 *   for t = 1..T:  delta += hypernet(cat[x, y_{t-1}]);  image_t = G(codes; W * (1 + delta));  y_t = face_pool(image_t)
 *
 * Each iteration is one engine call (hypernet, offset accumulation, offset generator, pooling in one graph). Photos
 * are inverted one at a time: the offsets are per photo, so the offset generator's weights are per photo too. Editing
 * holds the offsets fixed (`Generator.withOffsets`) while the latent moves (paper sec. 4.3, editing/).
 */
import { readCheckpoint, type Checkpoint } from '../io/tensors/checkpoint.js';
import { Graph, type Value } from '../engine/graph.js';
import { add, gemm, reduceMean } from '../engine/ops_math.js';
import { averagePool, upsampleNearest } from '../engine/ops_nn.js';
import { expand, reshape, slice } from '../engine/ops_shape.js';
import { SessionCache, type SessionOptions } from '../engine/session.js';
import { sliceRows } from '../engine/batching.js';
import { f32, type HostTensor } from '../engine/tensor.js';
import { InputError } from '../errors.js';
import { IrSeGraph } from '../faces/irse.js';
import { Generator, buildSynthesis, constNoise, synthesisLayers } from '../generator/index.js';
import type { Pixels } from '../io/images/image.js';
import { resolveModelPath } from '../io/models/registry.js';
import { encoderInput } from './encoder.js';
import { HypernetGraph, type HypernetWeights } from './hypernet.js';
import { hypernetFromCheckpoint, wEncoderFromCheckpoint, type WEncoderWeights } from './hyperstyle_weights.js';
import { dirname, join, basename } from 'node:path';
import { existsSync } from 'node:fs';

/** test_options.py `--n_iters_per_batch` default. */
export const DEFAULT_ITERATIONS = 5;
/** More iterations stop improving the reconstruction (paper fig. 9 saturates by 5); a bound on a user's request. */
export const MAX_ITERATIONS = 20;
/** hyperstyle.py `face_pool = AdaptiveAvgPool2d((256, 256))`: the hypernet's input side. */
const HYPERNET_SIDE = 256;
/** The registry name of the published FFHQ W encoder (`faces_w_encoder.pt`), used when the checkpoint's path is absent. */
export const FFHQ_W_ENCODER = 'hyperstyle-w-encoder-ffhq';
/** The published W encoders by domain (hyperstyle README "Pretrained W-Encoders"; models/manifest.json). */
const W_ENCODERS: Readonly<Record<string, string>> = { faces: FFHQ_W_ENCODER, cars: 'hyperstyle-w-encoder-cars', animals: 'hyperstyle-w-encoder-afhq-wild' };

/** A HyperStyle inversion of one photo. */
export interface HyperStyleInversion {
  /** w+ [1, L, D]: the W encoder's codes (fixed during the iterations). */
  readonly codes: HostTensor;
  /** The accumulated offsets after the last iteration, [Cout,Cin,k,k] by generator layer name. */
  readonly offsets: ReadonlyMap<string, HostTensor>;
  /** G(codes) at 256 px before any offset. */
  readonly initial: HostTensor;
  /** The image after each iteration [1,3,R,R]. */
  readonly images: readonly HostTensor[];
  /** The offsets after the first iteration (the fixture's checkpoint of the running sum). */
  readonly firstOffsets: ReadonlyMap<string, HostTensor>;
}

/**
 * What the checkpoint was trained on (`opts.dataset_type`, configs/data_configs.py): faces (ffhq_*), cars (cars_*:
 * 4:3 images, the generator's square output cropped, inference_utils.py `if "cars" in opts.dataset_type`), animals
 * (afhq_wild_*, square like faces). Photo edits align faces, so only 'faces' checkpoints serve them.
 */
export type HyperStyleDomain = 'faces' | 'cars' | 'animals';
const DOMAINS: readonly (readonly [RegExp, HyperStyleDomain])[] = [[/cars/, 'cars'], [/afhq|wild/, 'animals']];
/** Cars: Resize((192, 256)) input (CarsEncodeTransforms); outputs pooled to 256 keep rows 32:224 (4:3). */
const CARS_SIDE: readonly [number, number] = [192, 256];
const CARS_ROWS: readonly [number, number] = [32, 224];

export function domainOf(datasetType: unknown): HyperStyleDomain {
  const t = String(datasetType ?? 'ffhq_encode');
  return DOMAINS.find(([re]) => re.test(t))?.[1] ?? 'faces';
}

/** AdaptiveAvgPool2d to side s for power-of-two sides: a mean over k x k blocks, or nearest up-sampling below s. */
function facePool(x: Value, s: number): Value {
  const r = x.shape[2];
  return r >= s ? (r === s ? x : averagePool(x, [r / s, r / s])) : upsampleNearest(x, s / r);
}

/** The hypernet's view of an image: pooled to 256 (hyperstyle.py face_pool), cars cropped to rows 32:224. */
function hypernetView(image: Value, domain: HyperStyleDomain): Value {
  const pooled = facePool(image, HYPERNET_SIDE);
  return domain === 'cars' ? slice(pooled, [2], [CARS_ROWS[0]], [CARS_ROWS[1]]) : pooled;
}

export class HyperStyle {
  private readonly hypernet: HypernetGraph;
  private readonly wBody: IrSeGraph;
  private readonly sessions: SessionCache;
  /** Tuned layer index -> generator layer name. */
  readonly layers: ReadonlyMap<number, string>;
  /** The input side [H, W] (cars 192 x 256, else 256 x 256). */
  readonly inputSide: readonly [number, number];

  constructor(
    readonly weights: HypernetWeights,
    readonly wEncoder: WEncoderWeights,
    readonly generator: Generator,
    readonly name: string,
    opts: SessionOptions = {},
    private readonly ownsGenerator = false,
    readonly domain: HyperStyleDomain = 'faces',
  ) {
    this.inputSide = domain === 'cars' ? CARS_SIDE : [HYPERNET_SIDE, HYPERNET_SIDE];
    this.hypernet = new HypernetGraph(weights);
    this.wBody = new IrSeGraph(wEncoder.body, 'w_encoder');
    this.sessions = new SessionCache(opts);
    const all = synthesisLayers(generator.config);
    this.layers = new Map([...weights.heads.keys()].map((j) => [j, all[j].name]));
    const d = wEncoder.linear.w.shape[0];
    if (d !== generator.wDim) throw new InputError(`${name}: the W encoder predicts ${d}-dim codes, the generator takes ${generator.wDim}: use the W encoder trained with this HyperStyle model`);
  }

  /**
   * Reads a HyperStyle checkpoint (file or registry name); its decoder is the generator unless `generator` is given.
   * The W encoder: see `wEncoderFor`.
   */
  static async load(pathOrName: string, o: { wEncoder?: string; generator?: string } = {}, opts: SessionOptions = {}): Promise<HyperStyle> {
    const path = await resolveModelPath(pathOrName, 'encoder');
    return HyperStyle.fromCheckpoint(await readCheckpoint(path, 'HyperStyle checkpoint'), path, o, opts);
  }

  static async fromCheckpoint(ckpt: Pick<Checkpoint, 'tensors' | 'values'>, path: string, o: { wEncoder?: string; generator?: string } = {}, opts: SessionOptions = {}): Promise<HyperStyle> {
    const generator = await Generator.givenOrEmbedded(o.generator, ckpt.tensors, path, opts);
    try {
      return await HyperStyle.over(ckpt, path, generator, o.wEncoder, opts, true);
    } catch (e) {
      await generator.dispose();
      throw e;
    }
  }

  /**
   * A checkpoint's hypernet, W encoder (`wEncoderFor`) and domain over a loaded `generator` (its decoder, or the
   * edit's); `owns`: whether `dispose` releases the generator.
   */
  static async over(ckpt: Pick<Checkpoint, 'tensors' | 'values'>, path: string, generator: Generator, wEncoder?: string, opts: SessionOptions = {}, owns = false): Promise<HyperStyle> {
    const hypernet = hypernetFromCheckpoint(ckpt, generator.config, path);
    return new HyperStyle(hypernet, await wEncoderFor(ckpt, path, wEncoder), generator, path, opts, owns, domainOf(ckpt.values['opts.dataset_type']));
  }

  /** The W encoder's codes and G(codes) pooled to 256: x [1,3,256,256] -> codes [1,L,D], y [1,3,256,256]. */
  private initGraph(): Graph {
    const g = new Graph('hyperstyle_init');
    const x = g.input('x', 'float32', [1, 3, ...this.inputSide]);
    const { out } = this.wBody.forward(g, x);
    const pooled = reshape(reduceMean(out, [2, 3]), [1, out.shape[1]]); // [1,C]
    const e = this.wEncoder;
    const d = e.linear.w.shape[0];
    const w = gemm(pooled, this.wBody.constant(g, e.linear.w, 'lin_w'), this.wBody.constant(g, e.linear.b, 'lin_b'), { transB: true }); // [1,D]
    const L = this.generator.nLatent;
    const avg = this.wBody.constant(g, e.latentAvg, 'latent_avg'); // [L,D] or [D]
    const codes = add(expand(reshape(w, [1, 1, d]), [1, L, d]), avg); // [1,L,D]
    g.output(codes, 'codes');
    const gen = this.generator;
    const image = buildSynthesis(g, codes, gen.weights, gen.config, constNoise(g, gen.weights, gen.config));
    g.output(hypernetView(image, this.domain), 'y');
    return g;
  }

  /** G(codes) pooled to 256, for a start from given codes: codes [1,L,D] -> y [1,3,256,256]. */
  private reconGraph(): Graph {
    const g = new Graph('hyperstyle_recon');
    const gen = this.generator;
    const codes = g.input('codes', 'float32', [1, gen.nLatent, gen.wDim]);
    g.output(hypernetView(buildSynthesis(g, codes, gen.weights, gen.config, constNoise(g, gen.weights, gen.config)), this.domain), 'y');
    return g;
  }

  /** One iteration: (x, y, codes, delta_j) -> delta_j + hypernet_j(cat[x, y]), the image with them, its pooled copy. */
  private stepGraph(): Graph {
    const g = new Graph('hyperstyle_step');
    const side = [1, 3, ...this.inputSide];
    const x = g.input('x', 'float32', side);
    const y = g.input('y', 'float32', side);
    const gen = this.generator;
    const codes = g.input('codes', 'float32', [1, gen.nLatent, gen.wDim]);
    const outs = this.hypernet.build(g, x, y);
    const offsets = new Map<string, Value>();
    for (const [j, o] of outs) {
      const shape = this.weights.shapes.get(j)!;
      const sum = add(g.input(`delta_${j}`, 'float32', shape), reshape(o, shape));
      g.output(sum, `next_${j}`);
      offsets.set(this.layers.get(j)!, sum);
    }
    const image = buildSynthesis(g, codes, gen.weights, gen.config, constNoise(g, gen.weights, gen.config), { offsets });
    g.output(image, 'image');
    g.output(hypernetView(image, this.domain), 'y_next');
    return g;
  }

  /**
   * One photo's encoder input x [1,3,H,W] (`inputSide`) -> codes and offsets after `iterations` passes. `codes` [1,L,D] starts
   * from given codes instead of the W encoder's (another encoder's w+, or a reference's codes in a parity check).
   */
  async invert(x: HostTensor, iterations = DEFAULT_ITERATIONS, o: { codes?: HostTensor; onIteration?: (t: number) => void } = {}): Promise<HyperStyleInversion> {
    checkIterations(iterations);
    const init = o.codes
      ? { codes: o.codes, y: (await (await this.sessions.get('recon', () => this.reconGraph())).run({ codes: o.codes })).y }
      : await (await this.sessions.get('init', () => this.initGraph())).run({ x });
    const step = await this.sessions.get('step', () => this.stepGraph());
    let y = init.y;
    let deltas = new Map<number, HostTensor>([...this.weights.shapes].map(([j, s]) => [j, f32([...s], new Float32Array(s.reduce((a, b) => a * b, 1)))]));
    const images: HostTensor[] = [];
    let first = new Map<number, HostTensor>();
    for (let t = 1; t <= iterations; t++) {
      const feeds: Record<string, HostTensor> = { x, y, codes: init.codes };
      for (const [j, d] of deltas) feeds[`delta_${j}`] = d;
      const out = await step.run(feeds);
      deltas = new Map([...deltas.keys()].map((j) => [j, out[`next_${j}`]]));
      if (t === 1) first = deltas;
      images.push(out.image);
      y = out.y_next;
      o.onIteration?.(t);
    }
    const byName = (m: Map<number, HostTensor>) => new Map([...m].map(([j, d]) => [this.layers.get(j)!, d]));
    return { codes: init.codes, offsets: byName(deltas), firstOffsets: byName(first), initial: init.y, images };
  }

  /** Aligned faces -> one inversion each (photos one at a time: the offsets are per photo). */
  async invertImages(faces: readonly Pixels[], iterations = DEFAULT_ITERATIONS): Promise<HyperStyleInversion[]> {
    const x = encoderInput(faces, ...this.inputSide);
    const out: HyperStyleInversion[] = [];
    for (let i = 0; i < faces.length; i++) out.push(await this.invert(sliceRows(x, i, 1), iterations));
    return out;
  }

  async dispose(): Promise<void> {
    await this.sessions.dispose();
    if (this.ownsGenerator) await this.generator.dispose();
  }
}

/** 1..MAX_ITERATIONS passes. */
export function checkIterations(n: number): void {
  if (!Number.isInteger(n) || n < 1 || n > MAX_ITERATIONS) throw new InputError(`HyperStyle iterations must be an integer from 1 to ${MAX_ITERATIONS}, got ${n}`);
}

/** The checkpoint's W encoder path as written when it exists, else that file name beside the checkpoint, else the registered one of its domain. */
function wEncoderBeside(checkpoint: string, written: unknown, registered: string): string {
  if (typeof written !== 'string' || written === '') return registered;
  if (existsSync(written)) return written;
  const beside = join(dirname(checkpoint), basename(written));
  return existsSync(beside) ? beside : registered;
}

/**
 * HyperStyle's W encoder: `given` (a file or registry name), else the checkpoint's `opts.w_encoder_checkpoint_path`
 * (as written, or that file name beside the checkpoint), else the registered one of its domain (FFHQ:
 * `faces_w_encoder.pt`, hyperstyle-w-encoder-ffhq).
 */
export async function wEncoderFor(ckpt: Pick<Checkpoint, 'values'>, path: string, given?: string): Promise<WEncoderWeights> {
  const registered = W_ENCODERS[domainOf(ckpt.values['opts.dataset_type'])];
  const written = ckpt.values['opts.w_encoder_checkpoint_path'];
  const wPath = given ?? wEncoderBeside(path, written, registered);
  const wFile = await resolveModelPath(wPath, 'encoder').catch((e: unknown) => {
    const file = typeof written === 'string' && written ? basename(written) : 'its W encoder file';
    throw new InputError(`${path} needs its W encoder (${file}; registry name ${registered}): ${(e as Error).message}; pass --w-encoder FILE`);
  });
  return wEncoderFromCheckpoint(await readCheckpoint(wFile, 'W encoder checkpoint'), wFile);
}
