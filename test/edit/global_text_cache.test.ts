/**
 * Template ensembles of the global directions are recorded beside the compiled sessions of the CLIP checkpoint
 * (src/edit/global/index.ts): a second load answers a known prompt from the record, bit-equal, and a damaged record
 * (wrong length) is recomputed; a load whose texts are all recorded does not read the CLIP checkpoint at all.
 */
import { copyFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GlobalDirections } from '../../src/edit/global/index.js';
import { cacheHome } from '../../src/io/models/registry.js';
import { fixture, sharedPath } from '../helpers/shared.js';

const sources = () => ({
  generator: fixture('stylegan2_tiny.pt'),
  clip: fixture('clip_vit_tiny.state_dict.pt'),
  vocab: sharedPath('data', 'clip', 'bpe_simple_vocab_16e6.txt.gz'),
  fs3: fixture('fs3.npy'),
  stats: fixture('S_mean_std'),
});

async function direction(prompt: string, neutral: string): Promise<Float32Array> {
  const dirs = await GlobalDirections.load(sources());
  try {
    return (await dirs.direction(prompt, neutral)).dt;
  } finally {
    await dirs.dispose();
  }
}

// A cache home of its own: the records below are rewritten, and other test files share the run's cache home.
const home = mkdtempSync(join(tmpdir(), 'styleclip-text-cache-'));
const saved = process.env.STYLECLIP_HOME;
beforeAll(() => void (process.env.STYLECLIP_HOME = home));
afterAll(() => {
  process.env.STYLECLIP_HOME = saved;
  rmSync(home, { recursive: true, force: true });
});

describe('recorded template ensembles', () => {
  it('a second process-like load reads the ensembles from their records (bit-equal dt); a damaged record is recomputed', async () => {
    const prompt = 'a face with cached hair';
    const neutral = 'a face with plain hair';
    const first = await direction(prompt, neutral);
    const dir = join(cacheHome(), 'compiled');
    const records = readdirSync(dir).filter((f) => f.includes('.ensemble.'));
    expect(records).toHaveLength(2);
    const second = await direction(prompt, neutral);
    expect(Buffer.from(second.buffer).equals(Buffer.from(first.buffer))).toBe(true);
    // Records read, not recomputed: with the two records replaced by unit vectors e0 and e1, dt is +-(e0 - e1)/sqrt(2).
    const kept = records.map((f) => readFileSync(join(dir, f), 'utf8'));
    records.forEach((f, i) => {
      const r = JSON.parse(kept[i]) as { source: string; value: number[] };
      writeFileSync(join(dir, f), JSON.stringify({ source: r.source, value: r.value.map((_, k) => (k === i ? 1 : 0)) }));
    });
    const planted = await direction(prompt, neutral);
    expect(Array.from(planted).filter((v) => v !== 0).map((v) => Math.abs(v))).toEqual([Math.fround(Math.SQRT1_2), Math.fround(Math.SQRT1_2)]);
    for (const f of records) writeFileSync(join(dir, f), JSON.stringify({ source: 'x', value: [1, 2, 3] }));
    const third = await direction(prompt, neutral);
    expect(Buffer.from(third.buffer).equals(Buffer.from(first.buffer))).toBe(true);
  });

  it('recorded texts and a recorded CLIP: the checkpoint is not read (zeroed, same size and mtime: still answers); a new text reads it', async () => {
    const clip = join(home, 'clip.pt');
    copyFileSync(fixture('clip_vit_tiny.state_dict.pt'), clip);
    const at = { ...sources(), clip };
    const dirs = await GlobalDirections.load(at);
    const first = (await dirs.direction('a face with deferred hair', 'a face')).dt;
    await dirs.dispose();
    const st = statSync(clip);
    writeFileSync(clip, new Uint8Array(st.size));
    utimesSync(clip, st.atimeMs / 1000, st.mtimeMs / 1000);
    const again = await GlobalDirections.load(at);
    try {
      expect(Buffer.from((await again.direction('a face with deferred hair', 'a face')).dt.buffer).equals(Buffer.from(first.buffer))).toBe(true);
      const res = await again.edit({ kind: 'seed', seed: 1, truncation: 0.7 }, [{ prompt: 'a face with deferred hair', neutral: 'a face', alpha: 2, beta: 0.1 }]);
      expect(res.after.shape).toEqual([1, 3, 64, 64]);
      await expect(again.direction('a text never seen', 'a face')).rejects.toThrow(/not a PyTorch checkpoint/);
    } finally {
      await again.dispose();
    }
  });
});
