// The long-running agent: owns the loaded config, plugins and keyring and the duties built on
// them. Start-up refuses a bad config; a reload (SIGHUP) keeps the last good one and says why.

import type { Server } from 'node:http';
import type { Registry } from 'prom-client';
import { loadConfig, type ListenAddress, type RetraceServerConfig } from '../config/config.js';
import { loadKeyring, type Keyring } from '../gpg/keyring.js';
import type { Logger } from '../log.js';
import { registerAgentMetrics } from '../metrics/agent-metrics.js';
import { registerReaperMetrics } from '../metrics/reaper-metrics.js';
import { registerRepoMetrics, type RepoMetrics } from '../metrics/repo-metrics.js';
import { startHttpServer } from '../metrics/http.js';
import { createRegistry } from '../metrics/registry.js';
import { registerSelinuxMetrics } from '../metrics/selinux-metrics.js';
import { registerTaskMetrics } from '../metrics/task-metrics.js';
import { loadPlugins, type PluginSet } from '../plugins/load.js';
import { releaseName, type ReleaseId } from '../plugins/release.js';
import type { ReapContext } from '../reaper/effects/context.js';
import { recoverTrash } from '../reaper/effects/index.js';
import { reapContextOf } from '../reaper/pass.js';
import { reapPolicy } from '../reaper/rules.js';
import { ReapScheduler } from '../reaper/scheduler.js';
import { releaseLayout, type ReleaseLayout } from '../reposync/layout.js';
import { SyncSchedule } from '../reposync/schedule.js';
import { readSyncState } from '../reposync/sync-state.js';
import { SpoolTracker } from '../spool/tracker.js';

export interface AgentOptions {
  readonly configPath: string;
  readonly pluginDir: string;
  readonly log: Logger;
  /** Overrides ListenAddress (`--listen`). */
  readonly listen?: ListenAddress;
}

interface Loaded {
  readonly config: RetraceServerConfig;
  readonly plugins: PluginSet;
  readonly keyring: Keyring;
}

// Settings that the running duties were built from; a reload cannot move them.
const RESTART_ONLY = ['saveDir', 'workerCommand', 'listen', 'reconcileInterval', 'syncReleases'] as const;

export class Agent {
  readonly registry: Registry = createRegistry();
  private readonly tracker: SpoolTracker;
  private readonly reaper: ReapScheduler;
  private readonly syncs: SyncSchedule;
  private readonly repoMetrics: RepoMetrics;
  private server: Server | undefined;
  private lastReloadFailed = false;

  private readonly options: AgentOptions;
  private loaded: Loaded;

  private constructor(options: AgentOptions, loaded: Loaded) {
    this.options = options;
    this.loaded = loaded;
    const { config } = loaded;
    this.tracker = new SpoolTracker({
      saveDir: config.retrace.saveDir,
      workerCommand: config.agent.workerCommand,
      reconcileIntervalMs: config.agent.reconcileInterval * 1000,
      log: options.log,
    });
    registerAgentMetrics(this.registry, {
      saveDir: () => this.config.retrace.saveDir,
      configErrors: () => (this.lastReloadFailed || this.config.cleanupPolicy.deletionRefused ? 1 : 0),
    });
    registerTaskMetrics(this.registry, this.tracker);
    registerSelinuxMetrics(this.registry);
    this.reaper = new ReapScheduler({
      tracker: this.tracker,
      policy: () => reapPolicy(this.config),
      context: () => this.reapContext(),
      log: options.log,
    });
    registerReaperMetrics(this.registry, this.reaper);
    const layoutOf = (release: ReleaseId): ReleaseLayout => releaseLayout(this.config.retrace.repoDir, release);
    this.syncs = new SyncSchedule({
      releases: config.agent.syncReleases,
      intervalSeconds: () => this.config.agent.syncInterval,
      // Loaded with the first sync: the transports and the rpm reader are memory an agent without SyncReleases
      // never needs.
      run: async (release, signal) => {
        const { syncRelease } = await import('../reposync/sync-release.js');
        return syncRelease({ config: this.config, plugins: this.plugins.plugins, release, log: options.log.child({ repo: releaseName(release) }), signal });
      },
      lastAttemptMs: async (release) => {
        const attempt = (await readSyncState(layoutOf(release).stateDir).catch(() => undefined))?.attempt;
        return attempt === undefined ? undefined : attempt * 1000;
      },
      log: options.log,
    });
    this.repoMetrics = registerRepoMetrics(this.registry, this.syncs, layoutOf, options.log);
  }

  private reapContext(): ReapContext {
    return reapContextOf(this.config, this.options.log);
  }

  get config(): RetraceServerConfig {
    return this.loaded.config;
  }

  get plugins(): PluginSet {
    return this.loaded.plugins;
  }

  get keyring(): Keyring {
    return this.loaded.keyring;
  }

  get spool(): SpoolTracker {
    return this.tracker;
  }

  /** The scheduled repository syncs; `syncNow` runs one on demand. */
  get reposync(): SyncSchedule {
    return this.syncs;
  }

  /** The metrics/health listener is up (the systemd watchdog checks it). */
  get listening(): boolean {
    return this.server?.listening ?? false;
  }

  get listenAddress(): ListenAddress {
    const address = this.server?.address();
    if (address && typeof address === 'object') return { host: address.address, port: address.port };
    return this.options.listen ?? this.config.agent.listen;
  }

  /** undefined when healthy, else why not. */
  health(): string | undefined {
    if (!this.tracker.ready) return 'the first spool reconcile has not finished';
    return undefined;
  }

  /** Loads everything and starts the duties; throws (ConfigError) when the config is unusable. */
  static async start(options: AgentOptions): Promise<Agent> {
    const agent = new Agent(options, await load(options));
    // Listening first lets /healthz answer 503 while a large spool is read.
    agent.server = await startHttpServer({
      listen: options.listen ?? agent.config.agent.listen,
      registry: agent.registry,
      health: () => agent.health(),
    });
    const recovered = await recoverTrash(agent.reapContext());
    if (recovered > 0) options.log.info(`finished removing ${recovered} entries left in the trash by an earlier run`);
    await agent.tracker.start();
    // The first scan of a large spool leaves its garbage in the old generation; one full collection
    // now returns it (the agent's command line has --expose-gc; elsewhere this is skipped).
    (globalThis as { gc?: () => void }).gc?.();
    agent.reaper.start();
    await agent.repoMetrics.load();
    await agent.syncs.start();
    const counts = agent.tracker.counts();
    options.log.info({ listen: agent.listenAddress, tasks: counts }, 'agent ready');
    return agent;
  }

  /** Re-reads config, plugins and keys; on any config error the running config stays. */
  async reload(): Promise<boolean> {
    const { log } = this.options;
    try {
      const next = await load(this.options);
      const before = { ...this.config.retrace, ...this.config.agent };
      const after = { ...next.config.retrace, ...next.config.agent };
      for (const key of RESTART_ONLY) {
        if (JSON.stringify(before[key]) !== JSON.stringify(after[key])) log.warn(`${key} changed: it takes effect after a restart`);
      }
      this.loaded = next;
      this.lastReloadFailed = false;
      this.reaper.rearmAll();
      log.info('configuration reloaded');
      return true;
    } catch (err) {
      this.lastReloadFailed = true;
      log.error({ err }, `reload failed, keeping the previous configuration: ${(err as Error).message}`);
      return false;
    }
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => {
      if (!this.server) return resolve();
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
    await this.syncs.stop();
    await this.reaper.stop();
    await this.tracker.stop();
    this.options.log.info('agent stopped');
  }
}

async function load({ configPath, pluginDir, log }: AgentOptions): Promise<Loaded> {
  const config = loadConfig(configPath);
  for (const warning of config.cleanupPolicy.warnings) log.warn(warning);
  if (config.cleanupPolicy.deletionRefused) log.error(config.cleanupPolicy.deletionRefused);

  const plugins = await loadPlugins(pluginDir);
  for (const error of plugins.errors) log.error({ file: error.file, line: error.line }, `plugin skipped: ${error.message}`);
  for (const overlap of plugins.overlaps) log.warn(overlap);
  log.info({ plugins: plugins.plugins.map((p) => p.distribution) }, `${plugins.plugins.length} distribution plugins loaded`);

  const keyring = await loadKeyring({ gpgDir: config.agent.gpgDir });
  for (const problem of keyring.problems) {
    log.warn({ file: problem.file, fingerprint: problem.fingerprint, reason: problem.reason }, `key not trusted: ${problem.detail}`);
  }
  log.info({ gpgDir: config.agent.gpgDir }, `${keyring.keys.length} trusted keys loaded`);
  return { config, plugins, keyring };
}
