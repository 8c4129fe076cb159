// The shipped systemd unit, checked by the real systemd-analyze (v252 here). `verify` exits 0 on
// unknown keys and bad values and only complains on stderr (agent-anchors §5.4), so stderr must be
// empty. It also needs ExecStart's binary to exist: where /usr/bin/node is missing, a copy whose
// ExecStart names this test's node is verified instead (the only line that differs).

import { execFile } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { agentKeys } from '../../src/config/schema.js';
import { createLogger } from '../../src/log.js';

const ROOT = join(import.meta.dirname, '..', '..');
const UNIT = join(ROOT, 'packaging', 'retrace-server-agent.service');
const SAMPLE = join(ROOT, 'packaging', 'retrace-server.conf.sample');
const unitText = readFileSync(UNIT, 'utf8');

function run(cmd: string, args: readonly string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd, timeout: 30_000, env: { ...process.env, SYSTEMD_COLORS: '0', SYSTEMD_PAGER: '' } }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr });
    });
  });
}

function settings(text: string): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const match = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (match) map.set(match[1]!, [...(map.get(match[1]!) ?? []), match[2]!]);
  }
  return map;
}

const hasSystemNode = ((): boolean => {
  try {
    accessSync('/usr/bin/node', constants.X_OK);
    return true;
  } catch {
    return false;
  }
})();

describe('packaging/retrace-server-agent.service', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'unit-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const verify = async (text: string, name = 'retrace-server-agent.service'): Promise<{ code: number; stdout: string; stderr: string }> => {
    await writeFile(join(dir, name), text);
    return run('systemd-analyze', ['verify', `./${name}`], dir);
  };

  it('passes systemd-analyze verify with nothing on stderr', async () => {
    const local = unitText.replace(/^ExecStart=\/usr\/bin\/node /m, `ExecStart=${process.execPath} `);
    expect(local).not.toBe(unitText);
    expect(await verify(local)).toEqual({ code: 0, stdout: '', stderr: '' });
    if (hasSystemNode) expect(await verify(unitText)).toEqual({ code: 0, stdout: '', stderr: '' });
  });

  it('would notice a misspelt key (so the check above can fail)', async () => {
    const typo = unitText.replace(/^ExecStart=\/usr\/bin\/node /m, `ExecStart=${process.execPath} `).replace('RestrictRealtime=', 'RestrictRealtim=');
    const { stderr } = await verify(typo, 'typo.service');
    expect(stderr).toMatch(/Unknown key.*RestrictRealtim/);
  });

  it('is a notify service with watchdog, reload, bounded stop and the agent on node', () => {
    const s = settings(unitText);
    expect(s.get('Type')).toEqual(['notify']);
    expect(s.get('NotifyAccess')).toEqual(['all']);
    expect(s.get('WatchdogSec')).toEqual(['30s']);
    expect(s.get('Restart')).toEqual(['on-failure']);
    expect(s.get('KillMode')).toEqual(['mixed']);
    expect(s.get('TimeoutStopSec')).toEqual(['15s']);
    expect(s.get('ExecReload')).toEqual(['/bin/kill -HUP $MAINPID']);
    expect(s.get('ExecStart')).toEqual(['/usr/bin/node --max-semi-space-size=2 --expose-gc /usr/lib/node_modules/retrace-server-agent/dist/cli/agent.js']);
    // The memory settings of the agent's own shebang (src/cli/agent.ts).
    expect(s.get('Environment')).toEqual(['MALLOC_ARENA_MAX=1']);
  });

  it('sets no option that gives the unit its own mount namespace (unmounts must reach the host)', () => {
    const s = settings(unitText);
    const namespacing = ['ProtectSystem', 'ProtectHome', 'PrivateTmp', 'PrivateDevices', 'PrivateMounts', 'PrivateIPC',
      'ProtectKernelTunables', 'ProtectKernelModules', 'ProtectKernelLogs', 'ProtectControlGroups', 'ProtectProc', 'ProcSubset',
      'ReadWritePaths', 'ReadOnlyPaths', 'InaccessiblePaths', 'ExecPaths', 'NoExecPaths', 'TemporaryFileSystem', 'BindPaths',
      'BindReadOnlyPaths', 'RootDirectory', 'RootImage', 'MountAPIVFS', 'MountFlags', 'DynamicUser', 'PrivateUsers'];
    expect(namespacing.filter((key) => s.has(key))).toEqual([]);
    // The duties' capabilities, and no more.
    expect(s.get('CapabilityBoundingSet')![0]!.split(' ').sort()).toEqual(['CAP_DAC_OVERRIDE', 'CAP_FOWNER', 'CAP_KILL', 'CAP_SYS_ADMIN', 'CAP_SYS_PTRACE']);
    expect(s.has('MemoryDenyWriteExecute')).toBe(false);
  });

  it('rates as "OK" exposure in systemd-analyze security --offline', async () => {
    const local = unitText.replace(/^ExecStart=\/usr\/bin\/node /m, `ExecStart=${process.execPath} `);
    await writeFile(join(dir, 'retrace-server-agent.service'), local);
    const { code, stdout } = await run('systemd-analyze', ['security', '--offline=true', './retrace-server-agent.service'], dir);
    expect(code).toBe(0);
    const exposure = Number(/Overall exposure level for retrace-server-agent\.service: ([\d.]+)/.exec(stdout)?.[1]);
    // README "Running under systemd" reports this figure.
    expect(exposure).toBeLessThanOrEqual(4.8);
  });
});

describe('packaging/retrace-server.conf.sample', () => {
  const text = readFileSync(SAMPLE, 'utf8');

  it('loads as it is, and uncommented it gives the defaults', async () => {
    expect(loadConfig(SAMPLE).agent.listen).toEqual({ host: '127.0.0.1', port: 9464 });
    const dir = await mkdtemp(join(tmpdir(), 'sample-'));
    try {
      const uncommented = join(dir, 'retrace-server.conf');
      await writeFile(uncommented, text.replace(/^#([A-Za-z]+ =)/gm, '$1'));
      const plain = loadConfig(SAMPLE);
      const config = loadConfig(uncommented);
      expect(config.agent).toEqual(plain.agent);
      expect(config.retrace).toEqual(plain.retrace);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('documents every [agent] key', () => {
    const agentSection = text.slice(text.indexOf('[agent]'));
    const missing = Object.values(agentKeys).map((spec) => spec.name).filter((name) => !agentSection.includes(`#${name} =`));
    expect(missing).toEqual([]);
  });
});

describe('journald priorities', () => {
  it('prefixes each line with its syslog priority when JOURNAL_STREAM is set', () => {
    const lines: string[] = [];
    const out = { write: (line: string) => lines.push(line) } as unknown as NodeJS.WritableStream;
    const log = createLogger({ name: 'test', level: 'debug', env: { JOURNAL_STREAM: '8:1234' }, out });
    log.debug('d');
    log.info('i');
    log.warn('w');
    log.error('e');
    log.fatal('f');
    expect(lines.map((line) => line.slice(0, 4))).toEqual(['<7>{', '<6>{', '<4>{', '<3>{', '<2>{']);
    expect(lines.every((line) => line.endsWith('\n') && line.split('\n').length === 2)).toBe(true);
  });
});
