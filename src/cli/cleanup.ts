#!/usr/bin/env node
// retrace-server-cleanup: one garbage-collection pass over the task spool, for cron users (SPEC §6).

import { loadConfig, resolveConfigPath } from '../config/config.js';
import { CONFIG_OPTION_HELP, createProgram, die } from './program.js';

const NAME = 'retrace-server-cleanup';

const program = createProgram(NAME, 'One pass of the garbage-collection rules over the task spool')
  .option('-c, --config <file>', CONFIG_OPTION_HELP)
  .option('--dry-run', 'print what would be done, change nothing')
  .option('--json', 'print one JSON object per action')
  .parse();

const opts = program.opts<{ config?: string; dryRun?: boolean; json?: boolean }>();

let config;
try {
  config = loadConfig(resolveConfigPath(opts.config));
} catch (err) {
  die(NAME, (err as Error).message);
}
for (const warning of config.cleanupPolicy.warnings) process.stderr.write(`${warning}\n`);
if (config.cleanupPolicy.deletionRefused) {
  process.stderr.write(`${config.cleanupPolicy.deletionRefused}\n`);
  process.exit(1);
}
die(NAME, 'the cleanup pass is not available in this version yet', 1);
