// The shipped Grafana dashboards: a structural schema (ours, see validateDashboard), grid layout, data source
// variable, `$instance` in every query, every query parsed by the real promtool, and every metric name
// checked against what a real agent exports.
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../../src/agent/agent.js';
import { createLogger } from '../../src/log.js';
import { createTestSpool, type TestSpool } from '../support/spool.js';
import {
  agentMetricNames, allPanels, dashboardFiles, familiesOf, GRAFANA_DIR, loadDashboards, NOT_YET_EXPORTED, panelQueries, promtool, RULES_FILE, toPromQL,
  type Dashboard, type GridPos,
} from './support.js';

const DATASOURCE = { type: 'prometheus', uid: '${datasource}' };
const EXPECTED = ['retrace-agent.json', 'retrace-repositories.json', 'retrace-tasks.json'];
const PANEL_TYPES = new Set(['timeseries', 'stat', 'table', 'gauge', 'bargauge', 'row', 'text', 'state-timeline']);

/**
 * Our schema for the classic dashboard JSON model (agent-anchors §4), checked field by field: what Grafana needs to
 * load and provision a dashboard, and the conventions of this repo. Returns the problems found.
 */
function validateDashboard(d: Dashboard): string[] {
  const problems: string[] = [];
  const raw = d as unknown as Record<string, unknown>;
  const want = (cond: boolean, message: string): void => {
    if (!cond) problems.push(message);
  };
  want(typeof raw.uid === 'string' && /^[a-zA-Z0-9_-]{8,40}$/.test(raw.uid), 'uid: 8–40 chars of [a-zA-Z0-9_-]');
  want(typeof raw.title === 'string' && raw.title.trim() !== '', 'title: non-empty string');
  want(raw.schemaVersion === 42, 'schemaVersion: 42');
  want(raw.id === undefined || raw.id === null, 'id: absent (Grafana assigns it; a fixed id clashes on import)');
  want(Array.isArray(raw.tags), 'tags: array');
  want(typeof raw.time === 'object' && raw.time !== null, 'time: object');
  want(Array.isArray((raw.annotations as { list?: unknown } | undefined)?.list), 'annotations.list: array');
  want(Array.isArray(raw.panels) && raw.panels.length > 0, 'panels: non-empty array');
  want(Array.isArray(d.templating?.list), 'templating.list: array');
  want(raw.__inputs === undefined, '__inputs: absent (only the import flow substitutes them, provisioning does not)');
  for (const panel of allPanels(d)) {
    const where = `panel ${panel.id} "${panel.title}"`;
    want(Number.isInteger(panel.id) && panel.id > 0, `${where}: id positive integer`);
    want(PANEL_TYPES.has(panel.type), `${where}: known type (${panel.type})`);
    want(typeof panel.title === 'string' && panel.title !== '', `${where}: title`);
    const g = panel.gridPos as Partial<GridPos> | undefined;
    want(!!g && [g.x, g.y, g.w, g.h].every((n) => Number.isInteger(n)), `${where}: gridPos {x,y,w,h} integers`);
    if (panel.type === 'row') continue;
    want(Array.isArray(panel.targets) && panel.targets.length > 0, `${where}: targets`);
    const refIds = (panel.targets ?? []).map((t) => t.refId);
    want(new Set(refIds).size === refIds.length && refIds.every((r) => typeof r === 'string' && r !== ''), `${where}: unique refIds`);
    for (const t of panel.targets ?? []) want(typeof t.expr === 'string' && t.expr.trim() !== '', `${where} ${t.refId}: expr`);
  }
  return problems;
}

function overlaps(a: GridPos, b: GridPos): boolean {
  return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
}

const files = loadDashboards();

describe('the Grafana dashboards', () => {
  it('are the three of issue 7, each valid JSON', () => {
    expect(dashboardFiles()).toEqual(EXPECTED);
    expect(files).toHaveLength(3);
  });

  it('have stable, unique, non-empty uids and titles', () => {
    const uids = files.map((f) => f.dashboard.uid);
    const titles = files.map((f) => f.dashboard.title);
    expect(uids).toEqual(['retrace-agent', 'retrace-repositories', 'retrace-tasks']);
    expect(new Set(uids).size).toBe(uids.length);
    expect(new Set(titles).size).toBe(titles.length);
    for (const t of titles) expect(t.trim()).not.toBe('');
  });

  it.each(files.map((f) => [f.file, f] as const))('%s passes our dashboard schema (schemaVersion 42)', (_name, f) => {
    expect(validateDashboard(f.dashboard)).toEqual([]);
  });

  it.each(files.map((f) => [f.file, f] as const))('%s has unique panel ids and non-overlapping panels on the 24-column grid', (_name, f) => {
    const panels = allPanels(f.dashboard);
    const ids = panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of panels) {
      expect(p.gridPos.x, p.title).toBeGreaterThanOrEqual(0);
      expect(p.gridPos.y, p.title).toBeGreaterThanOrEqual(0);
      expect(p.gridPos.w, p.title).toBeGreaterThanOrEqual(1);
      expect(p.gridPos.h, p.title).toBeGreaterThanOrEqual(1);
      expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
    }
    // Panels inside a collapsed row are laid out when it opens; compare the top level with each other.
    const top = f.dashboard.panels;
    const clashes: string[] = [];
    for (let i = 0; i < top.length; i++) {
      for (let j = i + 1; j < top.length; j++) {
        const [a, b] = [top[i], top[j]];
        if (a && b && overlaps(a.gridPos, b.gridPos)) clashes.push(`"${a.title}" (${a.id}) overlaps "${b.title}" (${b.id})`);
      }
    }
    expect(clashes).toEqual([]);
  });

  it.each(files.map((f) => [f.file, f] as const))('%s selects its data source with the `datasource` variable, never ${DS_PROMETHEUS}', (_name, f) => {
    expect(f.text).not.toContain('DS_PROMETHEUS');
    const vars = f.dashboard.templating.list;
    expect(vars.find((v) => v.name === 'datasource')).toMatchObject({ type: 'datasource', query: 'prometheus' });
    for (const v of vars.filter((v) => v.type === 'query')) expect(v.datasource, v.name).toEqual(DATASOURCE);
    for (const p of allPanels(f.dashboard).filter((p) => p.type !== 'row')) {
      expect(p.datasource, p.title).toEqual(DATASOURCE);
      for (const t of p.targets ?? []) expect(t.datasource, `${p.title} ${t.refId}`).toEqual(DATASOURCE);
    }
  });

  it.each(files.map((f) => [f.file, f] as const))('%s has a multi-value `instance` variable used by every query', (_name, f) => {
    const instance = f.dashboard.templating.list.find((v) => v.name === 'instance');
    expect(instance).toMatchObject({ type: 'query', multi: true, includeAll: true, definition: 'label_values(retrace_agent_build_info, instance)' });
    for (const q of panelQueries([f])) expect(q.target.expr, q.name).toContain('instance=~"$instance"');
  });

  it('uses $__rate_interval (or $__range in a stat over the time range) in every rate and increase', () => {
    const bad: string[] = [];
    for (const q of panelQueries(files)) {
      for (const [, , window] of q.target.expr.matchAll(/\b(rate|irate|increase)\([^[]*\[([^\]]+)\]/g)) {
        if (window !== '$__rate_interval' && window !== '$__range') bad.push(`${q.name}: [${window}]`);
      }
    }
    expect(bad).toEqual([]);
  });

  describe('PromQL', () => {
    let dir: string;
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'grafana-promql-'));
    });
    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('replaces Grafana macros and variables the way the checks need', () => {
      expect(toPromQL('sum(rate(x{instance=~"$instance",repo=~"${repo}"}[$__rate_interval])) + y[$__range] + z[${__interval}]'))
        .toBe('sum(rate(x{instance=~".*",repo=~".*"}[5m])) + y[5m] + z[5m]');
    });

    it('every panel query parses (promtool check rules on the queries as recording rules)', async () => {
      const queries = panelQueries(files);
      expect(queries.length).toBeGreaterThan(30);
      const rules = queries.map((q, i) => ({ record: `retrace_dashboard:query_${i}`, expr: toPromQL(q.target.expr) }));
      // JSON is YAML: promtool reads it as a rule file.
      const file = join(dir, 'dashboard-queries.rules.json');
      await writeFile(file, JSON.stringify({ groups: [{ name: 'dashboards', rules }] }, null, 2));
      const { status, output } = promtool(['check', 'rules', file]);
      expect(output).toContain(`SUCCESS: ${rules.length} rules found`);
      expect(status).toBe(0);
    });

    it('a query that does not parse fails the check (the check can fail)', async () => {
      const file = join(dir, 'broken.rules.json');
      const raw = 'sum(rate(retrace_agent_tasks_finished_total{instance=~"$instance"}[$__rate_interval])';
      await writeFile(file, JSON.stringify({ groups: [{ name: 'broken', rules: [{ record: 'x:y', expr: toPromQL(raw) }] }] }));
      expect(promtool(['check', 'rules', file]).status).not.toBe(0);
      // And an unreplaced macro fails too, as agent-anchors §4 measured.
      await writeFile(file, JSON.stringify({ groups: [{ name: 'broken', rules: [{ record: 'x:y', expr: 'rate(x[$__rate_interval])' }] }] }));
      expect(promtool(['check', 'rules', file]).status).not.toBe(0);
    });
  });
});

describe('metric names in the dashboards and rules exist in a real agent', () => {
  let spool: TestSpool;
  let agent: Agent;
  let exposition: string;

  beforeAll(async () => {
    spool = await createTestSpool();
    const pluginDir = join(spool.root, 'plugins');
    await mkdir(pluginDir);
    // A release to sync makes the repo metrics carry their `repo` series; hourly, so no sync starts in this test.
    const config = await spool.writeConfig(['SyncReleases = testdist-1-x86_64', 'SyncInterval = 3600']);
    agent = await Agent.start({ configPath: config, pluginDir, log: createLogger({ name: 'test', level: 'silent' }) });
    exposition = await (await fetch(`http://127.0.0.1:${agent.listenAddress.port}/metrics`)).text();
  });

  afterAll(async () => {
    await agent?.stop();
    await spool?.cleanup();
  });

  it('exports the families the dashboards are built on', () => {
    const families = familiesOf(exposition);
    for (const name of ['retrace_agent_tasks', 'retrace_agent_build_info', 'retrace_agent_nodejs_eventloop_lag_seconds', 'retrace_agent_process_resident_memory_bytes',
      'retrace_agent_repo_last_sync_success_timestamp_seconds', 'retrace_agent_repo_sync_duration_seconds']) {
      expect(families).toContain(name);
    }
  });

  it('every retrace_agent_* name in the dashboards, the rules and the Grafana alert is exported (or explicitly pending)', async () => {
    const families = familiesOf(exposition);
    const texts: [string, string][] = [
      ...files.map((f) => [f.file, f.text] as [string, string]),
      ['retrace-agent.rules.yml', await readFile(RULES_FILE, 'utf8')],
      ['retrace-stale-repo.yaml', await readFile(join(GRAFANA_DIR, 'provisioning', 'alerting', 'retrace-stale-repo.yaml'), 'utf8')],
    ];
    const unknown: string[] = [];
    let checked = 0;
    for (const [file, text] of texts) {
      for (const name of agentMetricNames(text, families)) {
        checked++;
        if (!families.has(name) && !NOT_YET_EXPORTED.has(name)) unknown.push(`${file}: ${name}`);
      }
    }
    expect(checked).toBeGreaterThan(30);
    expect(unknown).toEqual([]);
  });

  it('the name check can fail: a misspelt name is reported', () => {
    const families = familiesOf(exposition);
    const names = agentMetricNames('rate(retrace_agent_task_finished_total[5m]) + retrace_agent_task_duration_seconds_bucket', families);
    expect([...names].filter((n) => !families.has(n))).toEqual(['retrace_agent_task_finished_total']);
  });
});
