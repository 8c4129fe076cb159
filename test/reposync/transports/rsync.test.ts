import { mkdir, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syncFromMirror } from '../../../src/reposync/mirror-sync.js';
import type { PackageVerdict } from '../../../src/reposync/types.js';
import { startRsyncDaemon, type RsyncDaemon } from '../../support/rsync-daemon.js';
import { buildMirrorPackages, fedoraLayout, filesIn, reasonOf, repoDirs, testContext, type Dirs } from '../fixtures/mirror.js';
import { workDir } from '../fixtures/repos.js';

let work: string;
let daemon: RsyncDaemon;
let packages: Map<string, Buffer>;
/** The served tree: Packages/<letter>/<file>, plus repodata/ that must never be copied. */
let served: string;

beforeAll(async () => {
  work = await workDir();
  packages = await buildMirrorPackages(work, 6);
  served = path.join(work, 'served');
  for (const [relative, data] of fedoraLayout(packages)) {
    await mkdir(path.join(served, path.dirname(relative)), { recursive: true });
    await writeFile(path.join(served, relative), data);
  }
  await mkdir(path.join(served, 'repodata'));
  await writeFile(path.join(served, 'repodata', 'repomd.xml'), '<repomd/>');
  // A flat dir of packages too, for the mirror without a glob.
  await mkdir(path.join(served, 'flat'));
  for (const [name, data] of packages) await writeFile(path.join(served, 'flat', name), data);
  daemon = await startRsyncDaemon({ modules: { repo: served } });
}, 60_000);

afterAll(async () => {
  await daemon?.stop();
  await rm(work, { recursive: true, force: true });
});

async function freshDirs(): Promise<Dirs> {
  return repoDirs(await mkdtemp(path.join(work, 'sync-')));
}

describe('rsync mirror', () => {
  it('expands a remote glob flat into Packages/, keeps what upstream deleted, and fetches only what is new', async () => {
    const dirs = await freshDirs();
    const mirror = daemon.url('repo', 'Packages/*/*.rpm');
    const first = await syncFromMirror(mirror, testContext(dirs));
    expect(first).toMatchObject({ ok: true, admitted: 6, rejected: [], unchanged: false });
    expect(await filesIn(dirs.packagesDir)).toEqual(new Map([...packages].sort()));

    // Upstream drops one package and adds one.
    const [gone] = [...packages.keys()];
    const goneRelative = `Packages/${gone![0]}/${gone}`;
    const goneData = await readFile(path.join(served, goneRelative));
    await rm(path.join(served, goneRelative));
    const added = await buildMirrorPackages(await mkdtemp(path.join(work, 'more-')), 7);
    const [newName, newData] = [...added].find(([name]) => name.startsWith('grape'))!;
    await mkdir(path.join(served, 'Packages', 'g'), { recursive: true });
    await writeFile(path.join(served, 'Packages', 'g', newName), newData);
    try {
      const second = await syncFromMirror(mirror, testContext(dirs));
      expect(second).toMatchObject({ ok: true, admitted: 1, rejected: [], detail: expect.stringContaining('; 1 files transferred') });
      const kept = await filesIn(dirs.packagesDir);
      expect(kept.get(gone!)).toEqual(goneData);
      expect(kept.get(newName)).toEqual(newData);
      expect(kept.size).toBe(7);
      // --compare-dest skips what Packages/ already has by size and mtime: a served file changed in place (same
      // size and mtime) is not transferred.
      const servedNew = path.join(served, 'Packages', 'g', newName);
      const { mtime } = await stat(servedNew);
      const flipped = Buffer.from(newData);
      flipped[flipped.length - 1]! ^= 0xff;
      await writeFile(servedNew, flipped);
      await utimes(servedNew, mtime, mtime);
      const third = await syncFromMirror(mirror, testContext(dirs));
      expect(third).toMatchObject({ ok: true, admitted: 0, rejected: [], detail: expect.stringContaining('; 0 files transferred') });
    } finally {
      await rm(path.join(served, 'Packages', 'g', newName));
      await writeFile(path.join(served, goneRelative), goneData);
    }
  });

  it('reads a mirror without a glob as its *.rpm files, never repodata/', async () => {
    const dirs = await freshDirs();
    const result = await syncFromMirror(daemon.url('repo', 'flat/'), testContext(dirs));
    expect(result).toMatchObject({ ok: true, admitted: 6 });
    expect([...(await filesIn(dirs.packagesDir)).keys()]).toEqual([...packages.keys()].sort());
    expect(await readdir(path.dirname(dirs.packagesDir))).toEqual(['Packages']);
  });

  it('quarantines a re-signed package with the same name instead of overwriting the kept one', async () => {
    const dirs = await freshDirs();
    const mirror = daemon.url('repo', 'flat/*.rpm');
    await syncFromMirror(mirror, testContext(dirs));
    const [name, original] = [...packages][1]!;
    const resigned = Buffer.concat([original, Buffer.from('trailing bytes')]);
    await writeFile(path.join(served, 'flat', name), resigned);
    await utimes(path.join(served, 'flat', name), new Date(), new Date(Date.now() + 60_000));
    try {
      // The stand-in for a re-signed package (trailing bytes) would fail rpm's size check, which runs with gpgcheck
      // off; this context verifies with a verifier that accepts it, so what is tested is the kept name alone.
      const result = await syncFromMirror(mirror, testContext(dirs, { options: { gpgcheck: true } }));
      expect(result).toMatchObject({ ok: true, admitted: 0 });
      expect(result.rejected).toEqual([{ file: name, reason: 'checksum_mismatch', detail: expect.stringContaining('kept it') }]);
      expect(await readFile(path.join(dirs.packagesDir, name))).toEqual(original);
      expect(await readFile(path.join(dirs.quarantineDir, name))).toEqual(resigned);
      expect(await reasonOf(dirs, name)).toMatchObject({ reason: 'checksum_mismatch', mirror });
    } finally {
      await writeFile(path.join(served, 'flat', name), original);
    }
  });

  it('passes every file through verifyPackage', async () => {
    const dirs = await freshDirs();
    const refuseFig = async (file: string): Promise<PackageVerdict> =>
      path.basename(file).startsWith('fig-') ? { ok: false, reason: 'bad_signature', detail: 'test refusal' } : { ok: true };
    const result = await syncFromMirror(daemon.url('repo', 'flat/*.rpm'), testContext(dirs, { verifyPackage: refuseFig }));
    expect(result).toMatchObject({ ok: true, admitted: 5, rejected: [{ reason: 'bad_signature', detail: 'test refusal' }] });
    expect(await reasonOf(dirs, result.rejected[0]!.file)).toMatchObject({ reason: 'bad_signature', detail: 'test refusal' });
    // rsync sends the refused file again, but the copy in quarantine answers for it: not counted twice.
    expect(await syncFromMirror(daemon.url('repo', 'flat/*.rpm'), testContext(dirs, { verifyPackage: refuseFig }))).toMatchObject({ ok: true, admitted: 0, rejected: [] });
  });

  it('an unknown module or a glob without matches fails the mirror', async () => {
    const unknown = await syncFromMirror(daemon.url('nosuch', 'x/'), testContext(await freshDirs()));
    expect(unknown).toMatchObject({ ok: false, detail: expect.stringMatching(/^rsync exited 5/) });
    const empty = await syncFromMirror(daemon.url('repo', 'Packages/*/*.nothing.rpm'), testContext(await freshDirs()));
    expect(empty).toMatchObject({ ok: false, detail: expect.stringMatching(/^rsync exited 23/) });
  });

  it('a server that accepts and never answers fails within the timeout', async () => {
    const sockets = new Set<Socket>();
    const silent: Server = createServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as { port: number }).port;
    try {
      const started = performance.now();
      const result = await syncFromMirror(`rsync://127.0.0.1:${port}/repo/`, testContext(await freshDirs(), { options: { timeoutSeconds: 1 } }));
      expect(result.ok).toBe(false);
      expect(performance.now() - started).toBeLessThan(10_000);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it('stops rsync on abort', async () => {
    const controller = new AbortController();
    const sockets = new Set<Socket>();
    const silent = createServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as { port: number }).port;
    try {
      const sync = syncFromMirror(`rsync://127.0.0.1:${port}/repo/`, testContext(await freshDirs(), { signal: controller.signal }));
      setTimeout(() => controller.abort(new Error('agent stopping')), 200);
      const started = performance.now();
      await expect(sync).rejects.toThrow('agent stopping');
      expect(performance.now() - started).toBeLessThan(2_000);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });
});

