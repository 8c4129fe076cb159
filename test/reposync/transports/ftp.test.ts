import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syncFromMirror } from '../../../src/reposync/mirror-sync.js';
import { startFtpServer, type FtpServer } from '../../support/ftp-server.js';
import { buildMirrorPackages, filesIn, makeRepo, repoDirs, testContext, type Dirs } from '../fixtures/mirror.js';
import { workDir, type Repo } from '../fixtures/repos.js';

let work: string;
let ftp: FtpServer;
let packages: Map<string, Buffer>;
let repo: Repo;

beforeAll(async () => {
  work = await workDir();
  packages = await buildMirrorPackages(work, 4);
  repo = await makeRepo(work, packages);
  ftp = await startFtpServer({ root: work });
}, 60_000);

afterAll(async () => {
  await ftp?.stop();
  await rm(work, { recursive: true, force: true });
});

/** Threads of this process named as the staging threads are. */
async function stagingThreads(): Promise<number> {
  const tasks = await readdir('/proc/self/task');
  const names = await Promise.all(tasks.map((task) => readFile(`/proc/self/task/${task}/comm`, 'utf8').catch(() => '')));
  return names.filter((name) => name.trim() === 'reposync-stager').length;
}

async function freshDirs(): Promise<Dirs> {
  return repoDirs(await mkdtemp(path.join(work, 'sync-')));
}

describe('ftp mirror', () => {
  it('syncs a repo through curl, then finds repomd.xml unchanged', async () => {
    const dirs = await freshDirs();
    const mirror = ftp.url(`${path.relative(work, repo.root)}/`);
    // Packages over ftp come through curl: no staging thread is started for them.
    let threadsSeen = 0;
    const syncing = syncFromMirror(mirror, testContext(dirs));
    for (let done = false; !done; ) {
      threadsSeen = Math.max(threadsSeen, await stagingThreads());
      done = await Promise.race([syncing.then(() => true), new Promise<boolean>((resolve) => setTimeout(resolve, 2, false))]);
    }
    expect(await syncing).toMatchObject({ ok: true, admitted: 4, rejected: [], unchanged: false });
    expect(threadsSeen).toBe(0);
    expect(await filesIn(dirs.packagesDir)).toEqual(new Map([...packages].sort()));
    const second = await syncFromMirror(mirror, testContext(dirs));
    expect(second).toMatchObject({ ok: true, admitted: 0, unchanged: true });
  });

  it('a path without repodata fails the mirror without retries', async () => {
    const started = performance.now();
    const result = await syncFromMirror(ftp.url('no/such/dir/'), testContext(await freshDirs()));
    expect(result).toMatchObject({ ok: false, detail: expect.stringMatching(/^curl exited (9|78)/) });
    expect(performance.now() - started).toBeLessThan(2_000);
  });
});

describe('ftp resume', () => {
  it('continues a partial file left in staging, and starts over when that partial was not a prefix', async () => {
    const dirs = await freshDirs();
    const [[good, goodData], [junk, junkData]] = [...packages] as [[string, Buffer], [string, Buffer]];
    const downloads = path.join(dirs.stagingDir, 'downloads');
    await mkdir(downloads, { recursive: true });
    await writeFile(path.join(downloads, good), goodData.subarray(0, 10_000));
    await writeFile(path.join(downloads, junk), Buffer.alloc(10_000, 0x55));
    const result = await syncFromMirror(ftp.url(`${path.relative(work, repo.root)}/`), testContext(dirs, { options: { retries: 1 } }));
    expect(result).toMatchObject({ ok: true, admitted: 4, rejected: [] });
    expect(await readFile(path.join(dirs.packagesDir, good))).toEqual(goodData);
    expect(await readFile(path.join(dirs.packagesDir, junk))).toEqual(junkData);
  });
});
