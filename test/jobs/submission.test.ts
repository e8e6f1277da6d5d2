/** Edit submissions are checked against what the server has loaded before a job is queued. */
import { describe, expect, it } from 'vitest';
import { prepareEdit } from '../../src/jobs/submission.js';

const info = { resolution: 64, nLatent: 10, wDim: 64, clipEmbedDim: 64, generator: '/m/stylegan2_tiny.pt', clip: '/m/clip.pt' };
const seedStart = { kind: 'seed', seed: 1 } as const;

describe('prepareEdit', () => {
  it('refuses an id weight when no identity model is loaded, naming the flag that loads one', async () => {
    const sub = { prompt: 'a smile', start: seedStart, options: { id: 0.005 } };
    await expect(prepareEdit(sub, { info, maxPixels: 1e6, previewEvery: 0 })).rejects.toThrow(/--identity-model mobileface/);
    await expect(prepareEdit(sub, { info: { ...info, identity: 'mobileface' }, maxPixels: 1e6, previewEvery: 0 })).resolves.toMatchObject({
      options: { id: 0.005 },
    });
  });
});
