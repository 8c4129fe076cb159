// A task's lifecycle state (SPEC §5), derived from what its files say and whether a worker lives.

import type { TaskSnapshot } from './task.js';

export const TASK_STATES = ['queued', 'running', 'success', 'failure'] as const;
export type TaskState = (typeof TASK_STATES)[number];

export function taskState(snapshot: TaskSnapshot, workerAlive: boolean): TaskState {
  if (snapshot.result) return snapshot.result;
  return workerAlive ? 'running' : 'queued';
}

export function isFinished(state: TaskState): boolean {
  return state === 'success' || state === 'failure';
}

/** Seconds from started_time to finished_time, when the task has both. */
export function taskDurationSeconds(snapshot: TaskSnapshot): number | undefined {
  const { startedTime, finishedTime } = snapshot;
  if (startedTime === undefined || finishedTime === undefined || finishedTime < startedTime) return undefined;
  return finishedTime - startedTime;
}
