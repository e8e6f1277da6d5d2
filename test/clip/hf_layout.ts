/**
 * Test helper: openai/CLIP-named weights -> Hugging Face `transformers` CLIPModel names (modeling_clip.py), the
 * inverse of src/clip/weights_hf.ts written independently from the transformers key list, to build HF-layout
 * safetensors files from the fixture state dict.
 */
import type { HostTensor } from '../../src/engine/tensor.js';

const TOP: Readonly<Record<string, string>> = {
  'visual.class_embedding': 'vision_model.embeddings.class_embedding',
  'visual.conv1.weight': 'vision_model.embeddings.patch_embedding.weight',
  'visual.positional_embedding': 'vision_model.embeddings.position_embedding.weight',
  'visual.ln_pre.weight': 'vision_model.pre_layrnorm.weight',
  'visual.ln_pre.bias': 'vision_model.pre_layrnorm.bias',
  'visual.ln_post.weight': 'vision_model.post_layernorm.weight',
  'visual.ln_post.bias': 'vision_model.post_layernorm.bias',
  'token_embedding.weight': 'text_model.embeddings.token_embedding.weight',
  positional_embedding: 'text_model.embeddings.position_embedding.weight',
  'ln_final.weight': 'text_model.final_layer_norm.weight',
  'ln_final.bias': 'text_model.final_layer_norm.bias',
  logit_scale: 'logit_scale',
};
const PROJ: Readonly<Record<string, string>> = { 'visual.proj': 'visual_projection.weight', text_projection: 'text_projection.weight' };
const BLOCK: Readonly<Record<string, string>> = {
  'attn.out_proj': 'self_attn.out_proj',
  ln_1: 'layer_norm1',
  ln_2: 'layer_norm2',
  'mlp.c_fc': 'mlp.fc1',
  'mlp.c_proj': 'mlp.fc2',
};

function t2(t: HostTensor): HostTensor {
  const [r, c] = t.shape;
  const out = new Float32Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = Number(t.data[i * c + j]);
  return { dtype: 'float32', shape: [c, r], data: out };
}

function chunk(t: HostTensor, i: number, parts: number): HostTensor {
  const rows = t.shape[0] / parts;
  const per = t.data.length / parts;
  return { dtype: 'float32', shape: [rows, ...t.shape.slice(1)], data: (t.data as Float32Array).slice(i * per, (i + 1) * per) };
}

/** float32 OpenAI-named weights -> HF-named tensors (plus the position_ids buffers older transformers saved). */
export function toHuggingFace(weights: ReadonlyMap<string, HostTensor>): Map<string, HostTensor> {
  const out = new Map<string, HostTensor>();
  for (const [k, t] of weights) {
    const block = /^(visual\.)?transformer\.resblocks\.(\d+)\.(.+)\.(weight|bias)$/.exec(k.replace('in_proj_', 'in_proj.'));
    if (TOP[k]) out.set(TOP[k], t);
    else if (PROJ[k]) out.set(PROJ[k], t2(t));
    else if (block) {
      const [, vis, i, m, kind] = block;
      const base = `${vis ? 'vision_model' : 'text_model'}.encoder.layers.${i}`;
      if (m === 'attn.in_proj') ['q', 'k', 'v'].forEach((p, j) => out.set(`${base}.self_attn.${p}_proj.${kind}`, chunk(t, j, 3)));
      else out.set(`${base}.${BLOCK[m]}.${kind}`, t);
    } else throw new Error(`no HF name for ${k}`);
  }
  for (const [tower, n] of [['vision_model', weights.get('visual.positional_embedding')!.shape[0]], ['text_model', weights.get('positional_embedding')!.shape[0]]] as const) {
    out.set(`${tower}.embeddings.position_ids`, { dtype: 'int64', shape: [1, n], data: BigInt64Array.from({ length: n }, (_, i) => BigInt(i)) });
  }
  return out;
}
