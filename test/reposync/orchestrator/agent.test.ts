// Scheduled syncs inside the real agent (SyncInterval shortened to 1 s), their metrics over HTTP, the last success
// surviving a restart, and stop() aborting a sync in flight.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../../../src/agent/agent.js';
import { createLogger } from '../../../src/log.js';
import { buildMirror, createReleaseFixture, type ReleaseFixture } from './fixture.js';

const log = createLogger({ name: 'test', level: 'silent' });
const REPO = 'testdist-1-x86_64';

async function metrics(agent: Agent): Promise<string> {
  return (await fetch(`http://127.0.0.1:${agent.listenAddress.port}/metrics`)).text();
}

function sample(body: string, name: string, labels = `repo="${REPO}"`): number | undefined {
  const line = body.split('\n').find((l) => l.startsWith(`${name}{${labels}} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('repository syncs in the agent', () => {
  let fx: ReleaseFixture;
  let agent: Agent | undefined;

  beforeAll(async () => {
    fx = await createReleaseFixture({ agentLines: [`SyncReleases = ${REPO} testdist-2-x86_64`, 'SyncInterval = 1'] });
    const mirror = join(fx.spool.root, 'mirror');
    await buildMirror(mirror, [
      { name: 'alpha', version: '1.0', release: '1', arch: 'x86_64' },
      { name: 'beta', version: '2.0', release: '1', arch: 'noarch' },
    ]);
    await fx.writePlugin([[mirror]]);
  }, 60_000);

  afterEach(async () => {
    await agent?.stop();
    agent = undefined;
  });

  afterAll(async () => {
    await fx?.spool.cleanup();
  });

  const start = async (env: NodeJS.ProcessEnv = fx.env): Promise<Agent> => {
    agent = await Agent.start({ configPath: env.RETRACE_SERVER_CONFIG_PATH as string, pluginDir: fx.pluginDir, log });
    return agent;
  };

  it('syncs each release on its own every SyncInterval and exports the results', async () => {
    const running = await start();
    const synced: string[] = [];
    running.reposync.on('synced', (release, outcome) => synced.push(`${release.version}:${outcome.exitCode}`));
    const deadline = Date.now() + 15_000;
    while (synced.filter((s) => s.startsWith('1:')).length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(synced.filter((s) => s === '1:0').length).toBeGreaterThanOrEqual(2);
    expect(synced).toContain('2:0');

    const body = await metrics(running);
    const success = sample(body, 'retrace_agent_repo_last_sync_success_timestamp_seconds');
    expect(success).toBeGreaterThan(Date.now() / 1000 - 30);
    expect(sample(body, 'retrace_agent_repo_last_sync_attempt_timestamp_seconds')).toBeGreaterThanOrEqual(success as number);
    expect(sample(body, 'retrace_agent_repo_packages')).toBe(2);
    expect(sample(body, 'retrace_agent_repo_bytes')).toBeGreaterThan(2000);
    // Only the first run downloaded anything.
    expect(sample(body, 'retrace_agent_repo_packages_downloaded_total')).toBe(2);
    expect(sample(body, 'retrace_agent_repo_sync_failures_total')).toBe(0);
    expect(sample(body, 'retrace_agent_repo_packages_rejected_total', `repo="${REPO}",reason="bad_signature"`)).toBe(0);
    expect(sample(body, 'retrace_agent_repo_sync_duration_seconds_count')).toBeGreaterThanOrEqual(2);
    expect(execFileSync('promtool', ['check', 'metrics'], { input: body, encoding: 'utf8' })).toBe('');
  });

  it('reads the last success back after a restart, and syncs on demand', async () => {
    const slow = await fx.configVariant('hourly', (text) => text.replace('SyncInterval = 1', 'SyncInterval = 3600'));
    const running = await start(slow);
    const body = await metrics(running);
    const success = sample(body, 'retrace_agent_repo_last_sync_success_timestamp_seconds');
    expect(success).toBeGreaterThan(Date.now() / 1000 - 60);
    expect(sample(body, 'retrace_agent_repo_packages')).toBe(2);

    const outcome = await running.reposync.syncNow({ distribution: 'testdist', version: '1', arch: 'x86_64' });
    expect(outcome.exitCode).toBe(0);
    expect(sample(await metrics(running), 'retrace_agent_repo_last_sync_success_timestamp_seconds')).toBeGreaterThan(success as number);
  });

  it('counts a failed sync', async () => {
    const slow = await fx.configVariant('hourly', (text) => text.replace('SyncInterval = 1', 'SyncInterval = 3600'));
    await fx.writePlugin([[join(fx.spool.root, 'no-such-mirror')]]);
    try {
      const running = await start(slow);
      const outcome = await running.reposync.syncNow({ distribution: 'testdist', version: '2', arch: 'x86_64' });
      expect(outcome.exitCode).toBe(5);
      expect(sample(await metrics(running), 'retrace_agent_repo_sync_failures_total', 'repo="testdist-2-x86_64"')).toBe(1);
    } finally {
      await fx.writePlugin([[join(fx.spool.root, 'mirror')]]);
    }
  });

  it('stop() aborts a sync in flight and leaves no lock', async () => {
    const slow = await fx.configVariant('hourly', (text) => text.replace('SyncInterval = 1', 'SyncInterval = 3600'));
    const wrapper = await fx.createrepoWrapper('exec sleep 30');
    const savedPath = process.env.PATH;
    process.env.PATH = wrapper.PATH;
    try {
      const running = await start(slow);
      const release = { distribution: 'testdist', version: '9', arch: 'x86_64' };
      const pending = running.reposync.syncNow(release);
      const lock = join(fx.spool.root, 'retrace-reposync-lock-testdist-9-x86_64');
      const deadline = Date.now() + 10_000;
      while (!existsSync(join(fx.targetDir('9'), 'Packages', 'alpha-1.0-1.x86_64.rpm')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      await new Promise((r) => setTimeout(r, 200));
      const stopping = Date.now();
      await running.stop();
      agent = undefined;
      expect(Date.now() - stopping).toBeLessThan(8000);
      expect((await pending).aborted).toBe(true);
      expect(existsSync(lock)).toBe(false);
    } finally {
      process.env.PATH = savedPath;
    }
  });
});
