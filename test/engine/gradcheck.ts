/**
 * Central finite-difference checks of the engine's reverse-mode gradients. The loss is sum(f(inputs) * r) for a
 * fixed random r; every input element (up to `maxProbes` per input) is perturbed by +-eps and the difference quotient
 * is compared with the gradient the backward graph returns. float64 graphs (where onnxruntime's CPU kernels support
 * double) give tight checks; float32 graphs use a larger eps and tolerance.
 */
import { Graph, Value } from '../../src/engine/graph.js';
import { grad } from '../../src/engine/grad.js';
import { mul, reduceSum } from '../../src/engine/ops_math.js';
import { Session } from '../../src/engine/session.js';
import type { DType, HostTensor } from '../../src/engine/tensor.js';
import { numel, tensor } from '../../src/engine/tensor.js';

/** Deterministic PRNG (mulberry32) for test data. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface InputDef {
  readonly shape: readonly number[];
  /** Values drawn uniformly from [lo, hi]; default [-1, 1]. */
  readonly range?: readonly [number, number];
  /** Not differentiated (e.g. indices); fed as given. */
  readonly fixed?: HostTensor;
}

export interface GradCheckResult {
  readonly maxErr: number;
  readonly maxRef: number;
  readonly probes: number;
}

function randomTensor(dtype: DType, shape: readonly number[], r: () => number, range: readonly [number, number]): HostTensor {
  const n = numel(shape);
  const data = dtype === 'float64' ? new Float64Array(n) : new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = range[0] + (range[1] - range[0]) * r();
  return tensor(dtype, shape, data);
}

export async function gradCheck(
  dtype: 'float32' | 'float64',
  inputs: readonly InputDef[],
  f: (g: Graph, xs: Value[]) => Value,
  { eps = dtype === 'float64' ? 1e-6 : 1e-2, seed = 7, maxProbes = 40 } = {},
): Promise<GradCheckResult> {
  const r = rng(seed);
  const g = new Graph('gradcheck');
  const xs = inputs.map((d, i) => g.input(`x${i}`, d.fixed ? d.fixed.dtype : dtype, d.shape));
  const y = f(g, xs);
  const weights = g.constant(randomTensor(y.dtype, y.shape, r, [-1, 1]), 'r');
  const loss = reduceSum(mul(y, weights));
  const diffIdx = inputs.map((d, i) => (d.fixed ? -1 : i)).filter((i) => i >= 0);
  const grads = grad(loss, diffIdx.map((i) => xs[i]));
  g.output(loss, 'loss');
  grads.forEach((gv, k) => g.output(gv, `grad${k}`));
  const session = await Session.create(g);
  const feeds: Record<string, HostTensor> = {};
  inputs.forEach((d, i) => (feeds[`x${i}`] = d.fixed ?? randomTensor(dtype, d.shape, r, d.range ?? [-1, 1])));
  const res = await session.run(feeds);
  let maxErr = 0;
  let maxRef = 0;
  let probes = 0;
  for (let k = 0; k < diffIdx.length; k++) {
    const name = `x${diffIdx[k]}`;
    const x = feeds[name].data as Float32Array | Float64Array;
    const analytic = res[`grad${k}`].data as Float32Array | Float64Array;
    const n = x.length;
    const idx = n <= maxProbes ? [...Array(n).keys()] : Array.from({ length: maxProbes }, () => Math.floor(r() * n));
    for (const i of idx) {
      const orig = x[i];
      x[i] = orig + eps;
      const lp = Number((await session.run(feeds, ['loss'])).loss.data[0]);
      x[i] = orig - eps;
      const lm = Number((await session.run(feeds, ['loss'])).loss.data[0]);
      x[i] = orig;
      const numeric = (lp - lm) / (2 * eps);
      maxErr = Math.max(maxErr, Math.abs(numeric - analytic[i]));
      maxRef = Math.max(maxRef, Math.abs(numeric));
      probes++;
    }
  }
  await session.dispose();
  return { maxErr, maxRef, probes };
}
