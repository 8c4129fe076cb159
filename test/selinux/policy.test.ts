// The policy module in packaging/selinux builds with the real toolchain (Debian's checkpolicy and
// selinux-policy-dev, installed by .ci/run), in a temp copy so the checkout stays clean.

import { execFile } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

const SOURCE = join(import.meta.dirname, '..', '..', 'packaging', 'selinux');
const MAKEFILE = '/usr/share/selinux/devel/Makefile';

function make(dir: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile('make', ['-f', MAKEFILE, 'retrace_agent.pp'], { cwd: dir, timeout: 120_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, output: stdout + stderr });
    });
  });
}

describe('the SELinux policy module', () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('compiles to retrace_agent.pp', async () => {
    dir = await mkdtemp(join(tmpdir(), 'selinux-policy-'));
    await cp(SOURCE, dir, { recursive: true });
    const { code, output } = await make(dir);
    expect(output).not.toMatch(/error|warning/i);
    expect(code).toBe(0);
    expect(existsSync(join(dir, 'retrace_agent.pp'))).toBe(true);
    expect(statSync(join(dir, 'retrace_agent.pp')).size).toBeGreaterThan(1000);
  }, 120_000);

  it('fails to compile a broken module (so the check above can fail)', async () => {
    dir = await mkdtemp(join(tmpdir(), 'selinux-policy-'));
    await cp(SOURCE, dir, { recursive: true });
    const te = await readFile(join(dir, 'retrace_agent.te'), 'utf8');
    await writeFile(join(dir, 'retrace_agent.te'), `${te}\nallow retrace_agent_t no_such_type_t:file read;\n`);
    const { code } = await make(dir);
    expect(code).not.toBe(0);
    expect(existsSync(join(dir, 'retrace_agent.pp'))).toBe(false);
  }, 120_000);

  it('labels the agent\'s directories, leaving SaveDir and RepoDir to the abrt module', async () => {
    const fc = await readFile(join(SOURCE, 'retrace_agent.fc'), 'utf8');
    const specs = fc.split('\n').filter((line) => line.startsWith('/')).map((line) => line.split(/\s+/)[0]);
    expect(specs).toEqual(expect.arrayContaining([
      '/var/log/retrace-server(/.*)?', '/usr/share/retrace-server/gpg(/.*)?', '/usr/share/retrace-server/plugins(/.*)?',
      '/srv/retrace/archive(/.*)?',
    ]));
    expect(specs.filter((spec) => /^\/var\/(spool|cache)\/retrace-server/.test(spec!))).toEqual([]);
    const te = await readFile(join(SOURCE, 'retrace_agent.te'), 'utf8');
    expect(te).toMatch(/abrt_retrace_spool_t, abrt_retrace_cache_t/);
  });
});
