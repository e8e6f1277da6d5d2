/**
 * The synchronous endpoints besides editing: generate an image from a seed or latent, classify an image against
 * labels with CLIP, embed texts and images. Each decodes and checks its inputs, then calls one library function.
 */
import { ApiError } from './errors.js';
import { decodeImageForClip, decodeLatent, fileBytes } from './decode.js';
import { encodePng } from './images.js';
import type { ClipService, EditorInfo, GenerateService, GenerateStart } from './services.js';
import type { GenerateFormBody, GenerateJsonBody } from './schemas.js';
import { checkModel } from './submission.js';

/** Truncation of `/v1/generate` when none is given: 1 (none), as `styleclip generate`. */
export const GENERATE_TRUNCATION = 1;

export interface ClassifyBody {
  readonly image: string | File;
  readonly labels: readonly string[];
  readonly clip?: string;
}

export interface EmbedBody {
  readonly texts?: readonly string[];
  readonly images?: readonly (string | File)[];
  readonly clip?: string;
}

export interface ToolsDeps {
  readonly generator: GenerateService;
  readonly clip: ClipService;
  readonly info: EditorInfo;
  readonly maxPixels: number;
}

export class Tools {
  constructor(private readonly deps: ToolsDeps) {}

  /** PNG bytes of G(seed | z | w | w+). */
  async generate(body: GenerateJsonBody | GenerateFormBody): Promise<Uint8Array> {
    const { info } = this.deps;
    checkModel('generator', body.generator, info.generator);
    const given = (['seed', 'z', 'w', 'w_plus'] as const).filter((k) => body[k] !== undefined);
    if (given.length !== 1) {
      throw new ApiError(400, 'invalid_request', `give exactly one of seed, z, w, w_plus; got ${given.join(' and ') || 'none'}`);
    }
    const truncation = body.truncation ?? GENERATE_TRUNCATION;
    let start: GenerateStart;
    if (body.seed !== undefined) {
      start = { kind: 'seed', seed: body.seed, truncation };
    } else if (body.z !== undefined) {
      start = { kind: 'z', latent: decodeLatent(await fileBytes(body.z, 'z'), 'z', info, 'z'), truncation };
    } else if (body.w !== undefined) {
      start = { kind: 'w', latent: decodeLatent(await fileBytes(body.w, 'w'), 'w', info, 'w') };
    } else {
      const bytes = await fileBytes(body.w_plus as string | File, 'w_plus');
      start = { kind: 'w+', latent: decodeLatent(bytes, 'w+', info, 'w_plus') };
    }
    return encodePng(await this.deps.generator.generate(start));
  }

  async classify(body: ClassifyBody): Promise<{ labels: string[]; probs: number[] }> {
    checkModel('clip', body.clip, this.deps.info.clip);
    const image = await decodeImageForClip(await fileBytes(body.image, 'image'), this.deps.maxPixels);
    const labels = [...body.labels];
    return { labels, probs: await this.deps.clip.classify(image, labels) };
  }

  async embed(body: EmbedBody): Promise<{ texts?: number[][]; images?: number[][] }> {
    checkModel('clip', body.clip, this.deps.info.clip);
    if (!body.texts && !body.images) throw new ApiError(400, 'invalid_request', 'give texts, images, or both');
    const images = body.images
      ? await Promise.all(body.images.map(async (f, i) => decodeImageForClip(await fileBytes(f, `images.${i}`), this.deps.maxPixels)))
      : undefined;
    return {
      texts: body.texts ? await this.deps.clip.embedTexts([...body.texts]) : undefined,
      images: images ? await this.deps.clip.embedImages(images) : undefined,
    };
  }
}
