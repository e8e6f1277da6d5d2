/**
 * The Winograd rule table (src/engine/winograd_table.ts), measured: for each conv shape of config-f's synthesis (and
 * the IR-SE/e4e bodies) and batch 1 and 2, a chain of CHAIN 3x3 stride-1 convs with constant weights and leaky ReLUs
 * between (as convs sit in the models: onnxruntime keeps a chain of direct convs in its blocked NCHWc layout, so an
 * isolated conv's layout reorders would flatter Winograd) run direct, as F(2x2,3x3) and as F(4x4,3x3); times are per
 * conv; the fastest wins its row (Winograd only when it beats direct by WIN_MARGIN). Each row reports the
 * times, the speedup, the worst relative error vs direct after the chain (max |diff| / max |direct|) and the true
 * multiply count.
 * `--write-table` rewrites src/engine/winograd_table.ts from the measurement.
 */
import { writeFileSync } from 'node:fs';
import * as E from '../src/engine/index.js';
import { winogradConv, winogradMultiplies, type WinogradRow, type WinogradTile } from '../src/engine/winograd.js';
import { randomNormal, timeMs } from './util.js';

/** [channels, output size]: config-f's stride-1 convs at 4..1024 px, and the IR-SE50 body of e4e (64..512 ch). */
const SHAPES: readonly (readonly [number, number])[] = [
  [512, 4], [512, 8], [512, 16], [512, 32], [512, 64], [256, 32], [256, 64], [256, 128], [128, 64], [128, 128],
  [128, 256], [64, 128], [64, 256], [64, 512], [32, 512], [32, 1024],
];
const BATCHES = [1, 2] as const;
/** Convs per measured chain. */
const CHAIN = 3;
const CHAIN_SLOPE = 0.2;
/**
 * Winograd must be this much faster than direct to win a row: its transformed weights take 4x the memory (F(4x4);
 * F(2x2) 1.78x), and every session holding them opens and digests a larger compiled file. Measured in `bench
 * cold-start`: with rows from 1.05x lowered, the photo edit's second run took the same wall time at +133 MiB peak;
 * from 1.3x, e4e's 256-channel convs (1.3-1.4x, 1 ms each) cost 242 MB of e4e's compiled model for 30 ms a photo.
 */
const WIN_MARGIN = 1.5;

interface Measured extends WinogradRow {
  readonly direct_ms: number;
  readonly f2_ms: number;
  readonly f4_ms: number;
  readonly speedup: number;
  readonly f2_rel_err: number;
  readonly f4_rel_err: number;
  readonly direct_gmul: number;
  readonly winograd_gmul: number;
}

async function timeConv(n: number, c: number, r: number, w: Float32Array, x: E.HostTensor, tile: 0 | WinogradTile): Promise<{ ms: number; y: Float32Array }> {
  const g = new E.Graph('winograd_bench');
  let y = g.input('x', 'float32', [n, c, r, r]);
  for (let i = 0; i < CHAIN; i++) {
    const conv = tile ? winogradConv(y, w, c, undefined, [1, 1, 1, 1], tile) : E.conv(y, g.constant(E.tensor('float32', [c, c, 3, 3], w), 'w'), undefined, { pads: [1, 1, 1, 1] });
    y = E.leakyRelu(conv, CHAIN_SLOPE);
  }
  g.output(y, 'y');
  const s = await E.Session.create(g, { winograd: 'off' });
  const out = (await s.run({ x })).y.data as Float32Array;
  const t = await timeMs(() => s.run({ x }), 5, 1);
  await s.dispose();
  return { ms: t.median / CHAIN, y: out };
}

function relErr(a: Float32Array, ref: Float32Array): number {
  let e = 0;
  let m = 0;
  for (let i = 0; i < ref.length; i++) {
    e = Math.max(e, Math.abs(a[i] - ref[i]));
    m = Math.max(m, Math.abs(ref[i]));
  }
  return e / m;
}

export async function measureWinogradTable(): Promise<Measured[]> {
  const rows: Measured[] = [];
  for (const [c, r] of SHAPES)
    for (const n of BATCHES) {
      const w = randomNormal(c * c * 9, 1, 1 / Math.sqrt(c * 9));
      const x = E.tensor('float32', [n, c, r, r], randomNormal(n * c * r * r, 2));
      const direct = await timeConv(n, c, r, w, x, 0);
      const [f2, f4] = [await timeConv(n, c, r, w, x, 2), await timeConv(n, c, r, w, x, 4)];
      const best = f4.ms <= f2.ms ? { tile: 4 as const, ms: f4.ms } : { tile: 2 as const, ms: f2.ms };
      const tile = direct.ms > best.ms * WIN_MARGIN ? best.tile : 0;
      const mul = winogradMultiplies(n, c, c, r, r, tile || 4);
      rows.push({
        channels: c, size: r, batch: n, tile,
        direct_ms: direct.ms, f2_ms: f2.ms, f4_ms: f4.ms, speedup: direct.ms / (tile ? best.ms : direct.ms),
        f2_rel_err: relErr(f2.y, direct.y), f4_rel_err: relErr(f4.y, direct.y),
        direct_gmul: mul.direct / 1e9, winograd_gmul: tile ? mul.winograd / 1e9 : mul.direct / 1e9,
      });
      process.stderr.write(`winograd ${c}ch@${r} batch ${n}: direct ${direct.ms.toFixed(1)} ms, F2 ${f2.ms.toFixed(1)}, F4 ${f4.ms.toFixed(1)} -> ${tile ? `F${tile}` : 'direct'}\n`);
    }
  return rows;
}

export function writeWinogradTable(rows: readonly Measured[], machine: string): void {
  const lines = rows.map((r) => `  { channels: ${r.channels}, size: ${r.size}, batch: ${r.batch}, tile: ${r.tile} }, // ${r.speedup.toFixed(2)}x`);
  const src = `/**
 * The measured Winograd rule (written by \`npm run bench -- engine --write-table\`; do not edit by hand): per conv shape
 * (channels, output size, batch) the fastest of direct (tile 0), F(2x2,3x3) (2) and F(4x4,3x3) (4), with the speedup
 * over direct. Shapes between rows take the nearest row (src/engine/lower.ts \`chooseTile\`).
 * Measured on: ${machine}, ${new Date().toISOString().slice(0, 10)}.
 */
import type { WinogradRow } from './winograd.js';

export const WINOGRAD_TABLE: readonly WinogradRow[] = [
${lines.join('\n')}
];
`;
  writeFileSync(new URL('../src/engine/winograd_table.ts', import.meta.url), src);
}
