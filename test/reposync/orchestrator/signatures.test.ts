// With RequireGPGCheck the orchestrator hands transports a verifier over GpgDir: a signed package enters Packages/,
// an unsigned one goes to quarantine, and the run's record counts it by reason. A repo whose cfg says gpgcheck=0
// takes both.
import { existsSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/config.js';
import { createLogger } from '../../../src/log.js';
import { loadPlugins } from '../../../src/plugins/load.js';
import { syncRelease } from '../../../src/reposync/sync-release.js';
import { runCli } from '../../support/cli.js';
import { createGpgHome, type GpgHome } from '../../support/gpg.js';
import { signRpms } from '../../support/rpm.js';
import { createTestSpool, type TestSpool } from '../../support/spool.js';
import { buildMirror } from './fixture.js';

const log = createLogger({ name: 'test', level: 'silent' });

describe('package signatures during a sync', () => {
  let spool: TestSpool;
  let gpg: GpgHome;
  let configPath: string;
  let pluginDir: string;

  beforeAll(async () => {
    spool = await createTestSpool();
    gpg = await createGpgHome();
    const key = await gpg.generateKey('Test Signer <signer@test>');
    await mkdir(join(spool.root, 'gpg'));
    await writeFile(join(spool.root, 'gpg', 'RPM-GPG-KEY-test'), await gpg.exportArmored([key.fingerprint]));

    const mirror = join(spool.root, 'mirror');
    const [signed = ''] = await buildMirror(mirror, [{ name: 'signed', version: '1', release: '1', arch: 'x86_64' }]);
    await signRpms([join(mirror, signed)], gpg, key.fingerprint);
    await buildMirror(mirror, [{ name: 'unsigned', version: '1', release: '1', arch: 'x86_64' }]);

    pluginDir = join(spool.root, 'plugins');
    await mkdir(pluginDir);
    await writeFile(join(pluginDir, 'testdist.py'), [
      'distribution = "testdist"',
      `repos = [[${JSON.stringify(mirror)}]]`,
      '',
    ].join('\n'));
    await writeFile(join(pluginDir, 'lax.py'), [
      'distribution = "lax"',
      `repos = [([${JSON.stringify(mirror)}], "gpgcheck=0")]`,
      '',
    ].join('\n'));
    configPath = await spool.writeConfig();
  }, 60_000);

  afterAll(async () => {
    await gpg?.cleanup();
    await spool?.cleanup();
  });

  it('admits the signed package and quarantines the unsigned one', async () => {
    const { plugins } = await loadPlugins(pluginDir);
    const release = { distribution: 'testdist', version: '1', arch: 'x86_64' };
    const outcome = await syncRelease({ config: loadConfig(configPath), plugins, release, log });
    expect(outcome.exitCode).toBe(0);
    expect(outcome.record).toMatchObject({ admitted: 1, rejected: { unsigned: 1 } });
    const repo = join(spool.root, 'repos');
    expect(await readdir(join(repo, 'testdist-1-x86_64', 'Packages'))).toEqual(['signed-1-1.x86_64.rpm']);
    expect(existsSync(join(repo, 'testdist-1-x86_64.quarantine'))).toBe(true);
  });

  it('takes every package when the repo cfg turns gpgcheck off', async () => {
    const { plugins } = await loadPlugins(pluginDir);
    const outcome = await syncRelease({ config: loadConfig(configPath), plugins, release: { distribution: 'lax', version: '1', arch: 'x86_64' }, log });
    expect(outcome.exitCode).toBe(0);
    expect((await readdir(join(spool.root, 'repos', 'lax-1-x86_64', 'Packages'))).sort()).toEqual(['signed-1-1.x86_64.rpm', 'unsigned-1-1.x86_64.rpm']);
  });

  it('--verify-only re-checks what is in Packages/, like rpm -K, and changes nothing', async () => {
    const env = { RETRACE_SERVER_TESTING: '1' };
    const lax = await runCli('reposync', ['--verify-only', 'lax', '1', 'x86_64', '--config', configPath, '--plugin-dir', pluginDir], { env });
    expect(lax.code).toBe(7);
    expect(lax.stdout).toMatch(/^signed-1-1\.x86_64\.rpm: OK \(signed by [0-9A-F]{16}\)\nunsigned-1-1\.x86_64\.rpm: NOT OK \(unsigned: .+\)\n$/);
    expect((await readdir(join(spool.root, 'repos', 'lax-1-x86_64', 'Packages'))).sort()).toEqual(['signed-1-1.x86_64.rpm', 'unsigned-1-1.x86_64.rpm']);

    const strict = await runCli('reposync', ['--verify-only', 'testdist', '1', 'x86_64', '--config', configPath, '--plugin-dir', pluginDir], { env });
    expect(strict.code).toBe(0);
    expect(strict.stdout).toMatch(/^signed-1-1\.x86_64\.rpm: OK/);
  });
});
