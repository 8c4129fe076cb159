// The agent's side of the systemd service protocol (SPEC §11): READY=1 once the listener is up and the first
// reconcile is done, a one-line STATUS= refreshed after each reconcile, WATCHDOG=1 every half period but only
// while the agent is healthy, RELOADING=1/READY=1 around a reload and STOPPING=1 on the way out.
//
// Healthy means: the event loop is responsive (a drift check), the spool reconcile ran within 3 ×
// ReconcileInterval, and the HTTP listener is up. A wedged agent thus stops pinging and systemd restarts it
// (WatchdogSec=, Restart=on-failure).

import type { Logger } from '../log.js';
import type { TaskState } from '../spool/state.js';
import type { Notifier } from './notify.js';

/** What the supervisor reads from the agent (src/agent/agent.ts). */
export interface SupervisedAgent {
  readonly listening: boolean;
  readonly spool: {
    readonly lastReconcileMs: number | undefined;
    counts(): Record<TaskState, number>;
  };
  readonly config: { readonly agent: { readonly reconcileInterval: number } };
}

export interface SupervisorOptions {
  readonly notifier: Notifier;
  readonly log: Logger;
  readonly now?: () => number;
  /** How often the event-loop drift is sampled (default 500 ms). */
  readonly lagSampleMs?: number;
  /** The loop counts as unresponsive when every sample since the last ping was later than this (default 2 s). */
  readonly maxLagMs?: number;
}

// A reconcile is overdue after this many intervals.
const RECONCILE_SLACK = 3;

export class Supervisor {
  private readonly agent: SupervisedAgent;
  private readonly options: SupervisorOptions;
  private readonly now: () => number;
  // The tracker's interval is fixed when it is built; a reload does not move it.
  private readonly reconcileMs: number;
  private readonly timers: NodeJS.Timeout[] = [];
  private statusReconcileMs: number | undefined;
  /** Smallest event-loop drift seen since the last watchdog decision. */
  private minLagMs = 0;
  private lagSamples = 0;
  private lastProblem: string | undefined;
  private stopped = false;

  constructor(agent: SupervisedAgent, options: SupervisorOptions) {
    this.agent = agent;
    this.options = options;
    this.now = options.now ?? Date.now;
    this.reconcileMs = agent.config.agent.reconcileInterval * 1000;
  }

  /** Call once Agent.start resolved (listener up, first reconcile done): READY=1 and the periodic work. */
  start(): void {
    const { notifier } = this.options;
    this.statusReconcileMs = this.agent.spool.lastReconcileMs;
    notifier.ready(this.statusLine());
    if (!notifier.enabled) return;
    this.every(1000, () => this.refreshStatus());
    const sampleMs = this.options.lagSampleMs ?? 500;
    let expected = this.now() + sampleMs;
    this.every(sampleMs, () => {
      const now = this.now();
      const lag = Math.max(0, now - expected);
      expected = now + sampleMs;
      this.minLagMs = this.lagSamples === 0 ? lag : Math.min(this.minLagMs, lag);
      this.lagSamples++;
    });
    const periodMs = notifier.watchdogMs;
    if (periodMs !== undefined) {
      this.pingIfHealthy();
      this.every(Math.max(1, Math.floor(periodMs / 2)), () => this.pingIfHealthy());
    }
  }

  /** undefined when healthy, else why not. */
  health(): string | undefined {
    if (!this.agent.listening) return 'the metrics listener is not listening';
    const last = this.agent.spool.lastReconcileMs;
    if (last === undefined) return 'the spool has not been read yet';
    const age = this.now() - last;
    if (age > RECONCILE_SLACK * this.reconcileMs) return `the last spool reconcile was ${Math.round(age / 1000)} s ago`;
    const maxLag = this.options.maxLagMs ?? 2000;
    if (this.lagSamples > 0 && this.minLagMs > maxLag) return `the event loop lags by ${Math.round(this.minLagMs)} ms or more`;
    return undefined;
  }

  /** SIGHUP received: RELOADING=1. */
  reloading(): void {
    this.options.notifier.reloading('reloading the configuration');
  }

  /** The reload ended (kept the old config when it failed): READY=1 and a fresh STATUS. */
  reloaded(ok: boolean): void {
    this.options.notifier.ready(ok ? this.statusLine() : `${this.statusLine()}; reload failed, running on the previous configuration`);
  }

  /** SIGTERM received: STOPPING=1, and no more pings. */
  stopping(): void {
    this.stop();
    this.options.notifier.stopping('stopping');
  }

  stop(): void {
    this.stopped = true;
    for (const timer of this.timers) clearInterval(timer);
    this.timers.length = 0;
  }

  /** "tracking N tasks (Q queued, R running); next reconcile in S s". */
  statusLine(): string {
    const counts = this.agent.spool.counts();
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    const last = this.agent.spool.lastReconcileMs;
    const next = last === undefined ? '' : `; next reconcile in ${Math.max(0, Math.round((last + this.reconcileMs - this.now()) / 1000))} s`;
    return `tracking ${total} tasks (${counts.queued} queued, ${counts.running} running)${next}`;
  }

  private refreshStatus(): void {
    const last = this.agent.spool.lastReconcileMs;
    if (last === this.statusReconcileMs) return;
    this.statusReconcileMs = last;
    this.options.notifier.status(this.statusLine());
  }

  private pingIfHealthy(): void {
    if (this.stopped) return;
    const problem = this.health();
    this.lagSamples = 0;
    if (problem !== this.lastProblem) {
      if (problem) {
        this.options.log.warn(`unhealthy, withholding the systemd watchdog ping: ${problem}`);
        this.options.notifier.status(`unhealthy: ${problem}`);
      } else if (this.lastProblem) {
        this.options.log.info('healthy again, pinging the systemd watchdog');
        this.options.notifier.status(this.statusLine());
      }
      this.lastProblem = problem;
    }
    if (!problem) this.options.notifier.watchdog();
  }

  private every(ms: number, fn: () => void): void {
    const timer = setInterval(fn, ms);
    timer.unref();
    this.timers.push(timer);
  }
}
