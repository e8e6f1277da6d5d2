/**
 * StyleCLIP's learning-rate schedule (Patashnik et al. 2021, optimization/run_optimization.py `get_lr`, after the
 * StyleGAN2 projector of Karras et al. 2020): a cosine ramp-down over the last `rampdown` fraction of the run and a
 * linear ramp-up over the first `rampup` fraction, evaluated at t = i / steps before step i (so lr(0) = 0).
 */

/** StyleCLIP defaults. */
const LR_RAMP_DEFAULTS = Object.freeze({ rampdown: 0.25, rampup: 0.05 });

export function styleclipLr(t: number, initialLr: number, rampdown = LR_RAMP_DEFAULTS.rampdown, rampup = LR_RAMP_DEFAULTS.rampup): number {
  const down = Math.min(1, (1 - t) / rampdown);
  const cosine = 0.5 - 0.5 * Math.cos(down * Math.PI);
  return initialLr * cosine * Math.min(1, t / rampup);
}
