// Benchmark: package signature + payload digest verification (SPEC §13: ≥ 5,000 packages/s per core, ≥ 1.5× rpm -K).
//
//   cd /work/main && npx node bench/verify-rpm.ts [--count 2000] [--runs 5] [--cache /tmp/retrace-bench-verify-rpm]
//
// Node 24 runs this file with its built-in type stripping; scripts/ts-loader.mjs maps the sources' `.js` import
// specifiers to their `.ts` files, so no build step is needed. The first run builds and signs the packages (rpmbuild, rpmsign;
// ≈ 1 min for 2,000) into the cache directory; later runs reuse them. Every measurement runs in a child process
// pinned to one core with taskset (when present), interleaved with `rpmkeys -K` on the same files, in page cache.
// CPU seconds are reported next to wall time: the machines are shared, and CPU time barely depends on other load.
import '../scripts/ts-loader.mjs';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';

const run = promisify(execFile);
const self = fileURLToPath(import.meta.url);

const { values: args } = parseArgs({
  options: {
    count: { type: 'string', default: '2000' },
    runs: { type: 'string', default: '5' },
    cache: { type: 'string', default: '/tmp/retrace-bench-verify-rpm' },
    // Internal: the measuring child process.
    measure: { type: 'string' },
    concurrency: { type: 'string', default: '1' },
  },
});
const COUNT = Number(args.count);
const RUNS = Number(args.runs);
const CACHE = path.resolve(args.cache);
const RPMS = path.join(CACHE, 'rpms');
const KEYS = path.join(CACHE, 'keys');
const RPMDB = path.join(CACHE, 'rpmdb');
const ED25519_SHARE = 0.1;
const PAYLOAD_BYTES = 100 * 1024;

if (args.measure) await measure(args.measure, Number(args.concurrency));
else await main();

async function main(): Promise<void> {
  const files = await packages();
  await warmPageCache(files);
  const load = (await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ');
  const pin = (await hasTaskset()) ? ['taskset', '-c', '0'] : [];
  const modes: [label: string, mode: string, concurrency: number][] = [
    ['verifyRpm(path), sequential', 'path', 1],
    ['verifyRpm(path), 8 in flight', 'path', 8],
    ['verifyRpmBytes (files preloaded)', 'bytes', 1],
  ];
  const times = new Map<string, Timing[]>();
  const record = (label: string, timing: Timing): void => {
    times.set(label, [...(times.get(label) ?? []), timing]);
  };
  for (let round = 0; round < RUNS; round++) {
    for (const [label, mode, concurrency] of modes) {
      record(`node ${label}${pin.length ? ', 1 core' : ''}`, await child([...pin], mode, concurrency));
    }
    record(`rpmkeys -K${pin.length ? ', 1 core (taskset -c 0)' : ''}`, await rpmkeys(files, pin));
    record('rpmkeys -K, unpinned', await rpmkeys(files, []));
    record('node verifyRpm(path), 8 in flight, unpinned', await child([], 'path', 8));
  }
  // OpenPGP.js alone, once, on a tenth of the packages: it is the reference, not a contender.
  const reference = await child([...pin], 'openpgp', 1);

  const model = (await readFile('/proc/cpuinfo', 'utf8')).match(/^model name\s*:\s*(.*)$/m)?.[1] ?? cpus()[0]?.model;
  console.log(`machine: ${availableParallelism()} cores (nproc), ${model}, node ${process.version}, ${await rpmVersion()}`);
  console.log(`packages: ${files.length} (${Math.round((1 - ED25519_SHARE) * 100)}% RSA 3072 tag 268, ` +
    `${Math.round(ED25519_SHARE * 100)}% Ed25519 tag 267), ${PAYLOAD_BYTES / 1024} KiB random payload each; ` +
    `median of ${RUNS} interleaved runs, files in page cache; load average at the start: ${load}`);
  console.log('');
  console.log('| what | wall s (median) | packages/s (wall) | CPU s (median) | packages per CPU-second |');
  console.log('|---|---:|---:|---:|---:|');
  const row = (label: string, count: number, wall: number, cpuSeconds: number): void => {
    const perCpuSecond = Math.round(count / cpuSeconds);
    console.log(`| ${label} | ${wall.toFixed(3)} | ${Math.round(count / wall)} | ${cpuSeconds.toFixed(3)} | ${perCpuSecond} |`);
  };
  for (const [label, timings] of times) {
    row(label, files.length, median(timings.map((timing) => timing.wall)), median(timings.map((timing) => timing.cpu)));
  }
  const referenceLabel = 'OpenPGP.js engine (reference), 1 run, first tenth of the packages';
  row(referenceLabel, Math.ceil(files.length / 10), reference.wall, reference.cpu);
}

function median(values: readonly number[]): number {
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;
}

interface Timing {
  /** Elapsed seconds. */
  readonly wall: number;
  /** CPU seconds of the process, all threads, user + system: unlike wall time, barely affected by other load. */
  readonly cpu: number;
}

/** Runs this script as the measuring child. */
async function child(prefix: string[], mode: string, concurrency: number): Promise<Timing> {
  const options = ['--cache', CACHE, '--count', String(COUNT), '--measure', mode, '--concurrency', String(concurrency)];
  const [program = '', ...rest] = [...prefix, process.execPath, self, ...options];
  const { stdout } = await run(program, rest, { maxBuffer: 1 << 20 });
  return JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as Timing;
}

async function measure(mode: string, concurrency: number): Promise<void> {
  const { loadKeyring } = await import('../src/gpg/keyring.js');
  const { verifyRpm, verifyRpmBytes } = await import('../src/rpm/verify.js');
  const keyring = await loadKeyring({ gpgDir: KEYS });
  const all = await listPackages();
  const files = mode === 'openpgp' ? all.slice(0, Math.ceil(all.length / 10)) : all;
  const buffers = mode === 'bytes' ? await Promise.all(files.map((file) => readFile(file))) : [];

  type Verify = (index: number) => Promise<{ ok: boolean }>;
  const verifyOne: Verify =
    mode === 'bytes'
      ? (index) => verifyRpmBytes(buffers[index]!, keyring)
      : (index) => verifyRpm(files[index]!, keyring, mode === 'openpgp' ? { engine: 'openpgp' } : {});
  // One untimed package per key so that the per-key preparation is not counted.
  for (const index of [0, files.length - 1]) await verifyOne(index);

  let next = 0;
  let failed = 0;
  const worker = async (): Promise<void> => {
    while (next < files.length) {
      const result = await verifyOne(next++);
      if (!result.ok) failed++;
    }
  };
  const start = process.hrtime.bigint();
  const cpuStart = process.cpuUsage();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const cpuUsed = process.cpuUsage(cpuStart);
  const wall = Number(process.hrtime.bigint() - start) / 1e9;
  if (failed > 0) throw new Error(`${failed} packages failed verification`);
  console.log(JSON.stringify({ wall, cpu: (cpuUsed.user + cpuUsed.system) / 1e6 }));
}

/** `rpmkeys -K` on all files in one call; bash's `times` reports the child's CPU time. */
async function rpmkeys(files: readonly string[], prefix: string[]): Promise<Timing> {
  const script = `"$@" > "${CACHE}/rpmkeys.out"; status=$?; times; exit $status`;
  const command = [...prefix, 'bash', '-c', script, 'rpmkeys', 'rpmkeys', '--dbpath', RPMDB, '-K', ...files];
  const [program = '', ...rest] = command;
  const start = process.hrtime.bigint();
  const { stdout } = await run(program, rest, { maxBuffer: 64 << 20 });
  const wall = Number(process.hrtime.bigint() - start) / 1e9;
  const okLines = (await readFile(path.join(CACHE, 'rpmkeys.out'), 'utf8'))
    .split('\n')
    .filter((line) => line.endsWith('digests signatures OK')).length;
  if (okLines !== files.length) throw new Error(`rpmkeys -K: ${okLines} of ${files.length} OK`);
  // `times` prints the shell's user/system times, then its children's: "0m0.712s 0m0.081s".
  const children = stdout.trim().split('\n').pop() ?? '';
  const cpu = [...children.matchAll(/(\d+)m([\d.]+)s/g)].reduce((sum, [, min, sec]) => sum + Number(min) * 60 + Number(sec), 0);
  return { wall, cpu };
}

/** The cached signed packages, built on the first run. */
async function packages(): Promise<string[]> {
  const marker = path.join(CACHE, `complete-${COUNT}.json`);
  if (existsSync(marker)) return listPackages();
  await rm(CACHE, { recursive: true, force: true });
  await mkdir(KEYS, { recursive: true });
  const { buildRpms, signRpms } = await import('../test/support/rpm.js');
  const { createGpgHome } = await import('../test/support/gpg.js');
  const gpg = await createGpgHome();
  try {
    const rsa = await gpg.generateKey('Bench RSA <bench-rsa@test>', { algorithm: 'rsa3072' });
    const ed = await gpg.generateKey('Bench Ed25519 <bench-ed@test>');
    const started = Date.now();
    const names = Array.from({ length: COUNT }, (_, index) => `bench-${String(index).padStart(5, '0')}`);
    const files = await buildRpms(
      names.map((name) => ({ name, version: '1.0', release: '1', payloadBytes: PAYLOAD_BYTES })),
      RPMS,
    );
    const built = Date.now();
    const edCount = Math.round(COUNT * ED25519_SHARE);
    await signRpms(files.slice(0, COUNT - edCount), gpg, rsa.fingerprint);
    await signRpms(files.slice(COUNT - edCount), gpg, ed.fingerprint);
    console.log(`built ${COUNT} packages in ${(built - started) / 1000} s, signed in ${(Date.now() - built) / 1000} s`);

    const keyFile = path.join(KEYS, 'bench.asc');
    await writeFile(keyFile, await gpg.exportArmored([rsa.fingerprint, ed.fingerprint]));
    await mkdir(RPMDB, { recursive: true });
    await run('rpmkeys', ['--dbpath', RPMDB, '--import', keyFile]);
    await writeFile(marker, JSON.stringify({ count: COUNT, built: new Date().toISOString() }));
    return files;
  } finally {
    await gpg.cleanup();
  }
}

async function listPackages(): Promise<string[]> {
  return (await readdir(RPMS)).filter((name) => name.endsWith('.rpm')).sort().map((name) => path.join(RPMS, name));
}

async function warmPageCache(files: readonly string[]): Promise<void> {
  for (const file of files) await readFile(file);
}

async function hasTaskset(): Promise<boolean> {
  return run('taskset', ['-c', '0', 'true']).then(
    () => true,
    () => false,
  );
}

async function rpmVersion(): Promise<string> {
  return (await run('rpm', ['--version'])).stdout.trim();
}
