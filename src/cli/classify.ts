/**
 * `styleclip classify`: CLIP zero-shot classification (Radford et al. 2021, §3.1) of files and folders. Labels
 * (--labels or --labels-file) are filled into a template set (--templates imagenet|simple|FILE, or --template T
 * repeated; labels that read as sentences are used as written), or raw --prompt texts are the classes. Images are
 * encoded in batches with a progress bar; images that fail to decode are reported and skipped. Prints a table per
 * image (the top-k classes), or --json, and writes a CSV/JSON report with --out (atomically).
 */
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { ZeroShotClassifier, checkLabels, listImages, namedTemplates, parseLabelsFile, parseTemplates, type FolderReport } from '../clip/classifier.js';
import { DEFAULT_TEMPLATE, parseLabels, type Prediction } from '../clip/zeroshot.js';
import { InputError } from '../errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { CLIP_MODEL_OPTIONS, CLIP_MODEL_USAGE, loadClipTools } from './clip_embed.js';
import { UsageError, flag, num, str, strs, type Command } from './command.js';
import { ProgressBar } from './progress.js';

const REPORT_FORMATS = ['.csv', '.json'];

interface Classes {
  readonly labels: string[];
  readonly templates: readonly string[];
}

async function readText(path: string, flagName: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    throw new UsageError(`${flagName} ${path}: cannot read the file`);
  }
}

async function templatesOf(set: string | undefined, given: string[]): Promise<readonly string[]> {
  if (set !== undefined && given.length > 0) throw new UsageError('pass either --templates or --template, not both');
  if (given.length > 0) return parseTemplates(given.join('\n'), '--template');
  if (set === undefined) return [DEFAULT_TEMPLATE];
  return namedTemplates(set) ?? parseTemplates(await readText(set, '--templates'), `--templates ${set}`);
}

async function classesOf(args: Parameters<Command['run']>[0]): Promise<Classes> {
  const list = str(args, 'labels');
  const file = str(args, 'labels-file');
  const prompts = strs(args, 'prompt');
  const given = [list !== undefined, file !== undefined, prompts.length > 0].filter(Boolean).length;
  if (given > 1) throw new UsageError('pass one of --labels, --labels-file or --prompt');
  if (given === 0) {
    throw new UsageError('no classes; pass --labels "dog,cat,diagram" (with optional --templates) or --labels-file FILE or one --prompt per class');
  }
  if (prompts.length > 0) {
    if (str(args, 'templates') !== undefined || strs(args, 'template').length > 0) {
      throw new UsageError('--template/--templates apply to labels; --prompt texts are used as they are');
    }
    checkLabels(prompts, '--prompt');
    return { labels: prompts, templates: ['{}'] };
  }
  const labels = list !== undefined ? parseLabels(list) : parseLabelsFile(await readText(file!, '--labels-file'), `--labels-file ${file}`);
  if (list !== undefined) checkLabels(labels, '--labels');
  return { labels, templates: await templatesOf(str(args, 'templates'), strs(args, 'template')) };
}

function formatTable(image: string, predictions: readonly Prediction[]): string {
  const width = Math.max(5, ...predictions.map((p) => p.label.length));
  const head = `  ${'class'.padEnd(width)}  ${'prob'.padStart(8)}  ${'logit'.padStart(8)}`;
  const body = predictions.map((p) => `  ${p.label.padEnd(width)}  ${(100 * p.prob).toFixed(2).padStart(7)}%  ${p.logit.toFixed(3).padStart(8)}`);
  return [image, head, ...body].join('\n');
}

const csvField = (s: string): string => (/[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);

/** CSV: file, then label_i, prob_i for each of the top-k. */
function reportCsv(report: FolderReport, topK: number): string {
  const head = ['file', ...Array.from({ length: topK }, (_, i) => [`label_${i + 1}`, `prob_${i + 1}`]).flat()];
  const rows = report.results.map((r) => [csvField(r.file), ...r.predictions.flatMap((p) => [csvField(p.label), p.prob.toPrecision(6)])].join(','));
  return [head.join(','), ...rows].join('\n') + '\n';
}

export const classifyCommand: Command = {
  path: ['classify'],
  summary: 'zero-shot classification of images and folders with CLIP',
  usage: [
    '  styleclip classify --images DIR|FILE... (--labels "a,b,c" | --labels-file FILE | --prompt P...)',
    '                     [--templates imagenet|simple|FILE] [--top-k 5] [--out report.csv|report.json] [--json]',
    '',
    CLIP_MODEL_USAGE,
    '  --images PATH      an image file or a folder of images (repeatable; --image is the same)',
    '  --labels LIST      comma-separated class names',
    '  --labels-file F    one class name per line',
    `  --templates SET    imagenet (CLIP's 80 ImageNet templates, averaged), simple ("a photo of a {}."), or a file`,
    `                     of templates, one per line with {} for the label; default "${DEFAULT_TEMPLATE}"`,
    '  --template T       one template (repeatable; several make an ensemble)',
    '                     labels that read as sentences ("a photo of a fat red cat.") are used as written',
    '  --prompt P         a full prompt per class instead of labels (repeatable)',
    '  --top-k K          classes shown per image, most probable first (default: all)',
    '  --out FILE         write a report: .csv (file, label_1, prob_1, ...) or .json (also lists failed images)',
    '  --json             print {"templates", "as_written", "results": [{"image", "predictions": [{"label", "prob", "logit"}]}], "failures"}',
    '  images that fail to decode are reported on stderr and skipped; a progress bar shows on a terminal',
  ].join('\n'),
  options: {
    ...CLIP_MODEL_OPTIONS,
    image: { type: 'string', multiple: true },
    images: { type: 'string', multiple: true },
    labels: { type: 'string' },
    'labels-file': { type: 'string' },
    template: { type: 'string', multiple: true },
    templates: { type: 'string' },
    prompt: { type: 'string', multiple: true },
    'top-k': { type: 'string' },
    out: { type: 'string' },
  },
  async run(args, io) {
    const inputs = [...strs(args, 'image'), ...strs(args, 'images')];
    if (inputs.length === 0) throw new UsageError('no images; pass one or more --images FILE|FOLDER');
    const out = str(args, 'out');
    if (out !== undefined && !REPORT_FORMATS.includes(extname(out).toLowerCase())) {
      throw new UsageError(`--out ${out}: the report is .csv or .json`);
    }
    const classes = await classesOf(args);
    const topK = num(args, 'top-k', classes.labels.length, { min: 1, integer: true });
    const files = await listImages(inputs);
    const tools = await loadClipTools(args, io);
    try {
      const classifier = await ZeroShotClassifier.create(tools.clip, tools.tokenizer, classes.labels, classes.templates, flag(args, 'truncate'));
      const bar = new ProgressBar(io.stderr, files.length);
      const report = await classifier.classifyFiles(files, { topK, onProgress: (done) => bar.update(done, 'images') });
      bar.finish();
      if (report.results.length === 0) {
        const first = report.failures[0];
        throw new InputError(files.length === 1 ? first.error : `none of the ${files.length} images could be read (first: ${first.error})`);
      }
      const asWritten = classifier.classes.asIs;
      if (out !== undefined) {
        const body = extname(out).toLowerCase() === '.csv'
          ? reportCsv(report, topK)
          : JSON.stringify({ templates: classes.templates, as_written: asWritten, ...report }, null, 1) + '\n';
        await writeFileAtomic(out, body);
      }
      if (flag(args, 'json')) {
        const results = report.results.map((r) => ({ image: r.file, predictions: r.predictions }));
        io.stdout.write(JSON.stringify({ templates: classes.templates, as_written: asWritten, results, failures: report.failures }) + '\n');
      } else {
        io.stdout.write(report.results.map((r) => formatTable(r.file, r.predictions)).join('\n\n') + '\n');
        const shown = classes.templates.length === 1 ? `"${classes.templates[0]}"` : `${classes.templates.length} templates (ensemble)`;
        const tail = asWritten.length ? `; used as written: ${asWritten.map((l) => `"${l}"`).join(', ')}` : '';
        for (const f of report.failures) io.stderr.write(`skipped ${f.file}: ${f.error}\n`);
        io.stderr.write(`prompts: labels filled into ${shown}${tail}${out ? `; report: ${out}` : ''}\n`);
      }
      return 0;
    } finally {
      await tools.clip.dispose();
    }
  },
};
