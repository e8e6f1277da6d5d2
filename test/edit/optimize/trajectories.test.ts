/**
 * StyleCLIP optimisation against float64, case by case (issue 25 part 1): the shared fixture's start and four
 * held-out cases (test/fixtures/styleclip, tools/fixtures/styleclip_trajectories.py: the official loop, generator and
 * CLIP loss run by PyTorch in float32 and float64), both CLIP-input modes, 12 steps each.
 *
 * Target (the issue's): every step within max(3 x PyTorch's own float32 error, 2e-5) of float64.
 *
 * Where a run crosses a leaky-ReLU kink that float32 cannot resolve, float64 has two answers. At the forward of
 * `branch.step` a generator pre-activation sits `branch.kink_distance` (1.7e-8 for the shared start, 2.5e-7 for
 * g64_kink) from 0, below float32's rounding of a conv sum (~1e-7 relative to its terms), so a float32 run takes
 * either slope by rounding. The other slope changes the gradient of the smallest-gradient latent entries by 8-42%,
 * and Adam's per-entry normalisation turns that into a latent step of 1e-4. The fixture script also writes that
 * branch: the same float64 run with that one element taking the other slope at that one step
 * (`*_trajectory_f64_flip<step>.npy`). A float32 run must then follow one of the two float64 trajectories within the
 * target at every step. PyTorch's float32 runs cross such kinks as often as ours (8 and 7 of 24 scanned runs; the
 * note lists them), so which branch a run takes is rounding, not an operation losing precision.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readNpy } from '../../../src/io/tensors/npy.js';
import type { HostTensor } from '../../../src/engine/tensor.js';
import { Editor } from '../../../src/edit/optimize/editor.js';
import { fixtureSources } from '../../helpers/models.js';
import { fixture } from '../../helpers/shared.js';

const DIR = join(__dirname, '..', '..', 'fixtures', 'styleclip');
type Mode = 'styleclip' | 'normalised';

interface ModeRecord {
  readonly pytorch_float32_max_abs_error: number;
  readonly pytorch_float32_error_per_step: number[];
  readonly files: { f64: string; f32: string; f64_branch?: string };
  readonly branch?: { step: number; kink_distance: number };
}
interface TrajectoryCase {
  readonly name: string;
  readonly generator: string;
  readonly start: string;
  readonly prompt: string;
  readonly steps: number;
  readonly lr: number;
  readonly l2_lambda: number;
  readonly modes: Record<Mode, ModeRecord>;
}

const CASES = (JSON.parse(readFileSync(join(DIR, 'cases.json'), 'utf8')) as { cases: TrajectoryCase[] }).cases;
const MODES: readonly Mode[] = ['styleclip', 'normalised'];

/** `shared:NAME` is a file of ../shared/fixtures/reference (`shared:NAME[row]`: that row, batch kept); else ours. */
function locate(file: string): { path: string; row?: number } {
  if (!file.startsWith('shared:')) return { path: join(DIR, file) };
  const m = /^shared:([^[]+)(?:\[(\d+)\])?$/.exec(file)!;
  return { path: fixture(m[1]), row: m[2] === undefined ? undefined : Number(m[2]) };
}

async function readStart(file: string): Promise<HostTensor> {
  const { path, row } = locate(file);
  const t = await readNpy(path);
  if (row === undefined) return t;
  const per = t.data.length / t.shape[0];
  return { dtype: 'float32', shape: [1, ...t.shape.slice(1)], data: (t.data as Float32Array).slice(row * per, (row + 1) * per) };
}

/** Max abs difference per step of two [steps, ...] trajectories. */
function perStep(ours: Float32Array, expected: ArrayLike<number>, steps: number): number[] {
  const per = ours.length / steps;
  return Array.from({ length: steps }, (_, s) => {
    let e = 0;
    for (let i = s * per; i < (s + 1) * per; i++) e = Math.max(e, Math.abs(ours[i] - expected[i]));
    return e;
  });
}

const target = (r: ModeRecord): number => Math.max(3 * r.pytorch_float32_max_abs_error, 2e-5);
const row = (errs: number[]): string => errs.map((e) => e.toExponential(1)).join(' ');

describe('StyleCLIP optimisation against float64, every step (shared start + 4 held-out cases, both modes)', () => {
  const ours = new Map<string, Float32Array>();

  beforeAll(async () => {
    for (const c of CASES) {
      const editor = await Editor.load({ ...fixtureSources(), generator: locate(c.generator).path });
      try {
        const start = await readStart(c.start);
        for (const mode of MODES) {
          const per = start.data.length;
          const trajectory = new Float32Array(c.steps * per);
          await editor.edit(
            { kind: 'w+', latent: start },
            { prompt: c.prompt, steps: c.steps, lr: c.lr, l2: c.l2_lambda, preprocess: mode === 'styleclip' ? 'styleclip' : 'normalized' },
            { hooks: { onLatent: (latent, step) => trajectory.set(latent, (step - 1) * per) } },
          );
          ours.set(`${c.name}/${mode}`, trajectory);
        }
      } finally {
        await editor.dispose();
      }
    }
  }, 300_000);

  for (const c of CASES) {
    for (const mode of MODES) {
      const r = c.modes[mode];
      const title = r.branch
        ? `${c.name}, ${mode}: every step within max(3 x PyTorch float32 error, 2e-5) of the float64 run or of its branch at the step-${r.branch.step} kink (${r.branch.kink_distance.toExponential(1)} from 0)`
        : `${c.name}, ${mode}: every step within max(3 x PyTorch float32 error, 2e-5) of the float64 run`;
      it(title, async () => {
        const traj = ours.get(`${c.name}/${mode}`)!;
        const f64 = perStep(traj, (await readNpy(locate(r.files.f64).path)).data as Float64Array, c.steps);
        console.log(`${c.name} ${mode} (target ${target(r).toExponential(1)})\n  ours vs f64:        ${row(f64)}\n  PyTorch f32 vs f64: ${row(r.pytorch_float32_error_per_step)}`);
        let worst = Math.max(...f64);
        if (r.files.f64_branch) {
          const branch = perStep(traj, (await readNpy(locate(r.files.f64_branch).path)).data as Float64Array, c.steps);
          console.log(`  ours vs f64 branch: ${row(branch)}`);
          worst = Math.min(worst, Math.max(...branch));
        }
        expect(worst).toBeLessThanOrEqual(target(r));
      });
    }
  }
});
