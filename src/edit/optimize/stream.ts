/**
 * An edit as an async iterator: yields each step's progress as it happens and finally the result, so callers can
 * `for await` over an edit (the HTTP server's SSE stream and the CLI progress bar consume the same events).
 */
import type { EditCall, EditProgress } from '../types.js';
import type { EditResult } from './types.js';

type EditEvent = { readonly type: 'progress'; readonly progress: EditProgress } | { readonly type: 'result'; readonly result: EditResult };

/**
 * Runs `run(call)` and yields its progress events in order, then the result. An error (including cancellation
 * through `signal`) is thrown from the iterator after the events that preceded it.
 */
export async function* editEvents(run: (call: EditCall) => Promise<EditResult>, signal?: AbortSignal): AsyncGenerator<EditEvent> {
  const queue: EditEvent[] = [];
  let wake: (() => void) | undefined;
  let finished = false;
  let failure: unknown;
  const push = (e: EditEvent): void => {
    queue.push(e);
    wake?.();
  };
  run({ signal, hooks: { onProgress: (progress) => push({ type: 'progress', progress }) } })
    .then((result) => push({ type: 'result', result }))
    .catch((e: unknown) => (failure = e ?? new Error('edit failed')))
    .finally(() => {
      finished = true;
      wake?.();
    });
  for (;;) {
    if (queue.length > 0) {
      const e = queue.shift()!;
      yield e;
      if (e.type === 'result') return;
      continue;
    }
    if (finished) {
      if (failure !== undefined) throw failure;
      return;
    }
    await new Promise<void>((resolve) => (wake = resolve));
    wake = undefined;
  }
}
