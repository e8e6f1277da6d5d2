/**
 * The measured Winograd rule (written by `npm run bench -- engine --write-table`; do not edit by hand): per conv shape
 * (channels, output size, batch) the fastest of direct (tile 0), F(2x2,3x3) (2) and F(4x4,3x3) (4), with the speedup
 * over direct. Shapes between rows take the nearest row (src/engine/lower.ts `chooseTile`).
 * Measured on: Intel(R) Xeon(R) Processor, 2 threads, 2026-12-03.
 */
import type { WinogradRow } from './winograd.js';

export const WINOGRAD_TABLE: readonly WinogradRow[] = [
  { channels: 512, size: 4, batch: 1, tile: 0 }, // 1.00x
  { channels: 512, size: 4, batch: 2, tile: 0 }, // 1.00x
  { channels: 512, size: 8, batch: 1, tile: 0 }, // 1.00x
  { channels: 512, size: 8, batch: 2, tile: 0 }, // 1.00x
  { channels: 512, size: 16, batch: 1, tile: 0 }, // 1.00x
  { channels: 512, size: 16, batch: 2, tile: 4 }, // 1.63x
  { channels: 512, size: 32, batch: 1, tile: 4 }, // 2.40x
  { channels: 512, size: 32, batch: 2, tile: 4 }, // 1.87x
  { channels: 512, size: 64, batch: 1, tile: 4 }, // 1.85x
  { channels: 512, size: 64, batch: 2, tile: 4 }, // 1.59x
  { channels: 256, size: 32, batch: 1, tile: 0 }, // 1.00x
  { channels: 256, size: 32, batch: 2, tile: 0 }, // 1.00x
  { channels: 256, size: 64, batch: 1, tile: 0 }, // 1.00x
  { channels: 256, size: 64, batch: 2, tile: 0 }, // 1.00x
  { channels: 256, size: 128, batch: 1, tile: 0 }, // 1.00x
  { channels: 256, size: 128, batch: 2, tile: 0 }, // 1.00x
  { channels: 128, size: 64, batch: 1, tile: 0 }, // 1.00x
  { channels: 128, size: 64, batch: 2, tile: 0 }, // 1.00x
  { channels: 128, size: 128, batch: 1, tile: 0 }, // 1.00x
  { channels: 128, size: 128, batch: 2, tile: 0 }, // 1.00x
  { channels: 128, size: 256, batch: 1, tile: 0 }, // 1.00x
  { channels: 128, size: 256, batch: 2, tile: 0 }, // 1.00x
  { channels: 64, size: 128, batch: 1, tile: 0 }, // 1.00x
  { channels: 64, size: 128, batch: 2, tile: 0 }, // 1.00x
  { channels: 64, size: 256, batch: 1, tile: 0 }, // 1.00x
  { channels: 64, size: 256, batch: 2, tile: 0 }, // 1.00x
  { channels: 64, size: 512, batch: 1, tile: 0 }, // 1.00x
  { channels: 64, size: 512, batch: 2, tile: 0 }, // 1.00x
  { channels: 32, size: 512, batch: 1, tile: 0 }, // 1.00x
  { channels: 32, size: 512, batch: 2, tile: 0 }, // 1.00x
  { channels: 32, size: 1024, batch: 1, tile: 0 }, // 1.00x
  { channels: 32, size: 1024, batch: 2, tile: 0 }, // 1.00x
];
