// A stand-in for retrace-server-worker, run as `node <dir>/retrace-server-worker <id> --restart`
// so that its command line looks like `/usr/bin/python3 /usr/bin/retrace-server-worker <id> …`.
// Behaviour comes from the environment, keeping argv exactly like the real worker's.
// Writes task files the way the real worker does (research §4).

import { spawn } from 'node:child_process';
import { appendFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const behave = process.env.FAKE_WORKER_BEHAVE ?? 'sleep';
const durationMs = Number(process.env.FAKE_WORKER_DURATION_MS ?? 60_000);
const taskDir = process.env.FAKE_WORKER_TASK_DIR ?? '';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const now = () => Math.floor(Date.now() / 1000);

function log(message) {
  const stamp = new Date().toISOString().replace('T', ' ').slice(0, 19);
  appendFileSync(path.join(taskDir, 'retrace_log'), `[${stamp}] [I] ${message}\n`);
}

// set_atomic(): write <name>.tmp, then rename it over <name>.
function setAtomic(name, value) {
  const file = path.join(taskDir, name);
  writeFileSync(`${file}.tmp`, value);
  renameSync(`${file}.tmp`, file);
}

function ready(children = []) {
  process.stdout.write(`${JSON.stringify({ ready: true, children })}\n`);
}

// If the test runner dies, its end of stdin closes: do not outlive it.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();

if (behave === 'finish-success' || behave === 'finish-failure') {
  // The real worker opens retrace_log before anything else (before it forks).
  log(`Retrace worker started for task ${process.argv[2]}`);
  ready();
  const phases = behave === 'finish-success' ? [0, 1, 2, 3, 4] : [0, 1];
  const step = durationMs / (phases.length + 1);
  setAtomic('started_time', `${now()}`);
  for (const status of phases) {
    setAtomic('status', `${status}`);
    await sleep(step);
  }
  if (behave === 'finish-success') {
    writeFileSync(path.join(taskDir, 'retrace_backtrace'), 'Thread 1 (LWP 1):\n#0  0x0 in main ()\n');
    setAtomic('finished_time', `${now()}`);
    setAtomic('status', '6');
    log('Retrace job finished successfully');
    process.exit(0);
  }
  log('Retrace failed');
  setAtomic('status', '7');
  setAtomic('finished_time', `${now()}`);
  process.exit(1);
} else {
  if (behave === 'ignore-sigterm') process.on('SIGTERM', () => {});
  const children = [];
  if (behave === 'with-children') {
    for (let i = 0; i < 2; i++) {
      // Not detached: they stay in the worker's process group, like mock or gdb do.
      const child = spawn(process.execPath, ['-e', `setTimeout(() => {}, ${durationMs})`], { stdio: 'ignore' });
      children.push(child.pid);
    }
  }
  ready(children);
  await sleep(durationMs);
  process.exit(0);
}
