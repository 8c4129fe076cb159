// Benchmark (issue 4, SPEC §13): reap delay — from the moment a rule is due to the end of its
// action — for every rule, with thresholds shortened and mtimes moved into the past; and 1,000
// tasks due in the same second. Runs the compiled agent in-process (its `reaped` events carry the
// delay). Run after `npm run build`:  node bench/reaper.ts [--runs N]

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from '../dist/agent/agent.js';
import { createLogger } from '../dist/log.js';

interface Reaped { taskId: string; ok: boolean; delayMs: number; action: { reason: string } }

const args = process.argv.slice(2);
const RUNS = Number(args[args.indexOf('--runs') + 1] || 3);
const HOUR = 3600;
const log = createLogger({ name: 'bench', level: 'silent' });
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const percentile = (values: number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
};

function task(saveDir: string, id: string, files: Record<string, string>, mtime?: number): void {
  const dir = join(saveDir, id);
  mkdirSync(dir, { recursive: true });
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
  if (mtime !== undefined) utimesSync(dir, mtime, mtime);
}

interface Scenario {
  readonly name: string;
  readonly count: number;
  readonly agentLines: string[];
  readonly retraceLines: string[];
  /** Creates the tasks (and workers); returns what must be stopped afterwards. */
  setup(saveDir: string, root: string): ChildProcess[];
  /** Runs after the agent is up (kills workers for the crashed case). */
  afterStart?(children: ChildProcess[]): void;
}

function startWorkers(root: string, saveDir: string, ids: string[]): ChildProcess[] {
  const script = join(root, 'retrace-server-worker');
  writeFileSync(script, 'process.on("SIGTERM", () => process.exit(0)); setTimeout(() => {}, 3_600_000);\n');
  return ids.map((id) => {
    task(saveDir, id, { retrace_log: 'started\n', status: '2' });
    return spawn(process.execPath, [script, id], { stdio: 'ignore', detached: true });
  });
}

const now = (): number => Math.floor(Date.now() / 1000);
const ids = (base: number, count: number): string[] => Array.from({ length: count }, (_, i) => String(base + i));
// Due times spread over the 3 s after start, so the agent is idle when most fall due.
const spread = (i: number, count: number): number => now() + 2 + (3 * i) / count;

const SCENARIOS: Scenario[] = [
  {
    name: 'expired (DeleteTaskAfter)', count: 200, agentLines: [], retraceLines: ['DeleteTaskAfter = 1', 'DeleteFailedTaskAfter = 0'],
    setup(saveDir) {
      ids(100_000_000, 200).forEach((id, i) => task(saveDir, id, { status: '6', finished_time: '1', retrace_backtrace: 'x' }, spread(i, 200) - HOUR));
      return [];
    },
  },
  {
    name: 'expired_failed (DeleteFailedTaskAfter)', count: 200, agentLines: [], retraceLines: ['DeleteTaskAfter = 0', 'DeleteFailedTaskAfter = 1'],
    setup(saveDir) {
      ids(200_000_000, 200).forEach((id, i) => task(saveDir, id, { status: '7', finished_time: '1' }, spread(i, 200) - HOUR));
      return [];
    },
  },
  {
    name: 'archived (ArchiveTaskAfter)', count: 50, agentLines: [], retraceLines: ['DeleteTaskAfter = 0', 'DeleteFailedTaskAfter = 0', 'ArchiveTaskAfter = 1'],
    setup(saveDir) {
      ids(300_000_000, 50).forEach((id, i) => task(saveDir, id, { status: '6', finished_time: '1', retrace_backtrace: 'x'.repeat(10_000) }, spread(i, 50) - HOUR));
      return [];
    },
  },
  {
    name: 'crashed: never started (OrphanGrace)', count: 100, agentLines: ['OrphanGrace = 1'], retraceLines: ['DeleteTaskAfter = 0', 'DeleteFailedTaskAfter = 0'],
    setup(saveDir) {
      ids(400_000_000, 100).forEach((id, i) => task(saveDir, id, { password: 'x' }, spread(i, 100) - 1));
      return [];
    },
  },
  {
    name: 'crashed: worker died', count: 20, agentLines: [], retraceLines: ['DeleteTaskAfter = 0', 'DeleteFailedTaskAfter = 0'],
    setup: (saveDir, root) => startWorkers(root, saveDir, ids(500_000_000, 20)),
    afterStart: (children) => children.forEach((child) => child.kill('SIGKILL')),
  },
  {
    name: 'overtime (MaxTaskRuntime)', count: 20, agentLines: ['MaxTaskRuntime = 2', 'KillGrace = 1'], retraceLines: ['DeleteTaskAfter = 0', 'DeleteFailedTaskAfter = 0'],
    setup: (saveDir, root) => startWorkers(root, saveDir, ids(600_000_000, 20)),
  },
  {
    name: '1,000 due in the same second', count: 1000, agentLines: [], retraceLines: ['DeleteTaskAfter = 1', 'DeleteFailedTaskAfter = 0'],
    setup(saveDir) {
      const due = now() + 3;
      ids(700_000_000, 1000).forEach((id) => task(saveDir, id, { status: '6', finished_time: '1', retrace_backtrace: 'x' }, due - HOUR));
      return [];
    },
  },
];

async function runScenario(scenario: Scenario): Promise<{ p50: number; p99: number; max: number; allDoneMs: number; failed: number }> {
  const root = mkdtempSync(join(tmpdir(), 'bench-reaper-'));
  const saveDir = join(root, 'spool');
  mkdirSync(saveDir);
  mkdirSync(join(root, 'plugins'));
  const children = scenario.setup(saveDir, root);
  const config = join(root, 'retrace-server.conf');
  writeFileSync(config, ['[retrace]', `SaveDir = ${saveDir}`, `LogDir = ${join(root, 'log')}`, `DropDir = ${join(root, 'archive')}`, ...scenario.retraceLines,
    '[agent]', 'ListenAddress = 127.0.0.1:0', `LockDir = ${root}`, `GpgDir = ${join(root, 'gpg')}`, `MockRootDir = ${join(root, 'mock')}`,
    `MockCacheDir = ${join(root, 'mock-cache')}`, ...scenario.agentLines, ''].join('\n'));
  const agent = await Agent.start({ configPath: config, pluginDir: join(root, 'plugins'), log });
  const reaped: Reaped[] = [];
  (agent as unknown as { reaper: NodeJS.EventEmitter }).reaper.on('reaped', (result: Reaped) => reaped.push(result));
  scenario.afterStart?.(children);
  const deadline = Date.now() + 60_000;
  while (reaped.filter((r) => r.ok).length < scenario.count && Date.now() < deadline) await sleep(10);
  await agent.stop();
  for (const child of children) child.kill('SIGKILL');
  rmSync(root, { recursive: true, force: true });
  const delays = reaped.filter((r) => r.ok).map((r) => r.delayMs);
  return { p50: percentile(delays, 50), p99: percentile(delays, 99), max: Math.max(...delays), allDoneMs: Math.max(...delays), failed: scenario.count - delays.length };
}

console.log(`machine: ${cpus().length} × ${cpus()[0]?.model}, node ${process.version}; spool on ${tmpdir()}; median of ${RUNS} runs`);
console.log('| rule | tasks | p50 delay | p99 delay | max | not done |');
console.log('|---|---|---|---|---|---|');
for (const scenario of SCENARIOS) {
  const runs: Array<Awaited<ReturnType<typeof runScenario>>> = [];
  for (let i = 0; i < RUNS; i++) runs.push(await runScenario(scenario));
  const med = (key: 'p50' | 'p99' | 'max' | 'failed'): number => percentile(runs.map((r) => r[key]), 50);
  console.log(`| ${scenario.name} | ${scenario.count} | ${med('p50').toFixed(0)} ms | ${med('p99').toFixed(0)} ms | ${med('max').toFixed(0)} ms | ${med('failed')} |`);
}
