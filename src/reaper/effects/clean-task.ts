// Upstream clean() (research §2, §4): drop everything in the task dir except what clients, the
// task manager and retrace-server-interact still read. Upstream first runs `mock --configdir
// <task dir> --scrub=all` as root on the task's own group-writable mock config; here chroots are
// removed by name (chroots.ts) and nothing in the task dir is ever run or parsed (SPEC §6.3).

import { readdir } from 'node:fs/promises';
import path from 'node:path';
import type { ReapContext } from './context.js';
import { discard } from './trash.js';

/** The keep list of upstream clean() at HEAD (research §2). */
export const KEPT_TASK_ENTRIES: ReadonlySet<string> = new Set([
  'password',
  'crash_cmd',
  'type',
  'status',
  'started_time',
  'finished_time',
  'retrace_log',
  'retrace_backtrace',
  'results',
  'log',
  'remote',
  'downloaded',
  'managed',
  'url',
  'notes',
  'notify',
  'caseno',
  'bugzillano',
  'vmlinux',
  'crashrc',
]);

/**
 * Removes every entry of the task dir that is not kept, each through the SaveDir trash; returns
 * how many. Throws StillMountedError when something mounted inside will not unmount.
 */
export async function cleanTaskDir(taskId: string, ctx: ReapContext): Promise<number> {
  const dir = path.join(ctx.saveDir, taskId);
  let removed = 0;
  for (const name of await readdir(dir)) {
    if (KEPT_TASK_ENTRIES.has(name)) continue;
    if ((await discard(path.join(dir, name), ctx.saveDir, { onlyDirectory: false })) === 'removed') removed++;
  }
  return removed;
}
