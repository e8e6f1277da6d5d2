/**
 * Where an edit starts, for every edit method: a seed (z -> w, truncated toward the mean), a w or w+ latent, or a photo
 * (a `PhotoLatentSource`: detect, align, invert). The result is w+ [1, L, D] (or w [1, D] when asked), with the photo's
 * own noise maps and paste-back when the start was a photo.
 */
import { sliceRows } from '../engine/batching.js';
import type { HostTensor } from '../engine/tensor.js';
import { InputError } from '../errors.js';
import { broadcastW, checkLatent, sampleZ, truncate, type Generator } from '../generator/index.js';
import type { EditCall, EditStart, PhotoModels, ProjectedPhoto } from './types.js';

export interface ResolvedStart {
  /** w+ [1, L, D], or w [1, D] for space 'w'. */
  readonly latent0: HostTensor;
  /** The photo's inverted noise maps (photo starts). */
  readonly noise?: readonly HostTensor[];
  readonly photo?: ProjectedPhoto;
  /** The generator to render the edit with: the photo's own (HyperStyle offsets held), the domain, or the models'. */
  readonly generator: Generator;
}

/** Releases what a resolved start owns (a photo's adapted generator); call once the edit is rendered. */
export async function releaseStart(start: ResolvedStart): Promise<void> {
  await start.photo?.generator?.dispose();
}

/** The start as w+ (or w); photo starts go through `photos` (refused without one). */
export async function resolveStart(start: EditStart, space: 'w' | 'w+', models: PhotoModels, call: EditCall = {}): Promise<ResolvedStart> {
  const base = models.generator;
  if (call.domain) checkDomainFits(call.domain, base);
  const resolved = await resolveLatent(start, space, { ...models, domain: call.domain }, call);
  return { ...resolved, generator: resolved.photo?.generator ?? call.domain ?? base };
}

/** Refuses a domain generator of another architecture than the edit's generator. */
export function checkDomainFits(domain: Generator, base: Generator): void {
  const [a, b] = [domain.config, base.config];
  const same = a.resolution === b.resolution && a.wDim === b.wDim && Object.keys(b.channels).every((r) => a.channels[Number(r)] === b.channels[Number(r)]);
  if (!same) throw new InputError(`the domain generator (${a.resolution} px, w ${a.wDim}) is not a fine-tuned copy of the edit's generator (${b.resolution} px, w ${b.wDim}): adapt that generator with 'styleclip nada train --generator ...'`);
}

async function resolveLatent(start: EditStart, space: 'w' | 'w+', models: PhotoModels, call: EditCall): Promise<ResolvedStart> {
  const { generator } = models;
  const { nLatent, wDim } = generator;
  if (start.kind === 'seed') {
    const w = truncate(await generator.map(sampleZ(start.seed, 1, wDim)), await generator.meanLatent(), start.truncation);
    return { latent0: space === 'w' ? w : broadcastW(w, nLatent), generator };
  }
  if (start.kind === 'w') {
    const w = sliceRows(checkLatent(start.latent, 'w', wDim, nLatent, 'start latent'), 0, 1);
    return { latent0: space === 'w' ? w : broadcastW(w, nLatent), generator };
  }
  if (space === 'w') throw new Error(`resolveStart: a ${start.kind} start has no w; checkEditFits (edit/optimize/options.ts) refuses it first`);
  if (start.kind === 'w+') return { latent0: sliceRows(checkLatent(start.latent, 'w+', wDim, nLatent, 'start latent'), 0, 1), generator };
  const { photos } = call;
  if (!photos) {
    throw new InputError('photo starts need the face pipeline (src/invert FacePhotoSource); or invert the photo with `styleclip project` and pass the w+ latent');
  }
  const photo = await photos.project(start, models, { signal: call.signal, onProjectProgress: call.hooks?.onProjectProgress });
  return { latent0: photo.latent, noise: photo.noise, photo, generator: photo.generator ?? generator };
}
