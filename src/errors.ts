/**
 * Errors a user can cause (a bad file, a wrong shape, an unknown model name, an empty prompt). They carry a message
 * that names the fix; the CLI prints them as one line with exit code 2 and the server maps them to 4xx.
 */
export class InputError extends Error {
  override name = 'InputError';
  readonly userError = true;
}

/**
 * A long computation stopped by its AbortSignal (Ctrl-C, a cancelled job, a shutdown); nothing partial is left
 * behind. Every cancellation extends it (EditCancelled, ProjectionCancelled, JobCancelled, ShutdownAbort), so a
 * caller that only needs to know "it was stopped" checks this one class.
 */
export class Cancelled extends Error {
  override name = 'Cancelled';
}
