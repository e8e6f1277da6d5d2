/**
 * Running a batch through sessions built for a few fixed batch sizes. Graphs have static shapes, so every distinct
 * batch size is a separate onnxruntime session holding its own copy of the weights and its own activation memory;
 * chunking keeps a process at a handful of sessions (and bounded activation memory) whatever batch users ask for.
 */
import { numel, tensor, type HostTensor, type TypedData } from './tensor.js';

/** Greedy split of `n` rows into chunks of the allowed sizes (largest first). `sizes` must contain 1. */
export function chunkSizes(n: number, sizes: readonly number[]): number[] {
  if (!sizes.includes(1)) throw new Error('chunkSizes: the allowed sizes must include 1');
  const out: number[] = [];
  let left = n;
  for (const b of [...sizes].sort((a, c) => c - a)) {
    while (left >= b) {
      out.push(b);
      left -= b;
    }
  }
  return out;
}

/**
 * Rows to pad `n` to so that it splits into one chunk size only (`mapBatches` with `pad`): a multiple of the
 * largest size when n exceeds it, else the smallest size holding n. Fewer distinct sizes, fewer sessions, each its
 * own copy of the weights (79 CLIP templates: 5 chunks of 16 instead of 16, 4 and 1).
 */
export function paddedRows(n: number, sizes: readonly number[]): number {
  const largest = Math.max(...sizes);
  if (n >= largest) return Math.ceil(n / largest) * largest;
  return Math.min(...sizes.filter((s) => s >= n));
}

/** `t` with its last row repeated up to `rows` rows. */
function padRows(t: HostTensor, rows: number): HostTensor {
  const n = t.shape[0];
  return concatRows([t, ...Array.from({ length: rows - n }, () => sliceRows(t, n - 1, 1))]);
}

/** Rows [start, start + count) along the first axis (a copy). */
export function sliceRows(t: HostTensor, start: number, count: number): HostTensor {
  const per = numel(t.shape.slice(1));
  return tensor(t.dtype, [count, ...t.shape.slice(1)], t.data.slice(start * per, (start + count) * per) as TypedData);
}

/** Rows of `t` in the order `rows` gives: out[i] = t[rows[i]]. */
export function takeRows(t: HostTensor, rows: readonly number[]): HostTensor {
  const per = numel(t.shape.slice(1));
  const out = tensor(t.dtype, [rows.length, ...t.shape.slice(1)]);
  const src = t.data as Float32Array;
  rows.forEach((r, i) => (out.data as Float32Array).set(src.subarray(r * per, (r + 1) * per), i * per));
  return out;
}

/** The permutation undoing `order`: takeRows(takeRows(t, order), inversePermutation(order)) is t. */
export function inversePermutation(order: readonly number[]): number[] {
  const inv = new Array<number>(order.length);
  order.forEach((r, i) => (inv[r] = i));
  return inv;
}

/** Concatenates tensors along the first axis. */
export function concatRows(parts: readonly HostTensor[]): HostTensor {
  if (parts.length === 1) return parts[0];
  const rows = parts.reduce((s, p) => s + p.shape[0], 0);
  const out = tensor(parts[0].dtype, [rows, ...parts[0].shape.slice(1)]);
  let offset = 0;
  for (const p of parts) {
    (out.data as Float32Array).set(p.data as Float32Array, offset);
    offset += p.data.length;
  }
  return out;
}

/**
 * Runs `fn` on consecutive row chunks of `inputs` (all with the same first dimension), chunk sizes from `sizes`,
 * and concatenates the outputs. `fn` gets the chunk's inputs, its size and the index of its first row.
 */
export async function mapBatches(
  inputs: readonly HostTensor[],
  sizes: readonly number[],
  fn: (chunk: HostTensor[], size: number, firstRow: number) => Promise<HostTensor>,
  opts: { readonly pad?: boolean } = {},
): Promise<HostTensor> {
  const n = inputs[0].shape[0];
  if (inputs.some((t) => t.shape[0] !== n)) throw new Error('mapBatches: inputs differ in their first dimension');
  if (opts.pad) {
    const padded = paddedRows(n, sizes);
    if (padded > n) return sliceRows(await mapBatches(inputs.map((t) => padRows(t, padded)), sizes, fn), 0, n);
  }
  const outs: HostTensor[] = [];
  let row = 0;
  for (const b of chunkSizes(n, sizes)) {
    outs.push(await fn(b === n ? [...inputs] : inputs.map((t) => sliceRows(t, row, b)), b, row));
    row += b;
  }
  return concatRows(outs);
}
