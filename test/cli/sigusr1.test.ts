// SIGUSR1 to the real long-running binaries (the agent, and retrace-server-reposync in the middle of a sync): Node
// would open its inspector on 127.0.0.1:9229 for it, and anyone on the host could then run code as the process.
// Each keeps going, says it ignored the signal, and listens on nothing new.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { killAgents, startAgent, until } from '../support/agent-process.js';
import { spawnCli } from '../support/cli.js';
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

    const cli = spawnCli('reposync', ['testdist', '1', 'x86_64'], { env: fx.env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    cli.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => cli.once('exit', resolve));
    try {
      const activeServer = server;
      await until('the sync to ask for repomd.xml', () => activeServer.requests.some((request) => request.path === '/repodata/repomd.xml'), 15_000, 20);
      cli.kill('SIGUSR1');
      await until('the log line of SIGUSR1', () => stderr.includes('SIGUSR1 ignored'), 5_000, 20);
      await settle();
      expect(listeningPorts(cli.pid as number)).toEqual([]);
      expect(await exited).toBe(0);
    } finally {
      cli.kill('SIGKILL');
    }
    expect(stderr).not.toContain('Debugger listening');
    expect(await readdir(join(fx.targetDir(), 'Packages'))).toEqual([name]);
  }, 60_000);
});
