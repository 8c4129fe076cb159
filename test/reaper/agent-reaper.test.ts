// The reaper inside the running agent: every rule acts at its due time (thresholds shortened,
// mtimes moved into the past), with real worker processes and real files.
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../../src/agent/agent.js';
import { createLogger } from '../../src/log.js';
import type { ReapResult } from '../../src/reaper/perform.js';
import { createTestSpool, uniqueTaskId, writeTask, type TestSpool } from '../support/spool.js';
import { cleanupFakeWorkers, startFakeWorker, stopFakeWorkers } from '../support/worker.js';

const log = createLogger({ name: 'test', level: 'silent' });
// Unique ids: other test files run fake workers at the same time.
const T100000001 = uniqueTaskId();
const T200000002 = uniqueTaskId();
const T300000003 = uniqueTaskId();
const T300000004 = uniqueTaskId();
const T400000001 = uniqueTaskId();
const T400000002 = uniqueTaskId();
const T400000003 = uniqueTaskId();
const T500000005 = uniqueTaskId();
const T600000006 = uniqueTaskId();
const T700000007 = uniqueTaskId();
const HOUR = 3600;

async function waitFor<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 8000): Promise<T> {
  const start = Date.now();
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('the reaper in the agent', () => {
  let spool: TestSpool;
  let agent: Agent | undefined;
  let reaped: ReapResult[];

  const startAgent = async (agentLines: string[], retraceLines: string[] = []): Promise<Agent> => {
    await mkdir(join(spool.root, 'plugins'), { recursive: true });
    agent = await Agent.start({ configPath: await spool.writeConfig(agentLines, retraceLines), pluginDir: join(spool.root, 'plugins'), log });
    reaped = [];
    agent['reaper'].on('reaped', (result) => reaped.push(result));
    return agent;
  };
  const readStatus = async (id: string): Promise<string> => (await readFile(join(spool.saveDir, id, 'status'), 'utf8')).trim();
  const cleanupLog = async (): Promise<string> => readFile(join(spool.root, 'log', 'cleanup.log'), 'utf8');

  afterEach(async () => {
    await agent?.stop();
    agent = undefined;
    await stopFakeWorkers();
    await spool?.cleanup();
  });
  afterAll(cleanupFakeWorkers);

  it('kills an over-time worker that ignores SIGTERM and finishes its task as failed', async () => {
    spool = await createTestSpool();
    const dir = await writeTask(spool.saveDir, T100000001, { log: 'started\n', status: 2 });
    await mkdir(join(spool.root, 'mock', T100000001), { recursive: true });
    const worker = await startFakeWorker(T100000001, { taskDir: dir, behave: 'ignore-sigterm', durationMs: 60_000 });
    await startAgent(['MaxTaskRuntime = 2', 'KillGrace = 1']);
    const result = await waitFor('the over-time kill', () => reaped.find((r) => r.action.reason === 'overtime'));
    expect(result.ok).toBe(true);
    expect(await worker.exited).toMatchObject({ signal: 'SIGKILL' });
    expect(await readStatus(T100000001)).toBe('7');
    expect(existsSync(join(dir, 'finished_time'))).toBe(true);
    expect(await readFile(join(dir, 'retrace_log'), 'utf8')).toMatch(/\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] \[E\] Killed by the garbage collector after running for 0:00:0\d/);
    expect(await cleanupLog()).toMatch(new RegExp(`^Killing task ${T100000001} running for 0:00:0\\d$`, 'm'));
    expect(existsSync(join(spool.root, 'mock', T100000001))).toBe(false);
    // Due at start + 2 s; done after the 1 s kill grace.
    expect(result.delayMs).toBeLessThan(2500);
    await waitFor('the failure state', () => agent!.spool.get(T100000001)?.state === 'failure');
  });

  it('finishes a task whose worker was SIGKILLed within about a second', async () => {
    spool = await createTestSpool();
    const dir = await writeTask(spool.saveDir, T200000002, { log: 'started\n', status: 2 });
    const worker = await startFakeWorker(T200000002, { taskDir: dir, behave: 'with-children', durationMs: 60_000 });
    await startAgent([]);
    expect(agent!.spool.get(T200000002)?.state).toBe('running');
    worker.killGroup('SIGKILL');
    const killedAt = Date.now();
    const result = await waitFor('the crashed task to be finished', () => reaped.find((r) => r.action.reason === 'crashed'));
    expect(result.ok).toBe(true);
    expect(Date.now() - killedAt).toBeLessThan(3000);
    expect(await readStatus(T200000002)).toBe('7');
    expect(await cleanupLog()).toContain(`Cleaning up orphaned task ${T200000002}`);
  });

  it('finishes a task no worker picked up after OrphanGrace, but not a managed one', async () => {
    spool = await createTestSpool();
    await writeTask(spool.saveDir, T300000003, {});
    await writeTask(spool.saveDir, T300000004, { managed: true });
    await startAgent(['OrphanGrace = 1'], ['AllowTaskManager = 1']);
    await waitFor('the orphan', () => reaped.find((r) => r.taskId === T300000003));
    expect(await readStatus(T300000003)).toBe('7');
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(existsSync(join(spool.saveDir, T300000004, 'status'))).toBe(false);
    expect(reaped.map((r) => r.taskId)).toEqual([T300000003]);
  });

  it('removes old tasks at mtime + DeleteTaskAfter, failed ones at DeleteFailedTaskAfter, with chroots', async () => {
    spool = await createTestSpool();
    const now = Math.floor(Date.now() / 1000);
    await writeTask(spool.saveDir, T400000001, { status: 6, finishedTime: now, backtrace: 'x', mtime: now - 5 * HOUR + 1 });
    await writeTask(spool.saveDir, T400000002, { status: 7, finishedTime: now, mtime: now - 2 * HOUR + 2 });
    await writeTask(spool.saveDir, T400000003, { status: 6, finishedTime: now, backtrace: 'x', mtime: now - 2 * HOUR });
    await mkdir(join(spool.saveDir, `${T400000001}-kernel`));
    await mkdir(join(spool.root, 'mock', `${T400000001}-kernel-bootstrap`), { recursive: true });
    await startAgent([], ['DeleteTaskAfter = 5', 'DeleteFailedTaskAfter = 2']);
    await waitFor('both removals', () => reaped.filter((r) => r.ok).length === 2);
    expect(new Map(reaped.map((r) => [r.taskId, r.action.reason]))).toEqual(new Map([[T400000001, 'expired'], [T400000002, 'expired_failed']]));
    expect((await readdir(spool.saveDir)).filter((name) => !name.startsWith('.'))).toEqual([T400000003]);
    expect(existsSync(join(spool.root, 'mock', `${T400000001}-kernel-bootstrap`))).toBe(false);
    for (const result of reaped) expect(result.delayMs).toBeLessThan(1000);
    const text = await cleanupLog();
    expect(text).toContain(`Deleting old task ${T400000001}\n`);
    expect(text).toContain(`Deleting old failed task ${T400000002}\n`);
  });

  it('archives to DropDir before removing', async () => {
    spool = await createTestSpool();
    const now = Math.floor(Date.now() / 1000);
    await writeTask(spool.saveDir, T500000005, { status: 6, finishedTime: now, backtrace: 'the backtrace', mtime: now - HOUR + 1 });
    await startAgent([], ['DeleteTaskAfter = 0', 'ArchiveTaskAfter = 1']);
    const result = await waitFor('the archive', () => reaped.find((r) => r.taskId === T500000005));
    expect(result).toMatchObject({ ok: true, action: { reason: 'archived' } });
    const archives = await readdir(join(spool.root, 'archive'));
    expect(archives).toEqual([expect.stringMatching(new RegExp(`^${T500000005}-\\d{14}\\.tar\\.gz$`))]);
    expect(existsSync(join(spool.saveDir, T500000005))).toBe(false);
  });

  it('removes and archives nothing when check_config refuses, and says so in /metrics', async () => {
    spool = await createTestSpool();
    const now = Math.floor(Date.now() / 1000);
    await writeTask(spool.saveDir, T600000006, { status: 7, finishedTime: now, mtime: now - 100 * HOUR });
    await startAgent([], ['DeleteTaskAfter = 1', 'DeleteFailedTaskAfter = 2']);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(existsSync(join(spool.saveDir, T600000006))).toBe(true);
    expect(reaped).toEqual([]);
    const metrics = await (await fetch(`http://127.0.0.1:${agent!.listenAddress.port}/metrics`)).text();
    expect(metrics).toContain('retrace_agent_config_error 1');
  });

  it('counts reaped tasks and the reap delay in /metrics', async () => {
    spool = await createTestSpool();
    const now = Math.floor(Date.now() / 1000);
    await writeTask(spool.saveDir, T700000007, { status: 6, finishedTime: now, backtrace: 'x', mtime: now - HOUR });
    await startAgent([], ['DeleteTaskAfter = 1', 'DeleteFailedTaskAfter = 0']);
    await waitFor('the removal', () => reaped.find((r) => r.taskId === T700000007));
    const metrics = await (await fetch(`http://127.0.0.1:${agent!.listenAddress.port}/metrics`)).text();
    expect(metrics).toContain('retrace_agent_tasks_reaped_total{reason="expired"} 1');
    expect(metrics).toContain('retrace_agent_reap_delay_seconds_count{reason="expired"} 1');
    expect(metrics).toContain('retrace_agent_tasks_reaped_total{reason="overtime"} 0');
  });
});
