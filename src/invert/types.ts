/**
 * The inversion contract: a photo in, a latent (and the noise maps it renders with) out. Edit methods receive a
 * `PhotoLatentSource` (src/edit/types.ts names it in the edit contract); src/invert implements it
 * (`FacePhotoSource`: detect, align, invert by an encoder and/or projection).
 */
import type { Clip } from '../clip/clip.js';
import type { HostTensor } from '../engine/tensor.js';
import type { IdentityNet } from '../faces/identity.js';
import type { Generator } from '../generator/index.js';
import type { RgbFrame } from '../io/images/image.js';

/** One-pass photo inversions a source may offer: e4e ('fast', one pass) and HyperStyle ('faithful', a few passes). */
export const PHOTO_INVERSIONS = ['fast', 'faithful'] as const;
export type PhotoInversion = (typeof PHOTO_INVERSIONS)[number];

/** A photo to invert: which file, which face, how much projection. */
export interface PhotoInput {
  /** The photo: a file path, or its encoded bytes (PNG, JPEG, WebP). */
  readonly path: string | Uint8Array;
  /** Which face, 0 = the largest (default). */
  readonly faceIndex?: number;
  /** Projection steps (the photo source's default when undefined); used when no encoder is configured. */
  readonly projectSteps?: number;
  /** With an encoder: projection steps that refine its code (0: the code as it is; the source's default when undefined). */
  readonly refineSteps?: number;
  /** With a HyperStyle encoder: its passes (hyperstyle.ts DEFAULT_ITERATIONS when undefined). */
  readonly iterations?: number;
  /** Which one-pass inversion, when the source offers both (default: 'fast' when offered). */
  readonly inversion?: PhotoInversion;
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

export interface InversionHooks {
  readonly signal?: AbortSignal;
  /** Projection steps, when the inversion projects. */
  readonly onProjectProgress?: (p: ProjectionProgress) => void;
}

/** A photo inverted for editing. */
export interface ProjectedPhoto {
  /** w+ [1, L, D]. */
  readonly latent: HostTensor;
  /** Noise maps [1,1,r,r] in synthesis order; the edit renders with them. */
  readonly noise: readonly HostTensor[];
  readonly aligned: RgbFrame;
  /** Faces found in the photo (the one edited is `faceIndex` of them, 0 = the largest). */
  readonly faces?: number;
  /** The original photo with `face` (square, aligned frame) pasted back where the face was cut out. */
  pasteBack(face: RgbFrame): RgbFrame;
  /**
   * The generator this photo renders with when the inversion adapted it (HyperStyle: the edit's generator with the
   * photo's weight offsets, held fixed while the latent moves). Whoever called `project` owns it and disposes it.
   */
  readonly generator?: Generator;
}

/** The models of the editor a photo source may use (the generator to project into, perceptual nets). */
export interface PhotoModels {
  readonly generator: Generator;
  /** The generator the photo will render with when it is not `generator` (a StyleGAN-NADA domain): HyperStyle's offsets go on it. */
  readonly domain?: Generator;
  readonly clip?: Clip;
  readonly identity?: IdentityNet;
}

/** Turns photos into latents; loads its own models on first use. */
export interface PhotoLatentSource {
  project(photo: PhotoInput, models: PhotoModels, hooks: InversionHooks): Promise<ProjectedPhoto>;
  /** Throws an InputError when the photo has no face `faceIndex` (a quick check before a job is queued). */
  checkFace?(photo: RgbFrame, faceIndex: number): Promise<void>;
  /** Whether `project` will optimise (and so use `models.clip`) for this photo; callers may skip loading CLIP. */
  projects?(photo: PhotoInput): boolean;
  dispose(): void | Promise<void>;
}
