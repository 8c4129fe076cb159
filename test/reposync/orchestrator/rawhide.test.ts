// The rawhide rule on real packages (versions read from their headers, epoch included) and rpm's version order.
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareEvr, rpmvercmp } from '../../../src/rpm/vercmp.js';
import { runCli } from '../../support/cli.js';
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

describe('a rawhide sync', () => {
  let fx: ReleaseFixture;
  let mirror: string;

  beforeAll(async () => {
    fx = await createReleaseFixture({ retraceLines: ['KeepRawhideLatest = 2'] });
    mirror = join(fx.spool.root, 'mirror');
    await buildMirror(mirror, [
      { name: 'foo', version: '1.0', release: '1', arch: 'x86_64' },
      { name: 'foo', version: '2.0', release: '1', arch: 'x86_64' },
      { name: 'foo', version: '10.0', release: '1', arch: 'x86_64' },
      // Epoch 1 beats every version above, although its file name looks oldest.
      { name: 'foo', version: '0.5', release: '1', arch: 'x86_64', epoch: 1 },
      // Another arch is another group.
      { name: 'foo', version: '1.0', release: '1', arch: 'i686' },
      { name: 'bar', version: '1', release: '1', arch: 'noarch' },
      { name: 'bar', version: '1', release: '2', arch: 'noarch' },
    ]);
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
    expect((await readdir(join(fx.targetDir('Rawhide'), 'Packages'))).sort()).toEqual([
      'bar-1-1.noarch.rpm', 'bar-1-2.noarch.rpm', 'foo-0.5-1.x86_64.rpm', 'foo-1.0-1.i686.rpm', 'foo-10.0-1.x86_64.rpm',
    ]);
  });

  it('leaves other releases alone', async () => {
    const result = await runCli('reposync', ['testdist', '40', 'x86_64'], { env: fx.env });
    expect(result.code).toBe(0);
    expect(await readdir(join(fx.targetDir('40'), 'Packages'))).toHaveLength(7);
  });
});
