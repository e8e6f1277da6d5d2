/**
 * `/v1/edits`: submit (202 {id}) an optimisation (`POST /v1/edits`) or a one-pass method (`POST /v1/edits/global`,
 * `/v1/edits/mapper`), status with loss history, Server-Sent Events, result files, cancel.
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
    .get('/:id', async (c) => c.json(await jobs.status(checkId(c.req.param('id')))))
    .delete('/:id', async (c) => c.json(await jobs.cancel(checkId(c.req.param('id')))))
    .get('/:id/events', (c) => editEvents(c, jobs, checkId(c.req.param('id'))))
    .get('/:id/result.png', file('result.png'))
    .get('/:id/compare.png', file('compare.png'))
    .get('/:id/before.png', file('before.png'))
    .get('/:id/preview.png', file('preview.png'))
    .get('/:id/latent.npy', file('latent.npy'))
    .get('/:id/photo.png', file('photo.png'));
}
