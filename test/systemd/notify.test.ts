// The sd_notify protocol against a real unix datagram socket: first the notifier alone (path and
// abstract sockets), then the real agent as systemd runs it (NOTIFY_SOCKET, WATCHDOG_USEC,
// JOURNAL_STREAM): READY with STATUS, watchdog pings, RELOADING/READY around SIGHUP with a good and
// a bad config, STOPPING and exit 0 on SIGTERM.

import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { createNotifier, formatMessage, watchdogPeriodMs } from '../../src/systemd/notify.js';
import { createTestSpool, writeTask, type TestSpool } from '../support/spool.js';
import { openNotifySocket, type NotifySocket } from './notify-socket.js';

const ROOT = join(import.meta.dirname, '..', '..');

describe('the notifier', () => {
  let socket: NotifySocket | undefined;
  let spool: TestSpool | undefined;
  afterEach(async () => {
    socket?.close();
    socket = undefined;
    await spool?.cleanup();
    spool = undefined;
  });

  it('is a no-op without NOTIFY_SOCKET', async () => {
    const notifier = createNotifier({ WATCHDOG_USEC: '2000000' });
    expect(notifier.enabled).toBe(false);
    notifier.ready('x');
    notifier.watchdog();
    await notifier.close();
  });

  it('arms the watchdog only for our pid', () => {
    expect(watchdogPeriodMs({ WATCHDOG_USEC: '30000000' }, 42)).toBe(30_000);
    expect(watchdogPeriodMs({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '42' }, 42)).toBe(30_000);
    expect(watchdogPeriodMs({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '43' }, 42)).toBeUndefined();
    expect(watchdogPeriodMs({}, 42)).toBeUndefined();
    expect(watchdogPeriodMs({ WATCHDOG_USEC: 'x' }, 42)).toBeUndefined();
  });

  it('formats several fields as one datagram, one line each', () => {
    expect(formatMessage({ READY: '1', STATUS: 'a\nb' })).toBe('READY=1\nSTATUS=a b');
    expect(() => formatMessage({ 'bad key': '1' })).toThrow(/not an sd_notify key/);
  });

  it.each([
    ['a path socket', () => join(spool!.root, 'notify.sock')],
    ['an abstract socket', () => `@retrace-agent-test-${randomBytes(6).toString('hex')}`],
  ])('sends each message as one datagram to %s, in order', async (_, address) => {
    spool = await createTestSpool();
    socket = await openNotifySocket(address());
    const notifier = createNotifier({ ...process.env, NOTIFY_SOCKET: socket.address });
    expect(notifier.enabled).toBe(true);
    notifier.ready('tracking 1 tasks');
    notifier.status('one line');
    notifier.watchdog();
    notifier.stopping();
    await notifier.close();
    await socket.waitFor((m) => m === 'STOPPING=1');
    expect(socket.messages).toEqual(['READY=1\nSTATUS=tracking 1 tasks', 'STATUS=one line', 'WATCHDOG=1', 'STOPPING=1']);
  });
});

interface RunningAgent {
  readonly child: ChildProcess;
  /** Log lines as written (with the journald prefix). */
  readonly lines: string[];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The first line at or after index `from` that matches. */
  waitForLog(pattern: RegExp, from: number, timeoutMs?: number): Promise<string>;
}

function startAgent(config: string, pluginDir: string, notifySocket: string): RunningAgent {
  const child = spawn(process.execPath, ['--import', join(ROOT, 'scripts/ts-loader.mjs'), join(ROOT, 'src/cli/agent.ts'),
    '--config', config, '--plugin-dir', pluginDir, '--listen', '127.0.0.1:0'], {
    env: { ...process.env, NOTIFY_SOCKET: notifySocket, WATCHDOG_USEC: '2000000', JOURNAL_STREAM: '8:12345' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  createInterface({ input: child.stdout! }).on('line', (line) => {
    lines.push(line);
    for (const wake of waiters) wake();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  return {
    child,
    lines,
    exited,
    waitForLog(pattern, from, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const wake = (): void => {
          const line = lines.slice(from).find((l) => pattern.test(l));
          if (!line) return;
          waiters.delete(wake);
          clearTimeout(timer);
          resolve(line);
        };
        const timer = setTimeout(() => {
          waiters.delete(wake);
          reject(new Error(`no log line matching ${pattern} within ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.add(wake);
        wake();
      });
    },
  };
}

describe('the agent under a Type=notify unit', () => {
  let socket: NotifySocket | undefined;
  let spool: TestSpool | undefined;
  let agent: RunningAgent | undefined;
  afterEach(async () => {
    if (agent && agent.child.exitCode === null && agent.child.signalCode === null) {
      agent.child.kill('SIGKILL');
      await agent.exited;
    }
    agent = undefined;
    socket?.close();
    socket = undefined;
    await spool?.cleanup();
    spool = undefined;
  });

  it('notifies READY, STATUS, WATCHDOG, reloads on SIGHUP and stops on SIGTERM', async () => {
    spool = await createTestSpool();
    const now = Math.floor(Date.now() / 1000);
    await writeTask(spool.saveDir, '510000001', { status: 6, startedTime: now - 60, finishedTime: now - 1, backtrace: 'bt' });
    await writeTask(spool.saveDir, '510000002', { status: 7, startedTime: now - 60, finishedTime: now - 1 });
    await writeTask(spool.saveDir, '510000003', {});
    const pluginDir = join(spool.root, 'plugins');
    await mkdir(pluginDir);
    const config = await spool.writeConfig(['ReconcileInterval = 1']);
    socket = await openNotifySocket(join(spool.root, 'notify.sock'));

    agent = startAgent(config, pluginDir, socket.address);
    const ready = await socket.waitFor((m) => m.startsWith('READY=1'));
    expect(ready).toBe(0);
    expect(socket.messages[0]).toMatch(/^READY=1\nSTATUS=tracking 3 tasks \(1 queued, 0 running\); next reconcile in \d+ s$/);
    // WATCHDOG_USEC=2 s: a ping every second while healthy.
    const firstPing = await socket.waitFor((m) => m === 'WATCHDOG=1');
    await socket.waitFor((m) => m === 'WATCHDOG=1', { from: firstPing + 1, timeoutMs: 5000 });
    // The STATUS line is refreshed after each reconcile (every second here).
    await socket.waitFor((m) => m.startsWith('STATUS=tracking 3 tasks'), { from: 1, timeoutMs: 5000 });

    // Under journald (JOURNAL_STREAM) each line carries its syslog priority.
    const readyLine = agent.lines.find((l) => l.includes('"agent ready"'))!;
    expect(readyLine.startsWith('<6>{')).toBe(true);
    expect(agent.lines.find((l) => l.includes('key not trusted'))?.slice(0, 4)).toBe('<4>{');
    const { port } = (JSON.parse(readyLine.slice(3)) as { listen: { port: number } }).listen;
    const metrics = async (): Promise<string> => (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const counts = (body: string): string[] => body.split('\n').filter((l) => l.startsWith('retrace_agent_tasks{'));
    const before = counts(await metrics());
    expect(before).toContain('retrace_agent_tasks{state="queued"} 1');

    // SIGHUP with a good config: RELOADING=1, then READY=1; tasks still tracked.
    await spool.writeConfig(['ReconcileInterval = 1', 'MaxTaskRuntime = 7200']);
    let from = socket.messages.length;
    let fromLine = agent.lines.length;
    agent.child.kill('SIGHUP');
    const reloading = await socket.waitFor((m) => m.startsWith('RELOADING=1'), { from });
    const reloaded = await socket.waitFor((m) => m.startsWith('READY=1'), { from: reloading + 1 });
    expect(socket.messages[reloaded]).toMatch(/^READY=1\nSTATUS=tracking 3 tasks \(1 queued, 0 running\)/);
    expect((await agent.waitForLog(/configuration reloaded/, fromLine)).slice(0, 4)).toBe('<6>{');
    expect(counts(await metrics())).toEqual(before);
    expect(await metrics()).toContain('retrace_agent_config_error 0');

    // SIGHUP with a bad config: the running one is kept, the error logged at err priority.
    await spool.writeConfig(['ReconcileInterval = 1', 'MaxTaskRuntime = an hour']);
    from = socket.messages.length;
    fromLine = agent.lines.length;
    agent.child.kill('SIGHUP');
    const failed = await socket.waitFor((m) => m.startsWith('READY=1'), { from });
    expect(socket.messages[failed]).toMatch(/reload failed, running on the previous configuration/);
    const errorLine = await agent.waitForLog(/reload failed/, fromLine);
    expect(errorLine.slice(0, 4)).toBe('<3>{');
    expect(errorLine).toMatch(/MaxTaskRuntime/);
    const afterBad = await metrics();
    expect(afterBad).toContain('retrace_agent_config_error 1');
    expect(counts(afterBad)).toEqual(before);
    // Still healthy: the pings go on.
    from = socket.messages.length;
    await socket.waitFor((m) => m === 'WATCHDOG=1', { from, timeoutMs: 5000 });

    // SIGTERM: STOPPING=1, no ping after it, exit 0 well within 10 s.
    from = socket.messages.length;
    const sent = Date.now();
    agent.child.kill('SIGTERM');
    const stopping = await socket.waitFor((m) => m.startsWith('STOPPING=1'), { from });
    const { code, signal } = await agent.exited;
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    expect(Date.now() - sent).toBeLessThan(10_000);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(socket.messages.slice(stopping + 1)).toEqual([]);
    expect(socket.messages.slice(0, stopping).filter((m) => m.startsWith('STOPPING'))).toEqual([]);
  }, 60_000);
});
