import { chmod, lstat, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { archiveTask } from '../../../src/reaper/effects/archive.js';
import { finishAsFailed } from '../../../src/reaper/effects/finish.js';
import { removeTask } from '../../../src/reaper/effects/remove.js';
import { createEffectsEnv, uniqueTaskId, type EffectsEnv } from '../fixtures/effects.js';

// Upstream clean() runs `mock --configdir <task dir> --scrub=all` as root when these three exist;
// the task dir is group-writable, so that runs whatever config its users put there.
const MOCK_CONFIG = ['default.cfg', 'site-defaults.cfg', 'logging.ini'];

let env: EffectsEnv;
let marker: string;
let savedPath: string | undefined;
beforeEach(async () => {
  env = await createEffectsEnv();
  marker = path.join(env.root, 'executed');
  const bin = path.join(env.root, 'bin');
  await mkdir(bin);
  for (const tool of ['mock', 'podman']) await writeExecutable(path.join(bin, tool), `echo "${tool} $*" >> ${marker}`);
  savedPath = process.env.PATH;
  process.env.PATH = `${bin}:${savedPath ?? ''}`;
});
afterEach(async () => {
  process.env.PATH = savedPath;
  await env.cleanup();
});

async function writeExecutable(file: string, body: string): Promise<void> {
  await writeFile(file, `#!/bin/sh\n${body}\n`);
  await chmod(file, 0o755);
}

/** A task whose dir and -kernel config dir hold executable mock configs that leave a marker. */
async function armedTask(id: string): Promise<void> {
  const taskDir = await env.task(id, { status: 2, log: 'x\n' }, { 'crash/coredump': 'core' });
  const kernelDir = path.join(env.ctx.saveDir, `${id}-kernel`);
  await mkdir(kernelDir);
  for (const dir of [taskDir, kernelDir]) {
    for (const name of MOCK_CONFIG) await writeExecutable(path.join(dir, name), `echo "${dir}/${name}" >> ${marker}`);
  }
}

describe('nothing from a task dir is executed (SPEC §6.3)', () => {
  it('finish, remove and archive run neither mock nor the task’s own files', async () => {
    const [finished, removed, archived] = [uniqueTaskId(), uniqueTaskId(), uniqueTaskId()];
    for (const id of [finished, removed, archived]) await armedTask(id);
    expect(await finishAsFailed(finished, 'crashed', env.ctx)).toMatchObject({ ok: true });
    expect(await removeTask(removed, env.ctx)).toMatchObject({ ok: true });
    expect(await archiveTask(archived, env.ctx)).toMatchObject({ ok: true });
    await expect(lstat(marker)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
