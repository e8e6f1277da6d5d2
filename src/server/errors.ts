/**
 * HTTP errors of the API: every failure is `{ error: { code, message } }` with one of
 * 400 (malformed request: bad JSON, schema violation, unsafe name), 404 (unknown edit or model),
 * 413 (body over the limit), 422 (well-formed but unusable content: a truncated PNG, a wrong latent shape, NaN
 * values, a prompt over CLIP's 77 tokens — anything the library rejects with an `InputError`),
 * 429 (job queue full), 503 (shutting down) and 500 for our own bugs, which are logged and never echo internals.
 */
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { InputError } from '../errors.js';

export type ErrorCode =
  | 'invalid_request'
  | 'invalid_name'
  | 'invalid_input'
  | 'not_found'
  | 'unknown_model'
  | 'not_ready'
  | 'payload_too_large'
  | 'queue_full'
  | 'internal';

export interface ErrorBody {
  readonly error: { readonly code: ErrorCode; readonly message: string };
}

/** An error with a fixed HTTP status and code, thrown by request handling and mapped as is. */
export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** Thrown when the job queue has no room; carries the seconds a client should wait before retrying. */
export class QueueFullError extends ApiError {
  override name = 'QueueFullError';
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super(429, 'queue_full', message);
  }
}

export const notFound = (what: string): ApiError => new ApiError(404, 'not_found', `${what} does not exist`);

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
  if (err instanceof ApiError) return c.json(errorBody(err.code, err.message), err.status);
  if (err instanceof InputError) return c.json(errorBody('invalid_input', err.message), 422);
  if (err instanceof HTTPException) {
    const status = err.status as ContentfulStatusCode;
    return c.json(errorBody(HTTP_CODES[status] ?? 'invalid_request', err.message || 'bad request'), status);
  }
  log(`internal error on ${c.req.method} ${c.req.path}: ${(err as Error)?.stack ?? String(err)}`);
  return c.json(errorBody('internal', 'internal server error; the server log has the details'), 500);
}
