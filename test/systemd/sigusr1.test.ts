// SIGUSR1 to the real agent binary: Node would open its inspector on 127.0.0.1:9229 for it, and anyone on the host
// could then run code as the agent. The agent keeps running, says it ignored the signal, and listens on nothing new.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { killAgents, startAgent, until } from '../support/agent-process.js';
import { createReleaseFixture, type ReleaseFixture } from '../reposync/orchestrator/fixture.js';

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

describe('SIGUSR1', () => {
  let fx: ReleaseFixture;

  beforeAll(async () => {
    fx = await createReleaseFixture();
    await fx.writePlugin([]);
  });

  afterEach(() => killAgents());

  afterAll(async () => {
    await fx?.spool.cleanup();
  });

  it('opens no inspector: the agent logs it, keeps serving, and listens only on its metrics port', async () => {
    const agent = startAgent(fx.env.RETRACE_SERVER_CONFIG_PATH as string, fx.pluginDir);
    const port = await agent.ready;
    const pid = agent.child.pid as number;
    expect(listeningPorts(pid)).toEqual([port]);

    agent.child.kill('SIGUSR1');
    await until('the log record of SIGUSR1', () => agent.records.some((record) => record.signal === 'SIGUSR1'), 5_000, 20);
    // Node would have opened the inspector by the time it ran the agent's listener; give it a moment anyway.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(listeningPorts(pid)).toEqual([port]);
    expect(agent.child.exitCode).toBeNull();
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    expect(agent.records.find((record) => record.signal === 'SIGUSR1')).toMatchObject({ level: 40 });
  }, 60_000);
});
