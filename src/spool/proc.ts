// Worker discovery from /proc (SPEC §5). The real worker is a script run by an interpreter,
// `/usr/bin/python3 [-s] /usr/bin/retrace-server-worker <id> [--restart] …`, so a worker is
// recognised by any argv element named WorkerCommand followed by a task id, never by argv[0].

import { closeSync, constants, openSync, readdirSync, readFileSync, readSync } from 'node:fs';
import path from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';

export interface ProcessInfo {
  readonly pid: number;
  readonly ppid: number;
  readonly pgid: number;
  /** Absolute epoch ms; with pid, it identifies a process across pid reuse. */
  readonly startTimeMs: number;
  readonly argv: readonly string[];
}

export interface WorkerProcess extends ProcessInfo {
  readonly taskId: string;
}

const DEFAULT_PROC_ROOT = '/proc';
// /proc/<pid>/stat start times are in USER_HZ ticks. USER_HZ is part of the kernel ABI and is 100
// on every architecture Retrace Server runs on (x86_64, aarch64, ppc64le, s390x; only alpha and
// ia64 differ), so `getconf CLK_TCK` would only cost a fork. The test suite checks it.
const USER_HZ = 100;
// argv is only needed up to the worker's task id; a huge command line is cut here.
const CMDLINE_CAP = 64 * 1024;
// Holds the whole of /proc/<pid>/stat: 52 numbers and a comm of at most 64 bytes.
const STAT_CAP = 4096;
// Between chunks the event loop runs: a host with thousands of processes must not stall it.
const CHUNK = 128;
// What a process exiting (or hidepid) makes reading its files fail with.
const GONE_ERRORS = new Set(['ENOENT', 'ESRCH', 'EACCES', 'EPERM']);
// 1-based field numbers of /proc/<pid>/stat (proc(5)), counted after the comm field.
const FIELD = { state: 3, ppid: 4, pgrp: 5, starttime: 22 } as const;
// Zombie or dead: the process has exited and only waits to be reaped.
const DEAD_STATES = new Set(['Z', 'X', 'x']);
const DIGITS_RE = /^[0-9]+$/;

interface Stat {
  readonly state: string;
  readonly ppid: number;
  readonly pgid: number;
  readonly startTimeMs: number;
}

/**
 * Live user-space processes. Skips kernel threads (empty command line), zombies, and processes
 * that exit while being read. /proc reads never block on a disk, so they are synchronous: through
 * the libuv pool each would cost several times the read itself.
 */
export async function listProcesses(procRoot = DEFAULT_PROC_ROOT): Promise<ProcessInfo[]> {
  const bootMs = bootTimeMs(procRoot);
  const pids = readdirSync(procRoot).filter((name) => DIGITS_RE.test(name));
  const processes: ProcessInfo[] = [];
  for (let i = 0; i < pids.length; i++) {
    if (i > 0 && i % CHUNK === 0) await nextTurn();
    const info = readProcess(procRoot, Number(pids[i]), bootMs);
    if (info) processes.push(info);
  }
  return processes;
}

/** Processes running `<…>/<workerCommand> <id> …`; only the base name of workerCommand counts. */
const scansInFlight = new Map<string, Promise<ProcessInfo[]>>();

/**
 * The process list, shared with every caller that asks while one scan is running: a reaper pass
 * checking 2,000 tasks for live workers at once reads /proc a few hundred times instead of 2,000.
 * A finished scan is never reused, so a caller never sees the table from before it asked by more
 * than one scan's duration.
 */
export function sharedProcessScan(procRoot = DEFAULT_PROC_ROOT): Promise<ProcessInfo[]> {
  const running = scansInFlight.get(procRoot);
  if (running) return running;
  const scan = listProcesses(procRoot).finally(() => scansInFlight.delete(procRoot));
  scansInFlight.set(procRoot, scan);
  return scan;
}

export function findWorkers(processes: readonly ProcessInfo[], workerCommand: string): WorkerProcess[] {
  const command = path.basename(workerCommand);
  const workers: WorkerProcess[] = [];
  for (const info of processes) {
    const taskId = workerTaskId(info.argv, command);
    if (taskId !== undefined) workers.push({ ...info, taskId });
  }
  return workers;
}

function workerTaskId(argv: readonly string[], command: string): string | undefined {
  for (let i = 0; i + 1 < argv.length; i++) {
    const next = argv[i + 1] ?? '';
    if (path.basename(argv[i] ?? '') === command && DIGITS_RE.test(next)) return next;
  }
  return undefined;
}

/** Every descendant of `pid` (any depth, by ppid), without `pid` itself. */
export function descendants(processes: readonly ProcessInfo[], pid: number): ProcessInfo[] {
  const children = new Map<number, ProcessInfo[]>();
  for (const info of processes) {
    const siblings = children.get(info.ppid);
    if (siblings) siblings.push(info);
    else children.set(info.ppid, [info]);
  }
  const found: ProcessInfo[] = [];
  const seen = new Set([pid]);
  const queue = [pid];
  for (let parent = queue.shift(); parent !== undefined; parent = queue.shift()) {
    for (const child of children.get(parent) ?? []) {
      if (seen.has(child.pid)) continue;
      seen.add(child.pid);
      found.push(child);
      queue.push(child.pid);
    }
  }
  return found;
}

/** True only if `pid` is still the process that started at `startTimeMs` and has not exited. */
export async function isAlive(pid: number, startTimeMs: number, procRoot = DEFAULT_PROC_ROOT): Promise<boolean> {
  const stat = readStat(procRoot, pid, bootTimeMs(procRoot));
  return stat !== undefined && !DEAD_STATES.has(stat.state) && stat.startTimeMs === startTimeMs;
}

function readProcess(procRoot: string, pid: number, bootMs: number): ProcessInfo | undefined {
  // stat before cmdline: if the pid is reused in between, the new process's argv gets the old
  // start time, which isAlive() rejects, so the new process is never signalled as a worker.
  const stat = readStat(procRoot, pid, bootMs);
  if (!stat || DEAD_STATES.has(stat.state)) return undefined;
  const argv = readArgv(procRoot, pid);
  if (!argv) return undefined;
  return { pid, ppid: stat.ppid, pgid: stat.pgid, startTimeMs: stat.startTimeMs, argv };
}

function readStat(procRoot: string, pid: number, bootMs: number): Stat | undefined {
  const length = readInto(`${procRoot}/${pid}/stat`, statBuffer);
  return length === undefined ? undefined : parseStat(statBuffer.toString('utf8', 0, length), bootMs);
}

// `pid (comm) state ppid …`: comm may hold spaces and ')', so the fields start after the last ')'.
function parseStat(text: string, bootMs: number): Stat | undefined {
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const field = (n: number): string => fields[n - FIELD.state] ?? '';
  const [ppid, pgid, ticks] = [field(FIELD.ppid), field(FIELD.pgrp), field(FIELD.starttime)];
  if (!DIGITS_RE.test(ppid) || !DIGITS_RE.test(pgid) || !DIGITS_RE.test(ticks)) return undefined;
  return {
    state: field(FIELD.state),
    ppid: Number(ppid),
    pgid: Number(pgid),
    startTimeMs: bootMs + (Number(ticks) * 1000) / USER_HZ,
  };
}

/** undefined for a kernel thread (empty command line) or a process that is gone. */
function readArgv(procRoot: string, pid: number): string[] | undefined {
  const length = readInto(`${procRoot}/${pid}/cmdline`, cmdlineBuffer);
  if (!length) return undefined;
  const argv = cmdlineBuffer.toString('utf8', 0, length).split('\0');
  // Each arg ends in NUL, leaving an empty tail; a cut command line ends in a partial arg instead.
  // A process that rewrote its title may end without NUL: then the tail is its title.
  if (cmdlineBuffer[length - 1] === 0 || length === CMDLINE_CAP) argv.pop();
  return argv;
}

// Reads are synchronous, so one buffer per file kind serves them all.
const statBuffer = Buffer.allocUnsafe(STAT_CAP);
const cmdlineBuffer = Buffer.allocUnsafe(CMDLINE_CAP);

/** Reads a /proc file into `buffer`: the length read, or undefined when the process is gone. */
function readInto(file: string, buffer: Buffer): number | undefined {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY);
  } catch (error) {
    return gone(error);
  }
  try {
    // The kernel generates these files whole on read (seq_file, get_mm_cmdline), so one read
    // returns everything that fits.
    return readSync(fd, buffer, 0, buffer.length, 0);
  } catch (error) {
    return gone(error);
  } finally {
    closeSync(fd);
  }
}

function gone(error: unknown): undefined {
  if (GONE_ERRORS.has((error as NodeJS.ErrnoException).code ?? '')) return undefined;
  throw error;
}

// btime moves when the wall clock is stepped; reading it once keeps every start time computed
// by this process comparable with every other, which is what pid-reuse checks need.
const bootTimes = new Map<string, number>();

function bootTimeMs(procRoot: string): number {
  let bootMs = bootTimes.get(procRoot);
  if (bootMs === undefined) {
    const btime = /^btime (\d+)$/m.exec(readFileSync(`${procRoot}/stat`, 'latin1'))?.[1];
    if (btime === undefined) throw new Error(`${procRoot}/stat has no btime line`);
    bootMs = Number(btime) * 1000;
    bootTimes.set(procRoot, bootMs);
  }
  return bootMs;
}
