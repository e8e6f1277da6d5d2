/**
 * What the HTTP API, the queue workers and the batch runner need from the library, as interfaces. The app takes
 * them by injection (`createApp({ editor, generator, clip, ... })`); `wiring.ts` builds the real ones from model
 * files for `styleclip serve`, `styleclip worker` and `styleclip batch`.
 */
import type { HostTensor } from '../engine/tensor.js';
import type { Pixels } from '../io/images/image.js';
import type { Prediction } from '../clip/zeroshot.js';
import type { EditCall, EditStart } from '../edit/types.js';
import type { EditorInfo } from '../edit/optimize/editor.js';

export type { EditorInfo } from '../edit/optimize/editor.js';
import type { EditOptions, EditResult } from '../edit/optimize/types.js';
import type { RgbFrame } from '../io/images/image.js';

/** The text-guided editor (`src/edit/optimize/editor.ts` `Editor`), minus its static `load`. */
export interface EditService {
  info(): EditorInfo;
  edit(start: EditStart, options: EditOptions, call?: EditCall): Promise<EditResult>;
  dispose(): void | Promise<void>;
}

/** Where a generated image comes from: a seed (z ~ N(0,1) from it), or a z / w / w+ latent. */
export type GenerateStart =
  | { readonly kind: 'seed'; readonly seed: number; readonly truncation: number }
  | { readonly kind: 'z'; readonly latent: HostTensor; readonly truncation: number }
  | { readonly kind: 'w' | 'w+'; readonly latent: HostTensor };

/** StyleGAN2 synthesis for `POST /v1/generate`. */
export interface GenerateService {
  generate(start: GenerateStart): Promise<RgbFrame>;
}

/** CLIP for `POST /v1/classify` and `POST /v1/embed`. */
export interface ClipService {
  /**
   * Zero-shot predictions per image over `labels` (all of them, most probable first) with `templates` filled in
   * (src/clip/classifier.ts: labels that read as sentences are used as written, and listed in `asWritten`).
   * RGBA: alpha is dropped as PIL's convert('RGB') does.
   */
  classify(images: readonly Pixels[], labels: readonly string[], templates: readonly string[]): Promise<{ asWritten: readonly string[]; predictions: Prediction[][] }>;
  /** Unnormalised CLIP image embeddings, one row per image. */
  embedImages(images: readonly Pixels[]): Promise<number[][]>;
  /** Unnormalised CLIP text embeddings, one row per text. */
  embedTexts(texts: readonly string[]): Promise<number[][]>;
}

/**
 * Checks that a prompt fits CLIP's context (77 tokens) before a job is queued, so the client gets a 422 at once
 * instead of a failed job later. `ClipTokenizer` satisfies it: `tokenize` throws an `InputError` when a text is
 * too long.
 */
export interface PromptTokenizer {
  tokenize(texts: string[], options?: { truncate?: boolean }): unknown;
}
