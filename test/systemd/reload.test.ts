// A reload (what SIGHUP does) keeps the task state and the reaper's timers: a task due a few seconds
// after a good and a bad reload is still removed on time, and the counts never drop in between.

import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../../src/agent/agent.js';
import { createLogger } from '../../src/log.js';
import { createTestSpool, writeTask, type TestSpool } from '../support/spool.js';

const log = createLogger({ name: 'test', level: 'silent' });
const HOUR = 3600;

describe('reloading the agent', () => {
  let spool: TestSpool | undefined;
  let agent: Agent | undefined;
  afterEach(async () => {
    await agent?.stop();
    agent = undefined;
    await spool?.cleanup();
    spool = undefined;
  });

  it('keeps tracked tasks and due timers through a good and a bad reload', async () => {
    spool = await createTestSpool();
    const now = Math.floor(Date.now() / 1000);
    // Due for deletion (DeleteTaskAfter = 1 h) three seconds from now.
    await writeTask(spool.saveDir, '520000001', { status: 6, finishedTime: now - HOUR, backtrace: 'bt', mtime: now - HOUR + 3 });
    await writeTask(spool.saveDir, '520000002', { status: 6, finishedTime: now, backtrace: 'bt' });
    await writeTask(spool.saveDir, '520000003', {});
    const pluginDir = join(spool.root, 'plugins');
    await mkdir(pluginDir);
    const policy = ['DeleteTaskAfter = 1', 'DeleteFailedTaskAfter = 0'];
    const configPath = await spool.writeConfig([], policy);
    agent = await Agent.start({ configPath, pluginDir, log });
    const tracker = agent.spool;
    expect(agent.spool.counts()).toMatchObject({ success: 2, queued: 1 });

    await spool.writeConfig(['MaxTaskRuntime = 7200'], policy);
    expect(await agent.reload()).toBe(true);
    expect(agent.config.agent.maxTaskRuntime).toBe(7200);
    expect(agent.spool).toBe(tracker);
    expect(agent.spool.counts()).toMatchObject({ success: 2, queued: 1 });

    await spool.writeConfig(['MaxTaskRuntime = soon'], policy);
    expect(await agent.reload()).toBe(false);
    expect(agent.config.agent.maxTaskRuntime).toBe(7200);
    expect(agent.spool.counts()).toMatchObject({ success: 2, queued: 1 });
    const metrics = await agent.registry.metrics();
    expect(metrics).toContain('retrace_agent_config_error 1');

    // A removed task leaves the spool at its rename into the trash and is counted once deleted there.
    const reaped = 'retrace_agent_tasks_reaped_total{reason="expired"} 1';
    const deadline = Date.now() + 10_000;
    while (!(await agent.registry.metrics()).includes(reaped) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await agent.registry.metrics()).toContain(reaped);
    expect(existsSync(join(spool.saveDir, '520000001'))).toBe(false);
    expect(existsSync(join(spool.saveDir, '520000002'))).toBe(true);
  }, 30_000);
});
