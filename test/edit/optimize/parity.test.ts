/**
 * Parity with StyleCLIP's optimisation loop (../shared/fixtures/reference, cases `styleclip_optimization` and
 * `styleclip_optimization_f64`): 12 Adam steps from row 0 of sg2_wplus.npy with the fixture generator and CLIP, in
 * both preprocessing modes, against PyTorch's float32 run and the same run computed in float64.
 *
 * The `styleclip`-mode run is chaotic from step 9 on: before that step one leaky-ReLU pre-activation of the 32 px
 * conv1 layer sits 1.7e-8 from the kink in the float64 run, so which slope a float32 run takes there is decided by
 * rounding, and Adam's normalisation turns the gradient jump into a latent jump of ~1e-4. Measured with Debian's
 * PyTorch running the reference in float64: perturbing the start latent by 1e-7 sends the float64 run itself 1.3e-4
 * away in 5 of 8 seeds. Our gradients at every latent of our trajectory are within 8.5e-9 of the float64 gradient at
 * the same latent (PyTorch float32: 1.4e-8). So the float64 comparison holds the target through step 8 and the
 * fixture's 1e-3 over all 12 steps.
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
  pytorch_float32_max_abs_error: number;
}

const cases = (kind: string): OptCase[] =>
  (JSON.parse(readFileSync(fixture('manifest.json'), 'utf8')) as { cases: OptCase[] }).cases.filter((c) => c.kind === kind);

/** The float64 target: max(3 x PyTorch's own float32 error, 2e-5). */
const f64Target = (c: OptCase): number => Math.max(3 * c.pytorch_float32_max_abs_error, 2e-5);
/** Steps of the `styleclip` run before the kink crossing (see the header). */
const STEPS_BEFORE_KINK = 8;

/** Max abs difference of the first `steps` rows of two [steps, ...] trajectories. */
function trajErr(ours: Float32Array, expected: ArrayLike<number>, steps: number, totalSteps: number): number {
  const per = ours.length / totalSteps;
  return maxAbsDiff(ours.subarray(0, steps * per), Array.from(expected).slice(0, steps * per)).maxAbs;
}

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

  it('normalised mode: whole trajectory within max(3 x PyTorch float32 error, 2e-5) of the float64 run', async () => {
    const c = cases('styleclip_optimization_f64').find((m) => m.mode === 'normalised')!;
    const expected = await readNpy(fixture(c.trajectory));
    const ours = runs.normalised!.trajectory.data as Float32Array;
    const err = trajErr(ours, expected.data as Float64Array, expected.shape[0], expected.shape[0]);
    console.log(`normalised vs float64: ${err.toExponential(3)} (PyTorch float32: ${c.pytorch_float32_max_abs_error.toExponential(3)})`);
    expect(err).toBeLessThanOrEqual(f64Target(c));
  });

  it(`styleclip mode: steps 1-${STEPS_BEFORE_KINK} within max(3 x PyTorch float32 error, 2e-5) of the float64 run, all 12 within 1e-3 (kink crossing at step 9, see header)`, async () => {
    const c = cases('styleclip_optimization_f64').find((m) => m.mode === 'styleclip')!;
    const expected = await readNpy(fixture(c.trajectory));
    const ours = runs.styleclip!.trajectory.data as Float32Array;
    const steps = expected.shape[0];
    const early = trajErr(ours, expected.data as Float64Array, STEPS_BEFORE_KINK, steps);
    const all = trajErr(ours, expected.data as Float64Array, steps, steps);
    console.log(`styleclip vs float64: steps 1-${STEPS_BEFORE_KINK} ${early.toExponential(3)}, all ${all.toExponential(3)} (PyTorch float32: ${c.pytorch_float32_max_abs_error.toExponential(3)})`);
    expect(early).toBeLessThanOrEqual(f64Target(c));
    expect(all).toBeLessThanOrEqual(1e-3);
  });
});
