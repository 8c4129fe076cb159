// Runs the reaper rules at the moment they become due: every task's next due time sits in one
// queue behind one timer, re-armed whenever the tracker reports a change. When a task falls due it
// is re-read from disk and the rules are asked again before anything is touched.

import { EventEmitter } from 'node:events';
import type { Logger } from '../log.js';
import type { SpoolTracker, TrackedTask } from '../spool/tracker.js';
import { ACTION_CONCURRENCY } from './pass.js';
import { performReapAction, type ReapResult } from './perform.js';
import type { ReapContext } from './effects/context.js';
import { DueQueue } from './due-queue.js';
import { nextReapAction, type ReapPolicy } from './rules.js';

export interface SchedulerEvents {
  /** An action ran (ok or not); delayMs = finished − due. */
  reaped: [ReapResult];
}

export interface ReapSchedulerOptions {
  readonly tracker: SpoolTracker;
  /** Read on every decision, so a reload takes effect at once. */
  policy(): ReapPolicy;
  context(): ReapContext;
  readonly log: Logger;
  /** Effects in flight at once (default ACTION_CONCURRENCY): 1,000 due tasks must not run one by one. */
  readonly concurrency?: number;
  readonly now?: () => number;
}

const RETRY_AFTER_ERROR_MS = 60_000;
// setTimeout holds at most 2^31−1 ms (24.8 days); later due times re-arm when that fires.
const MAX_TIMER_MS = 2 ** 31 - 1;

export class ReapScheduler extends EventEmitter<SchedulerEvents> {
  private readonly options: ReapSchedulerOptions;
  private readonly dueQueue = new DueQueue();
  private timer: NodeJS.Timeout | undefined;
  private timerDueMs: number | undefined;
  private readonly queue: string[] = [];
  private readonly queued = new Set<string>();
  private readonly running = new Map<string, Promise<void>>();
  private readonly now: () => number;
  private stopped = false;

  constructor(options: ReapSchedulerOptions) {
    super();
    this.options = options;
    this.now = options.now ?? Date.now;
  }

  start(): void {
    this.options.tracker.on('change', (change) => this.arm(change.id, change.after));
    for (const task of this.options.tracker.all()) this.arm(task.id, task);
  }

  /** Re-evaluates every task, e.g. after a config reload changed the policy. */
  rearmAll(): void {
    for (const task of this.options.tracker.all()) this.arm(task.id, task);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.queue.length = 0;
    await Promise.all(this.running.values());
  }

  /** Number of tasks with a due time queued. */
  get armed(): number {
    return this.dueQueue.size;
  }

  private arm(id: string, task: TrackedTask | undefined): void {
    if (this.stopped) return;
    const action = task && nextReapAction(task, this.options.policy());
    this.schedule(id, action?.dueMs);
  }

  /** Queues `id` at `dueMs` (undefined: nothing due) and keeps the one timer on the earliest. */
  private schedule(id: string, dueMs: number | undefined): void {
    if (dueMs === this.dueQueue.dueMs(id)) return;
    if (dueMs === undefined) this.dueQueue.delete(id);
    else this.dueQueue.set(id, dueMs);
    this.resetTimer();
  }

  private resetTimer(): void {
    const next = this.dueQueue.peek();
    if (next === this.timerDueMs || this.stopped) return;
    clearTimeout(this.timer);
    this.timerDueMs = next;
    if (next === undefined) return;
    const delay = Math.min(Math.max(0, next - this.now()), MAX_TIMER_MS);
    this.timer = setTimeout(() => {
      this.timerDueMs = undefined;
      for (const id of this.dueQueue.takeDue(this.now())) this.enqueue(id);
      this.resetTimer();
    }, delay);
    this.timer.unref();
  }

  private enqueue(id: string): void {
    if (this.stopped || this.queued.has(id) || this.running.has(id)) return;
    this.queued.add(id);
    this.queue.push(id);
    this.drain();
  }

  private drain(): void {
    const limit = this.options.concurrency ?? ACTION_CONCURRENCY;
    while (this.running.size < limit && this.queue.length > 0) {
      const id = this.queue.shift() as string;
      this.queued.delete(id);
      const run = this.fire(id).finally(() => {
        this.running.delete(id);
        this.drain();
      });
      this.running.set(id, run);
    }
  }

  private async fire(id: string): Promise<void> {
    const { tracker, log } = this.options;
    const task = await tracker.refresh(id);
    if (this.stopped || !task) return;
    const action = nextReapAction(task, this.options.policy());
    if (!action || action.dueMs > this.now()) {
      this.arm(id, task);
      return;
    }
    let result: ReapResult;
    try {
      result = await performReapAction(task, action, this.options.context(), this.now);
    } catch (err) {
      log.error({ err, task: id, reason: action.reason }, `reaping task ${id} failed: ${(err as Error).message}`);
      result = { taskId: id, action, ok: false, failure: 'io_error', detail: (err as Error).message, delayMs: this.now() - action.dueMs, chrootsRemoved: 0, retryAfterMs: RETRY_AFTER_ERROR_MS };
    }
    this.emit('reaped', result);
    if (this.stopped) return;
    if (!result.ok) {
      this.retryLater(id, result.retryAfterMs);
      return;
    }
    const after = await tracker.refresh(id);
    this.arm(id, after);
  }

  private retryLater(id: string, delayMs: number): void {
    if (!this.stopped) this.schedule(id, this.now() + delayMs);
  }
}
