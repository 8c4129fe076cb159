// The release lock against real processes: a live holder keeps it, a dead one or a reused pid loses it, an empty
// (upstream-style) lock is respected until it is clearly abandoned, and two takeovers at once leave one winner.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { acquireReleaseLock, LockBusyError, lockPath } from '../../../src/reposync/lock.js';

const release = { distribution: 'testdist', version: '1', arch: 'x86_64' };
const warnings: string[] = [];
const log = pino({ level: 'warn' }, { write: (line: string) => warnings.push(JSON.parse(line).msg) });

describe('the reposync lock', () => {
  let dir: string;
  let path: string;
  const children: ChildProcess[] = [];

  const startSleeper = async (): Promise<number> => {
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    children.push(child);
    await new Promise((resolve) => child.once('spawn', resolve));
    return child.pid as number;
  };
  const writeLock = async (content: string, ageSeconds = 0): Promise<void> => {
    await writeFile(path, content);
    const when = Date.now() / 1000 - ageSeconds;
    await utimes(path, when, when);
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lock-'));
    path = lockPath(dir, release);
  });

  afterEach(async () => {
    for (const child of children.splice(0)) child.kill('SIGKILL');
    await rm(path, { force: true });
    warnings.length = 0;
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('is created with our pid, excludes a second holder, and is removed on release', async () => {
    const lock = await acquireReleaseLock(dir, release, log);
    expect(await readFile(path, 'utf8')).toBe(`${process.pid}\n`);
    await expect(acquireReleaseLock(dir, release, log)).rejects.toThrow(LockBusyError);
    lock.release();
    expect(existsSync(path)).toBe(false);
  });

  it('stays with a live holder', async () => {
    const pid = await startSleeper();
    await new Promise((resolve) => setTimeout(resolve, 50));
    await writeLock(`${pid}\n`);
    await expect(acquireReleaseLock(dir, release, log)).rejects.toThrow(/already being created by a different process/);
  });

  it('is taken over from a holder that is gone', async () => {
    const child = spawn('true');
    const pid = child.pid as number;
    await new Promise((resolve) => child.once('exit', resolve));
    await writeLock(`${pid}\n`);
    const lock = await acquireReleaseLock(dir, release, log);
    expect(warnings.join('\n')).toContain(`its holder (pid ${pid}) is gone`);
    lock.release();
  });

  it('is taken over when its pid now belongs to a process started after the lock was made', async () => {
    const pid = await startSleeper();
    await writeLock(`${pid}\n`, 3600);
    const lock = await acquireReleaseLock(dir, release, log);
    expect(await readFile(path, 'utf8')).toBe(`${process.pid}\n`);
    lock.release();
  });

  it('is taken over when it names our own pid but predates us (a restarted container where the agent is pid 1)', async () => {
    await writeLock(`${process.pid}\n`, 3600);
    const lock = await acquireReleaseLock(dir, release, log);
    lock.release();
    expect(existsSync(path)).toBe(false);
  });

  it('respects a fresh empty lock (upstream writes none) and takes over one older than a minute', async () => {
    await writeLock('');
    await expect(acquireReleaseLock(dir, release, log)).rejects.toThrow(LockBusyError);
    await writeLock('', 120);
    const lock = await acquireReleaseLock(dir, release, log);
    expect(warnings.join('\n')).toContain('it is empty and older than a minute');
    lock.release();
  });

  it('lets only one of two simultaneous takeovers win', async () => {
    await writeLock('', 120);
    const results = await Promise.allSettled([acquireReleaseLock(dir, release, log), acquireReleaseLock(dir, release, log)]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(results.filter((r) => r.status === 'rejected' && r.reason instanceof LockBusyError)).toHaveLength(1);
    for (const r of results) if (r.status === 'fulfilled') r.value.release();
  });

  it('leaves a lock that is no longer ours on release', async () => {
    const lock = await acquireReleaseLock(dir, release, log);
    await writeLock('1\n');
    lock.release();
    expect(existsSync(path)).toBe(true);
  });
});
