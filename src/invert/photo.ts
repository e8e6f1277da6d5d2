/**
 * The photo path of an edit: detect -> FFHQ-align at the generator's resolution (src/faces/pipeline.ts, the
 * dataset recipe of src/faces/align.ts) -> project into W+ (./project.ts) -> [the Editor edits] -> paste the edited
 * face back into the photo (src/faces/paste.ts: inverse alignment transform, feathered mask). `FacePhotoSource` implements the
 * optimise layer's `PhotoLatentSource`, so the Editor takes photo starts without knowing about faces; the face
 * models load on the first photo, not before.
 */
import { readImage, type RgbImage } from '../io/image.js';
import type { EditHooks, ImageStart, PhotoLatentSource, PhotoModels, ProjectedPhoto, RgbFrame } from '../optimize/types.js';
import { FFHQ_SIZE, FFHQ_TRANSFORM_SIZE } from '../faces/align.js';
import { FaceDetector } from '../faces/detect.js';
import { DEFAULT_FEATHER, pasteBack } from '../faces/paste.js';
import { alignPhoto } from '../faces/pipeline.js';
import { ProjectionCancelled, Projector, type ProjectOptions } from './project.js';

/**
 * Projection steps of a photo edit when the start does not say: half of projector.py's 1000 (half the CPU time; the
 * issue's `styleclip project --steps 500`). More steps give a closer reconstruction (`--project-steps`).
 */
export const DEFAULT_PROJECT_STEPS = 500;
/**
 * QUAD-transform supersampling of the alignment: the FFHQ recipe renders its 1024 px release at 4096 (4x); photo
 * edits keep that factor at the generator's resolution (the exact recipe at 1024, a quarter of the work per axis at 256).
 */
export const ALIGN_SUPERSAMPLING = FFHQ_TRANSFORM_SIZE / FFHQ_SIZE;
export interface FacePhotoOptions {
  /** Face models directory (see ./models.ts; default $STYLECLIP_FACE_MODELS, then the model cache). */
  readonly modelsDir?: string;
  /** Projection settings other than the step count (the start's `projectSteps`, else DEFAULT_PROJECT_STEPS). */
  readonly projection?: Partial<Omit<ProjectOptions, 'steps'>>;
  /** Paste-back feather width, a fraction of the crop side. */
  readonly feather?: number;
}

const frame = (img: RgbImage): RgbFrame => ({ width: img.width, height: img.height, data: img.data });
const rgb = (f: RgbFrame): RgbImage => ({ width: f.width, height: f.height, channels: 3, data: f.data });

export class FacePhotoSource implements PhotoLatentSource {
  private detector?: Promise<FaceDetector>;
  private cached?: { readonly models: PhotoModels; readonly projector: Projector };

  constructor(readonly options: FacePhotoOptions = {}) {}

  async project(start: ImageStart, models: PhotoModels, hooks: EditHooks = {}): Promise<ProjectedPhoto> {
    const photo = await readImage(start.path);
    const detector = await this.faceDetector();
    const size = models.generator.config.resolution;
    const transformSize = Math.min(FFHQ_TRANSFORM_SIZE, size * ALIGN_SUPERSAMPLING);
    const aligned = await alignPhoto(detector, photo, { size, transformSize, faceIndex: start.faceIndex });
    if (hooks.signal?.aborted) throw new ProjectionCancelled('projection cancelled');
    const steps = start.projectSteps ?? DEFAULT_PROJECT_STEPS;
    const res = await (await this.projector(models)).project(aligned.image, { ...this.options.projection, steps }, {
      signal: hooks.signal,
      onProgress: hooks.onProjectProgress,
    });
    const feather = this.options.feather ?? DEFAULT_FEATHER;
    return {
      latent: res.latent,
      noise: res.noise,
      aligned: frame(aligned.image),
      pasteBack: (face) => frame(pasteBack(photo, rgb(face), aligned.quad, feather)),
    };
  }

  async dispose(): Promise<void> {
    const detector = this.detector;
    this.detector = undefined;
    await this.cached?.projector.dispose();
    this.cached = undefined;
    (await detector?.catch(() => undefined))?.dispose();
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
