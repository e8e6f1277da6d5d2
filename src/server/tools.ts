/**
 * The synchronous endpoints besides editing: generate an image from a seed or latent, classify an image against
 * labels with CLIP, embed texts and images. Each decodes and checks its inputs, then calls one library function.
 */
import { RequestError } from '../jobs/errors.js';
import { decodeImageForClip, decodeLatent, fileBytes } from '../jobs/decode.js';
import { encodePng } from '../jobs/images.js';
import type { ClipService, EditorInfo, GenerateService, GenerateStart } from '../jobs/services.js';
import type { GenerateFormBody, GenerateJsonBody, TEMPLATE_CHOICES } from '../jobs/schemas.js';
import { TEMPLATE_SETS } from '../clip/templates.js';
import { TEMPLATE_SLOT, type Prediction } from '../clip/zeroshot.js';

type TemplateChoice = (typeof TEMPLATE_CHOICES)[number];
import { checkModel } from '../jobs/submission.js';

/** Truncation of `/v1/generate` when none is given: 1 (none), as `styleclip generate`. */
const GENERATE_TRUNCATION = 1;

interface ClassifyBody {
  readonly image?: string | File;
  readonly images?: readonly (string | File)[];
  readonly labels: readonly string[];
  readonly templates?: TemplateChoice;
  readonly top_k?: number;
  readonly clip?: string;
}

interface ClassifyResponse {
  /** The template set filled in (`[]` for `none`: labels are the prompts). */
  readonly templates: readonly string[];
  /** Labels used as written (every label with `none`; sentence-like labels otherwise). */
  readonly as_written: readonly string[];
  /** Per image, in request order: the top_k classes, most probable first. */
  readonly results: { readonly predictions: readonly Prediction[] }[];
  /** With a single `image`: the labels as given and their probabilities in that order. */
  readonly labels?: readonly string[];
  readonly probs?: readonly number[];
}

interface EmbedBody {
  readonly texts?: readonly string[];
  readonly images?: readonly (string | File)[];
  readonly clip?: string;
}

interface ToolsDeps {
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
      throw new RequestError('invalid_request', `give exactly one of seed, z, w, w_plus; got ${given.join(' and ') || 'none'}`);
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

  async classify(body: ClassifyBody): Promise<ClassifyResponse> {
    checkModel('clip', body.clip, this.deps.info.clip);
    if ((body.image === undefined) === (body.images === undefined)) {
      throw new RequestError('invalid_request', 'give exactly one of image (one file) or images (several)');
    }
    const files = body.images ?? [body.image as string | File];
    const field = body.images ? (i: number) => `images.${i}` : () => 'image';
    const images = await Promise.all(files.map(async (f, i) => decodeImageForClip(await fileBytes(f, field(i)), this.deps.maxPixels)));
    const choice = body.templates ?? 'none';
    const templates = choice === 'none' ? [] : TEMPLATE_SETS[choice];
    const labels = [...body.labels];
    const { asWritten, predictions } = await this.deps.clip.classify(images, labels, templates.length ? templates : [TEMPLATE_SLOT]);
    const results = predictions.map((p) => ({ predictions: p.slice(0, body.top_k ?? labels.length) }));
    const single = body.image === undefined ? {} : { labels, probs: labels.map((l) => predictions[0].find((p) => p.label === l)!.prob) };
    return { templates, as_written: choice === 'none' ? labels : asWritten, results, ...single };
  }

  async embed(body: EmbedBody): Promise<{ texts?: number[][]; images?: number[][] }> {
    checkModel('clip', body.clip, this.deps.info.clip);
    if (!body.texts && !body.images) throw new RequestError('invalid_request', 'give texts, images, or both');
    const images = body.images
      ? await Promise.all(body.images.map(async (f, i) => decodeImageForClip(await fileBytes(f, `images.${i}`), this.deps.maxPixels)))
      : undefined;
    return {
      texts: body.texts ? await this.deps.clip.embedTexts([...body.texts]) : undefined,
      images: images ? await this.deps.clip.embedImages(images) : undefined,
    };
  }
}
