/**
 * Engine micro-benchmarks: the machine's measured peak for the kernels the models are made of, so the model
 * benchmarks can state efficiency as a fraction of it.
 * - conv3x3, 512 -> 512 channels at 32x32, batch 1: forward, and forward + input-gradient (the latent-optimisation
 *   case: constant weight, so the input gradient is a flipped Conv), and the ConvTranspose form of the same gradient.
 * - matmul 1024 x 1024 x 1024.
 * - the Winograd lowering table (./engine_winograd.ts): direct vs F(2x2,3x3) vs F(4x4,3x3) per conv shape;
 *   and the weight-gradient rule (per-tap GEMMs vs F(3x3,2x2) vs F(3x3,4x4)); `--write-table` regenerates
 *   src/engine/winograd_table.ts, `--write-wgrad-table` src/engine/winograd_wgrad_table.ts.
 */
import * as E from '../src/engine/index.js';
import { parseArgs } from 'node:util';
import { measureWeightGradTable, measureWinogradTable, writeWinogradTable } from './engine_winograd.js';
import { machine, peakRssMiB, randomNormal, timeMs } from './util.js';

const C = 512;
const HW = 32;
const K = 3;
const CONV_FLOP = 2 * C * C * K * K * HW * HW;
const MM = 1024;
const MM_FLOP = 2 * MM * MM * MM;

async function convBench(withGrad: 'none' | 'flipped' | 'transpose', winograd: E.WinogradMode = 'off'): Promise<{ ms: number; gflops: number }> {
  const g = new E.Graph('conv_bench');
  const x = g.input('x', 'float32', [1, C, HW, HW]);
  const wData = E.tensor('float32', [C, C, K, K], randomNormal(C * C * K * K, 1, 0.02));
  // A graph input weight has no host data, so its input gradient takes the ConvTranspose path.
  const w = withGrad === 'transpose' ? g.input('w', 'float32', [C, C, K, K]) : g.constant(wData, 'w');
  const y = E.conv(x, w, undefined, { pads: [1, 1, 1, 1] });
  if (withGrad === 'none') g.output(y, 'y');
  else {
    const r = g.input('r', 'float32', [1, C, HW, HW]);
    const [gx] = E.grad(E.reduceSum(E.mul(y, r)), [x]);
    g.output(gx, 'gx');
  }
  const s = await E.Session.create(g, { winograd });
  const feeds: Record<string, E.HostTensor> = {
    x: E.tensor('float32', [1, C, HW, HW], randomNormal(C * HW * HW, 2)),
    r: E.tensor('float32', [1, C, HW, HW], randomNormal(C * HW * HW, 3)),
  };
  if (withGrad === 'transpose') feeds.w = wData;
  const flop = withGrad === 'none' ? CONV_FLOP : 2 * CONV_FLOP;
  const t = await timeMs(() => s.run(Object.fromEntries(Object.entries(feeds).filter(([k]) => s.inputs.some((i) => i.name === k)))), 7, 2);
  await s.dispose();
  return { ms: t.median, gflops: flop / (t.median * 1e6) };
}

async function matmulBench(): Promise<{ ms: number; gflops: number }> {
  const g = new E.Graph('mm_bench');
  const a = g.input('a', 'float32', [MM, MM]);
  const b = g.input('b', 'float32', [MM, MM]);
  g.output(E.matmul(a, b), 'c');
  const s = await E.Session.create(g);
  const feeds = {
    a: E.tensor('float32', [MM, MM], randomNormal(MM * MM, 4)),
    b: E.tensor('float32', [MM, MM], randomNormal(MM * MM, 5)),
  };
  const t = await timeMs(() => s.run(feeds), 7, 2);
  await s.dispose();
  return { ms: t.median, gflops: MM_FLOP / (t.median * 1e6) };
}

/** The conv and matmul figures (the peak the model benchmarks compare against), without the Winograd table. */
export async function peaks(): Promise<Record<string, unknown>> {
  const forward = await convBench('none');
  const fwdGrad = await convBench('flipped');
  const fwdGradT = await convBench('transpose');
  const lowered = await convBench('none', 'auto');
  const loweredGrad = await convBench('flipped', 'auto');
  const mm = await matmulBench();
  return {
    machine: machine(),
    threads: E.defaultThreads(),
    conv3x3_512ch_32px: {
      gflop: CONV_FLOP / 1e9,
      forward_ms: forward.ms,
      forward_gflops: forward.gflops,
      forward_input_grad_ms: fwdGrad.ms,
      forward_input_grad_gflops: fwdGrad.gflops,
      forward_input_grad_convtranspose_ms: fwdGradT.ms,
      forward_input_grad_convtranspose_gflops: fwdGradT.gflops,
      /** With the Winograd lowering's rule (effective GFLOP/s: counted as direct convolution). */
      lowered_forward_ms: lowered.ms,
      lowered_forward_effective_gflops: lowered.gflops,
      lowered_forward_input_grad_ms: loweredGrad.ms,
      lowered_forward_input_grad_effective_gflops: loweredGrad.gflops,
    },
    matmul_1024: { gflop: MM_FLOP / 1e9, ms: mm.ms, gflops: mm.gflops },
    /** The figure model benchmarks compare against (direct convolution). */
    peak_conv_gflops: Math.max(forward.gflops, fwdGrad.gflops),
    peak_rss_mib: peakRssMiB(),
  };
}

export async function run(argv: string[]): Promise<Record<string, unknown>> {
  const { values } = parseArgs({ args: argv, options: { 'write-table': { type: 'boolean' }, 'write-wgrad-table': { type: 'boolean' } } });
  const figures = await peaks();
  const table = await measureWinogradTable();
  const wgradTable = await measureWeightGradTable();
  const on = `${String(machine().cpu)}, ${E.defaultThreads()} threads`;
  if (values['write-table']) writeWinogradTable(table, 'conv', on);
  if (values['write-wgrad-table']) writeWinogradTable(wgradTable, 'weight-grad', on);
  /** Per conv shape: direct / F2 / F4 ms, the chosen tile, speedup, relative error vs direct, true G multiplies. */
  return { ...figures, winograd_table: table, winograd_weight_grad_table: wgradTable, peak_rss_mib: peakRssMiB() };
}
