import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { descendants, findWorkers, isAlive, listProcesses, type ProcessInfo } from '../../src/spool/proc.js';
import { cleanupFakeWorkers, startFakeWorker, stopFakeWorkers, WORKER_COMMAND } from '../support/worker.js';

// Plain processes with a chosen argv, for command lines that must not count as workers.
const others = new Set<ChildProcess>();

const IDLE = ['-e', 'setTimeout(() => {}, 60000)'];

/** Runs `command …args`; by default a node that idles, with `args` appended to its argv. */
function startProcess(args: readonly string[], command = process.execPath, prefix = IDLE): ChildProcess {
  const child = spawn(command, [...prefix, ...args], { stdio: 'ignore' });
  others.add(child);
  return child;
}

async function stopProcesses(): Promise<void> {
  const children = [...others];
  others.clear();
  await Promise.all(
    children.map((child) => {
      if (child.exitCode !== null || child.signalCode !== null) return undefined;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      return exited;
    }),
  );
}

function byPid(processes: readonly ProcessInfo[], pid: number | undefined): ProcessInfo | undefined {
  return processes.find((info) => info.pid === pid);
}

let scratch: string;
beforeAll(() => {
  scratch = mkdtempSync(path.join(tmpdir(), 'proc-test-'));
});
afterEach(async () => {
  await stopFakeWorkers();
  await stopProcesses();
});
afterAll(async () => {
  await cleanupFakeWorkers();
  rmSync(scratch, { recursive: true, force: true });
});

describe('listProcesses', () => {
  it('reads pid, ppid, pgid, argv and an absolute start time', async () => {
    const before = Date.now();
    const worker = await startFakeWorker('123456789');
    const info = byPid(await listProcesses(), worker.pid);
    expect(info).toBeDefined();
    expect(info?.ppid).toBe(process.pid);
    expect(info?.pgid).toBe(worker.pid);
    const script = expect.stringMatching(/\/retrace-server-worker$/);
    expect(info?.argv).toEqual([process.execPath, script, '123456789', '--restart']);
    // Start times are in 10 ms ticks since boot, boot time in whole seconds.
    expect(info?.startTimeMs).toBeGreaterThanOrEqual(before - 1500);
    expect(info?.startTimeMs).toBeLessThanOrEqual(Date.now() + 1500);
  });

  it('parses stat when the command name holds spaces and parentheses', async () => {
    // The kernel takes comm from the name of the file exec'd: a link to sleep with an odd name
    // (not node, which renames its main thread).
    const odd = path.join(scratch, 'a) (b c)');
    symlinkSync(execFileSync('sh', ['-c', 'command -v sleep'], { encoding: 'utf8' }).trim(), odd);
    const child = startProcess(['30', '1'], odd, []);
    await new Promise((resolve) => child.once('spawn', resolve));
    expect(readFileSync(`/proc/${child.pid}/stat`, 'utf8')).toContain('(a) (b c))');
    const processes = await listProcesses();
    const info = byPid(processes, child.pid);
    expect(info?.ppid).toBe(process.pid);
    expect(info?.pgid).toBe(byPid(processes, process.pid)?.pgid);
    expect(info?.argv).toEqual([odd, '30', '1']);
    expect(Math.abs((info?.startTimeMs ?? 0) - Date.now())).toBeLessThan(5000);
  });

  it('reads a long command line whole', async () => {
    const long = 'x'.repeat(20_000);
    const child = startProcess([long, 'end']);
    await new Promise((resolve) => child.once('spawn', resolve));
    expect(byPid(await listProcesses(), child.pid)?.argv.slice(-2)).toEqual([long, 'end']);
  });

  it('leaves out zombies', async () => {
    // sh forks `true`, then becomes `sleep`, which never reaps it: a real zombie.
    const child = spawn('sh', ['-c', 'true & exec sleep 30'], { stdio: 'ignore' });
    others.add(child);
    const zombie = await waitFor(() => findZombieChild(child.pid ?? -1));
    const processes = await listProcesses();
    expect(byPid(processes, child.pid)).toBeDefined();
    expect(byPid(processes, zombie.pid)).toBeUndefined();
    expect(await isAlive(zombie.pid, zombie.startTimeMs)).toBe(false);
  });

  it('lists a few hundred processes, each with its parent, quickly', async () => {
    const children = Array.from({ length: 300 }, () => startProcess(['60'], 'sleep', []));
    await Promise.all(children.map((child) => new Promise((resolve) => child.once('spawn', resolve))));
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const start = performance.now();
      const processes = await listProcesses();
      times.push(performance.now() - start);
      const mine = processes.filter((info) => info.ppid === process.pid && info.argv[0] === 'sleep');
      expect(mine.map((info) => info.pid).sort()).toEqual(children.map((child) => child.pid).sort());
    }
    // Measured ≈ 7 ms for 420 processes on an idle host (SPEC: < 20 ms for a few hundred). This
    // box is shared and often loaded, so the bound only catches gross regressions.
    expect(Math.min(...times)).toBeLessThan(200);
  });
});

describe('findWorkers', () => {
  it('finds a real worker with its task id and start time', async () => {
    const before = Date.now();
    const worker = await startFakeWorker('987654321');
    const workers = findWorkers(await listProcesses(), WORKER_COMMAND);
    const found = workers.find((candidate) => candidate.pid === worker.pid);
    expect(found?.taskId).toBe('987654321');
    expect(found?.pgid).toBe(worker.pid);
    expect(Math.abs((found?.startTimeMs ?? 0) - before)).toBeLessThan(3000);
    expect(workers.filter((candidate) => candidate.taskId === '987654321')).toHaveLength(1);
  });

  it('accepts a configured full path as the command (its base name counts)', async () => {
    const worker = await startFakeWorker('42');
    const found = findWorkers(await listProcesses(), `/usr/bin/${WORKER_COMMAND}`);
    expect(found.map((candidate) => candidate.pid)).toContain(worker.pid);
  });

  it('ignores command lines that are not `WorkerCommand <digits>`', async () => {
    const lookalikes = [
      startProcess([`/usr/bin/${WORKER_COMMAND}`, '--restart', '123']),
      startProcess([`/usr/bin/${WORKER_COMMAND}-foo`, '123']),
      startProcess([`${WORKER_COMMAND}x`, '123']),
      startProcess([WORKER_COMMAND, '12a']),
      startProcess([WORKER_COMMAND, '']),
      startProcess(['123', WORKER_COMMAND]),
      startProcess([`/usr/bin/${WORKER_COMMAND} 123`]),
    ];
    const genuine = startProcess([`/opt/bin/${WORKER_COMMAND}`, '555', '-v']);
    await Promise.all([...lookalikes, genuine].map((child) => new Promise((resolve) => child.once('spawn', resolve))));
    const workers = findWorkers(await listProcesses(), WORKER_COMMAND);
    const pids = workers.map((worker) => worker.pid);
    for (const child of lookalikes) expect(pids).not.toContain(child.pid);
    expect(workers.find((worker) => worker.pid === genuine.pid)?.taskId).toBe('555');
  });
});

describe('descendants', () => {
  it('finds the children of a worker that has some', async () => {
    const worker = await startFakeWorker('111', { behave: 'with-children' });
    expect(worker.childPids).toHaveLength(2);
    const processes = await listProcesses();
    const found = descendants(processes, worker.pid);
    expect(found.map((info) => info.pid).sort()).toEqual([...worker.childPids].sort());
    for (const child of found) expect(child.pgid).toBe(worker.pgid);
    expect(descendants(processes, worker.childPids[0] ?? -1)).toEqual([]);
  });

  it('follows any depth and never includes the pid itself', () => {
    const info = (pid: number, ppid: number): ProcessInfo => ({ pid, ppid, pgid: 1, startTimeMs: 0, argv: ['x'] });
    const tree = [info(1, 0), info(10, 1), info(11, 10), info(12, 11), info(20, 1), info(30, 2)];
    expect(descendants(tree, 10).map((p) => p.pid)).toEqual([11, 12]);
    expect(descendants(tree, 1).map((p) => p.pid).sort((a, b) => a - b)).toEqual([10, 11, 12, 20]);
    expect(descendants(tree, 12)).toEqual([]);
  });
});

describe('isAlive', () => {
  it('is true for a live worker and false once it is killed', async () => {
    const worker = await startFakeWorker('222', { behave: 'ignore-sigterm' });
    const info = byPid(await listProcesses(), worker.pid);
    if (!info) throw new Error('worker not listed');
    expect(await isAlive(worker.pid, info.startTimeMs)).toBe(true);
    worker.kill('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(await isAlive(worker.pid, info.startTimeMs)).toBe(true);
    worker.kill('SIGKILL');
    expect(await worker.exited).toEqual({ code: null, signal: 'SIGKILL' });
    expect(await isAlive(worker.pid, info.startTimeMs)).toBe(false);
  });

  it('is false for the same pid with another start time (pid reuse)', async () => {
    const worker = await startFakeWorker('333');
    const info = byPid(await listProcesses(), worker.pid);
    if (!info) throw new Error('worker not listed');
    expect(await isAlive(worker.pid, info.startTimeMs - 10)).toBe(false);
    expect(await isAlive(worker.pid, info.startTimeMs + 10)).toBe(false);
    expect(await isAlive(worker.pid, info.startTimeMs)).toBe(true);
  });

  it('is false for a pid that does not exist', async () => {
    expect(await isAlive(2 ** 22 + 1, Date.now())).toBe(false);
  });
});

it('agrees with the assumed USER_HZ of 100', () => {
  expect(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()).toBe('100');
});

// The exited child of `parent`, read straight from /proc since listProcesses leaves it out.
function findZombieChild(parent: number): { pid: number; startTimeMs: number } | undefined {
  const btime = Number(/^btime (\d+)$/m.exec(readFileSync('/proc/stat', 'utf8'))?.[1]);
  for (const name of readdirSync('/proc').filter((entry) => /^[0-9]+$/.test(entry))) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue;
    }
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] === 'Z' && Number(fields[1]) === parent) {
      return { pid: Number(name), startTimeMs: btime * 1000 + Number(fields[19]) * 10 };
    }
  }
  return undefined;
}

async function waitFor<T>(probe: () => T | undefined, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
