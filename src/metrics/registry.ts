// The agent's own Prometheus registry (never prom-client's global one), with the Node.js process
// metrics under our prefix minus the three gauges that end in _total and so fail `promtool check
// metrics` (agent-anchors §2.2).

import { collectDefaultMetrics, Registry } from 'prom-client';

export const METRIC_PREFIX = 'retrace_agent_';

const LINT_FAILING_DEFAULTS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

export function createRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: METRIC_PREFIX });
  for (const name of LINT_FAILING_DEFAULTS) registry.removeSingleMetric(METRIC_PREFIX + name);
  return registry;
}
