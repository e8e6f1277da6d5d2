/**
 * Loads the real services from model files for `styleclip serve`, `worker` and `batch`: one `Editor` (StyleGAN2,
 * CLIP and the tokenizer, loaded once) and, for the API, synthesis and CLIP endpoints over the editor's own models.
 * Photo starts go through src/faces `FacePhotoSource`, whose face models load on the first photo from
 * `faceModels`, else $STYLECLIP_FACE_MODELS, else the model cache (src/faces/models.ts).
 */
import type { ClipTokenizer } from '../clip/tokenizer.js';
import { FacePhotoSource } from '../faces/photo.js';
import { Editor } from '../optimize/editor.js';
import { clipService, generateService } from './adapters.js';
import type { ClipService, EditService, GenerateService } from './services.js';

export interface ModelPaths {
  readonly generator: string;
  readonly clip: string;
  readonly vocab: string;
  /** Face models directory for photo starts (optional; see the header). */
  readonly faceModels?: string;
}

export interface Services {
  readonly editor: EditService;
  readonly generator: GenerateService;
  readonly clip: ClipService;
  readonly tokenizer: ClipTokenizer;
  dispose(): Promise<void>;
}

export async function loadServices(paths: ModelPaths): Promise<Services> {
  const editor = await Editor.load({ ...paths, photos: new FacePhotoSource({ modelsDir: paths.faceModels }) });
  return {
    editor,
    generator: generateService(editor.generator),
    clip: clipService(editor.clip, editor.tokenizer),
    tokenizer: editor.tokenizer,
    dispose: () => editor.dispose(),
  };
}
