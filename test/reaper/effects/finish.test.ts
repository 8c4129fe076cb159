import { lstat, readdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { chrootPaths } from '../../../src/reaper/effects/chroots.js';
import { KEPT_TASK_ENTRIES } from '../../../src/reaper/effects/clean-task.js';
import type { ReapContext } from '../../../src/reaper/effects/context.js';
import { finishAsFailed } from '../../../src/reaper/effects/finish.js';
import { readTask, TaskType } from '../../../src/spool/task.js';
import { cleanupFakeWorkers, startFakeWorker, stopFakeWorkers } from '../../support/worker.js';
import { createEffectsEnv, uniqueTaskId, writeFiles, type EffectsEnv } from '../fixtures/effects.js';

const ID = uniqueTaskId();
const NOW = new Date(2024, 4, 6, 7, 8, 9);
const WHY = 'Task was killed due to running too long or taking too many resources.';
const LOG = '[2024-05-06 06:00:00] [I] Retrace worker started\n';

// Every kept entry (research §2) and a sample of what upstream clean() deletes.
const KEPT_FILES = {
  password: 'p', crash_cmd: 'crash', type: '0', started_time: '1714971600', retrace_backtrace: 'bt',
  'results/exploitable': 'e', 'log/root.log': 'l', remote: 'u', downloaded: 'd', managed: '', url: 'u', notes: 'n',
  notify: 'a@b', caseno: '1', bugzillano: '2', vmlinux: 'v', crashrc: 'c',
};
const CLEANED_FILES = {
  'crash/coredump': 'core', 'crash/executable': '/usr/bin/x', 'misc/old': 'm', md5sum: 'Enabled', progress: '50%',
  kernelver: '6.1', 'default.cfg': 'cfg', 'logging.ini': 'ini', 'dnf.conf': 'c', c2p_log: 'l', Containerfile: 'FROM x',
  custom_executable: 'x', 'status.tmp': '3', 'upload.tar.xz': 'xz', '.hidden': 'h',
};

let env: EffectsEnv;
let ctx: ReapContext;
beforeEach(async () => {
  env = await createEffectsEnv();
  ctx = { ...env.ctx, now: () => NOW };
});
afterEach(async () => {
  await stopFakeWorkers();
  await env.cleanup();
});
afterAll(cleanupFakeWorkers);

async function makeChroots(): Promise<string[]> {
  const paths = chrootPaths(ID, ctx).map((chroot) => chroot.path);
  for (const chroot of paths) await writeFiles(chroot, { 'root/file': 'x' });
  return paths;
}

async function exists(file: string): Promise<boolean> {
  return lstat(file).then(
    () => true,
    () => false,
  );
}

describe('finishAsFailed', () => {
  it('writes the log line, status 7 and finished_time, so clients see FINISHED_FAILURE', async () => {
    const taskDir = await env.task(ID, { status: 2, startedTime: 1_714_971_600, log: LOG });
    expect(await finishAsFailed(ID, WHY, ctx)).toMatchObject({ ok: true, detail: expect.stringMatching(/marked failed/) });
    expect(await readFile(path.join(taskDir, 'retrace_log'), 'utf8')).toBe(`${LOG}[2024-05-06 07:08:09] [E] ${WHY}\n`);
    expect(await readFile(path.join(taskDir, 'status'), 'utf8')).toBe('7');
    expect(await readFile(path.join(taskDir, 'finished_time'), 'utf8')).toBe(String(Math.floor(NOW.getTime() / 1000)));
    for (const name of ['status', 'finished_time']) expect((await stat(path.join(taskDir, name))).mode & 0o777).toBe(0o644);
    expect((await readTask(env.ctx.saveDir, ID))?.result).toBe('failure');
  });

  it('creates retrace_log for a task that never started', async () => {
    const taskDir = await env.task(ID);
    expect(await finishAsFailed(ID, WHY, ctx)).toMatchObject({ ok: true });
    expect(await readFile(path.join(taskDir, 'retrace_log'), 'utf8')).toBe(`[2024-05-06 07:08:09] [E] ${WHY}\n`);
  });

  it('removes the chroots and cleans the task dir down to the upstream keep list', async () => {
    const taskDir = await env.task(ID, { status: 2, log: LOG }, { ...KEPT_FILES, ...CLEANED_FILES });
    await symlink('/etc/mock/site-defaults.cfg', path.join(taskDir, 'site-defaults.cfg'));
    const chroots = await makeChroots();
    expect(await finishAsFailed(ID, WHY, ctx)).toMatchObject({ ok: true, chrootsRemoved: 8 });
    const expected = [...Object.keys(KEPT_FILES).map((name) => name.split('/')[0]!), 'retrace_log', 'status', 'finished_time'];
    expect((await readdir(taskDir)).sort()).toEqual([...new Set(expected)].sort());
    expect([...KEPT_TASK_ENTRIES].sort()).toEqual([...new Set(expected)].sort());
    expect(await readFile(path.join(taskDir, 'results', 'exploitable'), 'utf8')).toBe('e');
    for (const chroot of chroots) expect(await exists(chroot)).toBe(false);
  });

  it.each([TaskType.DEBUG, TaskType.COREDUMP_INTERACTIVE, TaskType.VMCORE_INTERACTIVE])(
    'marks a type %i task failed but keeps its files and chroots for interactive use',
    async (type) => {
      const taskDir = await env.task(ID, { type, status: 2, log: LOG }, CLEANED_FILES);
      const chroots = await makeChroots();
      expect(await finishAsFailed(ID, WHY, ctx)).toMatchObject({ ok: true, detail: expect.stringMatching(/keeps/) });
      expect(await readFile(path.join(taskDir, 'status'), 'utf8')).toBe('7');
      // status.tmp was a leftover of the status write itself.
      for (const name of Object.keys(CLEANED_FILES).filter((n) => n !== 'status.tmp')) {
        expect(await exists(path.join(taskDir, name))).toBe(true);
      }
      for (const chroot of chroots) expect(await exists(chroot)).toBe(true);
    },
  );

  it('does not overwrite a task that finished meanwhile, but still cleans it', async () => {
    const taskDir = await env.task(ID, { status: 6, finishedTime: 1_714_971_700, backtrace: 'bt', log: LOG }, CLEANED_FILES);
    expect(await finishAsFailed(ID, WHY, ctx)).toMatchObject({ ok: true, detail: expect.stringMatching(/already finished/) });
    expect(await readFile(path.join(taskDir, 'status'), 'utf8')).toBe('6');
    expect(await readFile(path.join(taskDir, 'retrace_log'), 'utf8')).toBe(LOG);
    expect(await exists(path.join(taskDir, 'crash'))).toBe(false);
  });

  it('refuses while the worker lives and changes nothing', async () => {
    const taskDir = await env.task(ID, { status: 2, log: LOG }, CLEANED_FILES);
    await startFakeWorker(ID);
    expect(await finishAsFailed(ID, WHY, ctx)).toMatchObject({ ok: false, reason: 'worker_alive' });
    expect(await readFile(path.join(taskDir, 'status'), 'utf8')).toBe('2');
    expect(await exists(path.join(taskDir, 'crash', 'coredump'))).toBe(true);
  });

  it('never writes through links planted in the task dir', async () => {
    const taskDir = await env.task(ID, { status: 2 });
    const victim = path.join(env.root, 'victim');
    await writeFile(victim, 'untouched');
    await symlink(victim, path.join(taskDir, 'retrace_log'));
    await symlink(victim, path.join(taskDir, 'status.tmp'));
    await symlink(victim, path.join(taskDir, 'finished_time.tmp'));
    expect(await finishAsFailed(ID, WHY, ctx)).toMatchObject({ ok: true });
    expect(await readFile(victim, 'utf8')).toBe('untouched');
    expect((await lstat(path.join(taskDir, 'status'))).isFile()).toBe(true);
    expect(await readFile(path.join(taskDir, 'status'), 'utf8')).toBe('7');
  });

  it('leaves a symlinked task dir alone', async () => {
    const elsewhere = path.join(env.root, 'elsewhere');
    await writeFiles(elsewhere, { status: '2', 'crash/coredump': 'core' });
    await symlink(elsewhere, path.join(env.ctx.saveDir, ID));
    expect(await finishAsFailed(ID, WHY, ctx)).toMatchObject({ ok: true, detail: expect.stringMatching(/no task directory/) });
    expect(await readFile(path.join(elsewhere, 'status'), 'utf8')).toBe('2');
    expect(await exists(path.join(elsewhere, 'crash', 'coredump'))).toBe(true);
  });
});
