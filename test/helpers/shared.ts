/**
 * Locates `../shared` (fixtures, real face models, data) beside the project. Tests that need it call `sharedPath`,
 * which fails with a message saying what is missing rather than skipping silently.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SHARED_ROOT = process.env.STYLECLIP_SHARED ?? resolve(PROJECT_ROOT, '..', 'shared');

/** Absolute path of `../shared/<parts>`; throws a clear error when it is absent. */
export function sharedPath(...parts: string[]): string {
  const p = join(SHARED_ROOT, ...parts);
  if (!existsSync(p)) {
    throw new Error(
      `missing ${p}: these tests need the shared fixtures checked out beside the project as ../shared ` +
        `(or set STYLECLIP_SHARED to their location)`,
    );
  }
  return p;
}

export const fixture = (name: string): string => sharedPath('fixtures', 'reference', name);

/** Max |a-b| and max |b| over two equal-length arrays. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): { maxAbs: number; maxRef: number } {
  if (a.length !== b.length) throw new Error(`length mismatch ${a.length} vs ${b.length}`);
  let maxAbs = 0;
  let maxRef = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= maxAbs)) maxAbs = Number.isNaN(d) ? Infinity : Math.max(maxAbs, d);
    maxRef = Math.max(maxRef, Math.abs(b[i]));
  }
  return { maxAbs, maxRef };
}
