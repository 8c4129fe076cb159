// npm run demo: with `npm start` running in another terminal, creates tasks in the embedded spool
// and runs real worker processes (named like retrace-server-worker) through their lifecycle:
// most succeed, some fail, one is SIGKILLed (the agent finishes it as failed a second later) and
// one never gets a worker. Watch the numbers move: curl -s 127.0.0.1:9464/metrics | grep tasks
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const saveDir = join(root, 'var', 'spool');
const workerScript = join(root, 'var', 'demo', 'retrace-server-worker');
const TASKS = Number(process.argv[2] ?? 12);

// A stand-in for the real worker: the same command line shape and the same files, written the
// same way (atomically, phase by phase).
mkdirSync(dirname(workerScript), { recursive: true });
writeFileSync(workerScript, `import { appendFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
const dir = join(${JSON.stringify(saveDir)}, process.argv[2]);
const put = (name, text) => { writeFileSync(join(dir, name + '.tmp'), text); renameSync(join(dir, name + '.tmp'), join(dir, name)); };
const log = (text) => appendFileSync(join(dir, 'retrace_log'), '[' + new Date().toISOString() + '] [I] ' + text + '\\n');
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
log('worker started'); put('started_time', String(Math.floor(Date.now() / 1000)));
for (const status of [0, 1, 2, 3, 4]) { put('status', String(status)); await sleep(400 + Math.random() * 800); }
const ok = Math.random() < 0.75;
if (ok) put('retrace_backtrace', 'Thread 1 (demo)\\n#0 main () at demo.c:1\\n');
put('status', ok ? '6' : '7');
put('finished_time', String(Math.floor(Date.now() / 1000)));
log(ok ? 'backtrace generated' : 'retrace failed');
`);

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const base = 500_000_000 + Math.floor(Math.random() * 1e8);
for (let i = 0; i < TASKS; i++) {
  const id = String(base + i);
  const dir = join(saveDir, id);
  mkdirSync(join(dir, 'results'), { recursive: true });
  writeFileSync(join(dir, 'password'), 'demo');
  if (i === TASKS - 1) {
    console.log(`task ${id}: queued, no worker will come (finished as failed after OrphanGrace)`);
    break;
  }
  const worker = spawn(process.execPath, [workerScript, id, '--restart'], { stdio: 'ignore', detached: true });
  if (i === 2) {
    setTimeout(() => worker.kill('SIGKILL'), 1500);
    console.log(`task ${id}: worker ${worker.pid}, SIGKILLed after 1.5 s`);
  } else {
    console.log(`task ${id}: worker ${worker.pid}`);
  }
  await sleep(700);
}
console.log('done; the workers finish within a few seconds');
