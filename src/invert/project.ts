/**
 * Projection (GAN inversion) of an FFHQ-aligned photo into W+, after the StyleGAN2 projector (Karras et al. 2020,
 * "Analyzing and Improving the Image Quality of StyleGAN", appendix D; NVlabs/stylegan2-ada-pytorch `projector.py`
 * and rosinality/stylegan2-pytorch `projector.py --w_plus`):
 *
 * - start at the generator's mean latent (its `latent_avg`, else the mean of mapped samples) broadcast to every W+ row; noise maps start as seeded N(0, 1) and are optimised too;
 * - Adam (torch defaults) on w+ and the noise maps together, lr(t) = StyleCLIP's / the projector's cosine ramp;
 * - during the first `noiseRamp` of the run the generator sees w+ + N(0, sigma^2) with
 *   sigma = w_std * initialNoise * max(0, 1 - t / noiseRamp)^2, w_std the RMS distance of mapped samples from their
 *   mean (projector.py `w_std = (sum((w_samples - w_avg)^2) / N) ** 0.5`);
 * - loss: ./project_graph.ts (pixel MSE + optional identity and CLIP distances + noise regularisation); LPIPS, the
 *   projector's perceptual distance, needs VGG16 weights this project does not ship and is not implemented;
 * - after every step each noise map is renormalised to zero mean and unit variance (projector.py).
 *
 * One engine call per step returns the losses and the gradients w.r.t. w+ and every noise map. Runs are seeded
 * (initial noise maps and latent noise come from src/random.ts) and deterministic.
 */
import { SessionCache, type SessionOptions } from '../engine/session.js';
import { scalarTensor, type HostTensor } from '../engine/tensor.js';
import { Cancelled, InputError } from '../errors.js';
import { broadcastW, noiseShapes, type Generator } from '../generator/index.js';
import { meanLatentZ, rowMean } from '../generator/sample.js';
import { rgbToTensor, tensorToRgb, type RgbImage } from '../io/images/image.js';
import { resizeLikePil } from '../io/images/resample.js';
import { optimize } from '../optimize/loop.js';
import { styleclipLr } from '../optimize/schedule.js';
import type { ProjectionProgress } from './types.js';
import type { RgbFrame } from '../io/images/image.js';
import { createRng, normals, type Rng } from '../random.js';
import {
  PROJECT_IO, buildProjectionStep, buildRenderGraph, buildTargetEmbeddings, projectNoiseGrad, projectNoiseInput, type ProjectionNets,
} from './project_graph.js';

/** projector.py defaults (stylegan2-ada-pytorch `project()` keyword defaults; rosinality's argparse defaults agree). */
export const PROJECTOR_DEFAULTS = Object.freeze({
  /** `num_steps=1000` (rosinality `--step 1000`). */
  steps: 1000,
  /** `initial_learning_rate=0.1`. */
  lr: 0.1,
  /** `lr_rampdown_length=0.25`, `lr_rampup_length=0.05`: the same ramp as `styleclipLr`. */
  rampdown: 0.25,
  rampup: 0.05,
  /** `initial_noise_factor=0.05`. */
  initialNoise: 0.05,
  /** `noise_ramp_length=0.75`. */
  noiseRamp: 0.75,
  /** `regularize_noise_weight=1e5`. */
  noiseWeight: 1e5,
});

/**
 * Loss weights of the terms that replace LPIPS: pixel MSE 1 and identity 0.1 as pSp / e4e train their encoders
 * (`--l2_lambda 1 --id_lambda 0.1`, Richardson et al. 2021, Tov et al. 2021); the CLIP image distance gets the same
 * 0.1 (our choice: a perceptual term of the identity term's weight).
 */
export const PROJECTION_WEIGHTS = Object.freeze({ mse: 1, id: 0.1, clip: 0.1 });
/** Upper bound on projection steps (ten times projector.py's 1000). */
export const MAX_PROJECT_STEPS = 10_000;
/** Aligned faces smaller than this are refused: below it CLIP's resampling has nothing to pool (preprocess_graph.ts). */
const MIN_ALIGNED_SIDE = 32;

export interface ProjectOptions {
  readonly steps: number;
  readonly lr: number;
  /** Seed of the initial noise maps and the latent noise. */
  readonly seed: number;
  readonly mseWeight: number;
  /** Used only when the projector has an identity net. */
  readonly idWeight: number;
  /** Used only when the projector has CLIP. */
  readonly clipWeight: number;
  readonly noiseWeight: number;
  readonly initialNoise: number;
  readonly noiseRamp: number;
}

const PROJECT_DEFAULTS: ProjectOptions = Object.freeze({
  steps: PROJECTOR_DEFAULTS.steps,
  lr: PROJECTOR_DEFAULTS.lr,
  seed: 0,
  mseWeight: PROJECTION_WEIGHTS.mse,
  idWeight: PROJECTION_WEIGHTS.id,
  clipWeight: PROJECTION_WEIGHTS.clip,
  noiseWeight: PROJECTOR_DEFAULTS.noiseWeight,
  initialNoise: PROJECTOR_DEFAULTS.initialNoise,
  noiseRamp: PROJECTOR_DEFAULTS.noiseRamp,
});

interface ProjectHooks {
  readonly signal?: AbortSignal;
  readonly onProgress?: (p: ProjectionProgress) => void;
}

export interface ProjectionResult {
  /** w+ [1, L, D]. */
  readonly latent: HostTensor;
  /** The optimised noise maps [1,1,r,r], in synthesis order (feed them to reproduce the reconstruction). */
  readonly noise: readonly HostTensor[];
  /** G(latent, noise) at the generator's resolution. */
  readonly reconstruction: RgbFrame;
  readonly history: readonly ProjectionProgress[];
}

/** Where a refinement starts: w+ [1, L, D] and optionally the noise maps [1,1,r,r] in synthesis order. */
interface ProjectionStart {
  readonly latent: HostTensor;
  readonly noise?: readonly HostTensor[];
}

/** Thrown when a projection's AbortSignal fires. */
export class ProjectionCancelled extends Cancelled {
  override name = 'ProjectionCancelled';
}

/** Latent-noise std at run fraction t: w_std * initial * max(0, 1 - t / ramp)^2 (projector.py). */
export function latentNoiseScale(t: number, wStd: number, initial: number, ramp: number): number {
  return wStd * initial * Math.max(0, 1 - t / ramp) ** 2;
}

/** sqrt(sum ||w_i - mean||^2 / N) over rows of w [N, D] (projector.py `w_std`). */
export function latentStd(w: HostTensor, mean: HostTensor): number {
  const [n, d] = w.shape;
  const src = w.data as Float32Array;
  const m = mean.data as Float32Array;
  let s = 0;
  for (let i = 0; i < n * d; i++) s += (src[i] - m[i % d]) ** 2;
  return Math.sqrt(s / n);
}

/** In place: x <- (x - mean(x)) / sqrt(mean((x - mean)^2)) (projector.py's noise renormalisation). */
export function renormalize(x: Float32Array): void {
  let mean = 0;
  for (const v of x) mean += v;
  mean /= x.length;
  let sq = 0;
  for (const v of x) sq += (v - mean) ** 2;
  const inv = 1 / Math.sqrt(sq / x.length);
  for (let i = 0; i < x.length; i++) x[i] = (x[i] - mean) * inv;
}

/** A square aligned face at the generator's resolution (Lanczos resampling, as the FFHQ recipe's final resize). */
function targetImage(image: RgbImage, resolution: number): RgbImage {
  if (image.width !== image.height || image.width < MIN_ALIGNED_SIDE) {
    throw new InputError(
      `projection needs a square FFHQ-aligned face of at least ${MIN_ALIGNED_SIDE} px, got ${image.width}x${image.height}; ` +
        "align the photo first with 'styleclip align --size <generator resolution>'",
    );
  }
  return resizeLikePil(image, resolution, resolution, 'lanczos') as RgbImage;
}

function validate(o: ProjectOptions): ProjectOptions {
  const check = (name: string, v: number, ok: boolean): void => {
    if (!ok) throw new InputError(`projection ${name} is out of range, got ${v}`);
  };
  check(`steps (an integer in 1..${MAX_PROJECT_STEPS})`, o.steps, Number.isInteger(o.steps) && o.steps >= 1 && o.steps <= MAX_PROJECT_STEPS);
  check('seed (an integer in 0..2^32-1)', o.seed, Number.isInteger(o.seed) && o.seed >= 0 && o.seed < 2 ** 32);
  for (const k of ['lr', 'mseWeight', 'idWeight', 'clipWeight', 'noiseWeight', 'initialNoise'] as const) check(k, o[k], Number.isFinite(o[k]) && o[k] >= 0);
  check('noiseRamp', o.noiseRamp, Number.isFinite(o.noiseRamp) && o.noiseRamp > 0);
  return o;
}

const num = (t: HostTensor | undefined): number => (t ? Number(t.data[0]) : 0);
const toFrame = (image: HostTensor): RgbFrame => tensorToRgb(image, 0, '[-1,1]');

export class Projector {
  private readonly sessions: SessionCache;
  private wStd?: Promise<number>;

  constructor(
    readonly generator: Generator,
    readonly nets: ProjectionNets = {},
    sessionOptions: SessionOptions = {},
  ) {
    this.sessions = new SessionCache(sessionOptions);
  }

  /**
   * Projects a square aligned face (resized to the generator's resolution when it is not at it). `init` starts from a
   * given w+ and noise maps (an encoder's code: refinement) instead of the mean latent and random noise.
   */
  async project(aligned: RgbImage, partial: Partial<ProjectOptions> = {}, hooks: ProjectHooks = {}, init?: ProjectionStart): Promise<ProjectionResult> {
    const o = validate({ ...PROJECT_DEFAULTS, ...Object.fromEntries(Object.entries(partial).filter(([, v]) => v !== undefined)) });
    const { nLatent, wDim, config } = this.generator;
    const target = rgbToTensor(targetImage(aligned, config.resolution), '[-1,1]');
    const refs = await this.references(target);
    const session = await this.sessions.get('step', () => buildProjectionStep(this.generator, this.nets, this.dims(refs)));
    const wStd = await this.latentStd();

    // One parameter vector for Adam: w+ (L*D), then every noise map (r*r each).
    const shapes = noiseShapes(config, 1);
    const wSize = nLatent * wDim;
    const sizes = shapes.map((s) => s[2] * s[3]);
    const offsets = sizes.map((_, i) => wSize + sizes.slice(0, i).reduce((a, b) => a + b, 0));
    const params = new Float32Array(wSize + sizes.reduce((a, b) => a + b, 0));
    params.set(init ? (init.latent.data as Float32Array) : (broadcastW(rowVector(await this.generator.meanLatent()), nLatent).data as Float32Array), 0);
    const rng = createRng(o.seed);
    offsets.forEach((off, i) => params.set(init?.noise ? (init.noise[i].data as Float32Array) : normals(rng, sizes[i]), off));
    const noiseView = (i: number): Float32Array => params.subarray(offsets[i], offsets[i] + sizes[i]);

    const feeds: Record<string, HostTensor> = {
      [PROJECT_IO.target]: target,
      [PROJECT_IO.mseWeight]: scalarTensor(o.mseWeight),
      [PROJECT_IO.noiseWeight]: scalarTensor(o.noiseWeight),
      ...refs,
    };
    if (this.nets.identity) feeds[PROJECT_IO.idWeight] = scalarTensor(o.idWeight);
    if (this.nets.clip) feeds[PROJECT_IO.clipWeight] = scalarTensor(o.clipWeight);
    const gradient = new Float32Array(params.length);
    const history: ProjectionProgress[] = [];
    await optimize(params, {
      steps: o.steps,
      lr: (i) => styleclipLr(i / o.steps, o.lr, PROJECTOR_DEFAULTS.rampdown, PROJECTOR_DEFAULTS.rampup),
      signal: hooks.signal,
      cancelled: () => new ProjectionCancelled('projection cancelled'),
      run: async (_p, i) => {
        const sigma = latentNoiseScale(i / o.steps, wStd, o.initialNoise, o.noiseRamp);
        feeds[PROJECT_IO.wPlus] = { dtype: 'float32', shape: [1, nLatent, wDim], data: perturbed(params.subarray(0, wSize), sigma, rng) };
        shapes.forEach((s, k) => (feeds[projectNoiseInput(k)] = { dtype: 'float32', shape: s, data: noiseView(k).slice() }));
        const out = await session.run(feeds);
        gradient.set(out[PROJECT_IO.gradW].data as Float32Array, 0);
        offsets.forEach((off, k) => gradient.set(out[projectNoiseGrad(k)].data as Float32Array, off));
        return { grad: gradient, out };
      },
      after: (_p, i, lr, { out }) => {
        shapes.forEach((_, k) => renormalize(noiseView(k)));
        const p: ProjectionProgress = {
          step: i + 1,
          steps: o.steps,
          lr,
          loss: num(out[PROJECT_IO.loss]),
          mse: num(out[PROJECT_IO.mse]),
          idLoss: num(out[PROJECT_IO.idLoss]),
          clipLoss: num(out[PROJECT_IO.clipLoss]),
          noiseReg: num(out[PROJECT_IO.noiseReg]),
        };
        history.push(p);
        hooks.onProgress?.(p);
      },
    });
    const latent: HostTensor = { dtype: 'float32', shape: [1, nLatent, wDim], data: params.slice(0, wSize) };
    const noise = shapes.map((s, k): HostTensor => ({ dtype: 'float32', shape: s, data: noiseView(k).slice() }));
    return { latent, noise, reconstruction: toFrame(await this.render(latent, noise)), history };
  }

  /** G(w+, noise maps) [1,3,R,R]. */
  async render(latent: HostTensor, noise: readonly HostTensor[]): Promise<HostTensor> {
    const s = await this.sessions.get('render', () => buildRenderGraph(this.generator));
    const feeds: Record<string, HostTensor> = { [PROJECT_IO.wPlus]: latent };
    noise.forEach((t, i) => (feeds[projectNoiseInput(i)] = t));
    return (await s.run(feeds))[PROJECT_IO.image];
  }

  async dispose(): Promise<void> {
    await this.sessions.dispose();
  }

  /** Unit reference embeddings of the target, as feeds of the step graph. */
  private async references(target: HostTensor): Promise<Record<string, HostTensor>> {
    if (!this.nets.identity && !this.nets.clip) return {};
    const s = await this.sessions.get('target', () => buildTargetEmbeddings(this.generator.config.resolution, this.nets));
    const out = await s.run({ [PROJECT_IO.target]: target });
    const refs: Record<string, HostTensor> = {};
    if (this.nets.identity) refs[PROJECT_IO.idRef] = out[PROJECT_IO.idEmbedding];
    if (this.nets.clip) refs[PROJECT_IO.clipRef] = out[PROJECT_IO.clipEmbedding];
    return refs;
  }

  private dims(refs: Record<string, HostTensor>): { idDim: number; clipDim: number } {
    return { idDim: refs[PROJECT_IO.idRef]?.shape[1] ?? 0, clipDim: refs[PROJECT_IO.clipRef]?.shape[1] ?? 0 };
  }

  /**
   * w_std over the mapped sample of the generator's mean latent (`meanLatentZ`, 4096 z as rosinality's
   * `mean_latent`; projector.py draws 10000), computed once per projector.
   */
  private latentStd(): Promise<number> {
    this.wStd ??= this.generator.map(meanLatentZ(this.generator.wDim)).then((w) => latentStd(w, rowMean(w)));
    return this.wStd;
  }
}

/** A [D] or [1, D] latent as [1, D]. */
function rowVector(w: HostTensor): HostTensor {
  return { dtype: 'float32', shape: [1, w.shape[w.shape.length - 1]], data: w.data };
}

/** w + sigma * N(0, 1) (a copy; the optimised w is untouched, as projector.py adds `w_noise` to `w_opt`). */
function perturbed(w: Float32Array, sigma: number, rng: Rng): Float32Array {
  if (sigma === 0) return w.slice();
  const n = normals(rng, w.length);
  for (let i = 0; i < n.length; i++) n[i] = w[i] + sigma * n[i];
  return n;
}
