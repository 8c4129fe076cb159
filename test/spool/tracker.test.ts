import { mkdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import { SpoolTracker, type TaskChange, type TrackedTask } from '../../src/spool/tracker.js';
import { createTestSpool, uniqueTaskId, writeAtomic, writeTask, type TestSpool } from '../support/spool.js';
import { cleanupFakeWorkers, startFakeWorker, stopFakeWorkers, WORKER_COMMAND } from '../support/worker.js';

const log = createLogger({ name: 'test', level: 'silent' });
// Unique ids: other test files run fake workers at the same time.
const T100000001 = uniqueTaskId();
const T111111111 = uniqueTaskId();
const T123456789 = uniqueTaskId();
const T200000002 = uniqueTaskId();
const T222222222 = uniqueTaskId();
const T300000003 = uniqueTaskId();
const T333333333 = uniqueTaskId();
const T400000004 = uniqueTaskId();
const T444444444 = uniqueTaskId();
const T500000005 = uniqueTaskId();
const T500000006 = uniqueTaskId();
const T555555555 = uniqueTaskId();
const T600000006 = uniqueTaskId();
const T700000007 = uniqueTaskId();

/** Resolves once `predicate` holds for the tracker, or fails after `timeoutMs`. */
async function until(tracker: SpoolTracker, predicate: () => boolean, what: string, timeoutMs = 3000): Promise<number> {
  const start = Date.now();
  while (!predicate()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return Date.now() - start;
}

describe('SpoolTracker', () => {
  let spool: TestSpool;
  let tracker: SpoolTracker;
  let changes: TaskChange[];
  const finished: Array<[TrackedTask, number | undefined]> = [];

  const start = async (reconcileIntervalMs = 60_000): Promise<void> => {
    tracker = new SpoolTracker({ saveDir: spool.saveDir, workerCommand: WORKER_COMMAND, reconcileIntervalMs, workerPollMs: 200, log });
    changes = [];
    finished.length = 0;
    tracker.on('change', (change) => changes.push(change));
    tracker.on('finished', (task, seconds) => finished.push([task, seconds]));
    await tracker.start();
  };
  const state = (id: string): string | undefined => tracker.get(id)?.state;

  beforeEach(async () => {
    spool = await createTestSpool();
  });
  afterEach(async () => {
    await tracker?.stop();
    await stopFakeWorkers();
    await spool.cleanup();
  });
  afterAll(cleanupFakeWorkers);

  it('takes inventory at start: tasks only, with their states', async () => {
    const now = Math.floor(Date.now() / 1000);
    await writeTask(spool.saveDir, T111111111, { status: 6, startedTime: now - 10, finishedTime: now, backtrace: 'bt' });
    await writeTask(spool.saveDir, T222222222, { status: 7, finishedTime: now });
    await writeTask(spool.saveDir, T333333333, { status: 0, log: 'started\n' });
    await mkdir(join(spool.saveDir, `${T111111111}-kernel`));
    await writeFile(join(spool.saveDir, 'stats.db'), 'sqlite');
    await writeFile(join(spool.saveDir, T444444444), 'a file named like a task');
    await symlink(join(spool.saveDir, T111111111), join(spool.saveDir, T555555555));
    await start();
    expect(tracker.ready).toBe(true);
    expect(tracker.counts()).toEqual({ queued: 1, running: 0, success: 1, failure: 1 });
    expect([...tracker.all()].map((t) => t.id).sort()).toEqual([T111111111, T222222222, T333333333].sort());
  });

  it('follows a real worker through its lifecycle', async () => {
    await start();
    const dir = await writeTask(spool.saveDir, T123456789, {});
    await until(tracker, () => state(T123456789) === 'queued', 'the new task');
    expect(tracker.taskWatcherCount).toBe(1);

    const worker = await startFakeWorker(T123456789, { taskDir: dir, behave: 'finish-success', durationMs: 600 });
    await until(tracker, () => state(T123456789) === 'running', 'the worker to be seen');
    expect(tracker.get(T123456789)?.worker?.pid).toBe(worker.pid);

    await worker.exited;
    await until(tracker, () => state(T123456789) === 'success', 'the task to finish');
    expect(tracker.get(T123456789)?.workerGoneMs).toBeUndefined();
    expect(finished.map(([task]) => task.id)).toEqual([T123456789]);
    expect(tracker.taskWatcherCount).toBe(0);
  });

  it('records a failure and its duration', async () => {
    await start();
    const dir = await writeTask(spool.saveDir, T100000001, {});
    const worker = await startFakeWorker(T100000001, { taskDir: dir, behave: 'finish-failure', durationMs: 300 });
    await worker.exited;
    await until(tracker, () => state(T100000001) === 'failure', 'the failure');
    const [task, seconds] = finished[0]!;
    expect(task.snapshot.status).toBe(7);
    expect(seconds).toBeGreaterThanOrEqual(0);
    expect(seconds).toBeLessThan(5);
  });

  it('notices a SIGKILLed worker within a second and keeps the task unfinished', async () => {
    const dir = await writeTask(spool.saveDir, T200000002, { log: 'started\n', status: 2 });
    const worker = await startFakeWorker(T200000002, { taskDir: dir, behave: 'sleep', durationMs: 60_000 });
    await start();
    expect(state(T200000002)).toBe('running');
    worker.killGroup('SIGKILL');
    await worker.exited;
    const killedAt = Date.now();
    await until(tracker, () => tracker.get(T200000002)?.workerGoneMs !== undefined, 'the worker to be gone', 2000);
    expect(Date.now() - killedAt).toBeLessThan(1000);
    const task = tracker.get(T200000002)!;
    expect(task.state).toBe('queued');
    expect(task.workerSeenMs).toBeDefined();
  });

  it('drops a task whose dir is removed under it, and closes its watcher', async () => {
    await writeTask(spool.saveDir, T300000003, { log: 'x\n' });
    await start();
    expect(tracker.taskWatcherCount).toBe(1);
    await rm(join(spool.saveDir, T300000003), { recursive: true });
    await until(tracker, () => tracker.get(T300000003) === undefined, 'the removal');
    expect(changes.at(-1)).toMatchObject({ id: T300000003, after: undefined });
    expect(tracker.taskWatcherCount).toBe(0);
  });

  it('sees status written atomically (tmp + rename) without reading the partial file', async () => {
    const dir = await writeTask(spool.saveDir, T400000004, { log: 'x\n' });
    await start();
    await writeFile(join(dir, 'status.tmp'), '7');
    await writeFile(join(dir, 'finished_time.tmp'), String(Math.floor(Date.now() / 1000)));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(state(T400000004)).toBe('queued');
    await rename(join(dir, 'status.tmp'), join(dir, 'status'));
    await rename(join(dir, 'finished_time.tmp'), join(dir, 'finished_time'));
    await until(tracker, () => state(T400000004) === 'failure', 'the rename to be seen');
  });

  it('ignores a symlink named like a task that appears later', async () => {
    await start();
    const outside = join(spool.root, 'outside');
    await writeTask(outside, T500000005, { status: 6, finishedTime: 1, backtrace: 'x' });
    await symlink(join(outside, T500000005), join(spool.saveDir, T500000005));
    await writeTask(spool.saveDir, T500000006, {});
    await until(tracker, () => tracker.get(T500000006) !== undefined, 'the real task');
    expect(tracker.get(T500000005)).toBeUndefined();
  });

  it('a reconcile finds what the watchers missed and counts it as drift', async () => {
    await start();
    const drift: TaskChange[] = [];
    tracker.on('drift', (change) => drift.push(change));
    // Stop the watchers so the change can only be found by the full re-read.
    await tracker['spoolWatcher']?.close();
    await writeTask(spool.saveDir, T600000006, { status: 6, finishedTime: 5, backtrace: 'x' });
    await tracker.reconcile();
    expect(state(T600000006)).toBe('success');
    expect(drift.map((c) => c.id)).toEqual([T600000006]);
  });

  it('re-reads a finished task whose dir was touched', async () => {
    const dir = await writeTask(spool.saveDir, T700000007, { status: 7, finishedTime: 5, mtime: 1_000_000 });
    await start();
    expect(state(T700000007)).toBe('failure');
    await writeAtomic(dir, 'retrace_backtrace', 'bt after a restart');
    await tracker.reconcile();
    expect(state(T700000007)).toBe('success');
  });

  it('tracks a spool of 10,000 tasks with one watcher per unfinished task', async () => {
    const now = Math.floor(Date.now() / 1000);
    for (let batch = 0; batch < 10; batch++) {
      await Promise.all(Array.from({ length: 1000 }, (_, i) => {
        const id = String(800_000_000 + batch * 1000 + i);
        return writeTask(spool.saveDir, id, i % 500 === 0 ? { log: 'x\n' } : { status: 6, finishedTime: now, backtrace: 'x' });
      }));
    }
    await start();
    expect(tracker.counts()).toEqual({ queued: 20, running: 0, success: 9980, failure: 0 });
    expect(tracker.taskWatcherCount).toBe(20);
  }, 60_000);
});
