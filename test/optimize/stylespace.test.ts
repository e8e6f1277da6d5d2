/**
 * StyleSpace (S) edits: S coordinates of a w+ start reproduce G(w+) exactly, and the optimisation runs in S with the
 * trajectory and latent in S coordinates.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { styleSpaceDim } from '../../src/generator/index.js';
import { Editor } from '../../src/optimize/editor.js';
import type { HostTensor } from '../../src/engine/tensor.js';
import { fixtureSources, referenceStart } from '../helpers/models.js';
import { maxAbsDiff } from '../helpers/shared.js';

describe('edits in StyleSpace', () => {
  let editor: Editor;
  let start: HostTensor;

  beforeAll(async () => {
    editor = await Editor.load(fixtureSources());
    start = await referenceStart();
  });
  afterAll(async () => editor?.dispose());

  it('renders the same start image as W+ and optimises the S coordinates', async () => {
    const dim = styleSpaceDim(editor.generator.config);
    // conv1 + torgb at 4 px (64 + 64), then per block conv0 + conv1 + torgb inputs: 8: 64+64+64, 16: 64+48+48, 32: 48+32+32, 64: 32+16+16
    expect(dim).toBe(128 + 192 + 160 + 112 + 64);
    const opts = { prompt: 'a person with purple hair', steps: 4, l2: 0.008 };
    const inW = await editor.edit({ kind: 'w+', latent: start }, { ...opts, space: 'w+' });
    const inS = await editor.edit({ kind: 'w+', latent: start }, { ...opts, space: 's' });
    expect(maxAbsDiff(inS.before.data, inW.before.data).maxAbs).toBeLessThanOrEqual(1);
    expect(inS.history[0].loss).toBeCloseTo(inW.history[0].loss, 5);
    expect(inS.latent.shape).toEqual([1, dim]);
    expect(inS.trajectory.shape).toEqual([4, 1, dim]);
    expect(inS.history[3].clipLoss).toBeLessThan(inS.history[0].clipLoss);
  });

  it('refuses W+ layer masks in S', async () => {
    await expect(editor.edit({ kind: 'w+', latent: start }, { prompt: 'red', steps: 2, space: 's', layers: [0, 3] })).rejects.toThrow(/needs --space w\+/);
  });
});
