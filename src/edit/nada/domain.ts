/**
 * A start rendered in a StyleGAN-NADA domain with no text edit (Gal et al. 2022 sec. 5, "real images": a photo
 * inverted with the base generator, rendered with the adapted one): before = base generator, after = domain.
 * Text edits in a domain go through every method's `EditCall.domain` instead.
 */
import type { HostTensor } from '../../engine/tensor.js';
import { broadcastW, sampleZ, type Generator } from '../../generator/index.js';
import { releaseStart, resolveStart } from '../start.js';
import type { EditCall, EditStart, ProjectedPhoto } from '../types.js';

export interface DomainRender {
  /** G_base(start) and G_domain(start), [1,3,R,R] unclamped; the start latent w+ [1, L, D]. */
  readonly before: HostTensor;
  readonly after: HostTensor;
  readonly latent: HostTensor;
  readonly photo?: ProjectedPhoto;
}

/**
 * `count` seeded samples (seeds seed .. seed+count-1, truncation 1, stored noise) rendered by both generators, [n,3,R,R]
 * each: the base-vs-adapted grid of a training run (train.py saves the adapted row every output_interval).
 */
export async function domainSamples(base: Generator, domain: Generator, count: number, seed: number): Promise<{ before: HostTensor; after: HostTensor }> {
  const wPlus = broadcastW(await base.map(sampleZ(seed, count, base.wDim)), base.nLatent);
  const [before, after] = await Promise.all([base.synthesize(wPlus), domain.synthesize(wPlus)]);
  return { before, after };
}

/** Renders `start` with `base` and with `domain` (photos inverted through `call.photos` with `base`). */
export async function renderInDomain(start: EditStart, base: Generator, domain: Generator, call: EditCall = {}): Promise<DomainRender> {
  const resolved = await resolveStart(start, 'w+', { generator: base }, { ...call, domain });
  const { latent0, noise, photo, generator } = resolved;
  try {
    const synth = { noiseMaps: noise };
    const [before, after] = await Promise.all([(photo?.generator ? generator : base).synthesize(latent0, synth), generator.synthesize(latent0, synth)]);
    return { before, after, latent: latent0, photo };
  } finally {
    await releaseStart(resolved);
  }
}
