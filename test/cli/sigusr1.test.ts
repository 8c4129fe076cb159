// SIGUSR1 to each real binary while it works (the agent serving; reposync, plugin-checker and cleanup in the middle
// of a sync, a probe, a kill grace): Node would open its inspector on 127.0.0.1:9229 for it, and anyone on the host
// could then run code as the process. Each keeps going, says it ignored the signal, and listens on nothing new.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { killAgents, startAgent, until } from '../support/agent-process.js';
import { spawnCli, type CliName } from '../support/cli.js';
import { createTestSpool, writeTask } from '../support/spool.js';
import { cleanupFakeWorkers, startFakeWorker, stopFakeWorkers } from '../support/worker.js';
import { startHttpServer, type HttpServer } from '../support/http-server.js';
import { buildMirror, createReleaseFixture, type ReleaseFixture } from '../reposync/orchestrator/fixture.js';

/** The TCP ports process `pid` listens on, from its socket fds and its network namespace's tables. */
function listeningPorts(pid: number): number[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    let target = '';
    try {
      target = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      // Closed since the listing.
    }
    const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
    if (inode !== undefined) inodes.add(inode);
  }
  const ports: number[] = [];
  for (const table of ['tcp', 'tcp6']) {
    for (const line of readFileSync(`/proc/${pid}/net/${table}`, 'utf8').split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      // local_address is HEXIP:HEXPORT; st 0A is LISTEN; the inode is the tenth field.
      if (fields[3] === '0A' && inodes.has(fields[9] ?? '')) ports.push(Number.parseInt((fields[1] ?? '').split(':')[1] ?? '', 16));
    }
  }
  return ports.sort((a, b) => a - b);
}

// Node would have opened the inspector by the time it ran our listener; give it a moment anyway.
const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 300));

/**
 * Runs a binary and sends it SIGUSR1 once `underWay` holds (it sees the stderr so far): it must say it ignored
 * the signal, listen on nothing, and run to its end.
 */
async function signalMidRun(name: CliName, args: readonly string[], env: NodeJS.ProcessEnv, underWay: (stderr: string) => boolean): Promise<{ code: number | null; stderr: string }> {
  const cli = spawnCli(name, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  cli.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => cli.once('exit', resolve));
  try {
    await until(`${name} to be under way`, () => underWay(stderr), 15_000, 20);
    cli.kill('SIGUSR1');
    await until(`${name}'s line about SIGUSR1`, () => stderr.includes('SIGUSR1 ignored'), 5_000, 20);
    await settle();
    expect(listeningPorts(cli.pid as number)).toEqual([]);
    const code = await exited;
    expect(stderr).not.toContain('Debugger listening');
    return { code, stderr };
  } finally {
    cli.kill('SIGKILL');
  }
}

const OVERTIME_TASK = '300000003';

describe('SIGUSR1', () => {
  let fx: ReleaseFixture;
  let server: HttpServer | undefined;

  beforeAll(async () => {
    fx = await createReleaseFixture();
  });

  afterEach(async () => {
    killAgents();
    await server?.stop();
    server = undefined;
  });

  afterAll(async () => {
    await fx?.spool.cleanup();
    await cleanupFakeWorkers();
  });

  it('opens no inspector in the agent: it logs the signal, keeps serving, and listens only on its metrics port', async () => {
    await fx.writePlugin([]);
    const agent = startAgent(fx.env.RETRACE_SERVER_CONFIG_PATH as string, fx.pluginDir);
    const port = await agent.ready;
    const pid = agent.child.pid as number;
    expect(listeningPorts(pid)).toEqual([port]);

    agent.child.kill('SIGUSR1');
    await until('the log record of SIGUSR1', () => agent.records.some((record) => record.signal === 'SIGUSR1'), 5_000, 20);
    await settle();
    expect(listeningPorts(pid)).toEqual([port]);
    expect(agent.child.exitCode).toBeNull();
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    expect(agent.records.find((record) => record.signal === 'SIGUSR1')).toMatchObject({ level: 40 });
  }, 60_000);

  it('opens no inspector in retrace-server-reposync during a sync, which then finishes', async () => {
    const mirror = join(fx.spool.root, 'http-mirror');
    const [name] = await buildMirror(join(mirror, 'Packages'), [{ name: 'alpha', version: '1.0', release: '1', arch: 'x86_64' }]);
    execFileSync('createrepo_c', ['--no-database', '--quiet', mirror]);
    // A slow repomd.xml holds the sync long enough to signal it mid-way.
    server = await startHttpServer({ root: mirror, faults: [{ match: '/repodata/repomd.xml', fault: { kind: 'slow', delayMs: 3_000 } }] });
    await fx.writePlugin([[server.baseUrl]]);

    const activeServer = server;
    const { code, stderr } = await signalMidRun('reposync', ['testdist', '1', 'x86_64'], fx.env, () => activeServer.requests.some((request) => request.path === '/repodata/repomd.xml'));
    expect(code).toBe(0);
    expect(stderr).not.toMatch(/error/i);
    expect(await readdir(join(fx.targetDir(), 'Packages'))).toEqual([name]);
  }, 60_000);

  it('opens no inspector in retrace-server-plugin-checker while it probes a mirror', async () => {
    const mirror = join(fx.spool.root, 'probed-mirror');
    await mkdir(join(mirror, 'repodata'), { recursive: true });
    await writeFile(join(mirror, 'repodata', 'repomd.xml'), '<repomd/>');
    server = await startHttpServer({ root: mirror, faults: [{ match: '/repodata/repomd.xml', fault: { kind: 'slow', delayMs: 3_000 } }] });
    await fx.writePlugin([[server.baseUrl]]);

    const activeServer = server;
    const { code } = await signalMidRun('plugin-checker', ['testdist', '1', 'x86_64'], fx.env, () => activeServer.requests.some((request) => request.path === '/repodata/repomd.xml'));
    expect(code).toBe(0);
  }, 60_000);

  it('opens no inspector in retrace-server-cleanup while it waits out a kill grace, and the pass ends', async () => {
    const spool = await createTestSpool();
    try {
      const dir = await writeTask(spool.saveDir, OVERTIME_TASK, { log: 'started\n', status: 2 });
      const worker = await startFakeWorker(OVERTIME_TASK, { taskDir: dir, behave: 'ignore-sigterm', durationMs: 60_000 });
      const config = await spool.writeConfig(['MaxTaskRuntime = 1', 'KillGrace = 3']);
      // Over its runtime by the time the pass looks.
      await new Promise((resolve) => setTimeout(resolve, 1_200));
      const { code } = await signalMidRun('cleanup', ['--config', config, '--log-level', 'info'], {}, (stderr) => stderr.includes('SIGTERM to worker'));
      expect(code).toBe(0);
      expect(await worker.exited).toMatchObject({ signal: 'SIGKILL' });
    } finally {
      await stopFakeWorkers();
      await spool.cleanup();
    }
  }, 60_000);
});
