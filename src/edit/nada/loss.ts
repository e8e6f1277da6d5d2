/**
 * StyleGAN-NADA's CLIP losses (Gal et al. 2022, sec. 4.1; rinongal/StyleGAN-nada ZSSGAN/criteria/clip_loss.py).
 *
 * Directional loss (eq. 2-3), `clip_directional_loss` with the default lambda_direction 1 and the other terms 0:
 *   dT = unit(mean_t (unit(E_T(t(target))) - unit(E_T(t(source)))))   over the 79 ImageNet templates t
 *   dI = unit(unit(E_I(G_train(w))) - unit(E_I(G_frozen(w))))
 *   L  = mean over the batch of 1 - cos(dI, dT)
 * summed over the CLIP models with their weights (ZSSGAN.forward). Global loss (the layer probe's, `global_clip_loss`):
 *   1 - logit_scale · cos(unit(E_I(G(w))), unit(E_T(target))) / 100, batch mean, raw target text (no templates).
 *
 * Image input (`CLIPLoss.preprocess`): [-1,1] -> [0,1] (Normalize(-1, 2)), Resize(R, bicubic) + CenterCrop(R) on the
 * tensor, CLIP mean/std: `clipInput` mode `normalized`, resampling `tensor-bicubic` (clip/preprocess_graph.ts).
 * The official code runs CLIP in float16 on a GPU (`clip.load` on cuda); here it is float32, as on the official CPU path.
 */
import type { Clip } from '../../clip/clip.js';
import { clipInput } from '../../clip/preprocess_graph.js';
import type { ClipTokenizer } from '../../clip/tokenizer.js';
import { STYLECLIP_IMAGENET_TEMPLATES } from '../../clip/templates.js';
import { l2Normalize } from '../../clip/zeroshot.js';
import type { Graph, Value } from '../../engine/graph.js';
import { add, div, mul, normalizeRows, reduceSum, sub } from '../../engine/ops_math.js';
import type { HostTensor } from '../../engine/tensor.js';
import { clipLoss } from '../../optimize/losses.js';

/** One CLIP model of the loss, by the name it was given, with its weight (`--clip_model_weights`). */
export interface NadaClip {
  readonly name: string;
  readonly clip: Clip;
  readonly weight: number;
}

/**
 * ZSSGAN/utils/text_templates.py `imagenet_templates`: the same 79 templates, in the same order, as StyleCLIP's list
 * (openai/CLIP's 80 without "a photo of many {}.").
 */
export const NADA_TEMPLATES = STYLECLIP_IMAGENET_TEMPLATES;

/**
 * The official fallback when the edit direction is exactly zero (twin generators at the first step): the target image
 * is encoded again as `target_img + 1e-6` (clip_loss.py `clip_directional_loss`).
 */
export const ZERO_DIRECTION_SHIFT = 1e-6;

/** `CLIPLoss.preprocess` of generator images x [N,3,H,W] in [-1,1] (see the header): [N,3,R,R]. */
const nadaPixels = (clip: Clip, x: Value): Value => clipInput(x, { mode: 'normalized', resample: 'tensor-bicubic', size: clip.config.imageResolution });

/** unit(E_I(preprocess(x))) for generator images x [N,3,H,W] in [-1,1]: [N, E]. */
export function unitImageEmbedding(g: Graph, clip: Clip, x: Value): Value {
  return normalizeRows(clip.imageEncoder(g, nadaPixels(clip, x)));
}

/** mean over the batch of 1 - cos(unit(train - frozen), textDir) for unit embeddings [N, E] and a unit text direction [1, E]. */
export function directionalLoss(train: Value, frozen: Value, textDir: Value): Value {
  const cos = reduceSum(mul(normalizeRows(sub(train, frozen)), textDir), [1]); // [N]
  return sub(1, div(reduceSum(cos), train.shape[0])); // []
}

/** The probe's global loss of one CLIP model: 1 - logits / 100, batch mean (optimize/losses.ts `clipLoss`). */
export function globalLoss(g: Graph, clip: Clip, x: Value, targetUnit: Value): Value {
  return clipLoss(clip.imageEncoder(g, nadaPixels(clip, x)), targetUnit, clip.config.logitScale);
}

/** sum_m weight_m · value_m of scalar terms (the losses of several CLIP models). */
export function weightedSum(terms: readonly { readonly value: Value; readonly weight: number }[]): Value {
  return terms.map((t) => mul(t.value, t.weight)).reduce((a, b) => add(a, b));
}

/** The unit text embeddings of every template filled with `text`: [T, E]. */
async function templateEmbeddings(clip: Clip, tokenizer: ClipTokenizer, text: string): Promise<HostTensor> {
  return l2Normalize(await clip.encodeText(tokenizer.tokenize(NADA_TEMPLATES.map((t) => t.replace('{}', text)))));
}

/** `compute_text_direction`: dT [1, E] (see the header). */
export async function textDirection(clip: Clip, tokenizer: ClipTokenizer, source: string, target: string): Promise<HostTensor> {
  const [s, t] = await Promise.all([templateEmbeddings(clip, tokenizer, source), templateEmbeddings(clip, tokenizer, target)]);
  const [n, e] = s.shape;
  const mean = new Float32Array(e);
  for (let i = 0; i < n; i++) for (let j = 0; j < e; j++) mean[j] += (t.data as Float32Array)[i * e + j] - (s.data as Float32Array)[i * e + j];
  for (let j = 0; j < e; j++) mean[j] /= n;
  return l2Normalize({ dtype: 'float32', shape: [1, e], data: mean });
}

/** The unit embedding of the raw target text (the probe's), [1, E]. */
export async function targetEmbedding(clip: Clip, tokenizer: ClipTokenizer, target: string): Promise<HostTensor> {
  return l2Normalize(await clip.encodeText(tokenizer.tokenize([target])));
}
