#!/usr/bin/env node
// The `styleclip` command: runs the compiled CLI (dist/, built by `npm run build`, which `npm install` runs as `prepare`).
import { main } from '../dist/cli/main.js';

process.exitCode = await main(process.argv.slice(2));
