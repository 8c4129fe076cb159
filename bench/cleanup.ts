// Benchmark (SPEC §13): one `retrace-server-cleanup` pass over a 100,000-task spool, with nothing
// due, and with 2,000 tasks due for deletion. Uses the spool bench/spool.ts builds (run that
// first, or this builds it). Run after `npm run build`:  node bench/cleanup.ts [--runs N]

import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';

const args = process.argv.slice(2);
const RUNS = Number(args[args.indexOf('--runs') + 1] || 5);
const TASKS = 100_000;
const DUE = 2000;
const ROOT = join(import.meta.dirname, '..');
const BENCH_DIR = join(tmpdir(), `retrace-bench-spool-${TASKS}`);
const SAVE_DIR = join(BENCH_DIR, 'spool');

if (!existsSync(join(BENCH_DIR, 'complete'))) {
  execFileSync(process.execPath, [join(ROOT, 'bench/spool.ts'), '--tasks', String(TASKS), '--runs', '0'], { stdio: 'inherit' });
}
const config = join(BENCH_DIR, 'cleanup.conf');
writeFileSync(config, `[retrace]\nSaveDir = ${SAVE_DIR}\nLogDir = ${join(BENCH_DIR, 'log')}\nDeleteTaskAfter = 120\nDeleteFailedTaskAfter = 24\n`
  + `[agent]\nLockDir = ${BENCH_DIR}\nGpgDir = ${join(BENCH_DIR, 'gpg')}\nMockRootDir = ${join(BENCH_DIR, 'mock')}\nMockCacheDir = ${join(BENCH_DIR, 'mock-cache')}\n`);

// Prints the peak RSS of the pass to stderr as it exits.
const PEAK_RSS = `data:text/javascript,${encodeURIComponent(
  "import { readFileSync } from 'node:fs'; process.on('exit', () => process.stderr.write(`VmHWM ${/VmHWM:\\s+(\\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1]}\\n`));",
)}`;

function addDueTasks(): void {
  const old = Math.floor(Date.now() / 1000) - 200 * 3600;
  for (let i = 0; i < DUE; i++) {
    const dir = join(SAVE_DIR, String(990_000_000 + i));
    mkdirSync(join(dir, 'results'), { recursive: true });
    writeFileSync(join(dir, 'status'), '6');
    writeFileSync(join(dir, 'finished_time'), String(old));
    writeFileSync(join(dir, 'retrace_backtrace'), 'bt');
    utimesSync(dir, old, old);
  }
}

function pass(): { seconds: number; peakMiB: number } {
  const start = performance.now();
  const result = spawnSync(process.execPath, ['--import', PEAK_RSS, join(ROOT, 'dist/cli/cleanup.js'), '--config', config], { encoding: 'utf8' });
  const seconds = (performance.now() - start) / 1000;
  if (result.status !== 0) throw new Error(`cleanup exited ${result.status}: ${result.stderr}`);
  return { seconds, peakMiB: Number(/VmHWM (\d+)/.exec(result.stderr)?.[1]) / 1024 };
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;
const quiet: Array<{ seconds: number; peakMiB: number }> = [];
const busy: Array<{ seconds: number; peakMiB: number }> = [];
for (let i = 0; i < RUNS; i++) {
  quiet.push(pass());
  addDueTasks();
  busy.push(pass());
}
console.log(`machine: ${cpus().length} × ${cpus()[0]?.model}, node ${process.version}; ${TASKS} tasks on ${execFileSync('stat', ['-f', '-c', '%T', SAVE_DIR], { encoding: 'utf8' }).trim()}; median of ${RUNS}`);
console.log('| pass | wall time | peak RSS | target | upstream (SPEC §13) |');
console.log('|---|---|---|---|---|');
console.log(`| nothing due | ${median(quiet.map((r) => r.seconds)).toFixed(2)} s | ${median(quiet.map((r) => r.peakMiB)).toFixed(0)} MiB | ≤ 0.8 s | 7.8 s, 109 MiB |`);
console.log(`| ${DUE} due (deleted) | ${median(busy.map((r) => r.seconds)).toFixed(2)} s | ${median(busy.map((r) => r.peakMiB)).toFixed(0)} MiB | ≤ 5 s | 52 s |`);
