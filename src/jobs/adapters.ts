/**
 * The real `GenerateService` and `ClipService` over the library: StyleGAN2 synthesis as `styleclip generate` does
 * it (seed -> z -> w, truncation toward the mean latent, w broadcast to w+, const noise), and CLIP zero-shot
 * probabilities and embeddings with CLIP's own preprocessing (`_transform(224)`) and tokenizer.
 */
import { ZeroShotClassifier } from '../clip/classifier.js';
import type { Clip } from '../clip/clip.js';
import type { ClipTokenizer } from '../clip/tokenizer.js';
import type { HostTensor } from '../engine/tensor.js';
import { broadcastW, sampleZ, truncate, type Generator } from '../generator/index.js';
import { tensorToRgb, type Pixels } from '../io/images/image.js';
import type { RgbFrame } from '../io/images/image.js';
import type { ClipService, GenerateService, GenerateStart } from './services.js';

function rows(t: HostTensor): number[][] {
  const [n, d] = t.shape;
  return Array.from({ length: n }, (_, i) => Array.from(t.data.subarray(i * d, (i + 1) * d) as Float32Array));
}

export function generateService(gen: Generator): GenerateService {
  const truncated = async (w: HostTensor, psi: number): Promise<HostTensor> =>
    psi === 1 ? w : truncate(w, await gen.meanLatent(), psi);
  return {
    async generate(start: GenerateStart): Promise<RgbFrame> {
      let wPlus: HostTensor;
      if (start.kind === 'seed' || start.kind === 'z') {
        const z = start.kind === 'seed' ? sampleZ(start.seed, 1, gen.wDim) : start.latent;
        wPlus = broadcastW(await truncated(await gen.map(z), start.truncation), gen.nLatent);
      } else {
        wPlus = start.kind === 'w' ? broadcastW(start.latent, gen.nLatent) : start.latent;
      }
      const rgb = tensorToRgb(await gen.synthesize(wPlus), 0, '[-1,1]');
      return { width: rgb.width, height: rgb.height, data: rgb.data };
    },
  };
}

export function clipService(clip: Clip, tokenizer: ClipTokenizer): ClipService {
  const embedTexts = (texts: readonly string[]): Promise<HostTensor> => clip.encodeText(tokenizer.tokenize(texts));
  const embedImages = (images: readonly Pixels[]): Promise<HostTensor> => clip.encodeImage(clip.preprocess(images));
  return {
    async classify(images, labels, templates) {
      const classifier = await ZeroShotClassifier.create(clip, tokenizer, labels, templates);
      return { asWritten: classifier.classes.asIs, predictions: await classifier.classifyImages(images) };
    },
    embedImages: async (images) => rows(await embedImages(images)),
    embedTexts: async (texts) => rows(await embedTexts(texts)),
  };
}
