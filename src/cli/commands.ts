/** Every `styleclip` sub-command, in the order `--help` lists them. */
import type { Command } from './command.js';
import { clipTokenizeCommand } from './clip_tokenize.js';

export const COMMANDS: readonly Command[] = [
  clipTokenizeCommand,
];
