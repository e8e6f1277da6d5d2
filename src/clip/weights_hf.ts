/**
 * Hugging Face `transformers` CLIPModel weights (e.g. `openai/clip-vit-base-patch32` `model.safetensors`) mapped onto
 * openai/CLIP state-dict names. The correspondence is the one `convert_clip_original_pytorch_to_hf.py` in
 * transformers/models/clip establishes, read backwards (key names from `modeling_clip.py`):
 *   {vision,text}_model.encoder.layers.N.self_attn.{q,k,v}_proj  -> rows [0,D), [D,2D), [2D,3D) of attn.in_proj_*
 *   ...self_attn.out_proj -> attn.out_proj;  layer_norm1/2 -> ln_1/2;  mlp.fc1/fc2 -> mlp.c_fc/c_proj
 *   vision_model.embeddings.{class_embedding, patch_embedding.weight, position_embedding.weight}
 *       -> visual.{class_embedding, conv1.weight, positional_embedding}
 *   vision_model.pre_layrnorm (sic, as transformers spells it) / post_layernorm -> visual.ln_pre / ln_post
 *   text_model.embeddings.{token_embedding, position_embedding}.weight -> token_embedding.weight, positional_embedding
 *   text_model.final_layer_norm -> ln_final
 *   visual_projection.weight [E, Wv] / text_projection.weight [E, Wt] (nn.Linear, no bias) -> visual.proj /
 *       text_projection, transposed to [W, E]
 *   logit_scale -> logit_scale;  *.embeddings.position_ids (a buffer older versions saved) -> dropped
 * Also read when present next to the weights: the repository's `config.json` (`hidden_act`, `num_attention_heads`).
 */
import { toFloat32, transpose2d, type HostTensor } from '../engine/tensor.js';
import type { ClipOverrides } from './config.js';

/** A tensor name every HF CLIPModel checkpoint has; its presence selects this mapping. */
export const HF_MARKER = 'vision_model.embeddings.patch_embedding.weight';

const TOWERS: Readonly<Record<string, string>> = {
  vision_model: 'visual.transformer.resblocks',
  text_model: 'transformer.resblocks',
};

/** Per-layer module renames (transformers CLIPEncoderLayer -> openai ResidualAttentionBlock). */
const LAYER_RENAMES: Readonly<Record<string, string>> = {
  'self_attn.out_proj': 'attn.out_proj',
  layer_norm1: 'ln_1',
  layer_norm2: 'ln_2',
  'mlp.fc1': 'mlp.c_fc',
  'mlp.fc2': 'mlp.c_proj',
};

/** Whole-name renames outside the encoder layers. */
const RENAMES: Readonly<Record<string, string>> = {
  'vision_model.embeddings.class_embedding': 'visual.class_embedding',
  'vision_model.embeddings.patch_embedding.weight': 'visual.conv1.weight',
  'vision_model.embeddings.position_embedding.weight': 'visual.positional_embedding',
  'vision_model.pre_layrnorm.weight': 'visual.ln_pre.weight',
  'vision_model.pre_layrnorm.bias': 'visual.ln_pre.bias',
  'vision_model.post_layernorm.weight': 'visual.ln_post.weight',
  'vision_model.post_layernorm.bias': 'visual.ln_post.bias',
  'text_model.embeddings.token_embedding.weight': 'token_embedding.weight',
  'text_model.embeddings.position_embedding.weight': 'positional_embedding',
  'text_model.final_layer_norm.weight': 'ln_final.weight',
  'text_model.final_layer_norm.bias': 'ln_final.bias',
  logit_scale: 'logit_scale',
};

/** nn.Linear projections stored [E, W] in transformers and [W, E] in openai/CLIP. */
const TRANSPOSED: Readonly<Record<string, string>> = {
  'visual_projection.weight': 'visual.proj',
  'text_projection.weight': 'text_projection',
};

const DROPPED = /^(vision_model|text_model)\.embeddings\.position_ids$/;
const LAYER = /^(vision_model|text_model)\.encoder\.layers\.(\d+)\.(.+)\.(weight|bias)$/;
const QKV = /^self_attn\.([qkv])_proj$/;
const QKV_ORDER = ['q', 'k', 'v'];

/** Stacks same-width float32 tensors along axis 0. */
function stackRows(parts: readonly HostTensor[]): HostTensor {
  const rows = parts.reduce((n, p) => n + p.shape[0], 0);
  const out = new Float32Array(parts.reduce((n, p) => n + p.data.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p.data as Float32Array, o);
    o += p.data.length;
  }
  return { dtype: 'float32', shape: [rows, ...parts[0].shape.slice(1)], data: out };
}

interface HfMapping {
  /** openai/CLIP names -> float32 tensors. */
  readonly weights: Map<string, HostTensor>;
  /** HF names no rule maps (an unsupported variant); the caller reports them. */
  readonly unmapped: string[];
}

/** Maps HF CLIPModel tensors onto openai/CLIP names (float32), fusing q/k/v into in_proj. */
export function fromHuggingFace(tensors: ReadonlyMap<string, HostTensor>): HfMapping {
  const weights = new Map<string, HostTensor>();
  const unmapped: string[] = [];
  const qkv = new Map<string, Map<string, HostTensor>>();
  for (const [name, raw] of tensors) {
    const t = toFloat32(raw);
    const layer = LAYER.exec(name);
    if (RENAMES[name]) weights.set(RENAMES[name], t);
    else if (TRANSPOSED[name] && t.shape.length === 2) weights.set(TRANSPOSED[name], transpose2d(t));
    else if (DROPPED.test(name)) continue;
    else if (layer) {
      const [, tower, index, module, kind] = layer;
      const prefix = `${TOWERS[tower]}.${index}`;
      const q = QKV.exec(module);
      if (q) {
        const key = `${prefix}.attn.in_proj_${kind}`;
        if (!qkv.has(key)) qkv.set(key, new Map());
        qkv.get(key)!.set(q[1], t);
      } else if (LAYER_RENAMES[module]) weights.set(`${prefix}.${LAYER_RENAMES[module]}.${kind}`, t);
      else unmapped.push(name);
    } else unmapped.push(name);
  }
  for (const [key, parts] of qkv) {
    const missing = QKV_ORDER.filter((p) => !parts.has(p));
    if (missing.length > 0) unmapped.push(...[...parts.keys()].map((p) => `${key} (${p}_proj without ${missing.join('/')}_proj)`));
    else weights.set(key, stackRows(QKV_ORDER.map((p) => parts.get(p)!)));
  }
  return { weights, unmapped };
}

/** `hidden_act` / `num_attention_heads` of an HF CLIPConfig JSON (vision_config / text_config) as overrides. */
export function overridesFromHfConfig(json: unknown): ClipOverrides {
  if (typeof json !== 'object' || json === null) return {};
  const sub = (k: string): Record<string, unknown> => {
    const v = (json as Record<string, unknown>)[k];
    return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : {};
  };
  const vision = sub('vision_config');
  const text = sub('text_config');
  const act = text.hidden_act ?? vision.hidden_act;
  const int = (v: unknown): number | undefined => (Number.isInteger(v) ? (v as number) : undefined);
  return {
    activation: act === 'gelu' ? 'gelu' : act === 'quick_gelu' ? 'quick_gelu' : undefined,
    visionHeads: int(vision.num_attention_heads),
    transformerHeads: int(text.num_attention_heads),
  };
}
