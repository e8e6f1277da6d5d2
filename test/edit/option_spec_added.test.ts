/**
 * Adding an option is one descriptor entry: with a throwaway entry added to EDIT_OPTION_SPECS (and nothing else
 * changed), the option appears in `styleclip edit --help`, the CLI parses its flag into the edit options, the API's
 * JSON and multipart schemas accept its field (with its bounds) and so does a batch line, and submissions carry it.
 */
import { afterAll, describe, expect, it, vi } from 'vitest';
import type { OptionSpec } from '../../src/edit/options.js';

const THROWAWAY: OptionSpec = { kind: 'integer', min: 2, max: 9, flag: 'throwaway-knob', field: 'throwaway_knob', help: 'a knob added by this test' };

vi.mock('../../src/edit/optimize/options.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/edit/optimize/options.js')>();
  return { ...real, EDIT_OPTION_SPECS: Object.freeze({ ...real.EDIT_OPTION_SPECS, throwawayKnob: THROWAWAY }) };
});

afterAll(() => {
  vi.doUnmock('../../src/edit/optimize/options.js');
});

describe('a throwaway option descriptor', () => {
  it('appears in the CLI help, flags and parsed options', async () => {
    const { editCommand } = await import('../../src/cli/edit.js');
    expect(editCommand.usage).toMatch(/--throwaway-knob\s+a knob added by this test; an integer >= 2 and <= 9/);
    expect(editCommand.usage).toMatch(/\[--throwaway-knob INTEGER\]/);
    expect(editCommand.options['throwaway-knob']).toEqual({ type: 'string' });
    const { flagValues } = await import('../../src/cli/option_flags.js');
    const { EDIT_OPTION_SPECS } = await import('../../src/edit/optimize/options.js');
    expect(flagValues({ values: { 'throwaway-knob': '4' }, positionals: [] }, EDIT_OPTION_SPECS)).toMatchObject({ throwawayKnob: 4 });
    expect(() => flagValues({ values: { 'throwaway-knob': '10' }, positionals: [] }, EDIT_OPTION_SPECS)).toThrow(/--throwaway-knob must be an integer in 2\.\.9/);
  });

  it('appears in the API JSON and multipart schemas and in batch lines, with its bounds, and in submissions', async () => {
    const { BatchLine, EditForm, EditJson } = await import('../../src/jobs/schemas.js');
    expect(EditJson.safeParse({ prompt: 'red', seed: 1, throwaway_knob: 5 }).success).toBe(true);
    expect(EditJson.safeParse({ prompt: 'red', seed: 1, throwaway_knob: 10 }).success).toBe(false);
    expect(EditForm.safeParse({ prompt: 'red', seed: '1', throwaway_knob: '5' }).success).toBe(true);
    expect(BatchLine.safeParse({ prompt: 'red', seed: 1, throwaway_knob: 2, name: 'a' }).success).toBe(true);
    expect(BatchLine.safeParse({ prompt: 'red', seed: 1, throwaway_knob: 1 }).success).toBe(false);
    const { submissionOf } = await import('../../src/jobs/submission.js');
    const sub = await submissionOf(EditJson.parse({ prompt: 'red', seed: 1, throwaway_knob: 7 }), async () => new Uint8Array());
    expect(sub.options).toMatchObject({ throwawayKnob: 7 });
  });
});
