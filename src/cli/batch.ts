/**
 * `styleclip batch JOBS.jsonl --out DIR`: many edits from a JSON-lines file (src/jobs/batch.ts), a progress bar
 * over jobs, and `report.json` / `report.html` in DIR. Resumable: a second run skips finished jobs. Bad lines are
 * reported and skipped. Exit code 0 when every line finished, 2 when a line or job failed for a reason in the
 * input, 1 for an internal failure, 130 when interrupted (unfinished jobs run again next time).
 */
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { makeDirs } from '../io/atomic.js';
import { InputError } from '../errors.js';
import { runBatch, type BatchJob } from '../jobs/batch.js';
import { writeReport } from '../jobs/report.js';
import { JobStore } from '../jobs/store.js';
import { loadServices } from '../jobs/wiring.js';
import { UsageError, flag, num, requireStr, type CliIO, type Command } from './command.js';
import { DOMAINS_USAGE, MODEL_OPTIONS, MODEL_USAGE, ONE_PASS_OPTIONS, modelPaths, onePassPaths } from './serve.js';

/** Width of the bar in characters. */
const BAR_WIDTH = 24;
/** Redraw the bar at most this often (ms): terminal output is slow and a step can take milliseconds. */
const REDRAW_MS = 100;
/** Exit code after SIGINT (128 + signal 2, the shell convention). */
const EXIT_INTERRUPTED = 130;

/** One line per event when output is not a terminal; a redrawn bar when it is. */
function progressBar(io: CliIO, quiet: boolean) {
  const tty = Boolean(io.stderr.isTTY);
  let total = 0;
  let finished = 0;
  let failed = 0;
  let last = 0;
  const current = new Map<string, string>();
  const draw = (force = false): void => {
    if (quiet || !tty || (!force && Date.now() - last < REDRAW_MS)) return;
    last = Date.now();
    const filled = total ? Math.round((finished / total) * BAR_WIDTH) : BAR_WIDTH;
    const bar = '#'.repeat(filled) + '-'.repeat(BAR_WIDTH - filled);
    const now = [...current.values()].join(', ');
    io.stderr.write(`\r\x1b[K[${bar}] ${finished}/${total} jobs${failed ? ` (${failed} failed)` : ''}${now ? ` — ${now}` : ''}`);
  };
  const say = (s: string): void => {
    if (quiet) return;
    io.stderr.write(tty ? `\r\x1b[K${s}\n` : `${s}\n`);
    draw(true);
  };
  const label = (j: BatchJob): string => j.name ?? `line ${j.line}`;
  return {
    onPlan: (todo: number, already: number) => {
      total = todo;
      say(`${todo} job(s) to run${already ? `, ${already} already done` : ''}`);
    },
    onStart: (j: BatchJob) => (current.set(j.id, `${label(j)} step 0/${j.steps}`), draw()),
    onProgress: (j: BatchJob, p: { step: number; steps: number }) => (current.set(j.id, `${label(j)} step ${p.step}/${p.steps}`), draw()),
    onFinish: (j: BatchJob, status: string) => {
      current.delete(j.id);
      finished++;
      if (status !== 'done') failed++;
      say(`${label(j)}: ${status}`);
    },
    onSkip: (s: { line: number; error: string }) => say(`line ${s.line} skipped: ${s.error}`),
    end: () => !quiet && tty && io.stderr.write('\n'),
  };
}

export const batchCommand: Command = {
  path: ['batch'],
  summary: 'run many edits from a JSON-lines file, with a report (resumable)',
  usage: [
    '  styleclip batch JOBS.jsonl --out DIR --generator G --clip C --vocab V [--concurrency N] [--quiet]',
    '',
    '  JOBS.jsonl         one JSON object per line with the API\'s fields: prompt, one of seed / w_plus / image',
    '                     (paths relative to JOBS.jsonl), steps, lr, l2, id, layers, preprocess, space, truncation;',
    '                     optional name (letters, digits, _ and -) names the job\'s results. "method" picks the edit',
    '                     method: optimize (default, the fields above), global ({"method":"global","seed":1,',
    '                     "edits":[{"prompt":"face with red hair","neutral":"face","alpha":4.1,"beta":0.15}]}, needs',
    '                     --fs3/--stats) or mapper ({"method":"mapper","seed":1,"mapper":"mapper-afro","strength":0.1},',
    '                     needs --mappers)',
    '  --out DIR          results (DIR/edits/<job>/result.png, compare.png, before.png, latent.npy), report.json and',
    '                     report.html; running again with the same DIR skips finished jobs',
    ...MODEL_USAGE,
    '  --fs3/--stats      global directions (fs3.npy, S_mean_std; files or registry names) for "method":"global" lines',
    '  --mappers M,M      latent mappers (files or registry names) for "method":"mapper" lines, named by file base name',
    ...DOMAINS_USAGE,
    '  --concurrency N    jobs run at once (default 1)',
    '  --quiet            no progress output',
  ].join('\n'),
  options: { ...MODEL_OPTIONS, ...ONE_PASS_OPTIONS, out: { type: 'string' }, concurrency: { type: 'string' }, quiet: { type: 'boolean' } },
  allowPositionals: true,
  async run(args, io) {
    if (args.positionals.length !== 1) throw new UsageError('give exactly one jobs file: styleclip batch JOBS.jsonl --out DIR ...');
    const jobsFile = args.positionals[0];
    const out = requireStr(args, 'out');
    // The jobs file and every model are checked before --out is created.
    await access(jobsFile, constants.R_OK).catch((e: NodeJS.ErrnoException) => {
      throw new InputError(`cannot read jobs file ${jobsFile}: ${e.code ?? e.message}`);
    });
    const paths = { ...(await onePassPaths(args, io)), ...(await modelPaths(args, io)) };
    const concurrency = num(args, 'concurrency', 1, { min: 1, max: 64, integer: true });
    await makeDirs(out);
    const store = await new JobStore(out).init();
    const services = await loadServices(paths);
    try {
      const bar = progressBar(io, flag(args, 'quiet'));
      const summary = await runBatch({
        jobsFile,
        store,
        editor: services.editor,
        tokenizer: services.tokenizer,
        onePass: services.onePass,
        domains: services.domains,
        concurrency,
        signal: io.signal,
        events: bar,
        log: (m) => void io.stderr.write(`styleclip batch: ${m}\n`),
      });
      bar.end();
      const report = await writeReport(store, store.root, jobsFile, summary);
      const c = report.counts;
      io.stdout.write(
        `${c.done} done (${summary.already} from an earlier run), ${c.failed} failed, ${c.other} not finished, ` +
          `${c.skipped} line(s) skipped; report: ${store.root}/report.html\n`,
      );
      if (summary.interrupted) return EXIT_INTERRUPTED;
      if (report.jobs.some((j) => j.error?.code === 'internal')) return 1;
      return c.failed || c.skipped || c.other ? 2 : 0;
    } finally {
      await services.dispose();
    }
  },
};
