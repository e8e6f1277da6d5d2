/**
 * Weights mapped from their checkpoint (engine/tensor.ts `fileTensor`, engine/onnx.ts external data,
 * engine/session_options.ts `serialise`): a graph whose weights mostly lie in one folder's files is serialised with
 * references into them, built at 'extended' and gives the outputs of the same graph with the weights in memory; a
 * compiled cache saves no copy of it and removes what earlier code compiled of the same weights.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as E from '../../src/engine/index.js';
import { compiledSession } from '../../src/engine/compiled.js';
import { serialise } from '../../src/engine/session_options.js';
import { Session } from '../../src/engine/session.js';
import { rng } from './gradcheck.js';

const dir = mkdtempSync(join(tmpdir(), 'styleclip-mapped-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const r = rng(5);
const W = Float32Array.from({ length: 64 * 32 }, () => r() - 0.5);
const x = E.tensor('float32', [3, 64], Float32Array.from({ length: 3 * 64 }, () => r() - 0.5));
/** The weights at an offset (not page-aligned) of a file, as a checkpoint's storage lies. */
const HEADER = 100;
const file = join(dir, 'weights.pt');
const bytes = new Uint8Array(HEADER + W.byteLength);
bytes.set(new Uint8Array(W.buffer), HEADER);
writeFileSync(file, bytes);

let reads = 0;
const mapped = (): E.HostTensor => E.fileTensor('float32', [64, 32], { path: file, offset: HEADER }, () => (reads++, W.slice()));
/** y = sum_k x @ ws[k] + b. */
function graph(...ws: E.HostTensor[]): E.Graph {
  const g = new E.Graph('mapped_test');
  const xv = g.input('x', 'float32', [3, 64]);
  const y = ws.map((w) => E.matmul(xv, g.constant(w, 'w'))).reduce((a, b) => E.add(a, b));
  g.output(E.add(y, g.constant(E.tensor('float32', [32]), 'b')), 'y');
  return g;
}
const run = async (s: Session): Promise<Float32Array> => {
  const y = (await s.run({ x })).y.data as Float32Array;
  await s.dispose();
  return y;
};

describe('weights mapped from their file', () => {
  it('a file-backed weight is external data read by onnxruntime, never by JavaScript; outputs equal the in-memory graph (bit-equal)', async () => {
    reads = 0;
    const m = serialise(graph(mapped()), {});
    expect(m.mapped).toBe(true);
    expect(m.opts).toMatchObject({ optimization: 'extended', externalDir: dir });
    expect(m.bytes.length).toBeLessThan(W.byteLength / 4);
    const fromFile = await run(await Session.create(graph(mapped())));
    expect(reads).toBe(0);
    const inMemory = await run(await Session.create(graph(E.tensor('float32', [64, 32], W.slice())), { optimization: 'extended' }));
    expect(Buffer.from(fromFile.buffer).equals(Buffer.from(inMemory.buffer))).toBe(true);
  });

  it('a graph with under half its weight bytes in files is serialised whole (file tensors read then)', () => {
    reads = 0;
    const inMemory = (): E.HostTensor => E.tensor('float32', [64, 32], W.slice());
    const m = serialise(graph(mapped(), inMemory(), inMemory()), {});
    expect(m.mapped).toBe(false);
    expect(reads).toBe(1);
  });

  it('a compiled cache opens a mapped graph without saving a copy and removes what other code compiled of it', async () => {
    const cache = { dir: join(dir, 'compiled'), source: 'weights.pt' };
    // an entry of these weights and graph built by other code (another fingerprint): what an upgrade leaves behind
    const stale = await compiledSession(cache, 'g', () => graph(E.tensor('float32', [64, 32], W.slice())), {}, (b, i, o) => Session.open(b, i, o));
    await stale.dispose();
    const [side] = readdirSync(cache.dir).filter((f) => /^[0-9a-f]{32}\.json$/.test(f));
    const record = JSON.parse(readFileSync(join(cache.dir, side), 'utf8'));
    writeFileSync(join(cache.dir, side), JSON.stringify({ ...record, key: record.key.replace(/"code":"[0-9a-f]+"/, '"code":"older"') }));
    const s = await compiledSession(cache, 'g', () => graph(mapped()), {}, (b, i, o) => Session.open(b, i, o));
    expect(await run(s)).toEqual(await run(await Session.create(graph(E.tensor('float32', [64, 32], W.slice())))));
    expect(readdirSync(cache.dir)).toEqual([]);
  });
});
