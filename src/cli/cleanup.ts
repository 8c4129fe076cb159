#!/usr/bin/env node
// retrace-server-cleanup: one garbage-collection pass over the task spool, for cron users (SPEC §6).
// Exit codes as upstream: 1 when check_config refuses (DeleteTaskAfter < DeleteFailedTaskAfter).

import { loadConfig, resolveConfigPath, type RetraceServerConfig } from '../config/config.js';
import { createLogger } from '../log.js';
import { runCleanupPass } from '../reaper/pass.js';
import { CONFIG_OPTION_HELP, createProgram, die, ignoreInspectorSignal } from './program.js';

const NAME = 'retrace-server-cleanup';

const program = createProgram(NAME, 'One pass of the garbage-collection rules over the task spool')
  .option('-c, --config <file>', CONFIG_OPTION_HELP)
  .option('--dry-run', 'print what would be done, change nothing')
  .option('--json', 'print one JSON object per action')
  .option('--log-level <level>', 'structured log records on stderr from this level', 'warn')
  .parse();

const opts = program.opts<{ config?: string; dryRun?: boolean; json?: boolean; logLevel: string }>();

let config: RetraceServerConfig;
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

const log = createLogger({ name: NAME, level: opts.logLevel, out: process.stderr });
// A pass over a large spool on a slow disk, or one waiting out a kill grace, runs for a while.
ignoreInspectorSignal((message) => log.warn({ signal: 'SIGUSR1' }, message));
const dryRun = opts.dryRun === true;
await runCleanupPass(config, {
  dryRun,
  log,
  onAction({ taskId, action }, result) {
    if (opts.json) {
      const record = { task: taskId, action: action.kind, reason: action.reason, due: new Date(action.dueMs).toISOString(), dryRun, ...(result && { ok: result.ok, detail: result.detail }) };
      console.log(JSON.stringify(record));
    } else if (dryRun) {
      console.log(`would ${action.kind} task ${taskId} (${action.reason}, due ${new Date(action.dueMs).toISOString()})`);
    } else if (result && !result.ok) {
      console.log(`could not ${action.kind} task ${taskId} (${action.reason}): ${result.detail}`);
    }
  },
});
