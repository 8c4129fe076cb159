#!/usr/bin/env -S node --max-semi-space-size=2
// --max-semi-space-size: a full spool scan makes short-lived garbage that otherwise grows V8's young
// generation to ~160 MiB of RSS (bench/spool.ts); 2 MiB keeps the agent near 100 MiB at 100k tasks.
// The same flag is on every command line that starts the agent (scripts/start.mjs, the systemd unit).
// retrace-server-agent: the long-running administration agent (run by systemd).

import { Agent } from '../agent/agent.js';
import { parseListenAddress, resolveConfigPath } from '../config/config.js';
import { createLogger } from '../log.js';
import { resolvePluginDir } from '../plugins/load.js';
import { CONFIG_OPTION_HELP, createProgram, PLUGIN_DIR_OPTION_HELP } from './program.js';

const NAME = 'retrace-server-agent';

const program = createProgram(NAME, 'Retrace Server administration agent: plugins, keys, repository sync, garbage collection, metrics')
  .option('-c, --config <file>', CONFIG_OPTION_HELP)
  .option('--plugin-dir <dir>', PLUGIN_DIR_OPTION_HELP)
  .option('--listen <host:port>', 'metrics/health listener (default: ListenAddress from the config)')
  .option('--log-level <level>', 'trace, debug, info, warn, error', 'info')
  .parse();

const opts = program.opts<{ config?: string; pluginDir?: string; listen?: string; logLevel: string }>();
const log = createLogger({ name: NAME, level: opts.logLevel });

let agent: Agent;
try {
  agent = await Agent.start({
    configPath: resolveConfigPath(opts.config),
    pluginDir: resolvePluginDir(opts.pluginDir),
    log,
    ...(opts.listen === undefined ? {} : { listen: parseListenAddress(opts.listen, '--listen') }),
  });
} catch (err) {
  log.fatal({ err }, `cannot start: ${(err as Error).message}`);
  process.exit(1);
}

let stopping = false;
const stop = async (signal: string): Promise<void> => {
  if (stopping) return;
  stopping = true;
  log.info({ signal }, 'stopping');
  await agent.stop();
  process.exit(0);
};
process.on('SIGTERM', () => void stop('SIGTERM'));
process.on('SIGINT', () => void stop('SIGINT'));
process.on('SIGHUP', () => void agent.reload());
