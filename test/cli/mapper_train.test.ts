/**
 * `styleclip mapper train` on the tiny fixtures: a short run lowers StyleCLIP's CLIP loss, writes a checkpoint in the
 * official format (readable by our mapper loader, with the decoder for rendering), resumes from it, and the trained
 * mapper edits through `edit --method mapper`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadTorchCheckpoint } from '../../src/io/tensors/torch.js';
import { writeNpy, readNpy } from '../../src/io/tensors/npy.js';
import { runCli } from '../helpers/cli.js';
import { fixtureModelFlags } from '../helpers/models.js';
import { fixture } from '../helpers/shared.js';

const dir = mkdtempSync(join(tmpdir(), 'styleclip-mapper-train-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('styleclip mapper train', () => {
  it('30 steps on sampled latents lower the CLIP loss; the checkpoint is official-format, resumable and edits', async () => {
    const out = join(dir, 'purple.pt');
    const common = ['mapper', 'train', ...fixtureModelFlags(), '--prompt', 'a person with purple hair', '--samples', '8', '--save-every', '10', '--out', out, '--json'];
    const r = await runCli([...common, '--steps', '30']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const { history } = JSON.parse(r.stdout) as { history: { clipLoss: number }[] };
    const mean = (xs: { clipLoss: number }[]): number => xs.reduce((a, h) => a + h.clipLoss, 0) / xs.length;
    console.log(`mapper training: clip loss ${mean(history.slice(0, 3)).toFixed(4)} -> ${mean(history.slice(-3)).toFixed(4)}`);
    expect(mean(history.slice(-3))).toBeLessThan(mean(history.slice(0, 3)) - 0.01);

    const ck = await loadTorchCheckpoint(out);
    expect(ck.values['opts.mapper_type']).toBe('LevelsMapper');
    expect(ck.values['opts.styleclip_step']).toBe(30);
    expect([...ck.tensors.keys()].filter((k) => k.startsWith('state_dict.mapper.'))).toHaveLength(24);
    expect([...ck.tensors.keys()].some((k) => k.startsWith('state_dict.decoder.'))).toBe(true);

    const resumed = await runCli([...common, '--steps', '35', '--resume', out]);
    expect(resumed.code).toBe(0);
    expect(JSON.parse(resumed.stdout)).toMatchObject({ resumed_from: 30 });

    const wp = join(dir, 'w.npy');
    const src = await readNpy(fixture('sg2_wplus.npy'));
    await writeNpy(wp, { dtype: 'float32', shape: [1, 10, 64], data: (src.data as Float32Array).slice(0, 640) });
    const edit = await runCli(['edit', '--method', 'mapper', '--mapper', out, '--w-plus', wp, '--save-latent', join(dir, 'edited.npy'), '--quiet']);
    expect(edit.stderr).toBe('');
    expect(edit.code).toBe(0);
  });

  it('bad input: no prompt, both latents and samples, every group disabled', async () => {
    const base = ['mapper', 'train', ...fixtureModelFlags(), '--out', join(dir, 'x.pt')];
    expect((await runCli(base)).stderr).toMatch(/--prompt is required/);
    expect((await runCli([...base, '--prompt', 'p', '--latents', 'a.npy', '--samples', '3'])).stderr).toMatch(/give --latents or --samples, not both/);
    expect((await runCli([...base, '--prompt', 'p', '--no-coarse', '--no-medium', '--no-fine'])).stderr).toMatch(/every mapper group is disabled/);
  });
});
