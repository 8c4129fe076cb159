// Stopping a task's worker (SPEC §6.1 rule 1, §6.3). Only processes whose command line is
// `WorkerCommand <id>` and their descendants are signalled, each re-checked by start time right
// before its signal, so a pid the kernel has since given to another process is never hit.
// No kill(-pgid): a worker that did not setpgrp shares its group with whoever started it.

import { setTimeout as sleep } from 'node:timers/promises';
import { descendants, findWorkers, isAlive, listProcesses, sharedProcessScan, type ProcessInfo, type WorkerProcess } from '../../spool/proc.js';
import { assertTaskId, failed, succeeded, type EffectOutcome, type ReapContext } from './context.js';

export interface KillOptions {
  /**
   * Only workers started at or before this (epoch ms) are targets: a worker restarted after the
   * over-time decision was made has its own time limit.
   */
  readonly startedBeforeMs?: number;
}

const POLL_MS = 50;
// After SIGKILL a process is gone within milliseconds unless stuck in the kernel (D state).
const SIGKILL_WAIT_MS = 5_000;

/** The task's live workers (from a process scan shared with concurrent callers). */
export async function liveWorkers(taskId: string, ctx: ReapContext): Promise<WorkerProcess[]> {
  return findWorkers(await sharedProcessScan(ctx.procRoot), ctx.workerCommand).filter((worker) => worker.taskId === taskId);
}

/** SIGTERM to the task's worker and its descendants; after killGraceMs, SIGKILL to what is left. */
export async function killWorker(taskId: string, ctx: ReapContext, options: KillOptions = {}): Promise<EffectOutcome> {
  assertTaskId(taskId);
  const scan = workerTree(taskId, ctx, options);
  const targets = await scan();
  if (targets.length === 0) return succeeded('no live worker');
  const pids = targets.map((target) => target.pid);
  ctx.log.info({ taskId, pids }, 'SIGTERM to worker and descendants');
  await signalProcesses(targets, 'SIGTERM');

  let left = await scan();
  for (const graceEnd = Date.now() + ctx.killGraceMs; left.length > 0 && Date.now() < graceEnd; left = await scan()) {
    await sleep(POLL_MS);
  }
  if (left.length === 0) return succeeded(`worker stopped on SIGTERM (pids ${pids.join(' ')})`);

  ctx.log.warn({ taskId, pids: left.map((info) => info.pid) }, 'SIGKILL after grace');
  const killed = new Set<number>();
  const deadline = Date.now() + SIGKILL_WAIT_MS;
  while (left.length > 0) {
    if (Date.now() > deadline) {
      return failed('worker_alive', `still alive ${SIGKILL_WAIT_MS} ms after SIGKILL: pids ${left.map((info) => info.pid).join(' ')}`);
    }
    for (const pid of await signalProcesses(left, 'SIGKILL')) killed.add(pid);
    await sleep(POLL_MS);
    left = await scan();
  }
  return succeeded(`worker stopped; SIGKILL needed for pids ${[...killed].join(' ')}`);
}

/**
 * Sends `signal` to each process that is still the one identified by pid and start time;
 * returns the pids signalled.
 */
export async function signalProcesses(targets: readonly Pick<ProcessInfo, 'pid' | 'startTimeMs'>[], signal: NodeJS.Signals): Promise<number[]> {
  const signalled: number[] = [];
  for (const { pid, startTimeMs } of targets) {
    if (!(await isAlive(pid, startTimeMs))) continue;
    try {
      process.kill(pid, signal);
      signalled.push(pid);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
    }
  }
  return signalled;
}

/**
 * Returns a scan of the processes to stop, re-found each time. Once the worker exits its children
 * are re-parented and no longer descend from it, so every process found is remembered (by pid
 * and start time) and its own descendants are followed. Members of the group the worker leads
 * count while the worker lives: they are children that mock or gdb detached from their parent.
 */
function workerTree(taskId: string, ctx: ReapContext, { startedBeforeMs }: KillOptions): () => Promise<ProcessInfo[]> {
  const known = new Map<number, number>();
  return async () => {
    const processes = await listProcesses(ctx.procRoot);
    const workers = new Set(
      findWorkers(processes, ctx.workerCommand)
        .filter((worker) => worker.taskId === taskId && (startedBeforeMs === undefined || worker.startTimeMs <= startedBeforeMs))
        .map((worker) => worker.pid),
    );
    const isRoot = (info: ProcessInfo): boolean =>
      workers.has(info.pid) || known.get(info.pid) === info.startTimeMs || workers.has(info.pgid);
    const found = new Map<number, ProcessInfo>();
    for (const root of processes.filter(isRoot)) {
      found.set(root.pid, root);
      for (const child of descendants(processes, root.pid)) found.set(child.pid, child);
    }
    for (const info of found.values()) known.set(info.pid, info.startTimeMs);
    return [...found.values()];
  };
}
