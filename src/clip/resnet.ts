/**
 * CLIP's ModifiedResNet image tower (the RN50 family) as an engine graph, following openai/CLIP `clip/model.py`
 * (`Bottleneck`, `AttentionPool2d`, `ModifiedResNet`).
 *
 * Radford et al. 2021, "Learning Transferable Visual Models From Natural Language Supervision" (arXiv:2103.00020),
 * §2.4: a ResNet-50 (He et al. 2016) with three changes — the ResNet-D stem of He et al. 2019 ("Bag of Tricks",
 * arXiv:1812.01187: three 3x3 convs instead of one 7x7), anti-aliased strided convolutions (Zhang 2019: an average
 * pool before each strided 3x3 and in each downsampling shortcut, the convs themselves at stride 1), and global
 * average pooling replaced by one layer of "QKV" attention whose query is the mean of the feature map.
 *
 * Shapes for input [N, 3, R, R] and width w (64 for RN50): stem -> [N, w, R/4, R/4]; layer1..4 (planes w, 2w, 4w,
 * 8w, expansion 4) -> [N, 32w, R/32, R/32]; attention pool -> [N, embed_dim]. Every BatchNorm runs in eval mode on
 * its running statistics (`clip.load` returns `model.eval()`).
 */
import {
  add, concat, conv, gemm, matmul, mul, reduceMean, relu, reshape, slice, softmax, sqrt, sub, transpose, reciprocal,
  averagePool, type Param, type Value,
} from '../engine/index.js';
import { RESNET_TOTAL_STRIDE, type ClipConfig } from './config.js';

/** Bottleneck.expansion in model.py. */
const RESNET_EXPANSION = 4;
/** Attention-pool embedding width per unit of `width`: `embed_dim = width * 32` (ModifiedResNet.__init__). */
const RESNET_EMBED_PER_WIDTH = 32;
/** torch.nn.BatchNorm2d default epsilon. */
const RESNET_BN_EPS = 1e-5;
/** Stride of each of the four layers (`_make_layer(width * 2**i, layers[i], stride=1 if i == 0 else 2)`). */
const RESNET_LAYER_STRIDES = [1, 2, 2, 2] as const;

/** BatchNorm2d in eval mode: (x - running_mean) / sqrt(running_var + eps) * weight + bias, per channel. */
function batchNorm(p: Param, x: Value, prefix: string): Value {
  const c = x.shape[1];
  const per = (name: string): Value => reshape(p(`${prefix}.${name}`), [1, c, 1, 1]);
  const scale = mul(per('weight'), reciprocal(sqrt(add(per('running_var'), RESNET_BN_EPS))));
  return add(mul(sub(x, per('running_mean')), scale), per('bias'));
}

/** conv (no bias, `padding = k // 2`) -> BatchNorm. */
function convBn(p: Param, x: Value, convName: string, bnName: string): Value {
  const w = p(`${convName}.weight`);
  const pad = Math.floor(w.shape[2] / 2);
  return batchNorm(p, conv(x, w, undefined, { pads: [pad, pad, pad, pad] }), bnName);
}

/** AvgPool2d(stride) when stride > 1, else the identity (model.py `nn.AvgPool2d(stride) if stride > 1 else nn.Identity()`). */
function antiAliasPool(x: Value, stride: number): Value {
  return stride > 1 ? averagePool(x, [stride, stride]) : x;
}

/**
 * Bottleneck(inplanes, planes, stride): relu(bn1(conv1 1x1)) -> relu(bn2(conv2 3x3)) -> avgpool(stride) ->
 * bn3(conv3 1x1, planes -> 4 planes) + identity, then ReLU. The identity is `downsample` = avgpool(stride) ->
 * conv 1x1 -> BN when the block strides or changes the channel count (modules "-1", "0", "1" of an OrderedDict:
 * keys `downsample.0.*` = conv, `downsample.1.*` = BN).
 */
function bottleneck(p: Param, x: Value, prefix: string, stride: number, hasDownsample: boolean): Value {
  let h = relu(convBn(p, x, `${prefix}.conv1`, `${prefix}.bn1`));
  h = relu(convBn(p, h, `${prefix}.conv2`, `${prefix}.bn2`));
  h = convBn(p, antiAliasPool(h, stride), `${prefix}.conv3`, `${prefix}.bn3`);
  const identity = hasDownsample ? convBn(p, antiAliasPool(x, stride), `${prefix}.downsample.0`, `${prefix}.downsample.1`) : x;
  return relu(add(h, identity));
}

/**
 * AttentionPool2d: x [N, C, H, W] -> tokens [N, HW, C] with their mean prepended -> + positional_embedding [HW+1, C]
 * -> multi-head attention (F.multi_head_attention_forward with separate q/k/v projections) whose only query is the
 * mean token (row 0), keys and values all HW+1 tokens -> c_proj -> [N, output_dim].
 */
function attentionPool(p: Param, x: Value, prefix: string, heads: number): Value {
  const [n, c, h, w] = x.shape;
  const length = h * w + 1;
  const dh = c / heads;
  const flat = transpose(reshape(x, [n, c, h * w]), [0, 2, 1]); // [N, HW, C]
  const tokens = add(concat([reduceMean(flat, [1], true), flat], 1), p(`${prefix}.positional_embedding`)); // [N, L, C]
  const rows = reshape(tokens, [n * length, c]);
  const proj = (name: string, v: Value): Value => gemm(v, p(`${prefix}.${name}.weight`), p(`${prefix}.${name}.bias`), { transB: true });
  const query = reshape(slice(tokens, [1], [0], [1]), [n, c]);
  const q = reshape(mul(proj('q_proj', query), 1 / Math.sqrt(dh)), [n, heads, 1, dh]); // scaled after projection
  const k = transpose(reshape(proj('k_proj', rows), [n, length, heads, dh]), [0, 2, 3, 1]); // [N, H, dh, L]
  const v = transpose(reshape(proj('v_proj', rows), [n, length, heads, dh]), [0, 2, 1, 3]); // [N, H, L, dh]
  const attended = matmul(softmax(matmul(q, k), -1), v); // [N, H, 1, dh]
  return proj('c_proj', reshape(attended, [n, c])); // heads concatenated in order -> [N, output_dim]
}

/**
 * ModifiedResNet.forward: pixels [N, 3, R, R] (CLIP-normalised) -> image embeddings [N, embed_dim].
 * Stem: conv1 3x3 s2 (3 -> w/2), conv2 3x3 (w/2 -> w/2), conv3 3x3 (w/2 -> w), each BN + ReLU, then AvgPool2d(2);
 * then layer1..layer4 of `config.visionBlocks` Bottlenecks each; then the attention pool.
 */
export function resnetImageEncoder(p: Param, pixels: Value, cfg: ClipConfig): Value {
  const r = cfg.imageResolution;
  if (pixels.rank !== 4 || pixels.shape[1] !== 3 || pixels.shape[2] !== r || pixels.shape[3] !== r) {
    throw new Error(`CLIP ResNet image encoder: pixels must be [N,3,${r},${r}], got ${pixels}`);
  }
  const stem1 = p('visual.conv1.weight');
  let x = relu(batchNorm(p, conv(pixels, stem1, undefined, { strides: [2, 2], pads: [1, 1, 1, 1] }), 'visual.bn1'));
  x = relu(convBn(p, x, 'visual.conv2', 'visual.bn2'));
  x = relu(convBn(p, x, 'visual.conv3', 'visual.bn3'));
  x = averagePool(x, [2, 2]);
  cfg.visionBlocks.forEach((blocks, layer) => {
    for (let b = 0; b < blocks; b++) {
      const stride = b === 0 ? RESNET_LAYER_STRIDES[layer] : 1;
      const inChannels = x.shape[1];
      const planes = cfg.visionWidth * 2 ** layer;
      x = bottleneck(p, x, `visual.layer${layer + 1}.${b}`, stride, stride > 1 || inChannels !== planes * RESNET_EXPANSION);
    }
  });
  return attentionPool(p, x, 'visual.attnpool', cfg.visionHeads);
}

/** Every tensor of the ModifiedResNet tower with its shape (BatchNorm: weight, bias, running_mean, running_var). */
export function resnetShapes(cfg: ClipConfig): [string, number[]][] {
  const w = cfg.visionWidth;
  const out: [string, number[]][] = [];
  const bn = (prefix: string, c: number): void => {
    for (const k of ['weight', 'bias', 'running_mean', 'running_var']) out.push([`${prefix}.${k}`, [c]]);
  };
  const convBnShapes = (convName: string, bnName: string, o: number, i: number, k: number): void => {
    out.push([`${convName}.weight`, [o, i, k, k]]);
    bn(bnName, o);
  };
  convBnShapes('visual.conv1', 'visual.bn1', w / 2, 3, 3);
  convBnShapes('visual.conv2', 'visual.bn2', w / 2, w / 2, 3);
  convBnShapes('visual.conv3', 'visual.bn3', w, w / 2, 3);
  let inplanes = w;
  cfg.visionBlocks.forEach((blocks, layer) => {
    const planes = w * 2 ** layer;
    for (let b = 0; b < blocks; b++) {
      const pre = `visual.layer${layer + 1}.${b}`;
      convBnShapes(`${pre}.conv1`, `${pre}.bn1`, planes, inplanes, 1);
      convBnShapes(`${pre}.conv2`, `${pre}.bn2`, planes, planes, 3);
      convBnShapes(`${pre}.conv3`, `${pre}.bn3`, planes * RESNET_EXPANSION, planes, 1);
      const stride = b === 0 ? RESNET_LAYER_STRIDES[layer] : 1;
      if (stride > 1 || inplanes !== planes * RESNET_EXPANSION) convBnShapes(`${pre}.downsample.0`, `${pre}.downsample.1`, planes * RESNET_EXPANSION, inplanes, 1);
      inplanes = planes * RESNET_EXPANSION;
    }
  });
  const embed = w * RESNET_EMBED_PER_WIDTH;
  const grid = cfg.imageResolution / RESNET_TOTAL_STRIDE;
  out.push(['visual.attnpool.positional_embedding', [grid * grid + 1, embed]]);
  for (const name of ['q_proj', 'k_proj', 'v_proj']) out.push([`visual.attnpool.${name}.weight`, [embed, embed]], [`visual.attnpool.${name}.bias`, [embed]]);
  out.push(['visual.attnpool.c_proj.weight', [cfg.embedDim, embed]], ['visual.attnpool.c_proj.bias', [cfg.embedDim]]);
  return out;
}
