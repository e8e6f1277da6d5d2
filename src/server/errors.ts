/**
 * HTTP errors of the API: every failure is `{ error: { code, message } }` with one of
 * 400 (malformed request: bad JSON, schema violation, unsafe name), 404 (unknown edit or model), 409 (a conflicting
 * request in flight), 413 (body over the limit), 422 (well-formed but unusable content: a truncated PNG, a wrong
 * latent shape, NaN values, a prompt over CLIP's 77 tokens — anything the library rejects with an `InputError`),
 * 429 (job queue full), 503 (shutting down, queue unreachable) and 500 for our own bugs, which are logged and never
 * echo internals. The job layer's `RequestError` codes (src/jobs/errors.ts) map to statuses here.
 */
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { InputError } from '../errors.js';
import { QueueFullError, RequestError, type ErrorCode } from '../jobs/errors.js';

interface ErrorBody {
  readonly error: { readonly code: ErrorCode; readonly message: string };
}

/** The HTTP status of each error code. */
const STATUS_OF: Readonly<Record<ErrorCode, ContentfulStatusCode>> = {
  invalid_request: 400,
  invalid_name: 400,
  invalid_input: 422,
  not_found: 404,
  unknown_model: 404,
  conflict: 409,
  not_ready: 503,
  payload_too_large: 413,
  queue_full: 429,
  internal: 500,
};

export function errorBody(code: ErrorCode, message: string): ErrorBody {
  return { error: { code, message } };
}

const HTTP_CODES: Readonly<Partial<Record<number, ErrorCode>>> = {
  400: 'invalid_request',
  404: 'not_found',
  413: 'payload_too_large',
};

/** Maps anything thrown while handling a request to the JSON error response. */
export function toErrorResponse(err: unknown, c: Context, log: (msg: string) => void): Response {
  if (err instanceof QueueFullError) {
    c.header('Retry-After', String(err.retryAfterSeconds));
  }
  if (err instanceof RequestError) return c.json(errorBody(err.code, err.message), STATUS_OF[err.code]);
  if (err instanceof InputError) return c.json(errorBody('invalid_input', err.message), 422);
  if (err instanceof HTTPException) {
    const status = err.status as ContentfulStatusCode;
    return c.json(errorBody(HTTP_CODES[status] ?? 'invalid_request', err.message || 'bad request'), status);
  }
  log(`internal error on ${c.req.method} ${c.req.path}: ${(err as Error)?.stack ?? String(err)}`);
  return c.json(errorBody('internal', 'internal server error; the server log has the details'), 500);
}
