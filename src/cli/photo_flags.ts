/** The photo-start flags every edit method shares: the face models, the encoder (e4e/pSp) and its refinement. */
import { FacePhotoSource } from '../invert/photo.js';
import { resolveModelPath } from '../io/models/registry.js';
import { str, type ParsedArgs } from './command.js';

/** The photo source of `--image` starts: `--encoder E` inverts in one pass (refined by `--refine N` steps), else projection. */
export async function photoSourceOf(args: ParsedArgs): Promise<FacePhotoSource> {
  const encoder = str(args, 'encoder');
  return new FacePhotoSource({ modelsDir: str(args, 'models'), encoder: encoder === undefined ? undefined : await resolveModelPath(encoder, 'encoder') });
}
