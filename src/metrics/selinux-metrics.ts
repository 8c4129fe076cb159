// retrace_agent_selinux_mode{mode}: 1 for the current SELinux mode, 0 for the two others, read at
// each scrape (one small file in selinuxfs), so `setenforce` shows without a restart.

import { Gauge, type Registry } from 'prom-client';
import { readSelinuxMode, SELINUX_MODES } from '../selinux/mode.js';
import { METRIC_PREFIX } from './registry.js';

export function registerSelinuxMetrics(registry: Registry, root = '/'): void {
  new Gauge({
    name: `${METRIC_PREFIX}selinux_mode`,
    help: 'SELinux mode of the host: 1 for the current mode (enforcing, permissive or disabled), 0 for the others.',
    labelNames: ['mode'],
    registers: [registry],
    collect() {
      const current = readSelinuxMode(root);
      for (const mode of SELINUX_MODES) this.set({ mode }, mode === current ? 1 : 0);
    },
  });
}
