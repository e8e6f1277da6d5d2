/** The tiny fixture models (../shared/fixtures/reference) as editor sources, and the reference start latent. */
import type { HostTensor } from '../../src/engine/tensor.js';
import { readNpy } from '../../src/io/tensors/npy.js';
import { fixture, sharedPath } from './shared.js';

export interface FixtureSources {
  readonly generator: string;
  readonly clip: string;
  readonly vocab: string;
}

/** StyleGAN2 64 px (zip checkpoint), the ViT CLIP state dict and the official BPE merges. */
export function fixtureSources(): FixtureSources {
  return {
    generator: fixture('stylegan2_tiny.pt'),
    clip: fixture('clip_vit_tiny.state_dict.pt'),
    vocab: sharedPath('data', 'clip', 'bpe_simple_vocab_16e6.txt.gz'),
  };
}

/** `--generator G --clip C --vocab V` for the fixture models. */
export function fixtureModelFlags(): string[] {
  const p = fixtureSources();
  return ['--generator', p.generator, '--clip', p.clip, '--vocab', p.vocab];
}

/** Row 0 of sg2_wplus.npy as [1, 10, 64]: the start of the reference optimisation trajectories. */
export async function referenceStart(): Promise<HostTensor> {
  const wp = await readNpy(fixture('sg2_wplus.npy'));
  const per = wp.data.length / wp.shape[0];
  return { dtype: 'float32', shape: [1, ...wp.shape.slice(1)], data: (wp.data as Float32Array).slice(0, per) };
}
