/**
 * The one optimisation loop of the project (latent optimisation, projection, mapper training): Adam (adam.ts) on a
 * flat float32 parameter vector, a learning-rate schedule, cancellation, and one engine call per step supplied by the
 * caller. The loop keeps nothing: callers see each step through `after` and keep what they need (a trajectory,
 * preview frames, a loss history), so a 10000-step job holds no more memory than a 10-step one.
 */
import { Adam } from './adam.js';

interface LoopSpec<R extends { readonly grad: ArrayLike<number> }> {
  /** Steps to run, counted from `from` (resuming) to `steps`. */
  readonly steps: number;
  readonly from?: number;
  /** Learning rate of step i (0-based). */
  readonly lr: (i: number) => number;
  /** The optimiser (default: a fresh Adam with torch's defaults); give one to pick betas or resume its moments. */
  readonly adam?: Adam;
  /** 0/1 per parameter: frozen elements get no update (adam.ts). */
  readonly mask?: Uint8Array;
  readonly signal?: AbortSignal;
  /** The error thrown when `signal` aborts (each caller's own cancellation type). */
  readonly cancelled: () => Error;
  /** The engine call at the current parameters: the gradient and whatever the caller reports. */
  run(params: Float32Array, i: number): Promise<R>;
  /** After the update of step i (1-based step i + 1 is complete): renormalisation, progress, retention. */
  after?(params: Float32Array, i: number, lr: number, result: R): void | Promise<void>;
}

/** Runs the loop on `params` in place. Throws `spec.cancelled()` when the signal aborts (checked before every step). */
export async function optimize<R extends { readonly grad: ArrayLike<number> }>(params: Float32Array, spec: LoopSpec<R>): Promise<void> {
  const adam = spec.adam ?? new Adam(params.length);
  for (let i = spec.from ?? 0; i < spec.steps; i++) {
    if (spec.signal?.aborted) throw spec.cancelled();
    const lr = spec.lr(i);
    const result = await spec.run(params, i);
    adam.step(params, result.grad, lr, spec.mask);
    await spec.after?.(params, i, lr, result);
  }
  if (spec.signal?.aborted) throw spec.cancelled();
}
