import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { tensor } from '../../src/engine/tensor.js';
import { encodeSafetensors } from '../../src/io/tensors/safetensors.js';
import { fixture } from '../helpers/shared.js';

const DATA = join(dirname(fileURLToPath(import.meta.url)), 'data');
const dir = mkdtempSync(join(tmpdir(), 'styleclip-inspect-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function run(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = { stdout: '', stderr: '' };
  const sink = (key: 'stdout' | 'stderr'): Writable =>
    new Writable({
      write(chunk, _encoding, done) {
        out[key] += String(chunk);
        done();
      },
    });
  const code = await main(argv, { stdout: sink('stdout'), stderr: sink('stderr'), signal: new AbortController().signal });
  return { code, ...out };
}

describe('styleclip inspect', () => {
  it('lists format, tensors and values as a table', async () => {
    const r = await run(['inspect', fixture('stylegan2_tiny.pt')]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe('format: zip');
    expect(lines[1]).toMatch(/^tensors: 100 \([\d,]+ elements\)$/);
    expect(r.stdout).toMatch(/\n {2}g_ema\.style\.1\.weight +float32 +\[64,64\]\n/);
    expect(r.stdout).toMatch(/\n {2}latent_avg +float32 +\[64\]\n/);
    expect(r.stdout).toContain('\nvalues: 0\n');
  });

  it('prints JSON with --json, including non-tensor values', async () => {
    const r = await run(['inspect', '--json', join(DATA, 'mixed.legacy.pt')]);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout) as { format: string; tensors: { name: string; dtype: string; shape: number[] }[]; values: Record<string, unknown> };
    expect(j.format).toBe('legacy');
    expect(j.tensors).toContainEqual({ name: 'half_t', dtype: 'float16', shape: [3, 2] });
    expect(j.tensors).toContainEqual({ name: 'nested.a.b', dtype: 'float32', shape: [2] });
    expect(j.values).toEqual({ number: 3, ratio: 0.25, name: 'hello', ints: [1, 2, 3], big: '4611686018427387904', nothing: null });
  });

  it('reads TorchScript archives and safetensors files', async () => {
    const ts = JSON.parse((await run(['inspect', '--json', fixture('clip_vit_tiny.torchscript.pt')])).stdout) as { format: string; tensors: unknown[] };
    expect(ts.format).toBe('torchscript');
    expect(ts.tensors).toContainEqual({ name: 'visual.conv1.weight', dtype: 'float16', shape: [128, 3, 32, 32] });
    const path = join(dir, 'w.safetensors');
    writeFileSync(path, encodeSafetensors(new Map([['w', tensor('float32', [2, 2])]]), { source: 'test' }));
    const r = await run(['inspect', path]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^format: safetensors\ntensors: 1 \(4 elements\)\n {2}w {2}float32 {3}\[2,2\]\nvalues: 1\n {2}__metadata__\.source = "test"\n$/);
  });

  it('reports bad files and bad usage on stderr with exit code 2', async () => {
    const junk = join(dir, 'junk.pt');
    writeFileSync(junk, 'this is not a checkpoint at all');
    const bad = await run(['inspect', junk]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^styleclip: .*junk\.pt: not a PyTorch checkpoint/);
    const missing = await run(['inspect', join(dir, 'missing.pt')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/cannot read .*missing\.pt: ENOENT/);
    const none = await run(['inspect']);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/exactly one checkpoint path/);
  });
});
