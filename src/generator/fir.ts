/**
 * FIR filters of StyleGAN2's resampling (Karras et al. 2020, appendix B; rosinality model.py `make_kernel`,
 * `upfirdn2d`): host-side maths shared by the architecture (stylegan2.ts) and the checkpoint loaders, which check the
 * filter buffers a checkpoint stores against these values.
 */

/** Separable 2-D FIR kernel: outer(taps, taps) / sum * gain (model.py `make_kernel` times the up-sampling gain). */
export function firKernel2d(taps: readonly number[], gain: number): Float32Array {
  const n = taps.length;
  const out = new Float32Array(n * n);
  const total = taps.reduce((a, b) => a + b, 0) ** 2;
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) out[i * n + j] = (taps[i] * taps[j] * gain) / total;
  return out;
}

/** Rotates a square kernel by 180 degrees: upfirdn2d convolves (flips), ONNX Conv correlates. */
export function flip2d(k: Float32Array): Float32Array {
  return k.slice().reverse();
}

