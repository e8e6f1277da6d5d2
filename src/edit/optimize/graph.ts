/**
 * The one graph an edit step runs (StyleCLIP latent optimisation, Patashnik et al. 2021, sec. 4, eq. 1):
 *
 *   latent --(w: broadcast to every layer)--> w+ --G--> image [1,3,R,R] --resample to 224--> CLIP image encoder
 *     --> D_CLIP against the prompt's unit text embedding;  + l2 * ||latent - latent0||^2  + id * (1 - cos ID)
 *
 * and the gradient of the total w.r.t. the latent, so each optimisation step is a single onnxruntime call returning
 * the loss terms, the image (for previews) and d loss / d latent. Loss weights and the text embedding are graph
 * inputs, so one session serves every prompt and weighting with the same structure.
 */
import { Graph, Value } from '../../engine/graph.js';
import { grad } from '../../engine/grad.js';
import { expand, reshape } from '../../engine/ops_shape.js';
import { add, mul } from '../../engine/ops_math.js';
import type { Clip } from '../../clip/clip.js';
import { buildSynthesis, buildSynthesisFromStyles, constNoise, noiseShapes, styleSpaceLayout, type Generator } from '../../generator/index.js';
import { clipLoss, identityLoss, l2Loss } from '../../optimize/losses.js';
import type { IdentityNet } from '../../faces/identity.js';
import type { ClipInputMode } from '../../clip/preprocess_graph.js';
import type { LatentSpace } from './types.js';
import type { NoiseMode } from '../../generator/index.js';

interface EditGraphSpec {
  readonly space: LatentSpace;
  readonly preprocess: ClipInputMode;
  readonly noise: NoiseMode;
  /** Present when the identity term is on. */
  readonly identity?: IdentityNet;
}

/** Graph input and output names. */
export const EDIT_IO = Object.freeze({
  latent: 'latent',
  latent0: 'latent0',
  text: 'text_unit',
  l2Weight: 'l2_weight',
  idWeight: 'id_weight',
  idRef: 'id_ref_unit',
  loss: 'loss',
  clipLoss: 'clip_loss',
  l2Loss: 'l2_loss',
  idLoss: 'id_loss',
  grad: 'grad',
  image: 'image',
  idEmbedding: 'id_embedding',
});

export const noiseInputName = (i: number): string => `noise_${i}`;

/** Shape of the optimised latent: [1, L, D] in w+, [1, D] in w, [1, S channels] in s. */
export function latentShape(space: LatentSpace, generator: Generator): number[] {
  const { nLatent, wDim } = generator;
  if (space === 's') return [1, styleSpaceLayout(generator.config).total];
  return space === 'w+' ? [1, nLatent, wDim] : [1, wDim];
}

/** The image [1,3,R,R] from the optimised latent in its space. */
function render(g: Graph, generator: Generator, space: LatentSpace, latent: Value, noise: readonly Value[]): Value {
  const { nLatent, wDim, weights, config } = generator;
  if (space === 's') return buildSynthesisFromStyles(g, latent, weights, config, noise);
  const wPlus = space === 'w+' ? latent : expand(reshape(latent, [1, 1, wDim]), [1, nLatent, wDim]); // [1,L,D]
  return buildSynthesis(g, wPlus, weights, config, noise);
}

/**
 * Builds the edit-step graph for a batch of one image. With an identity model the graph also outputs the unit
 * identity embedding of the current image, so the reference ID(G(latent0)) comes from a first run of this same
 * session (with the id weight 0) rather than from a second copy of the generator.
 */
export function buildEditGraph(generator: Generator, clip: Clip, spec: EditGraphSpec): Graph {
  const g = new Graph('styleclip_edit_step');
  const shape = latentShape(spec.space, generator);
  const latent = g.input(EDIT_IO.latent, 'float32', shape);
  const latent0 = g.input(EDIT_IO.latent0, 'float32', shape);
  const text = g.input(EDIT_IO.text, 'float32', [1, clip.config.embedDim]);
  const l2Weight = g.input(EDIT_IO.l2Weight, 'float32', []);

  const noise =
    spec.noise === 'const'
      ? constNoise(g, generator.weights, generator.config)
      : noiseShapes(generator.config, 1).map((s, i) => g.input(noiseInputName(i), 'float32', s));
  const image = render(g, generator, spec.space, latent, noise); // [1,3,R,R]
  const pixels = clip.generatorInput(image, spec.preprocess); // [1,3,S,S], S = CLIP's resolution (224 for most)
  const cLoss = clipLoss(clip.imageEncoder(g, pixels), text, clip.config.logitScale); // []
  const l2 = l2Loss(latent, latent0); // []
  let total = add(cLoss, mul(l2, l2Weight));

  g.output(cLoss, EDIT_IO.clipLoss);
  g.output(l2, EDIT_IO.l2Loss);
  if (spec.identity) {
    const emb = spec.identity.buildEmbedding(g, image); // [1,Did], unit rows
    const idRef = g.input(EDIT_IO.idRef, 'float32', emb.shape);
    const idWeight = g.input(EDIT_IO.idWeight, 'float32', []);
    const idLoss = identityLoss(emb, idRef);
    total = add(total, mul(idLoss, idWeight));
    g.output(idLoss, EDIT_IO.idLoss);
    g.output(emb, EDIT_IO.idEmbedding);
  }
  const [dLatent] = grad(total, [latent]);
  g.output(total, EDIT_IO.loss);
  g.output(dLatent, EDIT_IO.grad);
  g.output(image, EDIT_IO.image);
  return g;
}
