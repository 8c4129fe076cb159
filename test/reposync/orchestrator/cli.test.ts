// retrace-server-reposync as a real process against local mirror dirs of real packages: exit codes, the lock
// (two runs at once, a SIGKILLed holder), stray packages, and the no-op run that leaves repodata alone.
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, spawnCli } from '../../support/cli.js';
import { buildMirror, copyInto, createReleaseFixture, type ReleaseFixture } from './fixture.js';

/** Starts the CLI in its own process group (so a wrapper's children die with it) and returns the child. */
function startCli(args: readonly string[], env: NodeJS.ProcessEnv): ChildProcess {
  return spawnCli('reposync', args, { env, detached: true });
}

async function waitFor(what: string, probe: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const start = Date.now();
  while (!(await probe())) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe('retrace-server-reposync', () => {
  let fx: ReleaseFixture;
  let mirror: string;
  let names: string[];

  beforeAll(async () => {
    fx = await createReleaseFixture();
    mirror = join(fx.spool.root, 'mirror');
    names = await buildMirror(mirror, [
      { name: 'alpha', version: '1.0', release: '1', arch: 'x86_64' },
      { name: 'beta', version: '2.0', release: '1', arch: 'noarch' },
    ]);
    await fx.writePlugin([[mirror]]);
  });

  afterAll(async () => {
    await fx?.spool.cleanup();
  });

  it('syncs a release (exit 0), moves stray packages into Packages/ and records the run', async () => {
    const target = fx.targetDir();
    // A stray package left in the target dir by an older tool, under a name the mirror does not have.
    await mkdir(target, { recursive: true });
    const stray = await buildMirror(join(fx.spool.root, 'stray'), [{ name: 'gamma', version: '1', release: '1', arch: 'x86_64' }]);
    await copyInto(stray, join(fx.spool.root, 'stray'), target);

    const result = await runCli('reposync', ['testdist', '1', 'x86_64'], { env: fx.env });
    expect(result.stderr).toContain('[1 / 1] Repo: ');
    expect(result.stderr).toContain('Repository synchronization finished successfully');
    expect(result.code).toBe(0);
    expect((await readdir(join(target, 'Packages'))).sort()).toEqual([...names, ...stray].sort());
    expect((await readdir(target)).filter((name) => name.endsWith('.rpm'))).toEqual([]);
    expect(existsSync(join(target, 'repodata', 'repomd.xml'))).toBe(true);
    const record = JSON.parse(await readFile(join(fx.repoDir, '.retrace-state', 'testdist-1-x86_64', 'last-run.json'), 'utf8'));
    expect(record).toMatchObject({ exitCode: 0, admitted: 2, failedRepos: [], contents: { packages: 3 } });
    expect(record.success).toBe(record.attempt);
  });

  it('does not run createrepo_c again when nothing changed', async () => {
    const repomd = join(fx.targetDir(), 'repodata', 'repomd.xml');
    const before = (await stat(repomd)).mtimeMs;
    const result = await runCli('reposync', ['testdist', '1', 'x86_64'], { env: await fx.createrepoWrapper('echo "createrepo_c must not run" >&2; exit 1') });
    expect(result.code).toBe(0);
    expect((await stat(repomd)).mtimeMs).toBe(before);
  });

  it('canonicalises the arch (i686 → i386)', async () => {
    const result = await runCli('reposync', ['testdist', '1', 'i686'], { env: fx.env });
    expect(result.code).toBe(0);
    expect(existsSync(join(fx.repoDir, 'testdist-1-i386', 'repodata', 'repomd.xml'))).toBe(true);
  });

  it('exits 1 for an unknown distribution', async () => {
    const result = await runCli('reposync', ['nosuchdist', '1', 'x86_64'], { env: fx.env });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("Unknown distribution: 'nosuchdist'");
  });

  it('exits 2 while another sync of the release holds the lock, and 0 for that sync', async () => {
    const env = await fx.createrepoWrapper('sleep 2; exec /usr/bin/createrepo_c "$@"');
    const lock = join(fx.spool.root, 'retrace-reposync-lock-testdist-2-x86_64');
    const first = startCli(['testdist', '2', 'x86_64'], env);
    const firstExit = new Promise<number | null>((resolve) => first.on('exit', resolve));
    await waitFor('the first sync to take the lock', () => existsSync(lock));
    expect((await readFile(lock, 'utf8')).trim()).toBe(String(first.pid));

    const second = await runCli('reposync', ['testdist', '2', 'x86_64'], { env: fx.env });
    expect(second.code).toBe(2);
    expect(second.stderr).toContain('Repository for testdist-2-x86_64 is already being created by a different process');
    expect(await firstExit).toBe(0);
    expect(existsSync(lock)).toBe(false);
  });

  it('takes over the lock of a SIGKILLed sync', async () => {
    const lock = join(fx.spool.root, 'retrace-reposync-lock-testdist-3-x86_64');
    const killed = startCli(['testdist', '3', 'x86_64'], await fx.createrepoWrapper('sleep 20'));
    const gone = new Promise((resolve) => killed.on('exit', resolve));
    // Killed after the pid is in the lock: one killed between creating and writing it leaves an empty lock, which
    // counts as held for a minute (lock.ts).
    await waitFor('the sync to take the lock', async () => (await readFile(lock, 'utf8').catch(() => '')).trim() === String(killed.pid));
    process.kill(-(killed.pid as number), 'SIGKILL');
    await gone;
    expect(existsSync(lock)).toBe(true);

    const next = await runCli('reposync', ['testdist', '3', 'x86_64'], { env: fx.env });
    expect(next.stderr).toMatch(/taking over the lock .*: its holder \(pid \d+\) is gone/);
    expect(next.code).toBe(0);
    expect(existsSync(lock)).toBe(false);
  });

  it('stops on SIGTERM, removing its lock', async () => {
    const lock = join(fx.spool.root, 'retrace-reposync-lock-testdist-6-x86_64');
    const child = startCli(['testdist', '6', 'x86_64'], await fx.createrepoWrapper('exec sleep 30'));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    await waitFor('createrepo_c to start', () => existsSync(join(fx.targetDir('6'), 'Packages', names[0] as string)));
    await new Promise((resolve) => setTimeout(resolve, 300));
    const stopping = Date.now();
    child.kill('SIGTERM');
    expect(await exited).toBe(143);
    expect(Date.now() - stopping).toBeLessThan(5000);
    expect(existsSync(lock)).toBe(false);
  });

  it('exits 3 when the lock cannot be created', async () => {
    const env = await fx.configVariant('no-lock-dir', (text) => text.replace(/^LockDir = .*$/m, `LockDir = ${join(fx.spool.root, 'no-such-dir')}`));
    const result = await runCli('reposync', ['testdist', '1', 'x86_64'], { env });
    expect(result.code).toBe(3);
    expect(result.stderr).toContain('Unable to set lock');
  });

  it('exits 4 with createrepo_c output in the log when createrepo_c fails', async () => {
    const env = await fx.createrepoWrapper('echo "Cannot write repodata: disk full" >&2; exit 1');
    const result = await runCli('reposync', ['testdist', '4', 'x86_64'], { env });
    expect(result.code).toBe(4);
    expect(result.stderr).toContain('Cannot write repodata: disk full');
  });

  it('exits 5 when a repo has no working mirror, after syncing the other repos', async () => {
    await fx.writePlugin([[join(fx.spool.root, 'down-1'), join(fx.spool.root, 'down-2')], [mirror]]);
    try {
      const result = await runCli('reposync', ['testdist', '5', 'x86_64'], { env: fx.env });
      expect(result.stderr).toContain('Trying another mirror');
      expect(result.stderr).toContain('Download failed, no more mirrors to try');
      expect(result.code).toBe(5);
      expect((await readdir(join(fx.targetDir('5'), 'Packages'))).sort()).toEqual([...names].sort());
      expect(existsSync(join(fx.targetDir('5'), 'repodata', 'repomd.xml'))).toBe(true);
    } finally {
      await fx.writePlugin([[mirror]]);
    }
  });

  it.runIf(process.getuid?.() === 0)('exits 6 when run as root and the privileges cannot be dropped', async () => {
    const env = await fx.configVariant('bad-group', (text) => text.replace('[agent]', 'AuthGroup = no-such-group-retrace-test\n[agent]'));
    const result = await runCli('reposync', ['testdist', '1', 'x86_64'], { env: { ...env, RETRACE_SERVER_TESTING: '' } });
    expect(result.stderr).toContain("Failed to set privileges to 'retrace:no-such-group-retrace-test'");
    expect(result.code).toBe(6);
  });

  it('refuses a config it cannot read with exit 1', async () => {
    const config = join(fx.spool.root, 'broken.conf');
    await writeFile(config, '[retrace]\nKeepRawhideLatest = many\n');
    const result = await runCli('reposync', ['testdist', '1', 'x86_64'], { env: { ...fx.env, RETRACE_SERVER_CONFIG_PATH: config } });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('KeepRawhideLatest');
  });
});
