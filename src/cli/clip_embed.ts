/**
 * `styleclip clip embed`: CLIP image and text embeddings (unnormalised, as openai/CLIP `encode_image` /
 * `encode_text` return them), `logits_per_image` (logit_scale × cosine similarity, CLIP.forward) and their softmax
 * over the texts per image. Also the shared model/tokenizer/image loading of the CLIP commands.
 */
import { Clip } from '../clip/clip.js';
import { ClipTokenizer } from '../clip/tokenizer.js';
import { softmaxRows } from '../clip/zeroshot.js';
import type { ClipActivation } from '../clip/config.js';
import type { HostTensor } from '../engine/tensor.js';
import { DEFAULT_MAX_PIXELS, readImageRgba } from '../io/images/image.js';
import { UsageError, flag, modelFlag, str, strs, type CliIO, type Command, type ParsedArgs } from './command.js';

const ACTIVATIONS: readonly ClipActivation[] = ['quick_gelu', 'gelu'];

/** Flags every CLIP command shares. */
export const CLIP_MODEL_OPTIONS = {
  clip: { type: 'string' },
  vocab: { type: 'string' },
  activation: { type: 'string' },
  truncate: { type: 'boolean' },
  json: { type: 'boolean' },
} as const;

export const CLIP_MODEL_USAGE = [
  '  --clip NAME|PATH   a CLIP model name (RN50, RN101, RN50x4, RN50x16, RN50x64, ViT-B/32, ViT-B/16, ViT-L/14,',
  '                     ViT-L/14@336px, clip-vit-b32-laion2b, ...; default ViT-B/32, pulled on first use) or a checkpoint:',
  '                     OpenAI .pt (TorchScript or state dict), open_clip .pt/.safetensors, Hugging Face model.safetensors',
  '  --vocab NAME|PATH  the BPE merges (clip-bpe-vocab, default) or a bpe_simple_vocab_16e6.txt.gz file',
  '  --activation ACT   quick_gelu (OpenAI weights) or gelu (most open_clip models); default from the checkpoint kind',
  '  --truncate         cut texts longer than the context (77 tokens) instead of failing',
  `  images above ${DEFAULT_MAX_PIXELS / 1e6} megapixels are refused (global flag --max-pixels N raises the limit)`,
].join('\n');

interface ClipTools {
  readonly clip: Clip;
  readonly tokenizer: ClipTokenizer;
}

/** Loads the tokenizer and the model named by --vocab / --clip (and --activation). */
export async function loadClipTools(args: ParsedArgs, io: CliIO): Promise<ClipTools> {
  const vocab = await modelFlag(args, 'vocab', 'vocab', io.stderr);
  const path = await modelFlag(args, 'clip', 'clip', io.stderr);
  const activation = str(args, 'activation');
  if (activation !== undefined && !ACTIVATIONS.includes(activation as ClipActivation)) {
    throw new UsageError(`--activation must be one of ${ACTIVATIONS.join(', ')}, got '${activation}'`);
  }
  const tokenizer = await ClipTokenizer.load(vocab);
  const clip = await Clip.load(path, { activation: activation as ClipActivation | undefined });
  return { clip, tokenizer };
}

/** Reads images and preprocesses them at the model's own resolution (CLIP `_transform`) into one batch [N,3,R,R]. */
async function readClipImages(paths: readonly string[], clip: Clip): Promise<HostTensor> {
  const images = [];
  for (const p of paths) images.push(await readImageRgba(p));
  return clip.preprocess(images);
}

/** Token rows of `texts` at the model's context length. */
function tokenizeFor(tools: ClipTools, texts: readonly string[], truncate: boolean): HostTensor {
  return tools.tokenizer.tokenize(texts, { contextLength: tools.clip.config.contextLength, truncate });
}

/** Rows of a 2-D tensor as plain number arrays. */
export function rows(t: HostTensor): number[][] {
  const [n, m] = t.shape;
  return Array.from({ length: n }, (_, i) => Array.from(t.data.subarray(i * m, (i + 1) * m) as Float32Array));
}

interface EmbedResult {
  readonly image_embeds: number[][];
  readonly text_embeds: number[][];
  readonly logits_per_image: number[][];
  readonly probs: number[][];
}

/** Embeds the images and texts; logits and probs have one row per image and one column per text. */
export async function embed(tools: ClipTools, imagePaths: readonly string[], texts: readonly string[], truncate: boolean): Promise<EmbedResult> {
  const { clip } = tools;
  const tokens = texts.length ? tokenizeFor(tools, texts, truncate) : undefined;
  const pixels = imagePaths.length ? await readClipImages(imagePaths, clip) : undefined;
  const imageEmb = pixels ? await clip.encodeImage(pixels) : undefined;
  const textEmb = tokens ? await clip.encodeText(tokens) : undefined;
  let logits: number[][] = imagePaths.map(() => []);
  let probs: number[][] = logits;
  if (imageEmb && textEmb) {
    const { logitsPerImage } = clip.logits(imageEmb, textEmb);
    logits = rows(logitsPerImage);
    probs = rows(softmaxRows(logitsPerImage));
  }
  return {
    image_embeds: imageEmb ? rows(imageEmb) : [],
    text_embeds: textEmb ? rows(textEmb) : [],
    logits_per_image: logits,
    probs,
  };
}

function formatTable(result: EmbedResult, images: readonly string[], texts: readonly string[]): string {
  const lines: string[] = [];
  if (images.length && texts.length) {
    images.forEach((img, i) => {
      lines.push(img);
      texts.forEach((t, j) => {
        const p = (100 * result.probs[i][j]).toFixed(2).padStart(7);
        lines.push(`  ${p}%  logit ${result.logits_per_image[i][j].toFixed(3).padStart(9)}  ${t}`);
      });
    });
  }
  const dim = (result.image_embeds[0] ?? result.text_embeds[0]).length;
  lines.push(`${images.length} image and ${texts.length} text embeddings of ${dim} dimensions (--json prints them)`);
  return lines.join('\n');
}

export const clipEmbedCommand: Command = {
  path: ['clip', 'embed'],
  summary: 'CLIP embeddings of images and texts, with logits and probabilities',
  usage: [
    '  styleclip clip embed --clip CKPT --vocab BPE.txt.gz [--image FILE]... [--text T]... [--json]',
    '',
    CLIP_MODEL_USAGE,
    '  --image FILE       an image (repeatable)',
    '  --text T           a text (repeatable)',
    '  --json             print {"image_embeds", "text_embeds", "logits_per_image", "probs"} (probs: softmax over',
    '                     the texts per image; embeddings unnormalised, as encode_image / encode_text return them)',
  ].join('\n'),
  options: {
    ...CLIP_MODEL_OPTIONS,
    image: { type: 'string', multiple: true },
    text: { type: 'string', multiple: true },
  },
  async run(args, io) {
    const images = strs(args, 'image');
    const texts = strs(args, 'text');
    if (images.length === 0 && texts.length === 0) {
      throw new UsageError('nothing to embed; pass at least one --image FILE or --text T');
    }
    const tools = await loadClipTools(args, io);
    try {
      const result = await embed(tools, images, texts, flag(args, 'truncate'));
      io.stdout.write((flag(args, 'json') ? JSON.stringify(result) : formatTable(result, images, texts)) + '\n');
      return 0;
    } finally {
      await tools.clip.dispose();
    }
  },
};
