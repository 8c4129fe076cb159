// The Prometheus alert rules (checked and unit-tested by the real promtool) and the Grafana provisioning files.
// There is no YAML parser among our dependencies, so the YAML files are checked by promtool where it applies and
// otherwise by their key lines.
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GRAFANA_DIR, promtool, RULES_FILE, RULES_TEST_FILE } from './support.js';

const ALERTS = [
  'RetraceRepoStale', 'RetraceRepoNeverSynced', 'RetraceRepoSyncFailing', 'RetraceRepoPackagesRejected', 'RetraceSaveDirNearlyFull',
  'RetraceTasksKilledOrCrashed', 'RetraceAgentDown', 'RetraceAgentNotReady',
];
const STALE_REPO_AFTER = 172800;

const read = (path: string): Promise<string> => readFile(path, 'utf8');

/** The rule file split at each `- alert:` item: name → its YAML lines. */
function alertBlocks(text: string): Map<string, string> {
  const blocks = new Map<string, string>();
  const parts = text.split(/^ {6}- alert: /m).slice(1);
  for (const part of parts) {
    const name = part.slice(0, part.indexOf('\n')).trim();
    blocks.set(name, part.split(/^ {6}#/m)[0] as string);
  }
  return blocks;
}

/** For each alert in a promtool test file: whether some case expects it firing, and some case expects nothing. */
function testedCases(text: string): Map<string, { firing: boolean; quiet: boolean }> {
  const cases = new Map<string, { firing: boolean; quiet: boolean }>();
  let current: string | undefined;
  for (const line of text.split('\n')) {
    const name = /^\s+alertname: (\w+)/.exec(line)?.[1];
    if (name) current = name;
    const exp = /^\s+exp_alerts:(.*)$/.exec(line);
    if (exp && current) {
      const entry = cases.get(current) ?? { firing: false, quiet: false };
      if (exp[1]?.trim() === '[]') entry.quiet = true;
      else entry.firing = true;
      cases.set(current, entry);
      current = undefined;
    }
  }
  return cases;
}

describe('the Prometheus alert rules', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'grafana-rules-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('pass promtool check rules', () => {
    const { status, output } = promtool(['check', 'rules', '--lint=all', '--lint-fatal', RULES_FILE]);
    expect(output).toContain(`SUCCESS: ${ALERTS.length} rules found`);
    expect(status).toBe(0);
  });

  it('pass their promtool unit tests', () => {
    const { status, output } = promtool(['test', 'rules', RULES_TEST_FILE], join(GRAFANA_DIR, 'alerts'));
    expect(output).toContain('SUCCESS');
    expect(status).toBe(0);
  });

  it('are the alerts of issue 7, each with for:, a severity, a summary and a description', async () => {
    const blocks = alertBlocks(await read(RULES_FILE));
    expect([...blocks.keys()]).toEqual(ALERTS);
    for (const [name, block] of blocks) {
      expect(block, name).toMatch(/^ {8}expr: /m);
      expect(block, name).toMatch(/^ {10}severity: (critical|warning)$/m);
      expect(block, name).toMatch(/^ {10}summary: '.*\{\{ \$labels\.\w+ \}\}/m);
      expect(block, name).toMatch(/^ {10}description: /m);
      // Counter bursts (rejected packages) alert at once; everything else must hold for a while.
      if (name !== 'RetraceRepoPackagesRejected') expect(block, name).toMatch(/^ {8}for: \d+[mh]$/m);
    }
  });

  it('puts StaleRepoAfter (172800 s) in the stale-repo expression', async () => {
    const stale = alertBlocks(await read(RULES_FILE)).get('RetraceRepoStale') ?? '';
    expect(stale).toMatch(new RegExp(`expr: time\\(\\) - \\(retrace_agent_repo_last_sync_success_timestamp_seconds > 0\\) > ${STALE_REPO_AFTER}\\n`));
  });

  it('have unit tests for firing and for not firing of every alert', async () => {
    const cases = testedCases(await read(RULES_TEST_FILE));
    for (const name of ALERTS) expect(cases.get(name), name).toEqual({ firing: true, quiet: true });
    // Test time starts at 0 and samples must be at most 5m apart, or `for:` resets in the gaps.
    for (const [, interval] of (await read(RULES_TEST_FILE)).matchAll(/^\s+- interval: (\d+)m$/gm)) expect(Number(interval)).toBeLessThanOrEqual(5);
  });

  it('the unit tests can fail: a stale-repo rule without the `> 0` guard alerts for a repo that never synced', async () => {
    const rules = (await read(RULES_FILE)).replace('(retrace_agent_repo_last_sync_success_timestamp_seconds > 0) > 172800', 'retrace_agent_repo_last_sync_success_timestamp_seconds > 172800');
    expect(rules).not.toBe(await read(RULES_FILE));
    await writeFile(join(dir, 'retrace-agent.rules.yml'), rules);
    await copyFile(RULES_TEST_FILE, join(dir, 'retrace-agent.rules.test.yml'));
    const { status, output } = promtool(['test', 'rules', 'retrace-agent.rules.test.yml'], dir);
    expect(status).not.toBe(0);
    expect(output).toContain('centos-9');
  });

  it('the unit tests can fail: a threshold of one day instead of StaleRepoAfter', async () => {
    const rules = (await read(RULES_FILE)).replace('> 0) > 172800', '> 0) > 86400');
    await writeFile(join(dir, 'retrace-agent.rules.yml'), rules);
    await copyFile(RULES_TEST_FILE, join(dir, 'retrace-agent.rules.test.yml'));
    expect(promtool(['test', 'rules', 'retrace-agent.rules.test.yml'], dir).status).not.toBe(0);
  });
});

describe('the Grafana provisioning files', () => {
  const provisioning = join(GRAFANA_DIR, 'provisioning');

  it('provision the dashboards from files, at the path the README tells to copy them to', async () => {
    const text = await read(join(provisioning, 'dashboards', 'retrace.yaml'));
    expect(text).toMatch(/^apiVersion: 1$/m);
    expect(text).toMatch(/^ {4}type: file$/m);
    const path = /^ {6}path: (\S+)$/m.exec(text)?.[1];
    expect(path).toBe('/var/lib/grafana/dashboards/retrace');
    const readme = await read(join(GRAFANA_DIR, '..', 'README.md'));
    expect(readme).toContain('## Grafana and alerts');
    expect(readme).toContain(path);
  });

  it('give an example Prometheus data source with the uid the alert rule uses', async () => {
    const datasource = await read(join(provisioning, 'datasources', 'prometheus.example.yaml'));
    expect(datasource).toMatch(/^apiVersion: 1$/m);
    expect(datasource).toMatch(/^ {4}type: prometheus$/m);
    const uid = /^ {4}uid: (\S+)$/m.exec(datasource)?.[1];
    expect(uid).toBe('prometheus-retrace');
    const alert = await read(join(provisioning, 'alerting', 'retrace-stale-repo.yaml'));
    expect([...alert.matchAll(/datasourceUid: (\S+)/g)].map((m) => m[1]).filter((u) => u !== '__expr__')).toEqual([uid]);
  });

  it('provision the stale-repo alert as a Grafana-managed rule equal to the Prometheus one', async () => {
    const alert = await read(join(provisioning, 'alerting', 'retrace-stale-repo.yaml'));
    expect(alert).not.toMatch(/\t/);
    expect(alert).toMatch(/^apiVersion: 1$/m);
    expect(alert).toMatch(/^groups:\n {2}- orgId: 1\n/m);
    expect(alert).toMatch(/^ {6}- uid: retrace-repo-stale$/m);
    expect(alert).toMatch(/^ {8}condition: C$/m);
    expect(alert).toMatch(/^ {8}for: 30m$/m);
    expect(alert).toMatch(/^ {10}severity: warning$/m);
    // The refIds: A (the query), B (reduce A), C (threshold on B) — the condition exists and each expression's input too.
    expect([...alert.matchAll(/^ {10}- refId: (\w)$/gm)].map((m) => m[1])).toEqual(['A', 'B', 'C']);
    expect(alert).toMatch(/type: reduce\n\s+expression: A\n/);
    expect(alert).toMatch(new RegExp(`type: threshold\\n\\s+expression: B\\n\\s+conditions:\\n\\s+- evaluator:\\n\\s+type: gt\\n\\s+params:\\n\\s+- ${STALE_REPO_AFTER}\\n`));
    // Same query as the tested Prometheus rule, minus its threshold.
    const promExpr = /^ {8}expr: (.*) > 172800$/m.exec(alertBlocks(await read(RULES_FILE)).get('RetraceRepoStale') ?? '')?.[1];
    const grafanaExpr = /^ {14}expr: (.*)$/m.exec(alert)?.[1];
    expect(promExpr).toBeDefined();
    expect(grafanaExpr).toBe(promExpr);
  });
});
