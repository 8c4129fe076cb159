// One garbage-collection pass over the spool (retrace-server-cleanup, for cron users): the same
// rules and effects as the agent, evaluated once at "now". Without a running agent nobody saw a
// worker die, so an unfinished task without a worker counts as an orphan after OrphanGrace.

import { lstatSync } from 'node:fs';
import { join } from 'node:path';
import type { RetraceServerConfig } from '../config/config.js';
import { forEachLimited } from '../each-limited.js';
import type { Logger } from '../log.js';
import { findWorkers, listProcesses, type WorkerProcess } from '../spool/proc.js';
import { listSpool } from '../spool/spool-entries.js';
import { readTask } from '../spool/task.js';
import type { ReapContext } from './effects/context.js';
import { appendCleanupLog, cleanupLine, recoverTrash } from './effects/index.js';
import { performReapAction, type ReapResult } from './perform.js';
import { nextReapAction, reapPolicy, type ReapAction, type ReapPolicy } from './rules.js';

// Removals are I/O-bound: a few in flight at once (the agent's scheduler uses the same number).
export const ACTION_CONCURRENCY = 8;

export interface PlannedAction {
  readonly taskId: string;
  readonly action: ReapAction;
}

export interface PassOptions {
  readonly dryRun: boolean;
  readonly log: Logger;
  readonly now?: () => number;
  /** Called for each due action: planned only (dry run) or done. */
  onAction(planned: PlannedAction, result: ReapResult | undefined): void;
}

export function reapContextOf(config: RetraceServerConfig, log: Logger): ReapContext {
  const { retrace, agent } = config;
  return {
    saveDir: retrace.saveDir,
    dropDir: retrace.dropDir,
    logDir: retrace.logDir,
    mockRootDir: agent.mockRootDir,
    mockCacheDir: agent.mockCacheDir,
    workerCommand: agent.workerCommand,
    killGraceMs: agent.killGrace * 1000,
    log,
  };
}

/** Finds the due actions, and unless dryRun carries them out one by one; returns how many were due. */
export async function runCleanupPass(config: RetraceServerConfig, options: PassOptions): Promise<number> {
  const now = options.now ?? Date.now;
  const ctx = reapContextOf(config, options.log);
  if (!options.dryRun) {
    await appendCleanupLog(ctx, cleanupLine.pass(new Date(now())));
    await recoverTrash(ctx);
  }
  const policy = reapPolicy(config);
  const workers = new Map<string, WorkerProcess>();
  for (const worker of findWorkers(await listProcesses(), config.agent.workerCommand)) workers.set(worker.taskId, worker);

  const due: Array<PlannedAction & { worker: WorkerProcess | undefined }> = [];
  for (const id of (await listSpool(config.retrace.saveDir)).tasks) {
    if (!workers.has(id) && !mayBeDue(join(config.retrace.saveDir, id), policy, now())) continue;
    const snapshot = await readTask(config.retrace.saveDir, id);
    if (!snapshot) continue;
    const worker = workers.get(id);
    const action = nextReapAction({ snapshot, worker, workerSeenMs: worker ? now() : undefined, workerGoneMs: undefined }, policy);
    if (action && action.dueMs <= now()) due.push({ taskId: id, action, worker });
  }
  await forEachLimited(due, options.dryRun ? 1 : ACTION_CONCURRENCY, async ({ taskId, action, worker }) => {
    const result = options.dryRun ? undefined : await performReapAction({ id: taskId, worker, workerSeenMs: undefined }, action, ctx, now);
    options.onAction({ taskId, action }, result);
  });
  return due.length;
}

/**
 * Whether any rule could be due for a task without a worker, from two cheap facts: the dir's
 * mtime and whether finished_time exists. The rules themselves give the bound: a failed
 * (status 7) unmanaged task is due no later than any other finished one, and without
 * finished_time the task may also be an unfinished one (or finished by status alone). Only
 * tasks that pass are read in full, which keeps a pass over 100k quiet tasks to a stat or two each.
 */
function mayBeDue(dir: string, policy: ReapPolicy, nowMs: number): boolean {
  const stats = lstatSync(dir, { throwIfNoEntry: false });
  if (!stats?.isDirectory()) return false;
  const finishedTimeExists = lstatSync(join(dir, 'finished_time'), { throwIfNoEntry: false }) !== undefined;
  const bound = (result: 'failure' | undefined): number => nextReapAction({
    snapshot: { status: result ? 7 : undefined, mtimeMs: stats.mtimeMs, managed: false, result },
    worker: undefined,
    workerSeenMs: undefined,
    workerGoneMs: undefined,
  }, policy)?.dueMs ?? Infinity;
  const earliest = finishedTimeExists ? bound('failure') : Math.min(bound('failure'), bound(undefined));
  return earliest <= nowMs;
}
