// The garbage-collection rules of SPEC §6.1 as a pure function: given what is known of a task, the
// policy and nothing else, which action is due next and when. No clock, no I/O: the scheduler
// arms a timer at `dueMs`, and the effects re-check the task on disk before acting.

import type { RetraceServerConfig } from '../config/config.js';
import { TaskStatus } from '../spool/task.js';

export type ReapReason = 'overtime' | 'crashed' | 'expired' | 'expired_failed' | 'archived';

export interface ReapAction {
  /** kill: stop the worker, then finish the task as failed. finish: finish as failed. */
  readonly kind: 'kill' | 'finish' | 'remove' | 'archive';
  readonly reason: ReapReason;
  /** Epoch ms from which the action is due (may be in the past: due now). */
  readonly dueMs: number;
}

/** What the rules look at; a TrackedTask satisfies it. */
export interface ReapFacts {
  readonly snapshot: {
    readonly status: number | undefined;
    readonly mtimeMs: number;
    readonly managed: boolean;
    readonly result: 'success' | 'failure' | undefined;
  };
  /** The live worker, if any, with its process start time. */
  readonly worker: { readonly startTimeMs: number } | undefined;
  /** When a worker was last seen alive; undefined if none ever was. */
  readonly workerSeenMs: number | undefined;
  /** When the seen worker was found gone while the task was unfinished. */
  readonly workerGoneMs: number | undefined;
}

export interface ReapPolicy {
  readonly maxTaskRuntimeMs: number;
  readonly orphanGraceMs: number;
  /** A worker's final writes land within this after it exits. */
  readonly crashSettleMs: number;
  /** Hours; 0 or less turns a rule off. */
  readonly deleteTaskAfterHours: number;
  readonly deleteFailedTaskAfterHours: number;
  readonly archiveTaskAfterHours: number;
  readonly allowTaskManager: boolean;
  /** check_config refused (DeleteTaskAfter < DeleteFailedTaskAfter): no task is removed or archived. */
  readonly removalRefused: boolean;
}

const HOUR_MS = 3_600_000;
export const CRASH_SETTLE_MS = 1000;

export function reapPolicy(config: RetraceServerConfig): ReapPolicy {
  return {
    maxTaskRuntimeMs: config.agent.maxTaskRuntime * 1000,
    orphanGraceMs: config.agent.orphanGrace * 1000,
    crashSettleMs: CRASH_SETTLE_MS,
    deleteTaskAfterHours: config.retrace.deleteTaskAfter,
    deleteFailedTaskAfterHours: config.retrace.deleteFailedTaskAfter,
    archiveTaskAfterHours: config.retrace.archiveTaskAfter,
    allowTaskManager: config.retrace.allowTaskManager,
    removalRefused: config.cleanupPolicy.deletionRefused !== undefined,
  };
}

/** The earliest-due action for the task, or undefined when no rule will ever apply as things stand. */
export function nextReapAction(task: ReapFacts, policy: ReapPolicy): ReapAction | undefined {
  const candidates = [lifecycleAction(task, policy), ...ageActions(task, policy)].filter((a) => a !== undefined);
  // Equal due times: the order above decides (a stuck worker is dealt with before removal).
  return candidates.reduce<ReapAction | undefined>((best, action) => (!best || action.dueMs < best.dueMs ? action : best), undefined);
}

/** Rules 1 and 2: over-time workers and crashed tasks. Managed tasks are exempt (upstream). */
function lifecycleAction(task: ReapFacts, policy: ReapPolicy): ReapAction | undefined {
  if (task.snapshot.result !== undefined) return undefined;
  if (policy.allowTaskManager && task.snapshot.managed) return undefined;
  if (task.worker) {
    return { kind: 'kill', reason: 'overtime', dueMs: task.worker.startTimeMs + policy.maxTaskRuntimeMs };
  }
  if (task.workerGoneMs !== undefined) {
    return { kind: 'finish', reason: 'crashed', dueMs: task.workerGoneMs + policy.crashSettleMs };
  }
  if (task.workerSeenMs === undefined) {
    return { kind: 'finish', reason: 'crashed', dueMs: task.snapshot.mtimeMs + policy.orphanGraceMs };
  }
  return undefined;
}

/**
 * Rule 3: age is whole hours since the dir's mtime (upstream get_age), so a rule of N hours is due
 * at mtime + N h. Archive and delete both on: the smaller threshold acts, equal → archive.
 * A task whose worker lives is never removed: the over-time rule ends the worker first.
 */
function ageActions(task: ReapFacts, policy: ReapPolicy): ReapAction[] {
  if (policy.removalRefused || task.worker) return [];
  const due = (hours: number): number => task.snapshot.mtimeMs + hours * HOUR_MS;
  const { archiveTaskAfterHours: archive, deleteTaskAfterHours: remove, deleteFailedTaskAfterHours: removeFailed } = policy;
  const actions: ReapAction[] = [];
  if (archive > 0 && (remove <= 0 || archive <= remove)) {
    actions.push({ kind: 'archive', reason: 'archived', dueMs: due(archive) });
  } else if (remove > 0) {
    actions.push({ kind: 'remove', reason: 'expired', dueMs: due(remove) });
  }
  if (removeFailed > 0 && task.snapshot.status === TaskStatus.FAIL) {
    actions.push({ kind: 'remove', reason: 'expired_failed', dueMs: due(removeFailed) });
  }
  return actions;
}
