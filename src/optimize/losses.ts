/**
 * The terms of StyleCLIP's latent-optimisation objective (Patashnik et al. 2021, eq. 1), as graph builders:
 *   L(w) = D_CLIP(G(w), t) + lambda_L2 ||w - w_s||_2^2 + lambda_ID L_ID(w)
 * with D_CLIP = 1 - logit / 100 as StyleCLIP's CLIPLoss computes it (logit = logit_scale * cosine similarity), and
 * L_ID = 1 - <R(G(w_s)), R(G(w))> for a unit-length face-recognition embedding R.
 */
import { Value } from '../engine/graph.js';
import { div, mul, normalizeRows, reduceSum, sub } from '../engine/ops_math.js';

/** StyleCLIP's CLIPLoss divides the logit by this (CLIP's trained logit scale exp(4.6052) = 100). */
const CLIP_LOGIT_DIVISOR = 100;

/**
 * 1 - logit_scale * cos(image, text) / 100, averaged over the batch. `textUnit` is the text embedding already
 * normalised, [1, D] or [N, D].
 */
export function clipLoss(imageEmb: Value, textUnit: Value, logitScale: number): Value {
  const cos = reduceSum(mul(normalizeRows(imageEmb), textUnit), [1]); // [N]
  const logit = mul(cos, logitScale);
  const n = imageEmb.shape[0];
  return sub(1, div(reduceSum(logit), CLIP_LOGIT_DIVISOR * n)); // []
}

/** sum((w - w0)^2) over every element. */
export function l2Loss(w: Value, w0: Value): Value {
  const d = sub(w, w0);
  return reduceSum(mul(d, d)); // []
}

/** 1 - cos(emb, ref) averaged over the batch, for unit embeddings [N, D] (IdentityNet and CLIP rows normalised). */
export function identityLoss(embUnit: Value, refUnit: Value): Value {
  const cos = reduceSum(mul(embUnit, refUnit), [1]); // [N]
  return sub(1, div(reduceSum(cos), embUnit.shape[0])); // []
}
