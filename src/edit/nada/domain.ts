/**
 * A start rendered in a StyleGAN-NADA domain with no text edit (Gal et al. 2022 sec. 5, "real images": a photo
 * inverted with the base generator, rendered with the adapted one): before = base generator, after = domain.
 * Text edits in a domain go through every method's `EditCall.domain` instead.
 */
import type { HostTensor } from '../../engine/tensor.js';
import type { Generator } from '../../generator/index.js';
import { releaseStart, resolveStart } from '../start.js';
import type { EditCall, EditStart, ProjectedPhoto } from '../types.js';

export interface DomainRender {
  /** G_base(start) and G_domain(start), [1,3,R,R] unclamped; the start latent w+ [1, L, D]. */
  readonly before: HostTensor;
  readonly after: HostTensor;
  readonly latent: HostTensor;
  readonly photo?: ProjectedPhoto;
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
