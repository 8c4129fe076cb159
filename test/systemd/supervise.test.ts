// The watchdog pings only while the agent is healthy: listener up, reconcile recent, event loop
// responsive. A recording notifier stands in for the socket (the socket itself is covered in
// notify.test.ts).

import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import type { Notifier } from '../../src/systemd/notify.js';
import { Supervisor, type SupervisedAgent } from '../../src/systemd/supervise.js';

const log = createLogger({ name: 'test', level: 'silent' });

function recordingNotifier(watchdogMs: number | undefined): Notifier & { sent: string[] } {
  const sent: string[] = [];
  const send = (fields: Readonly<Record<string, string>>): void => {
    sent.push(Object.entries(fields).map(([k, v]) => `${k}=${v}`).join('\n'));
  };
  return {
    sent,
    enabled: true,
    watchdogMs,
    send,
    ready: (status) => send(status === undefined ? { READY: '1' } : { READY: '1', STATUS: status }),
    status: (text) => send({ STATUS: text }),
    reloading: () => send({ RELOADING: '1' }),
    watchdog: () => send({ WATCHDOG: '1' }),
    stopping: () => send({ STOPPING: '1' }),
    close: () => Promise.resolve(),
  };
}

function fakeAgent(): SupervisedAgent & { listening: boolean; spool: { lastReconcileMs: number | undefined } } {
  return {
    listening: true,
    spool: {
      lastReconcileMs: Date.now(),
      counts: () => ({ queued: 2, running: 1, success: 5, failure: 1 }),
    },
    config: { agent: { reconcileInterval: 1 } },
  };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const pings = (sent: readonly string[]): number => sent.filter((m) => m === 'WATCHDOG=1').length;

describe('the supervisor', () => {
  let supervisor: Supervisor | undefined;
  afterEach(() => supervisor?.stop());

  it('sends READY with a one-line status and pings every half period while healthy', async () => {
    const notifier = recordingNotifier(100);
    const agent = fakeAgent();
    supervisor = new Supervisor(agent, { notifier, log });
    supervisor.start();
    expect(notifier.sent[0]).toMatch(/^READY=1\nSTATUS=tracking 9 tasks \(2 queued, 1 running\); next reconcile in [01] s$/);
    await sleep(330);
    expect(pings(notifier.sent)).toBeGreaterThanOrEqual(3);
    supervisor.stopping();
    const after = notifier.sent.length;
    await sleep(150);
    expect(notifier.sent.at(-1)).toBe('STOPPING=1');
    expect(notifier.sent.length).toBe(after);
  });

  it('withholds pings when the reconcile is overdue or the listener is down, and resumes', async () => {
    const notifier = recordingNotifier(100);
    const agent = fakeAgent();
    supervisor = new Supervisor(agent, { notifier, log });
    supervisor.start();
    agent.spool.lastReconcileMs = Date.now() - 3500;
    expect(supervisor.health()).toMatch(/last spool reconcile was 4 s ago/);
    await sleep(60);
    const count = pings(notifier.sent);
    await sleep(250);
    expect(pings(notifier.sent)).toBe(count);
    expect(notifier.sent).toContainEqual(expect.stringMatching(/^STATUS=unhealthy: the last spool reconcile/));

    agent.spool.lastReconcileMs = Date.now();
    agent.listening = false;
    expect(supervisor.health()).toMatch(/not listening/);
    await sleep(250);
    expect(pings(notifier.sent)).toBe(count);

    agent.listening = true;
    await sleep(250);
    expect(pings(notifier.sent)).toBeGreaterThan(count);
    expect(supervisor.health()).toBeUndefined();
  });

  it('withholds pings while the event loop stays blocked', async () => {
    // A long period: the one ping at start opens the window, the samples after it all come late.
    const notifier = recordingNotifier(60_000);
    const agent = fakeAgent();
    supervisor = new Supervisor(agent, { notifier, log, lagSampleMs: 20, maxLagMs: 50 });
    supervisor.start();
    expect(supervisor.health()).toBeUndefined();
    // Every sample in the window is late by more than maxLagMs.
    for (let i = 0; i < 5; i++) {
      const until = Date.now() + 80;
      while (Date.now() < until) { /* busy */ }
      await sleep(0);
    }
    expect(supervisor.health()).toMatch(/event loop lags/);
  });

  it('sends RELOADING then READY around a reload, saying when it failed', () => {
    const notifier = recordingNotifier(undefined);
    supervisor = new Supervisor(fakeAgent(), { notifier, log });
    supervisor.start();
    supervisor.reloading();
    supervisor.reloaded(false);
    expect(notifier.sent.slice(1)).toEqual([
      'RELOADING=1',
      expect.stringMatching(/^READY=1\nSTATUS=tracking 9 tasks .*; reload failed, running on the previous configuration$/),
    ]);
  });
});
