import { describe, expect, it } from 'vitest';
import {
  DEFAULT_TEMPLATE, classify, cosineLogits, ensembleEmbeddings, fillTemplate, l2Normalize, parseLabels, promptsFor, softmaxRows,
} from '../../src/clip/zeroshot.js';
import { f32, type HostTensor } from '../../src/engine/tensor.js';
import { InputError } from '../../src/errors.js';

const vals = (t: HostTensor): number[] => Array.from(t.data as Float32Array);

describe('zero-shot math', () => {
  it('cosine logits are scale × cos, per image and per text (transposed)', () => {
    const img = f32([2, 2], [3, 4, 0, 2]);
    const txt = f32([3, 2], [1, 0, 0, 5, -1, -1]);
    const { logitsPerImage, logitsPerText } = cosineLogits(img, txt, 100);
    const want = [60, 80, -100 * (7 / 5) / Math.SQRT2, 0, 100, -100 / Math.SQRT2];
    vals(logitsPerImage).forEach((v, i) => expect(v).toBeCloseTo(want[i], 4));
    expect(logitsPerText.shape).toEqual([3, 2]);
    expect(vals(logitsPerText)[1 * 2 + 0]).toBeCloseTo(80, 4);
  });

  it('softmax rows sum to one and survive large logits', () => {
    const p = softmaxRows(f32([2, 3], [1000, 1001, 1002, 0, 0, 0]));
    const v = vals(p);
    expect(v[2]).toBeCloseTo(Math.exp(2) / (1 + Math.E + Math.exp(2)), 6);
    expect(v[3] + v[4] + v[5]).toBeCloseTo(1, 6);
  });

  it('l2Normalize makes unit rows', () => {
    expect(vals(l2Normalize(f32([1, 2], [3, 4])))).toEqual([Math.fround(0.6), Math.fround(0.8)]);
  });

  it('a prompt ensemble is the renormalised mean of the normalised template embeddings', () => {
    // Label 0: templates along x and y (different lengths) -> mean direction (1,1)/sqrt 2. Label 1: one direction.
    const e = ensembleEmbeddings(f32([4, 2], [2, 0, 0, 5, 0, -3, 0, -1]), 2);
    expect(e.shape).toEqual([2, 2]);
    expect(e.data[0]).toBeCloseTo(Math.SQRT1_2, 6);
    expect(e.data[1]).toBeCloseTo(Math.SQRT1_2, 6);
    expect(vals(e).slice(2)).toEqual([0, -1]);
    expect(() => ensembleEmbeddings(f32([3, 2]), 2)).toThrow(/groups of 2/);
  });

  it('classify ranks classes per image, most probable first', () => {
    const preds = classify(f32([1, 2], [1, 0.1]), f32([3, 2], [0, 1, 1, 0, -1, 0]), ['up', 'right', 'left'], 10);
    expect(preds[0].map((p) => p.label)).toEqual(['right', 'up', 'left']);
    expect(preds[0].reduce((a, p) => a + p.prob, 0)).toBeCloseTo(1, 6);
  });
});

describe('labels and templates', () => {
  it('parses comma lists and refuses empty ones', () => {
    expect(parseLabels(' dog, cat ,,a diagram ')).toEqual(['dog', 'cat', 'a diagram']);
    expect(() => parseLabels('')).toThrow(InputError);
    expect(() => parseLabels(' , ,')).toThrow(/empty/);
  });

  it('fills templates label-major and requires the {} slot', () => {
    expect(fillTemplate(DEFAULT_TEMPLATE, 'dog')).toBe('a photo of dog');
    expect(promptsFor(['dog', 'cat'], ['a {}', '{} art'])).toEqual(['a dog', 'dog art', 'a cat', 'cat art']);
    expect(() => fillTemplate('a photo', 'dog')).toThrow(/no '\{\}'/);
    expect(() => promptsFor([], ['{}'])).toThrow(InputError);
  });
});
