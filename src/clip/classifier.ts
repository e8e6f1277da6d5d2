/**
 * Zero-shot classification as people run it over folders (Radford et al. 2021, §3.1.4 and the ImageNet notebook):
 * class prompts from labels and a template set, one prompt-ensembled unit text embedding per class (computed once),
 * then images decoded, preprocessed at the model's resolution and encoded in batches, the next batch decoded on
 * sharp's threads while the current one is encoded. Preprocessing (Pillow-exact resampling) stays on the main
 * thread: onnxruntime-node blocks it during a run, and a worker thread measured slower (it takes a core from ORT's
 * spinning intra-op threads on a 2-core machine). Images that fail to decode are reported and skipped.
 *
 * Labels that already read as sentences ("a photo of a fat red cat.", "not a photo of a fat red cat.") are used as
 * their own prompt: filling them into "a photo of {}" would give "a photo of a photo of ...".
 */
import { readdir, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import type { HostTensor } from '../engine/tensor.js';
import { InputError } from '../errors.js';
import { readImagePixels, type Pixels } from '../io/images/image.js';
import type { Clip } from './clip.js';
import { TEMPLATE_SETS } from './templates.js';
import type { ClipTokenizer } from './tokenizer.js';
import { classify, ensembleGroups, fillTemplate, TEMPLATE_SLOT, type Prediction } from './zeroshot.js';

/** A label of at least this many words is a description, used as its own prompt. */
const SENTENCE_MIN_WORDS = 4;
/** Images encoded per batch (the largest session batch of Clip, CLIP_BATCHES[0]). */
const CLASSIFY_BATCH = 16;
/** File extensions a folder is searched for (what sharp decodes). */
const IMAGE_EXTENSIONS: readonly string[] = ['.jpg', '.jpeg', '.png', '.webp', '.gif', '.tif', '.tiff', '.avif'];

/** Whether a label reads as a whole prompt: it ends a sentence, or has SENTENCE_MIN_WORDS or more words. */
function looksLikeSentence(label: string): boolean {
  return /[.!?]$/.test(label.trim()) || label.trim().split(/\s+/).length >= SENTENCE_MIN_WORDS;
}

/** Refuses empty and repeated labels, naming them. */
export function checkLabels(labels: readonly string[], where = 'labels'): void {
  if (labels.length === 0) throw new InputError(`${where}: no labels given`);
  const seen = new Map<string, number>();
  labels.forEach((l, i) => {
    if (l.trim() === '') throw new InputError(`${where}: label ${i + 1} is empty`);
    const first = seen.get(l);
    if (first !== undefined) throw new InputError(`${where}: label '${l}' is given twice (${first + 1} and ${i + 1}); each class once`);
    seen.set(l, i);
  });
}

/** Lines of a text file, trimmed; blank lines are refused (a trailing newline is fine). */
function fileLines(text: string, where: string, what: string): string[] {
  const lines = text.replace(/\r\n?/g, '\n').replace(/\n+$/, '').split('\n');
  lines.forEach((l, i) => {
    if (l.trim() === '') throw new InputError(`${where}: line ${i + 1} is empty; one ${what} per line, no blank lines`);
  });
  return lines.map((l) => l.trim());
}

/** A labels file: one class per line, no blank lines, no duplicates. */
export function parseLabelsFile(text: string, where: string): string[] {
  const labels = fileLines(text, where, 'label');
  checkLabels(labels, where);
  return labels;
}

/** A template set by name (`imagenet`: CLIP's 80, `simple`: "a photo of a {}.") or the lines of a file. */
export function parseTemplates(text: string, where: string): string[] {
  const templates = fileLines(text, where, 'template');
  templates.forEach((t, i) => {
    if (!t.includes(TEMPLATE_SLOT)) throw new InputError(`${where}: template on line ${i + 1} ('${t}') has no '${TEMPLATE_SLOT}' where the label goes`);
  });
  return templates;
}

/** The named template set, or undefined when `name` is not one (then it is a file). */
export function namedTemplates(name: string): readonly string[] | undefined {
  return Object.hasOwn(TEMPLATE_SETS, name) ? TEMPLATE_SETS[name] : undefined;
}

/** Prompts per class, class-major: a sentence label is its own single prompt, others fill every template. */
interface ClassPrompts {
  readonly labels: readonly string[];
  readonly prompts: readonly string[];
  /** Prompts of each class, in order. */
  readonly groups: readonly number[];
  /** Labels used as they are (no template). */
  readonly asIs: readonly string[];
}

function classPrompts(labels: readonly string[], templates: readonly string[]): ClassPrompts {
  checkLabels(labels);
  if (templates.length === 0) throw new InputError('no prompt templates given');
  const prompts: string[] = [];
  const groups: number[] = [];
  const asIs: string[] = [];
  for (const label of labels) {
    const own = looksLikeSentence(label);
    if (own) asIs.push(label);
    const mine = own ? [label] : templates.map((t) => fillTemplate(t, label));
    prompts.push(...mine);
    groups.push(mine.length);
  }
  return { labels, prompts, groups, asIs };
}

/** Files to classify: each input file as given, each folder's image files (by extension, sorted by name). */
export async function listImages(inputs: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const input of inputs) {
    const info = await stat(input).catch(() => undefined);
    if (!info) throw new InputError(`${input}: no such file or folder`);
    if (!info.isDirectory()) {
      out.push(input);
      continue;
    }
    const names = (await readdir(input)).filter((n) => IMAGE_EXTENSIONS.includes(extname(n).toLowerCase())).sort();
    if (names.length === 0) throw new InputError(`${input}: a folder with no images (${IMAGE_EXTENSIONS.join(', ')})`);
    out.push(...names.map((n) => join(input, n)));
  }
  return out;
}

interface FileResult {
  readonly file: string;
  /** The top-k classes, most probable first. */
  readonly predictions: readonly Prediction[];
}

interface FileFailure {
  readonly file: string;
  readonly error: string;
}

export interface FolderReport {
  readonly results: FileResult[];
  readonly failures: FileFailure[];
}

interface ClassifyFilesOptions {
  readonly topK?: number;
  readonly maxPixels?: number;
  /** Called after each batch with the files done (classified or failed) and the total. */
  readonly onProgress?: (done: number, total: number) => void;
}

interface Prepared {
  readonly files: string[];
  readonly pixels?: HostTensor;
  readonly failures: FileFailure[];
}

/** A CLIP model with the class embeddings of one label set: classify pixels or files against it. */
export class ZeroShotClassifier {
  private constructor(
    readonly clip: Clip,
    readonly classes: ClassPrompts,
    private readonly classEmbeds: HostTensor,
  ) {}

  /** Encodes every class prompt once (texts over the context length fail unless `truncate`). */
  static async create(clip: Clip, tokenizer: ClipTokenizer, labels: readonly string[], templates: readonly string[], truncate = false): Promise<ZeroShotClassifier> {
    const classes = classPrompts(labels, templates);
    const tokens = tokenizer.tokenize(classes.prompts, { contextLength: clip.config.contextLength, truncate });
    return new ZeroShotClassifier(clip, classes, ensembleGroups(await clip.encodeText(tokens), classes.groups));
  }

  /** Predictions per image of preprocessed pixels [N,3,R,R], most probable first, the first `topK`. */
  async classifyPixels(pixels: HostTensor, topK = this.classes.labels.length): Promise<Prediction[][]> {
    const embeds = await this.clip.encodeImage(pixels);
    return classify(embeds, this.classEmbeds, this.classes.labels, this.clip.config.logitScale).map((p) => p.slice(0, topK));
  }

  /** Predictions per decoded image. */
  classifyImages(images: readonly Pixels[], topK?: number): Promise<Prediction[][]> {
    return this.classifyPixels(this.clip.preprocess(images), topK);
  }

  /** Classifies image files in batches, decoding the next batch while the current one is encoded. */
  async classifyFiles(files: readonly string[], options: ClassifyFilesOptions = {}): Promise<FolderReport> {
    const topK = checkTopK(options.topK ?? this.classes.labels.length);
    const batches: string[][] = [];
    for (let i = 0; i < files.length; i += CLASSIFY_BATCH) batches.push(files.slice(i, i + CLASSIFY_BATCH));
    const report: FolderReport = { results: [], failures: [] };
    let done = 0;
    let next = batches.length ? this.prepare(batches[0], options.maxPixels) : undefined;
    for (let b = 0; b < batches.length; b++) {
      const cur = await next!;
      next = b + 1 < batches.length ? this.prepare(batches[b + 1], options.maxPixels) : undefined;
      if (cur.pixels) {
        const preds = await this.classifyPixels(cur.pixels, topK);
        cur.files.forEach((file, i) => report.results.push({ file, predictions: preds[i] }));
      }
      report.failures.push(...cur.failures);
      done += batches[b].length;
      options.onProgress?.(done, files.length);
    }
    return report;
  }

  private async prepare(files: readonly string[], maxPixels: number | undefined): Promise<Prepared> {
    const decoded = await Promise.all(files.map((f) => readImagePixels(f, { maxPixels }).then((img) => ({ f, img }), (e: unknown) => ({ f, e }))));
    const ok: { f: string; img: Pixels }[] = [];
    const failures: FileFailure[] = [];
    for (const d of decoded) {
      if ('img' in d) ok.push(d);
      else if (d.e instanceof InputError) failures.push({ file: d.f, error: d.e.message });
      else throw d.e;
    }
    return { files: ok.map((d) => d.f), pixels: ok.length ? this.clip.preprocess(ok.map((d) => d.img)) : undefined, failures };
  }
}

/** `topK` must be a positive integer. */
export function checkTopK(k: number): number {
  if (!Number.isInteger(k) || k < 1) throw new InputError(`top-k must be a positive integer, got ${k}`);
  return k;
}
