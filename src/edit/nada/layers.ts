/**
 * Which parts of the generator StyleGAN-NADA trains (Gal et al. 2022, sec. 4.2 "layer-freezing"), in rosinality
 * module names, as rinongal/StyleGAN-nada ZSSGAN/model/ZSSGAN.py picks them:
 *
 * - `default` (`get_training_layers(phase=None)`, l.160-162): `input`, `conv1` and every `convs.*`; the mapping
 *   network and the ToRGB layers stay frozen.
 * - `auto:K` (`determine_opt_layers`, l.323-368): each step, a probe optimises W+ codes of a few samples towards the
 *   target text and the K W+ rows that moved most choose the modules: row 0 -> `conv1`, row 1 -> `to_rgb1`, row i ->
 *   `convs.{i-2}` (`all_layers[2:4] + conv_layers`: the official list, although row i styles `convs.{i-1}`; the
 *   quirk is reproduced). The constant input and `to_rgbs.*` are never chosen.
 *
 * A module trains every parameter under it (`requires_grad(layer, True)`), modulation included. Buffers (the noise
 * maps `noises.*` and the FIR `*.kernel`s, model.py `register_buffer`) never train.
 */
import { InputError } from '../../errors.js';

/** `--layers`: the official default set, or `auto:K` adaptive selection of K modules per step. */
export type LayerChoice = { readonly kind: 'default' } | { readonly kind: 'auto'; readonly k: number };

/** Number of styled convolutions `convs.*` of a generator with `nLatent` W+ rows (model.py: 2 per block above 4 px). */
const convCount = (nLatent: number): number => nLatent - 2;

/** The modules the official default phase trains. */
export function defaultModules(nLatent: number): string[] {
  return ['input', 'conv1', ...Array.from({ length: convCount(nLatent) }, (_, i) => `convs.${i}`)];
}

/** The modules adaptive selection can choose: row i's module for i = 0 .. nLatent-1. */
export function autoModules(nLatent: number): string[] {
  return Array.from({ length: nLatent }, (_, i) => moduleOfRow(i));
}

/** The module W+ row `i` chooses in adaptive selection (see the header). */
export function moduleOfRow(i: number): string {
  if (i === 0) return 'conv1';
  if (i === 1) return 'to_rgb1';
  return `convs.${i - 2}`;
}

/** Modules that may train in a run with this choice. */
export function candidateModules(choice: LayerChoice, nLatent: number): string[] {
  return choice.kind === 'default' ? defaultModules(nLatent) : autoModules(nLatent);
}

/** Whether a g_ema key is a buffer (never trained). */
export const isBuffer = (key: string): boolean => key.startsWith('noises.') || key.endsWith('.kernel');

/** The g_ema parameter keys under `module`, in state-dict order. */
export function moduleKeys(module: string, keys: readonly string[]): string[] {
  return keys.filter((k) => (k === module || k.startsWith(`${module}.`)) && !isBuffer(k));
}

/** Parses `--layers default | auto:K` against a generator with `nLatent` W+ rows. */
export function parseLayerChoice(text: string, nLatent: number): LayerChoice {
  if (text === 'default') return { kind: 'default' };
  const m = /^auto:(\d+)$/.exec(text);
  if (!m) throw new InputError(`--layers ${text}: use 'default' or 'auto:K' (K = 1 .. ${nLatent}, the W+ rows)`);
  const k = Number(m[1]);
  if (k < 1 || k > nLatent) throw new InputError(`--layers ${text}: this generator has ${nLatent} W+ rows, so K must be 1 .. ${nLatent}`);
  return { kind: 'auto', k };
}

/**
 * The K rows with the largest score, as `torch.topk(scores, k)[1]` (ties: the lower index first), and their modules.
 * `scores[i]` = mean |w_i - w_i(0)| over the probe's samples and dims.
 */
export function chooseModules(scores: ArrayLike<number>, k: number): string[] {
  const order = Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => scores[b] - scores[a] || a - b);
  return order.slice(0, k).map(moduleOfRow);
}
