/**
 * Photo starts in the Editor through an injected `PhotoLatentSource` (a fake here; src/faces `FacePhotoSource` is
 * exercised end to end in test/cli/edit.test.ts): the edit starts from the source's w+, renders with its noise maps,
 * pastes the result back, and maps a cancelled projection to `EditCancelled`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HostTensor } from '../../../src/engine/tensor.js';
import { noiseShapes, sampleNoise } from '../../../src/generator/index.js';
import { tensorToRgb } from '../../../src/io/images/image.js';
import { readNpy } from '../../../src/io/tensors/npy.js';
import { EditCancelled, Editor } from '../../../src/edit/optimize/editor.js';
import type { ImageStart, PhotoLatentSource, ProjectedPhoto } from '../../../src/edit/types.js';
import type { PhotoInput } from '../../../src/invert/types.js';
import type { RgbFrame } from '../../../src/io/images/image.js';
import { fixture, sharedPath } from '../../helpers/shared.js';

const NOISE_SEED = 5;
let editor: Editor;
let latent: HostTensor;
const seen: PhotoInput[] = [];
/** Set by a test to make the next projection abort it and fail. */
let abortNext: AbortController | undefined;

const source: PhotoLatentSource = {
  async project(start, models): Promise<ProjectedPhoto> {
    seen.push(start);
    if (abortNext) {
      abortNext.abort();
      throw new Error('projection stopped');
    }
    const noise = sampleNoise(NOISE_SEED, noiseShapes(models.generator.config, 1));
    const aligned: RgbFrame = { width: 1, height: 1, data: Uint8Array.of(1, 2, 3) };
    return { latent, noise, aligned, pasteBack: (face) => ({ width: 2 * face.width, height: face.height, data: new Uint8Array(6 * face.width * face.height) }) };
  },
  dispose: () => undefined,
};

beforeAll(async () => {
  editor = await Editor.load({
    generator: fixture('stylegan2_tiny.pt'),
    clip: fixture('clip_vit_tiny.state_dict.pt'),
    vocab: sharedPath('data', 'clip', 'bpe_simple_vocab_16e6.txt.gz'),
    photos: source,
  });
  const wp = await readNpy(fixture('sg2_wplus.npy'));
  latent = { dtype: 'float32', shape: [1, 10, 64], data: (wp.data as Float32Array).slice(0, 640) };
});

afterAll(() => editor.dispose());

describe('Editor photo starts', () => {
  it('start from the projected w+ with its noise maps and paste the edit back', async () => {
    const start: ImageStart = { kind: 'image', path: 'photo.jpg', faceIndex: 1, projectSteps: 7 };
    const res = await editor.edit(start, { prompt: 'a smiling face', steps: 2 });
    expect(seen.at(-1)).toEqual(start);
    const reconstruction = tensorToRgb(await editor.generator.synthesize(latent, { noise: 'random', noiseSeed: NOISE_SEED }), 0, '[-1,1]');
    expect(res.before.data).toEqual(reconstruction.data);
    expect(res.photo?.aligned.data).toEqual(Uint8Array.of(1, 2, 3));
    expect([res.photo?.pasted.width, res.photo?.pasted.height]).toEqual([128, 64]);
    const final = tensorToRgb(await editor.generator.synthesize(res.latent, { noise: 'random', noiseSeed: NOISE_SEED }), 0, '[-1,1]');
    expect(res.after.data).toEqual(final.data);
  });

  it('refuses photo starts without a photo source and maps an aborted projection to EditCancelled', async () => {
    const bare = new Editor(editor.generator, editor.clip, editor.tokenizer); // fails before it builds a session
    await expect(bare.edit({ kind: 'image', path: 'x.jpg' }, { prompt: 'red', steps: 1 })).rejects.toThrow(/photo starts need the face pipeline/);
    const c = new AbortController();
    abortNext = c;
    const run = editor.edit({ kind: 'image', path: 'x.jpg' }, { prompt: 'red', steps: 1 }, { signal: c.signal });
    await expect(run).rejects.toBeInstanceOf(EditCancelled);
  });
});
