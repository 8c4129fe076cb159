import { lstat, mkdir, readdir, readFile, symlink } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { chrootPaths, removeChroots } from '../../../src/reaper/effects/chroots.js';
import { removeTask } from '../../../src/reaper/effects/remove.js';
import { recoverTrash, TRASH_DIR } from '../../../src/reaper/effects/trash.js';
import { cleanupFakeWorkers, startFakeWorker, stopFakeWorkers } from '../../support/worker.js';
import { bindMount, createEffectsEnv, uniqueTaskId, listTree, mountPointsBelow, writeFiles, type EffectsEnv } from '../fixtures/effects.js';

const ID = uniqueTaskId();
const TASK = { status: 7, finishedTime: 1_700_000_000, log: '[2024-01-01 00:00:00] [I] started\n' };
const CRASH = { 'crash/vmcore': 'core', 'crash/release': 'Fedora release 40' };

let env: EffectsEnv;
let outside: string;
beforeEach(async () => {
  env = await createEffectsEnv();
  // What symlinks and bind mounts point at: it must survive every removal.
  outside = path.join(env.root, 'outside');
  await writeFiles(outside, { precious: 'keep me', 'sub/deep': 'keep me too' });
});
afterEach(async () => {
  await stopFakeWorkers();
  await env.cleanup();
});
afterAll(cleanupFakeWorkers);

async function exists(file: string): Promise<boolean> {
  return lstat(file).then(
    () => true,
    () => false,
  );
}

async function expectOutsideIntact(): Promise<void> {
  expect(await listTree(outside)).toEqual(['precious', 'sub', 'sub/deep']);
  expect(await readFile(path.join(outside, 'sub/deep'), 'utf8')).toBe('keep me too');
}

/** Every chroot path of the task, each a dir with a file in it. */
async function makeChroots(id: string): Promise<string[]> {
  const paths = chrootPaths(id, env.ctx).map((chroot) => chroot.path);
  for (const chroot of paths) await writeFiles(chroot, { 'root/etc/os-release': 'x' });
  return paths;
}

describe('removeTask', () => {
  it('removes the chroots (-kernel, -bootstrap, cache), the -kernel config dir and the task dir', async () => {
    await env.task(ID, TASK, CRASH);
    await writeFiles(path.join(env.ctx.saveDir, `${ID}-kernel`), { 'default.cfg': 'config' });
    const chroots = await makeChroots(ID);
    expect(chroots).toHaveLength(8);
    // Names that merely start with the id belong to other tasks.
    await makeChroots(`${ID}0`);
    const outcome = await removeTask(ID, env.ctx);
    expect(outcome).toMatchObject({ ok: true, chrootsRemoved: 8 });
    for (const gone of [...chroots, path.join(env.ctx.saveDir, ID), path.join(env.ctx.saveDir, `${ID}-kernel`)]) {
      expect(await exists(gone)).toBe(false);
    }
    expect(await readdir(env.ctx.mockRootDir)).toEqual(expect.arrayContaining([`${ID}0`, `${ID}0-kernel-bootstrap`]));
    expect(await readdir(path.join(env.ctx.saveDir, TRASH_DIR))).toEqual([]);
    expect(await readdir(path.join(env.ctx.mockRootDir, TRASH_DIR))).toEqual([]);
  });

  it('takes the leftovers of a task whose dir is already gone', async () => {
    await makeChroots(ID);
    expect(await removeTask(ID, env.ctx)).toMatchObject({ ok: true, chrootsRemoved: 8 });
  });

  it('refuses an id that is not all digits', async () => {
    await expect(removeTask('../etc', env.ctx)).rejects.toThrow(/invalid task id/);
    expect(() => chrootPaths('1/..', env.ctx)).toThrow(/invalid task id/);
  });
});

describe('symlinks are never followed (SPEC §6.3)', () => {
  it('leaves a symlinked task dir, its target and the chroots of that id alone', async () => {
    await symlink(outside, path.join(env.ctx.saveDir, ID));
    const chroots = await makeChroots(ID);
    expect(await removeTask(ID, env.ctx)).toMatchObject({ ok: true, detail: expect.stringMatching(/left alone/) });
    await expectOutsideIntact();
    expect((await lstat(path.join(env.ctx.saveDir, ID))).isSymbolicLink()).toBe(true);
    for (const chroot of chroots) expect(await exists(chroot)).toBe(true);
  });

  it('removes links inside task dirs and chroots, not what they point at', async () => {
    const taskDir = await env.task(ID, TASK, CRASH);
    await symlink(outside, path.join(taskDir, 'crash', 'rootdir-link'));
    await symlink(path.join(outside, 'precious'), path.join(taskDir, 'results', 'file-link'));
    const [chroot] = await makeChroots(ID);
    await symlink(outside, path.join(chroot!, 'root', 'proc'));
    await symlink(path.join(outside, 'sub'), path.join(env.ctx.saveDir, `${ID}-kernel`));
    expect(await removeTask(ID, env.ctx)).toMatchObject({ ok: true });
    expect(await exists(taskDir)).toBe(false);
    expect(await exists(chroot!)).toBe(false);
    await expectOutsideIntact();
  });

  it('leaves a symlink planted as a chroot and its target alone', async () => {
    await env.task(ID, TASK);
    await symlink(outside, path.join(env.ctx.mockRootDir, ID));
    expect(await removeTask(ID, env.ctx)).toMatchObject({ ok: true, chrootsRemoved: 0 });
    expect((await lstat(path.join(env.ctx.mockRootDir, ID))).isSymbolicLink()).toBe(true);
    await expectOutsideIntact();
  });

  it('refuses a trash dir planted as a symlink', async () => {
    const taskDir = await env.task(ID, TASK);
    await symlink(outside, path.join(env.ctx.saveDir, TRASH_DIR));
    expect(await removeTask(ID, env.ctx)).toMatchObject({ ok: false, reason: 'io_error' });
    expect(await exists(path.join(taskDir, 'password'))).toBe(true);
    await expectOutsideIntact();
  });
});

describe('mounts are never deleted through (SPEC §6.3)', () => {
  it('unmounts a bind mount inside a chroot, then removes the chroot', async () => {
    await env.task(ID, TASK);
    const [chroot] = await makeChroots(ID);
    const target = path.join(chroot!, 'root', 'proc');
    await mkdir(target);
    await bindMount(outside, target);
    expect(await removeTask(ID, env.ctx)).toMatchObject({ ok: true, chrootsRemoved: 8 });
    expect(await mountPointsBelow(env.root)).toEqual([]);
    expect(await exists(chroot!)).toBe(false);
    await expectOutsideIntact();
  });

  it('leaves a chroot whose mount will not unmount, reports it, and keeps the task', async () => {
    const taskDir = await env.task(ID, TASK);
    const [chroot, ...others] = await makeChroots(ID);
    const target = path.join(chroot!, 'root', 'proc');
    await mkdir(target);
    await bindMount(outside, target);
    await env.hold('sleep', ['60'], target);
    const outcome = await removeTask(ID, env.ctx);
    expect(outcome).toMatchObject({ ok: false, reason: 'mounted', detail: expect.stringMatching(/busy/) });
    expect(outcome.ok ? 0 : outcome.retryAfterMs).toBeGreaterThan(0);
    expect(await mountPointsBelow(env.root)).toEqual([target]);
    expect(await readFile(path.join(target, 'precious'), 'utf8')).toBe('keep me');
    expect(await exists(path.join(taskDir, 'password'))).toBe(true);
    for (const other of others) expect(await exists(other)).toBe(false);
    await expectOutsideIntact();
  });

  it('removeChroots alone reports mounted and removes what it can', async () => {
    const [chroot] = await makeChroots(ID);
    const target = path.join(chroot!, 'root', 'dev');
    await mkdir(target);
    await bindMount(outside, target);
    await env.hold('sleep', ['60'], target);
    expect(await removeChroots(ID, env.ctx)).toMatchObject({ ok: false, reason: 'mounted' });
    expect(await listTree(env.ctx.mockCacheDir)).toEqual([TRASH_DIR]);
    await expectOutsideIntact();
  });
});

describe('a task in use is not removed (SPEC §6.3)', () => {
  it('refuses while the worker lives', async () => {
    const taskDir = await env.task(ID, { log: 'x\n' }, CRASH);
    const chroots = await makeChroots(ID);
    await startFakeWorker(ID);
    expect(await removeTask(ID, env.ctx)).toMatchObject({ ok: false, reason: 'worker_alive', retryAfterMs: expect.any(Number) });
    expect(await exists(path.join(taskDir, 'crash', 'vmcore'))).toBe(true);
    for (const chroot of chroots) expect(await exists(chroot)).toBe(true);
  });

  it('refuses while a process holds a crash file open, then removes once it is closed', async () => {
    const taskDir = await env.task(ID, TASK, CRASH);
    const chroots = await makeChroots(ID);
    const holder = await env.holdOpen(path.join(taskDir, 'crash', 'vmcore'));
    const outcome = await removeTask(ID, env.ctx);
    expect(outcome).toMatchObject({ ok: false, reason: 'crash_file_open', detail: expect.stringContaining(String(holder.pid)) });
    expect(await exists(path.join(taskDir, 'crash', 'vmcore'))).toBe(true);
    for (const chroot of chroots) expect(await exists(chroot)).toBe(true);
    holder.kill('SIGKILL');
    await new Promise((resolve) => holder.once('exit', resolve));
    expect(await removeTask(ID, env.ctx)).toMatchObject({ ok: true });
  });
});

describe('recoverTrash', () => {
  it('finishes deleting what a crash left in every trash dir, without following links', async () => {
    const saveTrash = path.join(env.ctx.saveDir, TRASH_DIR);
    const mockTrash = path.join(env.ctx.mockRootDir, TRASH_DIR);
    await writeFiles(saveTrash, { [`${ID}.a/crash/vmcore`]: 'core', [`${ID}.a/results/x`]: 'x', [`${ID}-kernel.b/default.cfg`]: 'c' });
    await writeFiles(mockTrash, { [`${ID}.c/root/etc/passwd`]: 'p' });
    await symlink(outside, path.join(mockTrash, `${ID}.c`, 'root', 'proc'));
    await symlink(outside, path.join(saveTrash, 'stray-link'));
    expect(await recoverTrash(env.ctx)).toBe(4);
    expect(await readdir(saveTrash)).toEqual([]);
    expect(await readdir(mockTrash)).toEqual([]);
    await expectOutsideIntact();
  });

  it('leaves a trash entry with a mount it cannot undo, and the mounted content', async () => {
    const entry = path.join(env.ctx.mockRootDir, TRASH_DIR, `${ID}.a`);
    await writeFiles(entry, { 'root/etc/passwd': 'p' });
    await writeFiles(path.join(env.ctx.saveDir, TRASH_DIR), { 'other/file': 'x' });
    const target = path.join(entry, 'root', 'proc');
    await mkdir(target);
    await bindMount(outside, target);
    await env.hold('sleep', ['60'], target);
    expect(await recoverTrash(env.ctx)).toBe(1);
    expect(await readFile(path.join(target, 'precious'), 'utf8')).toBe('keep me');
    await expectOutsideIntact();
  });

  it('does nothing when there is no trash', async () => {
    expect(await recoverTrash(env.ctx)).toBe(0);
    expect(await exists(path.join(env.ctx.saveDir, TRASH_DIR))).toBe(false);
  });
});

