/**
 * `styleclip classify`: CLIP zero-shot classification (Radford et al. 2021, §3.1). Labels are filled into a
 * template ("a photo of {}" by default; several --template flags make a prompt ensemble, see src/clip/zeroshot.ts),
 * or raw --prompt texts are used as the classes. Prints a table per image, most probable class first.
 */
import { DEFAULT_TEMPLATE, classify, ensembleEmbeddings, parseLabels, promptsFor, type Prediction } from '../clip/zeroshot.js';
import { CLIP_MODEL_OPTIONS, CLIP_MODEL_USAGE, loadClipTools, readClipImages, tokenizeFor } from './clip_embed.js';
import { UsageError, flag, str, strs, type Command } from './command.js';

interface Classes {
  readonly labels: string[];
  readonly prompts: string[];
  readonly templates: number;
}

function classesOf(labelList: string | undefined, templates: string[], prompts: string[]): Classes {
  if (labelList !== undefined && prompts.length > 0) throw new UsageError('pass either --labels or --prompt, not both');
  if (labelList === undefined && prompts.length === 0) {
    throw new UsageError('no classes; pass --labels "dog,cat,diagram" (with optional --template) or one --prompt per class');
  }
  if (labelList === undefined) {
    if (templates.length > 0) throw new UsageError('--template applies to --labels; --prompt texts are used as they are');
    return { labels: prompts, prompts, templates: 1 };
  }
  const labels = parseLabels(labelList);
  const tpl = templates.length > 0 ? templates : [DEFAULT_TEMPLATE];
  return { labels, prompts: promptsFor(labels, tpl), templates: tpl.length };
}

function formatTable(image: string, predictions: readonly Prediction[]): string {
  const width = Math.max(5, ...predictions.map((p) => p.label.length));
  const head = `  ${'class'.padEnd(width)}  ${'prob'.padStart(8)}  ${'logit'.padStart(8)}`;
  const body = predictions.map((p) => `  ${p.label.padEnd(width)}  ${(100 * p.prob).toFixed(2).padStart(7)}%  ${p.logit.toFixed(3).padStart(8)}`);
  return [image, head, ...body].join('\n');
}

export const classifyCommand: Command = {
  path: ['classify'],
  summary: 'zero-shot classification of images with CLIP',
  usage: [
    '  styleclip classify --clip CKPT --vocab BPE.txt.gz --image FILE... (--labels "a,b,c" [--template T]... | --prompt P...)',
    '',
    CLIP_MODEL_USAGE,
    '  --image FILE       an image to classify (repeatable)',
    '  --labels LIST      comma-separated class names',
    `  --template T       prompt template with {} for the label (default "${DEFAULT_TEMPLATE}"); several make an ensemble`,
    '  --prompt P         a full prompt per class instead of labels (repeatable)',
    '  --json             print {"results": [{"image", "predictions": [{"label", "prob", "logit"}]}]}',
  ].join('\n'),
  options: {
    ...CLIP_MODEL_OPTIONS,
    image: { type: 'string', multiple: true },
    labels: { type: 'string' },
    template: { type: 'string', multiple: true },
    prompt: { type: 'string', multiple: true },
  },
  async run(args, io) {
    const images = strs(args, 'image');
    if (images.length === 0) throw new UsageError('no images; pass one or more --image FILE');
    const classes = classesOf(str(args, 'labels'), strs(args, 'template'), strs(args, 'prompt'));
    const tools = await loadClipTools(args, io);
    try {
      const tokens = tokenizeFor(tools, classes.prompts, flag(args, 'truncate'));
      const pixels = await readClipImages(images, tools.clip.config.imageResolution);
      const classEmb = ensembleEmbeddings(await tools.clip.encodeText(tokens), classes.templates);
      const imageEmb = await tools.clip.encodeImage(pixels);
      const predictions = classify(imageEmb, classEmb, classes.labels, tools.clip.config.logitScale);
      const text = flag(args, 'json')
        ? JSON.stringify({ results: images.map((image, i) => ({ image, predictions: predictions[i] })) })
        : images.map((image, i) => formatTable(image, predictions[i])).join('\n\n');
      io.stdout.write(text + '\n');
      return 0;
    } finally {
      await tools.clip.dispose();
    }
  },
};
