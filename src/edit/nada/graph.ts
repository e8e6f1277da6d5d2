/**
 * The two engine graphs of StyleGAN-NADA training (ZSSGAN.forward and determine_opt_layers):
 *
 * - the training step: z [B, D] -> w = frozen mapping(z) (the same w for both generators, truncation 1) -> the frozen
 *   image (constants) and the trainable image (the candidate tensors as graph inputs: RAW checkpoint values, viewed in
 *   our shapes and multiplied by their equalised-lr gains in the graph) -> the directional loss of every CLIP model,
 *   weighted and summed -> d loss / d each raw input (so the optimiser's gradient needs no host-side rescaling). The
 *   frozen branch depends on no input that is differentiated, so it adds no backward work.
 * - the layer probe: W+ codes [P, L, D] -> trainable image (current values as inputs) -> weighted global losses ->
 *   d loss / d W+.
 *
 * Noise: `const` uses each generator's stored buffers (`randomize_noise=False`); `random` takes per-call noise maps as
 * inputs (`noise_frozen_i`, `noise_train_i`: the official code draws fresh noise in each generator call).
 */
import { Graph, type Value } from '../../engine/graph.js';
import { grad } from '../../engine/grad.js';
import { add, mul } from '../../engine/ops_math.js';
import { expand, reshape } from '../../engine/ops_shape.js';
import { numel, type HostTensor } from '../../engine/tensor.js';
import { buildMapping, buildSynthesis, constNoise, noiseShapes, synthesisShape, type GeneratorConfig, type WeightMap } from '../../generator/index.js';
import { directionalLoss, globalLoss, unitImageEmbedding, weightedSum, type NadaClip } from './loss.js';

export type NadaNoise = 'const' | 'random';

/** A candidate tensor as the graphs take it: our name and shape, and ours = gain · raw. */
export interface TrainableInput {
  readonly dst: string;
  readonly shape: readonly number[];
  readonly gain: number;
}

/** What both graphs are built from. */
export interface NadaGraphSpec {
  readonly config: GeneratorConfig;
  /** The frozen generator's weights (ours) and the trainable copy's start (ours; candidates are replaced by inputs). */
  readonly frozen: WeightMap;
  readonly start: WeightMap;
  readonly inputs: readonly TrainableInput[];
  readonly clips: readonly NadaClip[];
  readonly noise: NadaNoise;
}

export const NADA_IO = Object.freeze({
  z: 'z',
  wPlus: 'w_plus',
  param: (i: number) => `p${i}`,
  grad: (i: number) => `grad${i}`,
  /** Per CLIP model m: the textual direction [1,E], the probe's target text [1,E], the model's loss. */
  direction: (m: number) => `text_direction${m}`,
  target: (m: number) => `target${m}`,
  modelLoss: (m: number) => `loss${m}`,
  /** Added to the trainable image before CLIP (the official zero-direction fallback; 0 otherwise). */
  shift: 'shift',
  noise: (branch: 'frozen' | 'train', i: number) => `noise_${branch}_${i}`,
  loss: 'loss',
  gradW: 'grad_w_plus',
});

function noiseOf(g: Graph, spec: NadaGraphSpec, branch: 'frozen' | 'train', weights: WeightMap, batch: number): Value[] {
  if (spec.noise === 'const') return constNoise(g, weights, spec.config);
  return noiseShapes(spec.config, batch).map((s, i) => g.input(NADA_IO.noise(branch, i), 'float32', s));
}

function trainableMap(g: Graph, spec: NadaGraphSpec): { values: Value[]; map: Map<string, Value> } {
  const values = spec.inputs.map((t, i) => g.input(NADA_IO.param(i), 'float32', t.shape));
  return { values, map: new Map(spec.inputs.map((t, i) => [t.dst, t.gain === 1 ? values[i] : mul(values[i], t.gain)])) };
}

/** The training-step graph for batch `batch` (see the header). */
export function buildNadaStep(spec: NadaGraphSpec, batch: number): Graph {
  const { config } = spec;
  const { nLatent } = synthesisShape(config);
  const g = new Graph('stylegan_nada_step');
  const z = g.input(NADA_IO.z, 'float32', [batch, config.wDim]);
  const w = buildMapping(g, z, spec.frozen, config); // [B,D]
  const wPlus = expand(reshape(w, [batch, 1, config.wDim]), [batch, nLatent, config.wDim]); // [B,L,D]
  const frozenImg = buildSynthesis(g, wPlus, spec.frozen, config, noiseOf(g, spec, 'frozen', spec.frozen, batch)); // [B,3,R,R]
  const { values, map } = trainableMap(g, spec);
  const trainImg = buildSynthesis(g, wPlus, spec.start, config, noiseOf(g, spec, 'train', spec.start, batch), { trainable: map });
  const shifted = add(trainImg, g.input(NADA_IO.shift, 'float32', []));
  const terms = spec.clips.map((c, m) => {
    const loss = directionalLoss(unitImageEmbedding(g, c.clip, shifted), unitImageEmbedding(g, c.clip, frozenImg), g.input(NADA_IO.direction(m), 'float32', [1, c.clip.config.embedDim]));
    g.output(loss, NADA_IO.modelLoss(m));
    return { value: loss, weight: c.weight };
  });
  const loss = weightedSum(terms);
  g.output(loss, NADA_IO.loss);
  grad(loss, values).forEach((d, i) => g.output(d, NADA_IO.grad(i)));
  return g;
}

/** The layer-probe graph for `batch` W+ codes (see the header). */
export function buildNadaProbe(spec: NadaGraphSpec, batch: number): Graph {
  const { config } = spec;
  const { nLatent } = synthesisShape(config);
  const g = new Graph('stylegan_nada_probe');
  const wPlus = g.input(NADA_IO.wPlus, 'float32', [batch, nLatent, config.wDim]);
  const { map } = trainableMap(g, spec);
  const img = buildSynthesis(g, wPlus, spec.start, config, noiseOf(g, spec, 'train', spec.start, batch), { trainable: map });
  const loss = weightedSum(spec.clips.map((c, m) => ({ value: globalLoss(g, c.clip, img, g.input(NADA_IO.target(m), 'float32', [1, c.clip.config.embedDim])), weight: c.weight })));
  g.output(loss, NADA_IO.loss);
  g.output(grad(loss, [wPlus])[0], NADA_IO.gradW);
  return g;
}

/**
 * The candidates' tensors in a flat vector (`offsets` per tensor) viewed in our shapes, named `name(i)`: views of
 * `flat`, not copies (26M floats at config-f). As feeds (`NADA_IO.param`, the default) onnxruntime reads them during
 * the run, and the raw values change only after; as pre-allocated outputs (`NADA_IO.grad`) it writes them.
 */
export function flatViews(inputs: readonly TrainableInput[], flat: Float32Array, offsets: readonly number[], name: (i: number) => string = NADA_IO.param): Record<string, HostTensor> {
  const views: Record<string, HostTensor> = {};
  inputs.forEach((t, i) => {
    views[name(i)] = { dtype: 'float32', shape: [...t.shape], data: flat.subarray(offsets[i], offsets[i] + numel(t.shape)) };
  });
  return views;
}
