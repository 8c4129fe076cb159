// On-demand sync (SPEC §7.4): SIGUSR2 to the real agent binary syncs every SyncRelease at once, although the
// schedule's next run is an hour away.
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../support/cli.js';
import { killAgents, startAgent, until } from '../../support/agent-process.js';
import { buildMirror, createReleaseFixture, type ReleaseFixture } from './fixture.js';

const REPO = 'testdist-1-x86_64';

describe('SIGUSR2', () => {
  let fx: ReleaseFixture;
  let mirror: string;

  beforeAll(async () => {
    fx = await createReleaseFixture({ agentLines: [`SyncReleases = ${REPO}`, 'SyncInterval = 3600'] });
    mirror = join(fx.spool.root, 'mirror');
    await buildMirror(mirror, [{ name: 'alpha', version: '1.0', release: '1', arch: 'x86_64' }]);
    await fx.writePlugin([[mirror]]);
  }, 60_000);

  afterEach(() => killAgents());

  afterAll(async () => {
    await fx?.spool.cleanup();
  });

  it('syncs every SyncRelease now, between scheduled runs', async () => {
    // A run just now: the schedule's next one is SyncInterval (an hour) away.
    expect((await runCli('reposync', ['testdist', '1', 'x86_64'], { env: fx.env })).code).toBe(0);
    const agent = startAgent(fx.env.RETRACE_SERVER_CONFIG_PATH as string, fx.pluginDir);
    const port = await agent.ready;
    const attempt = async (): Promise<number> => {
      const body = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      const line = body.split('\n').find((l) => l.startsWith(`retrace_agent_repo_last_sync_attempt_timestamp_seconds{repo="${REPO}"} `));
      return Number(line?.split(' ')[1]);
    };
    const before = await attempt();
    expect(before).toBeGreaterThan(0);
    const added = await buildMirror(join(fx.spool.root, 'newer'), [{ name: 'beta', version: '2.0', release: '1', arch: 'noarch' }]);
    await buildMirror(mirror, [{ name: 'beta', version: '2.0', release: '1', arch: 'noarch' }]);

    agent.child.kill('SIGUSR2');
    const packages = join(fx.targetDir(), 'Packages');
    await until('the on-demand sync', async () => (await readdir(packages)).includes(added[0] as string) && (await attempt()) > before, 15_000, 50);
    expect(agent.records.some((record) => record.msg === 'SIGUSR2: syncing 1 releases now')).toBe(true);
    await until('the end of the run in the log', async () => agent.records.some((record) => record.repo === REPO && record.exitCode === 0), 15_000, 50);
    expect(agent.records.find((record) => record.exitCode === 0)).toMatchObject({ msg: 'Repository synchronization finished successfully', level: 30 });
    expect(agent.child.exitCode).toBeNull();
  }, 60_000);
});
