import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readTask, taskDir, TaskStatus, type TaskSnapshot } from '../../src/spool/task.js';
import { cleanupFakeWorkers, startFakeWorker, stopFakeWorkers } from '../support/worker.js';

type Files = Record<string, string | Buffer>;

let root: string;
let saveDir: string;
let nextId = 100000000;

beforeEach(() => {
  root ??= mkdtempSync(path.join(tmpdir(), 'task-test-'));
  saveDir = path.join(root, String(nextId++));
  mkdirSync(saveDir);
});
afterEach(() => stopFakeWorkers());
afterAll(async () => {
  await cleanupFakeWorkers();
  rmSync(root, { recursive: true, force: true });
});

/** Creates `<saveDir>/<id>` holding `files` (paths relative to the task dir). */
function makeTask(id: string, files: Files = {}): string {
  const dir = path.join(saveDir, id);
  mkdirSync(dir);
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), content);
  }
  return dir;
}

async function read(files: Files): Promise<TaskSnapshot> {
  makeTask('123456789', files);
  const snapshot = await readTask(saveDir, '123456789');
  if (!snapshot) throw new Error('task not read');
  return snapshot;
}

const BACKTRACE = { retrace_backtrace: '#0 main ()\n' };

describe('readTask fields', () => {
  const resultOf = (code: number): TaskSnapshot['result'] =>
    code === TaskStatus.SUCCESS ? 'success' : code === TaskStatus.FAIL ? 'failure' : undefined;
  const cases: [string, Files, Partial<TaskSnapshot>][] = [
    [
      'an empty task dir',
      {},
      { status: undefined, type: 0, startedTime: undefined, finishedTime: undefined, result: undefined },
    ],
    ...Object.entries(TaskStatus).map(([name, code]): [string, Files, Partial<TaskSnapshot>] => [
      `status ${code} (${name})`,
      { status: String(code) },
      { status: code, result: resultOf(code) },
    ]),
    ['status with surrounding whitespace', { status: ' \t6\n' }, { status: 6, result: 'success' }],
    ['status with a sign (Python int())', { status: '+2' }, { status: 2 }],
    ['status garbage', { status: 'SUCCESS' }, { status: undefined, result: undefined }],
    ['status with trailing garbage', { status: '6x' }, { status: undefined, result: undefined }],
    ['status holding two numbers', { status: '6 7' }, { status: undefined }],
    ['status as a float', { status: '6.0' }, { status: undefined }],
    ['status empty', { status: '' }, { status: undefined }],
    ['status not UTF-8', { status: Buffer.from([0xff, 0xfe, 0x36]) }, { status: undefined }],
    ['status with a Latin-1 no-break space', { status: Buffer.from([0x36, 0xa0]) }, { status: undefined }],
    ['status with a NUL', { status: Buffer.from([0x36, 0x00]) }, { status: undefined }],
    ['status exactly at the 4 KiB cap', { status: '6'.padEnd(4096, ' ') }, { status: 6 }],
    ['status one byte over the cap', { status: '6'.padEnd(4097, ' ') }, { status: undefined }],
    ['status of 1 MiB', { status: '7'.padEnd(1 << 20, '\n') }, { status: undefined, result: undefined }],
    ['status beyond a safe integer', { status: '99999999999999999999' }, { status: undefined }],
    ['type 2', { type: '2\n' }, { type: 2 }],
    ['type garbage reads as 0', { type: 'vmcore' }, { type: 0 }],
    ['type over the cap reads as 0', { type: '4'.padEnd(5000, ' ') }, { type: 0 }],
    ['started_time', { started_time: '1700000000\n' }, { startedTime: 1700000000, result: undefined }],
    ['started_time garbage', { started_time: 'yesterday' }, { startedTime: undefined }],
    [
      'finished_time with a backtrace: success',
      { started_time: '1700000000', finished_time: ' 1700000100 ', ...BACKTRACE },
      { startedTime: 1700000000, finishedTime: 1700000100, hasBacktrace: true, result: 'success' },
    ],
    [
      'finished_time without a backtrace: failure',
      { finished_time: '1700000100' },
      { finishedTime: 1700000100, hasBacktrace: false, result: 'failure' },
    ],
    [
      'a garbage finished_time still finishes the task (status.wsgi checks the file)',
      { finished_time: 'soon', ...BACKTRACE },
      { finishedTime: undefined, result: 'success' },
    ],
    ['an empty finished_time still finishes the task', { finished_time: '' }, { result: 'failure' }],
    [
      'finished_time and backtrace decide over status, as clients see it',
      { status: '7', finished_time: '1700000100', ...BACKTRACE },
      { status: 7, result: 'success' },
    ],
    ['status 7 with a backtrace but no finished_time: failure', { status: '7', ...BACKTRACE }, { result: 'failure' }],
    ['status 2 with a backtrace, not finished: running', { status: '2', ...BACKTRACE }, { result: undefined }],
    [
      'partial writes (*.tmp) are ignored',
      { 'status.tmp': '6', 'finished_time.tmp': '1700000100', 'type.tmp': '2', 'retrace_backtrace.tmp': 'x' },
      { status: undefined, type: 0, finishedTime: undefined, hasBacktrace: false, result: undefined },
    ],
    ['a *.tmp next to the final file', { status: '2', 'status.tmp': '6' }, { status: 2, result: undefined }],
    ['no markers', {}, { hasLog: false, hasBacktrace: false, managed: false }],
    ['retrace_log and managed markers', { retrace_log: '', managed: '' }, { hasLog: true, managed: true }],
  ];

  it.each(cases)('%s', async (_name, files, expected) => {
    expect(await read(files)).toMatchObject(expected);
  });

  it('gives the id, the absolute dir and the dir times', async () => {
    const dir = makeTask('42', { status: '1' });
    utimesSync(dir, new Date('2024-01-02T03:04:05Z'), new Date('2024-01-02T03:04:05Z'));
    const relative = path.relative(process.cwd(), saveDir);
    const snapshot = await readTask(relative, '42');
    expect(snapshot?.id).toBe('42');
    expect(taskDir(relative, '42')).toBe(dir);
    expect(snapshot?.mtimeMs).toBe(Date.parse('2024-01-02T03:04:05Z'));
  });
});

describe('readTask crash files', () => {
  it('lists the crash data files that exist', async () => {
    const dir = makeTask('7', {
      'crash/vmcore': 'v',
      'crash/coredump': 'c',
      'crash/vmcore.vmss': 's',
      'crash/executable': '/usr/bin/x',
      'crash/package': 'x-1-1.fc40',
      coredump: 'c',
    });
    const snapshot = await readTask(saveDir, '7');
    expect([...(snapshot?.crashFiles ?? [])].sort()).toEqual(
      ['crash/coredump', 'crash/vmcore', 'crash/vmcore.vmss', 'coredump'].map((name) => path.join(dir, name)).sort(),
    );
  });

  it('has none after clean() removed crash/', async () => {
    expect((await read({ status: '6', ...BACKTRACE })).crashFiles).toEqual([]);
  });

  it('does not follow a crash/ symlink, nor count a vmcore that is a dir', async () => {
    const elsewhere = makeTask('elsewhere', { 'crash/vmcore': 'v' });
    const dir = makeTask('8');
    symlinkSync(path.join(elsewhere, 'crash'), path.join(dir, 'crash'));
    expect((await readTask(saveDir, '8'))?.crashFiles).toEqual([]);
    makeTask('9', { 'crash/vmcore/inside': 'x' });
    expect((await readTask(saveDir, '9'))?.crashFiles).toEqual([]);
  });

  it('counts a crash file that is a symlink (its target may be open)', async () => {
    const dir = makeTask('10', { 'crash/executable': 'x' });
    symlinkSync('/nonexistent/vmcore', path.join(dir, 'crash/vmcore'));
    expect((await readTask(saveDir, '10'))?.crashFiles).toEqual([path.join(dir, 'crash/vmcore')]);
  });
});

describe('readTask on odd entries', () => {
  it('is undefined for a missing task', async () => {
    expect(await readTask(saveDir, '404')).toBeUndefined();
  });

  it('is undefined for a symlink to a task dir, and for a file named like a task', async () => {
    const real = makeTask('1', { status: '6' });
    symlinkSync(real, path.join(saveDir, '2'));
    writeFileSync(path.join(saveDir, '3'), '6');
    expect(await readTask(saveDir, '1')).toBeDefined();
    expect(await readTask(saveDir, '2')).toBeUndefined();
    expect(await readTask(saveDir, '3')).toBeUndefined();
  });

  it('is undefined for an id that is not a task name', async () => {
    makeTask('5', { status: '6' });
    const nested = makeTask('6', {});
    mkdirSync(path.join(nested, '7'));
    for (const id of ['../' + path.basename(saveDir) + '/5', '6/7', '5/', '.', '']) {
      expect(await readTask(saveDir, id)).toBeUndefined();
    }
    expect(await readTask(saveDir, '5')).toBeDefined();
  });

  it('is undefined when SaveDir itself is missing', async () => {
    expect(await readTask(path.join(saveDir, 'nope'), '1')).toBeUndefined();
  });

  it('does not follow a status symlink, nor read a status dir or FIFO', async () => {
    writeFileSync(path.join(saveDir, 'six'), '6');
    const linked = makeTask('11', {});
    symlinkSync(path.join(saveDir, 'six'), path.join(linked, 'status'));
    symlinkSync(path.join(saveDir, 'six'), path.join(linked, 'finished_time'));
    expect(await readTask(saveDir, '11')).toMatchObject({ status: undefined, result: undefined });
    makeTask('12', { 'status/x': '6' });
    expect((await readTask(saveDir, '12'))?.status).toBeUndefined();
    // A FIFO with no writer would block a plain open() for ever.
    const fifo = makeTask('13', {});
    execFileSync('mkfifo', [path.join(fifo, 'status'), path.join(fifo, 'type')]);
    expect(await readTask(saveDir, '13')).toMatchObject({ status: undefined, type: 0 });
  });

  it('reads a chmod 000 file as root, as root bypasses permissions', async () => {
    const dir = makeTask('14', { status: '6' });
    chmodSync(path.join(dir, 'status'), 0);
    const expected = process.getuid?.() === 0 ? 6 : undefined;
    expect((await readTask(saveDir, '14'))?.status).toBe(expected);
  });

  // Root never sees EACCES, so an unprivileged process reads the same files.
  it.runIf(process.getuid?.() === 0)('takes EACCES files as unknown and an unreadable dir as no task', async () => {
    chmodSync(root, 0o755);
    const unreadableFile = makeTask('15', { status: '6', type: '2', retrace_log: '' });
    chmodSync(path.join(unreadableFile, 'status'), 0);
    const unreadableDir = makeTask('16', { status: '6' });
    chmodSync(unreadableDir, 0);
    const taskModule = fileURLToPath(new URL('../../src/spool/task.ts', import.meta.url));
    const tsLoader = fileURLToPath(new URL('../../scripts/ts-loader.mjs', import.meta.url));
    const script = `
      const { readTask } = await import(${JSON.stringify(taskModule)});
      const [file, dir] = [await readTask(process.argv[1], '15'), await readTask(process.argv[1], '16')];
      process.stdout.write(JSON.stringify({ file, dir: dir ?? null }));`;
    const args = ['--import', tsLoader, '--input-type=module', '-e', script, saveDir];
    const output = await run(process.execPath, args, 65534);
    const { file, dir } = JSON.parse(output) as { file: TaskSnapshot; dir: TaskSnapshot | null };
    // JSON drops undefined values.
    expect(file).toMatchObject({ id: '15', type: 2, hasLog: true });
    expect(file.status).toBeUndefined();
    expect(file.result).toBeUndefined();
    expect(dir).toBeNull();
  });
});

describe('readTask on what a worker writes', () => {
  it('sees a running task, then a success', async () => {
    const dir = makeTask('500', { type: '0' });
    const before = Math.floor(Date.now() / 1000);
    const worker = await startFakeWorker('500', { taskDir: dir, behave: 'finish-success', durationMs: 1000 });
    // retrace_log exists as soon as the worker is ready; the task is not finished yet.
    expect(await readTask(saveDir, '500')).toMatchObject({ hasLog: true, hasBacktrace: false, result: undefined });
    expect(await worker.exited).toEqual({ code: 0, signal: null });
    const snapshot = await readTask(saveDir, '500');
    expect(snapshot).toMatchObject({ status: 6, type: 0, hasLog: true, hasBacktrace: true, result: 'success' });
    expect(snapshot?.startedTime).toBeGreaterThanOrEqual(before);
    expect(snapshot?.finishedTime).toBeGreaterThanOrEqual(snapshot?.startedTime ?? Infinity);
  });

  it('sees a failure', async () => {
    const dir = makeTask('501', {});
    const worker = await startFakeWorker('501', { taskDir: dir, behave: 'finish-failure', durationMs: 200 });
    expect(await worker.exited).toEqual({ code: 1, signal: null });
    const snapshot = await readTask(saveDir, '501');
    expect(snapshot).toMatchObject({ status: 7, hasLog: true, hasBacktrace: false, result: 'failure' });
    expect(snapshot?.finishedTime).toBeDefined();
  });
});

describe('readTask while the dir is removed', () => {
  it('gives either a whole task or none while the dir is atomically renamed away and back', async () => {
    // A real thread renames the task into and out of SaveDir, as the reaper's trash rename does.
    const build = path.join(saveDir, 'build');
    const trash = path.join(saveDir, 'trash');
    mkdirSync(build);
    mkdirSync(trash);
    const remover = new Worker(
      `
      const { workerData, parentPort } = require('node:worker_threads');
      const fs = require('node:fs');
      const { build, trash, task, cycles } = workerData;
      const pause = new Int32Array(new SharedArrayBuffer(4));
      const files = { status: '6', type: '2', started_time: '1700000000', finished_time: '1700000100',
        retrace_log: 'log', retrace_backtrace: 'bt', managed: '', 'crash/vmcore': 'v' };
      for (let cycle = 0; cycle < cycles; cycle++) {
        const dir = build + '/' + cycle;
        fs.mkdirSync(dir + '/crash', { recursive: true });
        for (const [name, content] of Object.entries(files)) fs.writeFileSync(dir + '/' + name, content);
        fs.renameSync(dir, task);
        Atomics.wait(pause, 0, 0, 1);
        fs.renameSync(task, trash + '/' + cycle);
        fs.rmSync(trash + '/' + cycle, { recursive: true });
        Atomics.wait(pause, 0, 0, 1);
      }
      parentPort.postMessage('done');`,
      { eval: true, workerData: { build, trash, task: path.join(saveDir, '777'), cycles: 400 } },
    );
    const done = new Promise<unknown>((resolve, reject) => {
      remover.once('message', resolve);
      remover.once('error', reject);
    });
    let finished = false;
    const stop = (): void => {
      finished = true;
    };
    done.then(stop, stop);
    const seen = { whole: 0, none: 0 };
    const broken: TaskSnapshot[] = [];
    while (!finished) {
      const snapshot = await readTask(saveDir, '777');
      if (!snapshot) {
        seen.none++;
        continue;
      }
      seen.whole++;
      const whole =
        snapshot.status === 6 &&
        snapshot.type === 2 &&
        snapshot.startedTime === 1700000000 &&
        snapshot.finishedTime === 1700000100 &&
        snapshot.hasLog &&
        snapshot.managed &&
        snapshot.result === 'success' &&
        snapshot.crashFiles.length === 1;
      if (!whole) broken.push(snapshot);
    }
    expect(await done).toBe('done');
    expect(broken).toEqual([]);
    expect(seen.whole).toBeGreaterThan(0);
    expect(seen.none).toBeGreaterThan(0);
  });
});

describe('readTask speed', () => {
  it('reads 1,000 finished tasks in well under a second', async () => {
    const ids = Array.from({ length: 1000 }, (_, i) => String(200000000 + i));
    const files = { type: '0', status: '6', started_time: '1700000000', finished_time: '1700000100', ...BACKTRACE };
    for (const id of ids) makeTask(id, files);
    const start = performance.now();
    for (const id of ids) expect((await readTask(saveDir, id))?.result).toBe('success');
    // Measured ≈ 30 µs a task on 2 cores (10k in 0.30 s): a guard against gross regressions only.
    expect(performance.now() - start).toBeLessThan(1000);
  });
});

function run(command: string, args: readonly string[], uid: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { uid, gid: uid, stdio: ['ignore', 'pipe', 'pipe'], timeout: 20_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve(stdout) : reject(new Error(`exit ${code}: ${stderr}`))));
  });
}
