/**
 * The npm package as a user gets it: `npm pack`, install the tarball into a fresh project (dependencies from the npm
 * cache or registry, ONNXRUNTIME_NODE_INSTALL=skip so nothing downloads at install time), then from plain Node (no
 * tsx) import `styleclip`, load the fixture models by path, run a 3-step edit and import `styleclip/server`'s
 * `createApp`; and typecheck a consumer file against the shipped .d.ts.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT, fixture, sharedPath } from '../helpers/shared.js';

const dir = mkdtempSync(join(tmpdir(), 'styleclip-pack-'));
const consumer = join(dir, 'consumer');
const env = { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip', npm_config_update_notifier: 'false' };
let tarball: { filename: string; size: number; entryCount: number; files: { path: string }[] };

beforeAll(() => {
  const packed = execFileSync('npm', ['pack', '--json', '--pack-destination', dir], { cwd: PROJECT_ROOT, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  tarball = JSON.parse(packed)[0];
  execFileSync('mkdir', ['-p', consumer]);
  writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  execFileSync('npm', ['install', join(dir, tarball.filename), '--no-audit', '--no-fund', '--prefer-offline'], { cwd: consumer, env, stdio: 'ignore' });
}, 300_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the npm package', () => {
  it('ships dist (JS + .d.ts), bin, the manifest and the web form; no sources, tests or benchmarks', () => {
    const paths = tarball.files.map((f) => f.path);
    for (const p of ['dist/index.js', 'dist/index.d.ts', 'dist/server/index.d.ts', 'dist/server/web/index.html', 'dist/server/web/fast.js', 'bin/styleclip.js', 'models/manifest.json', 'package.json']) {
      expect(paths, p).toContain(p);
    }
    expect(paths.filter((p) => /^(src|test|bench|scratch)\//.test(p))).toEqual([]);
    console.log(`tarball: ${tarball.entryCount} files, ${(tarball.size / 1024).toFixed(0)} kB`);
  });

  it('from plain Node: import styleclip, a 3-step edit on the fixture models by path, styleclip/server createApp', () => {
    writeFileSync(
      join(consumer, 'run.mjs'),
      `import { Editor } from 'styleclip';
import { createApp } from 'styleclip/server';
const editor = await Editor.load(${JSON.stringify({ generator: fixture('stylegan2_tiny.pt'), clip: fixture('clip_vit_tiny.state_dict.pt'), vocab: sharedPath('data', 'clip', 'bpe_simple_vocab_16e6.txt.gz') })});
const res = await editor.edit({ kind: 'seed', seed: 1, truncation: 0.7 }, { prompt: 'red hair', steps: 3 });
console.log(JSON.stringify({ steps: res.history.length, size: res.after.width, createApp: typeof createApp }));
await editor.dispose();
`,
    );
    const out = execFileSync(process.execPath, ['run.mjs'], { cwd: consumer, env, encoding: 'utf8' });
    expect(JSON.parse(out)).toEqual({ steps: 3, size: 64, createApp: 'function' });
  });

  it('the installed bin runs the compiled CLI (--version, --help)', () => {
    const bin = join(consumer, 'node_modules', '.bin', 'styleclip');
    expect(execFileSync(bin, ['--version'], { env, encoding: 'utf8' }).trim()).toMatch(/^\d+\.\d+\.\d+$/);
    expect(execFileSync(bin, ['--help'], { env, encoding: 'utf8' })).toMatch(/directions compute/);
  });

  it('a consumer file typechecks against the shipped .d.ts', () => {
    writeFileSync(
      join(consumer, 'consumer.ts'),
      `import { Editor, GlobalDirections, InputError, type EditResult, type HostTensor } from 'styleclip';
import { readNpy } from 'styleclip/io';
import { Graph, grad } from 'styleclip/engine';
import { createApp, type AppType } from 'styleclip/server';
export async function edit(e: Editor): Promise<EditResult> {
  return e.edit({ kind: 'seed', seed: 1, truncation: 0.7 }, { prompt: 'red hair', steps: 2 });
}
export const shape = async (p: string): Promise<readonly number[]> => ((await readNpy(p)) as HostTensor).shape;
export type Api = AppType;
export const pieces = [GlobalDirections, InputError, Graph, grad, createApp];
`,
    );
    writeFileSync(
      join(consumer, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', strict: true, noEmit: true, skipLibCheck: true, types: ['node'], typeRoots: [join(PROJECT_ROOT, 'node_modules', '@types')] }, files: ['consumer.ts'] }),
    );
    execFileSync(process.execPath, [join(PROJECT_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: consumer, env, encoding: 'utf8' });
  });
});
