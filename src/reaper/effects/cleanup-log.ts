// `LogDir/cleanup.log`, written line for line like upstream retrace-server-cleanup (research §5):
// only the pass line is dated; per-task lines follow it. The scheduler and the one-shot CLI both
// build their lines here, so the file reads the same whoever wrote it.

import { appendFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { localTimestamp, pad2, type ReapContext } from './context.js';

export const CLEANUP_LOG = 'cleanup.log';

// Upstream prints ids that went through int() with %d: leading zeros go.
const asInt = (taskId: string): string => taskId.replace(/^0+(?=[0-9])/, '');

export const cleanupLine = {
  pass: (date: Date): string => `[${localTimestamp(date)}] Running cleanup`,
  killing: (taskId: string, runtimeSeconds: number): string => `Killing task ${asInt(taskId)} running for ${timedeltaText(runtimeSeconds)}`,
  orphan: (taskId: string): string => `Cleaning up orphaned task ${asInt(taskId)}`,
  deleting: (taskId: string): string => `Deleting old task ${taskId}`,
  deletingFailed: (taskId: string): string => `Deleting old failed task ${taskId}`,
  archiving: (taskId: string): string => `Archiving task ${taskId}`,
  crashFileOpen: (taskId: string): string => `Deletion of task ${asInt(taskId)} skipped - crash file is opened.`,
  // One line per entry: tar's multi-line output is joined.
  tarError: (exitCode: number, output: string): string => `Error: tar exited with ${exitCode}: ${output.trim().split('\n').join(' ')}`,
};

/** Python's str(timedelta(seconds=n)) for whole seconds: `1:00:01`, `2 days, 0:00:05`. */
export function timedeltaText(seconds: number): string {
  const total = Math.max(0, Math.floor(seconds));
  const days = Math.floor(total / 86_400);
  const rest = total % 86_400;
  const clock = `${Math.floor(rest / 3600)}:${pad2(Math.floor(rest / 60) % 60)}:${pad2(rest % 60)}`;
  return days === 0 ? clock : `${days} day${days === 1 ? '' : 's'}, ${clock}`;
}

/** Appends the lines in one write, so lines of concurrent writers never interleave mid-line. */
export async function appendCleanupLog(ctx: ReapContext, ...lines: readonly string[]): Promise<void> {
  await mkdir(ctx.logDir, { recursive: true });
  await appendFile(path.join(ctx.logDir, CLEANUP_LOG), lines.map((line) => `${line}\n`).join(''));
}
