import { chmod, lstat, mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { archiveTask } from '../../../src/reaper/effects/archive.js';
import { chrootPaths } from '../../../src/reaper/effects/chroots.js';
import type { ReapContext } from '../../../src/reaper/effects/context.js';
import { createEffectsEnv, listTree, uniqueTaskId, writeFiles, type EffectsEnv } from '../fixtures/effects.js';

const ID = uniqueTaskId();
const NOW = new Date(2024, 4, 6, 7, 8, 9);
const ARCHIVE = `${ID}-20240506070809.tar.gz`;
const TASK = { status: 6, finishedTime: 1_714_971_700, backtrace: 'bt', log: 'log\n' };

let env: EffectsEnv;
let ctx: ReapContext;
let taskDir: string;
beforeEach(async () => {
  env = await createEffectsEnv();
  ctx = { ...env.ctx, now: () => NOW };
  taskDir = await env.task(ID, TASK, { 'crash/vmcore': 'core', 'results/sys': 'sys' });
});
afterEach(() => env.cleanup());

async function exists(file: string): Promise<boolean> {
  return lstat(file).then(
    () => true,
    () => false,
  );
}

/** Runs `body` with `tar` on PATH replaced by a shell script. */
async function withTarStub<T>(script: string, body: () => Promise<T>): Promise<T> {
  const bin = path.join(env.root, 'bin');
  await mkdir(bin, { recursive: true });
  await writeFile(path.join(bin, 'tar'), `#!/bin/sh\n${script}\n`);
  await chmod(path.join(bin, 'tar'), 0o755);
  const saved = process.env.PATH;
  process.env.PATH = `${bin}:${saved ?? ''}`;
  try {
    return await body();
  } finally {
    process.env.PATH = saved;
  }
}

describe('archiveTask', () => {
  it('writes DropDir/<id>-<YYYYmmddHHMMSS>.tar.gz of the absolute task dir, then removes the task', async () => {
    const files = await listTree(taskDir);
    const [chroot] = chrootPaths(ID, ctx);
    await writeFiles(chroot!.path, { 'root/file': 'x' });
    const outcome = await archiveTask(ID, ctx);
    expect(outcome).toMatchObject({ ok: true, chrootsRemoved: 1, detail: expect.stringContaining(ARCHIVE) });
    expect(await readdir(ctx.dropDir)).toEqual([ARCHIVE]);
    const { stdout } = await execa('tar', ['tzf', path.join(ctx.dropDir, ARCHIVE)]);
    const prefix = taskDir.slice(1);
    const listed = stdout.split('\n').map((line) => line.replace(/\/$/, ''));
    expect(listed.sort()).toEqual([prefix, ...files.map((file) => `${prefix}/${file}`)].sort());
    expect(await exists(taskDir)).toBe(false);
    expect(await exists(chroot!.path)).toBe(false);
  });

  it('keeps the task and deletes the partial file when tar fails', async () => {
    const outcome = await withTarStub('echo partial > "$2"; echo "tar: Cannot write: No space left on device" >&2; exit 2', () =>
      archiveTask(ID, ctx),
    );
    expect(outcome).toMatchObject({
      ok: false,
      reason: 'tar_failed',
      detail: 'Error: tar exited with 2: tar: Cannot write: No space left on device',
    });
    expect(await readdir(ctx.dropDir)).toEqual([]);
    expect(await exists(path.join(taskDir, 'crash', 'vmcore'))).toBe(true);
  });

  it('keeps the task when the archive does not read back', async () => {
    const outcome = await withTarStub('if [ "$1" = czf ]; then echo garbage > "$2"; exit 0; fi; exec /usr/bin/tar "$@"', () =>
      archiveTask(ID, ctx),
    );
    expect(outcome).toMatchObject({ ok: false, reason: 'tar_failed', detail: expect.stringMatching(/^Error: tar exited with 2: /) });
    expect(await readdir(ctx.dropDir)).toEqual([]);
    expect(await exists(path.join(taskDir, 'crash', 'vmcore'))).toBe(true);
  });

  it('keeps the task when the archive lacks some of its files', async () => {
    const outcome = await withTarStub('if [ "$1" = czf ]; then exec /usr/bin/tar czf "$2" "$3/password"; fi; exec /usr/bin/tar "$@"', () =>
      archiveTask(ID, ctx),
    );
    expect(outcome).toMatchObject({ ok: false, reason: 'tar_failed', detail: expect.stringMatching(/lacks .*crash/) });
    expect(await readdir(ctx.dropDir)).toEqual([]);
    expect(await exists(path.join(taskDir, 'crash', 'vmcore'))).toBe(true);
  });

  it('makes no archive while a crash file is open', async () => {
    await env.holdOpen(path.join(taskDir, 'crash', 'vmcore'));
    expect(await archiveTask(ID, ctx)).toMatchObject({ ok: false, reason: 'crash_file_open' });
    expect(await exists(ctx.dropDir)).toBe(false);
    expect(await exists(taskDir)).toBe(true);
  });

  it('reports a DropDir it cannot create and keeps the task', async () => {
    await writeFile(ctx.dropDir, 'a file in the way');
    expect(await archiveTask(ID, ctx)).toMatchObject({ ok: false, reason: 'io_error' });
    expect(await exists(path.join(taskDir, 'crash', 'vmcore'))).toBe(true);
  });
});
