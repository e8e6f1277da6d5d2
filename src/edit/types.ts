/**
 * The contract every edit method shares (StyleCLIP optimisation, global directions, latent mappers, ...): where an
 * edit starts, the hooks it reports through, what it returns, and the photo source photo starts go through. Every
 * method's call has the same shape, `edit(start, settings, { photos, hooks, signal })`. Task layers (jobs, server,
 * CLI) depend on these types only, never on model internals.
 */
import type { HostTensor } from '../engine/tensor.js';
import type { Generator } from '../generator/index.js';
import type { RgbFrame } from '../io/images/image.js';
import type { InversionHooks, PhotoInput, PhotoLatentSource } from '../invert/types.js';

export type { PhotoLatentSource, PhotoModels, ProjectedPhoto, ProjectionProgress } from '../invert/types.js';
export type { RgbFrame } from '../io/images/image.js';

/**
 * A photo: its face is detected, FFHQ-aligned at the generator's resolution and inverted into W+ (an encoder,
 * optionally refined by projection, or projection alone), and the edit starts from that latent with the
 * inversion's noise maps.
 */
export interface ImageStart extends PhotoInput {
  readonly kind: 'image';
}

/** Where an edit starts. */
export type EditStart =
  | { readonly kind: 'seed'; readonly seed: number; readonly truncation: number }
  | { readonly kind: 'w+'; readonly latent: HostTensor }
  | { readonly kind: 'w'; readonly latent: HostTensor }
  | ImageStart;

/** One step of an iterative edit. */
export interface EditProgress {
  /** 1-based step just completed. */
  readonly step: number;
  readonly steps: number;
  readonly lr: number;
  /** Total loss and its terms at the latent before this step's update. */
  readonly loss: number;
  readonly clipLoss: number;
  readonly l2Loss: number;
  readonly idLoss: number;
  readonly preview?: RgbFrame;
  /** On step 1 only: the image at the start latent (the result's `before`), so a UI can show it at once. */
  readonly before?: RgbFrame;
}

/** What an edit reports while it runs (the photo inversion's projection steps included). */
export interface EditHooks extends Omit<InversionHooks, 'signal'> {
  readonly onProgress?: (p: EditProgress) => void;
  /** The latent after each step (a view, valid during the call: copy what you keep, e.g. a trajectory). */
  readonly onLatent?: (latent: Float32Array, step: number) => void;
}

/** The third argument of every method's `edit`. */
export interface EditCall {
  /** Turns photo starts into latents (src/invert `FacePhotoSource`); photo starts are refused without it. */
  readonly photos?: PhotoLatentSource;
  readonly hooks?: EditHooks;
  /** Aborts the edit (the method throws its `Cancelled` error; nothing is written). */
  readonly signal?: AbortSignal;
  /**
   * A StyleGAN-NADA domain (src/edit/nada): a fine-tuned copy of the models' generator to render the edit with, the
   * start still found with the models' generator (Gal et al. 2022 sec. 5: inverted photos rendered by the adapted
   * generator). With HyperStyle, the photo's weight offsets are applied to the domain (HyperStyle sec. 5.3).
   */
  readonly domain?: Generator;
  /**
   * One-pass methods (global directions, mappers): render the start too (`before`; default true). The CLI asks only
   * when an output shows it (`--compare`): at 1024 px it is a second synthesis.
   */
  readonly before?: boolean;
}

/** The photo side of an edit that started from an image. */
export interface PhotoEditResult {
  /** The face as aligned from the photo (the inversion's target). */
  readonly aligned: RgbFrame;
  /** The original photo with the edited face pasted back (inverse alignment transform, feathered mask). */
  readonly pasted: RgbFrame;
  /** Faces found in the photo. */
  readonly faces?: number;
}
