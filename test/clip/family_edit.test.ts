/**
 * A ResNet CLIP as the CLIP of an edit: StyleCLIP optimisation with the `clip_rn` fixture model lowers its own CLIP
 * loss; generator images reach a CLIP of another resolution (RN50x4's 288) through the bicubic path.
 */
import { describe, expect, it } from 'vitest';
import { Clip } from '../../src/clip/clip.js';
import { ClipTokenizer } from '../../src/clip/tokenizer.js';
import { styleclipPoolLands } from '../../src/clip/preprocess_graph.js';
import * as E from '../../src/engine/index.js';
import { Generator } from '../../src/generator/index.js';
import { Editor } from '../../src/edit/optimize/editor.js';
import { referenceStart } from '../helpers/models.js';
import { fixture, sharedPath } from '../helpers/shared.js';

describe('the ResNet CLIP in edits', () => {
  it('StyleCLIP optimisation with clip_rn: 6 steps lower the CLIP loss', async () => {
    const [generator, clip, tokenizer] = await Promise.all([
      Generator.load(fixture('stylegan2_tiny.pt')), Clip.load(fixture('clip_rn_tiny.state_dict.pt')), ClipTokenizer.load(sharedPath('data', 'clip', 'bpe_simple_vocab_16e6.txt.gz')),
    ]);
    const editor = new Editor(generator, clip, tokenizer);
    try {
      const res = await editor.edit({ kind: 'w+', latent: await referenceStart() }, { prompt: 'a person with purple hair', steps: 6, lr: 0.1, l2: 0 });
      const clipLoss = res.history.map((h) => h.clipLoss);
      expect(clipLoss.every(Number.isFinite)).toBe(true);
      expect(clipLoss.at(-1)!).toBeLessThan(clipLoss[0]);
    } finally {
      await editor.dispose();
    }
  });

  it('a 288 px CLIP gets generator images by bicubic resize + centre crop, 224 px ones by StyleCLIP pooling', async () => {
    const clip = await Clip.load(fixture('clip_rn_tiny.state_dict.pt'));
    const wide = new Clip(clip.weights, { ...clip.config, imageResolution: 288 });
    for (const [model, size, pooled] of [[clip, 224, true], [wide, 288, false]] as const) {
      const g = new E.Graph('input');
      const x = model.generatorInput(g.input('x', 'float32', [1, 3, 64, 64]), 'normalized');
      expect(x.shape).toEqual([1, 3, size, size]);
      expect(styleclipPoolLands(64, 64, size)).toBe(pooled);
    }
    await clip.dispose();
  });
});
