/**
 * Writing the outputs of a one-pass edit (global directions, latent mappers): the edited image, before|after, the
 * unclamped image as .npy, the edited latent, and the photo with the face pasted back. Called only after the edit
 * succeeded; each file is written atomically.
 */
import type { HostTensor } from '../engine/tensor.js';
import { sideBySide } from '../io/images/frames.js';
import { tensorToRgb, writeImage } from '../io/images/image.js';
import { writeNpy } from '../io/tensors/npy.js';
import type { ProjectedPhoto } from '../edit/types.js';
import { writeAllOrNothing } from '../io/atomic.js';

interface OnePassResult {
  /** Needed for `compare` only (the CLI renders it only then). */
  readonly before?: HostTensor;
  readonly after: HostTensor;
  readonly latent: HostTensor;
  readonly photo?: ProjectedPhoto;
}

/** Writes the requested outputs (`out`, `compare`, `raw`, `save-latent`, `paste-back`); returns the paths written. */
export async function writeOnePassOutputs(res: OnePassResult, paths: Record<string, string | undefined>): Promise<string[]> {
  const after = tensorToRgb(res.after, 0, '[-1,1]');
  const pasted = res.photo?.pasteBack({ width: after.width, height: after.height, data: after.data });
  return writeAllOrNothing([
    [paths.out, (p) => writeImage(p, after.data, after.width, after.height)],
    [paths.compare, (p) => {
      if (!res.before) throw new Error('--compare needs the start rendered (EditCall.before)');
      const c = sideBySide([tensorToRgb(res.before, 0, '[-1,1]'), after]);
      return writeImage(p, c.data, c.width, c.height);
    }],
    [paths.raw, (p) => writeNpy(p, res.after)],
    [paths['save-latent'], (p) => writeNpy(p, res.latent)],
    [pasted ? paths['paste-back'] : undefined, (p) => writeImage(p, pasted!.data, pasted!.width, pasted!.height)],
  ]);
}
