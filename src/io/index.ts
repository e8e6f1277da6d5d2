/** File formats and models on disk: .npy, PyTorch checkpoints and pickles, safetensors, images, the model registry. */
export { encodeNpy, parseNpy, readNpy, writeNpy } from './tensors/npy.js';
export { loadTorchCheckpoint, parseTorchCheckpoint, type TorchCheckpoint } from './tensors/torch.js';
export { encodeSafetensors, parseSafetensors } from './tensors/safetensors.js';
export { readImage, readImageRgba, tensorToRgb, writeImage, type RgbImage } from './images/image.js';
export {
  DEFAULT_MODEL_NAMES, cacheHome, downloadsAllowed, loadManifest, modelStatus, pullModel, removeModel, requireModel, resolveModelPath, verifyModel,
  type Manifest, type ModelEntry, type ModelKind,
} from './models/registry.js';
