/**
 * The identity term of the edit objective with the real MobileFace weights: the reference is ID(G(latent0)), so the
 * term starts at 0 and grows as the edit moves away; a large id weight keeps the face closer to the start.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MobileFace } from '../../../src/faces/mobileface.js';
import { Editor } from '../../../src/edit/optimize/editor.js';
import { fixtureSources } from '../../helpers/models.js';
import { sharedPath } from '../../helpers/shared.js';

describe('edit with an identity model', () => {
  let plain: Editor;
  let withId: Editor;
  let net: MobileFace;

  beforeAll(async () => {
    const sources = fixtureSources();
    net = await MobileFace.load(sharedPath('models'));
    plain = await Editor.load(sources);
    withId = await Editor.load({ ...sources, identity: net });
  });
  afterAll(async () => {
    await plain?.dispose();
    await withId?.dispose();
    net?.dispose();
  });

  it('starts at zero identity loss and restrains the edit', async () => {
    const opts = { prompt: 'a person with purple hair', steps: 8, lr: 0.3, l2: 0 };
    const start = { kind: 'seed', seed: 4, truncation: 0.7 } as const;
    const free = await withId.edit(start, { ...opts, id: 1e-6 });
    const held = await withId.edit(start, { ...opts, id: 50 });
    expect(free.history[0].idLoss).toBeLessThan(1e-5);
    expect(held.history[0].idLoss).toBeLessThan(1e-5);
    const lastId = (r: typeof free): number => r.history[r.history.length - 1].idLoss;
    expect(lastId(free)).toBeGreaterThan(0);
    expect(lastId(held)).toBeLessThan(lastId(free));
    const noId = await plain.edit(start, opts);
    expect(noId.history.every((h) => h.idLoss === 0)).toBe(true);
  });
});
