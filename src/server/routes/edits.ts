/**
 * `/v1/edits`: submit (202 {id}) an optimisation (`POST /v1/edits`) or a one-pass method (`POST /v1/edits/global`,
 * `/v1/edits/mapper`), status (the loss history summarised; `?history=all` for all of it), the history in pages
 * (`/:id/history?from=K&limit=N`), Server-Sent Events, result files, cancel.
 * Each handler validates, calls one `EditJobs` method and returns its result.
 */
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import type { EditJobs } from '../../jobs/jobs.js';
import { checkId } from '../../jobs/names.js';
import { editEvents } from '../sse.js';
import type { JobFile } from '../../jobs/store.js';
import { editForm, editJson, globalEditJson, mapperEditJson, oneBody } from '../validate.js';
import { globalMethod, mapperMethod } from '../../jobs/one_pass.js';
import { EditJson } from '../../jobs/schemas.js';
import { RequestError } from '../../jobs/errors.js';

/** Largest page of `GET /v1/edits/:id/history` (about 100 bytes a point). */
const MAX_HISTORY_PAGE = 10_000;
const DEFAULT_HISTORY_PAGE = 1_000;

/** `?history=all` includes the whole loss history in a status; nothing else is accepted. */
function historyQuery(v: string | undefined): boolean {
  if (v === undefined) return false;
  if (v === 'all') return true;
  throw new RequestError('invalid_request', `history: use history=all (the whole loss history) or leave it out (a summary); GET /v1/edits/:id/history pages it`);
}

/** `from` (0-based point index) and `limit` of a history page. */
function pageQuery(from: string | undefined, limit: string | undefined): { from: number; limit: number } {
  const int = (name: string, v: string | undefined, def: number, min: number, max: number): number => {
    if (v === undefined) return def;
    const n = Number(v);
    if (!/^\d+$/.test(v) || n < min || n > max) throw new RequestError('invalid_request', `${name}: an integer in ${min}..${max}, got '${v}'`);
    return n;
  };
  return { from: int('from', from, 0, 0, Number.MAX_SAFE_INTEGER), limit: int('limit', limit, DEFAULT_HISTORY_PAGE, 1, MAX_HISTORY_PAGE) };
}

const CONTENT_TYPES: Readonly<Record<JobFile, string>> = {
  'result.png': 'image/png',
  'compare.png': 'image/png',
  'before.png': 'image/png',
  'preview.png': 'image/png',
  'latent.npy': 'application/octet-stream',
  'photo.png': 'image/png',
};

/** Finished results never change; previews are replaced every few steps. */
const RESULT_CACHE = 'private, max-age=86400, immutable';
const PREVIEW_CACHE = 'no-store';

export function editRoutes(jobs: EditJobs, bodyLimit: MiddlewareHandler) {
  const file = (name: JobFile) => async (c: Context) => {
    const id = checkId(c.req.param('id') ?? '');
    const bytes = await jobs.file(id, name);
    c.header('Content-Type', CONTENT_TYPES[name]);
    c.header('Cache-Control', name === 'preview.png' ? PREVIEW_CACHE : RESULT_CACHE);
    c.header('Content-Disposition', `inline; filename="edit-${id}-${name}"`);
    return c.body(new Uint8Array(bytes));
  };
  return new Hono()
    .post('/', bodyLimit, editJson, editForm, async (c) => {
      return c.json(await jobs.submit(oneBody(c.req.valid('json'), c.req.valid('form'), c.req.header('content-type'), EditJson), c.req.header('idempotency-key')), 202);
    })
    .post('/global', bodyLimit, globalEditJson, async (c) => {
      const body = c.req.valid('json');
      return c.json(await jobs.submitOnePass(globalMethod(body.edits), body, c.req.header('idempotency-key')), 202);
    })
    .post('/mapper', bodyLimit, mapperEditJson, async (c) => {
      const body = c.req.valid('json');
      return c.json(await jobs.submitOnePass(mapperMethod(body.mapper, body.strength), body, c.req.header('idempotency-key')), 202);
    })
    .get('/:id', async (c) => c.json(await jobs.status(checkId(c.req.param('id')), historyQuery(c.req.query('history')))))
    .get('/:id/history', async (c) => {
      const { from, limit } = pageQuery(c.req.query('from'), c.req.query('limit'));
      return c.json(await jobs.historyPage(checkId(c.req.param('id')), from, limit));
    })
    .delete('/:id', async (c) => c.json(await jobs.cancel(checkId(c.req.param('id')))))
    .get('/:id/events', (c) => editEvents(c, jobs, checkId(c.req.param('id'))))
    .get('/:id/result.png', file('result.png'))
    .get('/:id/compare.png', file('compare.png'))
    .get('/:id/before.png', file('before.png'))
    .get('/:id/preview.png', file('preview.png'))
    .get('/:id/latent.npy', file('latent.npy'))
    .get('/:id/photo.png', file('photo.png'));
}
