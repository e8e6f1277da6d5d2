/**
 * styleclip — text-guided image editing in the StyleCLIP style (Patashnik et al. 2021) with StyleGAN2 and CLIP as
 * differentiable ONNX graphs on onnxruntime-node. The public API:
 *
 * - Editing: `Editor` (latent optimisation, sec. 4), `GlobalDirections` (global directions in StyleSpace, sec. 6),
 *   `LatentMapperEdit` (latent mappers, sec. 5); their options, starts, progress and results.
 * - Photos: `PhotoEncoder` (e4e / pSp), `Projector`, `FacePhotoSource` (detect, align, invert, paste back).
 * - Models: `Generator` (StyleGAN2), `Clip`, `ClipTokenizer`, zero-shot classification; every `load` takes a file
 *   path or a registry name (downloaded on first use unless STYLECLIP_OFFLINE=1).
 * - Errors a user can cause: `InputError`; cancellations: `EditCancelled`, `Cancelled`.
 *
 * Subpaths: `styleclip/engine` (graph builder, gradients, sessions), `styleclip/faces`, `styleclip/io` (file formats,
 * model registry), `styleclip/server` (`createApp`, `AppType` for Hono's typed client).
 */
export { Editor, EditCancelled, type EditorInfo, type EditorSources } from './edit/optimize/editor.js';
export { EDIT_DEFAULTS, resolveEditOptions } from './edit/optimize/options.js';
export { editEvents } from './edit/optimize/stream.js';
export type { ClipInputMode } from './clip/preprocess_graph.js';
export type { EditHooks, EditProgress, EditStart, ImageStart, PhotoLatentSource, ProjectedPhoto, ProjectionProgress } from './edit/types.js';
export type { EditOptions, EditResult, LatentSpace } from './edit/optimize/types.js';
export type { NoiseMode } from './generator/index.js';
export type { RgbFrame } from './io/images/image.js';
export { GLOBAL_DEFAULTS, GlobalDirections, type DirectionEdit, type GlobalEditResult, type GlobalSources } from './edit/global/index.js';
export { LatentMapperEdit, MAPPER_STRENGTH, type LatentMapper, type MapperEditResult } from './edit/mapper/index.js';
export { PhotoEncoder, encoderInput } from './invert/encoder.js';
export { FacePhotoSource, type FacePhotoOptions } from './invert/photo.js';
export { Projector, type ProjectOptions, type ProjectionResult } from './invert/project.js';
export { CONFIG_F_FFHQ, Generator, styleSpaceLayout, type GeneratorConfig, type StyleSpaceLayout, type SynthesisOptions } from './generator/index.js';
export { CLIP_IMAGENET_TEMPLATES, Clip, ClipTokenizer, SIMPLE_TEMPLATES, ZeroShotClassifier, classify, clipPreprocess, clipPreprocessBatch, cosineLogits, ensembleEmbeddings, l2Normalize, listImages, promptsFor, softmaxRows, type ClipConfig, type FolderReport, type Prediction } from './clip/index.js';
export type { HostTensor, DType } from './engine/tensor.js';
export { Cancelled, InputError } from './errors.js';
export { DEFAULT_MODEL_NAMES, pullModel, resolveModelPath } from './io/models/registry.js';
