// `npm pack` ships what an install on a server needs: the four binaries, the plugins, and the unit,
// sample config and SELinux module from packaging/. --ignore-scripts: the tarball's contents are
// what matters here, not a rebuild (`npm pack` runs `prepare`, i.e. the build, for real).

import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');

interface PackEntry {
  readonly files: readonly { readonly path: string }[];
  readonly name: string;
}

function packDryRun(): Promise<PackEntry[]> {
  return new Promise((resolve, reject) => {
    execFile('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, timeout: 60_000 }, (error, stdout) => {
      if (error) reject(error);
      else resolve(JSON.parse(stdout) as PackEntry[]);
    });
  });
}

describe('npm pack', () => {
  it('contains the binaries, plugins and packaging files', async () => {
    const [entry] = await packDryRun();
    expect(entry!.name).toBe('retrace-server-agent');
    const files = entry!.files.map((f) => f.path);
    expect(files).toEqual(expect.arrayContaining([
      'dist/cli/agent.js', 'dist/cli/reposync.js', 'dist/cli/cleanup.js', 'dist/cli/plugin-checker.js',
      'plugins/fedora.py', 'plugins/centos.py', 'plugins/rhel.py',
      'packaging/retrace-server-agent.service', 'packaging/retrace-server.conf.sample',
      'packaging/selinux/retrace_agent.te', 'packaging/selinux/retrace_agent.fc', 'packaging/selinux/retrace_agent.if',
      'package.json', 'README.md',
    ]));
    // Sources and tests stay out.
    expect(files.filter((f) => f.startsWith('src/') || f.startsWith('test/'))).toEqual([]);
  }, 60_000);
});
