/**
 * `styleclip models list|pull|verify|path|rm` (and `convert`, ./models_convert.ts): the named pretrained models of
 * models/manifest.json and the local cache that holds them (src/io/models/registry.ts; downloads with resume and sha256
 * checks in src/io/models/download.ts). `$STYLECLIP_HOME` moves the cache, `$STYLECLIP_MANIFEST` replaces the manifest,
 * `$STYLECLIP_MIRROR` or `--base-url` pulls from a mirror laid out as `<base>/<model>/<file>`.
 */
import type { DownloadProgress, DownloadResult } from '../io/models/download.js';
import {
  ENV,
  cacheHome,
  formatBytes,
  loadManifest,
  modelPath,
  approxModelSize,
  modelSize,
  modelStatus,
  pullModel,
  removeModel,
  requireModel,
  verifyModel,
  type Manifest,
  type ModelEntry,
} from '../io/models/registry.js';
import { UsageError, flag, str, type CliIO, type Command } from './command.js';
import { InputError } from '../errors.js';
import { modelsConvertCommand } from './models_convert.js';

/** Least time between two progress redraws, and the bar's width in characters. */
const PROGRESS_INTERVAL_MS = 100;
const BAR_WIDTH = 24;
/** Exit status of a process stopped by SIGINT (128 + 2), as shells report it. */
const EXIT_INTERRUPTED = 130;

/** The licence's name without its parenthesised details, for the table. */
const shortLicence = (licence: string): string => licence.replace(/\s*\(.*$/, '');

function needNames(positionals: string[], what: string): void {
  if (positionals.length === 0) throw new UsageError(`name a model to ${what}; 'styleclip models list' shows the names`);
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]))).join('  ')).join('\n');
}

const modelsListCommand: Command = {
  path: ['models', 'list'],
  summary: 'named pretrained models: size, licence, downloaded or not, path',
  usage: [
    '  styleclip models list [--json]',
    '',
    '  --json   print an array of {name, aliases, kind, format, size, licence, citation, present, partialBytes, path, files}',
    '',
    `  The cache is $${ENV.home}, else $${ENV.xdgCache}/styleclip, else ~/.cache/styleclip.`,
  ].join('\n'),
  options: { json: { type: 'boolean' } },
  async run(args, io) {
    const manifest = await loadManifest();
    const home = cacheHome();
    const statuses = await Promise.all(manifest.models.map((m) => modelStatus(home, m)));
    if (flag(args, 'json')) {
      const out = manifest.models.map((m, i) => ({
        name: m.name,
        aliases: m.aliases,
        kind: m.kind,
        format: m.format,
        size: modelSize(m),
        approxSize: approxModelSize(m)?.bytes ?? null,
        licence: m.licence,
        citation: m.citation,
        present: statuses[i].present,
        partialBytes: statuses[i].partialBytes,
        path: statuses[i].path,
        files: m.files.map((f, j) => ({ ...f, present: statuses[i].files[j].present })),
      }));
      io.stdout.write(JSON.stringify(out, null, 2) + '\n');
      return 0;
    }
    const rows = manifest.models.map((m, i) => {
      const s = statuses[i];
      const size = approxModelSize(m);
      const state = s.present ? 'present' : s.partialBytes > 0 ? `partial ${formatBytes(s.partialBytes)}` : 'absent';
      return [m.name, m.kind, size === null ? '?' : `${size.exact ? '' : '~'}${formatBytes(size.bytes)}`, shortLicence(m.licence), state, s.path];
    });
    io.stdout.write(table([['NAME', 'KIND', 'SIZE', 'LICENCE', 'STATUS', 'PATH'], ...rows]) + '\n');
    return 0;
  },
};

/** Redraws one progress line on a TTY at most every PROGRESS_INTERVAL_MS; silent elsewhere. */
function progressLine(io: CliIO): { update(label: string, p: DownloadProgress): void; done(): void } {
  let last = 0;
  let drawn = false;
  return {
    update(label, p) {
      const now = performance.now();
      if (!io.stderr.isTTY || (now - last < PROGRESS_INTERVAL_MS && p.bytes !== p.total)) return;
      last = now;
      const rate = `${formatBytes(p.rate)}/s`;
      let text: string;
      if (p.total) {
        const frac = Math.min(1, p.bytes / p.total);
        const fill = Math.round(frac * BAR_WIDTH);
        const bar = '='.repeat(fill) + ' '.repeat(BAR_WIDTH - fill);
        text = `${label} [${bar}] ${(frac * 100).toFixed(0).padStart(3)}% ${formatBytes(p.bytes)}/${formatBytes(p.total)} ${rate}`;
      } else {
        text = `${label} ${formatBytes(p.bytes)} ${rate}`;
      }
      io.stderr.write(`\r${text}\x1b[K`);
      drawn = true;
    },
    done() {
      if (drawn) io.stderr.write('\n');
      drawn = false;
    },
  };
}

async function pullOne(manifest: Manifest, entry: ModelEntry, baseUrl: string | undefined, io: CliIO): Promise<void> {
  const bar = progressLine(io);
  let results: DownloadResult[];
  try {
    results = await pullModel(manifest, entry, {
      baseUrl,
      signal: io.signal,
      onProgress: (file, p) => bar.update(`${entry.name}/${file.name}`, p),
      onFileWait: (file, h) =>
        io.stderr.write(`${entry.name}/${file.name}: waiting for the download in process ${h.pid} on ${h.host}\n`),
    });
  } finally {
    bar.done();
  }
  entry.files.forEach((f, i) => {
    if (f.sha256 === null && results[i].downloaded) {
      io.stderr.write(
        `note: ${entry.name}/${f.name} has no published sha256; recorded ${results[i].sha256} ` +
          `(checked by later pulls and 'styleclip models verify')\n`,
      );
    }
  });
  io.stdout.write(`${entry.name}\t${modelPath(cacheHome(), entry)}\n`);
}

const modelsPullCommand: Command = {
  path: ['models', 'pull'],
  summary: 'download models by name (resumable, sha256-checked)',
  usage: [
    '  styleclip models pull NAME... [--base-url URL]',
    '',
    '  --base-url URL   pull from a mirror: each file is fetched from URL/<model>/<file> (default: $STYLECLIP_MIRROR,',
    '                   else each file\'s own URL in the manifest)',
    '',
    '  Prints "NAME<TAB>PATH" per model; a progress bar goes to stderr when it is a terminal. A model that fails is',
    '  reported and the others are still pulled (exit 2 when any failed). An interrupted pull',
    '  keeps a .partial file and resumes from it next time; only a verified file gets its final name.',
  ].join('\n'),
  options: { 'base-url': { type: 'string' } },
  allowPositionals: true,
  async run(args, io) {
    needNames(args.positionals, 'pull');
    const baseUrl = str(args, 'base-url');
    if (baseUrl !== undefined && !/^https?:\/\/[^/]/.test(baseUrl)) {
      throw new UsageError(`--base-url must be an http:// or https:// URL, got '${baseUrl}'`);
    }
    const manifest = await loadManifest();
    const entries = args.positionals.map((n) => requireModel(manifest, n));
    // Every model is tried: one that fails is reported and the others still pull; the exit code says some failed.
    const failed: string[] = [];
    for (const entry of entries) {
      try {
        await pullOne(manifest, entry, baseUrl, io);
      } catch (e) {
        if (io.signal.aborted) {
          io.stderr.write("styleclip: interrupted; the partial download is kept and the next 'styleclip models pull' resumes it\n");
          return EXIT_INTERRUPTED;
        }
        if (!(e instanceof InputError) || entries.length === 1) throw e;
        io.stderr.write(`styleclip: ${entry.name}: ${e.message}\n`);
        failed.push(entry.name);
      }
    }
    if (failed.length) throw new InputError(`${failed.length} of ${entries.length} models failed to download (${failed.join(', ')}); the others are in the cache`);
    return 0;
  },
};

const modelsVerifyCommand: Command = {
  path: ['models', 'verify'],
  summary: 'recompute the sha256 of downloaded models and compare with the manifest',
  usage: [
    '  styleclip models verify [NAME...]',
    '',
    '  Without names, verifies every model with files in the cache. A file whose digest the manifest does not know',
    '  is compared with the digest recorded when it was downloaded (or, the first time, has it recorded).',
    '  Exit status 1 when a file does not match or a named model is not downloaded.',
  ].join('\n'),
  options: {},
  allowPositionals: true,
  async run(args, io) {
    const manifest = await loadManifest();
    const home = cacheHome();
    const named = args.positionals.length > 0;
    const entries = named ? args.positionals.map((n) => requireModel(manifest, n)) : manifest.models;
    let failed = false;
    let checked = 0;
    for (const entry of entries) {
      const results = await verifyModel(home, entry);
      const absent = results.every((r) => r.state === 'absent');
      if (absent && !named) continue;
      checked++;
      if (absent) {
        io.stdout.write(`absent    ${entry.name} (run 'styleclip models pull ${entry.name}')\n`);
        failed = true;
        continue;
      }
      for (const r of results) {
        const where = `${entry.name}/${r.name}`;
        if (r.state === 'ok') io.stdout.write(`ok        ${where}\n`);
        if (r.state === 'recorded') io.stdout.write(`recorded  ${where} sha256 ${r.sha256} (no published digest)\n`);
        if (r.state === 'absent') io.stdout.write(`absent    ${where}\n`);
        if (r.state === 'mismatch') {
          const detail = r.detail ?? `sha256 ${r.sha256}, expected ${r.expected}`;
          io.stdout.write(`MISMATCH  ${where}: ${detail}; run 'styleclip models rm ${entry.name}' and pull it again\n`);
        }
        failed ||= r.state === 'mismatch' || r.state === 'absent';
      }
    }
    if (checked === 0) io.stdout.write("no models downloaded ('styleclip models pull NAME')\n");
    return failed ? 1 : 0;
  },
};

const modelsPathCommand: Command = {
  path: ['models', 'path'],
  summary: 'print where a model is (or will be) in the cache',
  usage: [
    '  styleclip models path NAME',
    '',
    '  Prints the path a loader opens (the file, or the directory of a multi-file model). Exit status 1, with a',
    '  note on stderr, when it is not downloaded yet; a file downloaded by hand can be placed there and checked',
    "  with 'styleclip models verify NAME'.",
  ].join('\n'),
  options: {},
  allowPositionals: true,
  async run(args, io) {
    needNames(args.positionals, 'locate');
    if (args.positionals.length > 1) throw new UsageError('models path takes one name');
    const entry = requireModel(await loadManifest(), args.positionals[0]);
    const status = await modelStatus(cacheHome(), entry);
    io.stdout.write(status.path + '\n');
    if (status.present) return 0;
    io.stderr.write(`styleclip: '${entry.name}' is not downloaded yet: run 'styleclip models pull ${entry.name}'\n`);
    return 1;
  },
};

const modelsRmCommand: Command = {
  path: ['models', 'rm'],
  summary: 'delete downloaded models (and their partial downloads) from the cache',
  usage: '  styleclip models rm NAME...',
  options: {},
  allowPositionals: true,
  async run(args, io) {
    needNames(args.positionals, 'remove');
    const manifest = await loadManifest();
    const entries = args.positionals.map((n) => requireModel(manifest, n));
    for (const entry of entries) {
      const removed = await removeModel(cacheHome(), entry);
      io.stdout.write(removed ? `removed ${entry.name}\n` : `${entry.name} was not downloaded\n`);
    }
    return 0;
  },
};

export const MODELS_COMMANDS: readonly Command[] = [
  modelsListCommand,
  modelsPullCommand,
  modelsVerifyCommand,
  modelsPathCommand,
  modelsRmCommand,
  modelsConvertCommand,
];
