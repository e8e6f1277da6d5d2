/**
 * The graphs of GAN inversion (the StyleGAN2 projector: Karras et al. 2020, "Analyzing and Improving the Image
 * Quality of StyleGAN", appendix; NVlabs/stylegan2-ada-pytorch `projector.py`, rosinality/stylegan2-pytorch
 * `projector.py`). One projection step is one engine call of `buildProjectionStep`:
 *
 *   w+, noise maps --G--> image [1,3,R,R]
 *   loss = a * mean((image - target)^2)                              pixel MSE at the generator's resolution
 *        + b * (1 - cos(ID(image), ID(target)))                      identity embedding distance (optional)
 *        + c * (1 - cos(CLIP(image), CLIP(target)))                  CLIP image-embedding distance (optional)
 *        + d * sum_maps sum_scales (mean(n * roll_x(n))^2 + mean(n * roll_y(n))^2)     noise regularisation
 *
 * returning the loss terms, the image and d loss / d w+ and d loss / d noise map. The reference embeddings of the
 * target (ID, CLIP) are computed once by `buildTargetEmbeddings` and fed as unit vectors; every weight is a graph
 * input, so one session serves any weighting.
 */
import { Graph, Value } from '../engine/graph.js';
import { grad } from '../engine/grad.js';
import { add, mul, normalizeRows, reduceMean, sub } from '../engine/ops_math.js';
import { averagePool } from '../engine/ops_nn.js';
import { concat, slice } from '../engine/ops_shape.js';
import type { Clip } from '../clip/clip.js';
import { buildSynthesis, noiseShapes, type Generator } from '../generator/index.js';
import type { IdentityNet } from '../faces/identity.js';
import { identityLoss } from '../optimize/losses.js';

/**
 * Noise maps are average-pooled by 2 until they are this small (projector.py `if noise.shape[2] <= 8: break`).
 */
const NOISE_REG_MIN_SIZE = 8;
/** CLIP input for the perceptual term: CLIP's own normalisation (what it was trained on), StyleCLIP's resampling. */
const PROJECTION_CLIP_MODE = 'normalized';

/** Graph input and output names. */
export const PROJECT_IO = Object.freeze({
  wPlus: 'w_plus',
  target: 'target',
  mseWeight: 'mse_weight',
  noiseWeight: 'noise_weight',
  idWeight: 'id_weight',
  idRef: 'id_ref_unit',
  clipWeight: 'clip_weight',
  clipRef: 'clip_ref_unit',
  loss: 'loss',
  mse: 'mse',
  noiseReg: 'noise_reg',
  idLoss: 'id_loss',
  clipLoss: 'clip_loss',
  image: 'image',
  gradW: 'grad_w_plus',
  idEmbedding: 'id_embedding',
  clipEmbedding: 'clip_embedding',
});

export const projectNoiseInput = (i: number): string => `noise_${i}`;
export const projectNoiseGrad = (i: number): string => `grad_noise_${i}`;

/** The perceptual networks a projection may use. */
export interface ProjectionNets {
  readonly identity?: IdentityNet;
  readonly clip?: Clip;
}

/** torch.roll(x, shifts=1, dims=axis): out[..., j] = x[..., j - 1 mod n]. */
function roll1(x: Value, axis: number): Value {
  const n = x.shape[axis];
  return concat([slice(x, [axis], [n - 1], [n]), slice(x, [axis], [0], [n - 1])], axis);
}

/**
 * projector.py's noise regulariser: for each map [1,1,r,r], at r, r/2, ... down to `NOISE_REG_MIN_SIZE` (2x2 average
 * pooling), the squared mean autocorrelation at a one-pixel shift along x and along y, summed. Zero for white noise
 * in expectation; it keeps the optimiser from hiding the image in the noise inputs.
 */
export function noiseRegularization(maps: readonly Value[]): Value {
  const terms: Value[] = [];
  for (const map of maps) {
    let n = map;
    for (;;) {
      for (const axis of [3, 2]) {
        const r = reduceMean(mul(n, roll1(n, axis)));
        terms.push(mul(r, r));
      }
      if (n.shape[2] <= NOISE_REG_MIN_SIZE) break;
      n = averagePool(n, [2, 2]);
    }
  }
  return terms.reduce((a, b) => add(a, b));
}

/** Unit CLIP image embedding [1, D] of a generator-range image [1,3,R,R]. */
function clipEmbedding(clip: Clip, g: Graph, image: Value): Value {
  return normalizeRows(clip.imageEncoder(g, clip.generatorInput(image, PROJECTION_CLIP_MODE)));
}

/** target [1,3,R,R] in [-1,1] -> its unit identity and/or CLIP embeddings (the references of the perceptual terms). */
export function buildTargetEmbeddings(resolution: number, nets: ProjectionNets): Graph {
  const g = new Graph('projection_target');
  const target = g.input(PROJECT_IO.target, 'float32', [1, 3, resolution, resolution]);
  if (nets.identity) g.output(normalizeRows(nets.identity.buildEmbedding(g, target)), PROJECT_IO.idEmbedding);
  if (nets.clip) g.output(clipEmbedding(nets.clip, g, target), PROJECT_IO.clipEmbedding);
  return g;
}

/** One projection step (see the header); `idDim` / `clipDim` size the reference inputs of the optional terms. */
export function buildProjectionStep(generator: Generator, nets: ProjectionNets, dims: { idDim: number; clipDim: number }): Graph {
  const g = new Graph('stylegan2_projection_step');
  const { nLatent, wDim, config } = generator;
  const r = config.resolution;
  const wPlus = g.input(PROJECT_IO.wPlus, 'float32', [1, nLatent, wDim]);
  const noise = noiseShapes(config, 1).map((s, i) => g.input(projectNoiseInput(i), 'float32', s));
  const target = g.input(PROJECT_IO.target, 'float32', [1, 3, r, r]);
  const scalar = (name: string): Value => g.input(name, 'float32', []);

  const image = buildSynthesis(g, wPlus, generator.weights, config, noise); // [1,3,R,R]
  const diff = sub(image, target);
  const mse = reduceMean(mul(diff, diff)); // []
  const reg = noiseRegularization(noise); // []
  let total = add(mul(mse, scalar(PROJECT_IO.mseWeight)), mul(reg, scalar(PROJECT_IO.noiseWeight)));
  g.output(mse, PROJECT_IO.mse);
  g.output(reg, PROJECT_IO.noiseReg);
  if (nets.identity) {
    const ref = g.input(PROJECT_IO.idRef, 'float32', [1, dims.idDim]);
    const id = identityLoss(nets.identity.buildEmbedding(g, image), ref); // []
    total = add(total, mul(id, scalar(PROJECT_IO.idWeight)));
    g.output(id, PROJECT_IO.idLoss);
  }
  if (nets.clip) {
    const ref = g.input(PROJECT_IO.clipRef, 'float32', [1, dims.clipDim]);
    const c = identityLoss(clipEmbedding(nets.clip, g, image), ref); // [] (1 - cos, the same formula as the ID term)
    total = add(total, mul(c, scalar(PROJECT_IO.clipWeight)));
    g.output(c, PROJECT_IO.clipLoss);
  }
  const [dW, ...dNoise] = grad(total, [wPlus, ...noise]);
  g.output(total, PROJECT_IO.loss);
  g.output(image, PROJECT_IO.image);
  g.output(dW, PROJECT_IO.gradW);
  dNoise.forEach((d, i) => g.output(d, projectNoiseGrad(i)));
  return g;
}

/** w+ and explicit noise maps -> image (the reconstruction, and photo edits that keep the projected noise). */
export function buildRenderGraph(generator: Generator): Graph {
  const g = new Graph('stylegan2_render_with_noise');
  const wPlus = g.input(PROJECT_IO.wPlus, 'float32', [1, generator.nLatent, generator.wDim]);
  const noise = noiseShapes(generator.config, 1).map((s, i) => g.input(projectNoiseInput(i), 'float32', s));
  g.output(buildSynthesis(g, wPlus, generator.weights, generator.config, noise), PROJECT_IO.image);
  return g;
}
