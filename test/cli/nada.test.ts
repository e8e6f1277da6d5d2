/**
 * `styleclip nada train` end to end on the fixture models (case `nada`): the flags the parity check uses, the
 * checkpoint read back by `generate`, resume equal to an uninterrupted run, Ctrl-C saving a whole checkpoint, and bad input.
 */
import { existsSync, mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { readCheckpoint } from '../../src/io/tensors/checkpoint.js';
import { readNpy } from '../../src/io/tensors/npy.js';
import { saveTorch } from '../../src/io/tensors/torch_write.js';
import { runCli } from '../helpers/cli.js';
import { fixtureSources } from '../helpers/models.js';
import { fixture, maxAbsDiff } from '../helpers/shared.js';

const src = fixtureSources();
const base = (variant: string, out: string, steps = 3): string[] => [
  'nada', 'train', '--generator', src.generator, '--start', fixture('nada_train_start.pt'), '--clip', src.clip, '--vocab', src.vocab,
  '--source', 'photo', '--target', 'sketch', '--z', fixture(`nada_${variant}_z.npy`), '--noise', 'const',
  '--layers', variant === 'default' ? 'default' : 'auto:10', '--steps', String(steps), '--batch', '2', '--out', out, '--quiet',
];

async function tensorsOf(path: string): Promise<Map<string, Float32Array>> {
  const t = (await readCheckpoint(path, 'x')).tensors;
  return new Map([...t].filter(([k]) => k.startsWith('g_ema.')).map(([k, v]) => [k, v.data as Float32Array]));
}

describe('styleclip nada train (fixture case nada)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nada-cli-'));

  it.each(['default', 'auto_all'])('variant %s: generate --generator G.pt on nada_<v>_test_z within 1e-3 x max|adapted_img|', async (variant) => {
    const out = join(dir, `${variant}.pt`);
    const r = await runCli([...base(variant, out), '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.losses).toHaveLength(3);
    const raw = join(dir, `${variant}_img.npy`);
    const g = await runCli(['generate', '--generator', out, '--z', fixture(`nada_${variant}_test_z.npy`), '--noise', 'const', '--raw', raw]);
    expect(g.code, g.stderr).toBe(0);
    const { maxAbs, maxRef } = maxAbsDiff((await readNpy(raw)).data as Float32Array, (await readNpy(fixture(`nada_${variant}_adapted_img.npy`))).data as Float32Array);
    console.log(`${variant} adapted image: max abs err ${maxAbs.toExponential(3)}, max|expected| ${maxRef.toFixed(3)}`);
    expect(maxAbs).toBeLessThanOrEqual(1e-3 * maxRef);
  }, 120_000);

  it('--grid writes the base row above the adapted row (4 seeded samples, 8 px gaps) and --json names it', async () => {
    const out = join(dir, 'grid.pt');
    const grid = join(dir, 'grid.png');
    const r = await runCli([...base('default', out, 1), '--grid', grid, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).written).toEqual([out, grid]);
    const meta = await sharp(grid).metadata();
    expect([meta.width, meta.height]).toEqual([4 * 64 + 3 * 8, 2 * 64 + 8]);
  }, 120_000);

  it('a run resumed after 2 steps ends equal to the 3-step run (generator and optimiser restored)', async () => {
    const straight = join(dir, 'default.pt');
    const part = join(dir, 'part.pt');
    expect((await runCli(base('default', part, 2))).code).toBe(0);
    const r = await runCli(['nada', 'train', '--resume', part, '--generator', src.generator, '--clip', src.clip, '--vocab', src.vocab, '--z', fixture('nada_default_z.npy'), '--noise', 'const', '--steps', '3', '--out', part, '--quiet']);
    expect(r.code, r.stderr).toBe(0);
    const [a, b] = [await tensorsOf(straight), await tensorsOf(part)];
    for (const [k, v] of a) expect(maxAbsDiff(b.get(k)!, v).maxAbs, k).toBe(0);
  }, 120_000);

  it('Ctrl-C after a step writes a whole checkpoint and says how to resume; a run interrupted twice ends equal to the straight run', async () => {
    const out = join(dir, 'ctrlc.pt');
    const resumeFlags = ['nada', 'train', '--resume', out, '--generator', src.generator, '--clip', src.clip, '--vocab', src.vocab, '--z', fixture('nada_default_z.npy'), '--noise', 'const', '--steps', '3', '--out', out, '--save-every', '1'];
    const interrupted = async (flags: string[]): Promise<void> => {
      const before = existsSync(out) ? statSync(out).mtimeMs : 0;
      const ac = new AbortController();
      const timer = setInterval(() => existsSync(out) && statSync(out).mtimeMs !== before && ac.abort(), 2);
      const r = await runCli(flags, ac.signal);
      clearInterval(timer);
      expect(r.code, r.stderr).toBe(130);
      expect(r.stderr).toMatch(/^styleclip: interrupted at step [12]; saved .*ctrlc\.pt; continue with --resume .*ctrlc\.pt\n$/);
    };
    await interrupted([...base('default', out, 3), '--save-every', '1']);
    const after1 = Number((await readCheckpoint(out, 'x')).values['styleclip_nada.step']);
    if (after1 < 2) await interrupted(resumeFlags);
    const done = await runCli(resumeFlags);
    expect(done.code, done.stderr).toBe(0);
    const [a, b] = [await tensorsOf(join(dir, 'default.pt')), await tensorsOf(out)];
    for (const [k, v] of a) expect(maxAbsDiff(b.get(k)!, v).maxAbs, k).toBe(0);
    expect(readdirSync(dir).filter((f) => f.includes('.partial'))).toEqual([]);
  }, 120_000);

  it.each([
    [['--source', 'photo', '--target', 'photo'], /both "photo"/],
    [['--source', ' ', '--target', 'sketch'], /non-empty/],
    [['--layers', 'auto:11'], /10 W\+ rows/],
    [['--layers', 'top'], /'default' or 'auto:K'/],
    [['--clip-weights', '1,1'], /one non-negative number per --clip/],
  ])('bad input %j: one line, exit 2, nothing written', async (extra, message) => {
    const out = join(dir, 'bad.pt');
    const flags = base('default', out);
    for (let i = 0; i < extra.length; i += 2) {
      const at = flags.indexOf(extra[i]);
      if (at >= 0) flags.splice(at, 2);
      flags.push(extra[i], extra[i + 1]);
    }
    const r = await runCli(flags);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(existsSync(out)).toBe(false);
  }, 60_000);

  it('a generator without a mapping network is refused in one line', async () => {
    const ck = await readCheckpoint(src.generator, 'x');
    const noMapping = join(dir, 'no_mapping.pt');
    await saveTorch(noMapping, { dict: [['g_ema', { dict: [...ck.tensors].filter(([k]) => k.startsWith('g_ema.') && !k.startsWith('g_ema.style.')).map(([k, t]) => [k.slice(6), t] as const), ordered: true }]] });
    const r = await runCli(['nada', 'train', '--generator', noMapping, '--clip', src.clip, '--vocab', src.vocab, '--source', 'photo', '--target', 'sketch', '--out', join(dir, 'x.pt')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/has no mapping network \(g_ema\.style\.\*\)/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  }, 60_000);

  it('an e4e checkpoint trains its decoder (another layout, written back as rosinality)', async () => {
    const out = join(dir, 'from_e4e.pt');
    const r = await runCli(['nada', 'train', '--generator', fixture('e4e_tiny.pt'), '--clip', src.clip, '--vocab', src.vocab, '--source', 'photo', '--target', 'sketch', '--steps', '1', '--out', out, '--quiet']);
    expect(r.code, r.stderr).toBe(0);
    const g = await runCli(['generate', '--generator', out, '--seed', '1', '--raw', join(dir, 'e4e_img.npy')]);
    expect(g.code, g.stderr).toBe(0);
  }, 60_000);
});
