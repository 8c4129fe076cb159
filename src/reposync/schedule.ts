// The agent's periodic syncs (SPEC §7.4): each SyncReleases entry every SyncInterval, jittered so releases and
// hosts do not hit the mirrors together, one run at a time per release, and on demand. Runs happen in-process;
// the release lock still keeps them apart from CLI and cron runs.

import { EventEmitter } from 'node:events';
import type { Logger } from '../log.js';
import { releaseName, type ReleaseId } from '../plugins/release.js';
import { ReposyncExit, type SyncOutcome } from './outcome.js';

export interface SyncScheduleEvents {
  /** A run ended, whatever its outcome (a lock held by another process included). */
  synced: [release: ReleaseId, outcome: SyncOutcome];
}

export interface SyncScheduleOptions {
  readonly releases: readonly ReleaseId[];
  /** Read whenever a run is scheduled, so a reload takes effect with the next one. */
  intervalSeconds(): number;
  run(release: ReleaseId, signal: AbortSignal): Promise<SyncOutcome>;
  /** When the release was last synced (epoch ms), so a restart does not sync everything at once again. */
  lastAttemptMs(release: ReleaseId): Promise<number | undefined>;
  readonly log: Logger;
  readonly random?: () => number;
}

const JITTER = 0.1;
// Never-synced releases start within this, spread out.
const FIRST_RUN_WINDOW_MS = 60_000;
// setTimeout holds at most 2^31−1 ms (24.8 days).
const MAX_TIMER_MS = 2 ** 31 - 1;

export class SyncSchedule extends EventEmitter<SyncScheduleEvents> {
  private readonly options: SyncScheduleOptions;
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly running = new Map<string, Promise<SyncOutcome>>();
  private readonly controller = new AbortController();
  private readonly random: () => number;
  private stopped = false;

  constructor(options: SyncScheduleOptions) {
    super();
    this.options = options;
    this.random = options.random ?? Math.random;
  }

  get releases(): readonly ReleaseId[] {
    return this.options.releases;
  }

  async start(): Promise<void> {
    const intervalMs = this.options.intervalSeconds() * 1000;
    for (const release of this.options.releases) {
      const last = await this.options.lastAttemptMs(release);
      const firstMs = last === undefined
        ? this.random() * Math.min(intervalMs, FIRST_RUN_WINDOW_MS)
        : Math.max(0, last + intervalMs - Date.now()) + this.random() * JITTER * Math.min(intervalMs, FIRST_RUN_WINDOW_MS);
      this.arm(release, firstMs);
    }
  }

  /** Runs the release now, or joins the run in progress. */
  syncNow(release: ReleaseId): Promise<SyncOutcome> {
    return this.running.get(releaseName(release)) ?? this.launch(release);
  }

  /** Stops scheduling, aborts the runs in progress and waits for them to end. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    this.controller.abort();
    await Promise.allSettled(this.running.values());
  }

  private arm(release: ReleaseId, delayMs: number): void {
    const key = releaseName(release);
    clearTimeout(this.timers.get(key));
    if (this.stopped) return;
    const timer = setTimeout(() => {
      this.timers.delete(key);
      if (!this.running.has(key)) void this.launch(release);
    }, Math.min(delayMs, MAX_TIMER_MS));
    timer.unref();
    this.timers.set(key, timer);
  }

  private launch(release: ReleaseId): Promise<SyncOutcome> {
    const key = releaseName(release);
    clearTimeout(this.timers.get(key));
    this.timers.delete(key);
    const { log } = this.options;
    const signal = this.controller.signal;
    const started = Date.now();
    const run = this.options.run(release, signal).then((outcome) => {
      // As the CLI ends its run: the admin sees how each sync ended, not only that it began.
      const fields = { repo: key, exitCode: outcome.exitCode, seconds: (Date.now() - started) / 1000 };
      if (outcome.exitCode === ReposyncExit.OK && !outcome.aborted) log.info(fields, outcome.message);
      else log.error(fields, outcome.message);
      return outcome;
    }, (err: unknown): SyncOutcome => {
      log.error({ err, repo: key }, `sync of ${key} failed: ${(err as Error).message}`);
      return { exitCode: ReposyncExit.ERROR, message: (err as Error).message, aborted: signal.aborted };
    }).then((outcome) => {
      this.running.delete(key);
      this.emit('synced', release, outcome);
      const intervalMs = this.options.intervalSeconds() * 1000;
      this.arm(release, intervalMs * (1 - JITTER + 2 * JITTER * this.random()));
      return outcome;
    });
    this.running.set(key, run);
    return run;
  }
}
