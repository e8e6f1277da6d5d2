/**
 * The photo path of an edit: detect -> FFHQ-align at the generator's resolution (src/faces/pipeline.ts, the
 * dataset recipe of src/faces/align.ts) -> invert into W+: the e4e/pSp encoder when one is configured (./encoder.ts,
 * one pass; optionally `refineSteps` of projection from its code), else projection alone (./project.ts) -> [an edit
 * method edits] -> paste the edited face back into the photo (src/faces/paste.ts: inverse alignment transform,
 * feathered mask). `FacePhotoSource` implements `PhotoLatentSource`, so edit methods take photo starts without knowing
 * about faces; the face models and the encoder load on the first photo, not before.
 */
import { readImage, type RgbImage } from '../io/images/image.js';
import { PHOTO_INVERSIONS, type InversionHooks, type PhotoInput, type PhotoInversion, type PhotoLatentSource, type PhotoModels, type ProjectedPhoto } from './types.js';
import type { RgbFrame } from '../io/images/image.js';
import { FFHQ_TRANSFORM_SIZE } from '../faces/align.js';
import { FaceDetector } from '../faces/detect.js';
import { DEFAULT_FEATHER, pasteBack } from '../faces/paste.js';
import { AlignEngine } from '../faces/align_engine.js';
import { alignPhoto, type AlignPhotoOptions } from '../faces/pipeline.js';
import type { HostTensor } from '../engine/tensor.js';
import type { Generator } from '../generator/index.js';
import { InputError } from '../errors.js';
import { synthesisLayers } from '../generator/index.js';
import { inverterForPath, type OnePassInverter } from './one_pass.js';
import { ProjectionCancelled, Projector, type ProjectOptions } from './project.js';

/**
 * Projection steps of a photo edit when the start does not say: half of projector.py's 1000 (half the CPU time; the
 * issue's `styleclip project --steps 500`). More steps give a closer reconstruction (`--project-steps`).
 */
export const DEFAULT_PROJECT_STEPS = 500;
/**
 * QUAD-transform supersampling of the alignment for photo edits. The FFHQ recipe renders its 1024 px release at 4096
 * (4x, `styleclip align` keeps that); photo edits render at 2x the generator's resolution, 3.4x less work for a crop
 * 54.8-55.7 dB PSNR from the recipe's on FFHQ photos at 1024 (52.3-53.8 dB at 256; measured with the real detector,
 * test/faces/align.test.ts checks the bound): invisible, and 0.9 s less per 1024 px photo.
 */
export const ALIGN_SUPERSAMPLING = 2;

/**
 * How photo edits (and `styleclip invert`, so its codes are the edits' "before") align a face for a generator of
 * resolution `size`: at ALIGN_SUPERSAMPLING, the blur and resize on `engine` (src/faces/align_engine.ts).
 */
export function photoAlignOptions(size: number, engine: AlignEngine, faceIndex?: number): AlignPhotoOptions {
  return { size, transformSize: Math.min(FFHQ_TRANSFORM_SIZE, size * ALIGN_SUPERSAMPLING), faceIndex, engine };
}

/** Refinement steps after the encoder when the start does not say: none (e4e's code as it is, the fast path). */
export const DEFAULT_REFINE_STEPS = 0;

export interface FacePhotoOptions {
  /**
   * An e4e/pSp or HyperStyle checkpoint: photos are inverted in one pass (HyperStyle: a few, with weight offsets the
   * edit renders with) instead of projected; it must fit the edit's generator.
   */
  readonly encoder?: string;
  /**
   * A second one-pass checkpoint for photos that ask for `inversion: 'faithful'` (HyperStyle), beside `encoder` for
   * 'fast' (e4e): a server offers both and each photo picks.
   */
  readonly faithfulEncoder?: string;
  /** HyperStyle's W encoder (default: found as hyperstyle.ts `wEncoderFor` says). */
  readonly wEncoder?: string;
  /** Face models directory (see ./models.ts; default $STYLECLIP_FACE_MODELS, then the model cache). */
  readonly modelsDir?: string;
  /** Projection settings other than the step count (the start's `projectSteps`, else DEFAULT_PROJECT_STEPS). */
  readonly projection?: Partial<Omit<ProjectOptions, 'steps'>>;
  /** Paste-back feather width, a fraction of the crop side. */
  readonly feather?: number;
  /**
   * A process that inverts one photo (a CLI edit): the detector, aligner, encoder and projector are released as soon
   * as the photo's latent is found, so the edit's rendering does not run beside them and the peak memory is the
   * larger stage's instead of their sum (e4e's 1.07 GB of weights leave before the 1024 px synthesis runs).
   */
  readonly singlePhoto?: boolean;
}

/** What each inversion needs loaded, for error lines. */
const MODEL_OF: Readonly<Record<PhotoInversion, string>> = { fast: 'an e4e/pSp encoder (e4e-ffhq)', faithful: 'a HyperStyle model (hyperstyle-ffhq)' };

const frame = (img: RgbImage): RgbFrame => ({ width: img.width, height: img.height, data: img.data });
const rgb = (f: RgbFrame): RgbImage => ({ width: f.width, height: f.height, channels: 3, data: f.data });

export class FacePhotoSource implements PhotoLatentSource {
  private detector?: Promise<FaceDetector>;
  /** The alignment's blur and resize on the engine (src/faces/align_engine.ts). */
  private readonly aligner = new AlignEngine();
  private cached?: { readonly models: PhotoModels; readonly projector: Projector };
  private readonly encoders = new Map<PhotoInversion, { readonly generator: PhotoModels['generator']; readonly encoder: Promise<OnePassInverter> }>();

  constructor(readonly options: FacePhotoOptions = {}) {}

  async project(start: PhotoInput, models: PhotoModels, hooks: InversionHooks = {}): Promise<ProjectedPhoto> {
    const slot = this.slotOf(start);
    // The encoder loads (its compiled session opened and digest-checked) while the face is found and aligned.
    const loading = slot ? this.encoder(models, slot).then(async (inv) => (await inv.prepare(), inv)) : undefined;
    loading?.catch(() => undefined);
    const photo = await readImage(start.path);
    const detector = await this.faceDetector();
    const size = models.generator.config.resolution;
    const aligned = await alignPhoto(detector, photo, photoAlignOptions(size, this.aligner, start.faceIndex));
    if (hooks.signal?.aborted) throw new ProjectionCancelled('projection cancelled');
    const projectHooks = { signal: hooks.signal, onProgress: hooks.onProjectProgress };
    let res: { latent: HostTensor; noise: readonly HostTensor[]; generator?: Generator };
    if (slot && loading) {
      const inverter = await loading;
      if (inverter.domain !== 'faces') throw new InputError(`${this.pathOf(slot)} is a HyperStyle model of ${inverter.domain}; photo edits detect and align faces: give a face model (hyperstyle-ffhq), or invert ${inverter.domain} images with 'styleclip invert --aligned'`);
      const kind: PhotoInversion = inverter.kind === 'hyperstyle' ? 'faithful' : 'fast';
      if (start.inversion && start.inversion !== kind) throw new InputError(`photo inversion '${start.inversion}' needs ${MODEL_OF[start.inversion]}; the loaded encoder is ${inverter.kind}`);
      const refine = start.refineSteps ?? DEFAULT_REFINE_STEPS;
      if (refine > 0 && inverter.kind === 'hyperstyle') throw new InputError('refinement steps refine an e4e/pSp code; HyperStyle refines by its iterations (give iterations instead)');
      const [inv] = await inverter.invertFaces([aligned.image], { iterations: start.iterations });
      const noise = storedNoise(models.generator);
      res = refine > 0 ? await (await this.projector(models)).project(aligned.image, { ...this.options.projection, steps: refine }, projectHooks, { latent: inv.latent, noise }) : { latent: inv.latent, noise };
      if (inv.offsets) res = { ...res, generator: (models.domain ?? models.generator).withOffsets(inv.offsets) };
    } else {
      if (start.iterations !== undefined) throw new InputError('iterations apply to HyperStyle inversion: give a HyperStyle encoder (hyperstyle-ffhq)');
      const steps = start.projectSteps ?? DEFAULT_PROJECT_STEPS;
      res = await (await this.projector(models)).project(aligned.image, { ...this.options.projection, steps }, projectHooks);
    }
    if (this.options.singlePhoto) await this.dispose();
    const feather = this.options.feather ?? DEFAULT_FEATHER;
    return {
      latent: res.latent,
      noise: res.noise,
      aligned: frame(aligned.image),
      faces: aligned.faces,
      pasteBack: (face) => frame(pasteBack(photo, rgb(face), aligned.quad, feather)),
      generator: res.generator,
    };
  }

  /** Detects the faces of a photo and checks that face `faceIndex` exists (no alignment, no inversion). */
  async checkFace(photo: RgbFrame, faceIndex: number): Promise<void> {
    await (await this.faceDetector()).detectOne(rgb(photo), faceIndex);
  }

  /** The inversions this source offers: 'fast' with `encoder`, 'faithful' with `faithfulEncoder` (projection: none). */
  get inversions(): PhotoInversion[] {
    return PHOTO_INVERSIONS.filter((c) => this.pathOf(c) !== undefined);
  }

  /** Whether `project` optimises for this photo (no encoder for it, or refinement steps), and so uses CLIP. */
  projects(start: PhotoInput): boolean {
    try {
      return this.slotOf(start) === undefined || (start.refineSteps ?? DEFAULT_REFINE_STEPS) > 0;
    } catch {
      return true; // the error is the project call's to give
    }
  }

  /**
   * Which loaded checkpoint a photo uses: the one for its choice; with a single one-pass checkpoint, that one (its kind
   * is checked against the choice once loaded: 'faithful' is HyperStyle); without a choice, 'fast' when offered.
   */
  private slotOf(start: PhotoInput): PhotoInversion | undefined {
    const offered = this.inversions;
    if (start.inversion === undefined || offered.length === 0) {
      if (start.inversion !== undefined) throw new InputError(`photo inversion '${start.inversion}' needs a one-pass model here: photos are projected (load ${MODEL_OF[start.inversion]})`);
      return offered[0];
    }
    if (this.pathOf(start.inversion) || offered.length === 1) return this.pathOf(start.inversion) ? start.inversion : offered[0];
    throw new InputError(`photo inversion '${start.inversion}' is not available here (available: ${offered.join(', ')}); load ${MODEL_OF[start.inversion]}`);
  }

  private pathOf(c: PhotoInversion): string | undefined {
    return c === 'fast' ? this.options.encoder : this.options.faithfulEncoder;
  }

  /** Loads and checks the encoders for `generator` now (a server does it at start-up); photos then reuse them. */
  async loadEncoder(generator: PhotoModels['generator']): Promise<void> {
    for (const c of this.inversions) await this.encoder({ generator }, c);
  }

  /** The inverter over the edit's generator (loaded once per generator and choice; its style count must fit). */
  private encoder(models: PhotoModels, choice: PhotoInversion): Promise<OnePassInverter> {
    const c = this.encoders.get(choice);
    if (c && c.generator === models.generator) return c.encoder;
    const path = this.pathOf(choice)!;
    const encoder = inverterForPath(path, models.generator, { wEncoder: this.options.wEncoder });
    encoder.catch(() => this.encoders.delete(choice));
    this.encoders.set(choice, { generator: models.generator, encoder });
    void c?.encoder.then((e) => e.dispose()).catch(() => undefined);
    return encoder;
  }

  async dispose(): Promise<void> {
    await Promise.all([...this.encoders.values()].map((c) => c.encoder.then((e) => e.dispose()).catch(() => undefined)));
    this.encoders.clear();
    const detector = this.detector;
    this.detector = undefined;
    await this.cached?.projector.dispose();
    this.cached = undefined;
    await (await detector?.catch(() => undefined))?.dispose();
    await this.aligner.dispose();
  }

  private faceDetector(): Promise<FaceDetector> {
    if (!this.detector) {
      const loading = FaceDetector.load(this.options.modelsDir);
      loading.catch(() => (this.detector = undefined));
      this.detector = loading;
    }
    return this.detector;
  }

  /** One projector (and its sessions) per set of models, reused across photos. */
  private async projector(models: PhotoModels): Promise<Projector> {
    const c = this.cached;
    if (c && c.models.generator === models.generator && c.models.clip === models.clip && c.models.identity === models.identity) return c.projector;
    await c?.projector.dispose();
    const projector = new Projector(models.generator, { clip: models.clip, identity: models.identity });
    this.cached = { models, projector };
    return projector;
  }
}

/** The generator's stored noise maps [1,1,r,r] in synthesis order: what e4e renders its codes with. */
function storedNoise(generator: Generator): HostTensor[] {
  return synthesisLayers(generator.config)
    .filter((l) => l.kind !== 'torgb')
    .map((l) => {
      const t = generator.weights.get(`${l.name}.noise_const`)!;
      return { ...t, shape: [1, 1, l.res, l.res] };
    });
}
