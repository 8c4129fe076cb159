// Metrics about the agent itself: build, config health, inotify watches, SaveDir free space.

import { statfs } from 'node:fs/promises';
import { Gauge, type Registry } from 'prom-client';
import { VERSION } from '../version.js';
import { countInotifyWatches } from './inotify.js';
import { METRIC_PREFIX } from './registry.js';

export interface AgentMetricsSource {
  /** SaveDir of the running config. */
  saveDir(): string;
  /** 1 while the config on disk is unusable (the agent runs on the last good one) or forbids deletions. */
  configErrors(): number;
}

export function registerAgentMetrics(registry: Registry, source: AgentMetricsSource): void {
  new Gauge({
    name: `${METRIC_PREFIX}build_info`,
    help: 'Always 1; the labels say which agent and Node.js version run.',
    labelNames: ['version', 'node_version'],
    registers: [registry],
  }).set({ version: VERSION, node_version: process.version }, 1);

  new Gauge({
    name: `${METRIC_PREFIX}config_error`,
    help: '1 when the configuration on disk could not be used or forbids deleting tasks (check_config), else 0.',
    registers: [registry],
    collect() {
      this.set(source.configErrors());
    },
  });

  new Gauge({
    name: `${METRIC_PREFIX}inotify_watches`,
    help: 'inotify watches held by the agent process.',
    registers: [registry],
    async collect() {
      this.set(await countInotifyWatches());
    },
  });

  new Gauge({
    name: `${METRIC_PREFIX}savedir_free_bytes`,
    help: 'Bytes available to unprivileged users on the filesystem of SaveDir.',
    registers: [registry],
    async collect() {
      try {
        const stats = await statfs(source.saveDir());
        this.set(stats.bavail * stats.bsize);
      } catch {
        this.reset();
      }
    },
  });
}
