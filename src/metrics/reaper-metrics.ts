// Metrics of the reaper: what it did, how late, and what it could not do.

import { Counter, Histogram, type Registry } from 'prom-client';
import type { ReapScheduler } from '../reaper/scheduler.js';
import type { ReapReason } from '../reaper/rules.js';
import { METRIC_PREFIX } from './registry.js';

const REASONS: readonly ReapReason[] = ['overtime', 'crashed', 'expired', 'expired_failed', 'archived'];

export function registerReaperMetrics(registry: Registry, scheduler: ReapScheduler): void {
  const reaped = new Counter({
    name: `${METRIC_PREFIX}tasks_reaped_total`,
    help: 'Tasks the reaper acted on, by rule.',
    labelNames: ['reason'],
    registers: [registry],
  });
  const delay = new Histogram({
    name: `${METRIC_PREFIX}reap_delay_seconds`,
    help: 'Time from the moment a rule became due to the end of its action.',
    labelNames: ['reason'],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 3600],
    registers: [registry],
  });
  const failed = new Counter({
    name: `${METRIC_PREFIX}reap_failures_total`,
    help: 'Reaper actions that could not be done (retried later), by why.',
    labelNames: ['reason'],
    registers: [registry],
  });
  const chroots = new Counter({
    name: `${METRIC_PREFIX}chroots_removed_total`,
    help: 'Mock chroots removed with their tasks.',
    registers: [registry],
  });
  for (const reason of REASONS) {
    reaped.inc({ reason }, 0);
    delay.zero({ reason });
  }
  scheduler.on('reaped', (result) => {
    chroots.inc(result.chrootsRemoved);
    if (!result.ok) {
      failed.inc({ reason: result.failure });
      return;
    }
    reaped.inc({ reason: result.action.reason });
    delay.observe({ reason: result.action.reason }, Math.max(0, result.delayMs) / 1000);
  });
}
