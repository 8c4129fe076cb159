import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { freePort } from '../support/daemons.js';
import { startHttpServer } from '../support/http-server.js';
import { startRsyncDaemon } from '../support/rsync-daemon.js';

const SHIPPED = join(import.meta.dirname, '..', '..', 'plugins');

describe('retrace-server-plugin-checker against real mirrors', () => {
  let root: string;
  let pluginDir: string;
  let rsync: Awaited<ReturnType<typeof startRsyncDaemon>>;
  let http: Awaited<ReturnType<typeof startHttpServer>>;
  let mirrors: { local: string; rsync: string; http: string; down: string; missing: string };

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'checker-'));
    const tree = join(root, 'mirror', 'demo', '7', 'x86_64');
    await mkdir(join(tree, 'repodata'), { recursive: true });
    await writeFile(join(tree, 'repodata', 'repomd.xml'), '<repomd/>');
    rsync = await startRsyncDaemon({ modules: { demo: join(root, 'mirror', 'demo') } });
    http = await startHttpServer({ root: join(root, 'mirror') });
    mirrors = {
      local: join(root, 'mirror', 'demo', '$VER', '$ARCH'),
      rsync: rsync.url('demo', '$VER/$ARCH/'),
      http: `${http.baseUrl}demo/$VER/$ARCH/`,
      down: `http://127.0.0.1:${await freePort()}/demo/$VER/`,
      missing: join(root, 'nothing', '$VER'),
    };
    pluginDir = join(root, 'plugins');
    await mkdir(pluginDir);
    await writeFile(join(pluginDir, 'demo.py'), `distribution = "demo"
repos = [
    ["${mirrors.local}", "${mirrors.rsync}"],
    ("${mirrors.down}", "${mirrors.http}"),
    (["${mirrors.down}", "${mirrors.missing}"], """[main]
sslverify=0
"""),
]
`);
  });

  afterAll(async () => {
    await rsync?.stop();
    await http?.stop();
    await rm(root, { recursive: true, force: true });
  });

  const expand = (mirror: string): string => mirror.replaceAll('$VER', '7').replaceAll('$ARCH', 'x86_64');

  it('prints upstream\'s table, tuple repos included, one mirror down', async () => {
    const result = await runCli('plugin-checker', ['demo', '7', 'x86_64', '--plugin-dir', pluginDir, '--timeout', '5']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toBe([
      'Repository 0 - testing',
      `\t[  OK  ] ${expand(mirrors.local)}`,
      `\t[  OK  ] ${expand(mirrors.rsync)}`,
      'Repository 0 - OK',
      'Repository 1 - testing',
      `\t[ FAIL ] ${expand(mirrors.down)}`,
      `\t[  OK  ] ${expand(mirrors.http)}`,
      'Repository 1 - OK',
      'Repository 2 - testing',
      `\t[ FAIL ] ${expand(mirrors.down)}`,
      `\t[ FAIL ] ${expand(mirrors.missing)}`,
      'Repository 2 - FAIL',
      '',
    ].join('\n'));
  });

  it('says why with -v', async () => {
    const result = await runCli('plugin-checker', ['demo', '7', 'x86_64', '--plugin-dir', pluginDir, '-v']);
    expect(result.stdout).toMatch(/\[ FAIL \] http:\/\/127\.0\.0\.1:\d+\/demo\/7\/ \(.+\)/);
  });

  it.each([
    ['--first-valid', () => [mirrors.local, mirrors.http]],
    ['--only-valid', () => [mirrors.local, mirrors.rsync, mirrors.http]],
    ['--only-invalid', () => [mirrors.down, mirrors.down, mirrors.missing]],
  ])('%s prints bare URLs', async (flag, expected) => {
    const result = await runCli('plugin-checker', ['demo', '7', 'x86_64', '--plugin-dir', pluginDir, flag]);
    expect(result.stdout).toBe(`${expected().map(expand).join('\n')}\n`);
  });

  it('exits 1 with upstream\'s text for an unknown plugin', async () => {
    const result = await runCli('plugin-checker', ['nosuch', '7', 'x86_64', '--plugin-dir', pluginDir]);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('Plugin could not be loaded. Use --plugin-dir if in another location.\n');
  });
});

describe('retrace-server-plugin-checker --lint', () => {
  it('passes on the shipped plugins', async () => {
    const result = await runCli('plugin-checker', ['--lint', '--plugin-dir', SHIPPED]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('3 plugins valid');
    expect(result.stdout).toContain('WARN  plugins centos, rhel share the guessparser');
  });

  it('fails on a broken plugin, naming file and line', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lint-'));
    try {
      await writeFile(join(dir, 'good.py'), 'distribution = "good"\nrepos = [["/srv/good"]]\n');
      await writeFile(join(dir, 'broken.py'), 'import re\ndistribution = "broken"\nguessparser = re.compile(r"(unclosed")\nrepos = []\n');
      await writeFile(join(dir, 'relative.py'), 'distribution = "relative"\nrepos = [["mirror/dir"], []]\n');
      const result = await runCli('plugin-checker', ['--lint', '--plugin-dir', dir]);
      expect(result.code).toBe(1);
      expect(result.stdout).toContain(`ERROR ${join(dir, 'broken.py')}:3: `);
      expect(result.stdout).toContain(`ERROR ${join(dir, 'relative.py')}: repo 1: mirror 'mirror/dir' is neither an absolute path nor an rsync://, http(s):// or ftp:// URL`);
      expect(result.stdout).toContain(`ERROR ${join(dir, 'relative.py')}: repo 2 has no mirrors`);
      expect(result.stdout).toContain(`OK    ${join(dir, 'good.py')} (good, 1 repos)`);
      expect(result.stdout).toContain('3 errors');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
