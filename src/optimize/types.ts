/**
 * The contract of a text-guided edit (StyleCLIP latent optimisation, Patashnik et al. 2021, sec. 4): what callers
 * (CLI, HTTP API, batch files, queue workers) pass in and get back. Task layers depend on these types only, never on
 * model internals.
 */
import type { HostTensor } from '../engine/tensor.js';

/** Latent spaces an edit can optimise in (Karras et al. 2019/2020; Abdal et al. 2019 for W+). */
export type LatentSpace = 'w+' | 'w';

/**
 * How the generator's [-1,1] image reaches CLIP's 224x224 input:
 * - `styleclip`: exactly as StyleCLIP's reference code, Upsample(x7 nearest) + AvgPool(size/32), no mean/std.
 * - `normalized`: the same resampling, then [-1,1] -> [0,1] and CLIP's mean/std (what CLIP was trained on).
 */
export type ClipPreprocessMode = 'styleclip' | 'normalized';

export type NoiseMode = 'const' | 'random';

/** Where the optimisation starts. */
export type EditStart =
  | { readonly kind: 'seed'; readonly seed: number; readonly truncation: number }
  | { readonly kind: 'w+'; readonly latent: HostTensor }
  | { readonly kind: 'w'; readonly latent: HostTensor }
  | { readonly kind: 'image'; readonly path: string };

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
  readonly preprocess: ClipPreprocessMode;
  readonly noise: NoiseMode;
  /** Seed for random noise buffers. */
  readonly noiseSeed: number;
  /** Emit a preview image every k steps (0: never). */
  readonly previewEvery: number;
}

export interface RgbFrame {
  readonly width: number;
  readonly height: number;
  /** Interleaved RGB, uint8. */
  readonly data: Uint8Array;
}

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
}

export interface EditResult {
  readonly before: RgbFrame;
  readonly after: RgbFrame;
  /** The final latent, [1, n_latent, dim] for w+ (or [1, dim] for w). */
  readonly latent: HostTensor;
  /** The latent after each step, [steps, 1, n_latent, dim]. */
  readonly trajectory: HostTensor;
  readonly history: readonly EditProgress[];
}

export interface EditHooks {
  readonly signal?: AbortSignal;
  readonly onProgress?: (p: EditProgress) => void;
}
