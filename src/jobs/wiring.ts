/**
 * Loads the real services from model files for `styleclip serve`, `worker` and `batch`: one `Editor` (StyleGAN2,
 * CLIP and the tokenizer, loaded once) and, for the API, synthesis and CLIP endpoints over the editor's own models.
 * Photo starts go through src/faces `FacePhotoSource`, whose face models load on the first photo from
 * `faceModels`, else $STYLECLIP_FACE_MODELS, else the model cache (src/faces/models.ts).
 */
import { readCheckpoint } from '../io/tensors/checkpoint.js';
import type { ClipTokenizer } from '../clip/tokenizer.js';
import { loadIdentityNet } from '../faces/load_identity.js';
import { FacePhotoSource } from '../invert/photo.js';
import { Editor } from '../edit/optimize/editor.js';
import { GlobalDirections } from '../edit/global/index.js';
import { LatentMapperEdit, mapperFromTensors } from '../edit/mapper/index.js';
import type { PhotoLatentSource } from '../edit/types.js';
import type { PhotoInversion } from '../invert/types.js';
import { Generator } from '../generator/index.js';
import { checkDomainFits } from '../edit/start.js';
import { InputError } from '../errors.js';
import { clipService, generateService } from './adapters.js';
import { onePassService, type OnePassService } from './one_pass.js';
import type { ClipService, EditService, GenerateService } from './services.js';

export interface ModelPaths {
  readonly generator: string;
  readonly clip: string;
  readonly vocab: string;
  /** Face models directory for photo starts (optional; see the header). */
  readonly faceModels?: string;
  /** Identity network for the id term (`mobileface`, a MobileFace .json or an ArcFace .pth); edits with id > 0 need it. */
  readonly identityModel?: string;
  /** Global-direction files (fs3.npy, S_mean_std) for `/v1/directions` and `/v1/render` (optional). */
  readonly directions?: { readonly fs3: string; readonly stats: string };
  /** An e4e/pSp checkpoint: photo starts are inverted in one pass (optional; projection otherwise). */
  readonly encoder?: string;
  /** A HyperStyle checkpoint for photos asking for the 'faithful' inversion, and its W encoder (optional). */
  readonly faithfulEncoder?: string;
  readonly wEncoder?: string;
  /** Latent mapper checkpoints by name for `/v1/mappers` and `/v1/render` (optional). */
  readonly mappers?: ReadonlyMap<string, string>;
  /** StyleGAN-NADA generators by name that edits and renders may ask for (`domain`; optional). */
  readonly domains?: ReadonlyMap<string, string>;
}

export interface Services {
  readonly editor: EditService;
  readonly generator: GenerateService;
  readonly clip: ClipService;
  readonly tokenizer: ClipTokenizer;
  readonly directions?: GlobalDirections;
  /** The editor's generator, for one-pass renders. */
  readonly renderer: Generator;
  readonly mappers: ReadonlyMap<string, LatentMapperEdit>;
  readonly domains: ReadonlyMap<string, Generator>;
  /** The face pipeline of photo starts, and the one-pass inversions it offers (none: projection). */
  readonly photos: PhotoLatentSource;
  readonly inversions: readonly PhotoInversion[];
  /** Jobs of the one-pass methods (batch lines with `method` global or mapper) over the directions and mappers above. */
  readonly onePass: OnePassService;
  dispose(): Promise<void>;
}

export async function loadServices(paths: ModelPaths): Promise<Services> {
  const identity = paths.identityModel ? await loadIdentityNet(paths.identityModel, paths.faceModels) : undefined;
  const photos = new FacePhotoSource({ modelsDir: paths.faceModels, encoder: paths.encoder, faithfulEncoder: paths.faithfulEncoder, wEncoder: paths.wEncoder });
  const editor = await Editor.load({ ...paths, identity, photos }).catch((e: unknown) => {
    identity?.dispose();
    throw e;
  });
  const fail = async (e: unknown): Promise<never> => {
    await editor.dispose(); // it owns the photo source
    identity?.dispose();
    throw e;
  };
  // A misconfigured encoder is a start-up error, not a failed job per photo (or a 422 that blames the client).
  await photos.loadEncoder(editor.generator).catch(fail);
  const directions = paths.directions ? await GlobalDirections.forModels(editor.generator, editor.clip, editor.tokenizer, paths.directions).catch(fail) : undefined;
  const mappers = new Map<string, LatentMapperEdit>();
  for (const [name, file] of paths.mappers ?? []) {
    const mapper = await readCheckpoint(file, 'mapper checkpoint')
      .then((ckpt) => mapperFromTensors(ckpt.tensors, file))
      .catch(fail);
    try {
      mappers.set(name, new LatentMapperEdit(mapper, editor.generator, name));
    } catch (e) {
      await fail(e);
    }
  }
  const domains = new Map<string, Generator>();
  for (const [name, file] of paths.domains ?? []) {
    const g = await Generator.load(file).catch(fail);
    domains.set(name, g);
    try {
      checkDomainFits(g, editor.generator);
    } catch (e) {
      await Promise.all([...domains.values()].map((d) => d.dispose()));
      await fail(e instanceof InputError ? new InputError(`--domains ${name}: ${e.message}`) : e);
    }
  }
  return {
    editor,
    directions,
    renderer: editor.generator,
    mappers,
    domains,
    photos,
    inversions: photos.inversions,
    onePass: onePassService({ directions, mappers, photos, tokenizer: editor.tokenizer }),
    generator: generateService(editor.generator),
    clip: clipService(editor.clip, editor.tokenizer),
    tokenizer: editor.tokenizer,
    dispose: async () => {
      await Promise.all([...mappers.values(), ...domains.values()].map((m) => m.dispose()));
      await editor.dispose();
      identity?.dispose();
    },
  };
}
