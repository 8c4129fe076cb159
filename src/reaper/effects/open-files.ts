// Which processes hold a task's crash files open (upstream: `lsof +wt <file>`), so a task is not
// removed under a debugging session. Files are matched by device and inode, like lsof does: a
// renamed or hard-linked (md5 dedup) crash file still counts.

import { readdirSync, statSync } from 'node:fs';
import { setImmediate as nextTurn } from 'node:timers/promises';

const DEFAULT_PROC_ROOT = '/proc';
const DIGITS_RE = /^[0-9]+$/;
// Between chunks the event loop runs: a host with thousands of processes must not stall it.
const CHUNK = 64;

/** Pids with an open descriptor on any of `crashFiles` (a file that is gone counts as not open). */
export async function openCrashFiles(crashFiles: readonly string[], procRoot: string = DEFAULT_PROC_ROOT): Promise<number[]> {
  const wanted = new Set<string>();
  for (const file of crashFiles) {
    // stat, not lstat: a link planted as a crash file blocks removal while its target is open.
    const key = fileKey(file);
    if (key !== undefined) wanted.add(key);
  }
  if (wanted.size === 0) return [];

  const pids = readdirSync(procRoot).filter((name) => DIGITS_RE.test(name));
  const holders: number[] = [];
  for (let i = 0; i < pids.length; i++) {
    if (i > 0 && i % CHUNK === 0) await nextTurn();
    const pid = pids[i] ?? '';
    // Synchronous on purpose: /proc never waits for a disk, and one async call per fd would
    // cost several times the stat itself.
    if (listFds(`${procRoot}/${pid}/fd`).some((fd) => wanted.has(fileKey(`${procRoot}/${pid}/fd/${fd}`) ?? ''))) {
      holders.push(Number(pid));
    }
  }
  return holders;
}

/** `dev:ino` of what `file` refers to; undefined when it cannot be stat'ed (gone, a loop, an exited process). */
function fileKey(file: string): string | undefined {
  try {
    // bigint: inode numbers may exceed 2^53.
    const stats = statSync(file, { bigint: true });
    return `${stats.dev}:${stats.ino}`;
  } catch {
    return undefined;
  }
}

function listFds(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    // The process exited, or (hidepid, another user without root) we may not look.
    return [];
  }
}
