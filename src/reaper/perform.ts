// Carries out one due reaper action with the effects, writing upstream's cleanup.log line first
// (as upstream did) and returning what happened for metrics and the CLI.

import type { ReapContext, FailureReason } from './effects/context.js';
import { archiveTask, appendCleanupLog, cleanupLine, finishAsFailed, killWorker, removeTask, timedeltaText } from './effects/index.js';
import type { ReapAction } from './rules.js';

// /proc start times have clock-tick (10 ms) resolution.
const START_TIME_SLACK_MS = 1000;

export interface ReapTarget {
  readonly id: string;
  readonly worker: { readonly startTimeMs: number } | undefined;
  readonly workerSeenMs: number | undefined;
}

export type ReapResult = {
  readonly taskId: string;
  readonly action: ReapAction;
  readonly detail: string;
  /** From the due time to the end of the action. */
  readonly delayMs: number;
  readonly chrootsRemoved: number;
} & ({ readonly ok: true } | { readonly ok: false; readonly failure: FailureReason; readonly retryAfterMs: number });

export async function performReapAction(task: ReapTarget, action: ReapAction, ctx: ReapContext, now: () => number = Date.now): Promise<ReapResult> {
  const { id } = task;
  let outcome;
  switch (action.kind) {
    case 'kill': {
      const runtimeSeconds = (now() - (task.worker?.startTimeMs ?? action.dueMs)) / 1000;
      const runtime = timedeltaText(runtimeSeconds);
      await appendCleanupLog(ctx, cleanupLine.killing(id, runtimeSeconds));
      // A worker restarted since the decision is not the one that ran over time.
      outcome = await killWorker(id, ctx, { startedBeforeMs: (task.worker?.startTimeMs ?? action.dueMs) + START_TIME_SLACK_MS });
      if (outcome.ok) outcome = await finishAsFailed(id, `Killed by the garbage collector after running for ${runtime}, longer than MaxTaskRuntime allows.`, ctx);
      break;
    }
    case 'finish':
      await appendCleanupLog(ctx, cleanupLine.orphan(id));
      outcome = await finishAsFailed(id, task.workerSeenMs === undefined
        ? 'No worker started this task within OrphanGrace; marked failed by the garbage collector.'
        : 'The worker of this task exited without finishing it; marked failed by the garbage collector.', ctx);
      break;
    case 'remove':
      await appendCleanupLog(ctx, action.reason === 'expired_failed' ? cleanupLine.deletingFailed(id) : cleanupLine.deleting(id));
      outcome = await removeTask(id, ctx);
      if (!outcome.ok && outcome.reason === 'crash_file_open') await appendCleanupLog(ctx, cleanupLine.crashFileOpen(id));
      break;
    case 'archive':
      await appendCleanupLog(ctx, cleanupLine.archiving(id));
      outcome = await archiveTask(id, ctx);
      if (!outcome.ok && outcome.reason === 'tar_failed') await appendCleanupLog(ctx, outcome.detail);
      break;
  }
  const common = { taskId: id, action, detail: outcome.detail, delayMs: now() - action.dueMs, chrootsRemoved: outcome.ok ? outcome.chrootsRemoved ?? 0 : 0 };
  ctx.log[outcome.ok ? 'info' : 'warn']({ task: id, reason: action.reason, ok: outcome.ok, detail: outcome.detail }, `${action.kind} ${id} (${action.reason}): ${outcome.detail}`);
  return outcome.ok ? { ...common, ok: true } : { ...common, ok: false, failure: outcome.reason, retryAfterMs: outcome.retryAfterMs };
}
