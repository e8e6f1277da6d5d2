/**
 * Compiled sessions (src/engine/compiled.ts): the first build saves onnxruntime's optimised model (graph and weights
 * file), the next open maps it with optimisation off and gives the same outputs; a damaged entry (graph or weights) is
 * detected by its digest or size and rebuilt;
 * an unwritable cache directory only means no entry.
 */
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as E from '../../src/engine/index.js';
import { compiledSession } from '../../src/engine/compiled.js';
import { Session } from '../../src/engine/session.js';
import { rng } from './gradcheck.js';

const dir = mkdtempSync(join(tmpdir(), 'styleclip-compiled-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const r = rng(3);
const weights = E.tensor('float32', [16, 8, 3, 3], Float32Array.from({ length: 16 * 8 * 9 }, () => r() - 0.5));
const x = E.tensor('float32', [1, 8, 12, 12], Float32Array.from({ length: 8 * 144 }, () => r() - 0.5));
let builds = 0;
function build(): E.Graph {
  builds++;
  const g = new E.Graph('compiled_test');
  g.output(E.leakyRelu(E.conv(g.input('x', 'float32', [1, 8, 12, 12]), g.constant(weights, 'w'), undefined, { pads: [1, 1, 1, 1] }), 0.2), 'y');
  return g;
}
/** What each open was given: ONNX bytes (a build) or an entry's path. */
const opened: string[] = [];
const open = (b: Uint8Array | string, i: Parameters<typeof Session.open>[1], o: Parameters<typeof Session.open>[2]) => {
  opened.push(typeof b === 'string' ? 'entry' : 'bytes');
  return Session.open(b, i, o);
};
async function output(s: Session): Promise<Float32Array> {
  const y = (await s.run({ x })).y.data as Float32Array;
  await s.dispose();
  return y;
}

describe('compiled sessions', () => {
  it('a miss builds, saves the optimised model and serves it from the entry; a hit opens it without building, same outputs (bit-equal)', async () => {
    const cache = { dir: join(dir, 'a'), source: 'weights-1' };
    const plain = await output(await Session.create(build()));
    builds = 0;
    opened.length = 0;
    const first = await output(await compiledSession(cache, 'conv:1', build, {}, open));
    expect(builds).toBe(1);
    expect(opened).toEqual(['bytes', 'entry']); // built, saved, then the saved entry opened in its place
    expect(readdirSync(cache.dir).sort().map((f) => f.replace(/^[0-9a-f]{32}/, 'ID').replace(/\.\d+-[0-9a-f]{8}\.bin$/, '.NONCE.bin'))).toEqual(['ID.NONCE.bin', 'ID.json', 'ID.onnx']);
    const second = await output(await compiledSession(cache, 'conv:1', build, {}, open));
    expect(builds).toBe(1);
    expect(Buffer.from(first.buffer).equals(Buffer.from(plain.buffer))).toBe(true);
    expect(Buffer.from(second.buffer).equals(Buffer.from(plain.buffer))).toBe(true);
    await compiledSession({ ...cache, source: 'weights-2' }, 'conv:1', build, {}, open).then((s) => s.dispose());
    expect(builds).toBe(2); // other weights: another entry
  });

  it('a damaged entry is found by its digest, removed and rebuilt; the answer stays right', async () => {
    const cache = { dir: join(dir, 'b'), source: 'weights-1' };
    const good = await output(await compiledSession(cache, 'conv:1', build, {}, open));
    const onnx = join(cache.dir, readdirSync(cache.dir).find((f) => f.endsWith('.onnx'))!);
    const bytes = readFileSync(onnx);
    bytes[bytes.length - 10] ^= 0xff;
    writeFileSync(onnx, bytes);
    builds = 0;
    const again = await output(await compiledSession(cache, 'conv:1', build, {}, open));
    expect(builds).toBe(1);
    expect(Buffer.from(again.buffer).equals(Buffer.from(good.buffer))).toBe(true);
    expect(readFileSync(onnx).equals(bytes)).toBe(false);
  });

  it('a graph without large weights gets an entry too (an empty weights file) and opens from it', async () => {
    const cache = { dir: join(dir, 'small'), source: 'none' };
    let built = 0;
    const small = (): E.Graph => {
      built++;
      const g = new E.Graph('small');
      g.output(E.mul(g.input('x', 'float32', [1, 8, 12, 12]), 2), 'y');
      return g;
    };
    for (let i = 0; i < 2; i++) {
      const y = await output(await compiledSession(cache, 'small', small, {}, open));
      expect(y[0]).toBe(2 * (x.data as Float32Array)[0]);
    }
    expect(built).toBe(1);
    expect(readdirSync(cache.dir)).toHaveLength(3);
  });

  it('damaged or truncated weights files are found (digest, size), removed with their entry and rebuilt', async () => {
    const cache = { dir: join(dir, 'w'), source: 'weights-1' };
    const good = await output(await compiledSession(cache, 'conv:1', build, {}, open));
    for (const damage of [(b: Buffer) => { b[b.length >> 1] ^= 0xff; return b; }, (b: Buffer) => b.subarray(0, b.length - 64)]) {
      const bin = join(cache.dir, readdirSync(cache.dir).find((f) => f.endsWith('.bin'))!);
      writeFileSync(bin, damage(readFileSync(bin)));
      builds = 0;
      const again = await output(await compiledSession(cache, 'conv:1', build, {}, open));
      expect(builds).toBe(1);
      expect(Buffer.from(again.buffer).equals(Buffer.from(good.buffer))).toBe(true);
      expect(readdirSync(cache.dir).filter((f) => f.endsWith('.bin'))).toHaveLength(1); // the damaged one is gone
    }
  });

  it('a killed save (weights written, no sidecar) leaves nothing behind after the next save of that key', async () => {
    const cache = { dir: join(dir, 'k'), source: 'weights-1' };
    await compiledSession(cache, 'conv:1', build, {}, open).then((s) => s.dispose());
    const files = readdirSync(cache.dir);
    const id = files.find((f) => f.endsWith('.json'))!.slice(0, 32);
    rmSync(join(cache.dir, `${id}.json`));
    writeFileSync(join(cache.dir, `${id}.999-deadbeef.bin`), 'a killed save of this key');
    await compiledSession(cache, 'conv:1', build, {}, open).then((s) => s.dispose());
    expect(readdirSync(cache.dir).filter((f) => f.endsWith('.bin'))).toHaveLength(1);
    expect(readdirSync(cache.dir)).toHaveLength(3);
  });

  it.skipIf(process.getuid?.() === 0)('an unwritable cache directory: the session is built, nothing is written', async () => {
    const ro = join(dir, 'ro');
    rmSync(ro, { recursive: true, force: true });
    writeFileSync(join(dir, 'ro-file'), '');
    chmodSync(dir, 0o555);
    try {
      builds = 0;
      await output(await compiledSession({ dir: ro, source: 's' }, 'conv:1', build, {}, open));
      expect(builds).toBe(1);
    } finally {
      chmodSync(dir, 0o755);
    }
  });

  it('a cache path that cannot be a directory (a file is there): built, nothing written, no error', async () => {
    const blocked = join(dir, 'blocked');
    writeFileSync(blocked, 'a file where the cache directory would be');
    builds = 0;
    await output(await compiledSession({ dir: blocked, source: 's' }, 'conv:1', build, {}, open));
    expect(builds).toBe(1);
    expect(readFileSync(blocked, 'utf8')).toBe('a file where the cache directory would be');
  });

  it('a new entry removes the entries it supersedes (same weights and graph, other code) and keeps every other one', async () => {
    const cache = { dir: join(dir, 'sweep'), source: 'weights-1' };
    await compiledSession({ ...cache, source: 'other-weights' }, 'conv:1', build, {}, open).then((s) => s.dispose());
    await compiledSession(cache, 'conv:2', build, {}, open).then((s) => s.dispose());
    const kept = readdirSync(cache.dir).sort();
    // An entry of conv:1 with these weights as an older build of the program would have left it.
    const side = JSON.parse(readFileSync(join(cache.dir, kept.find((f) => f.endsWith('.json'))!), 'utf8')) as { key: string };
    const oldKey = { ...(JSON.parse(side.key) as Record<string, unknown>), source: 'weights-1', graph: 'conv:1', code: 'an older build' };
    const stale = 'f'.repeat(32);
    writeFileSync(join(cache.dir, `${stale}.json`), JSON.stringify({ ...side, key: JSON.stringify(oldKey), weights: { file: `${stale}.1-00000000.bin`, bytes: 13, sha256: '' } }));
    writeFileSync(join(cache.dir, `${stale}.onnx`), 'stale model');
    writeFileSync(join(cache.dir, `${stale}.1-00000000.bin`), 'stale weights');
    writeFileSync(join(cache.dir, 'record.clip.json'), '{}'); // another kind of record sharing the directory
    await compiledSession(cache, 'conv:1', build, {}, open).then((s) => s.dispose());
    const after = readdirSync(cache.dir);
    expect(after).not.toContain(`${stale}.json`);
    expect(after).not.toContain(`${stale}.onnx`);
    expect(after).not.toContain(`${stale}.1-00000000.bin`);
    for (const f of [...kept, 'record.clip.json']) expect(after).toContain(f);
    expect(after).toHaveLength(kept.length + 4); // the new conv:1 entry (3 files) and the record
  });
});
