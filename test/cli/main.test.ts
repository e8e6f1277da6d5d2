import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { COMMANDS } from '../../src/cli/commands.js';

describe('styleclip CLI', () => {
  it('--help lists every command', async () => {
    const r = await runCli(['--help']);
    expect(r.code).toBe(0);
    for (const c of COMMANDS) expect(r.stdout).toContain(c.path.join(' '));
  });

  it('an unknown command is an error with a hint', async () => {
    const r = await runCli(['frobnicate']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown command 'frobnicate'.*styleclip --help/);
  });

  it('a near-miss command suggests the right one', async () => {
    const r = await runCli(['clip', 'tokenise']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("did you mean 'clip tokenize'");
  });

  it('a misspelt first word suggests the command group', async () => {
    const r = await runCli(['clp']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('did you mean');
  });

  it('an unknown flag is an error naming the command help', async () => {
    const r = await runCli(['clip', 'tokenize', '--no-such-flag']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--no-such-flag.*--help/);
  });
});

describe('CLI conventions', () => {
  it('--version prints the package version; no arguments prints help on stderr and exits 2', async () => {
    const { version } = JSON.parse(await (await import('node:fs/promises')).readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(await runCli(['--version'])).toMatchObject({ code: 0, stdout: `${version}\n` });
    const none = await runCli([]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/Usage: styleclip <command>/);
  });

  it("'styleclip help <command>' and '<group> --help' print that help", async () => {
    const h = await runCli(['help', 'generate']);
    expect(h.code).toBe(0);
    expect(h.stdout).toMatch(/--noise-seed/);
    for (const group of ['clip', 'models', 'directions']) {
      const r = await runCli([group, '--help']);
      expect(r.code, group).toBe(0);
      expect(r.stdout, group).toMatch(new RegExp(`${group} \\w+`));
    }
  });

  it('negative numbers reach our own range checks; the same path for two outputs is refused', async () => {
    const neg = await runCli(['generate', '--generator', 'x.pt', '--seed', '-1', '--out', 'a.png']);
    expect(neg.code).toBe(2);
    expect(neg.stderr).not.toMatch(/ambiguous/);
    const same = await runCli(['edit', '--generator', 'g.pt', '--seed', '1', '--prompt', 'red', '--out', 'same.png', '--compare', 'same.png']);
    expect(same.code).toBe(2);
    expect(same.stderr).toMatch(/--out and --compare name the same file same\.png/);
  });

  it('--max-pixels N (global flag) sets the image limit for any command that reads images, then is restored', async () => {
    const { mkdtemp } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const sharp = (await import('sharp')).default;
    const { DEFAULT_MAX_PIXELS, MAX_PIXELS_ENV, maxPixelsLimit } = await import('../../src/io/images/image.js');
    const img = join(await mkdtemp(join(tmpdir(), 'styleclip-maxpx-')), 'small.png');
    await sharp({ create: { width: 20, height: 10, channels: 3, background: '#808080' } }).png().toFile(img);
    const before = process.env[MAX_PIXELS_ENV];
    const r = await runCli(['align', '--max-pixels', '199', '--image', img, '--out', img + '.out.png']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/20x10 = 200 pixels, above the limit of 199; .*--max-pixels N/);
    expect(process.env[MAX_PIXELS_ENV]).toBe(before);
    expect(maxPixelsLimit()).toBe(DEFAULT_MAX_PIXELS);
    const bad = await runCli(['align', '--max-pixels=lots', '--image', img, '--out', img + '.out.png']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--max-pixels must be a positive number of pixels/);
    expect((await runCli(['--help'])).stdout).toMatch(/--max-pixels N\s+\(largest image read, default 50000000/);
  });

  it('--offline: a named model that is not downloaded fails with the clear message, exit 2', async () => {
    const { mkdtemp } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const home = await mkdtemp(join(tmpdir(), 'styleclip-offline-'));
    const before = process.env.STYLECLIP_HOME;
    const offlineBefore = process.env.STYLECLIP_OFFLINE;
    process.env.STYLECLIP_HOME = home;
    try {
      const r = await runCli(['generate', '--offline', '--seed', '1', '--out', join(home, 'x.png')]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/model 'stylegan2-ffhq-config-f' is not downloaded yet and downloads are off \(--offline/);
      expect(process.env.STYLECLIP_OFFLINE).toBe(offlineBefore);
    } finally {
      if (before === undefined) delete process.env.STYLECLIP_HOME;
      else process.env.STYLECLIP_HOME = before;
    }
  });
});
