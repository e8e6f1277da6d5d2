/** Shared helpers for benchmarks: timing, peak memory, deterministic random weights. */
import { cpus } from 'node:os';
import { readFileSync } from 'node:fs';
import type { HostTensor } from '../src/engine/tensor.js';

/** Median wall time in ms of `fn` over `reps` runs after `warmup` runs. */
export async function timeMs(fn: () => Promise<unknown>, reps = 5, warmup = 1): Promise<{ median: number; min: number; all: number[] }> {
  for (let i = 0; i < warmup; i++) await fn();
  const all: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await fn();
    all.push(performance.now() - t0);
  }
  const sorted = [...all].sort((a, b) => a - b);
  return { median: sorted[Math.floor(sorted.length / 2)], min: sorted[0], all };
}

/** Peak resident set size of this process so far, in MiB (Linux VmHWM; falls back to current RSS). */
export function peakRssMiB(): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]) / 1024;
  } catch {
    // not Linux
  }
  return process.memoryUsage().rss / 2 ** 20;
}

export function machine(): Record<string, unknown> {
  return { cpu: cpus()[0]?.model, cores: cpus().length, node: process.version };
}

/** Fills a Float32Array with N(0, scale^2) values from a seeded generator. */
export function randomNormal(n: number, seed: number, scale = 1): Float32Array {
  let a = seed >>> 0;
  const u = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296;
  };
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const r = Math.sqrt(-2 * Math.log(u()));
    const th = 2 * Math.PI * u();
    out[i] = scale * r * Math.cos(th);
    if (i + 1 < n) out[i + 1] = scale * r * Math.sin(th);
  }
  return out;
}

/** `rows` random unit vectors of `dim` (seeded normal draws, each row L2-normalised): a stand-in fs3 [rows, dim]. */
export function randomUnitRows(rows: number, dim: number, seed = 11): HostTensor {
  const data = randomNormal(rows * dim, seed);
  for (let r = 0; r < rows; r++) {
    const row = data.subarray(r * dim, (r + 1) * dim);
    const n = Math.hypot(...row);
    row.forEach((v, i) => (row[i] = v / n));
  }
  return { dtype: 'float32', shape: [rows, dim], data };
}

/** FLOPs (2 x multiply-accumulates) of the Conv, MatMul and Gemm nodes of a built graph, from their static shapes. */
export function graphFlops(nodes: readonly { op: string; inputs: readonly ({ shape: readonly number[] } | undefined)[]; outputs: readonly { shape: readonly number[] }[] }[]): number {
  const numel = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);
  let macs = 0;
  for (const n of nodes) {
    const out = n.outputs[0].shape;
    if (n.op === 'Conv') {
      const w = n.inputs[1]!.shape;
      macs += numel(out) * w[1] * w[2] * w[3];
    } else if (n.op === 'MatMul') {
      const a = n.inputs[0]!.shape;
      macs += numel(out) * a[a.length - 1];
    } else if (n.op === 'Gemm') {
      const a = n.inputs[0]!.shape;
      macs += numel(out) * (a[0] === out[0] ? a[1] : a[0]);
    }
  }
  return 2 * macs;
}

/** Runs `fn` with the Winograd lowering set to `mode` (STYLECLIP_WINOGRAD, read when sessions are built): before/after. */
export async function withWinograd<T>(mode: 'off' | 'auto', fn: () => Promise<T>): Promise<T> {
  const saved = process.env.STYLECLIP_WINOGRAD;
  process.env.STYLECLIP_WINOGRAD = mode;
  try {
    return await fn();
  } finally {
    if (saved === undefined) delete process.env.STYLECLIP_WINOGRAD;
    else process.env.STYLECLIP_WINOGRAD = saved;
  }
}
