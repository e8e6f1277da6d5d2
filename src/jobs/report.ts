/**
 * The batch report: `report.json` (machine-readable: every job's status, prompt, final losses, result files, and
 * the skipped lines with their errors) and `report.html` (self-contained: before/after thumbnails embedded as data
 * URLs, links to the full-size files). Both are written atomically.
 */
import { join, relative } from 'node:path';
import { writeFileAtomic } from '../io/atomic.js';
import type { BatchSummary } from './batch.js';
import { thumbnailDataUrl } from './images.js';
import type { JobState, JobStore, LossPoint } from './store.js';

/** Thumbnail edge in the HTML report (px): large enough to judge an edit, small enough for hundreds of jobs. */
const THUMBNAIL_SIZE = 160;

interface ReportJob {
  readonly line: number;
  readonly id: string;
  readonly name?: string;
  readonly prompt: string;
  readonly status: JobState['status'];
  readonly steps: number;
  readonly final?: LossPoint;
  readonly files?: { readonly result: string; readonly compare: string; readonly before: string; readonly latent: string; readonly photo?: string };
  readonly error?: JobState['error'];
}

export interface Report {
  readonly generatedAt: string;
  readonly jobsFile: string;
  readonly counts: { readonly done: number; readonly failed: number; readonly other: number; readonly skipped: number };
  readonly jobs: readonly ReportJob[];
  readonly skipped: BatchSummary['skipped'];
}

const esc = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);

const fmt = (x: number | undefined): string => (x === undefined ? '' : x.toFixed(4));

async function reportJob(store: JobStore, outDir: string, job: BatchSummary['jobs'][number]): Promise<ReportJob> {
  const state = await store.state(job.id);
  const rel = (file: 'result.png' | 'compare.png' | 'before.png' | 'latent.npy' | 'photo.png'): string =>
    relative(outDir, store.path(job.id, file)).split('\\').join('/');
  const done = state?.status === 'done';
  const photo = done && (await store.readFile(job.id, 'photo.png')) !== undefined ? { photo: rel('photo.png') } : {};
  return {
    line: job.line,
    id: job.id,
    name: job.name,
    prompt: job.prompt,
    status: state?.status ?? 'queued',
    steps: job.steps,
    final: (await store.readHistory(job.id)).points.at(-1),
    files: done ? { result: rel('result.png'), compare: rel('compare.png'), before: rel('before.png'), latent: rel('latent.npy'), ...photo } : undefined,
    error: state?.error,
  };
}

async function row(store: JobStore, j: ReportJob): Promise<string> {
  const thumb = async (file: 'before.png' | 'result.png', alt: string): Promise<string> => {
    const bytes = j.files ? await store.readFile(j.id, file) : undefined;
    return bytes ? `<img src="${await thumbnailDataUrl(bytes, THUMBNAIL_SIZE)}" alt="${esc(alt)}">` : '';
  };
  const loss = j.final
    ? `${fmt(j.final.loss)}<br><small>CLIP ${fmt(j.final.clipLoss)} · L2 ${fmt(j.final.l2Loss)} · ID ${fmt(j.final.idLoss)}</small>`
    : '';
  const links = j.files
    ? `<a href="${esc(j.files.result)}">result</a> · <a href="${esc(j.files.compare)}">compare</a> · <a href="${esc(j.files.latent)}">latent</a>` +
      (j.files.photo ? ` · <a href="${esc(j.files.photo)}">photo</a>` : '')
    : esc(j.error?.message ?? '');
  return (
    `<tr><td>${j.line}</td><td>${esc(j.name ?? j.id)}</td><td>${esc(j.prompt)}</td>` +
    `<td>${await thumb('before.png', `before: ${j.prompt}`)}</td><td>${await thumb('result.png', `after: ${j.prompt}`)}</td>` +
    `<td class="${j.status}">${j.status}</td><td>${loss}</td><td>${links}</td></tr>`
  );
}

function page(report: Report, rows: string[]): string {
  const skipped = report.skipped.map((s) => `<li>line ${s.line}: ${esc(s.error)}</li>`).join('');
  const c = report.counts;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>styleclip batch report</title>
<style>
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#1b1f24}table{border-collapse:collapse;width:100%}
th,td{border-bottom:1px solid #d1d5db;padding:.4rem .6rem;text-align:left;vertical-align:middle}
img{width:${THUMBNAIL_SIZE}px;height:auto;display:block}.done{color:#166534}.failed{color:#b91c1c}small{color:#4b5563}
</style></head><body>
<h1>styleclip batch report</h1>
<p>${esc(report.jobsFile)} — ${c.done} done, ${c.failed} failed, ${c.other} not finished, ${c.skipped} lines skipped. Generated ${esc(report.generatedAt)}.</p>
<table><thead><tr><th scope="col">Line</th><th scope="col">Job</th><th scope="col">Prompt</th><th scope="col">Before</th>
<th scope="col">After</th><th scope="col">Status</th><th scope="col">Final loss</th><th scope="col">Files</th></tr></thead>
<tbody>${rows.join('\n')}</tbody></table>
${skipped ? `<h2>Skipped lines</h2><ul>${skipped}</ul>` : ''}
</body></html>
`;
}

/** Writes `report.json` and `report.html` into `outDir`; returns the report. */
export async function writeReport(store: JobStore, outDir: string, jobsFile: string, summary: BatchSummary): Promise<Report> {
  const jobs = await Promise.all(summary.jobs.map((j) => reportJob(store, outDir, j)));
  const count = (s: string): number => jobs.filter((j) => j.status === s).length;
  const report: Report = {
    generatedAt: new Date().toISOString(),
    jobsFile,
    counts: { done: count('done'), failed: count('failed'), other: jobs.length - count('done') - count('failed'), skipped: summary.skipped.length },
    jobs,
    skipped: summary.skipped,
  };
  await writeFileAtomic(join(outDir, 'report.json'), JSON.stringify(report, null, 2) + '\n');
  const rows: string[] = [];
  for (const j of jobs) rows.push(await row(store, j));
  await writeFileAtomic(join(outDir, 'report.html'), page(report, rows));
  return report;
}
