/**
 * Text -> StyleSpace direction (Patashnik et al. 2021, sec. 6; global_torch/StyleCLIP.py `GetDt`, `GetBoundary`,
 * `SplitS`, `MSCode`):
 *
 *   t(text) = unit(mean over templates of unit(encode_text(template.format(text))))       (79 ImageNet templates)
 *   dt      = unit(t(target) - t(neutral))
 *   r       = fs3 . dt                          relevance of each covered conv channel (eq. 5-6 of the paper)
 *   ds      = r / max|r| * std, with |r| < beta set to 0                (per channel; ToRGB and uncovered: 0)
 *   s'      = s + alpha * ds
 */
import type { Clip } from '../../clip/clip.js';
import { STYLECLIP_IMAGENET_TEMPLATES } from '../../clip/templates.js';
import type { ClipTokenizer } from '../../clip/tokenizer.js';
import { ensembleEmbeddings, promptsFor } from '../../clip/zeroshot.js';
import { InputError } from '../../errors.js';
import type { OptionSet } from '../options.js';
import { interpretInstruction, type Interpretation } from '../instruction.js';
import type { StyleSpaceLayout } from '../../generator/index.js';
import type { ChannelDirections } from './fs3.js';
import type { StyleStats } from './stats.js';

/** StyleCLIP's GUI defaults and slider ranges (global_torch/StyleCLIP.py, the notebook's `beta`/`alpha` widgets). */
export const GLOBAL_DEFAULTS = Object.freeze({ alpha: 4.1, beta: 0.15, neutral: 'face' });
export const ALPHA_RANGE = Object.freeze([-10, 10] as const);
/** The notebook's slider spans 0.08..0.3; any beta in (0, 1) is meaningful (|r| <= 1 for unit vectors). */
export const BETA_RANGE = Object.freeze([0, 1] as const);

/** The options of a global-direction edit (per stacked edit); see src/edit/options.ts. */
export const GLOBAL_OPTION_SPECS = Object.freeze({
  alpha: { kind: 'number', min: ALPHA_RANGE[0], max: ALPHA_RANGE[1], flag: 'alpha', field: 'alpha', perEdit: true, help: 'strength of the edit (StyleCLIP: 4.1)' },
  beta: { kind: 'number', min: BETA_RANGE[0], max: BETA_RANGE[1], flag: 'beta', field: 'beta', perEdit: true, help: 'keeps the channels whose relevance >= beta (StyleCLIP: 0.15)' },
} as const satisfies OptionSet);

/** One text edit: a prompt (and its neutral text) at strength alpha, keeping channels with relevance >= beta. */
export interface DirectionEdit {
  readonly prompt: string;
  readonly neutral?: string;
  readonly alpha?: number;
  readonly beta?: number;
}

/**
 * A stacked edit as typed (an instruction or a description, src/edit/instruction.ts) -> the edit global directions
 * run: the target text, the neutral one (an explicit neutral wins), alpha times the reading's sign (removals move
 * against target - neutral), beta; with the reading, to report how the sentence was read.
 */
export function readDirectionEdit(e: DirectionEdit): { edit: Required<DirectionEdit>; interpreted: Interpretation } {
  const interpreted = interpretInstruction(e.prompt, e.neutral, GLOBAL_DEFAULTS.neutral);
  const alpha = (e.alpha ?? GLOBAL_DEFAULTS.alpha) * interpreted.alphaSign;
  return { edit: { prompt: interpreted.target, neutral: interpreted.neutral, alpha, beta: e.beta ?? GLOBAL_DEFAULTS.beta }, interpreted };
}

/** t(text): the unit mean of the unit text embeddings of the 79 templates filled with `text`, [embedDim]. */
export async function templateEnsemble(clip: Clip, tokenizer: ClipTokenizer, text: string): Promise<Float32Array> {
  if (text.trim() === '') throw new InputError('the text is empty; describe the edit, e.g. "face with red hair" (and the neutral text, e.g. "face")');
  const prompts = promptsFor([text], STYLECLIP_IMAGENET_TEMPLATES);
  return ensembleEmbeddings(await clip.encodeText(tokenizer.tokenize(prompts)), STYLECLIP_IMAGENET_TEMPLATES.length).data as Float32Array;
}

/** dt = unit(t(target) - t(neutral)) (GetDt); an error when the two texts embed alike. */
export function textDirection(target: Float32Array, neutral: Float32Array, names: readonly [string, string]): Float32Array {
  const diff = Float64Array.from(target, (v, i) => v - neutral[i]);
  const norm = Math.hypot(...diff);
  if (!(norm > 0)) throw new InputError(`the prompt '${names[0]}' and the neutral text '${names[1]}' give the same CLIP embedding; make them differ`);
  return Float32Array.from(diff, (v) => v / norm);
}

/** Relevance of every covered channel to `dt`: fs3 @ dt, [covered]. */
export function relevance(fs3: ChannelDirections, dt: Float32Array): Float32Array {
  if (dt.length !== fs3.dim) throw new Error(`direction has ${dt.length} dims, fs3 rows ${fs3.dim}`);
  const r = new Float32Array(fs3.count);
  for (let k = 0; k < fs3.count; k++) {
    let s = 0;
    for (let j = 0; j < fs3.dim; j++) s += fs3.rows[k * fs3.dim + j] * dt[j];
    r[k] = s;
  }
  return r;
}

export interface Boundary {
  /** ds over the whole S vector (layout order): covered channels r / max|r| * std, others 0. */
  readonly ds: Float32Array;
  /** r / max|r| with |r| < beta zeroed, over the covered channels (GetBoundary's `ds_imp`). */
  readonly dsImp: Float32Array;
  /** Channels with |r| >= beta. */
  readonly kept: number;
  readonly maxRelevance: number;
}

/** GetBoundary + SplitS for one beta; an error naming the largest |r| when beta keeps no channel. */
export function boundary(relevances: Float32Array, fs3: ChannelDirections, stats: StyleStats, layout: StyleSpaceLayout, beta: number): Boundary {
  let max = 0;
  for (const v of relevances) max = Math.max(max, Math.abs(v));
  const dsImp = new Float32Array(relevances.length);
  let kept = 0;
  for (let k = 0; k < relevances.length; k++) {
    if (Math.abs(relevances[k]) < beta) continue;
    dsImp[k] = relevances[k] / max;
    kept++;
  }
  if (kept === 0) {
    throw new InputError(`beta ${beta} keeps no channel: the largest channel relevance for this prompt is ${max.toFixed(4)}; choose beta below it`);
  }
  const ds = new Float32Array(layout.total);
  let k = 0;
  for (const l of fs3.layers) {
    for (let c = 0; c < l.channels; c++, k++) ds[l.offset + c] = dsImp[k] * stats.std[l.offset + c];
  }
  return { ds, dsImp, kept, maxRelevance: max };
}

/** s' = s + sum_k alpha_k * ds_k for every row of S codes [N, total] (MSCode, stacked). */
export function applyDirections(codes: Float32Array, total: number, edits: readonly { readonly ds: Float32Array; readonly alpha: number }[]): Float32Array {
  const out = Float32Array.from(codes);
  for (let i = 0; i < out.length; i += total) {
    for (const { ds, alpha } of edits) for (let c = 0; c < total; c++) if (ds[c] !== 0) out[i + c] = Math.fround(out[i + c] + Math.fround(alpha * ds[c]));
  }
  return out;
}
