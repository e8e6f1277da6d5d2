/**
 * The layer order of DEVELOPERS.md, read from the imports of every file under src/: engine < io < generator, clip <
 * faces < optimize < invert < edit < jobs < server < cli (generator and clip side by side, neither importing the
 * other), with src/errors.ts and src/random.ts below everything and src/index.ts above; and no import cycle.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../helpers/shared.js';

const LAYERS: Readonly<Record<string, number>> = {
  errors: -1, random: -1, engine: 0, io: 1, generator: 2, clip: 2, faces: 3, optimize: 4, invert: 5, edit: 6, jobs: 7,
  server: 8, cli: 9, index: 10,
};
const SRC = join(PROJECT_ROOT, 'src');
const IMPORT = /(?:from\s+|import\s*\(\s*|^import\s+)['"](\.[^'"]+)['"]/gm;

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    return e.isDirectory() ? sources(p) : /\.ts$/.test(e.name) ? [p] : [];
  });
}

function graph(): Map<string, string[]> {
  const g = new Map<string, string[]>();
  for (const f of sources(SRC)) {
    const deps: string[] = [];
    for (const m of readFileSync(f, 'utf8').matchAll(IMPORT)) {
      const t = normalize(join(dirname(f), m[1])).replace(/\.js$/, '');
      const hit = [`${t}.ts`, join(t, 'index.ts')].find((c) => existsSync(c));
      if (hit) deps.push(hit);
    }
    g.set(f, deps);
  }
  return g;
}

const layerOf = (f: string): string => relative(SRC, f).split('/')[0].replace(/\.ts$/, '');

describe('src import structure', () => {
  const g = graph();

  it('every folder of src has a layer', () => {
    expect([...new Set([...g.keys()].map(layerOf))].filter((l) => !(l in LAYERS))).toEqual([]);
  });

  it('imports follow the layer order (a file imports its own layer or lower ones; generator and clip not each other)', () => {
    const wrong: string[] = [];
    for (const [f, deps] of g) {
      for (const d of deps) {
        const [a, b] = [layerOf(f), layerOf(d)];
        if (a !== b && LAYERS[b] >= LAYERS[a]) wrong.push(`${relative(SRC, f)} -> ${relative(SRC, d)}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('no import cycle', () => {
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const stack: string[] = [];
    const visit = (v: string): void => {
      state.set(v, 'open');
      stack.push(v);
      for (const w of g.get(v) ?? []) {
        if (state.get(w) === 'open') cycles.push(stack.slice(stack.indexOf(w)).map((p) => relative(SRC, p)).join(' -> '));
        else if (!state.has(w)) visit(w);
      }
      stack.pop();
      state.set(v, 'done');
    };
    for (const v of g.keys()) if (!state.has(v)) visit(v);
    expect(cycles).toEqual([]);
  });
});
