/**
 * Errors of requests to the job layer (the HTTP API, batch lines and workers share them): each carries a code that
 * says what kind of fault it is; src/server/errors.ts maps codes to HTTP statuses, the CLI prints the message. They
 * are `InputError`s: the caller's request, not our code, is at fault.
 */
import { InputError } from '../errors.js';

export type ErrorCode =
  | 'invalid_request'
  | 'invalid_name'
  | 'invalid_input'
  | 'not_found'
  | 'unknown_model'
  | 'conflict'
  | 'not_ready'
  | 'payload_too_large'
  | 'queue_full'
  | 'internal';

/** A refused request: malformed (`invalid_request`, `invalid_name`), unknown (`not_found`, `unknown_model`), ... */
export class RequestError extends InputError {
  override name = 'RequestError';
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** Thrown when the job queue has no room; carries the seconds a client should wait before retrying. */
export class QueueFullError extends RequestError {
  override name = 'QueueFullError';
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super('queue_full', message);
  }
}

export const notFound = (what: string): RequestError => new RequestError('not_found', `${what} does not exist`);
