/**
 * The optimisation method's own settings and result (StyleCLIP latent optimisation, Patashnik et al. 2021, sec. 4);
 * the contract it shares with the other methods is src/edit/types.ts.
 */
import type { ClipInputMode } from '../../clip/preprocess_graph.js';
import type { HostTensor } from '../../engine/tensor.js';
import type { NoiseMode } from '../../generator/index.js';
import type { EditProgress, PhotoEditResult, RgbFrame } from '../types.js';

/**
 * Latent spaces an edit can optimise in: W (Karras et al. 2019), W+ (one w per layer; Abdal et al. 2019), and
 * StyleSpace S (every layer's style vector A(w); Wu et al. 2021; StyleCLIP's --work_in_stylespace).
 */
export type LatentSpace = 'w+' | 'w' | 's';

export interface EditOptions {
  readonly prompt: string;
  readonly steps: number;
  readonly lr: number;
  /** Weight of sum((w - w0)^2). */
  readonly l2: number;
  /** Weight of 1 - cos(ID(G(w)), ID(G(w0))). */
  readonly id: number;
  readonly space: LatentSpace;
  /** W+ layers to optimise (inclusive range); all when undefined. */
  readonly layers?: readonly [number, number];
  /**
   * How the generator's [-1,1] image reaches CLIP's input: `styleclip` exactly as StyleCLIP's reference code
   * (resampled, no mean/std), `normalized` the same resampling then CLIP's mean/std (what CLIP was trained on).
   */
  readonly preprocess: ClipInputMode;
  readonly noise: NoiseMode;
  /** Seed for random noise buffers. */
  readonly noiseSeed: number;
  /** Emit a preview image every k steps (0: never). */
  readonly previewEvery: number;
}

export interface EditResult {
  /** G(start latent); for a photo, its projection's reconstruction. */
  readonly before: RgbFrame;
  readonly after: RgbFrame;
  /** The final latent, [1, n_latent, dim] for w+ (or [1, dim] for w, [1, S] for s). */
  readonly latent: HostTensor;
  /** Loss terms of every step (no frames: previews reach `onProgress` only, so nothing large is retained). */
  readonly history: readonly EditProgress[];
  /** Present when the edit started from a photo. */
  readonly photo?: PhotoEditResult;
}
