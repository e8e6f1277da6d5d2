/**
 * One description of the edit options (EDIT_OPTION_SPECS) and the same bounds everywhere: for every option, values
 * just inside and just outside its bounds are accepted or refused alike by the CLI flags, the API's JSON and
 * multipart schemas, the batch-line schema and resolveEditOptions.
 */
import { describe, expect, it } from 'vitest';
import { EDIT_OPTION_SPECS, resolveEditOptions, type EditOptionName } from '../../../src/edit/optimize/options.js';
import { parseRange, type OptionSpec } from '../../../src/edit/options.js';
import { BatchLine, EditForm, EditJson } from '../../../src/jobs/schemas.js';
import { runCli } from '../../helpers/cli.js';
import { fixtureModelFlags } from '../../helpers/models.js';

/** [value, accepted] pairs at and around an option's bounds. */
function cases(spec: OptionSpec): [number | string, boolean][] {
  if (spec.kind === 'enum') return [...spec.values.map((v): [string, boolean] => [v, true]), ['nope', false]];
  if (spec.kind === 'range') return [['0-3', true], ['2', true], ['3-1', false], ['x', false], ['1-'.repeat(20), false]];
  const step = spec.kind === 'integer' ? 1 : Math.max(1e-6, spec.max * 1e-6);
  return [
    [spec.min, !spec.exclusiveMin],
    [spec.min - step, false],
    [spec.max, true],
    [spec.max + step, false],
    ...(spec.kind === 'integer' ? [[spec.min + 0.5, false] as [number, boolean]] : []),
  ];
}

const specs = Object.entries(EDIT_OPTION_SPECS) as [EditOptionName, OptionSpec][];

describe('edit option bounds are identical across CLI, API (JSON, multipart), batch lines and the library', () => {
  for (const [name, spec] of specs) {
    it(`${name} (--${spec.flag ?? '(none)'} / ${spec.field})`, async () => {
      for (const [value, ok] of cases(spec)) {
        const what = `${name} = ${value}`;
        const body = { prompt: 'red hair', seed: 1, [spec.field]: value };
        expect(EditJson.safeParse(body).success, `JSON ${what}`).toBe(ok);
        expect(BatchLine.safeParse(body).success, `batch ${what}`).toBe(ok);
        expect(EditForm.safeParse({ prompt: 'red hair', seed: '1', [spec.field]: String(value) }).success, `multipart ${what}`).toBe(ok);
        const libValue = spec.kind === 'range' ? (() => { try { return parseRange(String(value)); } catch { return 'unparsable'; } })() : value;
        const lib = (): unknown => resolveEditOptions({ prompt: 'red hair', [name]: libValue } as never);
        if (ok) expect(lib, `library ${what}`).not.toThrow();
        else expect(lib, `library ${what}`).toThrow();
        if (spec.flag) {
          // An output the CLI refuses (.txt) makes it stop right after parsing the options: a valid value reaches that error.
          const r = await runCli(['edit', ...fixtureModelFlags(), '--seed', '1', '--prompt', 'red hair', `--${spec.flag}`, String(value), '--out', 'x.txt']);
          expect(r.code, `CLI ${what}`).toBe(2);
          if (ok) expect(r.stderr, `CLI ${what}`).toMatch(/--out x\.txt: use a/);
          else expect(r.stderr, `CLI ${what}`).toMatch(new RegExp(`--${spec.flag} (must be|must look like|range .* is empty)`));
        }
      }
    });
  }
});
