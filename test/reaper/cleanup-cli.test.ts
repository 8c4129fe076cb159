// retrace-server-cleanup, the one-shot pass, run as a real process on real spools.
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../../src/agent/agent.js';
import { createLogger } from '../../src/log.js';
import { runCli } from '../support/cli.js';
import { createTestSpool, writeTask, type TestSpool } from '../support/spool.js';

const HOUR = 3600;
const RULES = ['DeleteTaskAfter = 10', 'DeleteFailedTaskAfter = 5'];

/** A spool where some tasks are due under RULES and some are not. */
async function mixedSpool(spool: TestSpool): Promise<void> {
  const now = Math.floor(Date.now() / 1000);
  await writeTask(spool.saveDir, '100000001', { status: 6, finishedTime: now, backtrace: 'x', mtime: now - 11 * HOUR });
  await writeTask(spool.saveDir, '100000002', { status: 6, finishedTime: now, backtrace: 'x', mtime: now - 9 * HOUR });
  await writeTask(spool.saveDir, '100000003', { status: 7, finishedTime: now, mtime: now - 6 * HOUR });
  await writeTask(spool.saveDir, '100000004', { status: 7, finishedTime: now, mtime: now - 4 * HOUR });
  await writeTask(spool.saveDir, '100000005', { status: 1, log: 'started\n', mtime: now - 2 * HOUR });
  await writeTask(spool.saveDir, '100000006', { mtime: now - 60 });
}

async function state(spool: TestSpool): Promise<Record<string, string>> {
  const names = (await readdir(spool.saveDir)).filter((name) => !name.startsWith('.')).sort();
  return Object.fromEntries(await Promise.all(names.map(async (name) => {
    const status = join(spool.saveDir, name, 'status');
    return [name, existsSync(status) ? (await readFile(status, 'utf8')).trim() : '-'];
  })));
}

describe('retrace-server-cleanup', () => {
  const spools: TestSpool[] = [];
  const newSpool = async (): Promise<TestSpool> => {
    const spool = await createTestSpool();
    spools.push(spool);
    return spool;
  };
  afterEach(async () => {
    await Promise.all(spools.splice(0).map((s) => s.cleanup()));
  });

  it('exits 1 with upstream\'s text and touches nothing when DeleteTaskAfter < DeleteFailedTaskAfter', async () => {
    const spool = await newSpool();
    await mixedSpool(spool);
    const before = await state(spool);
    const result = await runCli('cleanup', ['--config', await spool.writeConfig([], ['DeleteTaskAfter = 1', 'DeleteFailedTaskAfter = 2'])]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe('ERROR: DeleteTaskAfter is set to a lower value than DeleteFailedTaskAfter. Check retrace-server.conf, '
      + 'did you accidentally reverse the values for DeleteTaskAfter and DeleteFailedTaskAfter? Not touching any tasks.\n');
    expect(await state(spool)).toEqual(before);
    expect(existsSync(join(spool.root, 'log', 'cleanup.log'))).toBe(false);
  });

  it('--dry-run lists what is due and changes nothing', async () => {
    const spool = await newSpool();
    await mixedSpool(spool);
    const before = await state(spool);
    const result = await runCli('cleanup', ['--config', await spool.writeConfig([], RULES), '--dry-run']);
    expect(result.code).toBe(0);
    const lines = result.stdout.trim().split('\n').map((line) => line.replace(/, due .*\)$/, ')')).sort();
    expect(lines).toEqual([
      'would finish task 100000005 (crashed)',
      'would remove task 100000001 (expired)',
      'would remove task 100000003 (expired_failed)',
    ]);
    expect(await state(spool)).toEqual(before);
  });

  it('--json prints one object per action and does it, writing upstream\'s log lines', async () => {
    const spool = await newSpool();
    await mixedSpool(spool);
    const result = await runCli('cleanup', ['--config', await spool.writeConfig([], RULES), '--json']);
    expect(result.code).toBe(0);
    const records = result.stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(records.map((r) => [r.task, r.action, r.reason, r.ok]).sort()).toEqual([
      ['100000001', 'remove', 'expired', true],
      ['100000003', 'remove', 'expired_failed', true],
      ['100000005', 'finish', 'crashed', true],
    ]);
    expect(await state(spool)).toEqual({ 100000002: '6', 100000004: '7', 100000005: '7', 100000006: '-' });
    const log = await readFile(join(spool.root, 'log', 'cleanup.log'), 'utf8');
    expect(log).toMatch(/^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] Running cleanup\n/);
    expect(log).toContain('Deleting old task 100000001\n');
    expect(log).toContain('Deleting old failed task 100000003\n');
    expect(log).toContain('Cleaning up orphaned task 100000005\n');
  });

  it('agrees with the agent on the same spool', async () => {
    const forCli = await newSpool();
    const forAgent = await newSpool();
    await mixedSpool(forCli);
    await mixedSpool(forAgent);
    expect((await runCli('cleanup', ['--config', await forCli.writeConfig([], RULES)])).code).toBe(0);

    await mkdir(join(forAgent.root, 'plugins'));
    const agent = await Agent.start({
      configPath: await forAgent.writeConfig([], RULES),
      pluginDir: join(forAgent.root, 'plugins'),
      log: createLogger({ name: 'test', level: 'silent' }),
    });
    let reaped = 0;
    agent['reaper'].on('reaped', () => reaped++);
    try {
      const start = Date.now();
      while (reaped < 3 && Date.now() - start < 10_000) await new Promise((resolve) => setTimeout(resolve, 20));
    } finally {
      await agent.stop();
    }
    expect(await state(forAgent)).toEqual(await state(forCli));
  });
});
