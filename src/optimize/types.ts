/**
 * The contract of a text-guided edit (StyleCLIP latent optimisation, Patashnik et al. 2021, sec. 4): what callers
 * (CLI, HTTP API, batch files, queue workers) pass in and get back. Task layers depend on these types only, never on
 * model internals.
 */
import type { HostTensor } from '../engine/tensor.js';
import type { Clip } from '../clip/clip.js';
import type { Generator } from '../generator/index.js';
import type { IdentityNet } from '../faces/identity.js';

/**
 * Latent spaces an edit can optimise in: W (Karras et al. 2019), W+ (one w per layer; Abdal et al. 2019), and
 * StyleSpace S (every layer's style vector A(w); Wu et al. 2021; StyleCLIP's --work_in_stylespace).
 */
export type LatentSpace = 'w+' | 'w' | 's';

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
  | ImageStart;

/**
 * A photo: its face is detected, FFHQ-aligned at the generator's resolution and inverted into W+ by an encoder (e4e;
 * optionally refined by projection) or by projection alone (a `PhotoLatentSource`), and the edit starts from that
 * latent with the inversion's noise maps.
 */
export interface ImageStart {
  readonly kind: 'image';
  /** The photo: a file path, or its encoded bytes (PNG, JPEG, WebP). */
  readonly path: string | Uint8Array;
  /** Which face, 0 = the largest (default). */
  readonly faceIndex?: number;
  /** Projection steps (the photo source's default when undefined); used when no encoder is configured. */
  readonly projectSteps?: number;
  /** With an encoder: projection steps that refine its code (0: the code as it is; the source's default when undefined). */
  readonly refineSteps?: number;
}

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
  /** On step 1 only: the image at the start latent (the result's `before`), so a UI can show it at once. */
  readonly before?: RgbFrame;
}

/** The photo side of an edit that started from an image. */
export interface PhotoEditResult {
  /** The face as aligned from the photo (the projection's target). */
  readonly aligned: RgbFrame;
  /** The original photo with the edited face pasted back (inverse alignment transform, feathered mask). */
  readonly pasted: RgbFrame;
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

/** One projection (GAN inversion) step; loss terms at the latent before the step's update. */
export interface ProjectionProgress {
  /** 1-based step just completed. */
  readonly step: number;
  readonly steps: number;
  readonly lr: number;
  readonly loss: number;
  /** Mean squared pixel error against the target, images in [-1,1]. */
  readonly mse: number;
  /** 1 - cos of identity embeddings (0 without an identity net). */
  readonly idLoss: number;
  /** 1 - cos of CLIP image embeddings (0 without CLIP). */
  readonly clipLoss: number;
  /** The noise maps' autocorrelation penalty (unweighted). */
  readonly noiseReg: number;
}

export interface EditHooks {
  readonly signal?: AbortSignal;
  readonly onProgress?: (p: EditProgress) => void;
  /** The latent after each step (a view, valid during the call: copy what you keep, e.g. a trajectory). */
  readonly onLatent?: (latent: Float32Array, step: number) => void;
  /** Projection steps of a photo start, before the edit's own steps. */
  readonly onProjectProgress?: (p: ProjectionProgress) => void;
}

/** A photo projected for editing. */
export interface ProjectedPhoto {
  /** w+ [1, L, D]. */
  readonly latent: HostTensor;
  /** Noise maps [1,1,r,r] in synthesis order; the edit renders with them. */
  readonly noise: readonly HostTensor[];
  readonly aligned: RgbFrame;
  /** The original photo with `face` (square, aligned frame) pasted back where the face was cut out. */
  pasteBack(face: RgbFrame): RgbFrame;
}

/** The models of the editor a photo source may use (the generator to project into, perceptual nets). */
export interface PhotoModels {
  readonly generator: Generator;
  readonly clip?: Clip;
  readonly identity?: IdentityNet;
}

/**
 * Turns photo starts into latents (src/faces `FacePhotoSource`: detect, align, project). Injected into the `Editor`,
 * which never looks at the photo itself; it loads its own models on first use.
 */
export interface PhotoLatentSource {
  project(start: ImageStart, models: PhotoModels, hooks: EditHooks): Promise<ProjectedPhoto>;
  /** Throws an InputError when the photo has no face `faceIndex` (a quick check before a job is queued). */
  checkFace?(photo: RgbFrame, faceIndex: number): Promise<void>;
  dispose(): void | Promise<void>;
}
