/** Every `styleclip` sub-command, in the order `--help` lists them. */
import type { Command } from './command.js';
import { classifyCommand } from './classify.js';
import { clipEmbedCommand } from './clip_embed.js';
import { clipTokenizeCommand } from './clip_tokenize.js';
import { editCommand } from './edit.js';
import { directionsComputeCommand, directionsStatsCommand } from './directions.js';
import { generateCommand } from './generate.js';
import { inspectCommand } from './inspect.js';
import { MODELS_COMMANDS } from './models.js';
import { batchCommand } from './batch.js';
import { alignCommand } from './align.js';
import { identityCommand } from './identity.js';
import { projectCommand } from './project.js';
import { invertCommand } from './invert.js';
import { mapperTrainCommand } from './mapper_train.js';
import { nadaTrainCommand } from './nada.js';
import { serveCommand } from './serve.js';
import { workerCommand } from './worker.js';

export const COMMANDS: readonly Command[] = [
  editCommand,
  directionsStatsCommand,
  directionsComputeCommand,
  batchCommand,
  serveCommand,
  workerCommand,
  clipTokenizeCommand,
  clipEmbedCommand,
  classifyCommand,
  generateCommand,
  inspectCommand,
  alignCommand,
  identityCommand,
  invertCommand,
  mapperTrainCommand,
  nadaTrainCommand,
  projectCommand,
  ...MODELS_COMMANDS,
];
