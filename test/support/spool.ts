// Builds task dirs in a test spool the way the worker writes them: files written to `<name>.tmp`
// and renamed into place, the log appended.

import { randomInt } from 'node:crypto';
import { appendFile, mkdir, mkdtemp, rename, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TaskFiles {
  readonly status?: number;
  readonly type?: number;
  readonly startedTime?: number;
  readonly finishedTime?: number;
  readonly backtrace?: string;
  readonly log?: string;
  readonly managed?: boolean;
  /** Sets the task dir's mtime (epoch seconds), which is what a task's age is measured from. */
  readonly mtime?: number;
}

export async function writeAtomic(dir: string, name: string, content: string): Promise<void> {
  await writeFile(join(dir, `${name}.tmp`), content);
  await rename(join(dir, `${name}.tmp`), join(dir, name));
}

export async function writeTask(saveDir: string, id: string, files: TaskFiles = {}): Promise<string> {
  const dir = join(saveDir, id);
  await mkdir(join(dir, 'results'), { recursive: true });
  await writeFile(join(dir, 'password'), 'x'.repeat(32));
  if (files.type !== undefined) await writeAtomic(dir, 'type', String(files.type));
  if (files.log !== undefined) await appendFile(join(dir, 'retrace_log'), files.log);
  if (files.startedTime !== undefined) await writeAtomic(dir, 'started_time', String(files.startedTime));
  if (files.status !== undefined) await writeAtomic(dir, 'status', String(files.status));
  if (files.backtrace !== undefined) await writeAtomic(dir, 'retrace_backtrace', files.backtrace);
  if (files.finishedTime !== undefined) await writeAtomic(dir, 'finished_time', String(files.finishedTime));
  if (files.managed) await writeFile(join(dir, 'managed'), '');
  if (files.mtime !== undefined) await utimes(dir, files.mtime, files.mtime);
  return dir;
}

export interface TestSpool {
  readonly root: string;
  readonly saveDir: string;
  /** A retrace-server.conf for this spool with the given extra `[agent]` lines. */
  writeConfig(agentLines?: readonly string[], retraceLines?: readonly string[]): Promise<string>;
  cleanup(): Promise<void>;
}

export async function createTestSpool(): Promise<TestSpool> {
  const root = await mkdtemp(join(tmpdir(), 'spool-'));
  const saveDir = join(root, 'spool');
  await mkdir(saveDir);
  return {
    root,
    saveDir,
    async writeConfig(agentLines = [], retraceLines = []) {
      const path = join(root, 'retrace-server.conf');
      await writeFile(path, [
        '[retrace]',
        `SaveDir = ${saveDir}`,
        `RepoDir = ${join(root, 'repos')}`,
        `LogDir = ${join(root, 'log')}`,
        `DropDir = ${join(root, 'archive')}`,
        ...retraceLines,
        '[agent]',
        'ListenAddress = 127.0.0.1:0',
        `LockDir = ${root}`,
        `GpgDir = ${join(root, 'gpg')}`,
        `MockRootDir = ${join(root, 'mock')}`,
        `MockCacheDir = ${join(root, 'mock-cache')}`,
        ...agentLines,
        '',
      ].join('\n'));
      return path;
    },
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
}

/**
 * A 12-digit task id no other test uses: test files run in parallel, and the agent and the
 * effects look at every worker process on the host, so two files with the same id would see
 * each other's workers.
 */
export function uniqueTaskId(): string {
  return `9${String(randomInt(1e11)).padStart(11, '0')}`;
}

/**
 * Finished tasks whose dir mtime lies `ageHours` back, each with `filesPerTask` files in crash/:
 * removing one takes long enough to interrupt it.
 */
export async function writeOldTasks(saveDir: string, ids: readonly string[], filesPerTask: number, ageHours: number): Promise<void> {
  const old = Math.floor(Date.now() / 1000) - ageHours * 3600;
  for (const id of ids) {
    const dir = await writeTask(saveDir, id, { status: 6, finishedTime: old, backtrace: 'bt' });
    await mkdir(join(dir, 'crash'));
    for (let f = 0; f < filesPerTask; f++) await writeFile(join(dir, 'crash', `f${f}`), 'x');
    await utimes(dir, old, old);
  }
}
