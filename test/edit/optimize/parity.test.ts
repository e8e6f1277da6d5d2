/**
 * Parity with StyleCLIP's optimisation loop (../shared/fixtures/reference, case `styleclip_optimization`): 12 Adam
 * steps from row 0 of sg2_wplus.npy with the fixture generator and CLIP, in both preprocessing modes, against
 * PyTorch's float32 run. The comparison with the float64 runs (this start and four held-out ones, every step) is
 * trajectories.test.ts.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { readNpy } from '../../../src/io/tensors/npy.js';
import { Editor } from '../../../src/edit/optimize/editor.js';
import type { EditResult } from '../../../src/edit/optimize/types.js';
import { fixtureSources, referenceStart } from '../../helpers/models.js';
import { fixture, maxAbsDiff } from '../../helpers/shared.js';

interface OptCase {
  kind: string;
  mode: 'styleclip' | 'normalised';
  description: string;
  steps: number;
  lr: number;
  l2_lambda: number;
  trajectory: string;
  losses: number[];
}

const cases = (kind: string): OptCase[] =>
  (JSON.parse(readFileSync(fixture('manifest.json'), 'utf8')) as { cases: OptCase[] }).cases.filter((c) => c.kind === kind);

describe('StyleCLIP latent optimisation parity', () => {
  const runs: Partial<Record<OptCase['mode'], EditResult & { trajectory: { shape: number[]; data: Float32Array } }>> = {};

  beforeAll(async () => {
    const editor = await Editor.load(fixtureSources());
    try {
      const start = await referenceStart();
      for (const c of cases('styleclip_optimization')) {
        const trajectory = new Float32Array(c.steps * start.data.length);
        const res = await editor.edit(
          { kind: 'w+', latent: start },
          { prompt: c.description, steps: c.steps, lr: c.lr, l2: c.l2_lambda, preprocess: c.mode === 'styleclip' ? 'styleclip' : 'normalized' },
          { hooks: { onLatent: (latent, step) => trajectory.set(latent, (step - 1) * latent.length) } },
        );
        runs[c.mode] = { ...res, trajectory: { shape: [c.steps, ...start.shape], data: trajectory } };
      }
    } finally {
      await editor.dispose();
    }
  });

  for (const mode of ['styleclip', 'normalised'] as const) {
    it(`${mode} mode: trajectory within 1e-3 and losses within 1e-4 of PyTorch's float32 run`, async () => {
      const c = cases('styleclip_optimization').find((m) => m.mode === mode)!;
      const res = runs[mode]!;
      const expected = await readNpy(fixture(c.trajectory));
      expect(res.trajectory.shape).toEqual(expected.shape);
      const traj = maxAbsDiff(res.trajectory.data as Float32Array, expected.data as Float32Array);
      const lossErr = Math.max(...res.history.map((h, i) => Math.abs(h.loss - c.losses[i])));
      console.log(`${mode}: trajectory max abs err ${traj.maxAbs.toExponential(3)}, loss max abs err ${lossErr.toExponential(3)}`);
      expect(traj.maxAbs).toBeLessThanOrEqual(1e-3);
      expect(lossErr).toBeLessThanOrEqual(1e-4);
    });
  }
});
