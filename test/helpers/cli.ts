/** Runs the `styleclip` CLI in-process and captures its output and exit code. */
import { Writable } from 'node:stream';
import { main } from '../../src/cli/main.js';

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** `tty`: stderr claims to be a terminal (progress bars and status lines are drawn only there). */
export async function runCli(argv: string[], signal?: AbortSignal, opts: { readonly tty?: boolean } = {}): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const sink = (append: (s: string) => void): Writable =>
    new Writable({
      write(chunk, _enc, cb) {
        append(String(chunk));
        cb();
      },
    });
  const code = await main(argv, {
    stdout: sink((s) => (stdout += s)),
    stderr: Object.assign(sink((s) => (stderr += s)), opts.tty ? { isTTY: true } : {}),
    signal: signal ?? new AbortController().signal,
  });
  return { code, stdout, stderr };
}
