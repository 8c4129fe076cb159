// Reads one task dir of the spool into a typed snapshot, the way upstream RetraceTask and
// status.wsgi read it (research §2–§3). Whatever workers, users or crashes leave in the dir
// (garbage, huge, half-written or vanishing files) yields "unknown" values, never an exception.

import { closeSync, constants, lstatSync, openSync, readdirSync, readSync, type Dirent, type Stats } from 'node:fs';
import path from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { classifySpoolEntry } from './spool-entries.js';

export const TaskStatus = {
  ANALYZE: 0,
  INIT: 1,
  BACKTRACE: 2,
  CLEANUP: 3,
  STATS: 4,
  FINISHING: 5,
  SUCCESS: 6,
  FAIL: 7,
  DOWNLOADING: 8,
  POSTPROCESS: 9,
  CALCULATING_MD5SUM: 10,
} as const;

export const TaskType = {
  COREDUMP: 0,
  DEBUG: 1,
  VMCORE: 2,
  COREDUMP_INTERACTIVE: 3,
  VMCORE_INTERACTIVE: 4,
} as const;

export type TaskResult = 'success' | 'failure';

export interface TaskSnapshot {
  readonly id: string;
  /** Missing or garbage `type` reads as 0 (COREDUMP), like upstream. */
  readonly type: number;
  /** Unparsable or missing `status` → undefined. */
  readonly status: number | undefined;
  /** Unix seconds. */
  readonly startedTime: number | undefined;
  /** Unix seconds; undefined when missing or garbage (a garbage file still makes the task finished). */
  readonly finishedTime: number | undefined;
  /** `retrace_log` exists: the worker has started (it creates the log before forking). */
  readonly hasLog: boolean;
  readonly hasBacktrace: boolean;
  /** The `managed` marker exists (it only matters with AllowTaskManager). */
  readonly managed: boolean;
  /** The task dir's own mtime: task age is based on it (upstream get_age). */
  readonly mtimeMs: number;
  /** Absolute paths of crash data files that exist, for the open-file check before removal. */
  readonly crashFiles: readonly string[];
  /** undefined = not finished. */
  readonly result: TaskResult | undefined;
}

// Upstream reads status with maxlen 8; anything near this cap is not a number a worker wrote.
const SMALL_FILE_CAP = 4096;
// O_NOFOLLOW: never read through a link planted in a task dir. O_NONBLOCK: a FIFO cannot hang us.
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
// Python int(): optional sign, ASCII digits, surrounding whitespace.
const INT_RE = /^[ \t\n\r\f\v]*([+-]?[0-9]+)[ \t\n\r\f\v]*$/;
// What a task dir (or its crash/ subdir) left by workers and users can make a read fail with.
// Anything else (EMFILE, EIO, …) is a problem of this host, not of the task, and is thrown.
const TASK_FILE_ERRORS = new Set(['ENOENT', 'ENOTDIR', 'EACCES', 'EPERM', 'ELOOP', 'EAGAIN', 'EISDIR', 'ENXIO']);

// Upstream checks crash/vmcore, then <task>/coredump (its bug: the worker keeps the coredump in
// crash/). crash/coredump and the VMware snapshot names are added: the open-file check should
// see every big file a debugging session may hold open.
const CRASH_DIR_FILES = new Set(['vmcore', 'vmcore.vmss', 'vmcore.vmsn', 'vmcore.vmem', 'coredump']);
const TASK_DIR_CRASH_FILE = 'coredump';

/** Most tasks have no crash files left: one shared empty list saves an array per task in a 100k spool. */
export const NO_CRASH_FILES: readonly string[] = Object.freeze([]);

// A second pass settles a task that changed while read; more would only chase a busy writer.
const MAX_PASSES = 2;

/** The absolute path of task `id`'s dir (not kept in each snapshot: 100k of them cost ~6 MiB). */
export function taskDir(saveDir: string, id: string): string {
  return path.resolve(saveDir, id);
}

/**
 * A snapshot in the one shape all have, with `id` as the string given and the result as the shared constant:
 * snapshots copied from a reader thread arrive with their own strings and a looser object layout, which at
 * 100k tasks costs ~7 MiB more than this.
 */
export function taskSnapshot(fields: TaskSnapshot, id = fields.id): TaskSnapshot {
  return {
    id,
    type: fields.type,
    status: fields.status,
    startedTime: fields.startedTime,
    finishedTime: fields.finishedTime,
    hasLog: fields.hasLog,
    hasBacktrace: fields.hasBacktrace,
    managed: fields.managed,
    mtimeMs: fields.mtimeMs,
    crashFiles: fields.crashFiles.length > 0 ? fields.crashFiles : NO_CRASH_FILES,
    result: fields.result === 'success' ? 'success' : fields.result === 'failure' ? 'failure' : undefined,
  };
}

/**
 * undefined when `<saveDir>/<id>` is gone or is not a real directory (a symlink is never followed),
 * or when `id` is not a task name (so `..` and `/` can never lead out of SaveDir).
 *
 * The reads are synchronous on purpose: a task costs ~15 tiny syscalls, and dispatching each to
 * the libuv pool costs more than the syscall itself (measured on 2 cores, 10k tasks: ≈ 0.45 s
 * through the pool, ≈ 0.30 s synchronous). Yielding once per task keeps the event loop responsive during a
 * full spool scan.
 */
export async function readTask(saveDir: string, id: string): Promise<TaskSnapshot | undefined> {
  await nextTurn();
  if (classifySpoolEntry(id).kind !== 'task') return undefined;
  const dir = taskDir(saveDir, id);
  for (let pass = 1; ; pass++) {
    const before = attempt(() => lstatSync(dir));
    if (!before?.isDirectory()) return undefined;
    const reader = new TaskDirReader(dir);
    const snapshot = reader.read(id, before);
    // A path lookup that began before the dir was renamed away can still reach the old dir (which
    // the remover is emptying), so only the same dir under the same name afterwards vouches for
    // what was read. A listed file that vanished means a worker --restart is resetting the task.
    const after = attempt(() => lstatSync(dir));
    if (!after?.isDirectory()) return undefined;
    const unchanged = after.ino === before.ino && after.dev === before.dev && !reader.vanished;
    if (unchanged || pass === MAX_PASSES) return snapshot;
  }
}

// status.wsgi decides on the finished_time *file* (not its value) and the backtrace. Status 6/7
// without finished_time also counts: a worker killed between the two writes did finish.
function deriveResult(finished: boolean, hasBacktrace: boolean, status: number | undefined): TaskResult | undefined {
  if (finished) return hasBacktrace ? 'success' : 'failure';
  if (status === TaskStatus.SUCCESS) return 'success';
  if (status === TaskStatus.FAIL) return 'failure';
  return undefined;
}

// Reads are synchronous, so one buffer serves them all.
const smallFileBuffer = Buffer.allocUnsafe(SMALL_FILE_CAP + 1);

class TaskDirReader {
  /** A name seen in a listing was gone when opened. */
  vanished = false;
  private readonly dir: string;
  private readonly entries = new Map<string, Dirent>();

  constructor(dir: string) {
    this.dir = dir;
  }

  read(id: string, stats: Stats): TaskSnapshot | undefined {
    const listing = attempt(() => readdirSync(this.dir, { withFileTypes: true }));
    if (!listing) return undefined;
    for (const entry of listing) this.entries.set(entry.name, entry);
    const status = this.readInt('status');
    const hasBacktrace = this.isFile('retrace_backtrace');
    return taskSnapshot({
      id,
      type: this.readInt('type') ?? TaskType.COREDUMP,
      status,
      startedTime: this.readInt('started_time'),
      finishedTime: this.readInt('finished_time'),
      hasLog: this.isFile('retrace_log'),
      hasBacktrace,
      managed: this.isFile('managed'),
      mtimeMs: stats.mtimeMs,
      crashFiles: this.crashFiles(),
      result: deriveResult(this.isFile('finished_time'), hasBacktrace, status),
    });
  }

  // Regular files only: links are never followed, and a FIFO or dir is not what a worker wrote.
  private isFile(name: string): boolean {
    return this.entries.get(name)?.isFile() ?? false;
  }

  private readInt(name: string): number | undefined {
    if (!this.isFile(name)) return undefined;
    const match = INT_RE.exec(this.readSmall(path.join(this.dir, name)) ?? '');
    const value = Number(match?.[1]);
    return match && Number.isSafeInteger(value) ? value : undefined;
  }

  /** The file's text, or undefined when it is unreadable or longer than SMALL_FILE_CAP. */
  private readSmall(file: string): string | undefined {
    const fd = this.attemptListed(() => openSync(file, OPEN_FLAGS));
    if (fd === undefined) return undefined;
    try {
      const length = attempt(() => readSync(fd, smallFileBuffer, 0, smallFileBuffer.length, 0));
      if (length === undefined || length > SMALL_FILE_CAP) return undefined;
      // latin1 maps every byte to one char, so non-UTF-8 input simply fails an ASCII pattern.
      return smallFileBuffer.toString('latin1', 0, length);
    } finally {
      closeSync(fd);
    }
  }

  private crashFiles(): readonly string[] {
    const found: string[] = [];
    const inTaskDir = this.entries.get(TASK_DIR_CRASH_FILE);
    // Links count too: a process holding the target open must still block removal.
    if (inTaskDir && !inTaskDir.isDirectory()) found.push(path.join(this.dir, TASK_DIR_CRASH_FILE));
    if (!this.entries.get('crash')?.isDirectory()) return found.length > 0 ? found : NO_CRASH_FILES;
    const crashDir = path.join(this.dir, 'crash');
    const listing = this.attemptListed(() => readdirSync(crashDir, { withFileTypes: true }));
    for (const entry of listing ?? []) {
      if (CRASH_DIR_FILES.has(entry.name) && !entry.isDirectory()) found.push(path.join(crashDir, entry.name));
    }
    return found.length > 0 ? found : NO_CRASH_FILES;
  }

  /** `attempt` for a name taken from the listing: ENOENT now means it vanished since. */
  private attemptListed<T>(call: () => T): T | undefined {
    return attempt(call, () => (this.vanished = true));
  }
}

/** Runs one filesystem call; the errors a task dir can cause give undefined. */
function attempt<T>(call: () => T, onNoEntry?: () => void): T | undefined {
  try {
    return call();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? '';
    if (!TASK_FILE_ERRORS.has(code)) throw error;
    if (code === 'ENOENT') onNoEntry?.();
    return undefined;
  }
}
