#!/usr/bin/env -S MALLOC_ARENA_MAX=1 node --max-semi-space-size=2 --expose-gc
// --max-semi-space-size: a full spool scan makes short-lived garbage that otherwise grows V8's young
// generation by ~100 MiB of RSS (bench/spool.ts); 2 MiB keeps it small. --expose-gc: the agent runs
// one full collection after its first spool scan (Agent.start). MALLOC_ARENA_MAX=1: the threads that
// read the spool at start (and sync repos) would each leave a malloc arena of their own behind, ~14 MiB
// of RSS at 100k tasks, for good. The same settings are on every command line that starts the agent
// (scripts/start.mjs, the systemd unit).
// retrace-server-agent: the long-running administration agent (run by systemd).

import { Agent } from '../agent/agent.js';
import { parseListenAddress, resolveConfigPath } from '../config/config.js';
import { createLogger } from '../log.js';
import { resolvePluginDir } from '../plugins/load.js';
import { createNotifier } from '../systemd/notify.js';
import { Supervisor } from '../systemd/supervise.js';
import { CONFIG_OPTION_HELP, createProgram, ignoreInspectorSignal, PLUGIN_DIR_OPTION_HELP } from './program.js';

const NAME = 'retrace-server-agent';

const program = createProgram(NAME, 'Retrace Server administration agent: plugins, keys, repository sync, garbage collection, metrics')
  .option('-c, --config <file>', CONFIG_OPTION_HELP)
  .option('--plugin-dir <dir>', PLUGIN_DIR_OPTION_HELP)
  .option('--listen <host:port>', 'metrics/health listener (default: ListenAddress from the config)')
  .option('--log-level <level>', 'trace, debug, info, warn, error', 'info')
  .parse();

const opts = program.opts<{ config?: string; pluginDir?: string; listen?: string; logLevel: string }>();
const log = createLogger({ name: NAME, level: opts.logLevel });

// From before the start, which can take seconds.
ignoreInspectorSignal((message) => log.warn({ signal: 'SIGUSR1' }, `${message} (SIGUSR2 syncs now, SIGHUP reloads)`));

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

// systemd (Type=notify): READY after start, STATUS, WATCHDOG while healthy, STOPPING. A no-op elsewhere.
// Our children (rsync, createrepo_c, umount) must not talk to systemd in our name.
const notifier = createNotifier(process.env, { log });
for (const key of ['NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID']) delete process.env[key];
const supervisor = new Supervisor(agent, { notifier, log });
supervisor.start();

// SIGTERM/SIGINT: stop within STOP_DEADLINE_MS (under the unit's TimeoutStopSec=15s and the 10 s SPEC
// promise). agent.stop() closes the listener, aborts syncs (a sync writes into temp files renamed into
// place, and its lock is released on abort) and waits for in-flight reaper actions, which are short:
// a removal renames the task into the trash first, so one cut short is finished at the next start.
const STOP_DEADLINE_MS = 9000;
let stopping = false;
const stop = async (signal: string): Promise<void> => {
  if (stopping) return;
  stopping = true;
  log.info({ signal }, 'stopping');
  supervisor.stopping();
  setTimeout(() => {
    log.error(`not stopped within ${STOP_DEADLINE_MS / 1000} s; exiting anyway (an interrupted removal is finished at the next start)`);
    void notifier.close().finally(() => process.exit(1));
  }, STOP_DEADLINE_MS);
  await agent.stop();
  await notifier.close();
  process.exit(0);
};

// SIGHUP: reload config, plugins and keys; the tracker and the reaper's timers are kept, and a bad
// config keeps the running one (Agent.reload says why). One reload at a time; a SIGHUP during one
// runs another after it, so the newest file is what ends up loaded.
let reloading: Promise<void> | undefined;
let reloadAgain = false;
const reload = (): void => {
  if (stopping) return;
  if (reloading) {
    reloadAgain = true;
    return;
  }
  supervisor.reloading();
  reloading = agent.reload().then((ok) => {
    supervisor.reloaded(ok);
    reloading = undefined;
    if (reloadAgain) {
      reloadAgain = false;
      reload();
    }
  });
};

// SIGUSR2: sync every SyncRelease now (a release already syncing is joined, not started twice); the schedule
// then counts SyncInterval from that run. `systemctl kill -s USR2 retrace-server-agent` sends it.
const syncNow = (): void => {
  if (stopping) return;
  const releases = agent.reposync.releases;
  log.info({ signal: 'SIGUSR2' }, releases.length === 0 ? 'SIGUSR2: no SyncReleases to sync' : `SIGUSR2: syncing ${releases.length} releases now`);
  for (const release of releases) void agent.reposync.syncNow(release);
};

process.on('SIGTERM', () => void stop('SIGTERM'));
process.on('SIGINT', () => void stop('SIGINT'));
process.on('SIGHUP', reload);
process.on('SIGUSR2', syncNow);
