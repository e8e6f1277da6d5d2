/**
 * `npm run bench -- <name> [flags]`: runs bench/<name>.ts and prints its figures as JSON on stdout.
 * Each benchmark module exports `run(argv: string[]): Promise<Record<string, unknown>>`; util.ts and files named with
 * an underscore (helpers of one benchmark) are not benchmarks.
 */
import { readdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const names = readdirSync(here)
  .filter((f) => f.endsWith('.ts') && f !== 'run.ts' && f !== 'util.ts' && !f.includes('_'))
  .map((f) => f.slice(0, -3));

const [name, ...rest] = process.argv.slice(2);
if (!name || !names.includes(name)) {
  process.stderr.write(`usage: npm run bench -- <${names.join('|')}> [flags]\n`);
  process.exit(2);
}
const mod = (await import(`./${name}.ts`)) as { run(argv: string[]): Promise<Record<string, unknown>> };
const figures = await mod.run(rest);
process.stdout.write(JSON.stringify({ bench: name, ...figures }, null, 2) + '\n');
