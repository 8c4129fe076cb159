import { execFileSync } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../../src/agent/agent.js';
import { startHttpServer } from '../../src/metrics/http.js';
import { createRegistry } from '../../src/metrics/registry.js';
import { createLogger } from '../../src/log.js';
import { createTestSpool, writeTask, type TestSpool } from '../support/spool.js';

const log = createLogger({ name: 'test', level: 'silent' });

describe('the agent over HTTP on loopback', () => {
  let spool: TestSpool;
  let agent: Agent;
  let base: string;

  beforeAll(async () => {
    spool = await createTestSpool();
    const now = Math.floor(Date.now() / 1000);
    await writeTask(spool.saveDir, '100000001', { status: 6, startedTime: now - 60, finishedTime: now - 1, backtrace: 'bt', log: 'x\n' });
    await writeTask(spool.saveDir, '100000002', { status: 7, startedTime: now - 60, finishedTime: now - 1, log: 'x\n' });
    await writeTask(spool.saveDir, '100000003', { status: 7, startedTime: now - 60, finishedTime: now - 1, log: 'x\n' });
    await writeTask(spool.saveDir, '100000004', {});
    const pluginDir = join(spool.root, 'plugins');
    await mkdir(pluginDir);
    agent = await Agent.start({ configPath: await spool.writeConfig(), pluginDir, log });
    base = `http://127.0.0.1:${agent.listenAddress.port}`;
  });

  afterAll(async () => {
    await agent?.stop();
    await spool?.cleanup();
  });

  it('listens on loopback only', () => {
    expect(agent.listenAddress.host).toBe('127.0.0.1');
  });

  it('answers /healthz with 200 once the first reconcile is done', async () => {
    const res = await fetch(`${base}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('ok\n');
  });

  it('exports task counts by state on /metrics', async () => {
    const res = await fetch(`${base}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const body = await res.text();
    expect(body).toContain('retrace_agent_tasks{state="success"} 1');
    expect(body).toContain('retrace_agent_tasks{state="failure"} 2');
    expect(body).toContain('retrace_agent_tasks{state="queued"} 1');
    expect(body).toContain('retrace_agent_tasks{state="running"} 0');
    expect(body).toMatch(/retrace_agent_build_info\{version="\d+\.\d+\.\d+",node_version="v24\.[^"]+"\} 1/);
    expect(body).toMatch(/retrace_agent_savedir_free_bytes \d+/);
    expect(body).toMatch(/retrace_agent_inotify_watches [1-9]\d*/);
    expect(body).toContain('retrace_agent_config_error 0');
    expect(body).toContain('retrace_agent_tasks_finished_total{result="failure"} 0');
  });

  it('passes promtool check metrics', async () => {
    const body = await (await fetch(`${base}/metrics`)).text();
    // promtool exits 3 and prints each problem when the exposition breaks a naming rule.
    const out = execFileSync('promtool', ['check', 'metrics'], { input: body, encoding: 'utf8' });
    expect(out).toBe('');
  });

  it('serves nothing else', async () => {
    expect((await fetch(`${base}/`)).status).toBe(404);
    expect((await fetch(`${base}/metrics`, { method: 'POST' })).status).toBe(404);
  });
});

describe('/healthz before the first reconcile', () => {
  it('answers 503 with the reason, then 200 once healthy', async () => {
    let problem: string | undefined = 'the first spool reconcile has not finished';
    const server = await startHttpServer({ listen: { host: '127.0.0.1', port: 0 }, registry: createRegistry(), health: () => problem });
    try {
      const address = server.address();
      const base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
      const before = await fetch(`${base}/healthz`);
      expect(before.status).toBe(503);
      expect(await before.text()).toBe('not ready: the first spool reconcile has not finished\n');
      problem = undefined;
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
