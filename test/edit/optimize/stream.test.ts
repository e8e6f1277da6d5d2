import { describe, expect, it } from 'vitest';
import { editEvents } from '../../../src/edit/optimize/stream.js';
import type { EditProgress } from '../../../src/edit/types.js';
import type { EditResult } from '../../../src/edit/optimize/types.js';

const progress = (step: number): EditProgress => ({ step, steps: 3, lr: 0.1, loss: 1 / step, clipLoss: 1, l2Loss: 0, idLoss: 0 });
const frame = { width: 1, height: 1, data: Uint8Array.of(0, 0, 0) };
const result: EditResult = {
  before: frame,
  after: frame,
  latent: { dtype: 'float32', shape: [1, 1], data: Float32Array.of(0) },
  history: [progress(1), progress(2), progress(3)],
};

describe('editEvents', () => {
  it('yields every progress event in order, then the result', async () => {
    const events = [];
    for await (const e of editEvents(async ({ hooks }) => {
      for (let s = 1; s <= 3; s++) {
        await new Promise((r) => setTimeout(r, 1));
        hooks?.onProgress?.(progress(s));
      }
      return result;
    })) events.push(e.type === 'progress' ? e.progress.step : 'result');
    expect(events).toEqual([1, 2, 3, 'result']);
  });

  it('rethrows the run error after the events before it', async () => {
    const seen: number[] = [];
    await expect(
      (async () => {
        for await (const e of editEvents(async ({ hooks }) => {
          hooks?.onProgress?.(progress(1));
          throw new Error('boom');
        })) if (e.type === 'progress') seen.push(e.progress.step);
      })(),
    ).rejects.toThrow('boom');
    expect(seen).toEqual([1]);
  });
});
