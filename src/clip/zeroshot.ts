/**
 * Zero-shot classification with CLIP (Radford et al. 2021, arXiv:2103.00020, §3.1.2 and §3.1.4): class names are
 * turned into prompts with a template, each image is scored against each prompt by logit_scale × cosine similarity
 * (CLIP.forward in openai/CLIP `clip/model.py`) and a softmax over the classes gives the probabilities. A prompt
 * ensemble averages the L2-normalised text embeddings of several templates per class and renormalises the mean
 * (`zeroshot_classifier` in openai/CLIP `notebooks/Prompt_Engineering_for_ImageNet.ipynb`).
 *
 * Everything here is pure host math on [rows, dim] float32 tensors (accumulated in float64).
 */
import { transpose2d, type HostTensor } from '../engine/tensor.js';
import { InputError } from '../errors.js';

/** Default template (the issue's; CLIP §3.1.4 uses "A photo of a {label}."). `{}` marks the label. */
export const DEFAULT_TEMPLATE = 'a photo of {}';
/** Placeholder for the label in a template (Python `str.format` style, as the CLIP notebooks write templates). */
export const TEMPLATE_SLOT = '{}';

export interface Logits {
  /** [images, texts] */
  readonly logitsPerImage: HostTensor;
  /** [texts, images], the transpose */
  readonly logitsPerText: HostTensor;
}

function rowsOf(t: HostTensor, what: string): [number, number] {
  if (t.shape.length !== 2) throw new Error(`${what} must be [rows, dim], got [${t.shape.join(',')}]`);
  return [t.shape[0], t.shape[1]];
}

/** Rows divided by their L2 norm (`x / x.norm(dim=1, keepdim=True)`). */
export function l2Normalize(t: HostTensor): HostTensor {
  const [n, d] = rowsOf(t, 'embeddings');
  const out = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    let ss = 0;
    for (let j = 0; j < d; j++) ss += Number(t.data[i * d + j]) ** 2;
    const inv = 1 / Math.sqrt(ss);
    for (let j = 0; j < d; j++) out[i * d + j] = Number(t.data[i * d + j]) * inv;
  }
  return { dtype: 'float32', shape: [n, d], data: out };
}

/** scale × cos(image_i, text_j) for every pair, as CLIP.forward returns logits_per_image / logits_per_text. */
export function cosineLogits(imageEmbeds: HostTensor, textEmbeds: HostTensor, scale: number): Logits {
  const [ni, d] = rowsOf(imageEmbeds, 'image embeddings');
  const [nt, dt] = rowsOf(textEmbeds, 'text embeddings');
  if (d !== dt) throw new Error(`image embeddings have ${d} dims but text embeddings ${dt}`);
  const a = l2Normalize(imageEmbeds).data as Float32Array;
  const b = l2Normalize(textEmbeds).data as Float32Array;
  const out = new Float32Array(ni * nt);
  for (let i = 0; i < ni; i++) {
    for (let j = 0; j < nt; j++) {
      let dot = 0;
      for (let k = 0; k < d; k++) dot += a[i * d + k] * b[j * d + k];
      out[i * nt + j] = scale * dot;
    }
  }
  const logitsPerImage: HostTensor = { dtype: 'float32', shape: [ni, nt], data: out };
  return { logitsPerImage, logitsPerText: transpose2d(logitsPerImage) };
}

/** Softmax of each row (max-subtracted). */
export function softmaxRows(t: HostTensor): HostTensor {
  const [n, m] = rowsOf(t, 'logits');
  const out = new Float32Array(n * m);
  for (let i = 0; i < n; i++) {
    let max = -Infinity;
    for (let j = 0; j < m; j++) max = Math.max(max, Number(t.data[i * m + j]));
    let sum = 0;
    const e = new Float64Array(m);
    for (let j = 0; j < m; j++) {
      e[j] = Math.exp(Number(t.data[i * m + j]) - max);
      sum += e[j];
    }
    for (let j = 0; j < m; j++) out[i * m + j] = e[j] / sum;
  }
  return { dtype: 'float32', shape: [n, m], data: out };
}

/** Splits "a,b,c" into trimmed, non-empty labels; an empty list is an InputError. */
export function parseLabels(list: string): string[] {
  const labels = list.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  if (labels.length === 0) throw new InputError(`the label list '${list}' is empty; pass e.g. --labels "dog,cat,diagram"`);
  return labels;
}

/** The template with every `{}` replaced by the label; templates without `{}` are an InputError. */
export function fillTemplate(template: string, label: string): string {
  if (!template.includes(TEMPLATE_SLOT)) {
    throw new InputError(`template '${template}' has no '${TEMPLATE_SLOT}' where the label goes, e.g. "a photo of {}"`);
  }
  return template.split(TEMPLATE_SLOT).join(label);
}

/** Prompts label-major: row l * templates.length + t is template t filled with label l. */
export function promptsFor(labels: readonly string[], templates: readonly string[]): string[] {
  if (labels.length === 0) throw new InputError('no labels to classify into');
  if (templates.length === 0) throw new InputError('no prompt templates given');
  return labels.flatMap((l) => templates.map((t) => fillTemplate(t, l)));
}

/**
 * Prompt ensemble: text embeddings [labels * templates, dim] (label-major, as `promptsFor`) -> one unit vector per
 * label, the renormalised mean of its normalised template embeddings.
 */
export function ensembleEmbeddings(textEmbeds: HostTensor, templates: number): HostTensor {
  const [rows] = rowsOf(textEmbeds, 'text embeddings');
  if (!Number.isInteger(templates) || templates < 1 || rows % templates !== 0) {
    throw new Error(`${rows} text embeddings do not split into groups of ${templates} templates`);
  }
  return ensembleGroups(textEmbeds, new Array<number>(rows / templates).fill(templates));
}

/** Per class the renormalised mean of its prompts' unit text embeddings (the notebook's `zeroshot_classifier`). */
export function ensembleGroups(textEmbeds: HostTensor, groups: readonly number[]): HostTensor {
  const [, d] = rowsOf(textEmbeds, 'text embeddings');
  const unit = l2Normalize(textEmbeds).data as Float32Array;
  const mean = new Float32Array(groups.length * d);
  let row = 0;
  groups.forEach((count, c) => {
    for (let t = 0; t < count; t++, row++) for (let k = 0; k < d; k++) mean[c * d + k] += unit[row * d + k] / count;
  });
  if (row !== textEmbeds.shape[0]) throw new Error(`${textEmbeds.shape[0]} text embeddings for ${row} prompts`);
  return l2Normalize({ dtype: 'float32', shape: [groups.length, d], data: mean });
}

export interface Prediction {
  readonly label: string;
  readonly prob: number;
  readonly logit: number;
}

/** Zero-shot predictions per image, most probable first: softmax over the classes of scale × cosine similarity. */
export function classify(imageEmbeds: HostTensor, classEmbeds: HostTensor, labels: readonly string[], scale: number): Prediction[][] {
  if (classEmbeds.shape[0] !== labels.length) {
    throw new Error(`${classEmbeds.shape[0]} class embeddings for ${labels.length} labels`);
  }
  const { logitsPerImage } = cosineLogits(imageEmbeds, classEmbeds, scale);
  const probs = softmaxRows(logitsPerImage);
  const m = labels.length;
  return Array.from({ length: imageEmbeds.shape[0] }, (_, i) =>
    labels
      .map((label, j) => ({ label, prob: Number(probs.data[i * m + j]), logit: Number(logitsPerImage.data[i * m + j]) }))
      .sort((a, b) => b.prob - a.prob),
  );
}
