// Metrics of the task spool, fed by the lifecycle tracker.

import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { SpoolTracker } from '../spool/tracker.js';
import { TASK_STATES } from '../spool/state.js';
import { METRIC_PREFIX } from './registry.js';

const RESULTS = ['success', 'failure'] as const;

export function registerTaskMetrics(registry: Registry, tracker: SpoolTracker): void {
  new Gauge({
    name: `${METRIC_PREFIX}tasks`,
    help: 'Tasks in SaveDir by lifecycle state.',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      for (const [state, count] of Object.entries(tracker.counts())) this.set({ state }, count);
    },
  });

  const finished = new Counter({
    name: `${METRIC_PREFIX}tasks_finished_total`,
    help: 'Tasks seen to finish while the agent ran, by result.',
    labelNames: ['result'],
    registers: [registry],
  });
  const duration = new Histogram({
    name: `${METRIC_PREFIX}task_duration_seconds`,
    help: 'Time from started_time to finished_time of tasks seen to finish.',
    labelNames: ['result'],
    buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200],
    registers: [registry],
  });
  for (const result of RESULTS) {
    finished.inc({ result }, 0);
    duration.zero({ result });
  }
  tracker.on('finished', (task, seconds) => {
    const result = task.state === 'success' ? 'success' : 'failure';
    finished.inc({ result });
    if (seconds !== undefined) duration.observe({ result }, seconds);
  });

  const watcherErrors = new Counter({
    name: `${METRIC_PREFIX}watcher_errors_total`,
    help: 'Errors reported by the spool and task watchers; the periodic reconcile still covers the spool.',
    registers: [registry],
  });
  tracker.on('watcherError', () => watcherErrors.inc());

  const drift = new Counter({
    name: `${METRIC_PREFIX}reconcile_drift_total`,
    help: 'Task appearances, removals and state changes that the full re-read found and the watchers had missed.',
    registers: [registry],
  });
  tracker.on('drift', () => drift.inc());

  new Gauge({
    name: `${METRIC_PREFIX}last_reconcile_timestamp_seconds`,
    help: 'When the last full re-read of the spool finished.',
    registers: [registry],
    collect() {
      if (tracker.lastReconcileMs !== undefined) this.set(tracker.lastReconcileMs / 1000);
    },
  });
  void TASK_STATES;
}
