// Removing a task (SPEC §6.2): its chroots, its `<id>-kernel` mock config dir, then the task dir,
// each through the trash. Never while its worker lives or a process holds its crash files open
// (upstream: `lsof +wt`); never a symlink planted in place of the task dir.

import { lstat } from 'node:fs/promises';
import path from 'node:path';
import { readTask } from '../../spool/task.js';
import { assertTaskId, errorText, failed, succeeded, type EffectOutcome, type ReapContext } from './context.js';
import { removeChroots } from './chroots.js';
import { liveWorkers } from './kill.js';
import { openCrashFiles } from './open-files.js';
import { discard, removalFailure } from './trash.js';

export type TaskDirKind = 'directory' | 'absent' | 'other';

/** What `SaveDir/<id>` is, without following a symlink: only a real directory is a task (SPEC §5). */
export async function taskDirKind(taskId: string, ctx: ReapContext): Promise<TaskDirKind> {
  assertTaskId(taskId);
  try {
    return (await lstat(path.join(ctx.saveDir, taskId))).isDirectory() ? 'directory' : 'other';
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'absent';
    throw error;
  }
}

/** Why the task must not be removed now, or undefined. */
export async function removalBlocker(taskId: string, ctx: ReapContext): Promise<EffectOutcome | undefined> {
  const workers = await liveWorkers(taskId, ctx);
  if (workers.length > 0) return failed('worker_alive', `worker pid ${workers.map((w) => w.pid).join(' ')} is alive`);
  const task = await readTask(ctx.saveDir, taskId);
  const holders = await openCrashFiles(task?.crashFiles ?? [], ctx.procRoot);
  if (holders.length > 0) return failed('crash_file_open', `crash file open in pid ${holders.join(' ')}`);
  return undefined;
}

export async function removeTask(taskId: string, ctx: ReapContext): Promise<EffectOutcome> {
  assertTaskId(taskId);
  let kind: TaskDirKind;
  try {
    kind = await taskDirKind(taskId, ctx);
  } catch (error) {
    return failed('io_error', errorText(error));
  }
  if (kind === 'other') {
    ctx.log.warn({ taskId }, 'task path is not a directory: left alone');
    return succeeded('not a task directory (symlink or file): left alone');
  }
  const blocker = await removalBlocker(taskId, ctx);
  if (blocker) return blocker;
  const chroots = await removeChroots(taskId, ctx);
  if (!chroots.ok) return chroots;
  try {
    // The config dir before the task: a half-done removal leaves a task that is retried whole.
    const kernelConfig = await discard(path.join(ctx.saveDir, `${taskId}-kernel`), ctx.saveDir, { onlyDirectory: true });
    const task = await discard(path.join(ctx.saveDir, taskId), ctx.saveDir, { onlyDirectory: true });
    return succeeded(`task dir ${task}, ${taskId}-kernel ${kernelConfig}, ${chroots.detail}`, chroots.chrootsRemoved);
  } catch (error) {
    return removalFailure(error);
  }
}
