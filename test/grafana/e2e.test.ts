// End to end (issue 7 §5): the real Prometheus of the Debian package scrapes a real agent on loopback every second.
// The agent tracks a real spool (tasks finish, crash and expire while Prometheus watches) and syncs real
// repositories (rpmbuild packages in a local-dir mirror). Then every panel query of every dashboard goes through
// Prometheus' HTTP API and must return a series with a number; the alert rules are loaded by that Prometheus, every
// alert expression evaluates, and the stale and never-synced repos show up in ALERTS.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../../src/agent/agent.js';
import { createLogger } from '../../src/log.js';
import { freePort } from '../support/daemons.js';
import { buildRpms } from '../support/rpm.js';
import { createTestSpool, uniqueTaskId, writeAtomic, writeTask, type TestSpool } from '../support/spool.js';
import { familiesOf, NOT_YET_EXPORTED, panelQueries, RULES_FILE, toPromQL, type PanelQuery } from './support.js';

const PROMETHEUS = '/usr/bin/prometheus';
const FRESH = 'testdist-1-x86_64';
const STALE = 'testdist-2-x86_64';
const NEVER = 'testdist-3-x86_64';
const DAY = 86_400;
// Bound on everything that waits for Prometheus or the agent.
const WAIT_MS = 45_000;

interface Sample {
  readonly metric: Record<string, string>;
  readonly value: [number, string];
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, ms = WAIT_MS): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

const finite = (samples: readonly Sample[]): Sample[] => samples.filter((s) => Number.isFinite(Number(s.value[1])));

describe('dashboards and alerts against a real Prometheus scraping a real agent', () => {
  let root: string;
  let spool: TestSpool;
  let agent: Agent | undefined;
  let prometheus: ChildProcess | undefined;
  let prometheusLog = '';
  let api: string;
  let families: Set<string>;

  async function query(promql: string): Promise<Sample[]> {
    const res = await fetch(`${api}/api/v1/query?${new URLSearchParams({ query: promql })}`, { signal: AbortSignal.timeout(5000) });
    const body = (await res.json()) as { status: string; error?: string; data?: { resultType: string; result: Sample[] | [number, string] } };
    if (body.status !== 'success') throw new Error(`${promql}: ${body.error}`);
    if (body.data?.resultType === 'scalar') return [{ metric: {}, value: body.data.result as [number, string] }];
    return body.data?.result as Sample[];
  }

  async function agentSample(name: string, labels = ''): Promise<number | undefined> {
    const text = await (await fetch(`http://127.0.0.1:${agent?.listenAddress.port}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `));
    return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
  }

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'grafana-e2e-'));
    spool = await createTestSpool();
    const now = Math.floor(Date.now() / 1000);

    // Repositories: testdist-$VER syncs from <root>/mirror-$VER; only mirror-1 exists. testdist-2 last succeeded
    // three days ago (its last-run record, as a run of the CLI would have left it) and keeps failing now: stale.
    // testdist-3 never succeeded.
    await buildRpms([
      { name: 'alpha', version: '1.0', release: '1', arch: 'x86_64', payloadBytes: 1024 },
      { name: 'beta', version: '2.0', release: '1', payloadBytes: 1024 },
    ], join(spool.root, 'mirror-1'));
    const pluginDir = join(spool.root, 'plugins');
    await mkdir(pluginDir);
    await writeFile(join(pluginDir, 'testdist.py'), `distribution = "testdist"\nrepos = [\n    [${JSON.stringify(join(spool.root, 'mirror-$VER'))}],\n]\n`);
    const staleState = join(spool.root, 'repos', '.retrace-state', STALE);
    await mkdir(staleState, { recursive: true });
    await writeFile(join(staleState, 'last-run.json'), JSON.stringify({
      attempt: now - 3 * DAY, success: now - 3 * DAY, durationSeconds: 12, exitCode: 0, admitted: 0, bytes: 0, rejected: {}, failedRepos: [],
      contents: { packages: 0, bytes: 0, mtimeMs: 0 },
    }));

    // Tasks in each state before the agent starts.
    await writeTask(spool.saveDir, uniqueTaskId(), { status: 6, startedTime: now - 120, finishedTime: now - 60, backtrace: 'bt', log: 'x\n' });
    await writeTask(spool.saveDir, uniqueTaskId(), { status: 7, startedTime: now - 120, finishedTime: now - 60, log: 'x\n' });
    await writeTask(spool.saveDir, uniqueTaskId(), { status: 2, startedTime: now - 10, log: 'x\n' });

    const configPath = await spool.writeConfig(
      [`SyncReleases = ${FRESH} ${STALE} ${NEVER}`, 'SyncInterval = 2', 'OrphanGrace = 6'],
      ['RequireGPGCheck = 0'],
    );

    // Prometheus first, so it sees the agent from its first second on.
    const agentPort = await freePort();
    const promPort = await freePort();
    api = `http://127.0.0.1:${promPort}`;
    const promConfig = join(root, 'prometheus.yml');
    await writeFile(promConfig, JSON.stringify({
      global: { scrape_interval: '1s', scrape_timeout: '900ms', evaluation_interval: '1s' },
      rule_files: [RULES_FILE],
      scrape_configs: [{ job_name: 'retrace-agent', static_configs: [{ targets: [`127.0.0.1:${agentPort}`] }] }],
    }));
    prometheus = spawn(PROMETHEUS, [
      `--config.file=${promConfig}`, `--storage.tsdb.path=${join(root, 'tsdb')}`, `--web.listen-address=127.0.0.1:${promPort}`,
      '--log.level=warn', `--web.console.templates=${root}`, `--web.console.libraries=${root}`,
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    prometheus.stdout?.on('data', (chunk: Buffer) => (prometheusLog += chunk.toString()));
    prometheus.stderr?.on('data', (chunk: Buffer) => (prometheusLog += chunk.toString()));
    await waitFor('Prometheus to be ready', async () => ((await fetch(`${api}/-/ready`)).ok ? true : undefined), 20_000)
      .catch((err: unknown) => { throw new Error(`${(err as Error).message}\n${prometheusLog}`); });

    agent = await Agent.start({ configPath, pluginDir, log: createLogger({ name: 'test', level: 'silent' }), listen: { host: '127.0.0.1', port: agentPort } });
    families = familiesOf(await (await fetch(`http://127.0.0.1:${agentPort}/metrics`)).text());
    await waitFor('three scrapes of the agent', async () => {
      const [up] = await query('sum_over_time(up{job="retrace-agent"}[1m])');
      return up && Number(up.value[1]) >= 3 ? true : undefined;
    });

    // Events while Prometheus watches: a task finishes, one is left without a worker (crashed after OrphanGrace),
    // an old one expires (DeleteTaskAfter, 120 h by default; renamed in so it arrives with its old mtime).
    const finishing = uniqueTaskId();
    const dir = await writeTask(spool.saveDir, finishing, { status: 2, startedTime: now - 42, log: 'x\n' });
    await writeTask(spool.saveDir, uniqueTaskId(), { startedTime: now, log: 'queued\n' });
    const old = uniqueTaskId();
    const oldDir = await writeTask(join(spool.root, 'staging'), old, { status: 6, startedTime: now - 200 * 3600, finishedTime: now - 200 * 3600, backtrace: 'bt', mtime: now - 200 * 3600 });
    await rename(oldDir, join(spool.saveDir, old));
    await new Promise((resolve) => setTimeout(resolve, 500));
    await writeAtomic(dir, 'retrace_backtrace', 'bt');
    await writeAtomic(dir, 'finished_time', String(Math.floor(Date.now() / 1000)));
    await writeAtomic(dir, 'status', '6');

    await waitFor('the agent to have reaped, finished and synced', async () => {
      const done = (await agentSample('retrace_agent_tasks_reaped_total', '{reason="crashed"}') ?? 0) >= 1
        && (await agentSample('retrace_agent_tasks_reaped_total', '{reason="expired"}') ?? 0) >= 1
        && (await agentSample('retrace_agent_tasks_finished_total', '{result="success"}') ?? 0) >= 1
        && (await agentSample('retrace_agent_repo_sync_duration_seconds_count', `{repo="${FRESH}"}`) ?? 0) >= 2
        && (await agentSample('retrace_agent_repo_sync_failures_total', `{repo="${NEVER}"}`) ?? 0) >= 2;
      return done ? true : undefined;
    });
    // Two more scrapes, so that every rate() has samples after the events.
    const scrapes = Number((await query('count_over_time(up{job="retrace-agent"}[5m])'))[0]?.value[1]);
    await waitFor('two more scrapes', async () => Number((await query('count_over_time(up{job="retrace-agent"}[5m])'))[0]?.value[1]) >= scrapes + 2 || undefined);
  }, 120_000);

  afterAll(async () => {
    await agent?.stop();
    if (prometheus && prometheus.exitCode === null) {
      const exited = new Promise((resolve) => prometheus?.once('exit', resolve));
      prometheus.kill('SIGTERM');
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5000))]);
      if (prometheus.exitCode === null) prometheus.kill('SIGKILL');
    }
    await spool?.cleanup();
    if (root) await rm(root, { recursive: true, force: true });
  }, 30_000);

  const queries = panelQueries();

  it('has panel queries to run', () => {
    expect(queries.length).toBeGreaterThan(30);
  });

  it.for(queries.map((q) => [q.name, q] as [string, PanelQuery]))('panel %s returns data', async ([, q], ctx) => {
    const pending = [...NOT_YET_EXPORTED].filter((name) => q.target.expr.includes(name) && !families.has(name));
    if (pending.length > 0) {
      ctx.skip(`${pending.join(', ')} is not exported by the agent yet (see NOT_YET_EXPORTED)`);
      return;
    }
    const promql = toPromQL(q.target.expr);
    // A fresh rate may need one more scrape; wait a little, then require a series with a number.
    const samples = await waitFor(`data for ${q.name}`, async () => {
      const result = await query(promql);
      return finite(result).length > 0 ? result : undefined;
    }, 15_000).catch(async () => query(promql));
    expect(samples.length, `${q.name}: ${promql} returned no series`).toBeGreaterThan(0);
    expect(finite(samples).length, `${q.name}: ${promql} returned only NaN: ${JSON.stringify(samples)}`).toBeGreaterThan(0);
  });

  it('shows the repositories it synced, and that only the fresh one is fresh', async () => {
    const age = await query('time() - retrace_agent_repo_last_sync_success_timestamp_seconds');
    const byRepo = new Map(age.map((s) => [s.metric.repo, Number(s.value[1])]));
    expect(byRepo.get(FRESH)).toBeLessThan(60);
    expect(byRepo.get(STALE)).toBeGreaterThan(2 * DAY);
    expect(byRepo.has(NEVER)).toBe(false);
    const [packages] = await query(`retrace_agent_repo_packages{repo="${FRESH}"}`);
    expect(Number(packages?.value[1])).toBe(2);
  });

  describe('alerts', () => {
    interface Rule { readonly name: string; readonly query: string; readonly health: string; readonly type: string; readonly lastError?: string }
    let rules: Rule[];

    beforeAll(async () => {
      rules = await waitFor('the rules to be evaluated', async () => {
        const body = (await (await fetch(`${api}/api/v1/rules?type=alert`)).json()) as { data: { groups: { rules: (Rule & { lastEvaluation: string })[] }[] } };
        const all = body.data.groups.flatMap((g) => g.rules);
        return all.length > 0 && all.every((r) => !r.lastEvaluation.startsWith('0001')) ? all : undefined;
      });
    }, 60_000);

    it('loads every rule of the rule file and evaluates each without error', () => {
      expect(rules.map((r) => r.name)).toEqual([
        'RetraceRepoStale', 'RetraceRepoNeverSynced', 'RetraceRepoSyncFailing', 'RetraceRepoPackagesRejected', 'RetraceSaveDirNearlyFull',
        'RetraceTasksKilledOrCrashed', 'RetraceAgentDown', 'RetraceAgentNotReady',
      ]);
      for (const rule of rules) expect({ name: rule.name, health: rule.health, error: rule.lastError ?? '' }).toEqual({ name: rule.name, health: 'ok', error: '' });
    });

    it('runs every alert expression through the query API', async () => {
      for (const rule of rules) await expect(query(rule.query), rule.name).resolves.toBeInstanceOf(Array);
    });

    const alertsOf = async (name: string): Promise<Sample[]> => query(`ALERTS{alertname="${name}"}`);

    it('puts the stale repo, and only it, into RetraceRepoStale (pending: for 30m has not passed)', async () => {
      const alerts = await waitFor('RetraceRepoStale', async () => {
        const result = await alertsOf('RetraceRepoStale');
        return result.length > 0 ? result : undefined;
      });
      expect(alerts.map((a) => ({ repo: a.metric.repo, state: a.metric.alertstate, severity: a.metric.severity, job: a.metric.job })))
        .toEqual([{ repo: STALE, state: 'pending', severity: 'warning', job: 'retrace-agent' }]);
    });

    it('puts the repo that never synced into RetraceRepoNeverSynced, and the failing ones into RetraceRepoSyncFailing', async () => {
      const never = await waitFor('RetraceRepoNeverSynced', async () => {
        const result = await alertsOf('RetraceRepoNeverSynced');
        return result.length > 0 ? result : undefined;
      });
      expect(never.map((a) => [a.metric.repo, a.metric.alertstate])).toEqual([[NEVER, 'pending']]);
      const failing = await waitFor('RetraceRepoSyncFailing', async () => {
        const result = await alertsOf('RetraceRepoSyncFailing');
        return result.length >= 2 ? result : undefined;
      });
      expect(failing.map((a) => a.metric.repo).sort()).toEqual([STALE, NEVER]);
    });

    it('raises nothing about the healthy agent itself', async () => {
      for (const name of ['RetraceAgentDown', 'RetraceAgentNotReady', 'RetraceSaveDirNearlyFull', 'RetraceTasksKilledOrCrashed']) {
        expect(await alertsOf(name), name).toEqual([]);
      }
    });
  });
});
