import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { killWorker, signalProcesses } from '../../../src/reaper/effects/kill.js';
import { listProcesses } from '../../../src/spool/proc.js';
import { cleanupFakeWorkers, startFakeWorker, stopFakeWorkers, WORKER_COMMAND } from '../../support/worker.js';
import { createEffectsEnv, uniqueTaskId, type EffectsEnv } from '../fixtures/effects.js';

const ID = uniqueTaskId();
const OTHER_ID = uniqueTaskId();

const IDLE = 'setInterval(() => {}, 1000)';
// The worker starts a middle process that starts a grandchild and exits: the grandchild is
// re-parented away from the worker but stays in the worker's process group.
const MIDDLE = `
const grandchild = require('node:child_process').spawn(process.execPath, ['-e', ${JSON.stringify(IDLE)}], { stdio: 'ignore' });
console.log(JSON.stringify({ orphan: grandchild.pid }));
process.exit(0);
`;
const ORPHAN_A_GRANDCHILD = `
const middle = require('node:child_process').spawn(process.execPath, ['-e', ${JSON.stringify(MIDDLE)}], { stdio: ['ignore', 'pipe', 'ignore'] });
middle.stdout.pipe(process.stdout);
setInterval(() => {}, 1000);
`;

const started = new Set<ChildProcess>();
const strays = new Set<number>();

/** A process whose argv ends in `args`: `node -e <script> …args`; detached leads its own group. */
function startProcess(args: readonly string[], options: { detached?: boolean; script?: string } = {}): ChildProcess {
  const child = spawn(process.execPath, ['-e', options.script ?? IDLE, ...args], {
    detached: options.detached ?? false,
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  started.add(child);
  return child;
}

async function firstLine(child: ChildProcess): Promise<string> {
  const lines = createInterface({ input: child.stdout! });
  return new Promise((resolve) => lines.once('line', resolve));
}

async function running(pid: number): Promise<boolean> {
  return (await listProcesses()).some((info) => info.pid === pid);
}

async function waitRunning(pid: number): Promise<void> {
  for (let i = 0; i < 100 && !(await running(pid)); i++) await new Promise((resolve) => setTimeout(resolve, 20));
}

async function exitedMiddle(workerPid: number): Promise<void> {
  for (let i = 0; i < 100 && (await listProcesses()).some((p) => p.ppid === workerPid); i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function exited(child: ChildProcess): Promise<NodeJS.Signals | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.signalCode);
  return new Promise((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
}

let env: EffectsEnv;
beforeEach(async () => {
  env = await createEffectsEnv();
});
afterEach(async () => {
  await stopFakeWorkers();
  for (const child of started) child.kill('SIGKILL');
  await Promise.all([...started].map(exited));
  started.clear();
  for (const pid of strays) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  strays.clear();
  await env.cleanup();
});
afterAll(cleanupFakeWorkers);

describe('killWorker', () => {
  it('stops a worker with SIGTERM', async () => {
    const worker = await startFakeWorker(ID);
    const outcome = await killWorker(ID, env.ctx);
    expect(outcome).toMatchObject({ ok: true, detail: expect.stringMatching(/SIGTERM/) });
    expect((await worker.exited).signal).toBe('SIGTERM');
  });

  it('sends SIGKILL after KillGrace to a worker that ignores SIGTERM', async () => {
    const worker = await startFakeWorker(ID, { behave: 'ignore-sigterm' });
    const before = Date.now();
    const outcome = await killWorker(ID, env.ctx);
    expect(outcome).toMatchObject({ ok: true, detail: expect.stringContaining(String(worker.pid)) });
    expect(Date.now() - before).toBeGreaterThanOrEqual(env.ctx.killGraceMs);
    expect((await worker.exited).signal).toBe('SIGKILL');
  });

  it('stops the worker and all its children', async () => {
    const worker = await startFakeWorker(ID, { behave: 'with-children' });
    expect(worker.childPids).toHaveLength(2);
    expect(await killWorker(ID, env.ctx)).toMatchObject({ ok: true });
    await worker.exited;
    for (const pid of worker.childPids) expect(await running(pid)).toBe(false);
  });

  it('also stops an orphaned process left in the group the worker leads', async () => {
    const worker = startProcess([WORKER_COMMAND, ID], { detached: true, script: ORPHAN_A_GRANDCHILD });
    const { orphan } = JSON.parse(await firstLine(worker)) as { orphan: number };
    strays.add(orphan);
    // Once the middle process is gone, the grandchild descends from the worker no more.
    await exitedMiddle(worker.pid!);
    const info = (await listProcesses()).find((p) => p.pid === orphan);
    expect(info?.pgid).toBe(worker.pid);
    expect(info?.ppid).not.toBe(worker.pid);
    expect(await killWorker(ID, env.ctx)).toMatchObject({ ok: true });
    expect(await running(orphan)).toBe(false);
  });

  it('answers ok with nothing to do when no worker runs', async () => {
    expect(await killWorker(ID, env.ctx)).toEqual({ ok: true, detail: 'no live worker' });
  });

  it('leaves a worker started after startedBeforeMs alone', async () => {
    const bound = Date.now() - 5_000;
    const worker = await startFakeWorker(ID);
    expect(await killWorker(ID, env.ctx, { startedBeforeMs: bound })).toEqual({ ok: true, detail: 'no live worker' });
    expect(await running(worker.pid)).toBe(true);
  });
});

describe('killWorker signals only the worker and its descendants (SPEC §6.3)', () => {
  it('spares the worker of another task and processes merely named like the worker', async () => {
    const other = await startFakeWorker(OTHER_ID);
    const lookalike = startProcess([`${WORKER_COMMAND}-helper`, ID]);
    const doc = startProcess(['less', `/usr/share/doc/${WORKER_COMMAND}`, `${ID}x`]);
    const target = await startFakeWorker(ID);
    await Promise.all([waitRunning(lookalike.pid!), waitRunning(doc.pid!)]);
    expect(await killWorker(ID, env.ctx)).toMatchObject({ ok: true });
    await target.exited;
    for (const pid of [other.pid, lookalike.pid!, doc.pid!]) expect(await running(pid)).toBe(true);
  });

  it('spares a process that shares the pgid of a worker that does not lead its group', async () => {
    // Not detached: the worker and the bystander are both in this test's process group.
    const worker = startProcess([WORKER_COMMAND, ID]);
    const bystander = startProcess([]);
    await Promise.all([waitRunning(worker.pid!), waitRunning(bystander.pid!)]);
    const infos = await listProcesses();
    const pgidOf = (pid: number | undefined): number | undefined => infos.find((p) => p.pid === pid)?.pgid;
    expect(pgidOf(worker.pid)).toBe(pgidOf(bystander.pid));
    expect(pgidOf(worker.pid)).not.toBe(worker.pid);
    expect(await killWorker(ID, env.ctx)).toMatchObject({ ok: true });
    expect(await exited(worker)).toBe('SIGTERM');
    expect(await running(bystander.pid!)).toBe(true);
  });

  it('does not signal a pid whose start time changed (pid reuse)', async () => {
    const child = startProcess([]);
    await waitRunning(child.pid!);
    const info = (await listProcesses()).find((p) => p.pid === child.pid)!;
    // As if the pid had been given to this process after a worker with it was seen.
    expect(await signalProcesses([{ pid: info.pid, startTimeMs: info.startTimeMs - 10 }], 'SIGKILL')).toEqual([]);
    expect(await running(info.pid)).toBe(true);
    expect(await signalProcesses([info], 'SIGKILL')).toEqual([info.pid]);
    expect(await exited(child)).toBe('SIGKILL');
  });
});
