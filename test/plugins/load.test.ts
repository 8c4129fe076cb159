import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { canonicalArch } from '../../src/plugins/arch.js';
import { loadPlugins } from '../../src/plugins/load.js';
import { expandTemplate, parseReleaseId, releaseFromOsRelease, releaseFromPackage, resolveGpgKeyPaths } from '../../src/plugins/release.js';

const SHIPPED = join(import.meta.dirname, '..', '..', 'plugins');

describe('the shipped plugins', async () => {
  const set = await loadPlugins(SHIPPED);

  it('load without errors, in file-name order', () => {
    expect(set.errors.map((e) => e.message)).toEqual([]);
    expect(set.plugins.map((p) => p.distribution)).toEqual(['centos', 'fedora', 'rhel']);
  });

  it('report the rhel/centos guessparser overlap, centos winning', () => {
    expect(set.overlaps).toHaveLength(1);
    expect(set.overlaps[0]).toContain('plugins centos, rhel share the guessparser');
    expect(releaseFromPackage(set.plugins, 'bash-5.1.8-9.el9.x86_64')).toEqual({ distribution: 'centos', version: '9', candidates: ['centos', 'rhel'] });
  });

  it.each([
    ['Fedora release 40 (Forty)', 'fedora', '40'],
    ['Fedora release 41 (Rawhide)\n', 'fedora', 'rawhide'],
    ['Red Hat Enterprise Linux Server release 7.9 (Maipo)', 'rhel', '7'],
    ['Red Hat Enterprise Linux release 8.10 (Ootpa)', 'rhel', '8'],
    ['Red Hat Enterprise Linux release 9.4 (Plow)\n', 'rhel', '9'],
    ['Red Hat Enterprise Linux release 9 (Plow)', 'rhel', '9'],
    ['CentOS Linux release 7.9.2009 (Core)', 'centos', '7'],
    ['CentOS Stream release 9', 'centos', '9'],
  ])('read the release from os_release "%s"', (osRelease, distribution, version) => {
    expect(releaseFromOsRelease(set.plugins, osRelease)).toEqual({ distribution, version });
  });

  it.each(['Debian GNU/Linux 12', 'Fedora release forty (Forty)', 'Ubuntu 24.04 LTS', ' Fedora release 40 (Forty)'])(
    'match no plugin for "%s" (abrtparser anchors at the start, like re.match)', (osRelease) => {
      expect(releaseFromOsRelease(set.plugins, osRelease)).toBeUndefined();
    });

  it('guess a Fedora release from a package NVR', () => {
    expect(releaseFromPackage(set.plugins, 'coreutils-9.4-6.fc40.x86_64')).toEqual({ distribution: 'fedora', version: '40', candidates: ['fedora'] });
    expect(releaseFromPackage(set.plugins, 'hello-1.0-1.x86_64')).toBeUndefined();
  });

  it('expand $VER and $ARCH in the Fedora mirrors', () => {
    const fedora = set.plugins.find((p) => p.distribution === 'fedora')!;
    expect(expandTemplate(fedora.repos[0]!.mirrors[0]!, { version: '40', arch: 'x86_64' }))
      .toBe('rsync://dl.fedoraproject.org/fedora-enchilada/linux/releases/40/Everything/x86_64/os/Packages/*/*.rpm');
    expect(fedora.gpgKeys).toEqual(['/usr/share/distribution-gpg-keys/fedora/RPM-GPG-KEY-fedora-{release}-primary']);
  });
});

describe('loading a plugin directory', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'plugins-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  const PY = `import re
distribution = "demo"
abrtparser = re.compile(r"^Demo release (\\d+)")
guessparser = re.compile(r"\\.demo(\\d+)")
gdb_package = "gdb"
gpg_keys = ["/keys/demo-{release}"]
dnfcfg = "[main]\\ngpgcheck=1\\n"
repos = [
    ["rsync://mirror/demo/$VER/$ARCH/", "/srv/demo/$VER"],
    (["https://mirror/demo/$VER/"], "sslverify=0"),
]
`;
  const MJS = `export default {
  distribution: 'demo',
  abrtparser: /^Demo release (\\d+)/,
  guessparser: /\\.demo(\\d+)/,
  gdb_package: 'gdb',
  gpg_keys: ['/keys/demo-{release}'],
  dnfcfg: '[main]\\ngpgcheck=1\\n',
  repos: [
    ['rsync://mirror/demo/$VER/$ARCH/', '/srv/demo/$VER'],
    [['https://mirror/demo/$VER/'], 'sslverify=0'],
  ],
};
`;

  it('gives the same plugin from a Python file and a native module', async () => {
    await writeFile(join(dir, 'demo.py'), PY);
    const fromPython = (await loadPlugins(dir)).plugins[0]!;
    await rm(join(dir, 'demo.py'));
    await writeFile(join(dir, 'demo.mjs'), MJS);
    const fromModule = (await loadPlugins(dir)).plugins[0]!;
    const comparable = (p: typeof fromPython): unknown => ({ ...p, file: undefined, abrtparser: p.abrtparser?.exec('Demo release 7')?.[1], guessparser: p.guessparser?.exec('x-1.demo3')?.[1] });
    expect(comparable(fromPython)).toEqual(comparable(fromModule));
    expect(fromPython.repos).toEqual([
      { mirrors: ['rsync://mirror/demo/$VER/$ARCH/', '/srv/demo/$VER'], localConfig: undefined },
      { mirrors: ['https://mirror/demo/$VER/'], localConfig: 'sslverify=0' },
    ]);
    expect(comparable(fromPython)).toMatchObject({ abrtparser: '7', guessparser: '3', dnfcfg: '[main]\ngpgcheck=1\n' });
  });

  it('skips a broken plugin with file:line and loads the others', async () => {
    await writeFile(join(dir, 'a.py'), 'distribution = "a"\nrepos = []\n');
    await writeFile(join(dir, 'b.py'), 'distribution = "b"\nrepos = []\nimport os\nos.system("touch /tmp/pwned")\n');
    await writeFile(join(dir, 'c.py'), 'distribution = "c"\nrepos = "rsync://x/"\n');
    await writeFile(join(dir, 'd.py'), 'distribution = "d-1"\nrepos = []\n');
    await writeFile(join(dir, 'e.mjs'), 'export const distribution = "e";\n');
    await writeFile(join(dir, '_helper.py'), 'this is not even python');
    const set = await loadPlugins(dir);
    expect(set.plugins.map((p) => p.distribution)).toEqual(['a']);
    const messages = set.errors.map((e) => e.message);
    expect(messages[0]).toMatch(new RegExp(`^${dir}/b\\.py:4: `));
    expect(messages[1]).toBe(`${dir}/c.py:2: repos: expected a list of repos, found 'rsync://x/'`);
    expect(messages[2]).toBe(`${dir}/d.py:1: distribution: 'd-1' is not a valid name; expected letters and digits only, such as "fedora"`);
    expect(messages[3]).toBe(`${dir}/e.mjs: repos: missing; every plugin must define repos = [[mirror, ...], ...]`);
    expect(messages).toHaveLength(4);
  });

  it('refuses a second plugin for the same distribution', async () => {
    await writeFile(join(dir, 'fedora.py'), 'distribution = "fedora"\nrepos = []\n');
    await writeFile(join(dir, 'fedora2.py'), 'distribution = "fedora"\nrepos = [["/x"]]\n');
    const set = await loadPlugins(dir);
    expect(set.plugins.map((p) => p.file)).toEqual([join(dir, 'fedora.py')]);
    expect(set.errors[0]?.message).toBe(`${join(dir, 'fedora2.py')}: distribution 'fedora' is already defined by ${join(dir, 'fedora.py')}; this plugin is skipped`);
  });

  it('reports a missing plugin directory', async () => {
    const set = await loadPlugins(join(dir, 'nope'));
    expect(set.plugins).toEqual([]);
    expect(set.errors[0]?.message).toContain('cannot list the plugin directory');
  });
});

describe('names', () => {
  it.each([['i386', 'i386'], ['i686', 'i386'], ['i586', 'i386'], ['armv7hl', 'armhfp'], ['armhfp', 'armhfp'], ['x86_64', 'x86_64'], ['aarch64', 'aarch64'], ['ppc64le', 'ppc64le'], ['riscv64', 'riscv64']])(
    'canonical arch of %s is %s', (arch, canonical) => {
      expect(canonicalArch(arch)).toBe(canonical);
    });

  it('parses release ids', () => {
    expect(parseReleaseId('fedora-rawhide-armv7hl')).toEqual({ distribution: 'fedora', version: 'rawhide', arch: 'armhfp' });
    expect(parseReleaseId('fedora-40')).toBeUndefined();
    expect(parseReleaseId('a-b-c-d')).toBeUndefined();
    expect(parseReleaseId('../x-1-2')).toBeUndefined();
  });
});

describe('resolveGpgKeyPaths', () => {
  it('replaces every {release}', () => {
    expect(resolveGpgKeyPaths(['/k/{release}/RPM-GPG-KEY-{release}', '/k/static'], 'rawhide')).toEqual([
      '/k/rawhide/RPM-GPG-KEY-rawhide',
      '/k/static',
    ]);
  });
});
