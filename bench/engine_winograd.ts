/**
 * The Winograd rule table (src/engine/winograd_table.ts), measured: for each conv shape of config-f's synthesis (and
 * the IR-SE/e4e bodies) and batch 1 and 2, a chain of CHAIN 3x3 stride-1 convs with constant weights and leaky ReLUs
 * between (as convs sit in the models: onnxruntime keeps a chain of direct convs in its blocked NCHWc layout, so an
 * isolated conv's layout reorders would flatter Winograd) run direct, as F(2x2,3x3) and as F(4x4,3x3); times are per
 * conv; the fastest wins its row (Winograd only when it beats direct by WIN_MARGIN). Each row reports the
 * times, the speedup, the worst relative error vs direct after the chain (max |diff| / max |direct|) and the true
 * multiply count.
 * The weight-gradient rule likewise: per shape and batch, dW of one such conv (inputs x and the output gradient) as
 * one GEMM per tap, F(3x3, 2x2) and F(3x3, 4x4) (src/engine/winograd.ts `winogradWeightGrad`), WGRAD_MARGIN to win.
 * `--write-table` rewrites src/engine/winograd_table.ts from the measurement, `--write-wgrad-table`
 * src/engine/winograd_wgrad_table.ts.
 */
import { writeFileSync } from 'node:fs';
import * as E from '../src/engine/index.js';
import { resolveConv } from '../src/engine/ops_nn.js';
import { convWeightGradGemm } from '../src/engine/vjp_nn.js';
import { winogradConv, winogradMultiplies, winogradWeightGrad, type WinogradRow, type WinogradTile } from '../src/engine/winograd.js';
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

/**
 * The weight gradient's margin: no transformed weights are kept (its transforms are of activations, freed after the
 * run), so only run-to-run noise (~10 % on these VMs) has to be beaten.
 */
const WGRAD_MARGIN = 1.2;

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

type Timed = { ms: number; y: Float32Array };

async function timeConv(n: number, c: number, r: number, w: Float32Array, x: E.HostTensor, tile: 0 | WinogradTile): Promise<Timed> {
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

/** A table row from the three timings: Winograd's best tile wins when it beats direct by `margin`. */
function measuredRow(c: number, r: number, n: number, margin: number, direct: Timed, f2: Timed, f4: Timed): Measured {
  const best = f4.ms <= f2.ms ? { tile: 4 as const, ms: f4.ms } : { tile: 2 as const, ms: f2.ms };
  const tile = direct.ms > best.ms * margin ? best.tile : 0;
  const mul = winogradMultiplies(n, c, c, r, r, tile || 4);
  return {
    channels: c, size: r, batch: n, tile,
    direct_ms: direct.ms, f2_ms: f2.ms, f4_ms: f4.ms, speedup: direct.ms / (tile ? best.ms : direct.ms),
    f2_rel_err: relErr(f2.y, direct.y), f4_rel_err: relErr(f4.y, direct.y),
    direct_gmul: mul.direct / 1e9, winograd_gmul: tile ? mul.winograd / 1e9 : mul.direct / 1e9,
  };
}

export async function measureWinogradTable(): Promise<Measured[]> {
  const rows: Measured[] = [];
  for (const [c, r] of SHAPES)
    for (const n of BATCHES) {
      const w = randomNormal(c * c * 9, 1, 1 / Math.sqrt(c * 9));
      const x = E.tensor('float32', [n, c, r, r], randomNormal(n * c * r * r, 2));
      const direct = await timeConv(n, c, r, w, x, 0);
      const row = measuredRow(c, r, n, WIN_MARGIN, direct, await timeConv(n, c, r, w, x, 2), await timeConv(n, c, r, w, x, 4));
      rows.push(row);
      process.stderr.write(`winograd ${c}ch@${r} batch ${n}: direct ${row.direct_ms.toFixed(1)} ms, F2 ${row.f2_ms.toFixed(1)}, F4 ${row.f4_ms.toFixed(1)} -> ${row.tile ? `F${row.tile}` : 'direct'}\n`);
    }
  return rows;
}

async function timeWeightGrad(c: number, feeds: Record<'x' | 'gy', E.HostTensor>, tile: 0 | WinogradTile): Promise<Timed> {
  const g = new E.Graph('winograd_wgrad_bench');
  const x = g.input('x', 'float32', feeds.x.shape);
  const gy = g.input('gy', 'float32', feeds.gy.shape);
  const pads: [number, number, number, number] = [1, 1, 1, 1];
  g.output(tile ? winogradWeightGrad(x, gy, pads, tile) : convWeightGradGemm(x, gy, [c, c, 3, 3], resolveConv({ pads })), 'dw');
  const s = await E.Session.create(g, { winograd: 'off' });
  const out = (await s.run(feeds)).dw.data as Float32Array;
  const t = await timeMs(() => s.run(feeds), 5, 1);
  await s.dispose();
  return { ms: t.median, y: out };
}

/** The weight-gradient rule's rows (direct = one GEMM per tap). */
export async function measureWeightGradTable(): Promise<Measured[]> {
  const rows: Measured[] = [];
  for (const [c, r] of SHAPES)
    for (const n of BATCHES) {
      const feeds = { x: E.tensor('float32', [n, c, r, r], randomNormal(n * c * r * r, 2)), gy: E.tensor('float32', [n, c, r, r], randomNormal(n * c * r * r, 3)) };
      const direct = await timeWeightGrad(c, feeds, 0);
      const row = measuredRow(c, r, n, WGRAD_MARGIN, direct, await timeWeightGrad(c, feeds, 2), await timeWeightGrad(c, feeds, 4));
      rows.push(row);
      process.stderr.write(`winograd weight grad ${c}ch@${r} batch ${n}: per-tap ${row.direct_ms.toFixed(1)} ms, F2 ${row.f2_ms.toFixed(1)}, F4 ${row.f4_ms.toFixed(1)} -> ${row.tile ? `F${row.tile}` : 'per-tap'}\n`);
    }
  return rows;
}

const tableLines = (rows: readonly Measured[]): string =>
  rows.map((r) => `  { channels: ${r.channels}, size: ${r.size}, batch: ${r.batch}, tile: ${r.tile} }, // ${r.speedup.toFixed(2)}x`).join('\n');

/** What each rule's file says of itself (the lines of its doc comment before the machine). */
const TABLE_FILES = {
  conv: {
    file: 'winograd_table.ts',
    name: 'WINOGRAD_TABLE',
    doc: [
      'The measured Winograd rule (written by `npm run bench -- engine --write-table`; do not edit by hand): per conv shape',
      '(channels, output size, batch) the fastest of direct (tile 0), F(2x2,3x3) (2) and F(4x4,3x3) (4), with the speedup',
      'over direct. Shapes between rows take the nearest row (src/engine/lower.ts `chooseTile`).',
    ],
  },
  'weight-grad': {
    file: 'winograd_wgrad_table.ts',
    name: 'WINOGRAD_WGRAD_TABLE',
    doc: [
      'The measured Winograd weight-gradient rule (written by `npm run bench -- engine --write-wgrad-table`; do not edit',
      'by hand): per conv shape (channels, output size, batch) the fastest way to its weight gradient of one GEMM per',
      'kernel tap (tile 0), F(3x3,2x2) (2) and F(3x3,4x4) (4), with the speedup over the per-tap GEMMs. Shapes between',
      'rows take the nearest row (src/engine/lower.ts `chooseTile`).',
    ],
  },
} as const;

/** Rewrites one rule's file (src/engine/winograd_table.ts or winograd_wgrad_table.ts) from a measurement. */
export function writeWinogradTable(rows: readonly Measured[], of: keyof typeof TABLE_FILES, machine: string): void {
  const t = TABLE_FILES[of];
  const doc = [...t.doc, `Measured on: ${machine}, ${new Date().toISOString().slice(0, 10)}.`].map((l) => ` * ${l}`).join('\n');
  const src = `/**\n${doc}\n */\nimport type { WinogradRow } from './winograd.js';\n\nexport const ${t.name}: readonly WinogradRow[] = [\n${tableLines(rows)}\n];\n`;
  writeFileSync(new URL(`../src/engine/${t.file}`, import.meta.url), src);
}
