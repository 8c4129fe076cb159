import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { VERSION } from '../../src/version.js';
import { runCli, type CliName } from '../support/cli.js';
import { createTestSpool, writeTask, type TestSpool } from '../support/spool.js';

const ROOT = join(import.meta.dirname, '..', '..');
const BINARIES: CliName[] = ['agent', 'reposync', 'cleanup', 'plugin-checker'];

describe.each(BINARIES)('retrace-server-%s', (name) => {
  it('prints its version', async () => {
    const result = await runCli(name, ['--version']);
    expect(result).toMatchObject({ code: 0, stdout: `${VERSION}\n` });
  });

  it('prints help', async () => {
    const result = await runCli(name, ['--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`^Usage: retrace-server-${name}`));
  });
});

describe('retrace-server-agent', () => {
  let spool: TestSpool;
  beforeEach(async () => {
    spool = await createTestSpool();
  });
  afterEach(() => spool.cleanup());

  it('starts on a config, answers on its listener, and exits 0 on SIGTERM', async () => {
    await writeTask(spool.saveDir, '123456789', { status: 6, finishedTime: 1, backtrace: 'x' });
    await mkdir(join(spool.root, 'gpg'));
    const config = await spool.writeConfig();
    const child = spawn(process.execPath, ['--import', join(ROOT, 'scripts/ts-loader.mjs'), join(ROOT, 'src/cli/agent.ts'),
      '--config', config, '--plugin-dir', join(ROOT, 'plugins'), '--listen', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const records: Array<Record<string, unknown>> = [];
    const ready = new Promise<Record<string, unknown>>((resolve, reject) => {
      createInterface({ input: child.stdout }).on('line', (line) => {
        const record = JSON.parse(line) as Record<string, unknown>;
        records.push(record);
        if (record.msg === 'agent ready') resolve(record);
      });
      setTimeout(() => reject(new Error('the agent did not get ready within 20 s')), 20_000);
    });
    try {
      const record = await ready;
      const { port } = record.listen as { port: number };
      expect(await (await fetch(`http://127.0.0.1:${port}/healthz`)).text()).toBe('ok\n');
      expect(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()).toContain('retrace_agent_tasks{state="success"} 1');
      expect(records.find((r) => String(r.msg).includes('distribution plugins loaded'))).toMatchObject({ plugins: ['centos', 'fedora', 'rhel'] });
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(records.at(-1)?.msg).toBe('agent stopped');
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('refuses to start on a bad config, naming file, line, key and value', async () => {
    const config = join(spool.root, 'bad.conf');
    await writeFile(config, '[retrace]\nSaveDir = /x\nDeleteTaskAfter = soon\n');
    const result = await runCli('agent', ['--config', config, '--listen', '127.0.0.1:0']);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(`cannot start: ${config}:3: DeleteTaskAfter: 'soon' is not an integer`);
  });

  it('finds its config through $RETRACE_SERVER_CONFIG_PATH', async () => {
    const result = await runCli('agent', ['--listen', '127.0.0.1:0'], { env: { RETRACE_SERVER_CONFIG_PATH: join(spool.root, 'missing.conf') } });
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(`${join(spool.root, 'missing.conf')}: config file not found`);
  });
});
