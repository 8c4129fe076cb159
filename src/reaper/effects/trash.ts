// Deleting through a trash dir (SPEC §6.3). An entry is first renamed into `.retrace-agent-trash/`
// of a dir on the same filesystem — atomic, so the spool and mock only ever see it whole or gone —
// and only then deleted. The delete never follows a symlink and never crosses a mount point.
// recoverTrash finishes what a crash left behind.
//
// Only this process (root) may enter a trash dir (0700), so nobody can swap a dir for a symlink
// inside it between our lstat and readdir: Node has no openat()/unlinkat() to close that race.

import { randomUUID } from 'node:crypto';
import type { Stats } from 'node:fs';
import { chmod, lstat, mkdir, readdir, realpath, rename, rmdir, unlink } from 'node:fs/promises';
import path from 'node:path';
import { errorText, failed, type EffectOutcome, type ReapContext } from './context.js';
import { readMounts, unmountBelow } from './mounts.js';

/** A dot-entry: the spool watcher and the task scans ignore it. */
export const TRASH_DIR = '.retrace-agent-trash';
// Unlinks in flight at once within one directory.
const UNLINK_BATCH = 64;

/** Something is mounted below a path and could not be unmounted: the path was left as it was. */
export class StillMountedError extends Error {}

/** The outcome for an error thrown by discard() or deleteTree(). */
export function removalFailure(error: unknown): EffectOutcome {
  return failed(error instanceof StillMountedError ? 'mounted' : 'io_error', errorText(error));
}

export type DiscardResult = 'removed' | 'absent' | 'not-a-directory';

/**
 * Removes `entry` through the trash of `trashParent` (a dir on the same filesystem as `entry`).
 * With `onlyDirectory`, a symlink or file at `entry` is not a task, chroot or config dir: it is
 * left alone. Throws StillMountedError if something mounted below it will not unmount.
 */
export async function discard(entry: string, trashParent: string, options: { readonly onlyDirectory: boolean }): Promise<DiscardResult> {
  const source = await canonical(entry);
  if (source === undefined) return 'absent';
  const stats = await lstatOrUndefined(source);
  if (!stats) return 'absent';
  if (options.onlyDirectory && !stats.isDirectory()) return 'not-a-directory';
  // Before the rename: a chroot that cannot be unmounted stays where an admin looks for it.
  await ensureUnmounted(source);
  const trash = await ensureTrashDir(trashParent);
  const target = path.join(trash, `${path.basename(source)}.${randomUUID()}`);
  try {
    await rename(source, target);
  } catch (error) {
    if (code(error) === 'ENOENT') return 'absent';
    throw error;
  }
  await deleteTree(target, trash);
  return 'removed';
}

/** On start: finishes deleting whatever a crash left in the trash dirs; returns how many entries. */
export async function recoverTrash(ctx: ReapContext): Promise<number> {
  let removed = 0;
  for (const parent of [ctx.saveDir, ctx.mockRootDir, ctx.mockCacheDir]) {
    const trash = await existingTrashDir(parent).catch((error: unknown) => {
      ctx.log.warn({ parent, err: errorText(error) }, 'trash dir unusable');
      return undefined;
    });
    if (trash === undefined) continue;
    for (const name of await readdir(trash)) {
      try {
        await deleteTree(path.join(trash, name), trash);
        removed++;
      } catch (error) {
        ctx.log.warn({ entry: path.join(trash, name), err: errorText(error) }, 'trash entry left');
      }
    }
  }
  return removed;
}

/** The canonical path of `entry` (its parent resolved, its own name not followed); undefined if the parent is gone. */
async function canonical(entry: string): Promise<string | undefined> {
  try {
    return path.join(await realpath(path.dirname(path.resolve(entry))), path.basename(entry));
  } catch (error) {
    if (code(error) === 'ENOENT') return undefined;
    throw error;
  }
}

async function ensureUnmounted(dir: string): Promise<void> {
  const result = await unmountBelow(dir);
  if (!result.ok) throw new StillMountedError(result.detail);
}

/** `<parent>/.retrace-agent-trash`, canonical, created if missing. */
async function ensureTrashDir(parent: string): Promise<string> {
  const dir = path.join(await realpath(parent), TRASH_DIR);
  await mkdir(dir, { mode: 0o700 }).catch((error: unknown) => (code(error) === 'EEXIST' ? undefined : Promise.reject(error)));
  return checkTrashDir(dir, await lstat(dir));
}

/** undefined when `parent` or its trash dir does not exist. */
async function existingTrashDir(parent: string): Promise<string | undefined> {
  const resolved = await realpath(parent).catch((error: unknown) => (code(error) === 'ENOENT' ? undefined : Promise.reject(error)));
  if (resolved === undefined) return undefined;
  const dir = path.join(resolved, TRASH_DIR);
  const stats = await lstatOrUndefined(dir);
  return stats && checkTrashDir(dir, stats);
}

// Others may write the parent (SaveDir belongs to the retrace user): a link or a dir of theirs
// planted as the trash dir would let them choose what gets deleted.
async function checkTrashDir(dir: string, stats: Stats): Promise<string> {
  if (!stats.isDirectory() || stats.uid !== process.getuid?.()) throw new Error(`${dir} is not a directory owned by this user`);
  if ((stats.mode & 0o077) !== 0) await chmod(dir, 0o700);
  return dir;
}

/** Deletes `entry` (inside canonical `trash`): unmounts below it first, then walks it. */
async function deleteTree(entry: string, trash: string): Promise<void> {
  await ensureUnmounted(entry);
  // Both guards: another filesystem shows as another st_dev, a bind mount of the same filesystem
  // only in mountinfo. Either way the walk refuses to enter it.
  const mountPoints = new Set((await readMounts()).map((mount) => mount.mountPoint));
  const { dev } = await lstat(trash);
  await removeWalk(entry, dev, mountPoints);
}

async function removeWalk(entry: string, dev: number, mountPoints: ReadonlySet<string>): Promise<void> {
  const stats = await lstatOrUndefined(entry);
  if (!stats) return;
  if (!stats.isDirectory()) return unlinkIfPresent(entry);
  if (stats.dev !== dev || mountPoints.has(entry)) throw new StillMountedError(`${entry} is a mount point`);
  // Dirent types are lstat's: a symlink to a directory is unlinked, never entered.
  const children = await readdir(entry, { withFileTypes: true });
  const files = children.filter((child) => !child.isDirectory()).map((child) => path.join(entry, child.name));
  for (let i = 0; i < files.length; i += UNLINK_BATCH) {
    await Promise.all(files.slice(i, i + UNLINK_BATCH).map(unlinkIfPresent));
  }
  for (const child of children) {
    if (child.isDirectory()) await removeWalk(path.join(entry, child.name), dev, mountPoints);
  }
  await rmdir(entry).catch(ignoreMissing);
}

async function unlinkIfPresent(file: string): Promise<void> {
  await unlink(file).catch(ignoreMissing);
}

async function lstatOrUndefined(file: string): Promise<Stats | undefined> {
  return lstat(file).catch((error: unknown) => (code(error) === 'ENOENT' ? undefined : Promise.reject(error)));
}

function ignoreMissing(error: unknown): void {
  if (code(error) !== 'ENOENT') throw error;
}

function code(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException).code;
}
