// Finishing a task as failed (SPEC §6.2): a crashed or killed task gets what the worker's own
// failure path writes — a log line, status 7, finished_time — so clients see FINISHED_FAILURE
// instead of PENDING forever (upstream bug), then loses its chroots and its bulky files.

import { constants } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import { readTask, taskDir, TaskStatus, TaskType } from '../../spool/task.js';
import { assertTaskId, errorText, failed, localTimestamp, nowOf, succeeded, type EffectOutcome, type ReapContext } from './context.js';
import { removeChroots } from './chroots.js';
import { cleanTaskDir } from './clean-task.js';
import { liveWorkers } from './kill.js';
import { removalFailure } from './trash.js';

// Upstream _fail() does not clean these: their chroots and files are for interactive debugging.
const UNCLEANED_TYPES: ReadonlySet<number> = new Set([TaskType.DEBUG, TaskType.COREDUMP_INTERACTIVE, TaskType.VMCORE_INTERACTIVE]);
// Never write through a link planted in the task dir.
const NOFOLLOW = constants.O_NOFOLLOW;
// A FIFO planted as retrace_log fails (ENXIO) instead of blocking the open forever.
const LOG_FLAGS = constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NONBLOCK | NOFOLLOW;

/**
 * Marks the task failed unless it has finished meanwhile, then removes its chroots and cleans
 * its dir (not for types 1, 3, 4). Safe to call again after a failure: an already finished task
 * is only cleaned.
 */
export async function finishAsFailed(taskId: string, why: string, ctx: ReapContext): Promise<EffectOutcome> {
  assertTaskId(taskId);
  // Workers first: a worker that finishes in between shows in the task read after it.
  const workers = await liveWorkers(taskId, ctx);
  if (workers.length > 0) return failed('worker_alive', `worker pid ${workers.map((w) => w.pid).join(' ')} is alive`);
  const task = await readTask(ctx.saveDir, taskId);
  if (!task) return succeeded('no task directory (gone, or not a real directory)');

  let marked = 'already finished';
  if (task.result === undefined) {
    try {
      await markFailed(taskDir(ctx.saveDir, taskId), why, nowOf(ctx), ctx);
      marked = 'marked failed';
    } catch (error) {
      return failed('io_error', `cannot mark ${taskDir(ctx.saveDir, taskId)} failed: ${errorText(error)}`);
    }
  }
  if (UNCLEANED_TYPES.has(task.type)) return succeeded(`${marked}; type ${task.type} keeps its chroots and files`);

  const chroots = await removeChroots(taskId, ctx);
  if (!chroots.ok) return chroots;
  try {
    const cleaned = await cleanTaskDir(taskId, ctx);
    return succeeded(`${marked}; ${chroots.detail}; ${cleaned} entries cleaned`, chroots.chrootsRemoved);
  } catch (error) {
    return removalFailure(error);
  }
}

async function markFailed(dir: string, why: string, now: Date, ctx: ReapContext): Promise<void> {
  try {
    // The upstream log format: `[%Y-%m-%d %H:%M:%S] [L] message`, L the level's initial.
    await appendLog(dir, `[${localTimestamp(now)}] [E] ${why.replace(/\n/g, ' ')}\n`);
  } catch (error) {
    // Status and finished_time are what clients read; a missing log line must not block them.
    ctx.log.warn({ dir, err: errorText(error) }, 'cannot append to retrace_log');
  }
  // The worker's _fail() order: status, then finished_time.
  await writeAtomic(dir, 'status', String(TaskStatus.FAIL));
  await writeAtomic(dir, 'finished_time', String(Math.floor(now.getTime() / 1000)));
}

async function appendLog(dir: string, line: string): Promise<void> {
  const file = await open(path.join(dir, 'retrace_log'), LOG_FLAGS, 0o644);
  try {
    await file.appendFile(line);
  } finally {
    await file.close();
  }
}

/**
 * Upstream set_atomic(): `<name>.tmp`, mode 0644, renamed over `<name>`. Owner and group need no
 * care: the files are world-readable, and replacing or deleting them needs only the dir's rights.
 */
async function writeAtomic(dir: string, name: string, content: string): Promise<void> {
  const target = path.join(dir, name);
  const temp = `${target}.tmp`;
  // A leftover (or planted) .tmp goes first: O_EXCL then guarantees a fresh file of our own.
  await unlink(temp).catch((error: unknown) => ((error as NodeJS.ErrnoException).code === 'ENOENT' ? undefined : Promise.reject(error)));
  const file = await open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | NOFOLLOW, 0o644);
  try {
    await file.writeFile(content);
    // The mode given to open() is cut by the umask.
    await file.chmod(0o644);
  } finally {
    await file.close();
  }
  await rename(temp, target);
}
