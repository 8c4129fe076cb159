// The agent SIGKILLed in the middle of removals, then started again: every task is either whole
// or gone, never half, and the trash left behind is finished on the next start.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../../src/agent/agent.js';
import { createLogger } from '../../src/log.js';
import { createTestSpool, writeOldTasks, type TestSpool } from '../support/spool.js';

const ROOT = join(import.meta.dirname, '..', '..');
const TASKS = 60;
const FILES_PER_TASK = 300;

describe('an agent killed mid-removal', () => {
  let spool: TestSpool | undefined;
  afterEach(async () => {
    await spool?.cleanup();
  });

  it('leaves each task whole or gone, and finishes the trash on restart', async () => {
    spool = await createTestSpool();
    const ids = Array.from({ length: TASKS }, (_, i) => String(810_000_000 + i));
    await writeOldTasks(spool.saveDir, ids, FILES_PER_TASK, 10);
    await mkdir(join(spool.root, 'plugins'));
    const config = await spool.writeConfig([], ['DeleteTaskAfter = 1', 'DeleteFailedTaskAfter = 0']);

    const child = spawn(process.execPath, ['--import', join(ROOT, 'scripts/ts-loader.mjs'), join(ROOT, 'src/cli/agent.ts'),
      '--config', config, '--plugin-dir', join(spool.root, 'plugins'), '--log-level', 'error'], { stdio: 'ignore' });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    // Kill as soon as the first task has left the spool: removals are then in flight.
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline && ids.every((id) => existsSync(join(spool!.saveDir, id)))) {
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    child.kill('SIGKILL');
    await exited;

    const remaining = ids.filter((id) => existsSync(join(spool!.saveDir, id)));
    expect(remaining.length).toBeGreaterThan(0);
    expect(remaining.length).toBeLessThan(TASKS);
    for (const id of remaining) {
      // Whole: every file the task was written with is still there.
      expect(readdirSync(join(spool.saveDir, id, 'crash'))).toHaveLength(FILES_PER_TASK);
      expect(readFileSync(join(spool.saveDir, id, 'status'), 'utf8')).toBe('6');
    }

    const agent = await Agent.start({ configPath: config, pluginDir: join(spool.root, 'plugins'), log: createLogger({ name: 'test', level: 'silent' }) });
    try {
      const until = Date.now() + 20_000;
      while (ids.some((id) => existsSync(join(spool!.saveDir, id))) && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 20));
    } finally {
      await agent.stop();
    }
    expect(readdirSync(spool.saveDir)).toEqual(expect.not.arrayContaining(ids));
    const trash = join(spool.saveDir, '.retrace-agent-trash');
    expect(existsSync(trash) ? readdirSync(trash) : []).toEqual([]);
  }, 60_000);
});
