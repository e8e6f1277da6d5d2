/**
 * FAKE editor for queue-mechanics tests only (429 under load, cancellation, restart persistence), where what the
 * model computes is irrelevant and a controllable step time is what matters. It implements `EditService` with
 * solid-colour frames and a made-up decreasing loss. End-to-end tests use the real `Editor` with the fixture models.
 */
import type { EditService, EditorInfo } from '../../src/jobs/services.js';
import type { EditCall, EditProgress, EditStart } from '../../src/edit/types.js';
import type { EditOptions, EditResult } from '../../src/edit/optimize/types.js';
import type { RgbFrame } from '../../src/io/images/image.js';

/** Shapes of the tiny fixture generator (manifest: size 64, style dim 64, n_latent 10). */
export const FAKE_INFO: EditorInfo = { resolution: 64, nLatent: 10, wDim: 64, clipEmbedDim: 64, generator: 'fake_generator', clip: 'fake_clip' };

function solid(value: number, size = FAKE_INFO.resolution): RgbFrame {
  return { width: size, height: size, data: new Uint8Array(size * size * 3).fill(value) };
}

export class FakeEditService implements EditService {
  /** Edits started, in order (a job re-run after a restart appears twice). */
  readonly started: string[] = [];

  constructor(private readonly stepMs: number) {}

  info(): EditorInfo {
    return FAKE_INFO;
  }

  async edit(_start: EditStart, options: EditOptions, call: EditCall = {}): Promise<EditResult> {
    const { signal, hooks = {} } = call;
    this.started.push(options.prompt);
    const history: EditProgress[] = [];
    for (let step = 1; step <= options.steps; step++) {
      await new Promise<void>((resolve, reject) => {
        const onAbort = (): void => {
          clearTimeout(t);
          reject(signal?.reason);
        };
        const t = setTimeout(() => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        }, this.stepMs);
        signal?.addEventListener('abort', onAbort, { once: true });
        if (signal?.aborted) onAbort();
      });
      const p: EditProgress = {
        step,
        steps: options.steps,
        lr: options.lr,
        loss: 1 / step,
        clipLoss: 1 / step,
        l2Loss: 0,
        idLoss: 0,
        preview: options.previewEvery && step % options.previewEvery === 0 ? solid(step % 256) : undefined,
      };
      const { preview: _frame, ...kept } = p;
      history.push(kept);
      hooks.onProgress?.(p);
    }
    const dims = [1, FAKE_INFO.nLatent, FAKE_INFO.wDim];
    const latent = { dtype: 'float32' as const, shape: dims, data: new Float32Array(dims[1] * dims[2]) };
    return { before: solid(0), after: solid(255), latent, history };
  }

  dispose(): void {}
}

/** FAKE generator and CLIP for the same tests (the app needs them wired; these tests never call them). */
export const FAKE_GENERATOR = { generate: async () => solid(128) };
export const FAKE_CLIP = {
  classify: async (imgs: readonly unknown[], labels: readonly string[]) => ({
    asWritten: [],
    predictions: imgs.map(() => labels.map((label) => ({ label, prob: 1 / labels.length, logit: 0 }))),
  }),
  embedImages: async (imgs: readonly unknown[]) => imgs.map(() => [0]),
  embedTexts: async (texts: readonly string[]) => texts.map(() => [0]),
};
