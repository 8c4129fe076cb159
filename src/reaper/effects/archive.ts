// Archiving a task (SPEC §6.1 rule 3): `DropDir/<id>-<YYYYmmddHHMMSS>.tar.gz` made the upstream
// way (`tar czf <target> <absolute task dir>`), then the task is removed. The tarball is written
// under a temp name and renamed only once `tar tzf` has read it whole, so DropDir never holds a
// partial archive under a final name, and the task is never removed without a good one.

import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { cleanupLine } from './cleanup-log.js';
import { compactTimestamp, errorText, failed, nowOf, succeeded, type EffectOutcome, type ReapContext } from './context.js';
import { removalBlocker, removeTask, taskDirKind } from './remove.js';

export async function archiveTask(taskId: string, ctx: ReapContext): Promise<EffectOutcome> {
  const kind = await taskDirKind(taskId, ctx).catch((error: unknown) => error as Error);
  if (kind instanceof Error) return failed('io_error', errorText(kind));
  // Nothing to archive: removal still takes a gone task's leftovers and refuses a non-directory.
  if (kind !== 'directory') return removeTask(taskId, ctx);
  // Checked before the tarball too: every retry after a refused removal would add another.
  const blocker = await removalBlocker(taskId, ctx);
  if (blocker) return blocker;

  const taskDir = path.resolve(ctx.saveDir, taskId);
  const name = `${taskId}-${compactTimestamp(nowOf(ctx))}.tar.gz`;
  const target = path.join(ctx.dropDir, name);
  const temp = path.join(ctx.dropDir, `.${name}.tmp`);
  try {
    await mkdir(ctx.dropDir, { recursive: true });
    const problem = await writeArchive(temp, taskDir);
    if (problem) {
      await rm(temp, { force: true });
      ctx.log.error({ taskId, problem }, 'archive failed; task kept');
      return failed('tar_failed', problem);
    }
    await rename(temp, target);
  } catch (error) {
    await rm(temp, { force: true }).catch(() => undefined);
    return failed('io_error', `cannot archive to ${ctx.dropDir}: ${errorText(error)}`);
  }
  ctx.log.info({ taskId, archive: target }, 'task archived');
  const removal = await removeTask(taskId, ctx);
  if (!removal.ok) return removal;
  return succeeded(`archived to ${target}; ${removal.detail}`, removal.chrootsRemoved);
}

/** undefined when `archive` holds the task dir and reads back whole; else a line for cleanup.log. */
async function writeArchive(archive: string, taskDir: string): Promise<string | undefined> {
  const entries = await readdir(taskDir);
  // Loaded on first use: execa and its ~110 modules would otherwise sit in the agent's memory from the start.
  const { execa } = await import('execa');
  const tar = await execa('tar', ['czf', archive, taskDir], { reject: false, all: true, stdin: 'ignore' });
  if (tar.failed) return cleanupLine.tarError(tar.exitCode ?? -1, tar.all || errorText(tar));
  // Reading to the end checks the gzip CRC and the tar structure. GNU tar strips the leading '/'.
  const list = await execa('tar', ['tzf', archive, '--quoting-style=literal'], { reject: false, stdin: 'ignore' });
  if (list.failed) return cleanupLine.tarError(list.exitCode ?? -1, list.stderr || errorText(list));
  const prefix = `${taskDir.replace(/^\/+/, '')}/`;
  const listed = new Set(list.stdout.split('\n').map((line) => line.replace(/\/$/, '')));
  // A name with a newline spans lines in the listing; the full read above already covers it.
  const missing = entries.filter((entry) => !entry.includes('\n') && !listed.has(prefix + entry));
  if (!listed.has(prefix.slice(0, -1)) || missing.length > 0) {
    return `Error: archive ${archive} lacks ${missing.length > 0 ? missing.join(', ') : taskDir}`;
  }
  return undefined;
}
