import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/config/error.js';
import { parseRepoOptions } from '../../../src/reposync/repo-options.js';

describe('parseRepoOptions', () => {
  it('has dnf defaults and takes gpgcheck from RequireGPGCheck', () => {
    expect(parseRepoOptions([undefined, undefined], { gpgcheck: true }, 'fedora.py')).toEqual({
      options: {
        gpgcheck: true,
        sslverify: true,
        sslcacert: undefined,
        proxy: undefined,
        timeoutSeconds: 30,
        retries: 10,
        maxParallelDownloads: 3,
        includepkgs: [],
        exclude: [],
      },
      ignored: [],
    });
  });

  it('reads snippets without a header, with [main] or repo sections; the later snippet wins', () => {
    const plugin = 'gpgcheck=1\nsslverify = no\ntimeout=5\nexclude=kernel*, glibc-debug*\n  debug*\nskip_if_unavailable=1\n';
    const repo = '[main]\nproxy=http://proxy.example:3128\n\n[updates]\nname=Updates\ngpgcheck=0\nmax_parallel_downloads=50\nretries=2\nincludepkgs=gdb gdb-*\n';
    const { options, ignored } = parseRepoOptions([plugin, repo], { gpgcheck: true }, 'fedora.py');
    expect(options).toEqual({
      gpgcheck: false,
      sslverify: false,
      sslcacert: undefined,
      proxy: 'http://proxy.example:3128',
      timeoutSeconds: 5,
      retries: 2,
      maxParallelDownloads: 20,
      includepkgs: ['gdb', 'gdb-*'],
      exclude: ['kernel*', 'glibc-debug*', 'debug*'],
    });
    expect(ignored.sort()).toEqual(['name', 'skip_if_unavailable']);
  });

  it('maps proxy=_none_ to no proxy, excludepkgs to exclude, and refuses to retry forever', () => {
    const { options, ignored } = parseRepoOptions(['proxy=http://p:1\nretries=0', '[r]\nproxy=_none_\nexcludepkgs=foo'], { gpgcheck: false }, 'x');
    expect(options).toMatchObject({ proxy: undefined, retries: 10, exclude: ['foo'] });
    expect(ignored).toEqual(['retries=0 (forever; using the default)']);
  });

  it('names the file and line of a bad value', () => {
    expect(() => parseRepoOptions(['# comment\ntimeout=soon'], { gpgcheck: true }, 'fedora.py')).toThrow(ConfigError);
    expect(() => parseRepoOptions(['# comment\ntimeout=soon'], { gpgcheck: true }, 'fedora.py')).toThrow(/^fedora\.py:2: timeout = "soon": expected seconds > 0$/);
    expect(() => parseRepoOptions(['gpgcheck=maybe'], { gpgcheck: true }, 'f')).toThrow(/expected a boolean/);
  });
});
