// Benchmark (issue 3, SPEC §13): the agent on a spool of 100,000 finished tasks plus 5 running.
// Measures start → healthy, RSS, inotify watches, idle CPU, how fast a new task and a status change
// show in /metrics, and GET /metrics latency; then chokidar watching the spool at depth 1 as the
// baseline. Run after `npm run build`:  node bench/spool.ts [--tasks N] [--runs N]
// The spool is built once under /tmp (ext4 here, not tmpfs) and reused. The config keeps upstream's
// default DeleteTaskAfter/DeleteFailedTaskAfter, so every task has a rule due days ahead.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';

const args = process.argv.slice(2);
const option = (name: string, fallback: number): number => {
  const index = args.indexOf(`--${name}`);
  return index >= 0 ? Number(args[index + 1]) : fallback;
};
const TASKS = option('tasks', 100_000);
const RUNS = option('runs', 3);
const RUNNING = 5;
const ROOT = join(import.meta.dirname, '..');
const BENCH_DIR = join(tmpdir(), `retrace-bench-spool-${TASKS}`);
const SAVE_DIR = join(BENCH_DIR, 'spool');

function buildSpool(): void {
  if (existsSync(join(BENCH_DIR, 'complete'))) return;
  rmSync(BENCH_DIR, { recursive: true, force: true });
  mkdirSync(SAVE_DIR, { recursive: true });
  const now = Math.floor(Date.now() / 1000);
  for (let i = 0; i < TASKS; i++) {
    const dir = join(SAVE_DIR, String(100_000_000 + i));
    mkdirSync(join(dir, 'results'), { recursive: true });
    writeFileSync(join(dir, 'password'), 'x'.repeat(32));
    writeFileSync(join(dir, 'retrace_log'), 'log\n');
    writeFileSync(join(dir, 'started_time'), String(now - 100));
    writeFileSync(join(dir, 'status'), i % 10 === 0 ? '7' : '6');
    if (i % 10 !== 0) writeFileSync(join(dir, 'retrace_backtrace'), 'bt');
    writeFileSync(join(dir, 'finished_time'), String(now - 50));
    utimesSync(dir, now - 3600, now - 3600);
  }
  writeFileSync(join(BENCH_DIR, 'complete'), '');
}

function writeConfig(): string {
  const path = join(BENCH_DIR, 'retrace-server.conf');
  writeFileSync(path, `[retrace]\nSaveDir = ${SAVE_DIR}\nLogDir = ${join(BENCH_DIR, 'log')}\n`
    + `[agent]\nListenAddress = 127.0.0.1:0\nGpgDir = ${join(BENCH_DIR, 'gpg')}\nLockDir = ${BENCH_DIR}\n`
    + `MockRootDir = ${join(BENCH_DIR, 'mock')}\nMockCacheDir = ${join(BENCH_DIR, 'mock-cache')}\n`);
  return path;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;
const procStatus = (pid: number, key: string): number => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
const cpuTicks = (pid: number): number => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(fields[11]) + Number(fields[12]);
};

interface Workers { stop(): void }
function startWorkers(): Workers {
  const children: ChildProcess[] = [];
  const script = join(BENCH_DIR, 'retrace-server-worker');
  writeFileSync(script, 'setTimeout(() => {}, 3_600_000);\n');
  for (let i = 0; i < RUNNING; i++) {
    const id = String(900_000_000 + i);
    mkdirSync(join(SAVE_DIR, id), { recursive: true });
    writeFileSync(join(SAVE_DIR, id, 'retrace_log'), 'started\n');
    children.push(spawn(process.execPath, [script, id], { stdio: 'ignore' }));
  }
  return {
    stop() {
      for (const child of children) child.kill('SIGKILL');
      for (let i = 0; i < RUNNING; i++) rmSync(join(SAVE_DIR, String(900_000_000 + i)), { recursive: true, force: true });
    },
  };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

async function metrics(port: number): Promise<string> {
  return (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
}
const gauge = (text: string, series: string): number => Number(new RegExp(`^${series.replace(/[{}]/g, '\\$&')} (\\S+)$`, 'm').exec(text)?.[1]);

interface AgentRun { healthyMs: number; rssMiB: number; watches: number; idleCpuPct: number; newTaskMs: number; statusChangeMs: number; metricsMs: number }

async function runAgent(config: string): Promise<AgentRun> {
  const started = performance.now();
  const port = await freePort();
  // Run through its shebang, as an admin runs it (node 24 is first in PATH under npm/npx).
  const agent = spawn(join(ROOT, 'dist/cli/agent.js'), ['--config', config, '--plugin-dir', join(ROOT, 'plugins'), '--log-level', 'warn', '--listen', `127.0.0.1:${port}`],
    { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, PATH: `${join(ROOT, 'node_modules/.bin')}:${process.env.PATH}` } });
  try {
    let healthyMs = 0;
    for (;;) {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.status, () => 0)) === 200) {
        healthyMs = performance.now() - started;
        break;
      }
      if (performance.now() - started > 120_000) throw new Error('the agent did not get healthy within 120 s');
      await sleep(20);
    }
    await sleep(1000);
    const rssMiB = procStatus(agent.pid!, 'VmRSS') / 1024;
    const ticks0 = cpuTicks(agent.pid!);
    await sleep(5000);
    const idleCpuPct = (cpuTicks(agent.pid!) - ticks0) / 5; // 100 ticks/s → percent of one core
    const watches = gauge(await metrics(port), 'retrace_agent_inotify_watches');

    const newId = String(950_000_000 + Math.floor(Math.random() * 1e6));
    const t0 = performance.now();
    mkdirSync(join(SAVE_DIR, newId));
    while (gauge(await metrics(port), 'retrace_agent_tasks{state="queued"}') !== RUNNING * 0 + 1) await sleep(5);
    const newTaskMs = performance.now() - t0;
    const t1 = performance.now();
    writeFileSync(join(SAVE_DIR, newId, 'status.tmp'), '7');
    writeFileSync(join(SAVE_DIR, newId, 'finished_time.tmp'), String(Math.floor(Date.now() / 1000)));
    renameSync(join(SAVE_DIR, newId, 'status.tmp'), join(SAVE_DIR, newId, 'status'));
    renameSync(join(SAVE_DIR, newId, 'finished_time.tmp'), join(SAVE_DIR, newId, 'finished_time'));
    while (gauge(await metrics(port), 'retrace_agent_tasks{state="queued"}') !== 0) await sleep(5);
    const statusChangeMs = performance.now() - t1;
    rmSync(join(SAVE_DIR, newId), { recursive: true });

    const times: number[] = [];
    for (let i = 0; i < 21; i++) {
      const t = performance.now();
      await metrics(port);
      times.push(performance.now() - t);
    }
    return { healthyMs, rssMiB, watches, idleCpuPct, newTaskMs, statusChangeMs, metricsMs: median(times) };
  } finally {
    agent.kill('SIGKILL');
  }
}

interface BaselineRun { readyMs: number; rssMiB: number; watches: number; errors: number }

async function runChokidarBaseline(): Promise<BaselineRun> {
  const script = `import { watch } from 'chokidar'; import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
const t = performance.now(); let errors = 0;
const w = watch(${JSON.stringify(SAVE_DIR)}, { depth: 1, ignoreInitial: true, followSymlinks: false });
w.on('error', () => errors++);
w.on('ready', () => {
  const readyMs = performance.now() - t;
  let watches = 0;
  for (const fd of readdirSync('/proc/self/fd')) { try { if (readlinkSync('/proc/self/fd/' + fd) === 'anon_inode:inotify') watches += readFileSync('/proc/self/fdinfo/' + fd, 'utf8').split('\\n').filter((l) => l.startsWith('inotify wd:')).length; } catch {} }
  const rss = Number(/VmRSS:\\s+(\\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1]) / 1024;
  console.log(JSON.stringify({ readyMs, rssMiB: rss, watches, errors }));
  process.exit(0);
});`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8', timeout: 300_000, maxBuffer: 1 << 20 });
  return JSON.parse(out) as BaselineRun;
}

buildSpool();
if (RUNS === 0) process.exit(0); // only build the spool (bench/cleanup.ts uses it)
const config = writeConfig();
const workers = startWorkers();
try {
  const runs: AgentRun[] = [];
  for (let i = 0; i < RUNS; i++) runs.push(await runAgent(config));
  const pick = (key: keyof AgentRun): string => median(runs.map((r) => r[key])).toFixed(key === 'rssMiB' || key === 'idleCpuPct' ? 1 : 0);
  const baseline = await runChokidarBaseline();
  console.log(`machine: ${cpus().length} × ${cpus()[0]?.model}, node ${process.version}; spool of ${TASKS} finished + ${RUNNING} running tasks on ${execFileSync('stat', ['-f', '-c', '%T', SAVE_DIR], { encoding: 'utf8' }).trim()}; median of ${RUNS}`);
  console.log('| what | agent | target |');
  console.log('|---|---|---|');
  console.log(`| start → healthy | ${pick('healthyMs')} ms | ≤ 3000 ms |`);
  console.log(`| RSS after start | ${pick('rssMiB')} MiB | ≤ 150 MiB |`);
  console.log(`| inotify watches | ${pick('watches')} | ≤ ${RUNNING + 2} |`);
  console.log(`| idle CPU (5 s) | ${pick('idleCpuPct')} % of a core | ≈ 0 |`);
  console.log(`| new task → /metrics | ${pick('newTaskMs')} ms | ≤ 200 ms |`);
  console.log(`| status change → /metrics | ${pick('statusChangeMs')} ms | ≤ 200 ms |`);
  console.log(`| GET /metrics | ${pick('metricsMs')} ms | ≤ 20 ms |`);
  console.log(`baseline, chokidar depth 1 on the same spool: ready ${baseline.readyMs.toFixed(0)} ms, RSS ${baseline.rssMiB.toFixed(0)} MiB, ${baseline.watches} watches, ${baseline.errors} errors`);
} finally {
  workers.stop();
}
