/**
 * StyleGAN2 generator API: `Generator` holds the weights and the onnxruntime sessions (one per batch size and noise
 * mode, built on first use) and maps z -> w, synthesises w+ -> image, and computes d/dw+ of sum(image * upstream).
 * The graph builders (`buildMapping`, `buildSynthesis`) are exported for callers that embed the generator in larger
 * graphs, such as the StyleCLIP optimiser (w+ -> image -> CLIP -> loss, differentiated w.r.t. w+ in one call).
 *
 * References: Karras et al. 2020, "Analyzing and Improving the Image Quality of StyleGAN"; rosinality/stylegan2-pytorch
 * `model.py` (`Generator.forward`: noise modes, truncation, w -> w+ broadcasting).
 */
import { Graph } from '../engine/graph.js';
import { grad } from '../engine/grad.js';
import { mul, reduceSum } from '../engine/ops_math.js';
import { concatRows, mapBatches } from '../engine/batching.js';
import { SessionCache, type SessionOptions } from '../engine/session.js';
import type { HostTensor } from '../engine/tensor.js';
import { synthesisShape, type SynthesisShape, type GeneratorConfig } from './config.js';
import { applyOffsets, checkWeights, type WeightMap } from './layout.js';
import { loadGeneratorWeights, weightsFromTensors } from './load.js';
import { meanLatentZ, rowMean, sampleNoise } from './sample.js';
import { buildMapping, buildStyles, buildSynthesis, buildSynthesisFromStyles, constNoise, noiseShapes } from './stylegan2.js';
import { styleSpaceLayout } from './stylespace.js';
import { InputError } from '../errors.js';
import { compiledCacheFor } from '../io/models/compiled.js';
import { resolveModelPath } from '../io/models/registry.js';

export { CONFIG_F_FFHQ, channelTable, synthesisShape, resolveGeneratorConfig, type SynthesisShape, type GeneratorConfig } from './config.js';
export { randomWeights, synthesisLayers, weightShapes, type WeightMap } from './layout.js';
export { loadGeneratorWeights, weightsFromTensors } from './load.js';
export { broadcastW, checkLatent, sampleNoise, sampleZ, truncate, type LatentKind } from './sample.js';
export { buildMapping, buildStyles, buildSynthesis, buildSynthesisFromStyles, constNoise, noiseShapes, type WeightOffsets } from './stylegan2.js';
export { convChannelMask, styleSpaceLayout, type StyleLayer, type StyleLayerKind, type StyleSpaceLayout } from './stylespace.js';

/** `const`: the checkpoint's stored noise maps (deterministic); `random`: fresh seeded maps per image. */
export type NoiseMode = 'const' | 'random';

export interface SynthesisOptions {
  readonly noise?: NoiseMode;
  /** Seed of the random noise (see sample.ts for the streams); default 0. */
  readonly noiseSeed?: number;
  /** Explicit noise maps [1,1,r,r] in conv order (e.g. an inverted photo's), used for every image; overrides `noise`. */
  readonly noiseMaps?: readonly HostTensor[];
}

/**
 * Batch sizes sessions are built for (engine/batching.ts): any batch runs in chunks of these, so a process holds a
 * few sessions and synthesis activation memory stays that of one image (about 1 GB at 1024 px with gradients).
 */
const MAPPING_BATCHES = [4096, 256, 16, 1];
const SYNTHESIS_BATCH_SIZES = [16, 4, 1];
/** Pixels per synthesis chunk: one 256 px image (so 16 images at 64 px, 4 at 128 px, 1 from 256 px up). */
const SYNTHESIS_PIXEL_BUDGET = 256 * 256;

/** Explicit noise maps are graph inputs, like random ones. */
const graphNoise = (opts: SynthesisOptions): NoiseMode => (opts.noiseMaps ? 'random' : (opts.noise ?? 'const'));

/** One [1, ...] tensor repeated as [n, ...]. */
function tileRows(t: HostTensor, n: number): HostTensor {
  if (n === 1) return t;
  const data = new Float32Array(t.data.length * n);
  for (let i = 0; i < n; i++) data.set(t.data as Float32Array, i * t.data.length);
  return { dtype: 'float32', shape: [n, ...t.shape.slice(1)], data };
}

/** Graph input/output names of the generator sessions. */
const IO = { z: 'z', w: 'w', wPlus: 'w_plus', styles: 'styles', image: 'image', upstream: 'upstream', gradWPlus: 'grad_w_plus' } as const;
const noiseInput = (i: number): string => `noise_${i}`;

export class Generator {
  readonly shape: SynthesisShape;
  private readonly sessions: SessionCache;
  private mean?: Promise<HostTensor>;

  private constructor(
    readonly config: GeneratorConfig,
    readonly weights: WeightMap,
    private readonly opts: SessionOptions,
  ) {
    this.shape = synthesisShape(config);
    this.sessions = new SessionCache(opts);
  }

  /** From weights in our naming (layout.ts); validates every name and shape. */
  static fromWeights(weights: WeightMap, config: GeneratorConfig, opts: SessionOptions = {}): Generator {
    checkWeights(weights, config);
    return new Generator(config, weights, opts);
  }

  /**
   * From a checkpoint file (rosinality .pt, NVIDIA .pkl, converted safetensors) or a registry name
   * (`stylegan2-ffhq-config-f`, downloaded on first use); hyperparameters come from its tensor shapes.
   */
  static async load(pathOrName: string, opts: SessionOptions = {}): Promise<Generator> {
    const path = await resolveModelPath(pathOrName, 'generator');
    const { config, weights } = await loadGeneratorWeights(path);
    // Its sessions are compiled once per machine (src/engine/compiled.ts), keyed by the checkpoint they hold.
    return Generator.fromWeights(weights, config, { ...opts, compiled: opts.compiled ?? compiledCacheFor(path) });
  }

  /**
   * The generator at `generatorPath` (a file or registry name) if given, else the one embedded in a checkpoint of
   * another network (the decoder of an e4e/pSp encoder or a StyleCLIP mapper checkpoint); `where` names that file.
   */
  static async givenOrEmbedded(generatorPath: string | undefined, checkpoint: ReadonlyMap<string, HostTensor>, where: string, opts: SessionOptions = {}): Promise<Generator> {
    if (generatorPath) return Generator.load(generatorPath, opts);
    const { config, weights } = weightsFromTensors(checkpoint, `${where} (its decoder; or pass a generator)`);
    return Generator.fromWeights(weights, config, opts);
  }

  /**
   * This generator with HyperStyle weight offsets baked in (layout.ts `applyOffsets`): the generator a photo inverted
   * by HyperStyle is rendered and edited with. Offsets [Cout,Cin,k,k] by layer name; sessions are its own.
   */
  withOffsets(offsets: ReadonlyMap<string, HostTensor>): Generator {
    // Other weights than the checkpoint's: no compiled sessions of it.
    return new Generator(this.config, applyOffsets(this.weights, offsets, this.config), { ...this.opts, compiled: undefined });
  }

  /** Synthesis chunk sizes for this resolution (see SYNTHESIS_PIXEL_BUDGET). */
  private get synthesisBatches(): number[] {
    return SYNTHESIS_BATCH_SIZES.filter((n) => n === 1 || n * this.config.resolution ** 2 <= SYNTHESIS_PIXEL_BUDGET);
  }

  get wDim(): number {
    return this.config.wDim;
  }

  get nLatent(): number {
    return this.shape.nLatent;
  }

  /** The checkpoint's `latent_avg` [D], if it has one. */
  get latentAvg(): HostTensor | undefined {
    return this.weights.get('latent_avg');
  }

  /** Mapping network: z [N,D] -> w [N,D]. */
  map(z: HostTensor): Promise<HostTensor> {
    return mapBatches([z], MAPPING_BATCHES, async ([zc], n) => {
      const s = await this.sessions.get(`map:${n}`, () => {
        const g = new Graph('stylegan2_mapping');
        g.output(buildMapping(g, g.input(IO.z, 'float32', [n, this.wDim]), this.weights, this.config), IO.w);
        return g;
      });
      return (await s.run({ [IO.z]: zc }))[IO.w];
    });
  }

  /** The truncation centre: `latent_avg`, or the mean of f(z) over a seeded sample (sample.ts) when absent. */
  meanLatent(): Promise<HostTensor> {
    const avg = this.latentAvg;
    if (avg) return Promise.resolve(avg);
    this.mean ??= this.map(meanLatentZ(this.wDim)).then(rowMean);
    return this.mean;
  }

  /** StyleSpace coordinates of w+ [N,L,D]: every layer's style A(w), concatenated [N, layout total] (stylespace.ts). */
  styles(wPlus: HostTensor): Promise<HostTensor> {
    return mapBatches([wPlus], MAPPING_BATCHES, async ([wc], n) => {
      const s = await this.sessions.get(`styles:${n}`, () => {
        const g = new Graph('stylegan2_styles');
        g.output(buildStyles(g, g.input(IO.wPlus, 'float32', [n, this.nLatent, this.wDim]), this.weights, this.config), IO.styles);
        return g;
      });
      return (await s.run({ [IO.wPlus]: wc }))[IO.styles];
    });
  }

  /** Synthesis: w+ [N,L,D] -> image [N,3,R,R] (NCHW, unclamped, about [-1,1]). */
  synthesize(wPlus: HostTensor, opts: SynthesisOptions = {}): Promise<HostTensor> {
    const mode = graphNoise(opts);
    return mapBatches([wPlus], this.synthesisBatches, async ([wc], n, first) => {
      const s = await this.sessions.get(`synth:${n}:${mode}`, () => this.synthesisGraph(n, mode, false));
      return (await s.run({ [IO.wPlus]: wc, ...this.noiseFeeds(opts, n, first) }))[IO.image];
    });
  }

  /**
   * Synthesis from StyleSpace coordinates: S [N, total] (stylespace.ts order) -> image [N,3,R,R]. Each layer's
   * modulation output is replaced by its slice of S (StyleCLIP global_torch's rendering from S codes).
   */
  async synthesizeFromStyles(styles: HostTensor, opts: SynthesisOptions = {}): Promise<HostTensor> {
    const mode = graphNoise(opts);
    const total = styleSpaceLayout(this.config).total;
    if (styles.shape.length !== 2 || styles.shape[1] !== total) {
      throw new InputError(`StyleSpace codes must be [N, ${total}] for this generator, got [${styles.shape.join(', ')}]`);
    }
    return mapBatches([styles], this.synthesisBatches, async ([sc], n, first) => {
      const s = await this.sessions.get(`synth_s:${n}:${mode}`, () => {
        const g = new Graph('stylegan2_synthesis_from_styles');
        const input = g.input(IO.styles, 'float32', [n, total]);
        const noise = mode === 'const' ? constNoise(g, this.weights, this.config) : noiseShapes(this.config, n).map((shape, i) => g.input(noiseInput(i), 'float32', shape));
        g.output(buildSynthesisFromStyles(g, input, this.weights, this.config, noise), IO.image);
        return g;
      });
      return (await s.run({ [IO.styles]: sc, ...this.noiseFeeds(opts, n, first) }))[IO.image];
    });
  }

  /**
   * One engine call: the image and d/dw+ of sum(image * upstream), upstream [N,3,R,R] (a vector-Jacobian product;
   * with upstream = dLoss/dImage it is dLoss/dw+).
   */
  async synthesizeWithGrad(wPlus: HostTensor, upstream: HostTensor, opts: SynthesisOptions = {}): Promise<{ image: HostTensor; grad: HostTensor }> {
    const mode = graphNoise(opts);
    const grads: HostTensor[] = [];
    const image = await mapBatches([wPlus, upstream], this.synthesisBatches, async ([wc, uc], n, first) => {
      const s = await this.sessions.get(`vjp:${n}:${mode}`, () => this.synthesisGraph(n, mode, true));
      const out = await s.run({ [IO.wPlus]: wc, ...this.noiseFeeds(opts, n, first), [IO.upstream]: uc });
      grads.push(out[IO.gradWPlus]);
      return out[IO.image];
    });
    return { image, grad: concatRows(grads) };
  }

  /** Releases every session. */
  async dispose(): Promise<void> {
    await this.sessions.dispose();
  }

  /** Noise inputs of a chunk of `n` images starting at image `first` (none for const noise). */
  private noiseFeeds(opts: SynthesisOptions, n: number, first: number): Record<string, HostTensor> {
    const feeds: Record<string, HostTensor> = {};
    if (opts.noiseMaps) {
      const shapes = noiseShapes(this.config, n);
      if (opts.noiseMaps.length !== shapes.length) throw new InputError(`expected ${shapes.length} noise maps, got ${opts.noiseMaps.length}`);
      opts.noiseMaps.forEach((m, i) => (feeds[noiseInput(i)] = tileRows(m, n)));
    } else if (graphNoise(opts) === 'random') {
      sampleNoise((opts.noiseSeed ?? 0) + first, noiseShapes(this.config, n)).forEach((t, i) => (feeds[noiseInput(i)] = t));
    }
    return feeds;
  }

  private synthesisGraph(n: number, mode: NoiseMode, withGrad: boolean): Graph {
    const g = new Graph(withGrad ? 'stylegan2_synthesis_vjp' : 'stylegan2_synthesis');
    const wPlus = g.input(IO.wPlus, 'float32', [n, this.nLatent, this.wDim]);
    const noise =
      mode === 'const'
        ? constNoise(g, this.weights, this.config)
        : noiseShapes(this.config, n).map((shape, i) => g.input(noiseInput(i), 'float32', shape));
    const image = buildSynthesis(g, wPlus, this.weights, this.config, noise); // [N,3,R,R]
    g.output(image, IO.image);
    if (withGrad) {
      const upstream = g.input(IO.upstream, 'float32', image.shape);
      const [gw] = grad(reduceSum(mul(image, upstream)), [wPlus]); // [N,L,D]
      g.output(gw, IO.gradWPlus);
    }
    return g;
  }
}
