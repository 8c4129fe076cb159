import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkCleanupPolicy, loadConfig, parseConfig, resolveConfigPath } from '../../src/config/config.js';
import { ConfigError } from '../../src/config/error.js';
import { interpolated, parseIni } from '../../src/config/ini.js';

const UPSTREAM = join(import.meta.dirname, 'fixtures', 'retrace-server.conf');

function configError(text: string): ConfigError {
  try {
    parseConfig(text, 'test.conf', {});
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('an upstream retrace-server.conf', () => {
  const config = loadConfig(UPSTREAM, {});

  it('loads unchanged with its values typed by the upstream defaults', () => {
    expect(config.retrace).toMatchObject({
      saveDir: '/var/spool/retrace-server',
      repoDir: '/var/cache/retrace-server',
      logDir: '/var/log/retrace-server',
      dropDir: '/srv/retrace/archive',
      requireHttps: true,
      allowTaskManager: false,
      maxParallelTasks: 5,
      maxUnpackedSize: 1024,
      deleteTaskAfter: 0,
      deleteFailedTaskAfter: 0,
      keepRawhideLatest: 3,
      useCreaterepoUpdate: false,
      requireGpgCheck: true,
      retraceEnvironment: 'mock',
      kernelChrootRepo: 'http://dl.fedoraproject.org/pub/fedora/linux/releases/16/Everything/$ARCH/os/',
    });
  });

  it('keeps code defaults for keys the file leaves out', () => {
    expect(config.retrace.taskIdLength).toBe(9);
    expect(config.retrace.taskPassLength).toBe(32);
  });

  it('fills the [agent] section with the SPEC defaults when absent', () => {
    expect(config.agent).toMatchObject({
      listen: { host: '127.0.0.1', port: 9464 },
      maxTaskRuntime: 3600,
      orphanGrace: 600,
      killGrace: 5,
      reconcileInterval: 60,
      mockRootDir: '/var/lib/mock',
      mockCacheDir: '/var/cache/mock',
      workerCommand: 'retrace-server-worker',
      syncReleases: [],
      syncInterval: 43200,
      staleRepoAfter: 172800,
      lockDir: '/tmp',
      gpgDir: '/usr/share/retrace-server/gpg',
    });
  });

  it('reads [archhosts] and drops empty hosts', () => {
    expect([...config.archHosts]).toEqual([['ppc64', 'http://ppc64.example.org']]);
  });

  it('joins continuation lines as configparser does', () => {
    const doc = parseIni('[retrace]\nBugzillaStatus = VERIFIED,\n    RELEASE_PENDING,\n\n    CLOSED\n\nNext = 1\n', 'f');
    expect(interpolated(doc, 'retrace', 'bugzillastatus')).toBe('VERIFIED,\nRELEASE_PENDING,\n\nCLOSED');
    expect(interpolated(doc, 'retrace', 'Next')).toBe('1');
  });
});

describe('configparser semantics', () => {
  it.each([
    ['= delimiter', '[retrace]\nSaveDir = /a\n', '/a'],
    [': delimiter', '[retrace]\nSaveDir: /a\n', '/a'],
    ['case-insensitive names', '[retrace]\nSAVEDIR = /a\n', '/a'],
    ['# and ; comments', '[retrace]\n# SaveDir = /no\n  ; SaveDir = /no\nSaveDir = /a\n', '/a'],
    ['no inline comments', '[retrace]\nSaveDir = /a # not a comment\n', '/a # not a comment'],
    ['interpolation', '[retrace]\nbase = /srv\nSaveDir = %(base)s/spool\n', '/srv/spool'],
    ['interpolation from DEFAULT', '[DEFAULT]\nbase = /d\n[retrace]\nSaveDir = %(base)s/s\n', '/d/s'],
    ['escaped percent', '[retrace]\nSaveDir = /a%%b\n', '/a%b'],
    ['nested interpolation', '[retrace]\na = /x\nb = %(a)s/y\nSaveDir = %(b)s/z\n', '/x/y/z'],
  ])('%s', (_name, text, saveDir) => {
    expect(parseConfig(text, 'f', {}).retrace.saveDir).toBe(saveDir);
  });

  it.each([
    ['1', true], ['yes', true], ['TRUE', true], ['on', true],
    ['0', false], ['no', false], ['False', false], ['OFF', false],
  ])('bool %s', (text, value) => {
    expect(parseConfig(`[retrace]\nAllowTaskManager = ${text}\n`, 'f', {}).retrace.allowTaskManager).toBe(value);
  });

  it('splits list values on whitespace', () => {
    const config = parseConfig('[retrace]\n[agent]\nSyncReleases = fedora-40-x86_64\n  centos-9-aarch64   rhel-9-i686\n', 'f', {});
    expect(config.agent.syncReleases).toEqual([
      { distribution: 'fedora', version: '40', arch: 'x86_64' },
      { distribution: 'centos', version: '9', arch: 'aarch64' },
      { distribution: 'rhel', version: '9', arch: 'i386' },
    ]);
  });

  it('reads the [agent] section', () => {
    const config = parseConfig('[retrace]\n[agent]\nListenAddress = [::1]:9100\nMaxTaskRuntime = 120\nOrphanGrace = 0\n', 'f', {});
    expect(config.agent.listen).toEqual({ host: '::1', port: 9100 });
    expect(config.agent.maxTaskRuntime).toBe(120);
    expect(config.agent.orphanGrace).toBe(0);
  });

  it('keeps unknown keys out of the typed values without complaint', () => {
    expect(() => parseConfig('[retrace]\nSomethingNew = 1\n[webapp]\nx = y\n', 'f', {})).not.toThrow();
  });
});

describe('bad configuration gives a clear error', () => {
  it.each([
    ['a bad int', '[retrace]\n\nDeleteTaskAfter = 12h\n', 'test.conf:3: DeleteTaskAfter: \'12h\' is not an integer'],
    ['a bad bool', '[retrace]\nRequireGPGCheck = maybe\n', 'test.conf:2: RequireGPGCheck: \'maybe\' is not a boolean; expected one of 1/yes/true/on or 0/no/false/off'],
    ['an int below its minimum', '[retrace]\n[agent]\nMaxTaskRuntime = 0\n', 'test.conf:3: MaxTaskRuntime: \'0\' is not an integer of at least 1'],
    ['a missing [retrace] section', '[agent]\nKillGrace = 5\n', 'test.conf: no [retrace] section'],
    ['an option before any section', 'SaveDir = /x\n[retrace]\n', 'test.conf:1: \'SaveDir = /x\' comes before any [section] header'],
    ['a line that is not an option', '[retrace]\nSaveDir\n', 'test.conf:2: \'SaveDir\' is not an option line'],
    ['a duplicate option', '[retrace]\nSaveDir = /a\nsavedir = /b\n', 'test.conf:3: option \'savedir\' appears twice in this section (first at line 2)'],
    ['a duplicate section', '[retrace]\n[retrace]\n', 'test.conf:2: section [retrace] appears twice (first at line 1)'],
    ['a missing interpolation reference', '[retrace]\nSaveDir = %(nothere)s/x\n', 'test.conf:2: the value of \'SaveDir\' refers to \'%(nothere)s\', but [retrace] has no option \'nothere\''],
    ['a bare percent sign', '[retrace]\nSaveDir = /a%b\n', 'test.conf:2: \'%\' in the value of \'SaveDir\' must be followed by \'%\' or \'(name)s\''],
    ['an interpolation loop', '[retrace]\na = %(b)s\nb = %(a)s\nSaveDir = %(a)s\n', 'nests deeper than 10 levels'],
    ['a bad listen address', '[retrace]\n[agent]\nListenAddress = localhost\n', 'test.conf:3: ListenAddress: \'localhost\' is not an address; expected HOST:PORT'],
    ['a bad release', '[retrace]\n[agent]\nSyncReleases = fedora40\n', 'test.conf:3: SyncReleases: \'fedora40\' is not a release; expected DIST-VER-ARCH'],
  ])('%s', (_name, text, message) => {
    expect(configError(text).message).toContain(message);
  });

  it('names a missing file', () => {
    expect(() => loadConfig('/nonexistent/retrace-server.conf', {})).toThrow(/\/nonexistent\/retrace-server.conf: config file not found/);
  });
});

describe('config file location', () => {
  it('prefers --config, then $RETRACE_SERVER_CONFIG_PATH, then the upstream path', () => {
    expect(resolveConfigPath('/cli.conf', { RETRACE_SERVER_CONFIG_PATH: '/env.conf' })).toBe('/cli.conf');
    expect(resolveConfigPath(undefined, { RETRACE_SERVER_CONFIG_PATH: '/env.conf' })).toBe('/env.conf');
    expect(resolveConfigPath(undefined, {})).toBe('/etc/retrace-server/retrace-server.conf');
  });

  it('lets $RETRACE_SERVER_GPG_DIR override GpgDir', () => {
    const dir = mkdtempSync(join(tmpdir(), 'conf-'));
    writeFileSync(join(dir, 'c.conf'), '[retrace]\n[agent]\nGpgDir = /from/file\n');
    expect(loadConfig(join(dir, 'c.conf'), { RETRACE_SERVER_GPG_DIR: '/from/env' }).agent.gpgDir).toBe('/from/env');
    expect(loadConfig(join(dir, 'c.conf'), {}).agent.gpgDir).toBe('/from/file');
  });
});

describe('check_config (upstream retrace-server-cleanup)', () => {
  it('warns when delete and archive are both on, naming the winner', () => {
    expect(checkCleanupPolicy({ deleteTaskAfter: 10, archiveTaskAfter: 20, deleteFailedTaskAfter: 0 }).warnings[0])
      .toContain('With your current settings only deleting will take place.');
    expect(checkCleanupPolicy({ deleteTaskAfter: 20, archiveTaskAfter: 20, deleteFailedTaskAfter: 0 }).warnings[0])
      .toContain('only archiving will take place');
  });

  it('refuses deletions when DeleteTaskAfter < DeleteFailedTaskAfter', () => {
    const check = checkCleanupPolicy({ deleteTaskAfter: 10, archiveTaskAfter: 0, deleteFailedTaskAfter: 24 });
    expect(check.deletionRefused).toBe('ERROR: DeleteTaskAfter is set to a lower value than DeleteFailedTaskAfter. Check '
      + 'retrace-server.conf, did you accidentally reverse the values for DeleteTaskAfter and DeleteFailedTaskAfter? Not touching any tasks.');
  });

  it.each([
    [120, 24, 0],
    [0, 24, 0],
    [10, 0, 0],
    [24, 24, 0],
  ])('accepts DeleteTaskAfter=%i DeleteFailedTaskAfter=%i', (deleteTaskAfter, deleteFailedTaskAfter, archiveTaskAfter) => {
    const check = checkCleanupPolicy({ deleteTaskAfter, deleteFailedTaskAfter, archiveTaskAfter });
    expect(check.deletionRefused).toBeUndefined();
    expect(check.warnings).toEqual([]);
  });

  it('is part of the loaded config', () => {
    expect(parseConfig('[retrace]\nDeleteTaskAfter = 1\nDeleteFailedTaskAfter = 2\n', 'f', {}).cleanupPolicy.deletionRefused).toMatch(/^ERROR/);
  });
});
