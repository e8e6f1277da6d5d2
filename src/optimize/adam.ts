/**
 * Adam (Kingma & Ba 2015, Algorithm 1) on a flat float32 parameter vector, with the exact update order of
 * torch.optim.Adam (amsgrad off, no weight decay): m <- b1 m + (1-b1) g; v <- b2 v + (1-b2) g^2;
 * p <- p - (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps). State is kept in float32 like PyTorch's.
 */

/** torch.optim.Adam defaults. */
const ADAM_DEFAULTS = Object.freeze({ beta1: 0.9, beta2: 0.999, eps: 1e-8 });

export interface AdamOptions {
  readonly beta1?: number;
  readonly beta2?: number;
  readonly eps?: number;
}

/** The optimiser's state (torch's `exp_avg`, `exp_avg_sq` and `step`), to save and resume a run. */
export interface AdamState {
  readonly m: Float32Array;
  readonly v: Float32Array;
  readonly t: number;
}

export class Adam {
  private readonly m: Float32Array;
  private readonly v: Float32Array;
  private t = 0;
  private readonly beta1: number;
  private readonly beta2: number;
  private readonly eps: number;

  constructor(readonly size: number, opts: AdamOptions = {}) {
    this.m = new Float32Array(size);
    this.v = new Float32Array(size);
    this.beta1 = opts.beta1 ?? ADAM_DEFAULTS.beta1;
    this.beta2 = opts.beta2 ?? ADAM_DEFAULTS.beta2;
    this.eps = opts.eps ?? ADAM_DEFAULTS.eps;
  }

  get steps(): number {
    return this.t;
  }

  /** The moments and step count (views: copy them to keep them past the next step). */
  get state(): AdamState {
    return { m: this.m, v: this.v, t: this.t };
  }

  /** Continues from a saved state (its arrays are copied). */
  restore(s: AdamState): void {
    if (s.m.length !== this.size || s.v.length !== this.size) throw new Error(`Adam: a state of ${s.m.length} parameters does not fit ${this.size}`);
    this.m.set(s.m);
    this.v.set(s.v);
    this.t = s.t;
  }

  get options(): Required<AdamOptions> {
    return { beta1: this.beta1, beta2: this.beta2, eps: this.eps };
  }

  /**
   * One update of `params` in place with gradient `grad` at learning rate `lr`. `mask` (optional, 0/1 per element)
   * freezes elements: their gradient is treated as zero, like a latent tensor whose frozen slices never get gradient.
   */
  step(params: Float32Array, grad: ArrayLike<number>, lr: number, mask?: Uint8Array): void {
    if (params.length !== this.size || grad.length !== this.size) {
      throw new Error(`Adam: expected ${this.size} parameters and gradients, got ${params.length} and ${grad.length}`);
    }
    this.t++;
    const stepSize = lr / (1 - this.beta1 ** this.t);
    const bc2Sqrt = Math.sqrt(1 - this.beta2 ** this.t);
    // The update runs over whole runs of trainable elements, not a mask test per element (a latent's frozen rows are
    // long runs; StyleGAN-NADA's 26M parameters are one run: 192 -> 152 ms a step).
    if (mask === undefined) return this.update(params, grad, stepSize, bc2Sqrt, 0, params.length);
    for (let i = 0; i < params.length; ) {
      if (!mask[i]) { i++; continue; }
      let end = i;
      while (end < params.length && mask[end]) end++;
      this.update(params, grad, stepSize, bc2Sqrt, i, end);
      i = end;
    }
  }

  /** The update of elements [from, to); each moment is rounded to float32 before it is used, as PyTorch's are. */
  private update(params: Float32Array, grad: ArrayLike<number>, stepSize: number, bc2Sqrt: number, from: number, to: number): void {
    const { beta1, beta2, eps, m, v } = this;
    const [c1, c2] = [1 - beta1, 1 - beta2];
    for (let i = from; i < to; i++) {
      const g = grad[i];
      const mi = Math.fround(beta1 * m[i] + c1 * g);
      const vi = Math.fround(beta2 * v[i] + c2 * g * g);
      m[i] = mi;
      v[i] = vi;
      params[i] -= (stepSize * mi) / (Math.sqrt(vi) / bc2Sqrt + eps);
    }
  }
}
