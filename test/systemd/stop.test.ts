// SIGTERM (systemctl stop) while removals are in flight: the agent exits 0 within 10 s, every task
// is whole or gone, no lock is left, and a restart finds the spool consistent and finishes the rest.

import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../../src/agent/agent.js';
import { createLogger } from '../../src/log.js';
import { createTestSpool, writeTask, type TestSpool } from '../support/spool.js';

const ROOT = join(import.meta.dirname, '..', '..');
const TASKS = 60;
const FILES_PER_TASK = 300;
const HOUR = 3600;

describe('SIGTERM during removals', () => {
  let spool: TestSpool | undefined;
  afterEach(async () => {
    await spool?.cleanup();
    spool = undefined;
  });

  it('exits 0 within 10 s leaving every task whole or gone; a restart finishes the work', async () => {
    spool = await createTestSpool();
    const old = Math.floor(Date.now() / 1000) - 10 * HOUR;
    const ids = Array.from({ length: TASKS }, (_, i) => String(530_000_000 + i));
    for (const id of ids) {
      const dir = await writeTask(spool.saveDir, id, { status: 6, finishedTime: old, backtrace: 'bt' });
      await mkdir(join(dir, 'crash'));
      for (let f = 0; f < FILES_PER_TASK; f++) await writeFile(join(dir, 'crash', `f${f}`), 'x');
      await writeTask(spool.saveDir, id, { mtime: old });
    }
    const pluginDir = join(spool.root, 'plugins');
    await mkdir(pluginDir);
    const config = await spool.writeConfig([], ['DeleteTaskAfter = 1', 'DeleteFailedTaskAfter = 0']);

    const child = spawn(process.execPath, ['--import', join(ROOT, 'scripts/ts-loader.mjs'), join(ROOT, 'src/cli/agent.ts'),
      '--config', config, '--plugin-dir', pluginDir, '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      output += text;
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      child.once('exit', (code, signal) => resolve({ code, signal }));
    });
    try {
      const deadline = Date.now() + 20_000;
      while (Date.now() < deadline && ids.every((id) => existsSync(join(spool!.saveDir, id)))) {
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
      const sent = Date.now();
      child.kill('SIGTERM');
      expect(await exited).toEqual({ code: 0, signal: null });
      expect(Date.now() - sent).toBeLessThan(10_000);
      expect(output).not.toMatch(/exiting anyway/);
    } finally {
      child.kill('SIGKILL');
    }

    const remaining = ids.filter((id) => existsSync(join(spool!.saveDir, id)));
    expect(remaining.length).toBeLessThan(TASKS);
    for (const id of remaining) {
      expect(readdirSync(join(spool.saveDir, id, 'crash'))).toHaveLength(FILES_PER_TASK);
      expect(readFileSync(join(spool.saveDir, id, 'status'), 'utf8')).toBe('6');
    }
    expect(readdirSync(spool.root).filter((name) => name.startsWith('retrace-reposync-lock'))).toEqual([]);

    const agent = await Agent.start({ configPath: config, pluginDir, log: createLogger({ name: 'test', level: 'silent' }) });
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
