/** `STYLECLIP_TRACE=1`: one stderr line per timed phase (session builds, checkpoint reads); bench/cold-start.ts sums them. */
export const TRACE_ENV = 'STYLECLIP_TRACE';

export function trace(line: string): void {
  if (process.env[TRACE_ENV] === '1') process.stderr.write(`trace: ${line}\n`);
}
