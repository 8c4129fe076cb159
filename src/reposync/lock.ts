// The per-release reposync lock, at upstream's path so the CLI, cron jobs and the agent exclude each other
// (SPEC §7.3). Created with O_CREAT|O_EXCL and the holder's pid written in it. Upstream leaves the lock of a killed
// run forever; here a lock whose holder is gone is taken over.
//
// The holder is alive when its pid runs a process that started before the lock was made: a pid reused by a later
// process started after the lock file's mtime. That needs no start time inside the file, so the lock stays a
// plain pid like the upstream one.

import { closeSync, constants, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { releaseName, type ReleaseId } from '../plugins/release.js';
import type { Logger } from '../log.js';
import { listProcesses } from '../spool/proc.js';

export interface ReleaseLock {
  readonly path: string;
  /** Removes the lock if it is still ours; synchronous so that a signal handler can call it. */
  release(): void;
}

/** Another live process holds the lock (exit 2). */
export class LockBusyError extends Error {
  override readonly name = 'LockBusyError';
}

/** The lock could not be created at all (exit 3). */
export class LockFailedError extends Error {
  override readonly name = 'LockFailedError';
}

// /proc start times derive from btime, a whole second, and ticks; allow for that when comparing with an mtime.
const START_TIME_SLACK_MS = 2000;
// An empty lock is one made by upstream (which writes nothing) or one whose maker died between creating and writing
// it; only the second can be old, as a real upstream holder would be a run of the tool this replaces.
const EMPTY_LOCK_GRACE_MS = 60_000;
// The takeover guard lives for microseconds; an older one was left by a process killed inside that window.
const GUARD_STALE_MS = 10_000;

export function lockPath(lockDir: string, release: ReleaseId): string {
  return join(lockDir, `retrace-reposync-lock-${releaseName(release)}`);
}

export async function acquireReleaseLock(lockDir: string, release: ReleaseId, log: Logger): Promise<ReleaseLock> {
  const path = lockPath(lockDir, release);
  const busy = (): LockBusyError =>
    new LockBusyError(`Repository for ${releaseName(release)} is already being created by a different process (lock ${path})`);

  if (tryCreate(path)) return ownLock(path);
  const holder = readHolder(path);
  if (holder === undefined || (await holderAlive(holder))) throw busy();

  // Two runs may find the same dead holder: the guard lets only one of them replace it, and that one checks again
  // under the guard that the lock is still the dead one (the other may have replaced it already).
  const guard = `${path}.takeover`;
  if (!tryCreate(guard, true)) throw busy();
  try {
    const again = readHolder(path);
    if (again !== undefined && (again.pid !== holder.pid || again.mtimeMs !== holder.mtimeMs)) throw busy();
    unlinkQuietly(path);
    if (!tryCreate(path)) throw busy();
    log.warn(`taking over the lock ${path}: ${holder.pid ? `its holder (pid ${holder.pid}) is gone` : 'it is empty and older than a minute'}`);
    return ownLock(path);
  } finally {
    unlinkQuietly(guard);
  }
}

interface Holder {
  /** 0 when the lock is empty or unreadable. */
  readonly pid: number;
  readonly mtimeMs: number;
}

/** Creates `path` exclusively with our pid in it; false when it exists. A stale takeover guard is replaced. */
function tryCreate(path: string, isGuard = false): boolean {
  let fd: number;
  try {
    fd = openSync(path, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY | constants.O_NOFOLLOW, 0o600);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EEXIST') throw new LockFailedError(`Unable to set lock ${path}: ${(err as Error).message}`);
    if (isGuard && ageMs(path) > GUARD_STALE_MS) {
      unlinkQuietly(path);
      return tryCreate(path);
    }
    return false;
  }
  try {
    writeSync(fd, `${process.pid}\n`);
  } finally {
    closeSync(fd);
  }
  return true;
}

/** The lock's holder; undefined when the lock vanished meanwhile (its holder just finished: treat as busy). */
function readHolder(path: string): Holder | undefined {
  try {
    const mtimeMs = statSync(path).mtimeMs;
    const pid = Number(/^\s*(\d+)\s*$/.exec(readFileSync(path, 'utf8'))?.[1] ?? 0);
    return { pid, mtimeMs };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new LockFailedError(`Unable to read lock ${path}: ${(err as Error).message}`);
  }
}

async function holderAlive(holder: Holder): Promise<boolean> {
  if (holder.pid === 0) return Date.now() - holder.mtimeMs < EMPTY_LOCK_GRACE_MS;
  // listProcesses leaves out zombies: a holder that exited but was not reaped is gone too.
  const info = (await listProcesses()).find((p) => p.pid === holder.pid);
  return info !== undefined && info.startTimeMs <= holder.mtimeMs + START_TIME_SLACK_MS;
}

function ownLock(path: string): ReleaseLock {
  const { mtimeMs } = statSync(path);
  let released = false;
  return {
    path,
    release() {
      if (released) return;
      released = true;
      // Only our own lock: after a takeover by mistake (clock steps), the other run's lock must stay.
      const holder = readHolder(path);
      if (holder?.pid === process.pid && holder.mtimeMs === mtimeMs) unlinkQuietly(path);
    },
  };
}

function ageMs(path: string): number {
  try {
    return Date.now() - statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
