import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Clip } from '../../src/clip/clip.js';
import { ClipCheckpointError, clipFromTensors, loadClipCheckpoint, type LoadedClip } from '../../src/clip/weights.js';
import type { HostTensor } from '../../src/engine/tensor.js';
import { InputError } from '../../src/errors.js';
import { readNpy } from '../../src/io/tensors/npy.js';
import { encodeSafetensors } from '../../src/io/tensors/safetensors.js';
import { fixture, maxAbsDiff } from '../helpers/shared.js';
import { toHuggingFace } from './hf_layout.js';

let dir: string;
let base: LoadedClip;
let reference: { image: HostTensor; text: HostTensor };

async function encodeBoth(loaded: LoadedClip): Promise<{ image: HostTensor; text: HostTensor }> {
  const clip = new Clip(loaded.weights, loaded.config, { threads: 1 });
  try {
    return {
      image: await clip.encodeImage(await readNpy(fixture('clip_pixels.npy'))),
      text: await clip.encodeText(await readNpy(fixture('clip_tokens.npy'))),
    };
  } finally {
    await clip.dispose();
  }
}

const withTensor = (name: string, t: HostTensor | undefined): Map<string, HostTensor> => {
  const m = new Map(base.weights);
  if (t) m.set(name, t);
  else m.delete(name);
  return m;
};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'styleclip-clip-weights-'));
  base = await loadClipCheckpoint(fixture('clip_vit_tiny.state_dict.pt'));
  reference = await encodeBoth(base);
}, 60_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('CLIP checkpoint layouts', () => {
  it('the state dict is recognised as such, every tensor widened to float32', () => {
    expect(base.format).toBe('state-dict');
    expect([...base.weights.values()].every((t) => t.dtype === 'float32')).toBe(true);
    expect(base.weights.size).toBe(62);
  });

  it('Hugging Face safetensors (q/k/v split, renamed, projections transposed) give identical outputs', async () => {
    const path = join(dir, 'model.safetensors');
    await writeFile(path, encodeSafetensors(toHuggingFace(base.weights)));
    const hf = await loadClipCheckpoint(path);
    expect(hf.format).toBe('huggingface');
    expect(hf.config).toEqual(base.config);
    const out = await encodeBoth(hf);
    expect(maxAbsDiff(out.image.data as Float32Array, reference.image.data as Float32Array).maxAbs).toBe(0);
    expect(maxAbsDiff(out.text.data as Float32Array, reference.text.data as Float32Array).maxAbs).toBe(0);
  });

  it("Hugging Face config.json beside the weights sets the activation and head counts", async () => {
    const sub = await mkdtemp(join(dir, 'hf-'));
    await writeFile(join(sub, 'model.safetensors'), encodeSafetensors(toHuggingFace(base.weights)));
    const config = { text_config: { hidden_act: 'gelu', num_attention_heads: 4 }, vision_config: { hidden_act: 'gelu', num_attention_heads: 1 } };
    await writeFile(join(sub, 'config.json'), JSON.stringify(config));
    const hf = await loadClipCheckpoint(join(sub, 'model.safetensors'));
    expect(hf.config).toMatchObject({ activation: 'gelu', transformerHeads: 4, visionHeads: 1 });
  });

  it('open_clip training checkpoints (state_dict + module. prefixes) default to GELU; activation can be overridden', () => {
    const wrapped = new Map([...base.weights].map(([k, t]) => [`state_dict.module.${k}`, t]));
    wrapped.set('optimizer.state.0.exp_avg', base.weights.get('ln_final.weight')!);
    const oc = clipFromTensors({ tensors: wrapped, container: 'torch' }, 'open_clip.pt');
    expect(oc.format).toBe('open_clip');
    expect(oc.config.activation).toBe('gelu');
    expect(clipFromTensors({ tensors: wrapped, container: 'torch' }, 'x', { activation: 'quick_gelu' }).config.activation).toBe('quick_gelu');
  });

  it('OpenAI-layout safetensors are open_clip exports', () => {
    expect(clipFromTensors({ tensors: base.weights, container: 'safetensors' }, 'open_clip_model.safetensors').format).toBe('open_clip');
  });

  it('TorchScript metadata (input_resolution, context_length, vocab_size) is checked against the weights', () => {
    const meta = (v: number): HostTensor => ({ dtype: 'int64', shape: [], data: BigInt64Array.of(BigInt(v)) });
    const ok = new Map([...base.weights, ['input_resolution', meta(224)], ['context_length', meta(77)], ['vocab_size', meta(49408)]]);
    expect(clipFromTensors({ tensors: ok, container: 'torchscript' }, 'x').format).toBe('openai-torchscript');
    const bad = new Map([...base.weights, ['input_resolution', meta(336)]]);
    expect(() => clipFromTensors({ tensors: bad, container: 'torchscript' }, 'x')).toThrow(/input_resolution is 336 but the weights imply 224/);
  });
});

describe('CLIP checkpoint errors', () => {
  it('a StyleGAN2 checkpoint is refused as not CLIP', async () => {
    await expect(loadClipCheckpoint(fixture('stylegan2_tiny.pt'))).rejects.toThrow(/not a CLIP checkpoint \(it looks like a StyleGAN generator\)/);
  });

  it('an image tower whose output width does not match the text tower names the tensors that disagree', async () => {
    for (const file of ['clip_rn_tiny.state_dict.pt', 'clip_vit_tiny.state_dict.pt']) {
      const w = new Map((await loadClipCheckpoint(fixture(file))).weights);
      const tp = w.get('text_projection')!;
      w.set('text_projection', { dtype: 'float32', shape: [tp.shape[0], 32], data: new Float32Array(tp.shape[0] * 32) });
      const tower = file.includes('rn') ? /visual\.attnpool\.c_proj\.weight has shape \[64,\d+\], expected \[32,\d+\]/ : /visual\.proj has shape \[\d+,64\], expected \[\d+,32\]/;
      expect(() => clipFromTensors({ tensors: w, container: 'torch' }, file)).toThrow(tower);
    }
  });

  it('a ResNet CLIP of an unknown variant names the keys that do not fit', async () => {
    const rn = (await loadClipCheckpoint(fixture('clip_rn_tiny.state_dict.pt'))).weights;
    const odd = new Map(rn);
    odd.delete('visual.layer2.1.bn2.running_var');
    odd.set('visual.layer2.1.se.fc1.weight', rn.get('visual.bn1.weight')!);
    expect(() => clipFromTensors({ tensors: odd, container: 'torch' }, 'RN50.pt')).toThrow(
      /RN50\.pt: not a complete ResNet CLIP checkpoint: unknown keys: visual\.layer2\.1\.se\.fc1\.weight; missing keys: visual\.layer2\.1\.bn2\.running_var/,
    );
  });

  it('missing, unknown and mis-shaped tensors are all reported (through the rule-table mechanism of io/weight_map)', () => {
    const load = (m: Map<string, HostTensor>): LoadedClip => clipFromTensors({ tensors: m, container: 'torch' }, 'ckpt');
    expect(() => load(withTensor('visual.ln_post.bias', undefined))).toThrow(/not a complete ViT CLIP checkpoint: missing keys: visual\.ln_post\.bias/);
    expect(() => load(withTensor('visual.attn_pool.weight', base.weights.get('ln_final.weight')))).toThrow(/unknown keys: visual\.attn_pool\.weight/);
    const short = { dtype: 'float32' as const, shape: [64], data: new Float32Array(64) };
    expect(() => load(withTensor('ln_final.bias', short))).toThrow(/ln_final\.bias has shape \[64\], expected \[128\]/);
    expect(() => load(withTensor('logit_scale', undefined))).toThrow(ClipCheckpointError);
  });

  it('integer weights, empty files and foreign bytes are InputErrors', async () => {
    const ints: HostTensor = { dtype: 'int32', shape: [128], data: new Int32Array(128) };
    expect(() => clipFromTensors({ tensors: withTensor('ln_final.bias', ints), container: 'torch' }, 'x')).toThrow(/dtype int32/);
    await writeFile(join(dir, 'empty.pt'), new Uint8Array(0));
    await expect(loadClipCheckpoint(join(dir, 'empty.pt'))).rejects.toThrow(/empty/);
    await expect(loadClipCheckpoint(Uint8Array.from({ length: 300 }, (_, i) => (i * 37) % 251))).rejects.toBeInstanceOf(InputError);
    await expect(loadClipCheckpoint(join(dir, 'does-not-exist.pt'))).rejects.toThrow(/cannot read CLIP checkpoint/);
  });
});
