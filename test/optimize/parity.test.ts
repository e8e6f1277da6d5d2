/**
 * Parity with StyleCLIP's optimisation loop (../shared/fixtures/reference, case `styleclip_optimization`): 12 Adam
 * steps from row 0 of sg2_wplus.npy with the fixture generator and CLIP, in both preprocessing modes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { readNpy } from '../../src/io/npy.js';
import { Editor } from '../../src/optimize/editor.js';
import type { HostTensor } from '../../src/engine/tensor.js';
import { fixtureSources, referenceStart } from '../helpers/models.js';
import { fixture, maxAbsDiff } from '../helpers/shared.js';

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

const manifest = (): OptCase[] =>
  (JSON.parse(readFileSync(fixture('manifest.json'), 'utf8')) as { cases: OptCase[] }).cases.filter((c) => c.kind === 'styleclip_optimization');

describe('StyleCLIP latent optimisation parity', () => {
  let editor: Editor;
  let start: HostTensor;

  beforeAll(async () => {
    editor = await Editor.load(fixtureSources());
    start = await referenceStart();
  });
  afterAll(async () => editor?.dispose());

  for (const mode of ['styleclip', 'normalised'] as const) {
    it(`${mode} mode: trajectory within 1e-3 and losses within 1e-4 of the reference`, async () => {
      const c = manifest().find((m) => m.mode === mode)!;
      const res = await editor.edit(
        { kind: 'w+', latent: start },
        { prompt: c.description, steps: c.steps, lr: c.lr, l2: c.l2_lambda, preprocess: mode === 'styleclip' ? 'styleclip' : 'normalized' },
      );
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
