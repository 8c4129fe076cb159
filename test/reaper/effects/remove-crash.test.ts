// A removal killed mid-way (SIGKILL, power loss) leaves every task either whole in the spool or
// gone from it, never half-deleted where clients and the agent look; recoverTrash finishes it.
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { recoverTrash, TRASH_DIR } from '../../../src/reaper/effects/trash.js';
import { createEffectsEnv, listTree, uniqueTaskId, type EffectsEnv } from '../fixtures/effects.js';

const LOADER = fileURLToPath(new URL('../../../scripts/ts-loader.mjs', import.meta.url));
const CHILD = fileURLToPath(new URL('../fixtures/remove-tasks.mjs', import.meta.url));
const IDS = Array.from({ length: 5 }, uniqueTaskId);
// Enough files that deleting one task takes long enough to be caught in the middle.
const DIRS = 10;
const FILES_PER_DIR = 100;

let env: EffectsEnv;
beforeEach(async () => {
  env = await createEffectsEnv();
});
afterEach(() => env.cleanup());

async function bigTask(id: string): Promise<string[]> {
  const dir = await env.task(id, { status: 7, finishedTime: 1_700_000_000, log: 'x\n' });
  for (let d = 0; d < DIRS; d++) {
    mkdirSync(path.join(dir, 'crash', `d${d}`), { recursive: true });
    for (let f = 0; f < FILES_PER_DIR; f++) writeFileSync(path.join(dir, 'crash', `d${d}`, `f${f}`), 'x');
  }
  return listTree(dir);
}

it('leaves each task whole or gone when the removing process is SIGKILLed mid-way', async () => {
  const trees = new Map<string, string[]>();
  for (const id of IDS) trees.set(id, await bigTask(id));
  const { log: _log, ...plainCtx } = env.ctx;
  const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', '--import', LOADER, CHILD, JSON.stringify(plainCtx), ...IDS], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));

  // Kill while the second task is being deleted inside the trash.
  const trash = path.join(env.ctx.saveDir, TRASH_DIR);
  const deadline = Date.now() + 20_000;
  const deleting = (): boolean => {
    try {
      return readdirSync(trash).some((name) => name.startsWith(`${IDS[1]}.`));
    } catch {
      return false;
    }
  };
  while (!deleting()) {
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error('the child never reached the second task');
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
  child.kill('SIGKILL');
  expect(await exited).toBe('SIGKILL');

  const present: string[] = [];
  for (const id of IDS) {
    const dir = path.join(env.ctx.saveDir, id);
    const isThere = await lstat(dir).then(
      () => true,
      () => false,
    );
    if (!isThere) continue;
    present.push(id);
    expect(await listTree(dir)).toEqual(trees.get(id));
  }
  expect(present).toEqual(IDS.slice(2));
  const left = await readdir(trash);
  expect(left).toHaveLength(1);
  expect(left[0]).toMatch(new RegExp(`^${IDS[1]}\\.`));

  expect(await recoverTrash(env.ctx)).toBe(1);
  expect(await readdir(trash)).toEqual([]);
  for (const id of present) expect(await listTree(path.join(env.ctx.saveDir, id))).toEqual(trees.get(id));
});
