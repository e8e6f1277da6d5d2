/** Every `styleclip` sub-command, in the order `--help` lists them. */
import type { Command } from './command.js';
import { clipTokenizeCommand } from './clip_tokenize.js';
import { inspectCommand } from './inspect.js';

export const COMMANDS: readonly Command[] = [
  clipTokenizeCommand,
  inspectCommand,
];
