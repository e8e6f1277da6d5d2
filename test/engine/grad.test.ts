import { describe, expect, it } from 'vitest';
import * as E from '../../src/engine/index.js';
import { gradCheck, type InputDef } from './gradcheck.js';

interface Case {
  readonly name: string;
  readonly dtype: 'float32' | 'float64';
  readonly inputs: readonly InputDef[];
  readonly f: (g: E.Graph, xs: E.Value[]) => E.Value;
}

const idx = (values: number[], shape: number[]): E.HostTensor => E.tensor('int64', shape, BigInt64Array.from(values.map(BigInt)));

/** Every operator with a VJP rule, in double where onnxruntime's CPU kernels support it, with broadcasting. */
const CASES: Case[] = [
  { name: 'Add (broadcast)', dtype: 'float64', inputs: [{ shape: [2, 3, 4] }, { shape: [3, 1] }], f: (_g, [a, b]) => E.add(a, b) },
  { name: 'Sub (broadcast)', dtype: 'float64', inputs: [{ shape: [2, 1, 4] }, { shape: [3, 4] }], f: (_g, [a, b]) => E.sub(a, b) },
  { name: 'Mul (broadcast)', dtype: 'float64', inputs: [{ shape: [2, 3, 4] }, { shape: [1, 3, 1] }], f: (_g, [a, b]) => E.mul(a, b) },
  { name: 'Div (broadcast)', dtype: 'float64', inputs: [{ shape: [3, 4] }, { shape: [4], range: [0.5, 2] }], f: (_g, [a, b]) => E.div(a, b) },
  { name: 'Pow', dtype: 'float64', inputs: [{ shape: [3, 4], range: [0.5, 2] }, { shape: [1], range: [0.5, 3] }], f: (_g, [a, b]) => E.pow(a, b) },
  { name: 'Pow (constant exponent)', dtype: 'float64', inputs: [{ shape: [5], range: [0.5, 2] }], f: (_g, [a]) => E.pow(a, 3) },
  { name: 'Sqrt', dtype: 'float64', inputs: [{ shape: [6], range: [0.2, 3] }], f: (_g, [a]) => E.sqrt(a) },
  { name: 'Reciprocal', dtype: 'float64', inputs: [{ shape: [6], range: [0.5, 3] }], f: (_g, [a]) => E.reciprocal(a) },
  { name: 'Neg', dtype: 'float64', inputs: [{ shape: [6] }], f: (_g, [a]) => E.neg(a) },
  { name: 'Exp', dtype: 'float64', inputs: [{ shape: [6] }], f: (_g, [a]) => E.exp(a) },
  { name: 'Log', dtype: 'float64', inputs: [{ shape: [6], range: [0.5, 3] }], f: (_g, [a]) => E.log(a) },
  { name: 'Abs', dtype: 'float64', inputs: [{ shape: [6] }], f: (_g, [a]) => E.abs(a) },
  { name: 'Sigmoid', dtype: 'float64', inputs: [{ shape: [6] }], f: (_g, [a]) => E.sigmoid(a) },
  { name: 'Tanh', dtype: 'float64', inputs: [{ shape: [6] }], f: (_g, [a]) => E.tanh(a) },
  { name: 'Erf', dtype: 'float32', inputs: [{ shape: [8] }], f: (_g, [a]) => E.erf(a) },
  { name: 'LeakyRelu', dtype: 'float64', inputs: [{ shape: [8] }], f: (_g, [a]) => E.leakyRelu(a, 0.2) },
  { name: 'Clip', dtype: 'float64', inputs: [{ shape: [8], range: [-2, 2] }], f: (_g, [a]) => E.clip(a, -1, 1) },
  { name: 'Where', dtype: 'float64', inputs: [{ shape: [2, 4] }, { shape: [4] }], f: (_g, [a, b]) => E.where(E.greater(a, 0), a, b) },
  { name: 'Cast', dtype: 'float32', inputs: [{ shape: [5] }], f: (_g, [a]) => E.cast(E.mul(E.cast(a, 'float64'), 2), 'float32') },
  { name: 'Identity', dtype: 'float64', inputs: [{ shape: [5] }], f: (_g, [a]) => E.mul(E.identity(a), a) },
  { name: 'MatMul (batched, broadcast)', dtype: 'float64', inputs: [{ shape: [2, 3, 4] }, { shape: [4, 5] }], f: (_g, [a, b]) => E.matmul(a, b) },
  { name: 'MatMul (batch broadcast both)', dtype: 'float64', inputs: [{ shape: [2, 1, 3, 4] }, { shape: [3, 4, 2] }], f: (_g, [a, b]) => E.matmul(a, b) },
  {
    name: 'Gemm (transB, alpha, beta)',
    dtype: 'float32',
    inputs: [{ shape: [3, 4] }, { shape: [5, 4] }, { shape: [5] }],
    f: (_g, [a, b, c]) => E.gemm(a, b, c, { transB: true, alpha: 0.5, beta: 2 }),
  },
  { name: 'Gemm (transA)', dtype: 'float32', inputs: [{ shape: [4, 3] }, { shape: [4, 2] }], f: (_g, [a, b]) => E.gemm(a, b, undefined, { transA: true }) },
  { name: 'ReduceSum', dtype: 'float64', inputs: [{ shape: [2, 3, 4] }], f: (_g, [a]) => E.reduceSum(a, [1]) },
  { name: 'ReduceSum (keepdims)', dtype: 'float64', inputs: [{ shape: [2, 3, 4] }], f: (_g, [a]) => E.reduceSum(a, [0, 2], true) },
  { name: 'ReduceSumSquare', dtype: 'float64', inputs: [{ shape: [2, 3, 4] }], f: (_g, [a]) => E.reduceSumSquare(a, [1, 2]) },
  { name: 'ReduceSumSquare (keepdims)', dtype: 'float64', inputs: [{ shape: [2, 3, 4] }], f: (_g, [a]) => E.reduceSumSquare(a, [0], true) },
  { name: 'ReduceMean', dtype: 'float64', inputs: [{ shape: [2, 3, 4] }], f: (_g, [a]) => E.reduceMean(a, [-1]) },
  { name: 'Softmax', dtype: 'float64', inputs: [{ shape: [2, 5], range: [-3, 3] }], f: (_g, [a]) => E.softmax(a, -1) },
  {
    name: 'LayerNormalization',
    dtype: 'float64',
    inputs: [{ shape: [2, 3, 6], range: [-2, 2] }, { shape: [6] }, { shape: [6] }],
    f: (_g, [x, s, b]) => E.layerNorm(x, s, b),
  },
  { name: 'Reshape', dtype: 'float64', inputs: [{ shape: [2, 6] }], f: (_g, [a]) => E.mul(E.reshape(a, [3, 4]), E.reshape(a, [3, 4])) },
  { name: 'Transpose', dtype: 'float64', inputs: [{ shape: [2, 3, 4] }], f: (_g, [a]) => E.transpose(a, [2, 0, 1]) },
  { name: 'Slice', dtype: 'float64', inputs: [{ shape: [4, 6] }], f: (_g, [a]) => E.slice(a, [0, 1], [1, 2], [3, -1]) },
  { name: 'Concat', dtype: 'float64', inputs: [{ shape: [2, 3] }, { shape: [2, 2] }], f: (_g, [a, b]) => E.concat([a, b, a], 1) },
  { name: 'Pad (constant)', dtype: 'float64', inputs: [{ shape: [2, 3] }], f: (_g, [a]) => E.pad(a, [[1, 0], [2, 1]]) },
  {
    name: 'Gather (repeated indices)',
    dtype: 'float64',
    inputs: [{ shape: [5, 3] }, { shape: [2, 2], fixed: idx([0, 3, 3, 1], [2, 2]) }],
    f: (_g, [a, i]) => E.gather(a, i, 0),
  },
  { name: 'Expand', dtype: 'float64', inputs: [{ shape: [3, 1] }], f: (_g, [a]) => E.expand(a, [2, 3, 4]) },
  {
    name: 'Conv (pads, bias)',
    dtype: 'float32',
    inputs: [{ shape: [2, 3, 5, 5] }, { shape: [4, 3, 3, 3] }, { shape: [4] }],
    f: (_g, [x, w, b]) => E.conv(x, w, b, { pads: [1, 1, 1, 1] }),
  },
  {
    name: 'Conv (stride 2, dilation, groups, asymmetric pads)',
    dtype: 'float32',
    inputs: [{ shape: [1, 4, 7, 6] }, { shape: [6, 2, 3, 2] }],
    f: (_g, [x, w]) => E.conv(x, w, undefined, { strides: [2, 2], dilations: [2, 1], group: 2, pads: [1, 0, 2, 1] }),
  },
  {
    name: 'Conv (constant weight: flipped-conv input gradient)',
    dtype: 'float32',
    inputs: [{ shape: [2, 4, 6, 6] }],
    f: (g, [x]) => {
      const w = g.constant(E.f32([6, 2, 3, 3], Array.from({ length: 108 }, (_, i) => Math.sin(i * 1.3))), 'w');
      return E.conv(x, w, undefined, { pads: [1, 0, 1, 2], group: 2 });
    },
  },
  {
    name: 'ConvTranspose (stride 2, output padding)',
    dtype: 'float32',
    inputs: [{ shape: [2, 3, 4, 4] }, { shape: [3, 2, 3, 3] }, { shape: [2] }],
    f: (_g, [x, w, b]) => E.convTranspose(x, w, b, { strides: [2, 2], pads: [0, 1, 0, 1], outputPadding: [1, 1] }),
  },
  {
    name: 'ConvTranspose (groups)',
    dtype: 'float32',
    inputs: [{ shape: [1, 4, 3, 3] }, { shape: [4, 1, 2, 2] }],
    f: (_g, [x, w]) => E.convTranspose(x, w, undefined, { strides: [2, 2], group: 2 }),
  },
  {
    name: 'AveragePool',
    dtype: 'float32',
    inputs: [{ shape: [2, 3, 6, 6] }],
    f: (_g, [x]) => E.averagePool(x, [2, 2]),
  },
  {
    name: 'AveragePool (overlapping, padded, count_include_pad)',
    dtype: 'float32',
    inputs: [{ shape: [1, 2, 5, 5] }],
    f: (_g, [x]) => E.averagePool(x, [3, 3], { strides: [2, 2], pads: [1, 1, 1, 1], countIncludePad: true }),
  },
  {
    name: 'MaxPool (2x2, TF SAME pads on an odd side)',
    dtype: 'float32',
    inputs: [{ shape: [2, 3, 5, 5] }],
    f: (_g, [x]) => E.maxPool(x, [2, 2], { pads: [0, 0, 1, 1] }),
  },
  {
    name: 'MaxPool (overlapping: 3x3 stride 2, pads 1)',
    dtype: 'float32',
    inputs: [{ shape: [1, 2, 6, 6] }],
    f: (_g, [x]) => E.maxPool(x, [3, 3], { strides: [2, 2], pads: [1, 1, 1, 1] }),
  },
  { name: 'Resize (nearest x3)', dtype: 'float32', inputs: [{ shape: [1, 2, 3, 3] }], f: (_g, [x]) => E.upsampleNearest(x, 3) },
];

describe('VJP rules vs central finite differences', () => {
  for (const c of CASES) {
    it(`${c.name} [${c.dtype}]`, async () => {
      const res = await gradCheck(c.dtype, c.inputs, c.f);
      const tol = c.dtype === 'float64' ? 1e-6 : 2e-3;
      expect(res.probes).toBeGreaterThan(0);
      expect(res.maxErr).toBeLessThanOrEqual(tol * Math.max(1, res.maxRef));
    });
  }

  it('covers every operator that has a VJP rule', async () => {
    const { VJP_RULES } = await import('../../src/engine/vjp.js');
    const g = new E.Graph();
    const made = new Set<string>();
    for (const c of CASES) {
      const xs = c.inputs.map((d, i) => g.input(`${c.name}${i}`, d.fixed ? d.fixed.dtype : c.dtype, d.shape));
      c.f(g, xs);
    }
    for (const n of g.nodes) made.add(n.op);
    for (const op of Object.keys(VJP_RULES)) expect(made, `no gradient test builds ${op}`).toContain(op);
  });
});
