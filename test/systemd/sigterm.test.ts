// SIGTERM (systemctl stop) to the real agent binary in the middle of its duties (SPEC §11, issue 8): during a
// scheduled sync from a slow http mirror, and during removals of expired tasks. Each time the process exits 0
// within 10 s leaving no lock, no partial file in the repo tree and no half-removed task; a restart then finds
// everything consistent and finishes the work.

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { killAgents, sigterm, startAgent, STOP_LIMIT_MS, until } from '../support/agent-process.js';
import { startHttpServer, type HttpServer } from '../support/http-server.js';
import { buildRpms } from '../support/rpm.js';
import { createTestSpool, writeOldTasks, type TestSpool } from '../support/spool.js';
import { createReleaseFixture, type ReleaseFixture } from '../reposync/orchestrator/fixture.js';


function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Every path below `dir` (files and dirs), relative to it; [] when it does not exist. */
async function tree(dir: string): Promise<string[]> {
  if (!existsSync(dir)) return [];
  return (await readdir(dir, { recursive: true })).map(String).sort();
}

function locks(lockDir: string): string[] {
  return readdirSync(lockDir).filter((name) => name.startsWith('retrace-reposync-lock'));
}

afterEach(() => {
  killAgents();
});

describe('SIGTERM during a sync', () => {
  const REPO = 'testdist-1-x86_64';
  const PACKAGES = 20;
  let fx: ReleaseFixture | undefined;
  let server: HttpServer | undefined;

  afterEach(async () => {
    killAgents();
    await server?.stop();
    server = undefined;
    await fx?.spool.cleanup();
    fx = undefined;
  });

  it('exits 0 within 10 s with no lock and only whole packages; a restart completes the sync', async () => {
    fx = await createReleaseFixture({ agentLines: [`SyncReleases = ${REPO}`, 'SyncInterval = 1'] });
    const mirror = join(fx.spool.root, 'mirror');
    // Big enough that a stalled transfer leaves a real partial file in staging.
    const built = await buildRpms(Array.from({ length: PACKAGES }, (_, i) => ({
      name: `pkg${String(i).padStart(2, '0')}`, version: '1.0', release: '1', arch: 'x86_64', payloadBytes: 96 * 1024,
    })), join(mirror, 'Packages'));
    execFileSync('createrepo_c', ['--no-database', '--quiet', mirror]);
    const mirrorFiles = new Map<string, Buffer>();
    for (const file of built) mirrorFiles.set(file.slice(join(mirror, 'Packages').length + 1), await readFile(file));
    const names = [...mirrorFiles.keys()].sort();
    expect(names).toHaveLength(PACKAGES);

    // Every package answers slowly; two of them send a part of their body and then stall, so the SIGTERM finds
    // transfers waiting for headers, transfers half done, and packages already admitted.
    server = await startHttpServer({ root: mirror });
    server.setFault('/Packages/*.rpm', { kind: 'slow', delayMs: 300 });
    const stalled = [names[2] as string, names[6] as string];
    for (const name of stalled) server.setFault(`/Packages/${name}`, { kind: 'stall', afterBytes: 40_000 });
    await fx.writePlugin([[server.baseUrl]]);

    const target = fx.targetDir();
    const packagesDir = join(target, 'Packages');
    const admitted = (): string[] => (existsSync(packagesDir) ? readdirSync(packagesDir) : []);
    const requested = (name: string): boolean => server!.requests.some((r) => r.path === `/Packages/${name}`);

    const first = startAgent(fx.env.RETRACE_SERVER_CONFIG_PATH as string, fx.pluginDir);
    await first.ready;
    // In the middle: both stalled transfers under way (so never all in), some packages in already.
    await until('a sync in the middle of its downloads', () => stalled.every(requested) && admitted().length >= 3, 30_000);
    const before = admitted().length;
    expect(existsSync(join(fx.spool.root, `retrace-reposync-lock-${REPO}`))).toBe(true);

    const stopped = await sigterm(first);
    expect(stopped).toMatchObject({ code: 0, signal: null });
    expect(stopped.ms).toBeLessThan(STOP_LIMIT_MS);
    expect(first.records.filter((r) => /exiting anyway/.test(String(r.msg)))).toEqual([]);
    expect(first.records.at(-1)?.msg).toBe('agent stopped');

    // No lock (nor takeover guard) left.
    expect(locks(fx.spool.root)).toEqual([]);
    // Packages/ holds whole packages only, each the mirror's bytes; the stalled ones are not among them.
    const kept = admitted().sort();
    expect(kept.length).toBeGreaterThanOrEqual(before);
    expect(kept.length).toBeLessThan(PACKAGES);
    for (const name of kept) {
      const expected = mirrorFiles.get(name);
      expect(expected, `${name} is not a mirror package`).toBeDefined();
      const data = await readFile(join(packagesDir, name));
      expect({ name, size: data.length, sha256: sha256(data) }).toEqual({ name, size: expected!.length, sha256: sha256(expected!) });
    }
    for (const name of stalled) expect(kept).not.toContain(name);
    // Nothing else in the repo tree: no temp, partial or hidden file (repodata only comes after the downloads).
    expect(await tree(target)).toEqual(['Packages', ...kept.map((name) => join('Packages', name))].sort());
    // An abort is not a refusal: nothing quarantined.
    expect(await tree(join(fx.repoDir, `${REPO}.quarantine`))).toEqual([]);
    // Staging (outside the repo tree) may keep partial downloads, but each is a true prefix of the mirror's file.
    const downloads = join(fx.repoDir, '.retrace-staging', REPO, 'downloads');
    const partials = new Map<string, number>();
    for (const name of await tree(downloads)) {
      const data = await readFile(join(downloads, name));
      const whole = mirrorFiles.get(name);
      expect(whole, `staging holds ${name}`).toBeDefined();
      expect(data.length).toBeLessThan(whole!.length);
      expect(data.equals(whole!.subarray(0, data.length))).toBe(true);
      if (data.length > 0) partials.set(name, data.length);
    }

    // Restart against a healthy mirror: the sync completes and resumes the partial downloads.
    server.clearFaults();
    const restartedAt = Date.now();
    const requestsBefore = server.requests.length;
    const second = startAgent(fx.env.RETRACE_SERVER_CONFIG_PATH as string, fx.pluginDir);
    const port = await second.ready;
    let success: number | undefined;
    await until('a successful sync after the restart', async () => {
      const body = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      const line = body.split('\n').find((l) => l.startsWith(`retrace_agent_repo_last_sync_success_timestamp_seconds{repo="${REPO}"} `));
      success = line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
      return success !== undefined && success * 1000 >= restartedAt - 1000;
    }, 30_000, 100);

    const synced = admitted().sort();
    expect(synced).toEqual(names);
    for (const name of synced) {
      const data = await readFile(join(packagesDir, name));
      expect(sha256(data)).toBe(sha256(mirrorFiles.get(name)!));
    }
    expect((await stat(join(target, 'repodata', 'repomd.xml'))).isFile()).toBe(true);
    // A partial download was resumed from where it stopped, not fetched again from the start.
    const again = server.requests.slice(requestsBefore);
    for (const [name, size] of partials) {
      expect(again.filter((r) => r.path === `/Packages/${name}`).map((r) => r.range)).toContain(`bytes=${size}-`);
    }
    // Packages fetched before the SIGTERM are not fetched again.
    for (const name of kept) expect(again.map((r) => r.path)).not.toContain(`/Packages/${name}`);

    const stoppedAgain = await sigterm(second);
    expect(stoppedAgain).toMatchObject({ code: 0, signal: null });
    expect(stoppedAgain.ms).toBeLessThan(STOP_LIMIT_MS);
    expect(locks(fx.spool.root)).toEqual([]);
    expect((await tree(target)).filter((name) => name.endsWith('.tmp') || name.split('/').some((part) => part.startsWith('.')))).toEqual([]);
  }, 120_000);
});

describe('SIGTERM during removals', () => {
  const TASKS = 60;
  const FILES_PER_TASK = 300;
  let spool: TestSpool | undefined;

  afterEach(async () => {
    killAgents();
    await spool?.cleanup();
    spool = undefined;
  });

  it('exits 0 within 10 s with every task whole or gone and the trash empty; a restart removes the rest', async () => {
    spool = await createTestSpool();
    const ids = Array.from({ length: TASKS }, (_, i) => String(540_000_000 + i));
    await writeOldTasks(spool.saveDir, ids, FILES_PER_TASK, 10);
    const pluginDir = join(spool.root, 'plugins');
    await mkdir(pluginDir);
    const config = await spool.writeConfig([], ['DeleteTaskAfter = 1', 'DeleteFailedTaskAfter = 0']);
    const trash = join(spool.saveDir, '.retrace-agent-trash');
    const present = (): string[] => ids.filter((id) => existsSync(join(spool!.saveDir, id)));

    const first = startAgent(config, pluginDir);
    // As soon as the first task has left the spool: removals are then in flight.
    await until('the first removal', () => present().length < TASKS, 30_000, 2);
    const stopped = await sigterm(first);
    expect(stopped).toMatchObject({ code: 0, signal: null });
    expect(stopped.ms).toBeLessThan(STOP_LIMIT_MS);
    expect(first.records.filter((r) => /exiting anyway/.test(String(r.msg)))).toEqual([]);

    const remaining = present();
    expect(remaining.length).toBeGreaterThan(0);
    expect(remaining.length).toBeLessThan(TASKS);
    for (const id of remaining) {
      // Whole: every file the task was written with is still there.
      expect(readdirSync(join(spool.saveDir, id, 'crash'))).toHaveLength(FILES_PER_TASK);
      expect(readdirSync(join(spool.saveDir, id)).sort()).toEqual(['crash', 'finished_time', 'password', 'results', 'retrace_backtrace', 'status']);
      expect(readFileSync(join(spool.saveDir, id, 'status'), 'utf8')).toBe('6');
    }
    // A clean stop waits for the removals in flight: none is left half done in the trash.
    expect(await tree(trash)).toEqual([]);
    expect(locks(spool.root)).toEqual([]);

    const second = startAgent(config, pluginDir);
    const port = await second.ready;
    await until('the remaining removals', () => present().length === 0, 30_000, 20);
    // A task leaves the spool at its rename into the trash and is counted once it is deleted from there.
    const reaped = `retrace_agent_tasks_reaped_total{reason="expired"} ${remaining.length}\n`;
    await until('the removals counted', async () => (await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()).includes(reaped), 10_000, 20);
    const stoppedAgain = await sigterm(second);
    expect(stoppedAgain).toMatchObject({ code: 0, signal: null });
    expect(stoppedAgain.ms).toBeLessThan(STOP_LIMIT_MS);

    expect(readdirSync(spool.saveDir).filter((name) => ids.includes(name))).toEqual([]);
    expect(await tree(trash)).toEqual([]);
  }, 120_000);
});
