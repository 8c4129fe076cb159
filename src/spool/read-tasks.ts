// Reads many task dirs at once for the first spool inventory, on every core: a task costs ~12
// tiny syscalls and the time is all in the kernel, so at 100k tasks one thread needs ~3 s and
// SPEC §13 allows 3 s from start to healthy. Each worker thread reads a share; so does this one.

import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { workerModule } from '../worker-module.js';
import { readTask, taskSnapshot, type TaskSnapshot } from './task.js';

// Below this many tasks a thread costs more to start (~30 ms) than it saves.
const MIN_TASKS_PER_THREAD = 5000;

export interface ReadTasksRequest {
  readonly saveDir: string;
  readonly ids: readonly string[];
}

/** The snapshots of the tasks that exist (see readTask), by id. */
export async function readTasks(saveDir: string, ids: readonly string[]): Promise<Map<string, TaskSnapshot>> {
  const threads = Math.max(1, Math.min(availableParallelism(), Math.floor(ids.length / MIN_TASKS_PER_THREAD)));
  const share = Math.ceil(ids.length / threads);
  const shares = Array.from({ length: threads }, (_, i) => ids.slice(i * share, (i + 1) * share));
  const [own = [], ...others] = shares;
  const results = await Promise.all([readShare(saveDir, own), ...others.map(async (part) => adopt(part, await readInWorker({ saveDir, ids: part })))]);
  return new Map(results.flat().map((snapshot) => [snapshot.id, snapshot]));
}

/** Copies from a thread in the shape of our own, each with its id as the string in `ids` (in whose order they come). */
function adopt(ids: readonly string[], copies: readonly TaskSnapshot[]): TaskSnapshot[] {
  let at = 0;
  return copies.map((copy) => {
    while (ids[at] !== copy.id) at++;
    return taskSnapshot(copy, ids[at]);
  });
}

export async function readShare(saveDir: string, ids: readonly string[]): Promise<TaskSnapshot[]> {
  const snapshots: TaskSnapshot[] = [];
  for (const id of ids) {
    const snapshot = await readTask(saveDir, id);
    if (snapshot) snapshots.push(snapshot);
  }
  return snapshots;
}

function readInWorker(request: ReadTasksRequest): Promise<TaskSnapshot[]> {
  const { url, execArgv } = workerModule('./read-tasks-worker', import.meta.url);
  return new Promise((resolve, reject) => {
    // The same young-generation cap as the agent's own (see src/cli/agent.ts).
    const worker = new Worker(url, { workerData: request, execArgv, resourceLimits: { maxYoungGenerationSizeMb: 4 } });
    worker.once('message', (snapshots: TaskSnapshot[]) => resolve(snapshots));
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`task reader thread exited with ${code} before answering`)));
  });
}
