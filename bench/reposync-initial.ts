// Benchmark: initial sync of one repo over HTTP through syncFromMirror (SPEC §13: with every signature verified
// ≤ 2× raw parallel curl; without signature checks ≥ 2× faster than `dnf reposync`), plus the no-op re-sync.
//
//   cd /work/main && npm run build && npx node bench/reposync-initial.ts [--packages DIR] [--keys DIR] [--runs 5] [--parallel 3] [--copies 1]
//
// The mirror is nginx (from a temp config on 127.0.0.1) serving a createrepo_c repo of the 2,000 signed packages
// bench/verify-rpm.ts leaves in /tmp/retrace-bench-verify-rpm (run that first); everything lives on tmpfs. Rows run
// interleaved, each into a fresh target; medians. The code measured is the build in dist/, as installed. Besides
// the medians it prints each round's ratios to curl and dnf (their own times move a lot on shared cores) and the
// CPU of each kind of thread in the syncs: new threads cost V8 compiles and cold code that kept ones do not.
// Two rows run this script again as a fresh process, whose main thread is as cold as the CLI's: the first sync
// of a process, and the floor of the network path (the same HTTP client, nothing checked or written).
import { execFile, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { chmod, copyFile, cp, mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { pino } from 'pino';

const { syncFromMirror } = await import('../dist/reposync/mirror-sync.js');
const { stopParkedThreads } = await import('../dist/reposync/transports/stager.js');
const { parseRepoOptions } = await import('../dist/reposync/repo-options.js');
const { loadKeyring } = await import('../dist/gpg/keyring.js');
const { signingKeysOf } = await import('../dist/rpm/prepare-signing-keys.js');
const { verifyRpm } = await import('../dist/rpm/verify.js');
type PackageVerdict = import('../src/reposync/types.js').PackageVerdict;

const { values: args, positionals } = parseArgs({
  options: {
    packages: { type: 'string', default: '/tmp/retrace-bench-verify-rpm/rpms' },
    keys: { type: 'string', default: '/tmp/retrace-bench-verify-rpm/keys' },
    runs: { type: 'string', default: '5' },
    // max_parallel_downloads for syncFromMirror (dnf's default 3, as curl runs here).
    parallel: { type: 'string', default: '3' },
    // A larger repo: the packages this many times, each copy under other file names (dnf, which would see the same
    // packages again, is left out).
    copies: { type: 'string', default: '1' },
    // Internal: this script as a fresh process for one run, MODE then MIRROR TARGET SERVED_PACKAGES (see runFreshProcess).
    'fresh-process': { type: 'string' },
  },
  allowPositionals: true,
});
const RUNS = Number(args.runs);
const COPIES = Number(args.copies);
const run = promisify(execFile);

// The threads of this process by their names in /proc (truncated to 15 characters there).
const THREAD_KINDS = new Map([
  ['MainThread', 'main thread'],
  ['reposync-stager', 'staging threads'],
  ['V8Worker', 'V8 helpers'],
  ['V8 DefaultWorke', 'V8 helpers'],
  ['libuv-worker', 'fs pool'],
]);
const KINDS = [...new Set(THREAD_KINDS.values()), 'other'];
const THREAD_KINDS_NOTE = "from /proc/self/task/*/stat, 10 ms ticks; 'V8 helpers' compile optimized code and help the collector";
const TICKS_PER_SECOND = Number((await run('getconf', ['CLK_TCK'])).stdout);

const source = { gpgDir: path.resolve(args.keys), extraKeyFiles: [] };
const keyring = await loadKeyring(source);
const verify = async (file: string): Promise<PackageVerdict> => {
  const result = await verifyRpm(file, keyring);
  return result.ok ? { ok: true } : result;
};
const accept = async (): Promise<PackageVerdict> => ({ ok: true });
const { options } = parseRepoOptions([`max_parallel_downloads=${args.parallel}`], { gpgcheck: true }, 'bench');
const log = pino({ level: 'warn' });

const contextFor = (dir: string, verifyPackage: (file: string) => Promise<PackageVerdict>) => ({
  // As sync-release.ts wires them: with gpgcheck the transports may check a package they hold in memory on
  // their staging threads, with the keyring's keys prepared here.
  ...(verifyPackage === verify ? { verifyKeys: { source, signingKeys: () => signingKeysOf(keyring) } } : {}),
  release: { distribution: 'bench', version: '1', arch: 'x86_64' },
  packagesDir: path.join(dir, 'Packages'),
  stagingDir: path.join(dir, 'staging'),
  quarantineDir: path.join(dir, 'quarantine'),
  stateDir: path.join(dir, 'state'),
  options,
  verifyPackage,
  log,
  signal: new AbortController().signal,
});

if (args['fresh-process'] !== undefined) {
  await runFreshProcess(args['fresh-process'], positionals);
  process.exit(0);
}

const root = await mkdtemp('/dev/shm/reposync-initial-');
// nginx's worker runs as nobody.
await chmod(root, 0o755);
const nginx = { stop: async () => {} };
try {
  const served = path.join(root, 'served');
  await cp(path.resolve(args.packages), path.join(served, 'Packages'), { recursive: true });
  for (const name of await readdir(path.join(served, 'Packages'))) {
    for (let copy = 1; copy < COPIES; copy++) await copyFile(path.join(served, 'Packages', name), path.join(served, 'Packages', `copy${copy}-${name}`));
  }
  await run('createrepo_c', ['--quiet', '--no-database', served]);
  const names = (await readdir(path.join(served, 'Packages'))).filter((name) => name.endsWith('.rpm'));
  const port = await freePort();
  Object.assign(nginx, await startNginx(root, served, port));
  const mirror = `http://127.0.0.1:${port}/`;

  let target = 0;
  const freshTarget = async (): Promise<string> => {
    const dir = path.join(root, `target-${target++}`);
    await mkdir(path.join(dir, 'Packages'), { recursive: true });
    return dir;
  };
  // `newThreads`: as the first sync in a process (the CLI's first repo, or the agent after its threads went idle);
  // otherwise the staging threads of the sync before are reused, warm.
  const sync = async (dir: string, verifyPackage: (file: string) => Promise<PackageVerdict>, newThreads = false): Promise<{ seconds: number; cpu: Map<string, number> }> => {
    if (newThreads) await stopParkedThreads();
    const started = performance.now();
    const before = threadCpu();
    const result = await syncFromMirror(mirror, contextFor(dir, verifyPackage));
    const seconds = (performance.now() - started) / 1000;
    // Read before the next row stops the threads: a thread started by this sync counts from zero.
    const cpu = cpuByKind(before, threadCpu());
    reportCpu(cpu, seconds);
    if (!result.ok || (!result.unchanged && result.admitted !== names.length)) throw new Error(`sync: ${result.detail}`);
    return { seconds, cpu };
  };
  // This script again, as a new process for one run (see runFreshProcess).
  const freshProcess = async (mode: 'sync' | 'http-only'): Promise<{ seconds: number; cpu: Map<string, number> }> => {
    const dir = await freshTarget();
    const { stdout } = await run(process.execPath, [fileURLToPath(import.meta.url), '--fresh-process', mode, '--keys', source.gpgDir, '--parallel', args.parallel, mirror, dir, path.join(served, 'Packages')]);
    const { seconds, packages, cpu } = JSON.parse(stdout) as { seconds: number; packages: number; cpu: Record<string, number> };
    if (packages !== names.length) throw new Error(`${mode} in a fresh process: ${packages} of ${names.length} packages`);
    const byKind = new Map(Object.entries(cpu));
    reportCpu(byKind, seconds);
    return { seconds, cpu: byKind };
  };
  const curl = async (): Promise<number> => {
    const dir = await freshTarget();
    const config = names.map((name) => `url = "${mirror}Packages/${name}"\noutput = "${path.join(dir, 'Packages', name)}"`).join('\n');
    await writeFile(path.join(dir, 'curl.cfg'), config);
    const started = performance.now();
    await run('curl', ['-q', '-sS', '--fail', '--parallel', '--parallel-max', '3', '-K', path.join(dir, 'curl.cfg')]);
    return (performance.now() - started) / 1000;
  };
  // The CLI as an admin runs it, start to exit: Node's start, config and plugin, lock, the sync with signatures
  // checked (new threads), createrepo_c over the 2,000 packages (upstream runs it too; dnf reposync does not).
  const cliDir = path.join(root, 'cli');
  await mkdir(path.join(cliDir, 'plugins'), { recursive: true });
  await writeFile(path.join(cliDir, 'plugins', 'bench.py'), `distribution = "bench"\nrepos = [["${mirror}"]]\n`);
  await writeFile(path.join(cliDir, 'retrace-server.conf'), [
    '[retrace]', `SaveDir = ${cliDir}/spool`, `RepoDir = ${cliDir}/repos`, `LogDir = ${cliDir}/log`, 'RequireGPGCheck = 1',
    '[agent]', `LockDir = ${cliDir}`, `GpgDir = ${source.gpgDir}`, '',
  ].join('\n'));
  const cli = async (): Promise<number> => {
    await rm(path.join(cliDir, 'repos'), { recursive: true, force: true });
    const started = performance.now();
    await run(process.execPath, [path.resolve('dist/cli/reposync.js'), 'bench', '1', 'x86_64'], {
      env: { ...process.env, RETRACE_SERVER_CONFIG_PATH: path.join(cliDir, 'retrace-server.conf'), RETRACE_SERVER_PLUGIN_DIR: path.join(cliDir, 'plugins'), RETRACE_SERVER_TESTING: '1' },
    });
    const seconds = (performance.now() - started) / 1000;
    const admitted = (await readdir(path.join(cliDir, 'repos', 'bench-1-x86_64', 'Packages'))).length;
    if (admitted !== names.length) throw new Error(`the CLI admitted ${admitted} of ${names.length} packages`);
    return seconds;
  };
  const dnf = async (): Promise<number> => {
    const dir = await freshTarget();
    const started = performance.now();
    await run('dnf', ['reposync', '-q', '--repofrompath', `bench,${mirror}`, '--repo', 'bench', '--norepopath', '--setopt', 'bench.gpgcheck=0', '-p', path.join(dir, 'Packages')], { maxBuffer: 64 << 20 });
    return (performance.now() - started) / 1000;
  };

  const noopTarget = await freshTarget();
  console.error(`initial sync, no signature checks: ${(await sync(noopTarget, accept)).seconds.toFixed(3)} s`);
  const rows = new Map<string, { target: string; times: number[] }>([
    ['raw curl, 3 parallel connections (the floor)', { target: '', times: [] }],
    ['syncFromMirror, every signature verified, new threads', { target: '≤ 2× curl', times: [] }],
    ['syncFromMirror, every signature verified, threads kept', { target: '≤ 2× curl', times: [] }],
    ['syncFromMirror in a fresh process, every signature verified', { target: '≤ 2× curl', times: [] }],
    ['HTTP only in a fresh process: into memory, nothing checked or written', { target: '', times: [] }],
    ['syncFromMirror, no signature checks, new threads', { target: '≥ 2× faster than dnf', times: [] }],
    ['syncFromMirror, no signature checks, threads kept', { target: '≥ 2× faster than dnf', times: [] }],
    ['dnf reposync (no gpgcheck)', { target: '', times: [] }],
    ['retrace-server-reposync, whole run: signatures verified, createrepo_c', { target: '', times: [] }],
    ['syncFromMirror no-op re-sync (repomd unchanged)', { target: '≤ 0.15', times: [] }],
  ]);
  // Each row's target goes as soon as the row is measured, so that every row writes into memory the machine has
  // just freed. On these VMs memory not used before costs more to fill: in a scratch run of six 10,000-package
  // syncs whose targets were kept, the staging threads' CPU doubled once tmpfs held ~5 GiB.
  const add = async (label: string, seconds: number): Promise<void> => {
    console.error(`${label}: ${seconds.toFixed(3)} s`);
    rows.get(label)?.times.push(seconds);
    for (const entry of await readdir(root)) if (entry.startsWith('target-') && entry !== path.basename(noopTarget)) await rm(path.join(root, entry), { recursive: true });
    await rm(path.join(cliDir, 'repos'), { recursive: true, force: true });
  };
  // CPU seconds by thread kind of the syncFromMirror rows, one list per kind.
  const cpuRows = new Map<string, Map<string, number[]>>();
  const addSync = async (label: string, { seconds, cpu }: { seconds: number; cpu: ReadonlyMap<string, number> }): Promise<void> => {
    await add(label, seconds);
    const kinds = cpuRows.get(label) ?? new Map<string, number[]>();
    cpuRows.set(label, kinds);
    for (const kind of KINDS) kinds.set(kind, [...(kinds.get(kind) ?? []), cpu.get(kind) ?? 0]);
  };
  const dnfWorks = COPIES === 1 && await dnf().then(() => true, (error: Error) => (console.log(`dnf reposync skipped: ${error.message.split('\n')[0]}`), false));
  for (let round = 0; round < RUNS; round++) {
    await add('raw curl, 3 parallel connections (the floor)', await curl());
    await addSync('syncFromMirror, every signature verified, new threads', await sync(await freshTarget(), verify, true));
    await addSync('syncFromMirror, every signature verified, threads kept', await sync(await freshTarget(), verify));
    await addSync('syncFromMirror in a fresh process, every signature verified', await freshProcess('sync'));
    await addSync('HTTP only in a fresh process: into memory, nothing checked or written', await freshProcess('http-only'));
    await addSync('syncFromMirror, no signature checks, new threads', await sync(await freshTarget(), accept, true));
    await addSync('syncFromMirror, no signature checks, threads kept', await sync(await freshTarget(), accept));
    if (dnfWorks) await add('dnf reposync (no gpgcheck)', await dnf());
    await add('retrace-server-reposync, whole run: signatures verified, createrepo_c', await cli());
    await add('syncFromMirror no-op re-sync (repomd unchanged)', (await sync(noopTarget, accept)).seconds);
  }
  const mib = (await Promise.all(names.map(async (name) => (await stat(path.join(served, 'Packages', name))).size))).reduce((a, b) => a + b, 0) / 2 ** 20;
  console.log(`${names.length} packages, ${mib.toFixed(1)} MiB (${args.packages}${COPIES > 1 ? `, ${COPIES} copies` : ''}) over loopback nginx onto tmpfs, node ${process.version}, ${RUNS} interleaved runs`);
  console.log('');
  console.log('| what | median s | packages/s | MiB/s | target |');
  console.log('|---|---:|---:|---:|---|');
  for (const [label, { target, times }] of rows) {
    if (times.length === 0) continue;
    const seconds = median(times);
    // A no-op moves nothing: its rate would mean nothing.
    const rates = label.includes('no-op') ? '| |' : `| ${Math.round(names.length / seconds)} | ${Math.round(mib / seconds)} |`;
    console.log(`| ${label} | ${seconds.toFixed(3)} ${rates} ${target} |`);
  }
  // Each round's own ratio: curl and dnf vary from round to round with the machine's other load.
  const times = (label: string): number[] => rows.get(label)?.times ?? [];
  const ratio = (what: string, numerator: number[], denominator: number[], target: string): void => {
    if (numerator.length === 0 || numerator.length !== denominator.length) return;
    const ratios = numerator.map((value, round) => value / (denominator[round] as number)).sort((a, b) => a - b);
    console.log(`| ${what} | ${median(ratios).toFixed(2)} | ${(ratios[0] as number).toFixed(2)}–${(ratios.at(-1) as number).toFixed(2)} | ${target} |`);
  };
  const curlTimes = times('raw curl, 3 parallel connections (the floor)');
  const dnfTimes = times('dnf reposync (no gpgcheck)');
  console.log('');
  console.log('Ratios within each round, median and range');
  console.log('');
  console.log('| ratio | median | range | target |');
  console.log('|---|---:|---|---|');
  ratio('every signature verified, new threads ÷ curl', times('syncFromMirror, every signature verified, new threads'), curlTimes, '≤ 2');
  ratio('every signature verified, threads kept ÷ curl', times('syncFromMirror, every signature verified, threads kept'), curlTimes, '≤ 2');
  ratio('every signature verified, fresh process ÷ curl', times('syncFromMirror in a fresh process, every signature verified'), curlTimes, '≤ 2');
  ratio('HTTP only, fresh process ÷ curl', times('HTTP only in a fresh process: into memory, nothing checked or written'), curlTimes, '');
  ratio('dnf ÷ no signature checks, new threads', dnfTimes, times('syncFromMirror, no signature checks, new threads'), '≥ 2');
  ratio('dnf ÷ no signature checks, threads kept', dnfTimes, times('syncFromMirror, no signature checks, threads kept'), '≥ 2');
  console.log('');
  console.log(`CPU seconds by thread, medians (${THREAD_KINDS_NOTE})`);
  console.log('');
  console.log(`| what | ${KINDS.join(' | ')} | all |`);
  console.log(`|---|${KINDS.map(() => '---:|').join('')}---:|`);
  for (const [label, byKind] of cpuRows) {
    const medians = KINDS.map((kind) => median(byKind.get(kind) ?? []));
    console.log(`| ${label.replace('syncFromMirror, ', '')} | ${medians.map((s) => s.toFixed(2)).join(' | ')} | ${medians.reduce((a, b) => a + b, 0).toFixed(2)} |`);
  }
} finally {
  await nginx.stop();
  await rm(root, { recursive: true, force: true });
}

/**
 * One run in this process, fresh (its main thread as cold as the CLI's): `sync`, the first sync of a process with
 * every signature verified; `http-only`, the floor of the network path: the same packages fetched by the same
 * client on the main thread, each into memory (a buffer used again) and dropped, nothing hashed, written or
 * verified. Prints `{ seconds, packages, cpu }`; CPU by thread kind as in the rows run in the parent.
 */
async function runFreshProcess(mode: string, [mirror, target, servedPackages]: readonly string[]): Promise<void> {
  if (mirror === undefined || target === undefined || servedPackages === undefined) throw new Error('--fresh-process MODE MIRROR TARGET SERVED_PACKAGES');
  const started = performance.now();
  const before = threadCpu();
  let packages: number;
  if (mode === 'sync') {
    const result = await syncFromMirror(mirror, contextFor(target, verify));
    if (!result.ok || result.unchanged) throw new Error(`sync: ${result.detail}`);
    packages = result.admitted;
  } else if (mode === 'http-only') {
    const { httpRemote } = await import('../dist/reposync/transports/http.js');
    const { BufferPool } = await import('../dist/buffer-pool.js');
    const names = readdirSync(servedPackages).filter((name) => name.endsWith('.rpm'));
    const remote = await httpRemote(options);
    const buffers = new BufferPool(16 << 20);
    const hold = { upTo: 64 << 20, buffer: (length: number) => buffers.take(length) };
    const signal = new AbortController().signal;
    let next = 0;
    const lane = async (): Promise<void> => {
      for (let name = names[next++]; name !== undefined; name = names[next++]) {
        const { bytes } = await remote.download(new URL(`Packages/${name}`, mirror), path.join(target, name), signal, 0, 'sha256', hold);
        if (bytes === undefined) throw new Error(`${name} was not held in memory`);
        buffers.give(bytes);
      }
    };
    await Promise.all(Array.from({ length: Number(args.parallel) }, lane));
    remote.close();
    packages = names.length;
  } else {
    throw new Error(`--fresh-process: unknown mode ${mode}`);
  }
  const seconds = (performance.now() - started) / 1000;
  console.log(JSON.stringify({ seconds, packages, cpu: Object.fromEntries(cpuByKind(before, threadCpu())) }));
}

/** One sync's CPU by thread kind and its wall time, on stderr as the rows run. */
function reportCpu(cpu: ReadonlyMap<string, number>, seconds: number): void {
  console.error(`  (node CPU ${[...cpu].map(([kind, s]) => `${kind} ${s.toFixed(2)}`).join(', ')} s; ${seconds.toFixed(3)} s wall)`);
}

/** CPU seconds (user + system) of each live thread of this process, by thread id, with its kind. */
function threadCpu(): Map<string, { kind: string; seconds: number }> {
  const threads = new Map<string, { kind: string; seconds: number }>();
  for (const tid of readdirSync('/proc/self/task')) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    } catch {
      // The thread ended between the listing and the read.
      continue;
    }
    const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    // utime and stime: fields 14 and 15, the 12th and 13th after the name.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    threads.set(tid, { kind: THREAD_KINDS.get(name) ?? 'other', seconds: (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND });
  }
  return threads;
}

/** CPU seconds spent between two threadCpu() readings, by kind; a thread that started in between counts from zero. */
function cpuByKind(before: ReadonlyMap<string, { seconds: number }>, after: ReadonlyMap<string, { kind: string; seconds: number }>): Map<string, number> {
  const byKind = new Map<string, number>();
  for (const [tid, { kind, seconds }] of after) byKind.set(kind, (byKind.get(kind) ?? 0) + seconds - (before.get(tid)?.seconds ?? 0));
  return byKind;
}

function median(values: readonly number[]): number {
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function startNginx(root: string, served: string, port: number): Promise<{ stop: () => Promise<void> }> {
  const dir = path.join(root, 'nginx');
  await mkdir(dir);
  const conf = path.join(dir, 'nginx.conf');
  await writeFile(conf, [
    'daemon off;', 'worker_processes 1;', `pid ${dir}/nginx.pid;`, `error_log ${dir}/error.log;`,
    'events { worker_connections 256; }',
    `http { access_log off; sendfile on; tcp_nopush on; client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy;`,
    `  fastcgi_temp_path ${dir}/fastcgi; uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;`,
    `  server { listen 127.0.0.1:${port}; root ${served}; } }`, '',
  ].join('\n'));
  const child = spawn('nginx', ['-c', conf, '-p', dir], { stdio: ['ignore', 'ignore', 'inherit'] });
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill();
    await exited;
  };
  for (let tries = 0; ; tries++) {
    const status = await fetch(`http://127.0.0.1:${port}/repodata/repomd.xml`).then((r) => r.status, () => 0);
    if (status === 200) return { stop };
    if (tries > 100) {
      await stop();
      throw new Error(`nginx did not serve the repo (last status ${status})`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
