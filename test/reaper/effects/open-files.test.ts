import { link, mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openCrashFiles } from '../../../src/reaper/effects/open-files.js';
import { createEffectsEnv, type EffectsEnv } from '../fixtures/effects.js';

let env: EffectsEnv;
let vmcore: string;
beforeEach(async () => {
  env = await createEffectsEnv();
  vmcore = path.join(env.ctx.saveDir, '111', 'crash', 'vmcore');
  await mkdir(path.dirname(vmcore), { recursive: true });
  await writeFile(vmcore, 'core');
});
afterEach(() => env.cleanup());

describe('openCrashFiles', () => {
  it('finds the process that holds a crash file open, like lsof +wt', async () => {
    expect(await openCrashFiles([vmcore])).toEqual([]);
    const holder = await env.holdOpen(vmcore);
    expect(await openCrashFiles([vmcore])).toEqual([holder.pid]);
  });

  it('matches by inode: a hard link or a rename of the open file still counts', async () => {
    const other = path.join(env.root, 'elsewhere');
    await link(vmcore, other);
    const holder = await env.holdOpen(other);
    expect(await openCrashFiles([vmcore])).toEqual([holder.pid]);
    await rename(vmcore, `${vmcore}.renamed`);
    expect(await openCrashFiles([`${vmcore}.renamed`])).toEqual([holder.pid]);
  });

  it('ignores crash files that do not exist', async () => {
    expect(await openCrashFiles([path.join(env.root, 'missing')])).toEqual([]);
    expect(await openCrashFiles([])).toEqual([]);
  });
});
