/**
 * Turns uploaded bytes into checked library inputs: base64 text or multipart files into bytes, `.npy` latents into
 * float32 tensors of the generator's shape with finite values, photos into decoded RGB. Malformed transport
 * (bad base64, a path as file name) is a 400; unusable content is an `InputError` (422).
 */
import type { HostTensor } from '../engine/tensor.js';
import { InputError } from '../errors.js';
import { readImage, readImageRgba, type RgbImage, type RgbaImage } from '../io/images/image.js';
import { parseNpy } from '../io/tensors/npy.js';
import { checkLatent, type LatentKind } from '../generator/index.js';
import { RequestError } from './errors.js';
import { checkUploadName } from './names.js';
import type { EditorInfo } from './services.js';

/** Plain base64 (RFC 4648 sec. 4) with optional padding; whitespace is removed first. */
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const DATA_URL_PREFIX = /^data:[^,]*;base64,/;

/** Bytes of a JSON file field (base64 or a base64 data URL) or a multipart upload. */
export async function fileBytes(value: string | File, field: string): Promise<Uint8Array> {
  if (typeof value !== 'string') {
    checkUploadName(value.name);
    return new Uint8Array(await value.arrayBuffer());
  }
  const text = value.replace(DATA_URL_PREFIX, '').replace(/\s+/g, '');
  if (!BASE64.test(text) || text.length % 4 === 1) {
    throw new RequestError('invalid_request', `${field}: not base64; send the file's bytes base64-encoded or as multipart`);
  }
  return new Uint8Array(Buffer.from(text, 'base64'));
}

/**
 * Parses a `.npy` latent and checks it with the generator's rules (`checkLatent`: shape [L,D]/[D] with an optional
 * batch axis, float dtype, finite values); the API takes one latent per request, so the batch must be 1.
 * Returns float32 `[1, ...]`.
 */
export function decodeLatent(bytes: Uint8Array, kind: LatentKind, info: EditorInfo, field: string): HostTensor {
  const t = checkLatent(parseNpy(bytes, field), kind, info.wDim, info.nLatent, field);
  if (t.shape[0] !== 1) throw new InputError(`${field}: send one ${kind} latent per request, got a batch of ${t.shape[0]}`);
  return t;
}

/** Decodes a photo completely (a truncated file fails here, not in a worker), refusing more than `maxPixels`. */
export function decodeImage(bytes: Uint8Array, maxPixels: number): Promise<RgbImage> {
  return readImage(bytes, { maxPixels });
}

/** Decodes a photo for CLIP, keeping alpha: CLIP's preprocessing drops it as PIL's convert('RGB') does. */
export function decodeImageForClip(bytes: Uint8Array, maxPixels: number): Promise<RgbaImage> {
  return readImageRgba(bytes, { maxPixels });
}
