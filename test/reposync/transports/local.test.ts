import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syncFromMirror } from '../../../src/reposync/mirror-sync.js';
import type { PackageVerdict } from '../../../src/reposync/types.js';
import { buildMirrorPackages, fedoraLayout, filesIn, reasonOf, repoDirs, testContext, type Dirs } from '../fixtures/mirror.js';
import { workDir } from '../fixtures/repos.js';

let work: string;
let packages: Map<string, Buffer>;
/** Packages/<letter>/<file>, plus a top-level package and a non-package file. */
let tree: string;

beforeAll(async () => {
  work = await workDir();
  packages = await buildMirrorPackages(work, 5);
  tree = path.join(work, 'tree');
  for (const [relative, data] of fedoraLayout(packages)) {
    await mkdir(path.join(tree, path.dirname(relative)), { recursive: true });
    await writeFile(path.join(tree, relative), data);
  }
  await writeFile(path.join(tree, 'Packages', 'README'), 'not a package');
}, 60_000);

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

async function freshDirs(): Promise<Dirs> {
  return repoDirs(await mkdtemp(path.join(work, 'sync-')));
}

describe('local mirror', () => {
  it('copies the packages a glob names, then nothing on a re-sync', async () => {
    const dirs = await freshDirs();
    const mirror = path.join(tree, 'Packages', '*', '*.rpm');
    const first = await syncFromMirror(mirror, testContext(dirs));
    expect(first).toMatchObject({ ok: true, admitted: 5, rejected: [] });
    expect(await filesIn(dirs.packagesDir)).toEqual(new Map([...packages].sort()));
    let verified = 0;
    const counting = async (): Promise<PackageVerdict> => {
      verified++;
      return { ok: true };
    };
    const second = await syncFromMirror(mirror, testContext(dirs, { verifyPackage: counting }));
    expect(second).toMatchObject({ ok: true, admitted: 0, rejected: [] });
    expect(verified).toBe(0);
  });

  it('trusts size and mtime (to the millisecond) on a re-sync, as rsync does, without reading the files', async () => {
    const dirs = await freshDirs();
    const [name, data] = [...packages][1]!;
    const mirror = path.join(work, 'quick-check');
    await mkdir(mirror, { recursive: true });
    const file = path.join(mirror, name);
    await writeFile(file, data);
    // A mtime with a fraction of a millisecond, as files written on ext4 or tmpfs have.
    const mtime = 1_700_000_000.1234567;
    await utimes(file, mtime, mtime);
    expect(await syncFromMirror(mirror, testContext(dirs))).toMatchObject({ ok: true, admitted: 1 });
    // Other bytes of the same size under the same mtime: only reading the file could tell.
    const other = Buffer.from(data);
    other[other.length - 1] = (other.at(-1) ?? 0) ^ 0xff;
    await writeFile(file, other);
    await utimes(file, mtime, mtime);
    expect(await syncFromMirror(mirror, testContext(dirs))).toMatchObject({ ok: true, admitted: 0, rejected: [] });
    expect(await readFile(path.join(dirs.packagesDir, name))).toEqual(data);
  });

  it('reads a directory without recursing', async () => {
    const dirs = await freshDirs();
    const [name, data] = [...packages][0]!;
    const flat = path.join(work, 'flat');
    await mkdir(flat, { recursive: true });
    await writeFile(path.join(flat, name), data);
    const result = await syncFromMirror(flat, testContext(dirs));
    expect(result).toMatchObject({ ok: true, admitted: 1 });
    expect((await syncFromMirror(tree, testContext(await freshDirs()))).admitted).toBe(0);
  });

  it('a missing directory or a glob without matches fails the mirror', async () => {
    expect(await syncFromMirror(path.join(work, 'nope'), testContext(await freshDirs()))).toMatchObject({ ok: false, detail: expect.stringContaining('ENOENT') });
    expect(await syncFromMirror(path.join(tree, '*', '*.nothing'), testContext(await freshDirs()))).toMatchObject({ ok: false, detail: expect.stringContaining('no package matches') });
  });

  it('quarantines refused packages, non-RPM files and a different file under a kept name', async () => {
    const dirs = await freshDirs();
    const names = [...packages.keys()];
    const kept = Buffer.from('an older build of the same name');
    await writeFile(path.join(dirs.packagesDir, names[0]!), kept);
    const odd = path.join(work, 'odd');
    await mkdir(odd, { recursive: true });
    for (const [name, data] of packages) await writeFile(path.join(odd, name), data);
    await writeFile(path.join(odd, 'fake-1-1.noarch.rpm'), 'not an rpm at all');
    const refuseSecond = async (file: string): Promise<PackageVerdict> =>
      path.basename(file) === names[1] ? { ok: false, reason: 'unknown_key', detail: 'key 0123456789ABCDEF is not trusted' } : { ok: true };

    const result = await syncFromMirror(odd, testContext(dirs, { verifyPackage: refuseSecond }));
    expect(result).toMatchObject({ ok: true, admitted: 3 });
    expect(result.rejected.map((r) => [r.file, r.reason]).sort()).toEqual(
      [
        [names[0], 'checksum_mismatch'],
        [names[1], 'unknown_key'],
        ['fake-1-1.noarch.rpm', 'corrupt'],
      ].sort(),
    );
    expect(await readFile(path.join(dirs.packagesDir, names[0]!))).toEqual(kept);
    expect(await reasonOf(dirs, names[1]!)).toMatchObject({ file: names[1], reason: 'unknown_key', detail: 'key 0123456789ABCDEF is not trusted', mirror: odd });
    expect(await readFile(path.join(dirs.quarantineDir, names[1]!))).toEqual(packages.get(names[1]!));

    // The next run checks the copy in quarantine again, finds the same reason and counts nothing new; once the
    // verdict changes, the package is admitted from there.
    const again = await syncFromMirror(odd, testContext(dirs, { verifyPackage: refuseSecond }));
    expect(again.rejected.map((r) => r.reason)).toEqual(['checksum_mismatch']);
    const accepted = await syncFromMirror(odd, testContext(dirs));
    expect(accepted.admitted).toBe(1);
    expect(await readFile(path.join(dirs.packagesDir, names[1]!))).toEqual(packages.get(names[1]!));
    expect(existsSync(path.join(dirs.quarantineDir, names[1]!))).toBe(false);
  });
});
