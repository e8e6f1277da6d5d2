/**
 * The measured Winograd weight-gradient rule (written by `npm run bench -- engine --write-wgrad-table`; do not edit
 * by hand): per conv shape (channels, output size, batch) the fastest way to its weight gradient of one GEMM per
 * kernel tap (tile 0), F(3x3,2x2) (2) and F(3x3,4x4) (4), with the speedup over the per-tap GEMMs. Shapes between
 * rows take the nearest row (src/engine/lower.ts `chooseTile`).
 * Measured on: Intel(R) Xeon(R) Processor, 2 threads, 2026-12-04.
 */
import type { WinogradRow } from './winograd.js';

export const WINOGRAD_WGRAD_TABLE: readonly WinogradRow[] = [
  { channels: 512, size: 4, batch: 1, tile: 0 }, // 1.00x
  { channels: 512, size: 4, batch: 2, tile: 0 }, // 1.00x
  { channels: 512, size: 8, batch: 1, tile: 0 }, // 1.00x
  { channels: 512, size: 8, batch: 2, tile: 0 }, // 1.00x
  { channels: 512, size: 16, batch: 1, tile: 0 }, // 1.00x
  { channels: 512, size: 16, batch: 2, tile: 0 }, // 1.00x
  { channels: 512, size: 32, batch: 1, tile: 4 }, // 1.22x
  { channels: 512, size: 32, batch: 2, tile: 4 }, // 1.83x
  { channels: 512, size: 64, batch: 1, tile: 4 }, // 2.03x
  { channels: 512, size: 64, batch: 2, tile: 4 }, // 2.37x
  { channels: 256, size: 32, batch: 1, tile: 4 }, // 1.36x
  { channels: 256, size: 32, batch: 2, tile: 4 }, // 1.77x
  { channels: 256, size: 64, batch: 1, tile: 4 }, // 2.12x
  { channels: 256, size: 64, batch: 2, tile: 4 }, // 3.06x
  { channels: 256, size: 128, batch: 1, tile: 4 }, // 2.69x
  { channels: 256, size: 128, batch: 2, tile: 4 }, // 1.74x
  { channels: 128, size: 64, batch: 1, tile: 4 }, // 2.17x
  { channels: 128, size: 64, batch: 2, tile: 4 }, // 2.43x
  { channels: 128, size: 128, batch: 1, tile: 4 }, // 2.33x
  { channels: 128, size: 128, batch: 2, tile: 4 }, // 2.24x
  { channels: 128, size: 256, batch: 1, tile: 4 }, // 1.65x
  { channels: 128, size: 256, batch: 2, tile: 4 }, // 2.46x
  { channels: 64, size: 128, batch: 1, tile: 4 }, // 2.44x
  { channels: 64, size: 128, batch: 2, tile: 4 }, // 2.17x
  { channels: 64, size: 256, batch: 1, tile: 4 }, // 1.85x
  { channels: 64, size: 256, batch: 2, tile: 4 }, // 1.83x
  { channels: 64, size: 512, batch: 1, tile: 4 }, // 1.99x
  { channels: 64, size: 512, batch: 2, tile: 4 }, // 2.19x
  { channels: 32, size: 512, batch: 1, tile: 0 }, // 1.00x
  { channels: 32, size: 512, batch: 2, tile: 4 }, // 1.64x
  { channels: 32, size: 1024, batch: 1, tile: 4 }, // 1.92x
  { channels: 32, size: 1024, batch: 2, tile: 4 }, // 1.88x
];
