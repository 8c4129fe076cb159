// The rawhide rule on real packages (versions read from their headers, epoch included) and rpm's version order;
// from an http mirror, the versions the rule would delete are not even fetched.
import { execFileSync } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NewestVersions } from '../../../src/reposync/rawhide.js';
import { compareEvr, rpmvercmp, type Evr } from '../../../src/rpm/vercmp.js';
import { runCli } from '../../support/cli.js';
import { startHttpServer, type HttpServer } from '../../support/http-server.js';
import type { RpmSpec } from '../../support/rpm.js';
import { buildMirror, createReleaseFixture, type ReleaseFixture } from './fixture.js';

describe('rpmvercmp', () => {
  it.each([
    ['1.0', '1.0', 0], ['1.0', '2.0', -1], ['2.0.1', '2.0', 1], ['10', '9', 1], ['1.010', '1.9', 1], ['001', '1', 0],
    ['1.0a', '1.0', 1], ['a', '1', -1], ['1.0~rc1', '1.0', -1], ['1.0~rc1', '1.0~rc2', -1], ['1.0^git1', '1.0', 1],
    ['1.0^git1', '1.0.1', -1], ['1_0', '1.0', 0], ['fc40', 'fc39', 1], ['2.a', '2.1', -1],
  ] as const)('%s vs %s → %i', (a, b, expected) => {
    expect(rpmvercmp(a, b)).toBe(expected);
    expect(rpmvercmp(b, a)).toBe(-expected || 0);
  });

  it('compares the epoch first', () => {
    expect(compareEvr({ epoch: 1, version: '0.5', release: '1' }, { epoch: 0, version: '10', release: '1' })).toBe(1);
    expect(compareEvr({ epoch: 0, version: '1', release: '2' }, { epoch: 0, version: '1', release: '10' })).toBe(-1);
  });
});

describe('NewestVersions', () => {
  const evr = (text: string): Evr => {
    const [, epoch, version, release] = /^(?:(\d+):)?([^-]+)-(.+)$/.exec(text) ?? [];
    return { epoch: Number(epoch ?? 0), version: version as string, release: release as string };
  };
  const foo = (text: string) => ({ name: 'foo', arch: 'x86_64', ...evr(text) });

  it.each([
    { keep: 2, offered: ['1.0-1', '10.0-1', '2.0-1'], kept: ['10.0-1', '2.0-1'] },
    { keep: 2, offered: ['10.0-1', '2.0-1', '1.0-1'], kept: ['10.0-1', '2.0-1'] },
    { keep: 2, offered: ['1.0-1', '2.0-1', '10.0-1', '1:0.5-1'], kept: ['1:0.5-1', '10.0-1'] },
    { keep: 1, offered: ['1.0~rc1-1', '1.0-1', '1.0^git1-1'], kept: ['1.0^git1-1'] },
    // One version, however often offered (a rebuilt or re-signed copy), counts once.
    { keep: 2, offered: ['2.0-1', '2.0-1', '0:2.0-1', '1.0-1', '0.9-1'], kept: ['2.0-1', '1.0-1'] },
    { keep: 3, offered: ['1.0-1', '2.0-1'], kept: ['1.0-1', '2.0-1'] },
  ])('keep $keep of $offered → $kept', ({ keep, offered, kept }) => {
    const newest = new NewestVersions(keep);
    for (const text of offered) newest.offer(foo(text));
    expect(offered.filter((text) => newest.keeps(foo(text)))).toEqual(offered.filter((text) => kept.some((k) => compareEvr(evr(k), evr(text)) === 0)));
    expect(newest.keeps(foo('0.1-1'))).toBe(false);
  });

  it('keeps each name and arch on its own', () => {
    const newest = new NewestVersions(1);
    for (const pkg of [foo('2.0-1'), { ...foo('1.0-1'), arch: 'i686' }, { ...foo('0.1-1'), name: 'bar' }]) newest.offer(pkg);
    expect(newest.keeps({ ...foo('1.0-1'), arch: 'i686' })).toBe(true);
    expect(newest.keeps({ ...foo('0.1-1'), name: 'bar' })).toBe(true);
    expect(newest.keeps(foo('1.0-1'))).toBe(false);
    expect(newest.keeps({ ...foo('2.0-1'), name: 'bar' })).toBe(false);
  });
});

const MIRROR_PACKAGES: readonly RpmSpec[] = [
  { name: 'foo', version: '1.0', release: '1', arch: 'x86_64' },
  { name: 'foo', version: '2.0', release: '1', arch: 'x86_64' },
  { name: 'foo', version: '10.0', release: '1', arch: 'x86_64' },
  // Epoch 1 beats every version above, although its file name looks oldest.
  { name: 'foo', version: '0.5', release: '1', arch: 'x86_64', epoch: 1 },
  // Another arch is another group.
  { name: 'foo', version: '1.0', release: '1', arch: 'i686' },
  { name: 'bar', version: '1', release: '1', arch: 'noarch' },
  { name: 'bar', version: '1', release: '2', arch: 'noarch' },
];
const NEWEST_TWO = ['bar-1-1.noarch.rpm', 'bar-1-2.noarch.rpm', 'foo-0.5-1.x86_64.rpm', 'foo-1.0-1.i686.rpm', 'foo-10.0-1.x86_64.rpm'];

describe('a rawhide sync', () => {
  let fx: ReleaseFixture;
  let mirror: string;

  beforeAll(async () => {
    fx = await createReleaseFixture({ retraceLines: ['KeepRawhideLatest = 2'] });
    mirror = join(fx.spool.root, 'mirror');
    await buildMirror(mirror, MIRROR_PACKAGES);
    await fx.writePlugin([[mirror]]);
  }, 60_000);

  afterAll(async () => {
    await fx?.spool.cleanup();
  });

  it('keeps the newest KeepRawhideLatest versions per name and arch, epoch included', async () => {
    const result = await runCli('reposync', ['testdist', 'Rawhide', 'x86_64'], { env: fx.env });
    expect(result.code).toBe(0);
    expect(result.stderr).toContain('Removing foo-1.0-1.x86_64.rpm');
    expect(result.stderr).toContain('Removing foo-2.0-1.x86_64.rpm');
    expect((await readdir(join(fx.targetDir('Rawhide'), 'Packages'))).sort()).toEqual(NEWEST_TWO);
  });

  it('leaves other releases alone', async () => {
    const result = await runCli('reposync', ['testdist', '40', 'x86_64'], { env: fx.env });
    expect(result.code).toBe(0);
    expect(await readdir(join(fx.targetDir('40'), 'Packages'))).toHaveLength(7);
  });
});

describe('a rawhide sync from an http mirror', () => {
  let fx: ReleaseFixture;
  let server: HttpServer;
  const fetched = (): string[] => server.requests.filter((r) => r.path.endsWith('.rpm')).map((r) => r.path.replace(/^.*\//, '')).sort();

  beforeAll(async () => {
    fx = await createReleaseFixture({ retraceLines: ['KeepRawhideLatest = 2'] });
    const mirror = join(fx.spool.root, 'mirror');
    await buildMirror(join(mirror, 'Packages'), MIRROR_PACKAGES);
    execFileSync('createrepo_c', ['--no-database', '--quiet', mirror]);
    server = await startHttpServer({ root: mirror });
    await fx.writePlugin([[server.baseUrl]]);
  }, 60_000);

  afterAll(async () => {
    await server?.stop();
    await fx?.spool.cleanup();
  });

  it('fetches only the versions the rule keeps, and removes nothing', async () => {
    const result = await runCli('reposync', ['testdist', 'Rawhide', 'x86_64'], { env: fx.env });
    expect(result.code).toBe(0);
    expect(fetched()).toEqual(NEWEST_TWO);
    expect(result.stderr).toContain('2 listed packages have 2 newer versions listed: not fetched');
    expect(result.stderr).not.toContain('Removing');
    expect((await readdir(join(fx.targetDir('Rawhide'), 'Packages'))).sort()).toEqual(NEWEST_TWO);
  });

  it('fetches every version for other releases', async () => {
    const before = server.requests.length;
    const result = await runCli('reposync', ['testdist', '40', 'x86_64'], { env: fx.env });
    expect(result.code).toBe(0);
    expect(server.requests.slice(before).filter((r) => r.path.endsWith('.rpm'))).toHaveLength(MIRROR_PACKAGES.length);
    expect(await readdir(join(fx.targetDir('40'), 'Packages'))).toHaveLength(MIRROR_PACKAGES.length);
  });
});
