/**
 * Global-direction files for the HyperStyle fixture's 128 px decoder, which the shared fs3 / S_mean_std (made for
 * stylegan2_tiny.pt) do not fit: seeded random fs3 rows (CLIP width 64) and S statistics of its StyleSpace layout.
 * Plumbing only (which generator renders, what is held fixed), not parity.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { styleStatsPickle } from '../../src/edit/global/stats.js';
import { Generator, styleSpaceLayout } from '../../src/generator/index.js';
import { writeNpy } from '../../src/io/tensors/npy.js';
import { createRng, normals } from '../../src/random.js';
import { fixture } from './shared.js';

/** The fixture CLIP's embedding width (clip_vit_tiny). */
const CLIP_WIDTH = 64;

export const hyperstyleFixture = (): string => fixture('hyperstyle_tiny.pt');

/** Writes `fs3.npy` and `S_mean_std` for the HyperStyle decoder into `dir`; returns their paths. */
export async function hyperstyleDirections(dir: string): Promise<{ fs3: string; stats: string }> {
  const g = await Generator.load(hyperstyleFixture());
  try {
    const layout = styleSpaceLayout(g.config);
    const conv = layout.layers.filter((l) => l.kind === 'conv').reduce((a, l) => a + l.channels, 0);
    const rng = createRng(7);
    const [fs3, stats] = [join(dir, 'fs3.npy'), join(dir, 'S_mean_std')];
    await writeNpy(fs3, { dtype: 'float32', shape: [conv, CLIP_WIDTH], data: normals(rng, conv * CLIP_WIDTH) });
    writeFileSync(stats, styleStatsPickle({ mean: normals(rng, layout.total), std: new Float32Array(layout.total).fill(0.5) }, layout));
    return { fs3, stats };
  } finally {
    await g.dispose();
  }
}
