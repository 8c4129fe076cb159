#!/usr/bin/env node
// retrace-server-reposync DIST VER ARCH: mirrors one release's repos into RepoDir (SPEC §7), with upstream's steps
// and exit codes: 0 ok, 1 unknown distribution, 2 another sync holds the lock, 3 lock could not be set, 4 createrepo
// failed, 5 (new) a repo had no working mirror, 6 privilege drop failed.
// --verify-only re-checks the packages already in Packages/ (like rpm -K) and changes nothing: exit 0 when all
// verify, 7 (new) when any does not.
//
// Run as root it drops to `retrace:<AuthGroup>` first, as upstream does. RETRACE_SERVER_TESTING=1 skips that, as it
// skips upstream's uid checks: the test suite runs as root on machines without a `retrace` user.

import { prettyFactory } from 'pino-pretty';
import { pino } from 'pino';
import { loadConfig, resolveConfigPath, type RetraceServerConfig } from '../config/config.js';
import type { Logger } from '../log.js';
import { canonicalArch } from '../plugins/arch.js';
import { loadPlugins, resolvePluginDir } from '../plugins/load.js';
import { releaseName, type ReleaseId } from '../plugins/release.js';
import { releaseLayout } from '../reposync/layout.js';
import { ReposyncExit } from '../reposync/outcome.js';
import { syncRelease } from '../reposync/sync-release.js';
import { verifyRelease } from '../reposync/verify-release.js';
import { CONFIG_OPTION_HELP, createProgram, die, ignoreInspectorSignal, PLUGIN_DIR_OPTION_HELP } from './program.js';
import { ProgressBar, type Terminal } from './progress-bar.js';

const NAME = 'retrace-server-reposync';
const USER = 'retrace';
// After the first SIGTERM/SIGINT the run stops at the next safe point; if it has not ended by then, exit anyway
// (the lock then names a dead process and the next run takes it over).
const STOP_GRACE_MS = 10_000;

const program = createProgram(NAME, 'Synchronize the local repository of one release; old package versions are kept')
  .argument('<distribution>', 'distribution plugin name, e.g. fedora')
  .argument('<version>', 'release version, e.g. 40 or rawhide')
  .argument('<architecture>', 'architecture, e.g. x86_64 (i686 becomes i386)')
  .option('-c, --config <file>', CONFIG_OPTION_HELP)
  .option('--plugin-dir <dir>', PLUGIN_DIR_OPTION_HELP)
  .option('-v, --verbose', 'more output; twice shows createrepo output', (_v, count: number) => count + 1, 0)
  .option('--verify-only', 'check the signature and payload digest of every package already in the repo (like rpm -K); change nothing')
  .parse();

const opts = program.opts<{ config?: string; pluginDir?: string; verbose: number; verifyOnly?: boolean }>();
const [distribution = '', version = '', arch = ''] = program.args;
const release: ReleaseId = { distribution, version, arch: canonicalArch(arch) };

let config: RetraceServerConfig;
try {
  config = loadConfig(resolveConfigPath(opts.config));
} catch (err) {
  die(NAME, (err as Error).message);
}
// On a terminal, a progress bar (cleared around each log line); elsewhere log lines only.
const bar = process.stderr.isTTY ? new ProgressBar(process.stderr) : undefined;
const log = createCliLogger(opts.verbose, bar?.around(process.stderr) ?? process.stderr);
// A first sync can run for hours.
ignoreInspectorSignal((message) => log.warn(message));

if (opts.verifyOnly) {
  const plugin = (await loadPlugins(resolvePluginDir(opts.pluginDir))).plugins.find((p) => p.distribution === distribution);
  if (!plugin) die(NAME, `Unknown distribution: '${distribution}'`, ReposyncExit.UNKNOWN_DISTRIBUTION);
  const checks = await verifyRelease(config, plugin, release, log);
  for (const { file, verdict } of checks) {
    console.log(verdict.ok ? `${file}: OK${verdict.detail ? ` (${verdict.detail})` : ''}` : `${file}: NOT OK (${verdict.reason}: ${verdict.detail})`);
  }
  const bad = checks.filter((check) => !check.verdict.ok).length;
  log.info(`${checks.length} packages checked in ${releaseName(release)}, ${bad} not OK`);
  process.exit(bad === 0 ? ReposyncExit.OK : ReposyncExit.VERIFY_FAILED);
}

if (config.retrace.useFafPackages) {
  // Upstream hands the whole job to the FAF tool: no privilege drop, plugin or lock.
  const outputDir = releaseLayout(config.retrace.repoDir, release).targetDir;
  const { execa } = await import('execa');
  const faf = await execa('retrace-server-reposync-faf', [distribution, version, release.arch, '--outputdir', outputDir], { stdio: 'inherit', reject: false });
  process.exit(faf.exitCode ?? 1);
}

dropPrivileges(config.retrace.authGroup, log);

const controller = new AbortController();
let stopSignal: NodeJS.Signals | undefined;
const onSignal = (signal: NodeJS.Signals): void => {
  if (stopSignal) process.exit(exitCodeOf(signal));
  stopSignal = signal;
  log.warn(`${signal}: stopping; nothing partial is left in Packages/`);
  controller.abort();
  setTimeout(() => process.exit(exitCodeOf(signal)), STOP_GRACE_MS).unref();
};
process.on('SIGTERM', onSignal);
process.on('SIGINT', onSignal);

const plugins = await loadPlugins(resolvePluginDir(opts.pluginDir));
for (const error of plugins.errors) log.debug(`plugin skipped: ${error.message}`);
try {
  const outcome = await syncRelease({ config, plugins: plugins.plugins, release, log, signal: controller.signal, ...(bar === undefined ? {} : { progress: bar }) });
  bar?.end();
  if (outcome.exitCode === ReposyncExit.OK && !outcome.aborted) log.info(outcome.message);
  else log.error(outcome.message);
  process.exit(stopSignal ? exitCodeOf(stopSignal) : outcome.exitCode);
} catch (err) {
  log.error(`synchronizing ${releaseName(release)} failed: ${(err as Error).stack ?? String(err)}`);
  process.exit(1);
}

/** upstream: setgid(AuthGroup), then setuid(retrace); any failure is exit 6. Supplementary groups go too. */
function dropPrivileges(group: string, logger: Logger): void {
  if (process.getuid?.() !== 0 || process.env.RETRACE_SERVER_TESTING === '1') return;
  try {
    process.setgroups?.([group]);
    process.setgid?.(group);
    process.setuid?.(USER);
  } catch (err) {
    logger.error(`Failed to set privileges to '${USER}:${group}': ${(err as Error).message}`);
    process.exit(ReposyncExit.PRIVILEGES);
  }
  logger.info(`Privileges set to '${USER}:${group}'.`);
}

/**
 * Plain `LEVEL: message` lines as upstream's logging printed them, written to `out` as each is logged (so none is
 * lost at process.exit); -v debug, -vv also tool output.
 */
function createCliLogger(verbose: number, out: Terminal): Logger {
  const level = verbose >= 2 ? 'trace' : verbose === 1 ? 'debug' : 'info';
  const prettify = prettyFactory({ colorize: process.stderr.isTTY === true, ignore: 'pid,hostname,time,name,svc', singleLine: true });
  return pino({ level, base: {} }, { write: (line: string) => void out.write(prettify(line)) });
}

function exitCodeOf(signal: NodeJS.Signals): number {
  return signal === 'SIGINT' ? 130 : 143;
}
