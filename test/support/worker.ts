// Starts real processes whose command line is the real worker's: `<interpreter>
// <dir>/retrace-server-worker <id> --restart`, the interpreter being this test's node instead of
// python3. Each leads its own process group, like the real worker after setpgrp().

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export type FakeWorkerBehaviour = 'sleep' | 'ignore-sigterm' | 'with-children' | 'finish-success' | 'finish-failure';

export interface FakeWorkerOptions {
  /** Required by the finish-* behaviours, which write the task files there. */
  readonly taskDir?: string;
  readonly behave?: FakeWorkerBehaviour;
  /** How long it sleeps, or how long the finish-* phases take in all. */
  readonly durationMs?: number;
}

export interface FakeWorker {
  readonly pid: number;
  readonly pgid: number;
  /** The pids of the 'with-children' children. */
  readonly childPids: readonly number[];
  /** Signals the worker process only. */
  kill(signal?: NodeJS.Signals): void;
  /** Signals the worker's whole process group. */
  killGroup(signal?: NodeJS.Signals): void;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export const WORKER_COMMAND = 'retrace-server-worker';
const SCRIPT = fileURLToPath(new URL('fake-worker.mjs', import.meta.url));
const READY_TIMEOUT_MS = 10_000;

let scriptDir: string | undefined;
const running = new Set<FakeWorker>();

// A symlink gives the script the worker's base name; node runs the target, an ES module.
function workerScript(): string {
  if (!scriptDir) {
    scriptDir = mkdtempSync(path.join(tmpdir(), 'fake-worker-'));
    symlinkSync(SCRIPT, path.join(scriptDir, WORKER_COMMAND));
  }
  return path.join(scriptDir, WORKER_COMMAND);
}

/** Resolves once the worker has set itself up (signal handlers, children, retrace_log). */
export async function startFakeWorker(taskId: string, options: FakeWorkerOptions = {}): Promise<FakeWorker> {
  const behave = options.behave ?? 'sleep';
  if (behave.startsWith('finish-') && !options.taskDir) throw new Error(`${behave} needs a taskDir`);
  const child = spawn(process.execPath, [workerScript(), taskId, '--restart'], {
    detached: true,
    stdio: ['pipe', 'pipe', 'inherit'],
    env: {
      ...process.env,
      FAKE_WORKER_BEHAVE: behave,
      FAKE_WORKER_DURATION_MS: String(options.durationMs ?? 60_000),
      FAKE_WORKER_TASK_DIR: options.taskDir ?? '',
    },
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const pid = child.pid;
  if (pid === undefined) throw new Error('fake worker did not start');
  const signalGroup = (signal: NodeJS.Signals): void => {
    try {
      process.kill(-pid, signal);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
    }
  };
  const worker: FakeWorker = {
    pid,
    pgid: pid,
    childPids: [],
    kill: (signal = 'SIGKILL') => child.kill(signal),
    killGroup: (signal = 'SIGKILL') => signalGroup(signal),
    exited,
  };
  running.add(worker);
  const childPids = await waitReady(child.stdout, exited);
  return { ...worker, childPids };
}

async function waitReady(
  stdout: NodeJS.ReadableStream,
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>,
): Promise<number[]> {
  const lines = createInterface({ input: stdout });
  const ready = new Promise<number[]>((resolve) =>
    lines.once('line', (line) => resolve((JSON.parse(line) as { children: number[] }).children)),
  );
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('fake worker not ready in time')), READY_TIMEOUT_MS);
  });
  const died = exited.then((how) => Promise.reject(new Error(`fake worker exited early: ${JSON.stringify(how)}`)));
  try {
    return await Promise.race([ready, timeout, died]);
  } finally {
    clearTimeout(timer);
  }
}

/** SIGKILLs every worker's process group (children included) and waits for the workers to exit. */
export async function stopFakeWorkers(): Promise<void> {
  const workers = [...running];
  running.clear();
  for (const worker of workers) worker.killGroup('SIGKILL');
  await Promise.all(workers.map((worker) => worker.exited));
}

/** For afterAll: also removes the script's temp dir. */
export async function cleanupFakeWorkers(): Promise<void> {
  await stopFakeWorkers();
  if (scriptDir) rmSync(scriptDir, { recursive: true, force: true });
  scriptDir = undefined;
}
