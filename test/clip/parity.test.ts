/**
 * Parity with openai/CLIP on the reference fixture (../shared/fixtures/reference, cases `clip`, `clip_torchscript`, `clip_image_grad`):
 * embeddings, logits and probabilities from the expected pixels and tokens, and the gradient of
 * sum(encode_image(pixels) * r) w.r.t. the pixels, for the TorchScript and the state-dict checkpoint.
 * Tolerances are the issue's: max abs error <= 1e-3 × max|expected| (probs: 1e-3 absolute).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Clip } from '../../src/clip/clip.js';
import * as E from '../../src/engine/index.js';
import { readNpy } from '../../src/io/tensors/npy.js';
import { loadTorchCheckpoint } from '../../src/io/tensors/torch.js';
import { fixture, maxAbsDiff } from '../helpers/shared.js';
import { clipOutputs, type ClipOutputs } from './outputs.js';

const REL_TOL = 1e-3;
const PROB_TOL = 1e-3;

type Outputs = ClipOutputs;
const run = (clip: Clip): Promise<Outputs> => clipOutputs(clip, 'clip');

async function relErr(actual: E.HostTensor, expectedFile: string): Promise<number> {
  const expected = await readNpy(fixture(expectedFile));
  expect(actual.shape).toEqual(expected.shape);
  const { maxAbs, maxRef } = maxAbsDiff(actual.data as Float32Array, expected.data as Float32Array);
  return maxAbs / maxRef;
}

async function absErr(actual: E.HostTensor, expectedFile: string): Promise<number> {
  const expected = await readNpy(fixture(expectedFile));
  return maxAbsDiff(actual.data as Float32Array, expected.data as Float32Array).maxAbs;
}

/** Each checkpoint's own reference outputs: the `clip` case (fp32 state dict) and the `clip_torchscript` case (what
 * `clip.load` computes from the fp16 archive, its LayerNorm, embeddings and logit scale widened to fp32). The pixel
 * gradient reference exists for the state dict only (case `clip_image_grad`). */
const CHECKPOINTS = {
  'state dict': {
    file: 'clip_vit_tiny.state_dict.pt',
    expected: { image: 'clip_image_embeds.npy', text: 'clip_text_embeds.npy', logits: 'clip_logits_per_image.npy', probs: 'clip_probs.npy' },
  },
  TorchScript: {
    file: 'clip_vit_tiny.torchscript.pt',
    expected: { image: 'clip_ts_image_embeds.npy', text: 'clip_ts_text_embeds.npy', logits: 'clip_ts_logits_per_image.npy', probs: 'clip_ts_probs.npy' },
  },
} as const;

const out: Partial<Record<keyof typeof CHECKPOINTS, Outputs>> = {};
const models: Clip[] = [];

beforeAll(async () => {
  for (const [name, { file }] of Object.entries(CHECKPOINTS) as [keyof typeof CHECKPOINTS, { file: string }][]) {
    const clip = await Clip.load(fixture(file));
    models.push(clip);
    out[name] = await run(clip);
  }
}, 120_000);

afterAll(async () => {
  for (const m of models) await m.dispose();
});

describe('CLIP parity with openai/CLIP', () => {
  it('derives the fixture config from the tensor shapes', () => {
    for (const clip of models) {
      expect(clip.config).toMatchObject({
        embedDim: 64, imageResolution: 224, visionLayers: 2, visionWidth: 128, visionHeads: 2, visionPatchSize: 32,
        contextLength: 77, vocabSize: 49408, transformerWidth: 128, transformerHeads: 2, transformerLayers: 2,
        activation: 'quick_gelu',
      });
      expect(clip.config.logitScale).toBeCloseTo(100, 1);
    }
  });

  for (const name of Object.keys(CHECKPOINTS) as (keyof typeof CHECKPOINTS)[]) {
    const expected = CHECKPOINTS[name].expected;
    it(`${name}: image and text embeddings vs ${expected.image}, ${expected.text} (<= 1e-3 relative)`, async () => {
      expect(await relErr(out[name]!.image, expected.image)).toBeLessThanOrEqual(REL_TOL);
      expect(await relErr(out[name]!.text, expected.text)).toBeLessThanOrEqual(REL_TOL);
    });

    it(`${name}: logits_per_image vs ${expected.logits} (<= 1e-3 relative) and probs vs ${expected.probs} (<= 1e-3 abs)`, async () => {
      expect(await relErr(out[name]!.logits, expected.logits)).toBeLessThanOrEqual(REL_TOL);
      expect(await absErr(out[name]!.probs, expected.probs)).toBeLessThanOrEqual(PROB_TOL);
    });

    it(`${name}: gradient of sum(encode_image(pixels) * r) w.r.t. the pixels vs clip_grad_pixels.npy (<= 1e-3 relative)`, async () => {
      // The only gradient reference is the state dict's; the archive's fp16-rounded weights stay within it (measured 3.9e-4).
      expect(await relErr(out[name]!.grad, 'clip_grad_pixels.npy')).toBeLessThanOrEqual(REL_TOL);
    });
  }

  it('TorchScript weights are the state-dict weights rounded to float16', async () => {
    const sd = await loadTorchCheckpoint(fixture(CHECKPOINTS['state dict'].file));
    const ts = models[1].weights;
    expect([...ts.keys()].sort()).toEqual([...sd.tensors.keys()].sort());
    // float16 round-to-nearest: |error| <= 2^-11 |x| for normal values, <= 2^-25 in the subnormal range.
    for (const [k, t] of sd.tensors) {
      const a = E.toFloat32(t).data as Float32Array;
      const b = ts.get(k)!.data as Float32Array;
      let worst = 0;
      for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) - (2 ** -11 * Math.abs(a[i]) + 2 ** -25));
      expect(worst, k).toBeLessThanOrEqual(0);
    }
  });
});
