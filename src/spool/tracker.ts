// Tracks every task in SaveDir through its lifecycle (SPEC §5). The source of truth is a full
// re-read of the spool (at start and every ReconcileInterval); watchers only lower latency: one
// inotify watch on SaveDir itself and one small chokidar watcher per not-finished task, closed
// when it finishes or goes. Worker processes are found in /proc.
//
// SaveDir is watched with fs.watch, not chokidar: even at depth 0 chokidar lists the spool and
// keeps a record per entry, which at 100k tasks costs ~140 MiB and ~2.5 s (research
// agent-anchors §1.3; bench/spool.ts), beyond SPEC §13's 150 MiB and 3 s. fs.watch reports each
// name that appears or goes and costs nothing per entry; its lost events are what the reconcile
// is for.

import { EventEmitter } from 'node:events';
import { watch as watchDir, type FSWatcher as DirWatcher } from 'node:fs';
import { lstat } from 'node:fs/promises';
import { watch, type FSWatcher } from 'chokidar';
import { forEachLimited } from '../each-limited.js';
import type { Logger } from '../log.js';
import { findWorkers, isAlive, listProcesses, type WorkerProcess } from './proc.js';
import { classifySpoolEntry, listSpool } from './spool-entries.js';
import { isFinished, TASK_STATES, taskDurationSeconds, taskState, type TaskState } from './state.js';
import { readTasks } from './read-tasks.js';
import { readTask, taskDir, type TaskSnapshot } from './task.js';

export interface TrackedTask {
  readonly id: string;
  readonly snapshot: TaskSnapshot;
  readonly state: TaskState;
  /** The live worker, if any. */
  readonly worker: WorkerProcess | undefined;
  /** When a worker was last seen alive (epoch ms); undefined if none ever was. */
  readonly workerSeenMs: number | undefined;
  /** When the worker that was seen was found gone while the task was not finished (epoch ms). */
  readonly workerGoneMs: number | undefined;
}

export type ChangeSource = 'watcher' | 'reconcile' | 'workers' | 'refresh';

export interface TaskChange {
  readonly id: string;
  readonly before: TrackedTask | undefined;
  readonly after: TrackedTask | undefined;
  readonly source: ChangeSource;
}

export interface TrackerEvents {
  /** Any change of a task, including its appearance (before undefined) and removal (after undefined). */
  change: [TaskChange];
  /** A task that the agent saw unfinished has finished. */
  finished: [TrackedTask, durationSeconds: number | undefined];
  /** A watcher failed; the periodic reconcile still covers the spool. */
  watcherError: [Error];
  /** The reconcile found a change the watchers had missed. */
  drift: [TaskChange];
}

export interface TrackerOptions {
  readonly saveDir: string;
  readonly workerCommand: string;
  readonly reconcileIntervalMs: number;
  /** How often live workers are checked; a worker's death is noticed within this. */
  readonly workerPollMs?: number;
  readonly log: Logger;
  readonly procRoot?: string;
  readonly now?: () => number;
}

// Reads of task dirs in flight at once: enough to keep libuv's pool busy, few enough not to
// starve everything else while 100k tasks load.
const READ_CONCURRENCY = 64;
// Events for one task dir arrive in bursts (tmp file, rename, append): re-read once per burst.
const TASK_EVENT_DEBOUNCE_MS = 15;

export class SpoolTracker extends EventEmitter<TrackerEvents> {
  private readonly tasks = new Map<string, TrackedTask>();
  private readonly taskWatchers = new Map<string, FSWatcher>();
  private readonly refreshing = new Map<string, Promise<TrackedTask | undefined>>();
  private readonly refreshAgain = new Set<string>();
  private readonly debounce = new Map<string, NodeJS.Timeout>();
  private spoolWatcher: DirWatcher | undefined;
  /** Ids of tasks not finished: the only ones whose workers matter. */
  private readonly unfinished = new Set<string>();
  private reconcileTimer: NodeJS.Timeout | undefined;
  private workerTimer: NodeJS.Timeout | undefined;
  private reconciling: Promise<void> | undefined;
  private stopped = false;
  private readonly now: () => number;
  /** When the last full reconcile finished (epoch ms). */
  lastReconcileMs: number | undefined;

  private readonly options: TrackerOptions;

  constructor(options: TrackerOptions) {
    super();
    this.options = options;
    this.now = options.now ?? Date.now;
  }

  get ready(): boolean {
    return this.lastReconcileMs !== undefined;
  }

  get(id: string): TrackedTask | undefined {
    return this.tasks.get(id);
  }

  all(): IterableIterator<TrackedTask> {
    return this.tasks.values();
  }

  counts(): Record<TaskState, number> {
    const counts = Object.fromEntries(TASK_STATES.map((state) => [state, 0])) as Record<TaskState, number>;
    for (const task of this.tasks.values()) counts[task.state]++;
    return counts;
  }

  /** Number of per-task watchers (one inotify watch each). */
  get taskWatcherCount(): number {
    return this.taskWatchers.size;
  }

  async start(): Promise<void> {
    await this.reconcile();
    if (this.stopped) return;
    this.spoolWatcher = watchDir(this.options.saveDir, { persistent: false }, (_event, name) => {
      if (name) this.onSpoolEvent(name);
    }).on('error', (err) => this.onWatcherError(err));
    this.reconcileTimer = setInterval(() => void this.reconcile(), this.options.reconcileIntervalMs);
    this.workerTimer = setInterval(() => void this.pollWorkers(), this.options.workerPollMs ?? 500);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.reconcileTimer);
    clearInterval(this.workerTimer);
    for (const timer of this.debounce.values()) clearTimeout(timer);
    this.spoolWatcher?.close();
    await Promise.all([...this.taskWatchers.values()].map((w) => w.close()));
    this.taskWatchers.clear();
    await this.reconciling;
  }

  /** A full re-read of the spool and the process table; concurrent calls share one pass. */
  reconcile(): Promise<void> {
    this.reconciling ??= this.reconcileOnce().finally(() => {
      this.reconciling = undefined;
    });
    return this.reconciling;
  }

  /**
   * Re-reads one task from disk now; concurrent calls for one task coalesce, so an older read
   * never overwrites a newer one. `workers` is a fresh process scan when the caller has one.
   */
  refresh(id: string, source: ChangeSource = 'refresh', workers?: ReadonlyMap<string, WorkerProcess>): Promise<TrackedTask | undefined> {
    const running = this.refreshing.get(id);
    if (running) {
      this.refreshAgain.add(id);
      return running;
    }
    const promise = readTask(this.options.saveDir, id)
      .then((snapshot) => this.apply(id, snapshot, source, workers))
      .finally(() => {
        this.refreshing.delete(id);
        if (this.refreshAgain.delete(id)) void this.refresh(id, source);
      });
    this.refreshing.set(id, promise);
    return promise;
  }

  private async reconcileOnce(): Promise<void> {
    const source: ChangeSource = 'reconcile';
    let ids: string[];
    try {
      ids = (await listSpool(this.options.saveDir)).tasks;
    } catch (err) {
      this.options.log.error({ err }, `cannot list SaveDir ${this.options.saveDir}: ${(err as Error).message}`);
      return;
    }
    const workers = await this.scanWorkers();
    const present = new Set(ids);
    for (const id of this.tasks.keys()) {
      if (!present.has(id)) this.apply(id, undefined, source);
    }
    if (!this.ready) {
      // The inventory: nothing else reads or watches tasks yet, so all of them are read at once.
      const snapshots = await readTasks(this.options.saveDir, ids);
      for (const id of ids) this.apply(id, snapshots.get(id), source, workers);
    } else {
      await forEachLimited(ids, READ_CONCURRENCY, async (id) => {
        const known = this.tasks.get(id);
        // A finished task changes only by touching its dir (mtime); skip re-reading it otherwise.
        if (known && isFinished(known.state) && !(await this.mtimeChanged(known))) return;
        await this.refresh(id, source, workers);
      });
    }
    this.lastReconcileMs = this.now();
  }

  private async mtimeChanged(task: TrackedTask): Promise<boolean> {
    try {
      return (await lstat(taskDir(this.options.saveDir, task.id))).mtimeMs !== task.snapshot.mtimeMs;
    } catch {
      return true;
    }
  }

  /** Records the new snapshot of a task and emits what changed; without a fresh scan the known worker is kept. */
  private apply(id: string, snapshot: TaskSnapshot | undefined, source: ChangeSource,
    workers?: ReadonlyMap<string, WorkerProcess>): TrackedTask | undefined {
    if (this.stopped) return undefined;
    const before = this.tasks.get(id);
    let after: TrackedTask | undefined;
    if (snapshot) {
      const worker = workers ? workers.get(id) : before?.worker;
      const now = this.now();
      const workerSeenMs = worker ? now : before?.workerSeenMs;
      const state = taskState(snapshot, worker !== undefined);
      const workerGoneMs = !worker && workerSeenMs !== undefined && !isFinished(state) ? (before?.workerGoneMs ?? now) : undefined;
      after = { id, snapshot, state, worker, workerSeenMs, workerGoneMs };
      this.tasks.set(id, after);
    } else {
      this.tasks.delete(id);
    }
    if (after && !isFinished(after.state)) this.unfinished.add(id);
    else this.unfinished.delete(id);
    this.syncTaskWatcher(id, after);
    if (!before && !after) return undefined;
    if (before && after && sameTask(before, after)) return after;

    const change: TaskChange = { id, before, after, source };
    // The first reconcile is the inventory; later ones find only what the watchers missed.
    if (source === 'reconcile' && this.ready && (!before || !after || before.state !== after.state)) this.emit('drift', change);
    this.emit('change', change);
    if (after && isFinished(after.state) && before && !isFinished(before.state)) {
      this.emit('finished', after, taskDurationSeconds(after.snapshot));
    }
    return after;
  }

  private syncTaskWatcher(id: string, task: TrackedTask | undefined): void {
    const watcher = this.taskWatchers.get(id);
    const wanted = task !== undefined && !isFinished(task.state) && !this.stopped;
    if (wanted && !watcher) {
      this.taskWatchers.set(id, watch(taskDir(this.options.saveDir, id), { depth: 0, ignoreInitial: true, followSymlinks: false })
        .on('all', () => this.scheduleRefresh(id))
        .on('error', (err) => this.onWatcherError(err)));
    } else if (!wanted && watcher) {
      this.taskWatchers.delete(id);
      void watcher.close();
    }
  }

  private onSpoolEvent(name: string): void {
    const entry = classifySpoolEntry(name);
    if (entry.kind === 'task') this.scheduleRefresh(entry.id);
  }

  private scheduleRefresh(id: string): void {
    if (this.stopped) return;
    clearTimeout(this.debounce.get(id));
    this.debounce.set(id, setTimeout(() => {
      this.debounce.delete(id);
      void this.refreshWithWorkers(id);
    }, TASK_EVENT_DEBOUNCE_MS));
  }

  /** A task dir changed: its worker may just have started, so look at the process table too. */
  private async refreshWithWorkers(id: string): Promise<void> {
    const known = this.tasks.get(id);
    const workers = known && !known.worker ? await this.scanWorkers() : undefined;
    await this.refresh(id, 'watcher', workers);
  }

  private onWatcherError(err: unknown): void {
    const error = err instanceof Error ? err : new Error(String(err));
    this.options.log.warn({ err: error }, `watcher error: ${error.message}`);
    this.emit('watcherError', error);
  }

  /**
   * Waiting tasks need a process scan (their worker may appear); running ones only need their
   * known worker checked. With nothing unfinished, nothing is read at all.
   */
  private async pollWorkers(): Promise<void> {
    if (this.unfinished.size === 0) return;
    const unfinished = [...this.unfinished].map((id) => this.tasks.get(id)).filter((task) => task !== undefined);
    if (unfinished.some((task) => !task.worker)) {
      const workers = await this.scanWorkers();
      await Promise.all(unfinished
        .filter((task) => task.worker?.pid !== workers.get(task.id)?.pid)
        .map((task) => this.refresh(task.id, 'workers', workers)));
      return;
    }
    await Promise.all(unfinished.map(async (task) => {
      const worker = task.worker;
      if (worker && !(await isAlive(worker.pid, worker.startTimeMs))) await this.refresh(task.id, 'workers', new Map());
    }));
  }

  private async scanWorkers(): Promise<Map<string, WorkerProcess>> {
    const processes = await listProcesses(this.options.procRoot);
    const workers = new Map<string, WorkerProcess>();
    // Of several workers for one task, the oldest is the one that owns it.
    for (const worker of findWorkers(processes, this.options.workerCommand)) {
      const other = workers.get(worker.taskId);
      if (!other || worker.startTimeMs < other.startTimeMs) workers.set(worker.taskId, worker);
    }
    return workers;
  }
}

function sameTask(a: TrackedTask, b: TrackedTask): boolean {
  return a.state === b.state && a.worker?.pid === b.worker?.pid && a.workerGoneMs === b.workerGoneMs
    && sameSnapshot(a.snapshot, b.snapshot);
}

function sameSnapshot(a: TaskSnapshot, b: TaskSnapshot): boolean {
  return (Object.keys(a) as (keyof TaskSnapshot)[]).every((key) => key === 'crashFiles'
    ? a.crashFiles.join('\0') === b.crashFiles.join('\0')
    : a[key] === b[key]);
}
