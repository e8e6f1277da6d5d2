/**
 * `EditCall.before: false` (what the CLI passes without --compare): the start is not rendered, and the edited image is
 * the one the default call returns, bit for bit.
 */
import { describe, expect, it } from 'vitest';
import { GlobalDirections } from '../../src/edit/global/index.js';
import { fixture, sharedPath } from '../helpers/shared.js';

describe('global directions without the start rendered', () => {
  it('before: false leaves `before` out; `after` equals the default call\'s exactly', async () => {
    const dirs = await GlobalDirections.load({
      generator: fixture('stylegan2_tiny.pt'),
      clip: fixture('clip_vit_tiny.state_dict.pt'),
      vocab: sharedPath('data', 'clip', 'bpe_simple_vocab_16e6.txt.gz'),
      fs3: fixture('fs3.npy'),
      stats: fixture('S_mean_std'),
    });
    try {
      const start = { kind: 'seed', seed: 3, truncation: 0.7 } as const;
      const edits = [{ prompt: 'a face with red hair', neutral: 'a face with hair', alpha: 3, beta: 0.1 }];
      const full = await dirs.edit(start, edits);
      const lean = await dirs.edit(start, edits, { before: false });
      expect(full.before).toBeDefined();
      expect(lean.before).toBeUndefined();
      expect(Buffer.from((lean.after.data as Float32Array).buffer).equals(Buffer.from((full.after.data as Float32Array).buffer))).toBe(true);
    } finally {
      await dirs.dispose();
    }
  });
});
