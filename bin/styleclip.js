#!/usr/bin/env node
// The `styleclip` command: runs the compiled CLI (dist/, built by `npm run build`, which `npm install` runs as `prepare`).
import { main } from '../dist/cli/main.js';

/** A command is over when main returns: work still in flight then (an aborted model run) must not outlive it (ms). */
const EXIT_AFTER_MS = 200;

const code = await main(process.argv.slice(2));
process.exitCode = code;
setTimeout(() => process.exit(code), EXIT_AFTER_MS).unref();
