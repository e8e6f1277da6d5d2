/**
 * First use of a named model that is not in the cache: the CLI pulls it from the mirror (STYLECLIP_MIRROR, a
 * loopback server here serving the fixture generator under the manifest's layout), checks its sha256, reports the
 * download, and the command goes on; with --offline the same command fails with the clear message and exit 2.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { fixture } from '../helpers/shared.js';
import { startModelServer, type ModelServer } from '../io/model_server.js';

const dir = mkdtempSync(join(tmpdir(), 'styleclip-autopull-'));
let server: ModelServer;
const saved: Record<string, string | undefined> = {};
const setEnv = (k: string, v: string | undefined): void => {
  if (!(k in saved)) saved[k] = process.env[k];
  if (v === undefined) delete process.env[k];
  else process.env[k] = v;
};

beforeAll(async () => {
  const body = await readFile(fixture('stylegan2_tiny.pt'));
  server = await startModelServer({ '/tiny-gen/tiny.pt': { body, chunk: 64 * 1024 } });
  const manifest = {
    version: 1,
    mirrorLayout: '{model}/{file}',
    models: [
      {
        name: 'tiny-gen', aliases: [], kind: 'generator', format: 'rosinality-pt', description: 'the tiny fixture generator',
        licence: 'test', citation: 'none',
        files: [{ name: 'tiny.pt', url: 'https://example.invalid/tiny.pt', size: body.length, sha256: createHash('sha256').update(body).digest('hex') }],
      },
    ],
  };
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest));
  setEnv('STYLECLIP_MANIFEST', join(dir, 'manifest.json'));
  setEnv('STYLECLIP_MIRROR', server.baseUrl);
  setEnv('STYLECLIP_HOME', join(dir, 'cache'));
  setEnv('STYLECLIP_OFFLINE', undefined);
});

afterAll(async () => {
  for (const [k, v] of Object.entries(saved)) setEnv(k, v);
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('auto-pull on first use', () => {
  it('--offline refuses to download: exit 2 naming the pull command', async () => {
    const r = await runCli(['generate', '--offline', '--generator', 'tiny-gen', '--seed', '1', '--out', join(dir, 'a.png')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/model 'tiny-gen' is not downloaded yet and downloads are off \(--offline \/ STYLECLIP_OFFLINE=1\): run 'styleclip models pull tiny-gen'/);
    expect(server.requests).toHaveLength(0);
  });

  it('a named model absent from the cache is pulled from the mirror (sha256 checked), reported, and the command succeeds', async () => {
    const r = await runCli(['generate', '--generator', 'tiny-gen', '--seed', '1', '--out', join(dir, 'b.png')]);
    expect(r.stderr).toMatch(/^styleclip: downloading tiny-gen \(first use; --offline forbids downloads\)\n$/);
    expect(r.code).toBe(0);
    expect(server.requests.map((q) => q.path)).toEqual(['/tiny-gen/tiny.pt']);
    const again = await runCli(['generate', '--offline', '--generator', 'tiny-gen', '--seed', '2', '--out', join(dir, 'c.png')]);
    expect(again.code).toBe(0);
    expect(server.requests).toHaveLength(1);
  });
});
