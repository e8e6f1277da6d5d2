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
